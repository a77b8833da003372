package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// The way back and the full disk: scenarios where two binaries take turns
// on one server directory (-server with ccwal inside, -stock the published
// server), and where the checkpoint directory is a small file system that
// runs full.

// withCheckpointedBackfill starts a fresh server of bin, writes Steps
// backfilled steps (older than the server's start, so outside every
// checkpoint window) and one live sample per series, and waits for a
// checkpoint to finish over them.
func (c *Config) withCheckpointedBackfill(name, bin string) (*Server, *Ledger, error) {
	l := NewLayout("e2e", "node", c.Nodes, c.HWThreads)
	s, err := NewServer(bin, filepath.Join(c.WorkDir, name), l, c.BackfillInterval, c.Retention)
	if err != nil {
		return nil, nil, err
	}
	if _, err := s.Start("fresh", c.StartTimeout); err != nil {
		return nil, nil, err
	}
	g := NewLedger(l)
	w := NewWriter(s, g)
	base := alignedNow(l.Timestep) - int64(c.Steps+60)*l.Timestep
	if failed := Backfill(w, 0, c.Steps, base, 0, 1, 0, nil); failed > 0 {
		s.Kill()
		return nil, nil, fmt.Errorf("%d backfill requests failed: %s", failed, w.LastErr())
	}
	if err := writeLive(w, c.Steps); err != nil {
		s.Kill()
		return nil, nil, err
	}
	if err := c.awaitCheckpoint(s, s.LogSize()); err != nil {
		s.Kill()
		return nil, nil, err
	}
	return s, g, nil
}

// SwitchAfterSigterm: the swapped server checkpoints over backfill + live,
// gets SIGTERM, and the stock server starts on its directory.
func (c *Config) SwitchAfterSigterm() (Row, error) {
	row := Row{Scenario: "switch to stock after SIGTERM (backfill + live, checkpoint)"}
	s, g, err := c.withCheckpointedBackfill("switch-sigterm", c.Bin)
	if err != nil {
		return row, err
	}
	if !s.Term(2 * time.Minute) {
		return row, fmt.Errorf("did not exit within 2 min of SIGTERM")
	}
	s.Bin = c.Stock
	return row, c.restartAndVerify(s, g, &row)
}

// SwitchAfterSigkill: the same, SIGKILL instead, then `ccwal compact`
// offline, then the stock server.
func (c *Config) SwitchAfterSigkill() (Row, error) {
	row := Row{Scenario: "switch to stock after SIGKILL + ccwal compact"}
	s, g, err := c.withCheckpointedBackfill("switch-sigkill", c.Bin)
	if err != nil {
		return row, err
	}
	time.Sleep(c.Settle)
	s.Kill()
	if err := c.compactForStock(s); err != nil {
		return row, err
	}
	s.Bin = c.Stock
	return row, c.restartAndVerify(s, g, &row)
}

// compactForStock runs `ccwal compact ROOT --metrics FILE` on the server's
// checkpoint directory, the metrics file written from the layout.
func (c *Config) compactForStock(s *Server) error {
	l := s.Layout
	metrics := map[string]int64{}
	for _, m := range append(append([]string{}, l.NodeMetrics...), l.HWMetrics...) {
		metrics[m] = l.Timestep
	}
	path := filepath.Join(s.Dir, "metrics.json")
	if err := writeJSON(path, metrics); err != nil {
		return err
	}
	out, err := exec.Command(c.CcwalTool, "compact", s.CheckpointDir(), "--metrics", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ccwal compact: %v\n%s", err, out)
	}
	_ = os.WriteFile(filepath.Join(s.Dir, "compact.log"), out, 0o644)
	return nil
}

// SwitchFromStock: the stock server takes a live sample per series,
// checkpoints, takes one more a step later, and is killed two seconds after
// the last answer (its WAL buffers are flushed every second); the swapped
// server starts on its directory.
func (c *Config) SwitchFromStock() (Row, error) {
	row := Row{Scenario: "switch from stock after its checkpoint (SIGKILL)"}
	l := NewLayout("e2e", "node", c.Nodes, c.HWThreads)
	s, err := NewServer(c.Stock, filepath.Join(c.WorkDir, "switch-from-stock"), l, c.BackfillInterval, c.Retention)
	if err != nil {
		return row, err
	}
	if _, err := s.Start("fresh", c.StartTimeout); err != nil {
		return row, err
	}
	g := NewLedger(l)
	w := NewWriter(s, g)
	if err := writeLive(w, 0); err != nil {
		s.Kill()
		return row, err
	}
	if err := c.awaitCheckpoint(s, s.LogSize()); err != nil {
		s.Kill()
		return row, err
	}
	// The next sample one step later (a slot holds one value), so after
	// the checkpoint's window: it is in the WAL only.
	next := stepPoints(l, 0, l.NumNodes, 1, time.Now().Unix()-1+l.Timestep, nil)
	if _, ok := w.Post(next, nil); !ok {
		s.Kill()
		return row, fmt.Errorf("samples after the checkpoint refused: %s", w.LastErr())
	}
	time.Sleep(c.Settle)
	s.Kill()
	s.Bin = c.Bin
	return row, c.restartAndVerify(s, g, &row)
}

// DiskFull: the checkpoint directory is a small tmpfs, filled up before the
// server starts. Half the steps are sent while nothing can be persisted,
// the space is freed, the other half is sent, then SIGKILL and a restart
// on the same file system: no acknowledged sample may be lost. With ccwal
// inside, a write the disk refuses must not be answered 2xx.
func (c *Config) DiskFull() (Row, error) {
	row := Row{Scenario: "disk full, then freed (SIGKILL after)"}
	l := NewLayout("e2e", "node", c.Nodes, c.HWThreads)
	s, err := NewServer(c.Bin, filepath.Join(c.WorkDir, "disk-full"), l, c.CheckpointInterval, c.Retention)
	if err != nil {
		return row, err
	}
	filler, unmount, err := s.smallDisk("16m")
	if err != nil {
		return row, err
	}
	defer func() {
		s.Kill()
		unmount()
	}()
	if err := fillUp(filler); err != nil {
		return row, err
	}
	if _, err := s.Start("fresh", c.StartTimeout); err != nil {
		return row, err
	}
	g := NewLedger(l)
	w := NewWriter(s, g)
	half := c.Steps / 2
	base := alignedNow(l.Timestep) - int64(c.Steps+60)*l.Timestep
	failedFull := Backfill(w, 0, half, base, 0, 1, 0, nil)
	ackedFull := g.Acked()
	if err := os.Remove(filler); err != nil {
		return row, err
	}
	failedFreed := Backfill(w, half, c.Steps, base, 0, 1, 0, nil)
	row.Note = fmt.Sprintf("while full: %d requests refused, %d samples acknowledged; after freeing: %d requests refused",
		failedFull, ackedFull, failedFreed)
	time.Sleep(c.Settle)
	s.Kill()
	if err := c.restartAndVerify(s, g, &row); err != nil {
		return row, err
	}
	if c.ExpectNoLoss && (ackedFull != 0 || failedFull == 0) {
		return row, fmt.Errorf("%d samples acknowledged while the disk was full (%d requests refused): they were in no file", ackedFull, failedFull)
	}
	if c.ExpectNoLoss && failedFreed != 0 {
		return row, fmt.Errorf("%d requests refused after the space was freed: ingest did not resume", failedFreed)
	}
	return row, nil
}

// smallDisk puts the server's checkpoint directory on a tmpfs of size
// (mounted at var/fs, the directory var/fs/checkpoints) and names the file
// that fills it up: next to the checkpoint directory, where the stock
// server, which refuses any file at the first level of its directory,
// does not see it. Returns the unmount. Needs root; errSkipped without.
func (s *Server) smallDisk(size string) (filler string, unmount func(), err error) {
	mnt := filepath.Join(s.Dir, "var", "fs")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return "", nil, err
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+size); err != nil {
		return "", nil, errSkipped{fmt.Sprintf("mounting a tmpfs on %s: %v (needs root)", mnt, err)}
	}
	unmount = func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) }
	s.CheckpointSubdir = filepath.Join("var", "fs", "checkpoints")
	if err := os.MkdirAll(s.CheckpointDir(), 0o755); err != nil {
		unmount()
		return "", nil, err
	}
	if err := writeJSON(filepath.Join(s.Dir, "config.json"), s.config()); err != nil {
		unmount()
		return "", nil, err
	}
	return filepath.Join(mnt, "filler"), unmount, nil
}

// fillUp writes path until the file system is full, to the last byte.
func fillUp(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for size := 64 << 10; size > 0; size /= 2 {
		block := make([]byte, size)
		for {
			_, err := f.Write(block)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// errSkipped marks a scenario that cannot run here (said loudly, not a
// failure).
type errSkipped struct{ why string }

func (e errSkipped) Error() string { return "SKIPPED: " + e.why }
