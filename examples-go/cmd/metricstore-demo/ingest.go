package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ccwal/ccwal/go/ccwal"
)

// runStore is the store process: ingest, sync and acknowledge, checkpoint,
// clean up — and die by SIGKILL at c.killAt.
func runStore(c config) error {
	if err := os.MkdirAll(c.root, 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(c.root, "demo.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	// A log line is durable before the store acts on it.
	note := func(format string, args ...any) error {
		if _, err := fmt.Fprintf(log, format+"\n", args...); err != nil {
			return err
		}
		return log.Sync()
	}
	wal, err := ccwal.Open(ccwal.Options{Root: c.root})
	if err != nil {
		return err
	}
	mem := &store{hosts: map[string]*level{}}
	var batch ccwal.Batch
	var checkpoints []int64 // the `from` of each written checkpoint, oldest first
	lastCheckpoint := tickTime(0) - frequency
	for tick := 0; tick < c.ticks; tick++ {
		if tick == c.killAt {
			// Mid-stream: the last batches are queued, maybe half written.
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		var parseErr error
		c.lines(tick, func(line string) {
			metric, cl, host, selector, value, ts, ok := parseLine(line)
			if !ok {
				parseErr = fmt.Errorf("unparsable line %q", line)
				return
			}
			// The ordering rule: memory first, then the WAL.
			mem.host(host).find(selector).write(metric, frequency, ts, value)
			if err := batch.Add(cl, host, metric, selector, value, ts); err != nil {
				parseErr = err
			}
		})
		if parseErr != nil {
			return parseErr
		}
		if err := wal.WriteBatch(&batch); err != nil {
			return err
		}
		batch.Reset()
		if tick%c.syncEvery == c.syncEvery-1 {
			if err := wal.Sync(); err != nil {
				return err
			}
			if err := note("ack %d", tick); err != nil {
				return err
			}
		}
		if tick%c.checkpointEvery == c.checkpointEvery-1 {
			from, to := lastCheckpoint, tickTime(tick)
			took, err := checkpoint(wal, mem, from, to)
			if err != nil {
				return err
			}
			if err := note("checkpoint %d", took.Microseconds()); err != nil {
				return err
			}
			checkpoints = append(checkpoints, from)
			lastCheckpoint = to
			// Keep the newest snapshots; restore must then start where the
			// oldest kept window starts.
			if len(checkpoints) > c.keepCheckpoints {
				drop := checkpoints[len(checkpoints)-c.keepCheckpoints-1]
				keptFrom := checkpoints[len(checkpoints)-c.keepCheckpoints]
				if err := note("horizon %d", keptFrom); err != nil {
					return err
				}
				if _, _, err := ccwal.Cleanup(c.root, drop); err != nil {
					return err
				}
			}
		}
	}
	return wal.Close()
}

// checkpoint writes every host's data not yet in a snapshot through a
// session; the WAL keeps taking writes meanwhile.
func checkpoint(wal *ccwal.Store, mem *store, from, to int64) (time.Duration, error) {
	started := time.Now()
	session, err := wal.BeginCheckpoint(from, to, 2, 8)
	if err != nil {
		return 0, err
	}
	for _, name := range sortedKeys(mem.hosts) {
		snap, err := ccwal.NewSnapshot(from, to)
		if err != nil {
			return 0, err
		}
		if err := addLevel(snap, mem.hosts[name], from, to); err != nil {
			snap.Free()
			return 0, err
		}
		if err := session.Add(cluster, name, snap); err != nil {
			return 0, err
		}
	}
	report, err := session.Finish()
	if err != nil {
		return 0, err
	}
	for _, host := range report.Hosts {
		if host.Err != nil {
			return 0, fmt.Errorf("checkpoint of %s: %v", host.Host, host.Err)
		}
	}
	return time.Since(started), nil
}

// addLevel adds a level's data of the window (from, to]: metrics first,
// then children.
func addLevel(snap *ccwal.Snapshot, l *level, from, to int64) error {
	for _, metric := range sortedKeys(l.chains) {
		if start, frequency, values, ok := l.window(metric, from, to); ok {
			if err := snap.AddMetric(metric, frequency, start, values); err != nil {
				return err
			}
		}
	}
	for _, name := range sortedKeys(l.children) {
		if err := snap.BeginChild(name); err != nil {
			return err
		}
		if err := addLevel(snap, l.children[name], from, to); err != nil {
			return err
		}
		if err := snap.EndChild(); err != nil {
			return err
		}
	}
	return nil
}
