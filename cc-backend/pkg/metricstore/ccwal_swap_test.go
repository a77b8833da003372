// ccwal: this file is part of the ccwal project, not of cc-backend. It is
// added to cc-backend's pkg/metricstore by `scripts/ccbackend-build.sh ccwal
// test`, next to cc-backend's own tests.

package metricstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClusterCockpit/cc-lib/v2/util"
	"github.com/ClusterCockpit/cc-line-protocol/v2/lineprotocol"
)

type ccwalSample struct {
	host, metric, sub string
	ts                int64
	value             float64
}

func (s ccwalSample) line() string {
	tags := ""
	if s.sub != "" {
		tags = ",type=hwthread,type-id=" + s.sub
	}
	return fmt.Sprintf("%s,cluster=c,hostname=%s%s value=%g %d\n", s.metric, s.host, tags, s.value, s.ts)
}

func ccwalTestStore() *MemoryStore {
	return &MemoryStore{
		Metrics: map[string]MetricConfig{
			"cpu_load": {Frequency: 60, Aggregation: AvgAggregation, offset: 0},
			"flops":    {Frequency: 60, Aggregation: SumAggregation, offset: 1},
		},
		root: Level{metrics: make([]*buffer, 2), children: map[string]*Level{}},
	}
}

func ccwalReadAt(t *testing.T, ms *MemoryStore, s ccwalSample) float64 {
	t.Helper()
	sel := util.Selector{{String: "c"}, {String: s.host}}
	if s.sub != "" {
		sel = append(sel, util.SelectorElement{String: "hwthread" + s.sub})
	}
	data, _, _, _, err := ms.Read(sel, s.metric, s.ts, s.ts+1, 0)
	if err != nil || len(data) != 1 {
		return math.NaN()
	}
	return float64(data[0])
}

// ccwalRestoreGlobals puts Keys and the WAL's globals back when the test
// ends.
func ccwalRestoreGlobals(t *testing.T) {
	saved := Keys
	t.Cleanup(func() {
		Keys = saved
		walMu.Lock()
		walStore, walCommits, walClosed = nil, nil, false
		walMu.Unlock()
	})
}

func ccwalIngest(t *testing.T, ms *MemoryStore, samples []ccwalSample) {
	t.Helper()
	var body []byte
	for _, s := range samples {
		body = append(body, s.line()...)
	}
	if err := DecodeLine(lineprotocol.NewDecoderWithBytes(body), ms, ""); err != nil {
		t.Fatal(err)
	}
	if err := WALCommit(); err != nil {
		t.Fatal(err)
	}
}

// Backfilled samples (before the window), live ones off the slot grid and
// one at exactly the window's end, a checkpoint session in between, then a
// restore into a fresh store: every sample reads back as it did live.
func TestCcwalIngestCheckpointRestore(t *testing.T) {
	ccwalRestoreGlobals(t)
	root := t.TempDir()
	Keys.NumWorkers = 2
	Keys.Checkpoints = Checkpoints{FileFormat: "wal", RootDir: root}
	ms := ccwalTestStore()
	var wg sync.WaitGroup
	WALStaging(&wg, context.Background())

	const to = int64(1_700_000_000)
	from := to - 100
	var backfill, live, late []ccwalSample
	for h := range 3 {
		host := fmt.Sprintf("h%d", h)
		for k := range 30 {
			ts := to - 6*3600 + int64(k)*60
			backfill = append(backfill,
				ccwalSample{host, "cpu_load", "", ts, float64(h*1000+k) + 0.5},
				ccwalSample{host, "flops", "1", ts, float64(h*1000+k) + 0.25})
		}
		live = append(live,
			ccwalSample{host, "cpu_load", "", from + 7, float64(h) + 0.125},
			ccwalSample{host, "flops", "1", to - 1, float64(h) + 0.75})
		late = append(late, ccwalSample{host, "cpu_load", "", to, float64(h) + 0.375})
	}
	ccwalIngest(t, ms, backfill)
	ccwalIngest(t, ms, live)
	n, err := ms.checkpointWithSession(walStore, from, to)
	if err != nil || n != 3 {
		t.Fatalf("checkpoint: %d snapshots, %v", n, err)
	}
	ccwalIngest(t, ms, late)
	store := closeWAL()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	restored := ccwalTestStore()
	if _, err := restored.FromCheckpointFiles(root, 0); err != nil {
		t.Fatal(err)
	}
	for _, s := range append(append(backfill, live...), late...) {
		got, want := ccwalReadAt(t, restored, s), ccwalReadAt(t, ms, s)
		if got != s.value || want != s.value {
			t.Errorf("%+v: restored %v, live %v", s, got, want)
		}
	}
}

// Concurrent writers each wait for their own commit; all their samples
// are in the WAL when they return, and the store refuses writes once
// closed.
func TestCcwalGroupCommit(t *testing.T) {
	ccwalRestoreGlobals(t)
	root := t.TempDir()
	Keys.NumWorkers = 2
	Keys.Checkpoints = Checkpoints{FileFormat: "wal", RootDir: root, Durability: "sync"}
	ms := ccwalTestStore()
	var wg sync.WaitGroup
	WALStaging(&wg, context.Background())

	var writers sync.WaitGroup
	for w := range 8 {
		writers.Go(func() {
			for k := range 50 {
				ccwalIngest(t, ms, []ccwalSample{{fmt.Sprintf("h%d", w), "cpu_load", "", 1_700_000_000 + int64(k)*60, float64(k)}})
			}
		})
	}
	writers.Wait()
	store := closeWAL()
	err := DecodeLine(lineprotocol.NewDecoderWithBytes([]byte("cpu_load,cluster=c,hostname=h0 value=1 1700000000\n")), ms, "")
	if err == nil {
		t.Fatal("a write after shutdown began was accepted")
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	restored := ccwalTestStore()
	if _, err := restored.FromCheckpointFiles(root, 0); err != nil {
		t.Fatal(err)
	}
	for w := range 8 {
		for k := range 50 {
			s := ccwalSample{fmt.Sprintf("h%d", w), "cpu_load", "", 1_700_000_000 + int64(k)*60, float64(k)}
			if got := ccwalReadAt(t, restored, s); got != s.value {
				t.Errorf("%+v: restored %v", s, got)
			}
		}
	}
}

// Shutdown stops the group commit: a commit joined before it is answered,
// a later one fails at once with ErrWALWrite, and no flush runs any more
// when closeWAL returns.
func TestCcwalCommitterStopsAtShutdown(t *testing.T) {
	ccwalRestoreGlobals(t)
	Keys.Checkpoints = Checkpoints{FileFormat: "wal", RootDir: t.TempDir()}
	var wg sync.WaitGroup
	WALStaging(&wg, context.Background())
	ms := ccwalTestStore()
	ccwalIngest(t, ms, []ccwalSample{{"h0", "cpu_load", "", 1_700_000_000, 1}})
	commits := walCommits
	store := closeWAL()
	select {
	case <-commits.idle:
	default:
		t.Fatal("a flush still runs after closeWAL")
	}
	if err := WALCommit(); !errors.Is(err, ErrWALWrite) {
		t.Fatalf("commit after shutdown: %v", err)
	}
	if err := commits.wait(); !errors.Is(err, errCommitStopped) {
		t.Fatalf("a stopped committer answered %v", err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
}

// countingFlusher records, for each flush, how many samples were handed
// over when it started, and fails every failEvery-th flush.
type countingFlusher struct {
	handed    *atomic.Int64
	covered   atomic.Int64 // handed-over count the last completed flush covers
	running   atomic.Int32
	flushes   atomic.Int64
	overlaps  atomic.Int64
	failEvery int64
	delay     time.Duration
}

var errFlushFailed = errors.New("flush failed")

func (f *countingFlusher) Flush() error {
	if f.running.Add(1) > 1 {
		f.overlaps.Add(1)
	}
	start := f.handed.Load()
	time.Sleep(f.delay)
	n := f.flushes.Add(1)
	for c := f.covered.Load(); c < start && !f.covered.CompareAndSwap(c, start); c = f.covered.Load() {
	}
	f.running.Add(-1)
	if f.failEvery > 0 && n%f.failEvery == 0 {
		return errFlushFailed
	}
	return nil
}

func (f *countingFlusher) Sync() error { return f.Flush() }

// The group commit answers each caller only after a flush that began after
// the caller handed its samples over, runs one flush at a time, shares
// flushes among concurrent callers, and answers a round joined before stop.
func TestCcwalGroupCommitLeaderHandoff(t *testing.T) {
	var handed atomic.Int64
	f := &countingFlusher{handed: &handed, failEvery: 7, delay: 200 * time.Microsecond}
	g := newGroupCommit(f, false)
	var callers sync.WaitGroup
	var commits, failed atomic.Int64
	for range 16 {
		callers.Go(func() {
			for range 100 {
				mine := handed.Add(1)
				err := g.wait()
				commits.Add(1)
				if err != nil {
					if !errors.Is(err, errFlushFailed) {
						t.Errorf("commit: %v", err)
					}
					failed.Add(1)
					continue
				}
				if covered := f.covered.Load(); covered < mine {
					t.Errorf("answered after a flush covering %d, but handed over #%d", covered, mine)
				}
			}
		})
	}
	callers.Wait()
	if f.overlaps.Load() != 0 {
		t.Errorf("%d flushes overlapped another", f.overlaps.Load())
	}
	if f.flushes.Load() >= commits.Load() {
		t.Errorf("%d flushes for %d commits: none shared", f.flushes.Load(), commits.Load())
	}
	if failed.Load() == 0 {
		t.Error("no caller saw a failed flush")
	}
	t.Logf("%d commits, %d flushes, %d failed", commits.Load(), f.flushes.Load(), failed.Load())

	// A round that joined while a flush ran is answered although stop
	// came before that flush ended.
	slow := &countingFlusher{handed: &handed, delay: 100 * time.Millisecond}
	g = newGroupCommit(slow, false)
	leader := make(chan error)
	go func() { leader <- g.wait() }()
	for slow.running.Load() == 0 {
		runtime.Gosched()
	}
	joined := make(chan error)
	go func() { joined <- g.wait() }()
	for deadline := time.Now().Add(5 * time.Second); ; {
		g.mu.Lock()
		waiting := g.next != nil
		g.mu.Unlock()
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second caller did not join the next round")
		}
		runtime.Gosched()
	}
	g.stop()
	if err := <-leader; err != nil {
		t.Fatal(err)
	}
	if err := <-joined; err != nil {
		t.Fatal(err)
	}
	if slow.flushes.Load() != 2 || slow.running.Load() != 0 {
		t.Fatalf("%d flushes, %d running after stop", slow.flushes.Load(), slow.running.Load())
	}
	if err := g.wait(); !errors.Is(err, errCommitStopped) {
		t.Fatalf("after stop: %v", err)
	}
}
