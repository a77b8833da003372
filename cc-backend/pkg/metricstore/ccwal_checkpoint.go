// ccwal: this file is part of the ccwal project, not of cc-backend. It is
// added to cc-backend's pkg/metricstore at build time (scripts/ccbackend-build.sh).

package metricstore

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	cclog "github.com/ClusterCockpit/cc-lib/v2/ccLogger"
	"github.com/ClusterCockpit/cc-lib/v2/schema"
	"github.com/ccwal/ccwal/go/ccwal"
)

// checkpointMu runs one checkpoint at a time (the periodic one and the
// final one at shutdown).
var checkpointMu sync.Mutex

// Checkpointing starts the worker that writes a checkpoint every
// Keys.CheckpointInterval (default 12h) of the data since the previous one.
//
// With the "wal" format each checkpoint is a ccwal checkpoint session: it
// seals every host's WAL (writes go on into a new file: nothing is paused
// or skipped), writes one binary snapshot per host through ccwal (durably:
// file and directory synced, atomic rename), and then deletes a sealed WAL
// segment only where the snapshot holds all its records; records outside
// the window (backfilled, late or future samples) stay in the segment for
// restore. A host whose snapshot failed keeps its whole WAL. The "json"
// format writes JSON snapshots as cc-backend does.
func Checkpointing(wg *sync.WaitGroup, ctx context.Context) {
	lastCheckpointMu.Lock()
	lastCheckpoint = time.Now()
	lastCheckpointMu.Unlock()

	ms := GetMemoryStore()

	wg.Go(func() {
		d := 12 * time.Hour // default checkpoint interval
		if Keys.CheckpointInterval != "" {
			parsed, err := time.ParseDuration(Keys.CheckpointInterval)
			if err != nil {
				cclog.Errorf("[METRICSTORE]> invalid checkpoint-interval %q: %s, using default 12h", Keys.CheckpointInterval, err)
			} else {
				d = parsed
			}
		}

		ticker := time.NewTicker(d)
		defer ticker.Stop()

		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				checkpointOnce(ms)
			}
		}
	})
}

func checkpointOnce(ms *MemoryStore) {
	checkpointMu.Lock()
	defer checkpointMu.Unlock()

	lastCheckpointMu.Lock()
	from := lastCheckpoint
	lastCheckpointMu.Unlock()

	now := time.Now()
	cclog.Infof("[METRICSTORE]> start checkpointing (starting at %s)...", from.Format(time.RFC3339))

	if Keys.Checkpoints.FileFormat == "wal" {
		walMu.RLock()
		store, closed := walStore, walClosed
		walMu.RUnlock()
		if store == nil || closed {
			return
		}
		n, err := ms.checkpointWithSession(store, from.Unix(), now.Unix())
		if err != nil {
			cclog.Errorf("[METRICSTORE]> binary checkpointing failed: %s", err.Error())
		}
		if n > 0 {
			cclog.Infof("[METRICSTORE]> done: %d binary snapshot files created", n)
			lastCheckpointMu.Lock()
			lastCheckpoint = now
			lastCheckpointMu.Unlock()
		}
		return
	}

	n, err := ms.ToCheckpoint(Keys.Checkpoints.RootDir, from.Unix(), now.Unix())
	if err != nil {
		cclog.Errorf("[METRICSTORE]> checkpointing failed: %s", err.Error())
	} else {
		cclog.Infof("[METRICSTORE]> done: %d checkpoint files created", n)
		lastCheckpointMu.Lock()
		lastCheckpoint = now
		lastCheckpointMu.Unlock()
	}
}

// hostLevel is a level at depth 2 (cluster, host): what one snapshot holds.
type hostLevel struct {
	cluster, host string
	level         *Level
}

func (m *MemoryStore) hostLevels() []hostLevel {
	var hosts []hostLevel
	m.root.lock.RLock()
	defer m.root.lock.RUnlock()
	for cluster, l1 := range m.root.children {
		l1.lock.RLock()
		for host, l2 := range l1.children {
			hosts = append(hosts, hostLevel{cluster, host, l2})
		}
		l1.lock.RUnlock()
	}
	return hosts
}

// checkpointWithSession writes the snapshots of [from, to) in a ccwal
// checkpoint session and returns how many were written.
//
// A snapshot holds each metric's samples with from <= ts < to (what
// toCheckpointFile reads), so the session's window is [from, to-1]: a WAL
// record at exactly `to` is not in the snapshot and stays.
func (m *MemoryStore) checkpointWithSession(store *ccwal.Store, from, to int64) (int, error) {
	// The session begins before the level tree is read: every sample
	// handed to ccwal before it is already in memory (DecodeLine writes
	// memory first), so it is in this snapshot or in a WAL file kept.
	session, err := store.BeginCheckpoint(from, to-1, Keys.NumWorkers, Keys.NumWorkers*2)
	if err != nil {
		return 0, err
	}
	hosts := m.hostLevels()
	errs := m.snapshotHosts(hosts, from, to, func(h hostLevel, snap *ccwal.Snapshot) error {
		return session.Add(h.cluster, h.host, snap)
	})
	report, err := session.Finish()
	if err != nil {
		return 0, err
	}
	for _, h := range report.Hosts {
		if h.Err != nil {
			cclog.Errorf("[METRICSTORE]> binary checkpoint error for %s: %v", path.Join(Keys.Checkpoints.RootDir, h.Cluster, h.Host), h.Err)
			errs++
		}
	}
	cclog.Infof("[METRICSTORE]> ccwal checkpoint: %d snapshots (%d bytes), %d failed; WAL segments: %d deleted, %d cut to %d records outside [%d, %d]; %d seal and %d segment errors; %v",
		report.Written, report.Bytes, report.Failed, report.SegmentsDeleted, report.SegmentsTrimmed, report.RecordsKept,
		from, to-1, report.SealErrors, report.SegmentErrors, report.Duration)
	if report.SealErrors > 0 || report.SegmentErrors > 0 {
		errs += report.SealErrors + report.SegmentErrors
	}
	if errs > 0 {
		return report.Written, fmt.Errorf("[METRICSTORE]> %d errors during binary checkpoint (%d successes)", errs, report.Written)
	}
	return report.Written, nil
}

// ToCheckpointWAL writes a binary snapshot of [from, to) for every host,
// each durably and atomically through ccwal, without touching the WAL.
// Returns the number written, the host directories written and an error
// counting the failures.
func (m *MemoryStore) ToCheckpointWAL(dir string, from, to int64) (int, []string, error) {
	var mu sync.Mutex
	var dirs []string
	errs := m.snapshotHosts(m.hostLevels(), from, to, func(h hostLevel, snap *ccwal.Snapshot) error {
		defer snap.Free()
		if err := ccwal.WriteSnapshot(dir, h.cluster, h.host, from, snap); err != nil {
			return err
		}
		mu.Lock()
		dirs = append(dirs, path.Join(dir, h.cluster, h.host))
		mu.Unlock()
		return nil
	})
	if errs > 0 {
		return len(dirs), dirs, fmt.Errorf("[METRICSTORE]> %d errors during binary checkpoint (%d successes)", errs, len(dirs))
	}
	return len(dirs), dirs, nil
}

// snapshotHosts builds each host's snapshot of [from, to) on
// Keys.NumWorkers goroutines and hands it to write (hosts with nothing new
// are skipped, as ErrNoNewArchiveData). Returns the number of failures.
func (m *MemoryStore) snapshotHosts(hosts []hostLevel, from, to int64, write func(hostLevel, *ccwal.Snapshot) error) int {
	cclog.Infof("[METRICSTORE]> Starting binary checkpoint for %d hosts with %d workers", len(hosts), Keys.NumWorkers)
	var written, errs, completed atomic.Int32
	stopProgress := make(chan struct{})
	go func() {
		ticker := time.NewTicker(10 * time.Second)
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
				cclog.Infof("[METRICSTORE]> Checkpoint progress: %d/%d hosts (%d written, %d errors)",
					completed.Load(), len(hosts), written.Load(), errs.Load())
			case <-stopProgress:
				return
			}
		}
	}()
	work := make(chan hostLevel, Keys.NumWorkers*2)
	var wg sync.WaitGroup
	for range max(Keys.NumWorkers, 1) {
		wg.Go(func() {
			for h := range work {
				err := snapshotHost(m, h, from, to, write)
				switch {
				case err == ErrNoNewArchiveData:
				case err != nil:
					cclog.Errorf("[METRICSTORE]> binary checkpoint error for %s: %v", path.Join(Keys.Checkpoints.RootDir, h.cluster, h.host), err)
					errs.Add(1)
				default:
					written.Add(1)
				}
				completed.Add(1)
			}
		})
	}
	for _, h := range hosts {
		work <- h
	}
	close(work)
	wg.Wait()
	close(stopProgress)
	return int(errs.Load())
}

func snapshotHost(m *MemoryStore, h hostLevel, from, to int64, write func(hostLevel, *ccwal.Snapshot) error) error {
	cf := h.level.slotAlignedCheckpointFile(from, to, m)
	if cf == nil {
		return ErrNoNewArchiveData
	}
	snap, err := ccwal.NewSnapshot(from, to)
	if err != nil {
		return err
	}
	if err := addCheckpointLevel(snap, cf); err != nil {
		snap.Free()
		return err
	}
	return write(h, snap)
}

// errStopIteration ends a buffer iteration early.
var errStopIteration = errors.New("stop")

// slotAlignedCheckpointFile is the level's data of [from, to) as a
// snapshot holds it, nil when there is none (or all of it came from
// snapshots already): the same selection as cc-backend's toCheckpointFile,
// but each metric starts at the start of a buffer slot instead of at
// `from`. A buffer's slot k covers [start + k*f, start + (k+1)*f); Go's
// snapshot starts its values at `from`, which a restore takes as the start
// of a buffer: every value then moves to a slot shifted by from's offset in
// its slot, and a sample in the slot of `from` can end up in no slot a
// read finds (the older buffer a restore rebuilds from the WAL ends where
// the snapshot's begins). Aligned, the restored buffers have the slots the
// live ones had, and every slot holding a sample with ts < to is written.
func (l *Level) slotAlignedCheckpointFile(from, to int64, m *MemoryStore) *CheckpointFile {
	l.lock.RLock()
	defer l.lock.RUnlock()

	cf := &CheckpointFile{
		From:     from,
		To:       to,
		Metrics:  make(map[string]*CheckpointMetrics),
		Children: make(map[string]*CheckpointFile),
	}
	for name, config := range m.Metrics {
		head := l.metrics[config.offset]
		if head == nil {
			continue
		}
		archived := true
		head.iterFromTo(from, to, func(b *buffer) error {
			if !b.archived {
				archived = false
				return errStopIteration
			}
			return nil
		})
		if archived {
			continue
		}
		cf.Metrics[name] = slotAlignedWindow(head, from, to)
	}
	for name, child := range l.children {
		if childCf := child.slotAlignedCheckpointFile(from, to, m); childCf != nil {
			cf.Children[name] = childCf
		}
	}
	if len(cf.Metrics) == 0 && len(cf.Children) == 0 {
		return nil
	}
	return cf
}

// slotAlignedWindow reads a chain's values of [from, to) on the slots of
// the buffer covering `from` (or of the oldest buffer when `from` is before
// it): Start is a slot start, values[k] the slot at Start + k*frequency, up
// to the slot holding to-1 or the end of the data.
func slotAlignedWindow(head *buffer, from, to int64) *CheckpointMetrics {
	grid := head
	for from < grid.firstWrite() && grid.prev != nil {
		grid = grid.prev
	}
	freq := grid.frequency
	start := grid.start
	if from > start {
		start += (from - start) / freq * freq
	}
	data := make([]schema.Float, (to-start)/freq+1)
	data, readFrom, _, _ := head.read(start, to, data)
	// read begins at the oldest buffer's first write when `start` is
	// before it: back to the start of that slot.
	readFrom -= ((readFrom-grid.start)%freq + freq) % freq
	return &CheckpointMetrics{Frequency: freq, Start: readFrom, Data: data}
}

func addCheckpointLevel(snap *ccwal.Snapshot, cf *CheckpointFile) error {
	for name, metric := range cf.Metrics {
		if err := snap.AddMetric(name, metric.Frequency, metric.Start, float64s(metric.Data)); err != nil {
			return fmt.Errorf("metric %s: %w", name, err)
		}
	}
	for name, child := range cf.Children {
		if err := snap.BeginChild(name); err != nil {
			return fmt.Errorf("level %s: %w", name, err)
		}
		if err := addCheckpointLevel(snap, child); err != nil {
			return fmt.Errorf("level %s: %w", name, err)
		}
		if err := snap.EndChild(); err != nil {
			return err
		}
	}
	return nil
}

// float64s views a []schema.Float (float64 underneath) as []float64.
func float64s(data []schema.Float) []float64 {
	if len(data) == 0 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(data))), len(data))
}
