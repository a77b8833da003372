package main

import (
	"fmt"
	"math"
	"strconv"
)

// Layout is the cluster the harness writes: nodes with node-scope metrics
// and hwthread-scope metrics (every node has HWThreads hardware threads).
type Layout struct {
	Cluster     string
	Prefix      string // host name prefix; hosts are Prefix + zero-padded number
	NumNodes    int
	NodeMetrics []string
	HWMetrics   []string
	HWThreads   int
	Timestep    int64

	series []Series
}

// Series is one stored time series: a node metric of a host, or a hwthread
// metric of one hardware thread (HW >= 0).
type Series struct {
	ID     int
	Host   string
	Metric string
	HW     int // -1: node scope
}

func NewLayout(cluster, prefix string, nodes, hwthreads int) *Layout {
	l := &Layout{
		Cluster:     cluster,
		Prefix:      prefix,
		NumNodes:    nodes,
		NodeMetrics: []string{"cpu_load", "mem_used", "net_bw", "file_bw", "node_power"},
		HWMetrics:   []string{"cpu_user", "flops_any", "ipc"},
		HWThreads:   hwthreads,
		Timestep:    60,
	}
	for n := 0; n < nodes; n++ {
		host := l.Host(n)
		for _, m := range l.NodeMetrics {
			l.series = append(l.series, Series{ID: len(l.series), Host: host, Metric: m, HW: -1})
		}
		for _, m := range l.HWMetrics {
			for t := 0; t < hwthreads; t++ {
				l.series = append(l.series, Series{ID: len(l.series), Host: host, Metric: m, HW: t})
			}
		}
	}
	return l
}

func (l *Layout) width() int {
	w := len(strconv.Itoa(l.NumNodes))
	if w < 2 {
		w = 2
	}
	return w
}

func (l *Layout) Host(n int) string { return fmt.Sprintf("%s%0*d", l.Prefix, l.width(), n+1) }

func (l *Layout) Hosts() []string {
	h := make([]string, l.NumNodes)
	for i := range h {
		h[i] = l.Host(i)
	}
	return h
}

func (l *Layout) Series() []Series   { return l.series }
func (l *Layout) SeriesPerNode() int { return len(l.NodeMetrics) + len(l.HWMetrics)*l.HWThreads }
func (l *Layout) NodeSeries(n int) []Series {
	k := l.SeriesPerNode()
	return l.series[n*k : (n+1)*k]
}

// NodeList is the node list expression of the cluster description.
func (l *Layout) NodeList() string {
	return fmt.Sprintf("%s[%0*d-%0*d]", l.Prefix, l.width(), 1, l.width(), l.NumNodes)
}

// ClusterJSON is var/job-archive/CLUSTER/cluster.json.
func (l *Layout) ClusterJSON() map[string]any {
	unit := map[string]any{"base": ""}
	metric := func(name, scope, agg string) map[string]any {
		return map[string]any{
			"name": name, "unit": unit, "scope": scope, "timestep": l.Timestep,
			"aggregation": agg, "peak": 1e9, "normal": 1e6, "caution": 1, "alert": 0,
		}
	}
	var mc []map[string]any
	for _, m := range l.NodeMetrics {
		mc = append(mc, metric(m, "node", "avg"))
	}
	for _, m := range l.HWMetrics {
		mc = append(mc, metric(m, "hwthread", "sum"))
	}
	threads := make([]int, l.HWThreads)
	cores := make([][]int, l.HWThreads)
	for i := range threads {
		threads[i] = i
		cores[i] = []int{i}
	}
	rate := map[string]any{"unit": map[string]any{"base": "F/s", "prefix": "G"}, "value": 100}
	return map[string]any{
		"name":         l.Cluster,
		"metricConfig": mc,
		"subClusters": []map[string]any{{
			"name":            "main",
			"nodes":           l.NodeList(),
			"processorType":   "e2e",
			"socketsPerNode":  1,
			"coresPerSocket":  l.HWThreads,
			"threadsPerCore":  1,
			"flopRateScalar":  rate,
			"flopRateSimd":    rate,
			"memoryBandwidth": map[string]any{"unit": map[string]any{"base": "B/s", "prefix": "G"}, "value": 100},
			"topology": map[string]any{
				"node":         threads,
				"socket":       [][]int{threads},
				"memoryDomain": [][]int{threads},
				"core":         cores,
			},
		}},
	}
}

// Sample values identify themselves: value = (series id mod 1024) * 16384 +
// (k mod 16384), where k is the series' sample number. Every value is an
// integer below 2^24, so it is exact in the float32 of the WAL and snapshot
// formats and in the server's "%.2f" JSON. A value read back names its
// series and sample, so a misplaced or foreign value is found even though
// the API does not say at which time its data starts.
const (
	kMod   = 16384
	sidMod = 1024
)

func encode(sid, k int) float64 { return float64((sid%sidMod)*kMod + k%kMod) }

// decode returns (sid mod 1024, k mod 16384) or ok=false for a value that
// no sample can have.
func decode(v float64) (sid, k int, ok bool) {
	if v < 0 || v >= float64(sidMod*kMod) || v != math.Trunc(v) {
		return 0, 0, false
	}
	i := int(v)
	return i / kMod, i % kMod, true
}

// appendLine appends one line of line protocol (timestamp in seconds).
func appendLine(b []byte, s *Series, ts int64, v float64) []byte {
	b = append(b, s.Metric...)
	b = append(b, ",hostname="...)
	b = append(b, s.Host...)
	if s.HW >= 0 {
		b = append(b, ",type=hwthread,type-id="...)
		b = strconv.AppendInt(b, int64(s.HW), 10)
	} else {
		b = append(b, ",type=node"...)
	}
	b = append(b, " value="...)
	b = strconv.AppendFloat(b, v, 'f', -1, 64)
	b = append(b, ' ')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, '\n')
	return b
}
