package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"

	ms "github.com/ClusterCockpit/cc-backend/pkg/metricstore"
	"github.com/ClusterCockpit/cc-lib/v2/util"
)

// restoreCase is one call of FromCheckpointFiles on a fresh store.
type restoreCase struct {
	From    int64            `json:"from"`
	Metrics map[string]int64 `json:"metrics,omitempty"` // restore-side metric config; nil: the fixture's
	Note    string           `json:"note,omitempty"`
}

type restoreResult struct {
	From        int64            `json:"from"`
	Metrics     map[string]int64 `json:"metrics"`
	Note        string           `json:"note,omitempty"`
	FilesLoaded int              `json:"files_loaded"`
	Error       *string          `json:"error"`
	Levels      []levelState     `json:"levels"`
}

// levelState is one level of the restored tree below the root (clusters,
// hosts and their sub-levels), with the buffer chain of every metric it
// holds, oldest buffer first.
type levelState struct {
	Path    []string                 `json:"path"`
	Metrics map[string][]bufferState `json:"metrics"`
}

type bufferState struct {
	Start     int64  `json:"start"`
	Frequency *int64 `json:"frequency"` // nil: not observable (empty buffer)
	Len       int    `json:"len"`
	Archived  bool   `json:"archived"`
	// F32Bits are float32 bit patterns of the values as Read returns them
	// (Read computes 0 + v, so a stored -0.0 shows as +0.0).
	F32Bits []uint32 `json:"f32_bits"`
	// F64Bits (hex) only when some value is not exactly a float32, which
	// happens only for values parsed from JSON snapshots.
	F64Bits []string `json:"f64_bits,omitempty"`
}

func runRestore(root string, rc restoreCase) (restoreResult, error) {
	store := initStore(root, rc.Metrics, 0)
	n, err := store.FromCheckpointFiles(root, rc.From)
	res := restoreResult{From: rc.From, Metrics: rc.Metrics, Note: rc.Note, FilesLoaded: n, Error: errString(err)}

	tree, err := dumpTree(store)
	if err != nil {
		return res, err
	}
	levels, err := observe(store, nil, tree)
	if err != nil {
		return res, err
	}
	sort.Slice(levels, func(i, j int) bool {
		return strings.Join(levels[i].Path, "\x00") < strings.Join(levels[j].Path, "\x00")
	})
	res.Levels = levels
	return res, nil
}

// dumpedBuffer is one entry of DebugDump's buffer list.
type dumpedBuffer struct {
	Start int64 `json:"start"`
	Len   int   `json:"len"`
	End   int64 `json:"end"`
	Saved bool  `json:"saved"`
}

var trailingComma = regexp.MustCompile(`,(\s*[}\]])`)

// dumpTree returns DebugDump of the whole store as nested maps: a JSON
// array is a metric's buffer chain, an object a child level. DebugDump
// leaves a comma before closing braces, which is removed first.
func dumpTree(store *ms.MemoryStore) (map[string]json.RawMessage, error) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := store.DebugDump(w, nil); err != nil {
		return nil, err
	}
	fixed := trailingComma.ReplaceAll(buf.Bytes(), []byte("$1"))
	var top map[string]json.RawMessage
	if err := json.Unmarshal(fixed, &top); err != nil {
		return nil, fmt.Errorf("DebugDump output: %w\n%s", err, buf.Bytes())
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(top["data"], &data); err != nil {
		return nil, err
	}
	return data, nil
}

func observe(store *ms.MemoryStore, path []string, level map[string]json.RawMessage) ([]levelState, error) {
	var out []levelState
	state := levelState{Path: append([]string{}, path...), Metrics: map[string][]bufferState{}}
	for _, name := range sortedKeys(level) {
		raw := bytes.TrimSpace(level[name])
		if len(raw) > 0 && raw[0] == '[' {
			var chain []dumpedBuffer
			if err := json.Unmarshal(raw, &chain); err != nil {
				return nil, err
			}
			bufs, err := readChain(store, path, name, chain)
			if err != nil {
				return nil, err
			}
			state.Metrics[name] = bufs
			continue
		}
		var child map[string]json.RawMessage
		if err := json.Unmarshal(raw, &child); err != nil {
			return nil, err
		}
		sub, err := observe(store, append(append([]string{}, path...), name), child)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	if len(path) > 0 {
		out = append(out, state)
	}
	return out, nil
}

// readChain reads the values of every buffer in a chain one at a time with
// Read(level, metric, t, t+1, 0): Read walks back from the head to the
// newest buffer whose first write is <= t, so t = start + freq/2 + i*freq
// lands on value i of the buffer that starts there. One value per call also
// keeps Read from overrunning the result slice it sizes with the configured
// frequency (which may differ from a buffer's own).
func readChain(store *ms.MemoryStore, path []string, metric string, chain []dumpedBuffer) ([]bufferState, error) {
	sel := make(util.Selector, len(path))
	for i, p := range path {
		sel[i] = util.SelectorElement{String: p}
	}
	var out []bufferState
	for k, b := range chain {
		st := bufferState{Start: b.Start, Len: b.Len, Archived: b.Saved, F32Bits: []uint32{}}
		if b.Len > 0 {
			freq := (b.End - b.Start) / int64(b.Len)
			st.Frequency = &freq
			first := b.Start + freq/2
			for _, later := range chain[k+1:] {
				if later.Len > 0 && later.Start+((later.End-later.Start)/int64(later.Len))/2 <= first+int64(b.Len-1)*freq {
					return nil, fmt.Errorf("%v %s: buffer %d overlaps a later one; its values cannot be read one by one", path, metric, k)
				}
			}
			exact := true
			var f64 []string
			for i := 0; i < b.Len; i++ {
				t := first + int64(i)*freq
				data, from, _, _, err := store.Read(sel, metric, t, t+1, 0)
				if err != nil {
					return nil, fmt.Errorf("Read %v %s @%d: %w", path, metric, t, err)
				}
				if len(data) != 1 || from != t {
					return nil, fmt.Errorf("Read %v %s @%d: got %d values from %d", path, metric, t, len(data), from)
				}
				v := float64(data[0])
				st.F32Bits = append(st.F32Bits, math.Float32bits(float32(v)))
				f64 = append(f64, fmt.Sprintf("0x%016x", math.Float64bits(v)))
				if !math.IsNaN(v) && float64(float32(v)) != v {
					exact = false
				}
			}
			if !exact {
				st.F64Bits = f64
			}
		}
		out = append(out, st)
	}
	return out, nil
}
