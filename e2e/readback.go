package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Reading back goes through the server's GraphQL API (/query, the JWT of
// the API user, who is also admin): nodeMetricsList with stateFilter
// "notindb" lists the cluster's nodes from its topology (the harness
// registers no node states), scope "hwthread" returns one series per
// hardware thread for hwthread metrics and the node series for node
// metrics, and resolution = the timestep returns the stored values
// unresampled. (nodeMetrics, the simpler query, ignores scopes and returns
// hwthread metrics only summed per node.)
const nodeMetricsListQuery = `query ($cluster: String!, $nodeFilter: String!, $metrics: [String!], $from: Time!, $to: Time!, $page: PageRequest, $resolution: Int) {
  nodeMetricsList(cluster: $cluster, subCluster: "", stateFilter: "notindb", nodeFilter: $nodeFilter,
      scopes: [hwthread], metrics: $metrics, from: $from, to: $to, page: $page, resolution: $resolution) {
    items { host metrics { name scope metric { timestep series { hostname id data } } } }
    totalNodes
    hasNextPage
  }
}`

type gqlResponse struct {
	Data struct {
		NodeMetricsList struct {
			Items []struct {
				Host    string `json:"host"`
				Metrics []struct {
					Name   string `json:"name"`
					Scope  string `json:"scope"`
					Metric struct {
						Timestep int `json:"timestep"`
						Series   []struct {
							Hostname string     `json:"hostname"`
							ID       *string    `json:"id"`
							Data     []*float64 `json:"data"`
						} `json:"series"`
					} `json:"metric"`
				} `json:"metrics"`
			} `json:"items"`
			TotalNodes  int  `json:"totalNodes"`
			HasNextPage bool `json:"hasNextPage"`
		} `json:"nodeMetricsList"`
	} `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

type seriesKey struct {
	host, metric string
	hw           int
}

// ReadAll reads every series of the layout between from and to. Series the
// server has no data for are absent from the map. queryErrors counts the
// GraphQL errors (a page that fails is retried node by node).
func ReadAll(s *Server, from, to int64, pageSize int) (map[seriesKey][]*float64, int, error) {
	client := &http.Client{Timeout: 5 * time.Minute}
	out := map[seriesKey][]*float64{}
	errs := 0
	l := s.Layout
	for page := 1; (page-1)*pageSize < l.NumNodes; page++ {
		resp, err := s.nodeMetricsList(client, "", from, to, page, pageSize)
		if err != nil {
			return nil, errs, err
		}
		if len(resp.Errors) > 0 {
			errs++
			// Node by node, so that one bad series costs only its node.
			for n := (page - 1) * pageSize; n < page*pageSize && n < l.NumNodes; n++ {
				r, err := s.nodeMetricsList(client, l.Host(n), from, to, 1, 1)
				if err != nil {
					return nil, errs, err
				}
				if len(r.Errors) > 0 {
					errs++
					logf("read-back of %s: %s", l.Host(n), r.Errors[0].Message)
					continue
				}
				collect(r, out)
			}
			continue
		}
		collect(resp, out)
	}
	return out, errs, nil
}

func collect(r *gqlResponse, out map[seriesKey][]*float64) {
	for _, item := range r.Data.NodeMetricsList.Items {
		for _, m := range item.Metrics {
			for _, se := range m.Metric.Series {
				hw := -1
				if m.Scope == "hwthread" && se.ID != nil {
					if v, err := strconv.Atoi(*se.ID); err == nil {
						hw = v
					}
				}
				out[seriesKey{item.Host, m.Name, hw}] = se.Data
			}
		}
	}
}

func (s *Server) nodeMetricsList(client *http.Client, nodeFilter string, from, to int64, page, perPage int) (*gqlResponse, error) {
	l := s.Layout
	metrics := append(append([]string{}, l.NodeMetrics...), l.HWMetrics...)
	body, _ := json.Marshal(map[string]any{
		"query": nodeMetricsListQuery,
		"variables": map[string]any{
			"cluster":    l.Cluster,
			"nodeFilter": nodeFilter,
			"metrics":    metrics,
			"from":       time.Unix(from, 0).UTC().Format(time.RFC3339),
			"to":         time.Unix(to, 0).UTC().Format(time.RFC3339),
			"page":       map[string]int{"itemsPerPage": perPage, "page": page},
			"resolution": l.Timestep,
		},
	})
	var code int
	var raw []byte
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		code, raw, err = s.postJSON(client, "/query", body)
		if err == nil && code == http.StatusOK {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("GraphQL nodeMetricsList: %v", err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GraphQL nodeMetricsList: HTTP %d: %.300s", code, raw)
	}
	var r gqlResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("GraphQL nodeMetricsList: %v: %.300s", err, raw)
	}
	return &r, nil
}

func (s *Server) postJSON(client *http.Client, path string, body []byte) (int, []byte, error) {
	return s.postCT(client, path, "application/json", body)
}

// Count is one scenario's tally.
type Count struct {
	Acked, Restored, Lost, Wrong int64
	Unacked                      int64 // sent, not acknowledged, and found (allowed)
	Missing                      int   // series with acknowledged samples the server did not return at all
	QueryErrors                  int
}

// Verify compares what the server returns with the ledger: an acknowledged
// sample is restored when its exact value is returned at the position of
// its timestamp; lost otherwise. A returned value is wrong when it is no
// sample of its series that was sent, repeats one, or sits at a position
// that does not match its timestamp.
func Verify(s *Server, g *Ledger, pageSize int) (Count, error) {
	var c Count
	var minTS, maxTS int64 = 1 << 62, 0
	for sid := range g.ts {
		for k, ts := range g.ts[sid] {
			if ts == 0 {
				continue
			}
			minTS, maxTS = min(minTS, ts), max(maxTS, ts)
			if g.acked[sid][k] {
				c.Acked++
			}
		}
	}
	if maxTS == 0 {
		return c, nil
	}
	data, errs, err := ReadAll(s, minTS-s.Layout.Timestep, maxTS+s.Layout.Timestep, pageSize)
	c.QueryErrors = errs
	if err != nil {
		return c, err
	}
	step := s.Layout.Timestep
	for _, se := range s.Layout.Series() {
		vals, ok := data[seriesKey{se.Host, se.Metric, se.HW}]
		if !ok {
			if len(g.acked[se.ID]) > 0 {
				c.Missing++
			}
		}
		type hit struct {
			pos, k int
			origin int64
		}
		var hits []hit
		seen := map[int]bool{}
		for pos, v := range vals {
			if v == nil {
				continue
			}
			sid, k, okv := decode(*v)
			if !okv || sid != se.ID%sidMod || k >= len(g.ts[se.ID]) || g.ts[se.ID][k] == 0 || seen[k] {
				c.Wrong++
				continue
			}
			seen[k] = true
			hits = append(hits, hit{pos, k, g.ts[se.ID][k] - int64(pos)*step})
		}
		// Position 0 of the returned data is the time of the oldest value the
		// server holds (the API does not return it): take the origin most
		// values agree on; a value off it by more than half a step is out of
		// place. (A sample not on the series' grid lands in the slot within
		// half a step of its time.)
		origins := make([]int64, len(hits))
		for i, h := range hits {
			origins[i] = h.origin
		}
		lo, hi := widestAgreement(origins, step)
		for _, h := range hits {
			if h.origin < lo || h.origin > hi {
				c.Wrong++
				continue
			}
			if g.acked[se.ID][h.k] {
				c.Restored++
			} else {
				c.Unacked++
			}
		}
	}
	c.Lost = c.Acked - c.Restored
	return c, nil
}

// widestAgreement is the range [lo, hi], less than a step wide, holding
// the most of the given origins (the earliest such range on a tie): every
// value in it is less than half a step from the range's middle, and two
// values a whole step apart are never both in it. Go's reads place
// a value anywhere within half a step of its time: a restored snapshot's
// values half a step late (Go loads a snapshot's first value time as its
// buffer's start, not the slot's), a value replayed into the next buffer
// up to half a step early. The origin of one value (say the median) can
// then be almost a step from another's although both are in place.
func widestAgreement(origins []int64, step int64) (lo, hi int64) {
	sorted := slices.Clone(origins)
	slices.Sort(sorted)
	best := 0
	for i, j := 0, 0; i < len(sorted); i++ {
		for j < len(sorted) && sorted[j]-sorted[i] < step {
			j++
		}
		if j-i > best {
			best, lo, hi = j-i, sorted[i], sorted[j-1]
		}
	}
	return lo, hi
}
