package main

import (
	"fmt"
	"math/rand"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

var (
	reCheckpointDone = regexp.MustCompile(`binary snapshot files created`)
	reDropped        = regexp.MustCompile(`dropped (\d+) messages`)
	reLoaded         = regexp.MustCompile(`Checkpoints loaded \((\d+) files, (\d+) MB, that took ([0-9.]+)s\)`)
)

// Config holds the run's parameters (see the flags in main.go).
type Config struct {
	Bin                string
	WorkDir            string
	Nodes, HWThreads   int
	CheckpointInterval string // all scenarios but the checkpoint one and the restart test
	BackfillInterval   string // the checkpoint scenario's interval
	Retention          string
	MidIngest          time.Duration // kill-mid-ingest: ingest this long, then SIGKILL
	MidRate            float64       // steps/s while ingesting in kill-mid-ingest
	Steps              int           // steps written in the other scenarios
	Settle             time.Duration // after a checkpoint's log line, before the kill
	ThroughputFor      time.Duration
	ThroughputClients  []int
	RestartHosts       int
	RestartMB          int
	RestartVerify      bool
	StartTimeout       time.Duration
	Seed               int64
	Stock              string // the published server, for the switching scenarios
	CcwalTool          string // the ccwal tool, for `ccwal compact` before switching
	ExpectNoLoss       bool

	rng *rand.Rand
}

// Row is one line of the loss table.
type Row struct {
	Scenario string `json:"scenario"`
	Count
	Restart time.Duration `json:"restart_ns"`
	Note    string        `json:"note,omitempty"`
}

func alignedNow(step int64) int64 { n := time.Now().Unix(); return n - n%step }

// startFresh creates a server directory for a scenario and starts it.
func (c *Config) startFresh(name string, layout *Layout, interval string) (*Server, error) {
	s, err := NewServer(c.Bin, filepath.Join(c.WorkDir, name), layout, interval, c.Retention)
	if err != nil {
		return nil, err
	}
	if _, err := s.Start("fresh", c.StartTimeout); err != nil {
		return nil, err
	}
	return s, nil
}

// restartAndVerify restarts a stopped server on its directory and reads
// every series back.
func (c *Config) restartAndVerify(s *Server, g *Ledger, row *Row) error {
	d, err := s.Start("restart", c.StartTimeout)
	if err != nil {
		return err
	}
	defer s.Kill()
	row.Restart = d
	cnt, err := Verify(s, g, 25)
	row.Count = cnt
	return err
}

// awaitCheckpoint waits for the log line of a finished checkpoint after
// off (the checkpoint scenarios' interval, twice, and a minute).
func (c *Config) awaitCheckpoint(s *Server, off int64) error {
	interval, _ := time.ParseDuration(c.BackfillInterval)
	limit := 2*interval + time.Minute
	if _, ok := s.WaitLog(off, reCheckpointDone, limit); !ok {
		return fmt.Errorf("no checkpoint finished within %v (log line %q)", limit, reCheckpointDone)
	}
	return nil
}

// checkpointBeforeKill notes whether the server logged a finished checkpoint
// before the kill (the kill scenarios mean to hit the WAL alone).
func checkpointNote(s *Server, off int64) string {
	if n := s.LogCount(off, reCheckpointDone); n > 0 {
		return fmt.Sprintf("%d checkpoint(s) finished before the kill", n)
	}
	return ""
}

// KillMidIngest: two clients write steps at MidRate steps/s; after
// MidIngest the server gets SIGKILL while requests are in flight.
func (c *Config) KillMidIngest() (Row, error) {
	row := Row{Scenario: "SIGKILL mid-ingest"}
	l := NewLayout("e2e", "node", c.Nodes, c.HWThreads)
	s, err := c.startFresh("kill-mid-ingest", l, c.CheckpointInterval)
	if err != nil {
		return row, err
	}
	off := s.LogSize()
	g := NewLedger(l)
	w := NewWriter(s, g)
	maxSteps := int(c.MidRate*c.MidIngest.Seconds())*2 + 10
	base := alignedNow(l.Timestep) - int64(maxSteps+10)*l.Timestep
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		Backfill(w, 0, maxSteps, base, 0, 2, c.MidRate, stop)
		close(done)
	}()
	// The kill falls at a random point of a second (the stock server
	// flushes its WAL buffers every second; a fixed delay would hit the same
	// phase of that tick every run).
	at := c.MidIngest + time.Duration(c.rng.Int63n(int64(time.Second)))
	time.Sleep(at)
	s.Kill()
	close(stop)
	<-done
	row.Note = join(fmt.Sprintf("killed %.2fs into the ingest", at.Seconds()), checkpointNote(s, off))
	if g.Acked() == 0 {
		return row, fmt.Errorf("nothing acknowledged before the kill (last error: %s)", w.LastErr())
	}
	return row, c.restartAndVerify(s, g, &row)
}

// KillAfterAck: one client writes Steps steps; SIGKILL as soon as the last
// request is answered 2xx.
func (c *Config) KillAfterAck() (Row, error) {
	row := Row{Scenario: "SIGKILL right after the last 2xx"}
	l := NewLayout("e2e", "node", c.Nodes, c.HWThreads)
	s, err := c.startFresh("kill-after-ack", l, c.CheckpointInterval)
	if err != nil {
		return row, err
	}
	off := s.LogSize()
	g := NewLedger(l)
	w := NewWriter(s, g)
	base := alignedNow(l.Timestep) - int64(c.Steps+10)*l.Timestep
	failed := Backfill(w, 0, c.Steps, base, 0, 1, 0, nil)
	s.Kill()
	row.Note = checkpointNote(s, off)
	if failed > 0 {
		return row, fmt.Errorf("%d requests failed before the kill: %s", failed, w.LastErr())
	}
	return row, c.restartAndVerify(s, g, &row)
}

// writeLive writes one sample per series, stamped a second before it is
// sent (as a collector stamps its measurement), as sample number k. The
// server's checkpoint window begins at its start and ends (exclusive) at the
// second the checkpoint begins, so the sample is live: writeLive first waits
// until the server has run for 3 s, so the stamp is past the window's start
// (a sample stamped in the very second of the start, or of a SIGTERM, falls
// outside stock's window and says nothing about the WAL).
func writeLive(w *Writer, k int) error {
	l := w.s.Layout
	if d := 3*time.Second - time.Since(w.s.started); d > 0 {
		time.Sleep(d)
	}
	ts := time.Now().Unix() - 1
	pts := stepPoints(l, 0, l.NumNodes, k, ts, nil)
	if _, ok := w.Post(pts, nil); !ok {
		return fmt.Errorf("live samples refused: %s", w.LastErr())
	}
	return nil
}

// CheckpointBackfill: Steps backfilled steps (older than the server's start,
// so outside the checkpoint window) and one live sample per series; wait for
// the next checkpoint to finish, then SIGKILL.
func (c *Config) CheckpointBackfill() (Row, error) {
	row := Row{Scenario: "checkpoint over backfill + live, then SIGKILL"}
	s, g, err := c.withCheckpointedBackfill("checkpoint-backfill", c.Bin)
	if err != nil {
		return row, err
	}
	l := s.Layout
	time.Sleep(c.Settle)
	s.Kill()
	row.Note = fmt.Sprintf("%d backfilled + %d live", int64(c.Steps)*int64(len(l.Series())), len(l.Series()))
	return row, c.restartAndVerify(s, g, &row)
}

// Sigterm: with backfill=false one live sample per series, else Steps
// backfilled steps plus one live sample per series; then SIGTERM.
func (c *Config) Sigterm(backfill bool) (Row, error) {
	name, scen := "sigterm-live", "SIGTERM (one live sample per series)"
	if backfill {
		name, scen = "sigterm-backfill", "SIGTERM after backfill + live"
	}
	row := Row{Scenario: scen}
	l := NewLayout("e2e", "node", c.Nodes, c.HWThreads)
	s, err := c.startFresh(name, l, c.CheckpointInterval)
	if err != nil {
		return row, err
	}
	g := NewLedger(l)
	w := NewWriter(s, g)
	k := 0
	if backfill {
		base := alignedNow(l.Timestep) - int64(c.Steps+60)*l.Timestep
		if failed := Backfill(w, 0, c.Steps, base, 0, 1, 0, nil); failed > 0 {
			s.Kill()
			return row, fmt.Errorf("%d backfill requests failed: %s", failed, w.LastErr())
		}
		k = c.Steps
	}
	if err := writeLive(w, k); err != nil {
		s.Kill()
		return row, err
	}
	t0 := time.Now()
	if !s.Term(2 * time.Minute) {
		row.Note = "did not exit within 2 min of SIGTERM (killed)"
	} else {
		row.Note = fmt.Sprintf("shutdown took %.1fs", time.Since(t0).Seconds())
	}
	return row, c.restartAndVerify(s, g, &row)
}

// ThroughputRow is one line of the ingest table.
type ThroughputRow struct {
	Clients   int     `json:"clients"`
	Seconds   float64 `json:"seconds"`
	Requests  int64   `json:"requests"`
	Accepted  int64   `json:"accepted_samples"`
	PerSecond float64 `json:"accepted_per_second"`
	// The server process's user + system CPU time during the ingest,
	// divided by the accepted samples.
	ServerCPUNsPerSample float64 `json:"server_cpu_ns_per_sample"`
	Errors               int64   `json:"errors"`
	LastError            string  `json:"last_error,omitempty"`
	WALDrops             int64   `json:"wal_drops_logged"` // -1: none logged
	LostAfterKill        int64   `json:"lost_after_kill"`
	WrongAfter           int64   `json:"wrong_after_kill"`
}

// Throughput: `clients` concurrent clients, each writing its own 50 nodes
// (one request = one step of its nodes, as fast as it can) for
// ThroughputFor. Then, after Settle, SIGKILL, restart, and count what of the
// accepted samples survived.
func (c *Config) Throughput(clients int) (ThroughputRow, error) {
	row := ThroughputRow{Clients: clients}
	per := c.Nodes
	l := NewLayout("e2e", "tp", per*clients, c.HWThreads)
	s, err := c.startFresh(fmt.Sprintf("throughput-%d", clients), l, c.CheckpointInterval)
	if err != nil {
		return row, err
	}
	off := s.LogSize()
	g := NewLedger(l)
	w := NewWriter(s, g)
	const maxSteps = kMod - 100
	base := alignedNow(l.Timestep) - int64(kMod)*l.Timestep
	deadline := time.Now().Add(c.ThroughputFor)
	cpu0 := s.cpuTime()
	t0 := time.Now()
	var wg sync.WaitGroup
	for cl := 0; cl < clients; cl++ {
		wg.Go(func() {
			var pts []point
			var buf []byte
			for k := 0; k < maxSteps && time.Now().Before(deadline); k++ {
				pts = stepPoints(l, cl*per, (cl+1)*per, k, base+int64(k)*l.Timestep, pts)
				buf, _ = w.Post(pts, buf)
			}
		})
	}
	wg.Wait()
	el := time.Since(t0)
	row.Seconds = el.Seconds()
	row.Requests = w.requests.Load()
	row.Accepted = w.samplesOK.Load()
	row.PerSecond = float64(row.Accepted) / el.Seconds()
	if row.Accepted > 0 {
		row.ServerCPUNsPerSample = float64(s.cpuTime()-cpu0) / float64(row.Accepted)
	}
	row.Errors = w.failed.Load()
	row.LastError = w.LastErr()
	time.Sleep(c.Settle)
	row.WALDrops = s.LogMaxInt(off, reDropped)
	s.Kill()
	var r Row
	if err := c.restartAndVerify(s, g, &r); err != nil {
		return row, err
	}
	row.LostAfterKill, row.WrongAfter = r.Lost, r.Wrong
	return row, nil
}

// RestartRow is the restart-time measurement.
type RestartRow struct {
	Hosts         int     `json:"hosts"`
	Series        int     `json:"series"`
	Steps         int     `json:"steps"`
	Samples       int64   `json:"acked_samples"`
	DiskMB        float64 `json:"disk_mb"`
	Files         int     `json:"files"`
	IngestSeconds float64 `json:"ingest_seconds"`
	ReadySeconds  float64 `json:"ready_seconds"`  // exec to first 2xx on /api/write
	PeakRSSMiB    float64 `json:"peak_rss_mib"`   // the restarted server's peak resident memory at its first 2xx
	ServerSeconds float64 `json:"server_seconds"` // the server's own "Checkpoints loaded (… that took …s)", -1 if absent
	ServerLine    string  `json:"server_line,omitempty"`
	WALDrops      int64   `json:"wal_drops_logged"` // while writing; -1: none logged
	Count
}

// Restart: RestartHosts hosts written (checkpoints far apart, so the data is
// all WAL) until the checkpoint directory holds RestartMB, then SIGKILL
// after Settle, and the time until the restarted server answers 2xx.
func (c *Config) Restart() (RestartRow, error) {
	row := RestartRow{Hosts: c.RestartHosts}
	l := NewLayout("e2e", "r", c.RestartHosts, c.HWThreads)
	row.Series = len(l.Series())
	s, err := c.startFresh("restart", l, "12h")
	if err != nil {
		return row, err
	}
	off := s.LogSize()
	g := NewLedger(l)
	if !c.RestartVerify {
		g = nil
	}
	w := NewWriter(s, g)
	const maxSteps = kMod - 100
	base := alignedNow(l.Timestep) - int64(kMod)*l.Timestep
	target := int64(c.RestartMB) << 20
	t0 := time.Now()
	k := 0
	for k < maxSteps {
		n := min(10, maxSteps-k)
		if failed := Backfill(w, k, k+n, base, 50, 2, 0, nil); failed > 0 {
			s.Kill()
			return row, fmt.Errorf("%d requests failed: %s", failed, w.LastErr())
		}
		k += n
		if b, _ := DirBytes(s.CheckpointDir()); b >= target {
			break
		}
	}
	row.IngestSeconds = time.Since(t0).Seconds()
	row.Steps = k
	row.Samples = w.samplesOK.Load()
	time.Sleep(c.Settle)
	row.WALDrops = s.LogMaxInt(off, reDropped)
	s.Kill()
	b, files := DirBytes(s.CheckpointDir())
	row.DiskMB, row.Files = float64(b)/(1<<20), files
	off = s.LogSize()
	d, err := s.Start("restart", c.StartTimeout)
	if err != nil {
		return row, err
	}
	defer s.Kill()
	row.ReadySeconds = d.Seconds()
	row.PeakRSSMiB = float64(s.statusKiB("VmHWM:")) / 1024
	row.ServerSeconds = -1
	if line, ok := s.grepLog(off, reLoaded); ok {
		row.ServerLine = line
		if m := reLoaded.FindStringSubmatch(line); m != nil {
			fmt.Sscanf(m[3], "%g", &row.ServerSeconds)
		}
	}
	if c.RestartVerify {
		cnt, err := Verify(s, g, 25)
		row.Count = cnt
		if err != nil {
			return row, err
		}
	}
	return row, nil
}
