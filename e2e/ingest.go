package main

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Ledger records, per series, every sample sent and whether the server
// acknowledged it (answered 2xx to the request that carried it).
type Ledger struct {
	mu     sync.Mutex
	layout *Layout
	ts     [][]int64 // [sid][k] timestamp; 0 = never sent
	acked  [][]bool
	nAcked int64
	nSent  int64
}

func NewLedger(l *Layout) *Ledger {
	n := len(l.Series())
	return &Ledger{layout: l, ts: make([][]int64, n), acked: make([][]bool, n)}
}

type point struct {
	sid, k int
	ts     int64
}

func (g *Ledger) sent(pts []point) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range pts {
		for len(g.ts[p.sid]) <= p.k {
			g.ts[p.sid] = append(g.ts[p.sid], 0)
			g.acked[p.sid] = append(g.acked[p.sid], false)
		}
		g.ts[p.sid][p.k] = p.ts
	}
	g.nSent += int64(len(pts))
}

func (g *Ledger) ack(pts []point) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range pts {
		if !g.acked[p.sid][p.k] {
			g.acked[p.sid][p.k] = true
			g.nAcked++
		}
	}
}

// ForgetBefore stops expecting the samples stamped before ts (the server
// may have dropped them): found, they count as unacknowledged.
func (g *Ledger) ForgetBefore(ts int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for sid := range g.ts {
		for k, t := range g.ts[sid] {
			if t != 0 && t < ts && g.acked[sid][k] {
				g.acked[sid][k] = false
				g.nAcked--
			}
		}
	}
}

func (g *Ledger) Acked() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.nAcked
}

func (g *Ledger) Sent() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.nSent
}

// Writer posts line protocol to /api/write and keeps the ledger.
type Writer struct {
	s      *Server
	ledger *Ledger
	client *http.Client

	requests, ok, failed atomic.Int64
	samplesOK            atomic.Int64
	lastErr              atomic.Value
}

func NewWriter(s *Server, g *Ledger) *Writer {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
	return &Writer{s: s, ledger: g, client: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// Post sends one request holding pts; it reports whether it got a 2xx.
func (w *Writer) Post(pts []point, buf []byte) ([]byte, bool) {
	buf = buf[:0]
	series := w.s.Layout.Series()
	for _, p := range pts {
		buf = appendLine(buf, &series[p.sid], p.ts, encode(p.sid, p.k))
	}
	if w.ledger != nil {
		w.ledger.sent(pts)
	}
	w.requests.Add(1)
	code, body, err := w.s.post(w.client, "/api/write/?cluster="+w.s.Layout.Cluster, buf)
	if err != nil || code/100 != 2 {
		w.failed.Add(1)
		if err != nil {
			w.lastErr.Store(err.Error())
		} else {
			w.lastErr.Store(http.StatusText(code) + ": " + string(body))
		}
		return buf, false
	}
	w.ok.Add(1)
	w.samplesOK.Add(int64(len(pts)))
	if w.ledger != nil {
		w.ledger.ack(pts)
	}
	return buf, true
}

func (w *Writer) LastErr() string {
	if v := w.lastErr.Load(); v != nil {
		return v.(string)
	}
	return ""
}

// stepPoints is sample k of every series of nodes [n0, n1) at ts.
func stepPoints(l *Layout, n0, n1, k int, ts int64, pts []point) []point {
	pts = pts[:0]
	for n := n0; n < n1; n++ {
		for _, s := range l.NodeSeries(n) {
			pts = append(pts, point{sid: s.ID, k: k, ts: ts})
		}
	}
	return pts
}

// Backfill writes steps [k0, k1) of every series, step k at
// base+k*timestep, one request per step and chunk of `chunk` nodes (0: all
// nodes), with `clients` concurrent clients taking the requests in order,
// paced to at most rate steps/s (0: as fast as possible). It stops early
// when stop is closed. It returns the number of failed requests.
func Backfill(w *Writer, k0, k1 int, base int64, chunk, clients int, rate float64, stop <-chan struct{}) int64 {
	l := w.s.Layout
	if chunk <= 0 || chunk > l.NumNodes {
		chunk = l.NumNodes
	}
	chunks := (l.NumNodes + chunk - 1) / chunk
	total := int64(k1-k0) * int64(chunks)
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	failedBefore := w.failed.Load()
	for c := 0; c < clients; c++ {
		wg.Go(func() {
			var pts []point
			var buf []byte
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				k := k0 + int(i/int64(chunks))
				n0 := int(i%int64(chunks)) * chunk
				if rate > 0 {
					due := start.Add(time.Duration(float64(k-k0) / rate * float64(time.Second)))
					if d := time.Until(due); d > 0 {
						select {
						case <-stop:
							return
						case <-time.After(d):
						}
					}
				}
				pts = stepPoints(l, n0, min(n0+chunk, l.NumNodes), k, base+int64(k)*l.Timestep, pts)
				buf, _ = w.Post(pts, buf)
			}
		})
	}
	wg.Wait()
	return w.failed.Load() - failedBefore
}
