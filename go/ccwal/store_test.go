package ccwal

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestWriteCheckpointRestoreRoundTrip(t *testing.T) {
	root := t.TempDir()
	s, err := Open(Options{Root: root, Shards: 2, Durability: DurabilityAlways})
	if err != nil {
		t.Fatal(err)
	}
	const base = int64(1_700_000_000)
	var batch Batch
	for i := 0; i < 100; i++ {
		if err := batch.Add("fritz", "f0102", "mem_bw", []string{"socket0", "memctrl1"}, float64(i), base+60*int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WriteBatch(&batch); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := s.Write("fritz", "f0101", "flops", []string{"cpu3"}, 1.5*float64(i), base+60*int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	stats, err := s.Stats()
	if err != nil || stats.Written != 110 || stats.Fsyncs == 0 {
		t.Fatalf("stats %+v, %v", stats, err)
	}

	cp, err := s.BeginCheckpoint(base, base+600, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := NewSnapshot(base, base+600)
	if err != nil {
		t.Fatal(err)
	}
	values := make([]float64, 10)
	for i := range values {
		values[i] = 1.5 * float64(i)
	}
	values[4] = math.NaN()
	if err := snap.BeginChild("cpu3"); err != nil {
		t.Fatal(err)
	}
	if err := snap.AddMetric("flops", 60, base, values); err != nil {
		t.Fatal(err)
	}
	if err := snap.EndChild(); err != nil {
		t.Fatal(err)
	}
	if err := cp.Add("fritz", "f0101", snap); err != nil {
		t.Fatal(err)
	}
	report, err := cp.Finish()
	if err != nil || report.Written != 1 || report.SegmentsDeleted != 1 || len(report.Hosts) != 1 {
		t.Fatalf("report %+v, %v", report, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write("fritz", "f0101", "flops", nil, 1, base); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}

	restored, err := Restore(root, base, map[string]int64{"flops": 60, "mem_bw": 60}, RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if len(restored.Hosts) != 2 || restored.Hosts[0].Host != "f0101" || restored.Hosts[1].RecordsApplied != 100 {
		t.Fatalf("hosts %+v", restored.Hosts)
	}
	path, metrics, err := restored.Level(0, 1)
	if err != nil || len(path) != 1 || path[0] != "cpu3" || metrics != 1 {
		t.Fatalf("level %v %d %v", path, metrics, err)
	}
	name, chunks, err := restored.Metric(0, 1, 0)
	if err != nil || name != "flops" || len(chunks) != 1 || !chunks[0].Archived || len(chunks[0].Values) != 10 {
		t.Fatalf("metric %s %+v %v", name, chunks, err)
	}
	if chunks[0].Values[3] != 4.5 || !math.IsNaN(chunks[0].Values[4]) {
		t.Fatalf("values %v", chunks[0].Values)
	}
	_, chunks, err = restored.Metric(1, 2, 0)
	if err != nil || len(chunks) != 1 || chunks[0].Values[99] != 99 || chunks[0].Archived {
		t.Fatalf("WAL chunk %+v %v", chunks, err)
	}

	// MetricView: the same chunks, read by goroutines at once, without a copy.
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, hlm := range [][3]int{{0, 1, 0}, {1, 2, 0}} {
				name, copied, err := restored.Metric(hlm[0], hlm[1], hlm[2])
				viewName, viewed, verr := restored.MetricView(hlm[0], hlm[1], hlm[2])
				if err != nil || verr != nil || viewName != name || len(viewed) != len(copied) {
					t.Errorf("view of %v: %s %+v %v", hlm, name, viewed, verr)
					return
				}
				for c := range viewed {
					v, w := viewed[c], copied[c]
					if v.Start != w.Start || v.Archived != w.Archived || len(v.Values) != len(w.Values) ||
						&v.Values[0] == &w.Values[0] {
						t.Errorf("view of %v chunk %d: %+v, copy %+v", hlm, c, v, w)
					}
					for i := range v.Values {
						if math.Float64bits(v.Values[i]) != math.Float64bits(w.Values[i]) {
							t.Errorf("view of %v chunk %d value %d: %v, copy %v", hlm, c, i, v.Values[i], w.Values[i])
						}
					}
				}
			}
		}()
	}
	wg.Wait()

	// A scan restores each host as Restore did, from goroutines at once.
	scan, err := ScanRestore(root, base, map[string]int64{"flops": 60, "mem_bw": 60}, RestoreOptions{})
	if err != nil || scan.Hosts != len(restored.Hosts) || scan.Err != nil {
		t.Fatalf("scan %+v %v", scan, err)
	}
	defer scan.Close()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := 0; h < scan.Hosts; h++ {
				one, err := scan.RestoreHost(h)
				if err != nil || len(one.Hosts) != 1 || one.Hosts[0] != restored.Hosts[h] {
					t.Errorf("host %d: %+v %v", h, one, err)
					return
				}
				for l := 0; l < one.Hosts[0].Levels; l++ {
					path, metrics, err := one.Level(0, l)
					wantPath, wantMetrics, _ := restored.Level(h, l)
					if err != nil || !slices.Equal(path, wantPath) || metrics != wantMetrics {
						t.Errorf("host %d level %d: %v %d %v", h, l, path, metrics, err)
					}
					for m := 0; m < metrics; m++ {
						name, chunks, err := one.Metric(0, l, m)
						wantName, want, _ := restored.Metric(h, l, m)
						if err != nil || name != wantName || !sameChunks(chunks, want) {
							t.Errorf("host %d level %d metric %d: %s %+v %v", h, l, m, name, chunks, err)
						}
					}
				}
				one.Close()
			}
		}()
	}
	wg.Wait()
	if _, err := scan.RestoreHost(scan.Hosts); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("host past the last: %v", err)
	}
}

// sameChunks compares chunks value by value's bits (a missing one is NaN).
func sameChunks(a, b []Chunk) bool {
	return slices.EqualFunc(a, b, func(x, y Chunk) bool {
		return x.Start == y.Start && x.Frequency == y.Frequency && x.Capacity == y.Capacity &&
			x.Archived == y.Archived && slices.EqualFunc(x.Values, y.Values, func(v, w float64) bool {
			return math.Float64bits(v) == math.Float64bits(w)
		})
	})
}

func TestErrorsCarryCodesAndMessages(t *testing.T) {
	s, err := Open(Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Write("..", "h", "m", nil, 1, 1)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInvalidName || e.Message == "" || !errors.Is(err, ErrInvalidName) {
		t.Fatalf("got %v", err)
	}
	long := make([]byte, 256)
	if err := s.Write("c", "h", "m", []string{string(long)}, 1, 1); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("overlong selector: %v", err)
	}
	if _, err := Open(Options{Root: ""}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty root: %v", err)
	}
	if _, err := Restore(t.TempDir(), 0, map[string]int64{"m": 0}, RestoreOptions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("zero frequency: %v", err)
	}
}

// A batch checks a cluster or host name only when it changes: a bad name
// is still refused after good ones, and a refused sample adds nothing.
func TestBatchChecksEachNewName(t *testing.T) {
	s, err := Open(Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b Batch
	for i, sample := range []struct {
		cluster, host string
		ok            bool
	}{
		{"", "h", false}, {"c", "", false},
		{"c", "h", true}, {"c", "../h", false}, {"c", "h", true}, {"c/d", "h", false}, {"c", "h", true},
		{"c", "", false}, {"", "h", false}, {"c", "h2", true},
	} {
		err := b.Add(sample.cluster, sample.host, "m", []string{"cpu0"}, 1, int64(i))
		if (err == nil) != sample.ok || (err != nil && !errors.Is(err, ErrInvalidName)) {
			t.Fatalf("%d %q/%q: %v", i, sample.cluster, sample.host, err)
		}
	}
	if b.Len() != 4 {
		t.Fatalf("%d samples", b.Len())
	}
	if err := s.WriteBatch(&b); err != nil {
		t.Fatal(err)
	}
	if stats, err := s.Stats(); err != nil || stats.Appended != 4 {
		t.Fatalf("stats %+v, %v", stats, err)
	}
}

func TestEventsReachTheGoHook(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "c", "h")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "current.wal"), []byte("garbage!"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []Event
	s, err := Open(Options{Root: root, OnEvent: func(e Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write("c", "h", "m", nil, 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 1 || events[0].Level != EventWarning || events[0].Host != "h" || events[0].Cluster != "c" {
		t.Fatalf("events %+v", events)
	}
}

func TestConcurrentWritersAndRotation(t *testing.T) {
	root := t.TempDir()
	s, err := Open(Options{Root: root, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var b Batch
			for i := 0; i < 1000; i++ {
				if err := b.Add("c", "h", "m", nil, float64(i), int64(i)); err != nil {
					t.Error(err)
				}
				if b.Len() == 100 {
					if err := s.WriteBatch(&b); err != nil {
						t.Error(err)
					}
					b.Reset()
				}
			}
		}(g)
	}
	wg.Wait()
	if err := s.Rotate([]Host{{"c", "h"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "c", "h", "current.wal")); !os.IsNotExist(err) {
		t.Fatalf("rotation left the file: %v", err)
	}
	stats, _ := s.Stats()
	if stats.Appended != 4000 || stats.Rotations != 1 {
		t.Fatalf("stats %+v", stats)
	}
	s.Close()
}

func TestWriteSnapshotAndCleanup(t *testing.T) {
	root := t.TempDir()
	snap, err := NewSnapshot(100, 200)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Free()
	if err := snap.AddMetric("m", 10, 95, []float64{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := WriteSnapshot(root, "c", "h", 100, snap); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "c", "h", "100.bin")); err != nil {
		t.Fatal(err)
	}
	deleted, problems, err := Cleanup(root, 100)
	if err != nil || deleted != 1 || problems != 0 {
		t.Fatalf("cleanup %d %d %v", deleted, problems, err)
	}
}

func BenchmarkWriteBatch(b *testing.B) {
	s, err := Open(Options{Root: b.TempDir(), QueueCapacity: 1 << 28})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var batch Batch
	selector := []string{"cpu0"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = batch.Add("fritz", "node0001", "cpu_load", selector, float64(i), int64(i))
		if batch.Len() == 4096 {
			if err := s.WriteBatch(&batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	_ = s.WriteBatch(&batch)
}

// BenchmarkBatchAdd is the Go side alone: building batches of 4096 samples
// of 64 hosts, nothing handed to the library.
func BenchmarkBatchAdd(b *testing.B) {
	var batch Batch
	hosts := make([]string, 64)
	for h := range hosts {
		hosts[h] = "node" + strconv.Itoa(1000+h)
	}
	selector := []string{"cpu0"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = batch.Add("fritz", hosts[i/64%64], "cpu_load", selector, float64(i), int64(i))
		if batch.Len() == 4096 {
			batch.Reset()
		}
	}
}

func TestRestoreReportsAStrayFileInTheRoot(t *testing.T) {
	root := t.TempDir()
	s, err := Open(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write("c", "h", "m", nil, 1, 60); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// It sorts before the host, so a strict scan stops before the host.
	if err := os.WriteFile(filepath.Join(root, "c", "0.bin"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	strict, err := Restore(root, 0, map[string]int64{"m": 60}, RestoreOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	if !errors.Is(strict.Err, ErrFormat) || !strings.Contains(strict.Err.Error(), "0.bin") || len(strict.Hosts) != 0 {
		t.Fatalf("strict: %v, %d hosts", strict.Err, len(strict.Hosts))
	}
	salvage, err := Restore(root, 0, map[string]int64{"m": 60}, RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer salvage.Close()
	if salvage.Err == nil || len(salvage.Hosts) != 1 || salvage.Hosts[0].RecordsApplied != 1 {
		t.Fatalf("salvage: %v, %+v", salvage.Err, salvage.Hosts)
	}
}

// A host's error carries its real code: CodeIO with the errno for a
// snapshot that cannot be read, CodeCorrupt for a damaged one, CodeFormat
// for a snapshot name that is not a number.
func TestRestoreHostErrorsCarryTheirCodes(t *testing.T) {
	root := t.TempDir()
	s, err := Open(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write("c", "h", "m", nil, 1, 60); err != nil {
		t.Fatal(err)
	}
	s.Close()
	dir := filepath.Join(root, "c", "h")
	snapshot := filepath.Join(dir, "1000.bin")
	hostErr := func() *Error {
		t.Helper()
		restored, err := Restore(root, 0, map[string]int64{"m": 60}, RestoreOptions{Strict: true})
		if err != nil {
			t.Fatal(err)
		}
		defer restored.Close()
		if restored.Err != nil || len(restored.Hosts) != 1 {
			t.Fatalf("root: %v, %d hosts", restored.Err, len(restored.Hosts))
		}
		if restored.Hosts[0].Err == nil {
			return nil
		}
		var e *Error
		if !errors.As(restored.Hosts[0].Err, &e) {
			t.Fatalf("not an *Error: %#v", restored.Hosts[0].Err)
		}
		return e
	}
	if e := hostErr(); e != nil {
		t.Fatalf("clean host: %v", e)
	}

	// A link to a directory: reading it fails with EISDIR (chmod would not
	// stop root).
	elsewhere := filepath.Join(dir, "elsewhere")
	if err := os.Mkdir(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, snapshot); err != nil {
		t.Fatal(err)
	}
	if e := hostErr(); e == nil || !errors.Is(e, ErrIO) || e.Errno != int(syscall.EISDIR) || !strings.Contains(e.Message, "1000.bin") {
		t.Fatalf("unreadable snapshot: %#v", e)
	}

	if err := os.Remove(snapshot); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(snapshot, []byte("\x01\x00\x5b\xcc garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if e := hostErr(); e == nil || !errors.Is(e, ErrCorrupt) || e.Errno != 0 {
		t.Fatalf("damaged snapshot: %#v", e)
	}

	if err := os.Remove(snapshot); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.bin"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if e := hostErr(); e == nil || !errors.Is(e, ErrFormat) || !strings.Contains(e.Message, "latest.bin") {
		t.Fatalf("bad snapshot name: %#v", e)
	}
}
