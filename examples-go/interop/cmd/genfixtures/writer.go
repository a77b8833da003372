package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	ms "github.com/ClusterCockpit/cc-backend/pkg/metricstore"
	"github.com/ClusterCockpit/cc-lib/v2/schema"
)

// sample is one value of one metric at one level below a host.
type sample struct {
	Cluster string
	Host    string
	Sel     []string
	Metric  string
	TS      int64
	Value   float64
}

// inputRecord is a sample as it was handed to the Go API, in call order.
// It is written as the array
// [via, cluster, host, selector, metric, ts, value_f64_bits] where via is
// "wal" (SendWALMessage), "mem" (Write) or "both" (SendWALMessage, then
// Write, as DecodeLine does) and value_f64_bits is the hex bit pattern of
// the float64 handed over.
type inputRecord struct {
	Via      string
	Cluster  string
	Host     string
	Selector []string
	Metric   string
	TS       int64
	Value    string
}

func (r inputRecord) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{r.Via, r.Cluster, r.Host, r.Selector, r.Metric, r.TS, r.Value})
}

func (r *inputRecord) UnmarshalJSON(data []byte) error {
	fields := []any{&r.Via, &r.Cluster, &r.Host, &r.Selector, &r.Metric, &r.TS, &r.Value}
	return json.Unmarshal(data, &fields)
}

// writerCall is one call into the Go API other than per-sample ones, with
// what it returned. Host directories are relative to the fixture ROOT.
type writerCall struct {
	Op       string   `json:"op"`
	From     *int64   `json:"from,omitempty"`
	To       *int64   `json:"to,omitempty"`
	Files    *int     `json:"files,omitempty"`
	HostDirs []string `json:"host_dirs,omitempty"`
	Error    *string  `json:"error,omitempty"`
	Note     string   `json:"note,omitempty"`
}

type writeLog struct {
	Inputs []inputRecord `json:"inputs"`
	Calls  []writerCall  `json:"calls"`
}

// writer drives the real metricstore inside a write child process.
type writer struct {
	store  *ms.MemoryStore
	root   string
	maxWAL int64
	log    writeLog

	walStarted bool
	// walSize is the size each open current.wal must reach once staging has
	// written and flushed everything sent so far (0: no open file). It
	// follows the Go rules: magic on open, force-rotation before a record
	// once the size has reached MaxWALSize, deletion on rotation.
	walSize map[string]int64
}

// initStore configures the package-level Keys and the metric singleton the
// way a test must, without Init (which wants a config, starts every
// background worker and restores on its own).
func initStore(root string, metrics map[string]int64, maxWAL int64) *ms.MemoryStore {
	ms.Keys.NumWorkers = 2 // 0 would deadlock ToCheckpoint*/FromCheckpoint: they start NumWorkers goroutines
	ms.Keys.Checkpoints.FileFormat = "wal"
	ms.Keys.Checkpoints.RootDir = root
	ms.Keys.Checkpoints.MaxWALSize = maxWAL
	cfg := make(map[string]ms.MetricConfig, len(metrics))
	for name, freq := range metrics {
		cfg[name] = ms.MetricConfig{Frequency: freq, Aggregation: ms.AvgAggregation}
	}
	ms.InitMetrics(cfg)
	return ms.GetMemoryStore()
}

func runWrite(fx fixture, root string) (writeLog, error) {
	w := &writer{
		store:   initStore(root, fx.metrics(), fx.MaxWALSize),
		root:    root,
		maxWAL:  fx.MaxWALSize,
		walSize: map[string]int64{},
	}
	if err := fx.Write(w); err != nil {
		return writeLog{}, err
	}
	if err := w.waitWAL(); err != nil {
		return writeLog{}, err
	}
	return w.log, nil
}

// startWAL starts the sharded staging goroutines with a context that is
// never cancelled: cancelling makes them return without draining what is
// still queued.
func (w *writer) startWAL() {
	var wg sync.WaitGroup
	ms.WALStaging(&wg, context.Background())
	w.walStarted = true
	w.log.Calls = append(w.log.Calls, writerCall{Op: "WALStaging", Note: fmt.Sprintf("NumWorkers=%d MaxWALSize=%d", ms.Keys.NumWorkers, w.maxWAL)})
}

func (w *writer) record(via string, s sample) {
	sel := s.Sel
	if sel == nil {
		sel = []string{}
	}
	w.log.Inputs = append(w.log.Inputs, inputRecord{
		Via: via, Cluster: s.Cluster, Host: s.Host, Selector: sel, Metric: s.Metric,
		TS: s.TS, Value: fmt.Sprintf("0x%016x", math.Float64bits(s.Value)),
	})
}

func (w *writer) hostDir(s sample) string {
	return path.Join(w.root, s.Cluster, s.Host)
}

// send hands samples to SendWALMessage only (the memory store is not touched).
func (w *writer) send(samples ...sample) error {
	for _, s := range samples {
		if err := w.sendOne(s); err != nil {
			return err
		}
		w.record("wal", s)
	}
	return nil
}

func (w *writer) sendOne(s sample) error {
	if !w.walStarted {
		return fmt.Errorf("send before startWAL")
	}
	msg := &ms.WALMessage{
		MetricName: s.Metric, Cluster: s.Cluster, Node: s.Host,
		Selector: append([]string{}, s.Sel...), Value: schema.Float(s.Value), Timestamp: s.TS,
	}
	if !ms.SendWALMessage(msg) {
		return fmt.Errorf("SendWALMessage refused %+v", s)
	}
	dir := w.hostDir(s)
	size := w.walSize[dir]
	if size == 0 {
		size = 4
	}
	if w.maxWAL > 0 && size >= w.maxWAL {
		size = 4
	}
	w.walSize[dir] = size + walRecordSize(s)
	return nil
}

// walRecordSize is what the Go writer appends for one message: magic,
// length, payload, CRC (length bytes wrap, the payload does not).
func walRecordSize(s sample) int64 {
	n := 4 + 4 + 8 + 2 + len(s.Metric) + 1 + 4 + 4
	for _, sel := range s.Sel {
		n += 1 + len(sel)
	}
	return int64(n)
}

// write stores a sample through MemoryStore.Write only.
func (w *writer) write(s sample) {
	w.writeOne(s)
	w.record("mem", s)
}

func (w *writer) writeOne(s sample) {
	selector := append([]string{s.Cluster, s.Host}, s.Sel...)
	// A write older than the head buffer's start fails and is dropped, as in
	// DecodeLine (which only logs it); the inputs keep it for reference.
	_ = w.store.Write(selector, s.TS, []ms.Metric{{Name: s.Metric, Value: schema.Float(s.Value)}})
}

// ingest does what DecodeLine does per sample: SendWALMessage, then write
// to memory.
func (w *writer) ingest(samples ...sample) error {
	for _, s := range samples {
		if err := w.sendOne(s); err != nil {
			return err
		}
		w.writeOne(s)
		w.record("both", s)
	}
	return nil
}

// waitWAL blocks until staging has written and flushed (once a second)
// every record sent so far: each open current.wal has its predicted size.
func (w *writer) waitWAL() error {
	if !w.walStarted {
		return nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		pending := []string{}
		for dir, want := range w.walSize {
			if want == 0 {
				continue
			}
			info, err := os.Stat(filepath.Join(dir, "current.wal"))
			if err != nil || info.Size() != want {
				pending = append(pending, dir)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("WAL files not at their predicted sizes: %v", pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *writer) rel(dirs []string) []string {
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		r, err := filepath.Rel(w.root, d)
		if err != nil || strings.HasPrefix(r, "..") {
			r = d
		}
		out = append(out, filepath.ToSlash(r))
	}
	sort.Strings(out)
	return out
}

func errString(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// checkpointWAL calls ToCheckpointWAL for [from, to] after everything sent
// so far is on disk, and returns the host directories it reports.
func (w *writer) checkpointWAL(from, to int64) ([]string, error) {
	if err := w.waitWAL(); err != nil {
		return nil, err
	}
	n, dirs, err := w.store.ToCheckpointWAL(w.root, from, to)
	w.log.Calls = append(w.log.Calls, writerCall{Op: "ToCheckpointWAL", From: &from, To: &to, Files: &n, HostDirs: w.rel(dirs), Error: errString(err)})
	return dirs, nil
}

// checkpointJSON calls the legacy JSON writer ToCheckpoint for [from, to].
func (w *writer) checkpointJSON(from, to int64) {
	n, err := w.store.ToCheckpoint(w.root, from, to)
	w.log.Calls = append(w.log.Calls, writerCall{Op: "ToCheckpoint", From: &from, To: &to, Files: &n, Error: errString(err)})
}

// rotate calls RotateWALFiles with host directories as ToCheckpointWAL
// returned them, after everything sent so far is on disk (otherwise the
// rotation request may overtake queued samples).
func (w *writer) rotate(dirs []string) error {
	if err := w.waitWAL(); err != nil {
		return err
	}
	ms.RotateWALFiles(dirs)
	for _, d := range dirs {
		w.walSize[d] = 0
	}
	w.log.Calls = append(w.log.Calls, writerCall{Op: "RotateWALFiles", HostDirs: w.rel(dirs)})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "current.wal")); err == nil {
			return fmt.Errorf("current.wal of %s survived RotateWALFiles", d)
		}
	}
	return nil
}
