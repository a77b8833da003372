package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The soak (`make soak MINUTES=N`): one server directory for the whole run,
// restarted again and again. Each cycle ingests live samples (stamped now,
// one step a second: the layout's timestep is 1 s, every fourth step sent
// 45 s late, after its checkpoint window), and backfill (the steps before
// the start, newest first), with checkpoints every 15 s and cleanup in
// archive mode (every retention period, as cc-backend schedules it: every
// sixth cycle outlives it); in
// some cycles the checkpoint directory, a tmpfs, is filled for a few seconds
// (disk full); then the server gets SIGKILL or SIGTERM at a random point
// while writes are in flight, restarts, and every acknowledged sample still
// inside the retention is read back. The server's resident memory and open
// descriptors are sampled before each stop.

// SoakCycle is one start-to-stop of the soak.
type SoakCycle struct {
	Cycle        int     `json:"cycle"`
	Uptime       float64 `json:"uptime_s"`
	Stop         string  `json:"stop"`
	DiskFull     float64 `json:"disk_full_s"` // 0: no full window this cycle
	Refused      int64   `json:"requests_refused"`
	RSSKiB       int64   `json:"rss_kib"`
	FDs          int     `json:"fds"`
	RestartS     float64 `json:"restart_s"`
	Checked      int64   `json:"acked_checked"`
	Lost, Wrong  int64
	Missing      int `json:"series_missing"`
	ArchiveFiles int `json:"archive_files"`
}

// SoakRetention is the soak server's retention-in-memory (also its
// cleanup interval).
const SoakRetention = 10 * time.Minute

// Soak runs cycles until d has passed.
func (c *Config) Soak(d time.Duration) ([]SoakCycle, error) {
	const (
		retention    = SoakRetention
		checkpoint   = "15s"
		backfillSpan = 5 * 60 // seconds before the start that backfill covers, one step a second of uptime
		lateBy       = 45     // every fourth step is sent this many seconds late (after its checkpoint window)
	)
	l := NewLayout("e2e", "soak", c.Nodes, c.HWThreads)
	l.Timestep = 1
	s, err := NewServer(c.Bin, filepath.Join(c.WorkDir, "soak"), l, checkpoint, retention.String())
	if err != nil {
		return nil, err
	}
	filler, unmount, err := s.smallDisk("1g")
	tmpfs := err == nil
	if tmpfs {
		defer func() {
			s.Kill()
			unmount()
		}()
	} else {
		logf("*** soak: %v: no disk-full windows ***", err)
	}
	if err := s.addCleanup("archive", "./var/archive"); err != nil {
		return nil, err
	}
	g := NewLedger(l)
	start := time.Now().Unix()
	base := start - backfillSpan // step k is at base + k
	backfill := backfillSpan - 1 // next backfilled step, going back to 0
	late := backfillSpan         // next late step (a multiple of 4)
	deadline := time.Now().Add(d)
	var cycles []SoakCycle
	for n := 1; time.Now().Before(deadline); n++ {
		cy := SoakCycle{Cycle: n}
		t, err := s.Start(fmt.Sprintf("soak cycle %d", n), c.StartTimeout)
		if err != nil {
			return cycles, err
		}
		if n > 1 {
			cycles[len(cycles)-1].RestartS = t.Seconds()
			if err := c.soakVerify(s, g, retention, &cycles[len(cycles)-1]); err != nil {
				return cycles, err
			}
			last := cycles[len(cycles)-1]
			logf("soak cycle %d: %s after %.0fs, restart %.2fs, %d checked, %d lost, %d wrong, RSS %d KiB, %d fds",
				last.Cycle, last.Stop, last.Uptime, last.RestartS, last.Checked, last.Lost, last.Wrong, last.RSSKiB, last.FDs)
			if last.Lost != 0 || last.Wrong != 0 {
				return cycles, fmt.Errorf("cycle %d: %d acknowledged samples lost, %d wrong", last.Cycle, last.Lost, last.Wrong)
			}
		}
		uptime := 20*time.Second + time.Duration(c.rng.Int63n(int64(40*time.Second)))
		if n%6 == 0 {
			// Longer than the retention, so that cleanup (archive mode,
			// every retention period) runs.
			uptime = retention + 30*time.Second + time.Duration(c.rng.Int63n(int64(30*time.Second)))
		}
		w := NewWriter(s, g)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			var pts []point
			var buf []byte
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			sentLive := map[int]bool{}
			for tickN := 0; ; tickN++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				now := int(time.Now().Unix() - 1 - base)
				if k := now; k < kMod && k%4 != 0 && !sentLive[k] {
					sentLive[k] = true
					pts = stepPoints(l, 0, l.NumNodes, k, base+int64(k), pts)
					buf, _ = w.Post(pts, buf)
				}
				if late <= now-lateBy && late < kMod {
					pts = stepPoints(l, 0, l.NumNodes, late, base+int64(late), pts)
					buf, _ = w.Post(pts, buf)
					late += 4
				}
				if tickN%4 == 0 && backfill >= 0 {
					pts = stepPoints(l, 0, l.NumNodes, backfill, base+int64(backfill), pts)
					buf, _ = w.Post(pts, buf)
					backfill--
				}
			}
		}()
		t0 := time.Now()
		if tmpfs && n%3 == 0 {
			time.Sleep(time.Duration(c.rng.Int63n(int64(uptime / 2))))
			full := 3*time.Second + time.Duration(c.rng.Int63n(int64(5*time.Second)))
			if err := fillUp(filler); err != nil {
				return cycles, err
			}
			time.Sleep(full)
			if err := os.Remove(filler); err != nil {
				return cycles, err
			}
			cy.DiskFull = full.Seconds()
		}
		if rest := uptime - time.Since(t0); rest > 0 {
			time.Sleep(rest)
		}
		cy.RSSKiB, cy.FDs = s.usage()
		cy.Uptime = time.Since(t0).Seconds()
		if c.rng.Intn(3) == 0 {
			cy.Stop = "SIGTERM"
			close(stop)
			<-done
			if !s.Term(2 * time.Minute) {
				return append(cycles, cy), fmt.Errorf("cycle %d: no exit within 2 min of SIGTERM", n)
			}
		} else {
			cy.Stop = "SIGKILL"
			s.Kill()
			close(stop)
			<-done
		}
		cy.Refused = w.failed.Load()
		cycles = append(cycles, cy)
	}
	t, err := s.Start("soak: final check", c.StartTimeout)
	if err != nil {
		return cycles, err
	}
	cycles[len(cycles)-1].RestartS = t.Seconds()
	err = c.soakVerify(s, g, retention, &cycles[len(cycles)-1])
	s.Kill()
	return cycles, err
}

// soakVerify reads every acknowledged sample back that the restart must
// hold: those at least two minutes inside the retention (older ones are
// the server's to drop: restore's horizon, cleanup by snapshot number).
func (c *Config) soakVerify(s *Server, g *Ledger, retention time.Duration, cy *SoakCycle) error {
	g.ForgetBefore(time.Now().Add(-retention + 2*time.Minute).Unix())
	cnt, err := Verify(s, g, 25)
	cy.Checked, cy.Lost, cy.Wrong, cy.Missing = cnt.Acked, cnt.Lost, cnt.Wrong, cnt.Missing
	entries, _ := filepath.Glob(filepath.Join(s.Dir, "var", "archive", "*", "*.parquet"))
	cy.ArchiveFiles = len(entries)
	return err
}

// addCleanup sets metric-store.cleanup in the server's config.json.
func (s *Server) addCleanup(mode, dir string) error {
	path := filepath.Join(s.Dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var config map[string]any
	if err := json.Unmarshal(b, &config); err != nil {
		return err
	}
	config["metric-store"].(map[string]any)["cleanup"] = map[string]any{"mode": mode, "directory": dir}
	return writeJSON(path, config)
}

// SoakGrowth fails when descriptors grew across the cycles, or resident
// memory once the retention period has filled the store: the last cycle
// against the most seen in the cycles between one retention period in and
// the middle of the run (skipped for a shorter run).
func SoakGrowth(cycles []SoakCycle, retention time.Duration) error {
	if len(cycles) < 2 {
		return nil
	}
	last := cycles[len(cycles)-1]
	firstFDs := 0
	for _, cy := range cycles[:min(3, len(cycles))] {
		firstFDs = max(firstFDs, cy.FDs)
	}
	if last.FDs > firstFDs+8 {
		return fmt.Errorf("open descriptors grew: %d in the first cycles, %d in the last", firstFDs, last.FDs)
	}
	var elapsed float64
	var steady int64
	for i, cy := range cycles {
		elapsed += cy.Uptime + cy.RestartS
		if elapsed >= retention.Seconds() && i < len(cycles)/2+1 {
			steady = max(steady, cy.RSSKiB)
		}
	}
	if steady > 0 && last.RSSKiB > steady*3/2 {
		return fmt.Errorf("resident memory grew: %d KiB after one retention period, %d KiB in the last cycle", steady, last.RSSKiB)
	}
	for _, cy := range cycles {
		if cy.Uptime > retention.Seconds() && last.ArchiveFiles == 0 {
			return fmt.Errorf("cycle %d outlived the retention, yet cleanup archived nothing", cy.Cycle)
		}
	}
	return nil
}

// SoakMarkdown is the soak's table, and its verdict on growth.
func SoakMarkdown(cycles []SoakCycle) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n| cycle | stop | uptime s | disk full s | refused requests | RSS MiB | fds | restart s | acked checked | lost | wrong |\n")
	fmt.Fprintf(&b, "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	var checked, lost, wrong int64
	for _, cy := range cycles {
		fmt.Fprintf(&b, "| %d | %s | %.0f | %.1f | %d | %.1f | %d | %.2f | %d | %d | %d |\n", cy.Cycle, cy.Stop, cy.Uptime, cy.DiskFull,
			cy.Refused, float64(cy.RSSKiB)/1024, cy.FDs, cy.RestartS, cy.Checked, cy.Lost, cy.Wrong)
		checked += cy.Checked
		lost += cy.Lost
		wrong += cy.Wrong
	}
	if len(cycles) > 0 {
		first, last := cycles[0], cycles[len(cycles)-1]
		fmt.Fprintf(&b, "\n%d cycles, %d acknowledged samples checked in all, %d lost, %d wrong; RSS %.1f → %.1f MiB, fds %d → %d; %d Parquet archive files\n",
			len(cycles), checked, lost, wrong, float64(first.RSSKiB)/1024, float64(last.RSSKiB)/1024, first.FDs, last.FDs, last.ArchiveFiles)
	}
	return b.String()
}
