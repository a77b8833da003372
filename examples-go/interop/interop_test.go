package interop

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	gostore "github.com/ClusterCockpit/cc-backend/pkg/metricstore"
	"github.com/ClusterCockpit/cc-lib/v2/schema"
	"github.com/ClusterCockpit/cc-lib/v2/util"
	"github.com/ccwal/ccwal/go/ccwal"
)

// The metric configuration of both sides (InitMetrics is a process-wide
// singleton in Go, so every scenario shares it).
var frequencies = map[string]int64{"cpu_load": 60, "flops": 60, "mem_bw": 60}

const base = int64(1_700_000_000)

// series names one metric at one level of one host.
type series struct {
	host   string
	path   []string
	metric string
}

func (s series) String() string { return s.host + "/" + strings.Join(s.path, "/") + ":" + s.metric }

// A sample the scenarios write: value NaN for "missing".
type sample struct {
	series
	ts    int64
	value float64
}

// samples for two hosts at three depths, with NaN, a duplicate timestamp
// (last write wins) and out-of-order records, from t0 on for n minutes.
func samples(t0 int64, n int) []sample {
	var out []sample
	layout := []series{
		{"h1", nil, "cpu_load"},
		{"h1", []string{"cpu0"}, "flops"},
		{"h1", []string{"cpu1"}, "flops"},
		{"h2", nil, "cpu_load"},
		{"h2", []string{"socket0", "memctrl1"}, "mem_bw"},
	}
	for i := 0; i < n; i++ {
		for k, s := range layout {
			v := float64(i*10+k) + 0.25
			if (i+k)%17 == 5 {
				v = math.NaN()
			}
			out = append(out, sample{s, t0 + 60*int64(i), v})
		}
	}
	// A duplicate (last write wins) and a record out of order.
	out = append(out, sample{layout[0], t0, 1234.5}, sample{layout[3], t0 + 60*int64(n-3), -7.75})
	return out
}

// goRead is what the Go metricstore's Read returns for one buffer chain
// (oldest first) at full resolution, following its buffer.read rules.
func goRead(chain []ccwal.Chunk, from, to int64) ([]float64, int64, int64) {
	data := make([]float64, (to-from)/chain[0].Frequency+1)
	firstWrite := func(c ccwal.Chunk) int64 { return c.Start + c.Frequency/2 }
	b := len(chain) - 1
	for from < firstWrite(chain[b]) {
		if b == 0 {
			from = firstWrite(chain[0])
			break
		}
		b--
	}
	i, t := 0, from
	for ; t < to; t += chain[b].Frequency {
		idx := int((t - chain[b].Start) / chain[b].Frequency)
		if idx >= chain[b].Capacity {
			if b+1 >= len(chain) {
				break
			}
			b++
			idx = int((t - chain[b].Start) / chain[b].Frequency)
		}
		switch {
		case idx >= len(chain[b].Values):
			if b+1 >= len(chain) || to <= chain[b+1].Start {
				return data[:i], from, t
			}
			data[i] += math.NaN()
		case t < chain[b].Start:
			data[i] += math.NaN()
		default:
			data[i] += chain[b].Values[idx]
		}
		i++
	}
	return data[:i], from, t
}

func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

// compare checks, for every series, that the Go store's Read of cluster
// equals the read of ccwal's restored chains of root.
func compare(t *testing.T, store *gostore.MemoryStore, cluster, root string, from int64, all []series) {
	t.Helper()
	restored, err := ccwal.Restore(root, from, frequencies, ccwal.RestoreOptions{GoExact: true, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	chains := map[string][]ccwal.Chunk{}
	for h, host := range restored.Hosts {
		if host.Err != nil {
			t.Fatalf("ccwal: %s: %v", host.Host, host.Err)
		}
		for l := 0; l < host.Levels; l++ {
			path, metrics, err := restored.Level(h, l)
			if err != nil {
				t.Fatal(err)
			}
			for m := 0; m < metrics; m++ {
				name, chunks, err := restored.Metric(h, l, m)
				if err != nil {
					t.Fatal(err)
				}
				chains[series{host.Host, path, name}.String()] = chunks
			}
		}
	}
	readFrom, readTo := base-3600, base+7*24*3600
	compared := 0
	defer func() {
		if compared == 0 {
			t.Errorf("no series compared")
		}
		t.Logf("%d series: Go's Read equals ccwal's restored chains", compared)
	}()
	for _, s := range all {
		selector := util.Selector{{String: cluster}, {String: s.host}}
		for _, p := range s.path {
			selector = append(selector, util.SelectorElement{String: p})
		}
		goData, goFrom, goTo, _, goErr := store.Read(selector, s.metric, readFrom, readTo, frequencies[s.metric])
		chain, ok := chains[s.String()]
		if !ok {
			if goErr == nil {
				t.Errorf("%s: Go restored %d values, ccwal none", s, len(goData))
			}
			continue
		}
		if goErr != nil {
			t.Errorf("%s: ccwal restored %d chunks, Go: %v", s, len(chain), goErr)
			continue
		}
		ours, ourFrom, ourTo := goRead(chain, readFrom, readTo)
		theirs := make([]float64, len(goData))
		for i, v := range goData {
			theirs[i] = float64(v)
		}
		compared++
		if len(ours) == 0 {
			t.Errorf("%s: nothing read", s)
		}
		if ourFrom != goFrom || ourTo != goTo || !sameBits(ours, theirs) {
			t.Errorf("%s: ccwal [%d,%d) %v\nGo [%d,%d) %v", s, ourFrom, ourTo, ours, goFrom, goTo, theirs)
		}
	}
}

func allSeries(in []sample) []series {
	seen := map[string]series{}
	for _, s := range in {
		seen[s.String()] = s.series
	}
	out := make([]series, 0, len(seen))
	for _, s := range seen {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		target := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

var initGo, initStaging sync.Once

// goMetrics configures the Go metricstore's metrics (once per process, as
// InitMetrics allows).
func goMetrics() {
	initGo.Do(func() {
		config := map[string]gostore.MetricConfig{}
		for name, f := range frequencies {
			config[name] = gostore.MetricConfig{Frequency: f}
		}
		gostore.InitMetrics(config)
		gostore.Keys.NumWorkers = 2
		gostore.Keys.Checkpoints.FileFormat = "wal"
	})
}

// goMetricStore sets up the Go metricstore once, with WAL staging writing
// below root.
func goMetricStore(root string) (*gostore.MemoryStore, context.CancelFunc) {
	var cancel context.CancelFunc
	goMetrics()
	initStaging.Do(func() {
		gostore.Keys.Checkpoints.RootDir = root
		var ctx context.Context
		ctx, cancel = context.WithCancel(context.Background())
		gostore.WALStaging(&sync.WaitGroup{}, ctx)
	})
	return gostore.GetMemoryStore(), cancel
}

// writeGo writes a sample as cc-backend's ingest does: to the WAL staging,
// then to memory.
func writeGo(t *testing.T, store *gostore.MemoryStore, cluster string, s sample) {
	t.Helper()
	if !gostore.SendWALMessage(&gostore.WALMessage{MetricName: s.metric, Cluster: cluster, Node: s.host,
		Selector: s.path, Value: schema.Float(s.value), Timestamp: s.ts}) {
		t.Fatalf("the Go WAL staging dropped a sample")
	}
	selector := append([]string{cluster, s.host}, s.path...)
	if err := store.Write(selector, s.ts, []gostore.Metric{{Name: s.metric, Value: schema.Float(s.value)}}); err != nil {
		t.Fatal(err)
	}
}

func TestInterop(t *testing.T) {
	goRoot := t.TempDir()
	store, stopStaging := goMetricStore(goRoot)

	t.Run("Go writes WAL and snapshots, ccwal restores the same state", func(t *testing.T) {
		const cluster = "gowrite"
		written := samples(base, 240)
		// Two checkpoints, as the Go Checkpointing job does them, with WAL
		// rotation of the hosts written; then more WAL.
		cut1, cut2 := len(written)/3, 2*len(written)/3
		for _, s := range written[:cut1] {
			writeGo(t, store, cluster, s)
		}
		for _, window := range [][2]int64{{base, base + 80*60}, {base + 80*60, base + 160*60}} {
			if window[0] != base {
				for _, s := range written[cut1:cut2] {
					writeGo(t, store, cluster, s)
				}
			}
			_, dirs, err := store.ToCheckpointWAL(goRoot, window[0], window[1])
			if err != nil {
				t.Fatal(err)
			}
			gostore.RotateWALFiles(dirs)
		}
		for _, s := range written[cut2:] {
			writeGo(t, store, cluster, s)
		}
		// Stop the staging so that every WAL buffer reaches its file.
		stopStaging()
		gostore.WaitForWALStagingDrain()

		// Restore a copy under another cluster name (the store holds the
		// written one), with a torn tail on one host.
		const restoredCluster = "gorestored"
		root := t.TempDir()
		copyTree(t, filepath.Join(goRoot, cluster), filepath.Join(root, restoredCluster))
		wal := filepath.Join(root, restoredCluster, "h2", "current.wal")
		info, err := os.Stat(wal)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(wal, info.Size()-5); err != nil {
			t.Fatal(err)
		}
		if _, err := store.FromCheckpointFiles(root, base); err != nil {
			t.Fatal(err)
		}
		compare(t, store, restoredCluster, root, base, allSeries(written))
	})

	t.Run("ccwal writes WAL and snapshots, Go restores the same state", func(t *testing.T) {
		const cluster = "ccwalwrite"
		root := t.TempDir()
		cw, err := ccwal.Open(ccwal.Options{Root: root, Shards: 2})
		if err != nil {
			t.Fatal(err)
		}
		written := samples(base+50_000, 120)
		half := len(written) / 2
		var batch ccwal.Batch
		for _, s := range written[:half] {
			if err := batch.Add(cluster, s.host, s.metric, s.path, s.value, s.ts); err != nil {
				t.Fatal(err)
			}
		}
		if err := cw.WriteBatch(&batch); err != nil {
			t.Fatal(err)
		}
		// A checkpoint of the first half, with snapshots built from the
		// samples as a host's memory would hold them (Go's buffer layout:
		// start half a period before the first sample).
		cp, err := cw.BeginCheckpoint(base+50_000, base+50_000+3600, 2, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, host := range []string{"h1", "h2"} {
			if err := cp.Add(cluster, host, snapshotOf(t, host, written[:half])); err != nil {
				t.Fatal(err)
			}
		}
		report, err := cp.Finish()
		if err != nil || report.Written != 2 {
			t.Fatalf("checkpoint %+v %v", report, err)
		}
		for _, s := range written[half:] {
			if err := cw.Write(cluster, s.host, s.metric, s.path, s.value, s.ts); err != nil {
				t.Fatal(err)
			}
		}
		if err := cw.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := store.FromCheckpointFiles(root, base+50_000); err != nil {
			t.Fatal(err)
		}
		compare(t, store, cluster, root, base+50_000, allSeries(written))
	})
}

// snapshotOf builds a host's snapshot of the given samples with the Go
// buffer rule (last write wins, NaN for gaps).
func snapshotOf(t *testing.T, host string, in []sample) *ccwal.Snapshot {
	t.Helper()
	type key struct{ path, metric string }
	values := map[key]map[int64]float64{}
	for _, s := range in {
		if s.host != host {
			continue
		}
		k := key{strings.Join(s.path, "/"), s.metric}
		if values[k] == nil {
			values[k] = map[int64]float64{}
		}
		values[k][s.ts] = s.value
	}
	snap, err := ccwal.NewSnapshot(base+50_000, base+50_000+3600)
	if err != nil {
		t.Fatal(err)
	}
	// Metrics of a level before its children: host level first, then each
	// path (all paths here are one level below the host or two deep).
	keys := make([]key, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].path < keys[j].path })
	for _, k := range keys {
		var parts []string
		if k.path != "" {
			parts = strings.Split(k.path, "/")
		}
		for _, p := range parts {
			if err := snap.BeginChild(p); err != nil {
				t.Fatal(err)
			}
		}
		var first, last int64 = math.MaxInt64, math.MinInt64
		for ts := range values[k] {
			first, last = min(first, ts), max(last, ts)
		}
		series := make([]float64, (last-first)/60+1)
		for i := range series {
			series[i] = math.NaN()
		}
		for ts, v := range values[k] {
			series[(ts-first)/60] = v
		}
		if err := snap.AddMetric(k.metric, 60, first-30, series); err != nil {
			t.Fatal(err)
		}
		for range parts {
			if err := snap.EndChild(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return snap
}

func ExampleRestore() {
	fmt.Println("see TestInterop")
	// Output: see TestInterop
}
