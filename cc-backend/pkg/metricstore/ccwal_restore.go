// ccwal: this file is part of the ccwal project, not of cc-backend. It is
// added to cc-backend's pkg/metricstore at build time (scripts/ccbackend-build.sh).

package metricstore

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	cclog "github.com/ClusterCockpit/cc-lib/v2/ccLogger"
	"github.com/ClusterCockpit/cc-lib/v2/schema"
	"github.com/ccwal/ccwal/go/ccwal"
)

// FromCheckpointFiles loads the data of every ROOT/CLUSTER/HOST newer than
// `from` with ccwal's restore: the snapshots (binary or JSON) Go's rule
// selects, plus the newest one below the horizon, then the sealed WAL
// segments a checkpoint kept and current.wal. Damaged WAL bytes (a torn
// tail after a crash) are skipped and replay goes on after them; a record
// older than its chain's newest buffer goes into the older buffer it
// belongs to. A stray file in the root is a warning. Keys.NumWorkers
// goroutines each take the next host, have ccwal restore it on their
// thread and copy it into the store, so restoring and copying overlap and
// ccwal holds only the hosts in flight. Returns the number of files
// loaded; an error when a host could not be loaded (what was loaded of it
// stays).
func (m *MemoryStore) FromCheckpointFiles(dir string, from int64) (int, error) {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		err := os.MkdirAll(dir, CheckpointDirPerms)
		if err != nil {
			cclog.Fatalf("[METRICSTORE]> Error creating directory: %#v\n", err)
		}
		cclog.Debugf("[METRICSTORE]> %#v Directory created successfully", dir)
	}

	scan, err := ccwal.ScanRestore(dir, from, m.frequencies(), ccwal.RestoreOptions{})
	if err != nil {
		return 0, err
	}
	defer scan.Close()
	if scan.Err != nil {
		cclog.Warnf("[METRICSTORE]> %s: %v (ignored: every host directory was loaded)", dir, scan.Err)
	}

	var files, errs atomic.Int64
	var records, damaged atomic.Uint64
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < max(Keys.NumWorkers, 1); w++ {
		wg.Go(func() {
			for h := int(next.Add(1) - 1); h < scan.Hosts; h = int(next.Add(1) - 1) {
				restored, err := scan.RestoreHost(h)
				if err != nil {
					cclog.Errorf("[METRICSTORE]> error while loading checkpoints of host %d: %s", h, err.Error())
					errs.Add(1)
					continue
				}
				host := restored.Hosts[0]
				if host.Err != nil {
					cclog.Errorf("[METRICSTORE]> error while loading checkpoints for %s/%s: %s", host.Cluster, host.Host, host.Err.Error())
					errs.Add(1)
				}
				if host.DamagedRanges > 0 {
					cclog.Warnf("[METRICSTORE]> WAL replay of %s/%s: %d damaged ranges skipped", host.Cluster, host.Host, host.DamagedRanges)
				}
				files.Add(int64(host.FilesLoaded))
				records.Add(host.RecordsApplied)
				damaged.Add(uint64(host.DamagedRanges))
				if err := m.loadRestoredHost(restored, 0, host); err != nil {
					cclog.Errorf("[METRICSTORE]> error while loading checkpoints for %s/%s: %s", host.Cluster, host.Host, err.Error())
					errs.Add(1)
				}
				restored.Close()
			}
		})
	}
	wg.Wait()
	cclog.Infof("[METRICSTORE]> ccwal restore: %d hosts, %d files, %d WAL records replayed, %d damaged ranges skipped",
		scan.Hosts, files.Load(), records.Load(), damaged.Load())

	if errs.Load() > 0 {
		return int(files.Load()), fmt.Errorf("[METRICSTORE]> %d errors happened while creating checkpoints (%d successes)", errs.Load(), files.Load())
	}
	return int(files.Load()), nil
}

// loadRestoredHost builds the level tree of one restored host: each
// metric's chain of buffers, oldest first.
func (m *MemoryStore) loadRestoredHost(restored *ccwal.Restored, h int, host ccwal.RestoredHost) error {
	hostLevel := m.root.findLevelOrCreate([]string{host.Cluster, host.Host}, len(m.Metrics))
	for l := 0; l < host.Levels; l++ {
		path, metrics, err := restored.Level(h, l)
		if err != nil {
			return err
		}
		level := hostLevel.findLevelOrCreate(path, len(m.Metrics))
		for k := 0; k < metrics; k++ {
			name, chunks, err := restored.MetricView(h, l, k)
			if err != nil {
				return err
			}
			config, ok := m.Metrics[name]
			if !ok || len(chunks) == 0 {
				continue
			}
			level.lock.Lock()
			level.metrics[config.offset] = bufferChain(chunks)
			level.lock.Unlock()
		}
	}
	return nil
}

// bufferChain turns restored chunks into a chain of buffers and returns
// its head (the newest), copying each chunk's values once (they may point
// into the restored data). Buffers of the standard capacity come from the
// pool, as those written live do.
func bufferChain(chunks []ccwal.Chunk) *buffer {
	var head *buffer
	for _, chunk := range chunks {
		var b *buffer
		n := len(chunk.Values)
		capacity := max(chunk.Capacity, n)
		if capacity == BufferCap {
			b = bufferPool.Get()
		} else {
			b = &buffer{data: make([]schema.Float, 0, capacity)}
		}
		b.data = b.data[:n]
		if n > 0 {
			// schema.Float is a float64: one memmove.
			copy(b.data, unsafe.Slice((*schema.Float)(unsafe.Pointer(unsafe.SliceData(chunk.Values))), n))
		}
		b.frequency = chunk.Frequency
		b.start = chunk.Start
		b.archived = chunk.Archived
		b.closed = false
		b.next = nil
		b.prev = head
		if head != nil {
			head.next = b
		}
		head = b
	}
	return head
}

// frequencies is the metric configuration as ccwal takes it.
func (m *MemoryStore) frequencies() map[string]int64 {
	frequencies := make(map[string]int64, len(m.Metrics))
	for name, config := range m.Metrics {
		frequencies[name] = config.Frequency
	}
	return frequencies
}
