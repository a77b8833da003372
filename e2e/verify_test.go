package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// fakeGraphQL answers nodeMetricsList from data (host -> series -> values),
// as cc-backend v1.5.4 shapes it.
func fakeGraphQL(t *testing.T, l *Layout, data map[seriesKey][]*float64, failPages bool) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/query" || r.Header.Get("Authorization") != "Bearer jwt" {
			http.Error(w, "bad request", 400)
			return
		}
		var req struct {
			Variables struct {
				NodeFilter string         `json:"nodeFilter"`
				Page       map[string]int `json:"page"`
			} `json:"variables"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &req); err != nil {
			t.Errorf("request: %v", err)
		}
		if failPages && req.Variables.NodeFilter == "" {
			w.Write([]byte(`{"errors":[{"message":"partial error"}],"data":null}`))
			return
		}
		type series struct {
			Hostname string     `json:"hostname"`
			ID       *string    `json:"id"`
			Data     []*float64 `json:"data"`
		}
		type metric struct {
			Name   string `json:"name"`
			Scope  string `json:"scope"`
			Metric struct {
				Timestep int      `json:"timestep"`
				Series   []series `json:"series"`
			} `json:"metric"`
		}
		type item struct {
			Host    string   `json:"host"`
			Metrics []metric `json:"metrics"`
		}
		per, page := req.Variables.Page["itemsPerPage"], req.Variables.Page["page"]
		// As the server: the name filter first, then the page.
		var nodes []int
		for n := 0; n < l.NumNodes; n++ {
			if strings.Contains(l.Host(n), req.Variables.NodeFilter) {
				nodes = append(nodes, n)
			}
		}
		var items []item
		for i := (page - 1) * per; i < page*per && i < len(nodes); i++ {
			n := nodes[i]
			host := l.Host(n)
			it := item{Host: host}
			byMetric := map[string]*metric{}
			for _, se := range l.NodeSeries(n) {
				vals, ok := data[seriesKey{host, se.Metric, se.HW}]
				if !ok {
					continue
				}
				m := byMetric[se.Metric]
				if m == nil {
					m = &metric{Name: se.Metric, Scope: "node"}
					if se.HW >= 0 {
						m.Scope = "hwthread"
					}
					m.Metric.Timestep = 60
					byMetric[se.Metric] = m
				}
				var id *string
				if se.HW >= 0 {
					s := strconv.Itoa(se.HW)
					id = &s
				}
				m.Metric.Series = append(m.Metric.Series, series{host, id, vals})
			}
			for _, m := range byMetric {
				it.Metrics = append(it.Metrics, *m)
			}
			items = append(items, it)
		}
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"nodeMetricsList": map[string]any{"items": items}}})
	}))
}

func f(v float64) *float64 { return &v }

func TestVerify(t *testing.T) {
	l := NewLayout("c", "n", 3, 2)
	g := NewLedger(l)
	const base = 1_700_000_000 - 1_700_000_000%60
	// 5 steps of every series acknowledged, a sixth sent but not acknowledged.
	for k := 0; k < 6; k++ {
		pts := stepPoints(l, 0, l.NumNodes, k, base+int64(k)*60, nil)
		g.sent(pts)
		if k < 5 {
			g.ack(pts)
		}
	}
	// A live sample off the grid, 20 s before step 6's grid point, as
	// sample 6: read 20 s late in place, 80 s late in the shifted tail
	// below. (20 s after the grid point, the shifted read would be 40 s
	// late: within half a step of an origin 20 s before the others'.)
	live := stepPoints(l, 0, l.NumNodes, 6, base+6*60-20, nil)
	g.sent(live)
	g.ack(live)

	data := map[seriesKey][]*float64{}
	for _, se := range l.Series() {
		var vals []*float64
		for k := 0; k <= 6; k++ {
			vals = append(vals, f(encode(se.ID, k)))
		}
		data[seriesKey{se.Host, se.Metric, se.HW}] = vals
	}
	s0 := l.Series()[0]
	s1 := l.Series()[7] // a hwthread series
	s2 := l.Series()[12]
	s3 := l.Series()[20]
	k0 := seriesKey{s0.Host, s0.Metric, s0.HW}
	data[k0][2] = nil                                                   // lost
	data[seriesKey{s1.Host, s1.Metric, s1.HW}][3] = f(encode(s2.ID, 3)) // another series' value: wrong and lost
	k2 := seriesKey{s2.Host, s2.Metric, s2.HW}
	data[k2] = append([]*float64{f(encode(s2.ID, 0))}, data[k2][1:]...)
	data[k2][1] = data[k2][0] // a repeat: wrong, and sample 1 lost
	k3 := seriesKey{s3.Host, s3.Metric, s3.HW}
	data[k3] = append(data[k3][:4:4], nil, data[k3][4], data[k3][5], data[k3][6]) // shifted tail: 3 wrong, 2 lost (sample 5 is unacknowledged)
	data[k3][4] = nil
	sRemoved := l.Series()[30]
	delete(data, seriesKey{sRemoved.Host, sRemoved.Metric, sRemoved.HW}) // a whole series gone

	for _, failPages := range []bool{false, true} {
		srv := fakeGraphQL(t, l, data, failPages)
		s := &Server{Addr: strings.TrimPrefix(srv.URL, "http://"), JWT: "jwt", Layout: l}
		c, err := Verify(s, g, 2)
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		series := int64(len(l.Series()))
		want := Count{
			Acked:    6 * series,
			Lost:     1 + 1 + 1 + 2 + 6,
			Wrong:    1 + 1 + 3,
			Unacked:  series - 2, // s3's unacknowledged sample is out of place; sRemoved has none
			Missing:  1,
			Restored: 6*series - (1 + 1 + 1 + 2 + 6),
		}
		if failPages {
			want.QueryErrors = 2 // the two pages of two nodes
		}
		if c != want {
			t.Errorf("failPages=%v: got %+v, want %+v", failPages, c, want)
		}
	}
}

func TestWidestAgreement(t *testing.T) {
	for _, c := range []struct {
		origins []int64
		lo, hi  int64
	}{
		// A restored stock snapshot's value read half a step late, then a
		// replayed one 27 s early: both in place.
		{[]int64{922, 979}, 922, 979},
		// A whole step apart: only one of them (the earlier on a tie).
		{[]int64{1000, 940}, 940, 940},
		{[]int64{0, 0, 60, 60, 60}, 60, 60},
		{[]int64{0, 10, 20, 59, 59, 200, -300}, 0, 59},
		{nil, 0, 0},
	} {
		lo, hi := widestAgreement(c.origins, 60)
		if lo != c.lo || hi != c.hi {
			t.Errorf("%v: got [%d, %d], want [%d, %d]", c.origins, lo, hi, c.lo, c.hi)
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	for _, c := range [][2]int{{0, 0}, {1023, 16383}, {1024 + 5, 7}, {3, 16384 + 2}} {
		v := encode(c[0], c[1])
		if v >= 1<<24 || float64(float32(v)) != v {
			t.Fatalf("%v not exact in float32", v)
		}
		sid, k, ok := decode(v)
		if !ok || sid != c[0]%sidMod || k != c[1]%kMod {
			t.Errorf("decode(encode(%v)) = %d, %d, %v", c, sid, k, ok)
		}
	}
	for _, v := range []float64{-1, 0.5, 1 << 24} {
		if _, _, ok := decode(v); ok {
			t.Errorf("decode(%v) accepted", v)
		}
	}
}

func TestLayout(t *testing.T) {
	l := NewLayout("c", "node", 50, 2)
	if l.NodeList() != "node[01-50]" || l.Host(0) != "node01" || len(l.Series()) != 550 {
		t.Errorf("layout: %s %s %d", l.NodeList(), l.Host(0), len(l.Series()))
	}
	if l2 := NewLayout("c", "r", 2000, 1); l2.NodeList() != "r[0001-2000]" || l2.Host(1999) != "r2000" {
		t.Errorf("layout: %s %s", l2.NodeList(), l2.Host(1999))
	}
	se := l.Series()[5] // node01 cpu_user hwthread 0
	got := string(appendLine(nil, &se, 1700000000, encode(se.ID, 3)))
	if got != "cpu_user,hostname=node01,type=hwthread,type-id=0 value=81923 1700000000\n" {
		t.Errorf("line: %q", got)
	}
}
