// ccwal: this file is part of the ccwal project, not of cc-backend. It is
// added to cc-backend's pkg/metricstore at build time (scripts/ccbackend-build.sh).

// The WAL of the metric store, written by ccwal's engine instead of Go's
// sharded staging goroutines. What changes behind the same names:
//
//   - A sample is written to memory first, then handed to ccwal (DecodeLine
//     batches a request's samples into one call). Nothing is dropped for a
//     full queue: writers wait (backpressure), and nothing is skipped while
//     a checkpoint runs (checkpoints seal the WAL instead of pausing it).
//   - WALCommit returns when every sample handed over before it is flushed
//     to the OS (or synced, with durability "sync"); concurrent callers
//     share one flush (group commit). POST /api/write answers after it.
//   - Torn tails left by a crash are repaired, files are fdatasynced (see
//     Checkpoints.SyncInterval), write errors are retried, never ignored.
//   - Shutdown stops new writes, waits for those in flight, writes a final
//     checkpoint and closes the engine, which writes and syncs everything
//     queued.

package metricstore

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sync"

	cclog "github.com/ClusterCockpit/cc-lib/v2/ccLogger"
	"github.com/ccwal/ccwal/go/ccwal"
)

// ErrWALWrite wraps the errors of handing samples to the WAL: the samples
// are in memory but not acknowledged as persisted.
var ErrWALWrite = errors.New("[METRICSTORE]> WAL write failed")

var (
	// walMu: writers hold it shared while they hand samples to the engine;
	// Shutdown takes it exclusively to wait for them and stop new ones.
	walMu      sync.RWMutex
	walStore   *ccwal.Store
	walCommits *groupCommit
	walClosed  bool
)

// WALStaging opens ccwal's WAL engine on Keys.Checkpoints.RootDir. The
// engine runs its own writer threads until Shutdown closes it; wg and ctx
// are kept for the signature (cancelling ctx discards nothing).
func WALStaging(wg *sync.WaitGroup, ctx context.Context) {
	if Keys.Checkpoints.FileFormat == "json" {
		return
	}
	syncOnCommit, mode, interval, err := walSettings()
	if err != nil {
		cclog.Abortf("[METRICSTORE]> WAL: %s\n", err.Error())
	}
	if Keys.Checkpoints.MaxWALSize > 0 {
		cclog.Warnf("[METRICSTORE]> WAL: max-wal-size %d is not applied: deleting a WAL at a size would delete acknowledged samples; checkpoints bound the WAL",
			Keys.Checkpoints.MaxWALSize)
	}
	store, err := ccwal.Open(ccwal.Options{
		Root:         Keys.Checkpoints.RootDir,
		Durability:   mode,
		SyncInterval: interval,
		Backpressure: ccwal.Block,
		OnEvent:      logWALEvent,
	})
	if err != nil {
		cclog.Fatalf("[METRICSTORE]> WAL: cannot open the ccwal engine on %s: %v", Keys.Checkpoints.RootDir, err)
	}
	walMu.Lock()
	walStore, walClosed = store, false
	walCommits = newGroupCommit(store, syncOnCommit)
	walMu.Unlock()
	durability := "flush"
	if syncOnCommit {
		durability = "sync"
	}
	cclog.Infof("[METRICSTORE]> WAL: ccwal %s on %s (writes answered after a %s, background sync every %v)",
		ccwal.Version(), Keys.Checkpoints.RootDir, durability, interval)
}

func logWALEvent(e ccwal.Event) {
	switch e.Level {
	case ccwal.EventError:
		cclog.Errorf("[METRICSTORE]> WAL: %s/%s: %s", e.Cluster, e.Host, e.Message)
	case ccwal.EventWarning:
		cclog.Warnf("[METRICSTORE]> WAL: %s/%s: %s", e.Cluster, e.Host, e.Message)
	default:
		cclog.Debugf("[METRICSTORE]> WAL: %s/%s: %s", e.Cluster, e.Host, e.Message)
	}
}

// SendWALMessage hands one sample to the WAL, waiting while the engine's
// queue is full. Write the sample to memory first. It returns false when
// the WAL is not running (json format, not started, shut down) or refuses
// the sample (an invalid name, an I/O error).
func SendWALMessage(msg *WALMessage) bool {
	walMu.RLock()
	defer walMu.RUnlock()
	if walStore == nil || walClosed {
		return false
	}
	err := walStore.Write(msg.Cluster, msg.Node, msg.MetricName, msg.Selector, float64(msg.Value), msg.Timestamp)
	if err != nil {
		cclog.Warnf("[METRICSTORE]> WAL: %s/%s %s: %v", msg.Cluster, msg.Node, msg.MetricName, err)
		return false
	}
	return true
}

// WALCommit returns when every sample handed to the WAL before the call
// (by any goroutine) is flushed to the OS, or synced when the durability
// setting is "sync". Concurrent calls share one flush. nil when the WAL is
// not in use (json format); an error wrapping ErrWALWrite otherwise.
func WALCommit() error {
	walMu.RLock()
	commits := walCommits
	walMu.RUnlock()
	if commits == nil {
		if Keys.Checkpoints.FileFormat == "json" {
			return nil
		}
		return fmt.Errorf("%w: the WAL is not running", ErrWALWrite)
	}
	if err := commits.wait(); err != nil {
		return fmt.Errorf("%w: %w", ErrWALWrite, err)
	}
	return nil
}

// WaitForWALStagingDrain returns at once: samples are handed to ccwal
// synchronously, and Shutdown closes the engine, which writes what it
// holds.
func WaitForWALStagingDrain() {}

// RotateWALFiles deletes current.wal of each host directory
// (ROOT/CLUSTER/HOST) after every sample of that host handed over before
// the call, as Go's rotation does. The checkpoints of this store do not use
// it: their sessions seal the WAL and delete only what a snapshot holds.
func RotateWALFiles(hostDirs []string) {
	walMu.RLock()
	defer walMu.RUnlock()
	if walStore == nil || walClosed {
		return
	}
	hosts := make([]ccwal.Host, 0, len(hostDirs))
	for _, dir := range hostDirs {
		hosts = append(hosts, ccwal.Host{Cluster: path.Base(path.Dir(dir)), Host: path.Base(dir)})
	}
	if err := walStore.Rotate(hosts); err != nil {
		cclog.Errorf("[METRICSTORE]> WAL: rotation: %v", err)
	}
}

// closeWAL stops new writes, waits for those in flight, answers the
// commits already waiting and stops the committer, and returns the engine,
// which the caller closes after the final checkpoint (nil when the WAL was
// not running). Later WALCommit calls fail with ErrWALWrite.
func closeWAL() *ccwal.Store {
	walMu.Lock()
	defer walMu.Unlock()
	walClosed = true
	if walCommits != nil {
		walCommits.stop()
		walCommits = nil
	}
	return walStore
}

// errCommitStopped answers a WALCommit that comes after shutdown began.
var errCommitStopped = errors.New("the WAL is shutting down")

// groupCommit makes concurrent WALCommit calls share flushes, with no
// goroutine of its own: a caller that finds no flush running flushes (or
// syncs) for itself; callers that come while one runs join the next round,
// and when the running flush ends, one of them takes the lead and flushes
// once for all of them. A round's flush starts only after every caller in
// it joined, so it covers everything they handed over before calling.
//
// Why here, above the engine's own group commit: ccwal's flush and sync
// already let concurrent callers share a round of its writer threads, but
// each call still asks every writer thread on its own and holds an OS
// thread (a blocked cgo call) for as long as it waits. With hundreds of
// HTTP handlers committing at once that is hundreds of blocked threads and
// requests; here they wait on a Go channel, and one of them makes one call
// for all. A lone request flushes on its own goroutine, without waking
// another one first.
type groupCommit struct {
	store flusher
	sync  bool
	mu    sync.Mutex
	// next is the round callers join while a flush runs; nil when none
	// joined.
	next     *commitRound
	flushing bool
	stopped  bool
	// idle is closed when stopped and no flush runs or is pending.
	idle chan struct{}
}

// flusher is what a group commit flushes: the ccwal store.
type flusher interface {
	Flush() error
	Sync() error
}

type commitRound struct {
	done chan struct{}
	// lead holds one token once the flush before this round ended: the
	// caller that takes it flushes the round.
	lead chan struct{}
	err  error
}

func newGroupCommit(store flusher, sync bool) *groupCommit {
	return &groupCommit{store: store, sync: sync, idle: make(chan struct{})}
}

func (g *groupCommit) wait() error {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return errCommitStopped
	}
	if !g.flushing {
		g.flushing = true
		g.mu.Unlock()
		return g.flush(&commitRound{done: make(chan struct{})})
	}
	round := g.next
	if round == nil {
		round = &commitRound{done: make(chan struct{}), lead: make(chan struct{}, 1)}
		g.next = round
	}
	g.mu.Unlock()
	select {
	case <-round.done:
		return round.err
	case <-round.lead:
		return g.flush(round)
	}
}

// flush flushes (or syncs) for round, answers its callers, and hands the
// lead to the round that joined meanwhile, if any (also after stop: a
// round joined before it is answered, not dropped).
func (g *groupCommit) flush(round *commitRound) error {
	if g.sync {
		round.err = g.store.Sync()
	} else {
		round.err = g.store.Flush()
	}
	close(round.done)
	g.mu.Lock()
	if next := g.next; next != nil {
		g.next = nil
		next.lead <- struct{}{} // room for one: never blocks
	} else {
		g.flushing = false
		if g.stopped {
			close(g.idle)
		}
	}
	g.mu.Unlock()
	return round.err
}

// stop refuses new commits, waits until the rounds already joined are
// answered, and returns once no flush runs. Call it before closing the
// store, once.
func (g *groupCommit) stop() {
	g.mu.Lock()
	g.stopped = true
	if !g.flushing {
		close(g.idle)
	}
	g.mu.Unlock()
	<-g.idle
}
