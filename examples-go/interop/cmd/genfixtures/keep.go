package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	ms "github.com/ClusterCockpit/cc-backend/pkg/metricstore"
)

// keepEquivalentFiles replaces every snapshot under newRoot by the file at
// the same place under oldRoot when both hold the same snapshot, differing
// only in the order of metrics and children (Go map order).
func keepEquivalentFiles(oldRoot, newRoot string) error {
	return filepath.WalkDir(newRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(newRoot, p)
		if err != nil {
			return err
		}
		oldData, err := os.ReadFile(filepath.Join(oldRoot, rel))
		if err != nil {
			return nil // nothing committed there
		}
		newData, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Equal(oldData, newData) {
			return nil
		}
		oldCanon, err1 := canonicalSnapshot(rel, oldData)
		newCanon, err2 := canonicalSnapshot(rel, newData)
		if err1 != nil || err2 != nil || oldCanon != newCanon {
			return nil
		}
		return os.WriteFile(p, oldData, 0o644)
	})
}

// canonicalSnapshot renders a binary snapshot (known by its magic, under
// any name) or a .json snapshot with sorted metrics and children, or fails
// for anything else.
func canonicalSnapshot(name string, data []byte) (string, error) {
	var sb strings.Builder
	switch {
	case len(data) >= 4 && binary.LittleEndian.Uint32(data) == 0xCC5B0001:
		r := bytes.NewReader(data)
		var hdr struct {
			Magic    uint32
			From, To int64
		}
		if err := binary.Read(r, binary.LittleEndian, &hdr); err != nil {
			return "", err
		}
		fmt.Fprintf(&sb, "%d %d\n", hdr.From, hdr.To)
		if err := canonicalBinLevel(r, "", &sb); err != nil {
			return "", err
		}
		if r.Len() != 0 {
			return "", errors.New("trailing bytes")
		}
	case strings.Contains(name, ".json"):
		var cf ms.CheckpointFile
		if err := json.Unmarshal(data, &cf); err != nil {
			return "", err
		}
		fmt.Fprintf(&sb, "%d %d\n", cf.From, cf.To)
		canonicalJSONLevel(&cf, "", &sb)
	default:
		return "", errors.New("not a snapshot")
	}
	return sb.String(), nil
}

func canonicalBinLevel(r *bytes.Reader, prefix string, sb *strings.Builder) error {
	readName := func() (string, error) {
		var n uint16
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return "", err
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		return string(b), nil
	}
	var count uint32
	if err := binary.Read(r, binary.LittleEndian, &count); err != nil {
		return err
	}
	var lines []string
	for range count {
		name, err := readName()
		if err != nil {
			return err
		}
		var m struct {
			Freq, Start int64
			N           uint32
		}
		if err := binary.Read(r, binary.LittleEndian, &m); err != nil {
			return err
		}
		if int64(m.N)*4 > int64(r.Len()) {
			return errors.New("short values")
		}
		vals := make([]uint32, m.N)
		if err := binary.Read(r, binary.LittleEndian, vals); err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%s%s %d %d %v\n", prefix, name, m.Freq, m.Start, vals))
	}
	sort.Strings(lines)
	sb.WriteString(strings.Join(lines, ""))
	if err := binary.Read(r, binary.LittleEndian, &count); err != nil {
		return err
	}
	children := map[string]string{}
	for range count {
		name, err := readName()
		if err != nil {
			return err
		}
		var child strings.Builder
		if err := canonicalBinLevel(r, prefix+name+"/", &child); err != nil {
			return err
		}
		children[name] = child.String()
	}
	for _, name := range sortedKeys(children) {
		sb.WriteString(children[name])
	}
	return nil
}

func canonicalJSONLevel(cf *ms.CheckpointFile, prefix string, sb *strings.Builder) {
	for _, name := range sortedKeys(cf.Metrics) {
		m := cf.Metrics[name]
		bits := make([]uint64, len(m.Data))
		for i, v := range m.Data {
			bits[i] = math.Float64bits(float64(v))
		}
		fmt.Fprintf(sb, "%s%s %d %d %v\n", prefix, name, m.Frequency, m.Start, bits)
	}
	for _, name := range sortedKeys(cf.Children) {
		canonicalJSONLevel(cf.Children[name], prefix+name+"/", sb)
	}
}
