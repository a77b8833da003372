package ccwal_test

import (
	"fmt"
	"log"
	"os"

	"github.com/ccwal/ccwal/go/ccwal"
)

// Example writes samples to the WAL, checkpoints them into a snapshot,
// writes one more sample, and restores the root as the Go metricstore
// would: the snapshot first, then the WAL written since.
func Example() {
	root, err := os.MkdirTemp("", "ccwal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	store, err := ccwal.Open(ccwal.Options{Root: root, Shards: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// Five samples of flops on cpu0 of fritz/f0101, one a minute. The
	// application keeps them in memory too: that is where the snapshot
	// comes from.
	const base = int64(1_700_000_000)
	values := []float64{1, 2, 3, 4, 5}
	var batch ccwal.Batch
	for i, v := range values {
		if err := batch.Add("fritz", "f0101", "flops", []string{"cpu0"}, v, base+60*int64(i)); err != nil {
			log.Fatal(err)
		}
	}
	if err := store.WriteBatch(&batch); err != nil {
		log.Fatal(err)
	}
	if err := store.Sync(); err != nil {
		log.Fatal(err)
	}

	// Checkpoint [base, base+600]: seal the WAL, write the host's snapshot
	// from memory, delete the sealed segment it covers.
	checkpoint, err := store.BeginCheckpoint(base, base+600, 1, 1)
	if err != nil {
		log.Fatal(err)
	}
	snapshot, err := ccwal.NewSnapshot(base, base+600)
	if err != nil {
		log.Fatal(err)
	}
	if err := snapshot.BeginChild("cpu0"); err != nil {
		log.Fatal(err)
	}
	if err := snapshot.AddMetric("flops", 60, base, values); err != nil {
		log.Fatal(err)
	}
	if err := snapshot.EndChild(); err != nil {
		log.Fatal(err)
	}
	if err := checkpoint.Add("fritz", "f0101", snapshot); err != nil {
		log.Fatal(err)
	}
	report, err := checkpoint.Finish()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("snapshots written:", report.Written, "segments deleted:", report.SegmentsDeleted)

	// One more sample, after the checkpoint: it is only in the WAL
	// (current.wal, begun after the seal).
	if err := store.Write("fritz", "f0101", "flops", []string{"cpu0"}, 6, base+300); err != nil {
		log.Fatal(err)
	}
	if err := store.Sync(); err != nil {
		log.Fatal(err)
	}

	restored, err := ccwal.Restore(root, base, map[string]int64{"flops": 60}, ccwal.RestoreOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer restored.Close()
	for h, host := range restored.Hosts {
		fmt.Printf("%s/%s: files loaded %d, WAL records applied %d, error %v\n",
			host.Cluster, host.Host, host.FilesLoaded, host.RecordsApplied, host.Err)
		for l := 0; l < host.Levels; l++ {
			path, metrics, err := restored.Level(h, l)
			if err != nil {
				log.Fatal(err)
			}
			for m := 0; m < metrics; m++ {
				name, chunks, err := restored.Metric(h, l, m)
				if err != nil {
					log.Fatal(err)
				}
				for _, chunk := range chunks {
					fmt.Printf("  %v %s: start %d, every %ds, archived %v, values %v\n",
						path, name, chunk.Start-base, chunk.Frequency, chunk.Archived, chunk.Values)
				}
			}
		}
	}
	// The snapshot's chunk is archived (never to be written to a snapshot
	// again); the WAL's sample starts a new chunk, which, as Go's
	// newBuffer does, begins half a period before it.

	// Output:
	// snapshots written: 1 segments deleted: 1
	// fritz/f0101: files loaded 2, WAL records applied 1, error <nil>
	//   [cpu0] flops: start 0, every 60s, archived true, values [1 2 3 4 5]
	//   [cpu0] flops: start 270, every 60s, archived false, values [6]
}
