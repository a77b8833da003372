package shim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ClusterCockpit/cc-lib/v2/schema"
	"github.com/ccwal/ccwal/go/ccwal"
)

// stopAndRestore stops the staging, waits until it has closed the store and
// restores root, whose samples are of cpu_load every frequency seconds.
func stopAndRestore(t *testing.T, cancel context.CancelFunc, wg *sync.WaitGroup, root string, frequency int64) *ccwal.Restored {
	t.Helper()
	cancel()
	WaitForWALStagingDrain()
	wg.Wait()
	restored, err := ccwal.Restore(root, 0, map[string]int64{"cpu_load": frequency}, ccwal.RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(restored.Close)
	return restored
}

func TestStagingRotationAndDrain(t *testing.T) {
	root := t.TempDir()
	Keys.RootDir = root
	Keys.NumWorkers = 2
	if SendWALMessage(&WALMessage{MetricName: "m", Cluster: "c", Node: "h"}) {
		t.Fatal("accepted before WALStaging")
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	WALStaging(&wg, ctx)
	send := func(node string, ts int64) {
		msg := &WALMessage{MetricName: "cpu_load", Cluster: "fritz", Node: node, Selector: []string{"cpu0"},
			Value: schema.Float(ts), Timestamp: ts}
		if !SendWALMessage(msg) {
			t.Fatalf("sample %d refused", ts)
		}
	}
	var producers sync.WaitGroup
	for p := 0; p < 4; p++ {
		producers.Add(1)
		go func(p int) {
			defer producers.Done()
			for i := 0; i < 5000; i++ {
				send("n1", int64(p*10000+i))
			}
		}(p)
	}
	producers.Wait()
	// Everything sent so far goes with the rotation; later samples stay.
	RotateWALFiles([]string{filepath.Join(root, "fritz", "n1")})
	send("n1", 1_000_000)
	send("n2", 1)
	if SendWALMessage(&WALMessage{MetricName: "m", Cluster: "fritz", Node: "../etc"}) {
		t.Fatal("a path traversal was accepted")
	}
	restored := stopAndRestore(t, cancel, &wg, root, 1)
	if len(restored.Hosts) != 2 || restored.Hosts[0].RecordsApplied != 1 || restored.Hosts[1].RecordsApplied != 1 {
		t.Fatalf("hosts %+v", restored.Hosts)
	}
	RotateWALFilesAfterShutdown([]string{filepath.Join(root, "fritz", "n2")})
	if _, err := os.Stat(filepath.Join(root, "fritz", "n2", "current.wal")); !os.IsNotExist(err) {
		t.Fatalf("current.wal of n2 still there: %v", err)
	}
}

// Producers of many hosts keep sending while the staging shuts down: every
// sample SendWALMessage accepted is in the WAL afterwards, none refused is.
func TestEveryAcceptedSampleIsWritten(t *testing.T) {
	root := t.TempDir()
	Keys.RootDir = root
	Keys.NumWorkers = 2
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	WALStaging(&wg, ctx)
	const producers, hosts = 4, 40
	accepted := make([][hosts]uint64, producers)
	var producing sync.WaitGroup
	for p := 0; p < producers; p++ {
		producing.Add(1)
		go func(p int) {
			defer producing.Done()
			for i := 0; ; i++ {
				h := (i + p) % hosts
				msg := &WALMessage{MetricName: "cpu_load", Cluster: "fritz", Node: fmt.Sprintf("n%02d", h),
					Selector: []string{"cpu0"}, Value: schema.Float(i), Timestamp: int64(60 * (i + 1))}
				if !SendWALMessage(msg) {
					return
				}
				accepted[p][h]++
				if i == 20_000 {
					cancel()
				}
			}
		}(p)
	}
	producing.Wait()
	restored := stopAndRestore(t, cancel, &wg, root, 60) // cancel again, for vet
	if restored.Err != nil || len(restored.Hosts) != hosts {
		t.Fatalf("%v, %d hosts", restored.Err, len(restored.Hosts))
	}
	for _, h := range restored.Hosts {
		var want uint64
		var n int
		if _, err := fmt.Sscanf(h.Host, "n%02d", &n); err != nil {
			t.Fatal(err)
		}
		for p := range accepted {
			want += accepted[p][n]
		}
		if got := h.RecordsApplied + h.RecordsRejected; got != want {
			t.Errorf("%s: %d records, %d samples accepted", h.Host, got, want)
		}
	}
}

func TestCleanupCheckpointsArchiveAndDelete(t *testing.T) {
	root, archive := t.TempDir(), t.TempDir()
	for _, from := range []int64{100, 200, 300} {
		snap, err := ccwal.NewSnapshot(from, from+100)
		if err != nil {
			t.Fatal(err)
		}
		if err := snap.AddMetric("cpu_load", 10, from, []float64{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		if err := ccwal.WriteSnapshot(root, "fritz", "f1", from, snap); err != nil {
			t.Fatal(err)
		}
		snap.Free()
	}
	n, err := CleanupCheckpoints(root, archive, 200, false)
	if err != nil || n != 2 {
		t.Fatalf("archive: %d %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(archive, "fritz", "200.parquet")); err != nil {
		t.Fatal(err)
	}
	// The same horizon again: nothing left to archive.
	if n, err := CleanupCheckpoints(root, archive, 200, false); err != nil || n != 0 {
		t.Fatalf("again: %d %v", n, err)
	}
	n, err = CleanupCheckpoints(root, "", 300, true)
	if err != nil || n != 1 {
		t.Fatalf("delete: %d %v", n, err)
	}
	// A damaged snapshot: the host keeps it, the error names it.
	if err := os.WriteFile(filepath.Join(root, "fritz", "f1", "400.bin"), []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := CleanupCheckpoints(root, archive, 400, false); err == nil || n != 0 {
		t.Fatalf("damaged: %d %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(root, "fritz", "f1", "400.bin")); err != nil {
		t.Fatal(err)
	}
}
