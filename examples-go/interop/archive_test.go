package interop

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	gostore "github.com/ClusterCockpit/cc-backend/pkg/metricstore"
	"github.com/ClusterCockpit/cc-lib/v2/schema"
	"github.com/ccwal/ccwal/go/ccwal"
	pq "github.com/parquet-go/parquet-go"
)

// The archive of the same checkpoint directory, written by v1.5.4's
// CleanupCheckpoints in archive mode and by ccwal.Archive, read back with
// parquet-go (v1.5.4's own Parquet library): the same schema, row groups
// and rows, in order; the same snapshots deleted.

// archivePaths are the child levels written below each host: every scope
// kind v1.5.4 parses from a name, nested levels, and names it does not.
var archivePaths = [][]string{
	nil,
	{"socket0"}, {"socket1", "core3"}, {"socket1", "core3", "hwthread6"},
	{"memoryDomain1"}, {"core12"}, {"hwthread5"}, {"cpu7"}, {"cpu10"},
	{"accelerator0"}, {"memctrl1"}, {"socket"}, {"gpu0"}, {"nvme0n1"},
}

func archiveSeries(k int) []string {
	return []string{"cpu_load", "flops", "mem_bw"}[:1+k%3]
}

// writeArchiveInput writes, with v1.5.4's own code, JSON snapshots of one
// window and binary snapshots of the next two for three clusters.
func writeArchiveInput(t *testing.T, store *gostore.MemoryStore, root string, t0 int64) {
	t.Helper()
	clusters := []string{"arch-alex", "arch-fritz", "arch-woody"}
	for c, cluster := range clusters {
		for h := 0; h < 2+c; h++ {
			host := "node" + string(rune('a'+h))
			for p, path := range archivePaths {
				if (p+h)%4 == 3 {
					continue // not every host has every level
				}
				selector := append([]string{cluster, host}, path...)
				for _, metric := range archiveSeries(h + p) {
					for i := 0; i < 180; i++ {
						if (i+p+h)%11 == 4 {
							continue // a gap: NaN in the buffer
						}
						v := float64(c*1_000_000+h*10_000+p*100) + float64(i)*0.37
						if (i*7+p)%13 == 5 {
							v = math.NaN()
						}
						ts := t0 + 60*int64(i)
						if err := store.Write(selector, ts, []gostore.Metric{{Name: metric, Value: schema.Float(v)}}); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		}
	}
	if _, err := store.ToCheckpoint(root, t0, t0+3600); err != nil {
		t.Fatal(err)
	}
	for _, w := range []int64{1, 2} {
		if _, _, err := store.ToCheckpointWAL(root, t0+3600*w, t0+3600*(w+1)); err != nil {
			t.Fatal(err)
		}
	}
}

func filesBelow(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func readParquet(t *testing.T, path string) (string, []int64, []gostore.ParquetMetricRow) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, _ := f.Stat()
	file, err := pq.OpenFile(f, info.Size())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var groups []int64
	for _, g := range file.RowGroups() {
		groups = append(groups, g.NumRows())
	}
	rows, err := pq.ReadFile[gostore.ParquetMetricRow](path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return file.Schema().String(), groups, rows
}

func TestArchiveInterop(t *testing.T) {
	goMetrics()
	store := gostore.GetMemoryStore()
	const t0 = base + 3_000_000
	input := t.TempDir()
	writeArchiveInput(t, store, input, t0)
	goRoot, ccRoot := t.TempDir(), t.TempDir()
	copyTree(t, input, goRoot)
	copyTree(t, input, ccRoot)
	goOut, ccOut := t.TempDir(), t.TempDir()
	horizon := t0 + 3*3600 - 1 // all three windows (JSON and binary)

	// v1.5.4 with one worker: hosts in name order (with more, the order of
	// its row groups depends on goroutine scheduling).
	workers := gostore.Keys.NumWorkers
	gostore.Keys.NumWorkers = 1
	goFiles, err := gostore.CleanupCheckpoints(goRoot, goOut, horizon, false)
	gostore.Keys.NumWorkers = workers
	if err != nil {
		t.Fatal(err)
	}
	report, err := ccwal.Archive(ccRoot, ccOut, horizon)
	if err != nil {
		t.Fatal(err)
	}
	if report.HostsFailed+report.ClusterErrors+report.DeleteErrors != 0 {
		t.Fatalf("ccwal report: %+v", report)
	}
	if report.FilesArchived != goFiles {
		t.Errorf("files archived: ccwal %d, v1.5.4 %d", report.FilesArchived, goFiles)
	}
	if a, b := filesBelow(t, goRoot), filesBelow(t, ccRoot); strings.Join(a, " ") != strings.Join(b, " ") {
		t.Errorf("files left: v1.5.4 %v\nccwal %v", a, b)
	}
	goArchives, ccArchives := filesBelow(t, goOut), filesBelow(t, ccOut)
	if strings.Join(goArchives, " ") != strings.Join(ccArchives, " ") || len(goArchives) < 3 {
		t.Fatalf("archives: v1.5.4 %v, ccwal %v", goArchives, ccArchives)
	}
	total := 0
	scopes := map[string]bool{}
	for _, name := range goArchives {
		goSchema, goGroups, goRows := readParquet(t, filepath.Join(goOut, name))
		ccSchema, ccGroups, ccRows := readParquet(t, filepath.Join(ccOut, name))
		if goSchema != ccSchema {
			t.Errorf("%s: schema\nv1.5.4 %s\nccwal %s", name, goSchema, ccSchema)
		}
		if fmt.Sprint(goGroups) != fmt.Sprint(ccGroups) {
			t.Errorf("%s: row groups v1.5.4 %v, ccwal %v", name, goGroups, ccGroups)
		}
		if len(goRows) != len(ccRows) {
			t.Errorf("%s: %d rows from v1.5.4, %d from ccwal", name, len(goRows), len(ccRows))
		}
		for i := 0; i < min(len(goRows), len(ccRows)); i++ {
			g, c := goRows[i], ccRows[i]
			same := g.Cluster == c.Cluster && g.Hostname == c.Hostname && g.Metric == c.Metric &&
				g.Scope == c.Scope && g.ScopeID == c.ScopeID && g.Timestamp == c.Timestamp &&
				g.Frequency == c.Frequency && math.Float32bits(g.Value) == math.Float32bits(c.Value)
			if !same {
				t.Fatalf("%s: row %d\nv1.5.4 %+v\nccwal  %+v", name, i, g, c)
			}
			scopes[g.Scope+"/"+g.ScopeID] = true
		}
		total += len(goRows)
	}
	for _, want := range []string{"node/", "socket/0", "core/3", "hwthread/6", "memoryDomain/1", "core/12",
		"hwthread/5", "hwthread/7", "accelerator/0", "memctrl1/", "socket/", "gpu0/"} {
		if !scopes[want] {
			t.Errorf("no row of scope %s", want)
		}
	}
	if int64(total) != report.Rows || total == 0 {
		t.Errorf("rows: %d read, ccwal reported %d", total, report.Rows)
	}
	t.Logf("%d archives, %d rows, %d snapshots: ccwal's rows, schema and row groups equal v1.5.4's", len(goArchives), total, goFiles)
}
