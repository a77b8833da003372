package main

import (
	"math"
	"sort"
	"strings"
)

// A compact metric store with cc-backend's level and buffer semantics: a
// tree of levels (host, then selector components), and per level and
// metric a chain of buffers written with Go's rule. It keeps only what the
// demo needs: writing, and the data not yet checkpointed.

const bufferCap = 512

type buffer struct {
	start, frequency int64
	data             []float64
	capacity         int
}

type level struct {
	chains   map[string][]*buffer
	children map[string]*level
}

func newLevel() *level {
	return &level{chains: map[string][]*buffer{}, children: map[string]*level{}}
}

func (l *level) find(path []string) *level {
	for _, name := range path {
		child, ok := l.children[name]
		if !ok {
			child = newLevel()
			l.children[name] = child
		}
		l = child
	}
	return l
}

// write applies Go's buffer.write to the metric's chain.
func (l *level) write(metric string, frequency, ts int64, value float64) {
	chain := l.chains[metric]
	if len(chain) == 0 {
		chain = []*buffer{{start: ts - frequency/2, frequency: frequency, capacity: bufferCap}}
	}
	head := chain[len(chain)-1]
	if ts < head.start {
		return // Go refuses writes before the newest buffer's start
	}
	idx := int((ts - head.start) / head.frequency)
	if idx >= head.capacity {
		head = &buffer{start: ts - head.frequency/2, frequency: head.frequency, capacity: bufferCap}
		chain = append(chain, head)
		idx = 0
	}
	for len(head.data) < idx {
		head.data = append(head.data, math.NaN())
	}
	if idx < len(head.data) {
		head.data[idx] = value
	} else {
		head.data = append(head.data, value)
	}
	l.chains[metric] = chain
}

// store holds the hosts of one cluster.
type store struct {
	hosts map[string]*level
}

func (s *store) host(name string) *level {
	h, ok := s.hosts[name]
	if !ok {
		h = newLevel()
		s.hosts[name] = h
	}
	return h
}

// window is a metric's samples taken at times in (from, to], on the grid
// of its first buffer: what a checkpoint of that window holds (one series
// per metric and level, as in a snapshot).
func (l *level) window(metric string, from, to int64) (start, frequency int64, values []float64, ok bool) {
	for _, b := range l.chains[metric] {
		for i, v := range b.data {
			// A value's time is half a period after its grid point, as
			// buffers start half a period before their first sample.
			at := b.start + int64(i)*b.frequency + b.frequency/2
			if at <= from || at > to || math.IsNaN(v) {
				continue
			}
			if !ok {
				start, frequency, ok = at-b.frequency/2, b.frequency, true
			}
			idx := int((at - b.frequency/2 - start) / frequency)
			for len(values) <= idx {
				values = append(values, math.NaN())
			}
			values[idx] = v
		}
	}
	return start, frequency, values, ok
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// parseLine reads the subset of InfluxDB line protocol the generator
// writes (cc-metric-collector's form):
//
//	metric,cluster=C,hostname=H[,type=T,type-id=N] value=V TS
//
// with type + type-id forming the selector as cc-backend's decoder does.
func parseLine(line string) (metric, cluster, host string, selector []string, value float64, ts int64, ok bool) {
	head, rest, found := strings.Cut(line, " ")
	if !found {
		return
	}
	field, tsText, found := strings.Cut(rest, " ")
	if !found || !strings.HasPrefix(field, "value=") {
		return
	}
	tags := strings.Split(head, ",")
	metric = tags[0]
	var typ, typeID string
	for _, tag := range tags[1:] {
		key, val, _ := strings.Cut(tag, "=")
		switch key {
		case "cluster":
			cluster = val
		case "hostname", "host":
			host = val
		case "type":
			if val != "node" {
				typ = val
			}
		case "type-id":
			typeID = val
		}
	}
	if typ+typeID != "" {
		selector = []string{typ + typeID}
	}
	var err error
	if value, err = parseFloat(field[len("value="):]); err != nil {
		return
	}
	if ts, err = parseInt(tsText); err != nil {
		return
	}
	return metric, cluster, host, selector, value, ts, true
}
