package shim

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ClusterCockpit/cc-lib/v2/schema"
	"github.com/ccwal/ccwal/examples-go/ccwal"
)

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
	cancel()
	WaitForWALStagingDrain()
	wg.Wait()

	restored, err := ccwal.Restore(root, 0, map[string]int64{"cpu_load": 1}, ccwal.RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if len(restored.Hosts) != 2 || restored.Hosts[0].RecordsApplied != 1 || restored.Hosts[1].RecordsApplied != 1 {
		t.Fatalf("hosts %+v", restored.Hosts)
	}
	RotateWALFilesAfterShutdown([]string{filepath.Join(root, "fritz", "n2")})
	if _, err := os.Stat(filepath.Join(root, "fritz", "n2", "current.wal")); !os.IsNotExist(err) {
		t.Fatalf("current.wal of n2 still there: %v", err)
	}
}
