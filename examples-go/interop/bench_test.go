package interop

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gostore "github.com/ClusterCockpit/cc-backend/pkg/metricstore"
	"github.com/ClusterCockpit/cc-lib/v2/schema"
	"github.com/ccwal/ccwal/examples-go/ccwal"
)

// Side by side in one run (go test -run '^$' -bench . -benchtime 1x):
// the Go WAL staging against ccwal for the same samples, snapshot writing
// for the same hosts, and the restore of the same directory.

const (
	benchHosts   = 1000
	benchMetrics = 64
	benchSamples = 2_000_000
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

// BenchmarkWALStaging sends 2 M samples over 1,000 hosts × 64 metrics from
// two goroutines, host by host as collectors send them.
func BenchmarkWALStaging(b *testing.B) {
	benchGoStore(b)
	hosts := make([]string, benchHosts)
	for h := range hosts {
		hosts[h] = fmt.Sprintf("node%04d", h)
	}
	run := func(b *testing.B, send func(worker, i int) bool, done func()) {
		for n := 0; n < b.N; n++ {
			var accepted, dropped atomic.Int64
			cpu, started := cpuSeconds(), time.Now()
			var wg sync.WaitGroup
			for w := 0; w < 2; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := w; i < benchSamples; i += 2 {
						if send(w, i) {
							accepted.Add(1)
						} else {
							dropped.Add(1)
						}
					}
				}(w)
			}
			wg.Wait()
			done()
			elapsed := time.Since(started)
			b.ReportMetric(float64(accepted.Load())/elapsed.Seconds(), "accepted/s")
			b.ReportMetric(float64(dropped.Load()), "dropped")
			b.ReportMetric(cpuSeconds()-cpu, "cpu-s")
		}
	}
	sample := func(i int) (host, metric string, ts int64) {
		return hosts[(i/benchMetrics)%benchHosts], benchMetricName(i % benchMetrics), 1_700_000_000 + int64(i/(benchMetrics*benchHosts))*60
	}

	b.Run("go-v1.5.4", func(b *testing.B) {
		gostore.Keys.Checkpoints.RootDir = b.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		gostore.WALStaging(&wg, ctx)
		run(b, func(_, i int) bool {
			host, metric, ts := sample(i)
			return gostore.SendWALMessage(&gostore.WALMessage{MetricName: metric, Cluster: "fritz", Node: host,
				Selector: []string{"cpu0"}, Value: schema.Float(i), Timestamp: ts})
		}, func() {
			cancel()
			gostore.WaitForWALStagingDrain()
		})
	})

	b.Run("ccwal-batch", func(b *testing.B) {
		store, err := ccwal.Open(ccwal.Options{Root: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		batches := [2]*ccwal.Batch{{}, {}}
		selector := []string{"cpu0"}
		run(b, func(w, i int) bool {
			host, metric, ts := sample(i)
			batch := batches[w]
			if err := batch.Add("fritz", host, metric, selector, float64(i), ts); err != nil {
				return false
			}
			if batch.Len() == 4096 || i+2 >= benchSamples {
				if err := store.WriteBatch(batch); err != nil {
					b.Error(err)
				}
				batch.Reset()
			}
			return true
		}, func() {
			if err := store.Close(); err != nil {
				b.Fatal(err)
			}
		})
	})
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
