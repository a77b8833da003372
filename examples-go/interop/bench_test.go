package interop

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	gostore "github.com/ClusterCockpit/cc-backend/pkg/metricstore"
	"github.com/ClusterCockpit/cc-lib/v2/schema"
	"github.com/ccwal/ccwal/examples-go/shim"
	"github.com/ccwal/ccwal/go/ccwal"
)

// Side by side in one run (go test -run '^$' -bench . -benchtime 1x):
// the Go WAL staging against ccwal for the same samples, snapshot writing
// for the same hosts, and the restore of the same directory.

const (
	benchHosts   = 1000
	benchMetrics = 64
	benchSamples = 4_000_000
)

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
}

func benchMetricName(m int) string { return fmt.Sprintf("bench_metric_%02d", m) }

// benchGoStore prepares the Go metricstore (a process-wide singleton) with
// the benchmark's metrics and the interop tests' ones.
func benchGoStore(b *testing.B) *gostore.MemoryStore {
	b.Helper()
	config := map[string]gostore.MetricConfig{}
	for name, f := range frequencies {
		config[name] = gostore.MetricConfig{Frequency: f}
	}
	for m := 0; m < benchMetrics; m++ {
		config[benchMetricName(m)] = gostore.MetricConfig{Frequency: 60}
	}
	initGo.Do(func() { gostore.InitMetrics(config) })
	gostore.Keys.NumWorkers = 2
	gostore.Keys.Checkpoints.FileFormat = "wal"
	return gostore.GetMemoryStore()
}

// stagingRun is what one way of staging did: samples/s over the wall time
// and the process's CPU time per sample (user + system, every thread: the
// producers and whatever writes the files).
type stagingRun struct {
	perSecond, cpuNanos float64
}

// BenchmarkWALStaging sends 4 M samples (1,000 hosts × 64 metrics, selector
// "cpu0") from two goroutines, each sending whole hosts as a collector's
// message would, through the Go WAL staging and through ccwal, and prints
// the ratios of one run. Timing starts in steady state, with every host's
// WAL already written once. Each variant ends when everything is written and
// the files closed (as far as Go's staging writes on shutdown: it drops
// what is still in its channels).
func BenchmarkWALStaging(b *testing.B) {
	benchGoStore(b)
	hosts := make([]string, benchHosts)
	for h := range hosts {
		hosts[h] = fmt.Sprintf("node%04d", h)
	}
	metrics := make([]string, benchMetrics)
	for m := range metrics {
		metrics[m] = benchMetricName(m)
	}
	selector := []string{"cpu0"}
	const producers = 2
	runs := map[string]stagingRun{}
	// Each variant's files stay until all have run: ext4 passes over the
	// inodes deleted in the last 30 s when it allocates one, which made
	// creating the 1,000 host directories cost up to a second after the
	// previous variant's cleanup.
	roots := b.TempDir()
	root := func(b *testing.B) string {
		dir, err := os.MkdirTemp(roots, "")
		if err != nil {
			b.Fatal(err)
		}
		return dir
	}
	// run times one variant: send is called by producer w for its samples
	// (counted per producer, not in a shared counter, to keep the harness
	// out of the figures), flush when it has sent them all, done once all
	// have; send returns false for a dropped sample.
	run := func(b *testing.B, dir string, send func(w int, host, metric string, value float64, ts int64) bool, flush func(w int), done func()) {
		// Steady state, as a running server is: every host's WAL exists
		// before the clock starts (creating 1,000 directories and files
		// is start-up cost, the same for every variant).
		for _, host := range hosts {
			for !send(0, host, metrics[0], 0, 1_699_999_940) {
				runtime.Gosched()
			}
		}
		flush(0)
		deadline := time.Now().Add(time.Minute)
		for _, host := range hosts {
			for {
				if _, err := os.Stat(filepath.Join(dir, "fritz", host, "current.wal")); err == nil {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("the warm-up sample of %s was not written within a minute", host)
				}
				time.Sleep(time.Millisecond)
			}
		}
		// The previous variants' files are written back now, not by the
		// kernel's flusher during this one.
		syscall.Sync()
		for n := 0; n < b.N; n++ {
			var dropped [producers]int
			cpu, started := cpuSeconds(), time.Now()
			var wg sync.WaitGroup
			for w := 0; w < producers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := w * benchMetrics; i < benchSamples; i += producers * benchMetrics {
						host := hosts[(i/benchMetrics)%benchHosts]
						ts := 1_700_000_000 + int64(i/(benchMetrics*benchHosts))*60
						for m, metric := range metrics {
							if !send(w, host, metric, float64(i+m), ts) {
								dropped[w]++
							}
						}
					}
					flush(w)
				}(w)
			}
			wg.Wait()
			done()
			elapsed, cpu := time.Since(started).Seconds(), cpuSeconds()-cpu
			accepted := float64(benchSamples - dropped[0] - dropped[1])
			r := stagingRun{perSecond: accepted / elapsed, cpuNanos: cpu * 1e9 / accepted}
			runs[b.Name()] = r
			b.ReportMetric(r.perSecond, "samples/s")
			b.ReportMetric(r.cpuNanos, "cpu-ns/sample")
			b.ReportMetric(float64(benchSamples)-accepted, "dropped")
		}
	}
	goStaging := func(b *testing.B, retry bool) {
		dir := root(b)
		gostore.Keys.Checkpoints.RootDir = dir
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		gostore.WALStaging(&wg, ctx)
		run(b, dir, func(_ int, host, metric string, value float64, ts int64) bool {
			msg := &gostore.WALMessage{MetricName: metric, Cluster: "fritz", Node: host,
				Selector: selector, Value: schema.Float(value), Timestamp: ts}
			for !gostore.SendWALMessage(msg) {
				if !retry {
					return false
				}
				runtime.Gosched()
			}
			return true
		}, func(int) {}, func() {
			cancel()
			gostore.WaitForWALStagingDrain()
		})
	}

	// As shipped: a sample its channel has no room for is dropped.
	b.Run("go-v1.5.4", func(b *testing.B) { goStaging(b, false) })
	// Sent again until accepted: what keeping every sample costs there.
	b.Run("go-v1.5.4-retry", func(b *testing.B) { goStaging(b, true) })

	b.Run("ccwal-batch", func(b *testing.B) {
		dir := root(b)
		store, err := ccwal.Open(ccwal.Options{Root: dir})
		if err != nil {
			b.Fatal(err)
		}
		batches := [producers]ccwal.Batch{}
		write := func(w int) {
			if err := store.WriteBatch(&batches[w]); err != nil {
				b.Error(err)
			}
			batches[w].Reset()
		}
		run(b, dir, func(w int, host, metric string, value float64, ts int64) bool {
			if err := batches[w].Add("fritz", host, metric, selector, value, ts); err != nil {
				return false
			}
			if batches[w].Len() == 4096 {
				write(w)
			}
			return true
		}, write, func() {
			if err := store.Close(); err != nil {
				b.Fatal(err)
			}
		})
	})

	b.Run("ccwal-shim", func(b *testing.B) {
		dir := root(b)
		shim.Keys.RootDir = dir
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		shim.WALStaging(&wg, ctx)
		run(b, dir, func(_ int, host, metric string, value float64, ts int64) bool {
			return shim.SendWALMessage(&shim.WALMessage{MetricName: metric, Cluster: "fritz", Node: host,
				Selector: selector, Value: schema.Float(value), Timestamp: ts})
		}, func(int) {}, func() {
			cancel()
			shim.WaitForWALStagingDrain()
			wg.Wait()
		})
	})

	base, ok := runs[b.Name()+"/go-v1.5.4-retry"]
	if !ok {
		return // filtered out by -bench
	}
	// Printed, not logged: a parent benchmark's log is not shown.
	fmt.Printf("%-18s %14s %14s %8s %8s\n", "vs go-v1.5.4-retry", "samples/s", "CPU ns/sample", "speed", "CPU")
	for _, name := range []string{"go-v1.5.4-retry", "ccwal-batch", "ccwal-shim"} {
		if r, ok := runs[b.Name()+"/"+name]; ok {
			fmt.Printf("%-18s %14.0f %14.0f %7.2fx %7.2fx\n", name, r.perSecond, r.cpuNanos,
				r.perSecond/base.perSecond, base.cpuNanos/r.cpuNanos)
		}
	}
}

// snapshotData is one host's data: 32 series × 720 values at the host level
// and 4 CPUs × 8 series × 720 values below it.
var snapshotValues = func() []float64 {
	v := make([]float64, 720)
	for i := range v {
		v[i] = float64(i%97) * 0.5
		if i%61 == 0 {
			v[i] = math.NaN()
		}
	}
	return v
}()

// BenchmarkSnapshotsAndRestore writes the snapshots of 1,000 hosts with
// the Go metricstore (ToCheckpointWAL) and with ccwal (a checkpoint
// session), then restores the Go-written directory with both.
func BenchmarkSnapshotsAndRestore(b *testing.B) {
	store := benchGoStore(b)
	const start = int64(1_800_000_000)
	const cluster = "snapbench"
	// Fill the Go store once (not timed).
	for h := 0; h < benchHosts; h++ {
		host := fmt.Sprintf("node%04d", h)
		for i, v := range snapshotValues {
			ts := start + int64(i)*60
			metrics := make([]gostore.Metric, 0, 32)
			for m := 0; m < 32; m++ {
				metrics = append(metrics, gostore.Metric{Name: benchMetricName(m), Value: schema.Float(v)})
			}
			if err := store.Write([]string{cluster, host}, ts, metrics); err != nil {
				b.Fatal(err)
			}
			for cpu := 0; cpu < 4; cpu++ {
				if err := store.Write([]string{cluster, host, fmt.Sprintf("cpu%d", cpu)}, ts, metrics[:8]); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	goDir := b.TempDir()
	from, to := start-60, start+720*60
	b.Run("write/go-v1.5.4", func(b *testing.B) {
		for n := 0; n < b.N; n++ {
			started := time.Now()
			if _, _, err := store.ToCheckpointWAL(goDir, from, to); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(time.Since(started).Seconds(), "s/checkpoint")
		}
	})
	b.Run("write/ccwal", func(b *testing.B) {
		dir := b.TempDir()
		cw, err := ccwal.Open(ccwal.Options{Root: dir})
		if err != nil {
			b.Fatal(err)
		}
		defer cw.Close()
		for n := 0; n < b.N; n++ {
			started := time.Now()
			session, err := cw.BeginCheckpoint(from, to, 2, 8)
			if err != nil {
				b.Fatal(err)
			}
			for h := 0; h < benchHosts; h++ {
				snap, err := ccwal.NewSnapshot(from, to)
				if err != nil {
					b.Fatal(err)
				}
				for m := 0; m < 32; m++ {
					if err := snap.AddMetric(benchMetricName(m), 60, start-30, snapshotValues); err != nil {
						b.Fatal(err)
					}
				}
				for cpu := 0; cpu < 4; cpu++ {
					_ = snap.BeginChild(fmt.Sprintf("cpu%d", cpu))
					for m := 0; m < 8; m++ {
						if err := snap.AddMetric(benchMetricName(m), 60, start-30, snapshotValues); err != nil {
							b.Fatal(err)
						}
					}
					_ = snap.EndChild()
				}
				if err := session.Add(cluster, fmt.Sprintf("node%04d", h), snap); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := session.Finish(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(time.Since(started).Seconds(), "s/checkpoint")
		}
	})
	config := map[string]int64{}
	for m := 0; m < 32; m++ {
		config[benchMetricName(m)] = 60
	}
	// Restore the Go-written files under another cluster name.
	restoreRoot := b.TempDir()
	if err := os.Rename(goDir+"/"+cluster, restoreRoot+"/restored"); err != nil {
		b.Fatal(err)
	}
	b.Run("restore/go-v1.5.4", func(b *testing.B) {
		for n := 0; n < b.N; n++ {
			started := time.Now()
			if _, err := store.FromCheckpointFiles(restoreRoot, from); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(time.Since(started).Seconds(), "s/restore")
		}
	})
	b.Run("restore/ccwal", func(b *testing.B) {
		for n := 0; n < b.N; n++ {
			started := time.Now()
			restored, err := ccwal.Restore(restoreRoot, from, config, ccwal.RestoreOptions{Workers: 2})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(time.Since(started).Seconds(), "s/restore")
			restored.Close()
		}
	})
}
