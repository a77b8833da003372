// Package shim has the exported names and signatures of cc-backend's
// metricstore WAL staging (pkg/metricstore/walCheckpoint.go, v1.5.x),
// backed by ccwal, so that swapping the persistence path in cc-backend is
// mechanical: import this package instead and set Keys before WALStaging.
//
// What changes behind the same calls: no sample is dropped when producers
// outrun the writers (SendWALMessage waits instead, and returns false only
// when staging is not running); rotation is ordered after every sample of
// the host sent before it; torn tails are repaired; files are fsynced as
// Keys.Durability says.
package shim

import (
	"context"
	"fmt"
	"hash/maphash"
	"log"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/ClusterCockpit/cc-lib/v2/schema"
	"github.com/ccwal/ccwal/go/ccwal"
)

// WALMessage is one sample for the WAL, as in cc-backend.
type WALMessage struct {
	// MetricName is the metric's name.
	MetricName string
	// Cluster is the cluster's name, the directory below the root.
	Cluster string
	// Node is the host's name, the directory below the cluster.
	Node string
	// Selector is the path below the host (e.g. ["cpu3"]); empty for a
	// host-level metric.
	Selector []string
	// Value is the sample, stored as float32.
	Value schema.Float
	// Timestamp is the sample's time in unix seconds.
	Timestamp int64
}

// Keys configures the staging; set it before WALStaging.
var Keys = struct {
	// RootDir is the checkpoint directory (cc-backend's
	// Keys.Checkpoints.RootDir).
	RootDir string
	// NumWorkers is the number of writer threads (cc-backend's
	// Keys.NumWorkers); 0: one per core.
	NumWorkers int
	// Durability and SyncInterval choose when records reach the disk.
	Durability   ccwal.Durability
	SyncInterval time.Duration
	// MaxWALSize: a host's WAL is restarted at this size (0: no limit).
	MaxWALSize int64
	// HandOffInterval bounds how long a sample waits in the Go-side batch
	// before it is handed to ccwal (samples go over in batches, one cgo
	// call per batch).
	HandOffInterval time.Duration
}{RootDir: "./var/checkpoints", HandOffInterval: 10 * time.Millisecond}

// batchSamples is when a shard's pending batch is handed over without
// waiting.
const batchSamples = 4096

// stagingShards spreads concurrent producers over locks and batches: a
// sample goes to its host's shard, so a host's samples keep their order.
const stagingShards = 16

// shard is one lock and pending batch of the staging.
type shard struct {
	mu      sync.Mutex   // guards store and pending
	store   *ccwal.Store // nil while the staging is not running
	pending *ccwal.Batch // nil until the shard's first sample
	// writing is held while a batch taken from pending is written, and
	// taken before mu is released: the shard's batches reach ccwal in the
	// order they were taken, and a hand-off returns after the earlier ones.
	writing sync.Mutex
	_       [128 - 32]byte // no two shards on one cache line (or its pair)
}

var (
	shards    [stagingShards]shard
	shardSeed = maphash.MakeSeed()
	// emptyBatches keeps written batches for reuse (their memory only:
	// the pool may drop them).
	emptyBatches = sync.Pool{New: func() any { return new(ccwal.Batch) }}
	staging      struct {
		sync.Mutex // orders the start, rotations and the shutdown
		store      *ccwal.Store
		done       sync.WaitGroup
	}
)

// Store is the ccwal store behind the staging while it runs (nil
// otherwise), for checkpoint sessions and stats.
func Store() *ccwal.Store {
	staging.Lock()
	defer staging.Unlock()
	return staging.store
}

// handOff writes the shard's pending batch to store. The caller holds
// sh.mu; handOff releases it before the write, so that producers of the
// shard fill a new batch meanwhile.
func (sh *shard) handOff(store *ccwal.Store) {
	sh.writing.Lock()
	defer sh.writing.Unlock()
	full := sh.pending
	if full == nil || full.Len() == 0 {
		sh.mu.Unlock()
		return
	}
	sh.pending = nil
	sh.mu.Unlock()
	if err := store.WriteBatch(full); err != nil {
		log.Printf("[CCWAL]> WAL: %d samples not accepted: %v", full.Len(), err)
	}
	full.Reset()
	emptyBatches.Put(full)
}

// handOffAll writes every shard's pending batch to store and returns once
// every batch taken before is written; with stop, the shards refuse
// samples from then on.
func handOffAll(store *ccwal.Store, stop bool) {
	for i := range shards {
		sh := &shards[i]
		sh.mu.Lock()
		if stop {
			sh.store = nil
		}
		sh.handOff(store)
	}
}

// WALStaging opens the ccwal store below Keys.RootDir and keeps it until ctx
// is done; then it hands over what is pending, closes the store (writing,
// syncing and closing every file) and calls wg.Done.
func WALStaging(wg *sync.WaitGroup, ctx context.Context) {
	store, err := ccwal.Open(ccwal.Options{
		Root:         Keys.RootDir,
		Shards:       Keys.NumWorkers,
		Durability:   Keys.Durability,
		SyncInterval: Keys.SyncInterval,
		MaxWALBytes:  Keys.MaxWALSize,
		OnEvent: func(e ccwal.Event) {
			log.Printf("[CCWAL]> WAL %s/%s: %s", e.Cluster, e.Host, e.Message)
		},
	})
	if err != nil {
		log.Printf("[CCWAL]> WAL: cannot open %s: %v", Keys.RootDir, err)
		return
	}
	staging.Lock()
	staging.store = store
	for i := range shards {
		shards[i].mu.Lock()
		shards[i].store = store
		shards[i].mu.Unlock()
	}
	staging.Unlock()
	wg.Add(1)
	staging.done.Add(1)
	go func() {
		defer wg.Done()
		defer staging.done.Done()
		ticker := time.NewTicker(Keys.HandOffInterval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				staging.Lock()
				handOffAll(store, true)
				if err := store.Close(); err != nil {
					log.Printf("[CCWAL]> WAL: close: %v", err)
				}
				staging.store = nil
				staging.Unlock()
				return
			case <-ticker.C:
				handOffAll(store, false)
			}
		}
	}()
}

// SendWALMessage queues a sample for the WAL. It returns false only when
// the staging is not running or the sample's names are refused (too long,
// path traversal) — never because a queue is full: then it waits.
func SendWALMessage(msg *WALMessage) bool {
	// By the node's name alone: a function of cluster and node all the same.
	sh := &shards[maphash.String(shardSeed, msg.Node)%stagingShards]
	sh.mu.Lock()
	if sh.store == nil {
		sh.mu.Unlock()
		return false
	}
	if sh.pending == nil {
		sh.pending = emptyBatches.Get().(*ccwal.Batch)
	}
	if err := sh.pending.Add(msg.Cluster, msg.Node, msg.MetricName, msg.Selector, float64(msg.Value), msg.Timestamp); err != nil {
		sh.mu.Unlock()
		return false
	}
	if sh.pending.Len() >= batchSamples {
		sh.handOff(sh.store)
		return true
	}
	sh.mu.Unlock()
	return true
}

// WaitForWALStagingDrain blocks until the staging has stopped and every
// file is closed.
func WaitForWALStagingDrain() {
	staging.done.Wait()
}

// hostOf reads ROOT/CLUSTER/HOST as in cc-backend.
func hostOf(hostDir string) ccwal.Host {
	return ccwal.Host{Cluster: path.Base(path.Dir(hostDir)), Host: path.Base(hostDir)}
}

// RotateWALFiles closes and deletes current.wal of the given host
// directories, after every sample of those hosts sent before the call.
func RotateWALFiles(hostDirs []string) {
	staging.Lock()
	defer staging.Unlock()
	if staging.store == nil {
		return
	}
	handOffAll(staging.store, false)
	hosts := make([]ccwal.Host, len(hostDirs))
	for i, dir := range hostDirs {
		hosts[i] = hostOf(dir)
	}
	if err := staging.store.Rotate(hosts); err != nil {
		log.Printf("[CCWAL]> WAL: rotate: %v", err)
	}
}

// RotateWALFilesAfterShutdown deletes current.wal of the given host
// directories directly, once the staging has stopped.
func RotateWALFilesAfterShutdown(hostDirs []string) {
	for _, dir := range hostDirs {
		if err := os.Remove(path.Join(dir, "current.wal")); err != nil && !os.IsNotExist(err) {
			log.Printf("[CCWAL]> WAL: remove %s: %v", dir, err)
		}
	}
}

// CleanupCheckpoints deletes (deleteInstead) or archives every snapshot
// below checkpointsDir numbered ≤ from, as cc-backend's function of that
// name: archiving writes cleanupDir/<cluster>/<from>.parquet with the same
// rows and schema, but durably (fsynced and renamed into place before any
// snapshot is deleted), keeping the files of a host with a damaged snapshot
// instead of dropping its whole cluster, and never replacing an archive.
// It returns the number of snapshots deleted, and an error naming every
// host or cluster that kept its files.
func CleanupCheckpoints(checkpointsDir, cleanupDir string, from int64, deleteInstead bool) (int, error) {
	if deleteInstead {
		deleted, problems, err := ccwal.Cleanup(checkpointsDir, from)
		if err != nil {
			return deleted, err
		}
		if problems > 0 {
			return deleted, fmt.Errorf("%d errors happened while deleting (%d successes)", problems, deleted)
		}
		return deleted, nil
	}
	report, err := ccwal.Archive(checkpointsDir, cleanupDir, from)
	if err != nil {
		return 0, err
	}
	var failed []string
	for _, c := range report.Clusters {
		if c.Err != nil {
			failed = append(failed, fmt.Sprintf("cluster %s: %v", c.Cluster, c.Err))
		}
	}
	for _, h := range report.Hosts {
		if h.Err != nil {
			failed = append(failed, fmt.Sprintf("%s/%s: %v", h.Cluster, h.Host, h.Err))
		} else if h.DeleteErrors > 0 {
			failed = append(failed, fmt.Sprintf("%s/%s: %d archived snapshots not deleted", h.Cluster, h.Host, h.DeleteErrors))
		}
	}
	if len(failed) > 0 {
		return report.FilesArchived, fmt.Errorf("archiving kept files of: %s", strings.Join(failed, "; "))
	}
	return report.FilesArchived, nil
}
