// ccwal: this file is part of the ccwal project, not of cc-backend. It is
// added to cc-backend's pkg/metricstore at build time (scripts/ccbackend-build.sh).

package metricstore

import (
	"time"

	"github.com/ccwal/ccwal/go/ccwal"

	cclog "github.com/ClusterCockpit/cc-lib/v2/ccLogger"
)

// Shutdown stops the background workers, then, with the "wal" format:
// refuses new writes and waits for those in flight, writes a final
// checkpoint session of the data since the last checkpoint (records outside
// it stay in the WAL), and closes ccwal's engine, which writes and syncs
// everything it still holds and reports what it could not. Nothing queued
// is discarded. Last, ccwal's compaction folds what the WAL still holds
// (backfilled or late records outside every checkpoint's window) into
// snapshots, so that the stock server, which reads no sealed segment,
// restores everything from the directory left behind. Idempotent.
func Shutdown() {
	totalStart := time.Now()

	shutdownFuncMu.Lock()
	if shutdownFunc == nil {
		shutdownFuncMu.Unlock()
		return
	}
	shutdownFunc()
	shutdownFunc = nil
	shutdownFuncMu.Unlock()
	cclog.Infof("[METRICSTORE]> Background workers cancelled (%v)", time.Since(totalStart))

	wal := Keys.Checkpoints.FileFormat == "wal"
	drainStart := time.Now()
	store := closeWAL() // read under walMu; nil unless the WAL engine ran
	if wal {
		cclog.Infof("[METRICSTORE]> WAL staging goroutines exited (%v)", time.Since(drainStart))
	}

	cclog.Infof("[METRICSTORE]> Writing checkpoint to '%s'...", Keys.Checkpoints.RootDir)
	checkpointStart := time.Now()
	var files int
	var err error

	ms := GetMemoryStore()

	checkpointMu.Lock()
	defer checkpointMu.Unlock()
	lastCheckpointMu.Lock()
	from := lastCheckpoint
	lastCheckpointMu.Unlock()

	if wal {
		if store != nil {
			files, err = ms.checkpointWithSession(store, from.Unix(), time.Now().Unix())
			if closeErr := store.Close(); closeErr != nil {
				cclog.Errorf("[METRICSTORE]> WAL: closing ccwal: %v (its records stay in the WAL files written so far)", closeErr)
			} else {
				cclog.Infof("[METRICSTORE]> WAL: ccwal closed, every record written and synced")
				compactForStock(ms)
			}
		}
	} else {
		files, err = ms.ToCheckpoint(Keys.Checkpoints.RootDir, from.Unix(), time.Now().Unix())
	}

	if err != nil {
		cclog.Errorf("[METRICSTORE]> Writing checkpoint failed: %s", err.Error())
	}
	cclog.Infof("[METRICSTORE]> Done! (%d files written in %v, total shutdown: %v)", files, time.Since(checkpointStart), time.Since(totalStart))
}

// compactForStock folds the WAL records left after the final checkpoint
// into snapshots (see ccwal.Compact). A failure loses nothing: the records
// stay in the WAL, which this server restores; only a stock server started
// on the directory would miss them (`ccwal compact` finishes the work).
func compactForStock(ms *MemoryStore) {
	start := time.Now()
	done, err := ccwal.Compact(Keys.Checkpoints.RootDir, ms.frequencies(), ccwal.CompactWAL)
	if err != nil {
		cclog.Errorf("[METRICSTORE]> WAL: compacting for the stock server: %d hosts failed, first: %v (their WAL stays; run `ccwal compact` before starting a stock server here)", done.Failed, err)
	}
	cclog.Infof("[METRICSTORE]> WAL: %d hosts' remaining WAL records folded into snapshots, %d newest snapshots renamed for the stock selection (%v)", done.Folded, done.Published, time.Since(start))
}
