package main

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// fixture is one ROOT written by the Go code, then restored by it.
type fixture struct {
	Name        string
	Description string
	Metrics     map[string]int64 // write-side metric config; nil: defaultMetrics
	MaxWALSize  int64
	Write       func(w *writer) error
	// Manipulate damages or renames files after the write phase and
	// describes each change; it runs in the parent process.
	Manipulate func(root string) ([]string, error)
	Cases      []restoreCase
}

var defaultMetrics = map[string]int64{"cpu_load": 60, "flops_any": 60, "mem_bw": 60, "power": 30}

func (f fixture) metrics() map[string]int64 {
	if f.Metrics != nil {
		return maps.Clone(f.Metrics)
	}
	return maps.Clone(defaultMetrics)
}

// The time line every fixture uses (unix seconds, divisible by 60).
const (
	T0 = int64(1_700_000_400) // first sample
	W1 = T0 - 300             // `from` of the first checkpoint: before the first sample
	T1 = T0 + 300             // end of the first checkpoint window
	T2 = T0 + 600
	T3 = T0 + 900 // a later window after a gap (as after a restart)
	T4 = T0 + 1200
)

const cluster = "testcluster"

var nan = math.NaN()

func at(host string, sel []string, metric string, ts int64, v float64) sample {
	return sample{Cluster: cluster, Host: host, Sel: sel, Metric: metric, TS: ts, Value: v}
}

func sel(s ...string) []string { return s }

func fixtures() []fixture {
	return []fixture{
		walBasic(), walMaxSize(), walOversize(),
		snapBasic(), jsonBasic(), mixedJSONBin(), combined(),
		restoreQuirks(), emptyHost(),
	}
}

func fixtureByName(name string) (fixture, bool) {
	for _, f := range fixtures() {
		if f.Name == name {
			return f, true
		}
	}
	return fixture{}, false
}

func walBasic() fixture {
	return fixture{
		Name: "wal_basic",
		Description: "current.wal of two hosts written by WALStaging/SendWALMessage only (no snapshot): " +
			"host-level and 1/2/3-deep selectors, a gap, a duplicate timestamp out of order (last write wins), " +
			"an explicit NaN, a record older than its buffer's start (dropped by replay), a metric missing " +
			"from the config (skipped by replay), a value at a different frequency (power, 30 s), -0.0, " +
			"+Inf, values that round or overflow in float32, a float32 subnormal, timestamps off the grid.",
		Write: func(w *writer) error {
			w.startWAL()
			n1, n2 := "node001", "node002"
			return w.send(
				at(n1, nil, "cpu_load", T0, 0.5),
				at(n1, sel("cpu0"), "flops_any", T0, 10),
				at(n1, sel("cpu1"), "flops_any", T0+7, 20),
				at(n1, sel("socket0", "memctrl0"), "mem_bw", T0, math.Copysign(0, -1)),
				at(n1, sel("socket0"), "power", T0, 100),
				at(n1, nil, "not_configured", T0, 1),
				at(n2, nil, "cpu_load", T0+30, 5),
				at(n2, sel("cpu0"), "flops_any", T0+30, 8),
				at(n2, sel("socket0", "memctrl0"), "mem_bw", T0+30, 1),
				at(n2, sel("socket0", "memctrl0", "ch0"), "mem_bw", T0+30, 2),
				at(n1, sel("socket0"), "power", T0+30, 101),
				at(n1, nil, "cpu_load", T0+60, 1.25),
				at(n1, sel("cpu0"), "flops_any", T0+60, 11),
				at(n1, sel("cpu1"), "flops_any", T0+67, 21),
				at(n1, sel("socket0", "memctrl0"), "mem_bw", T0+60, math.Inf(1)),
				at(n2, nil, "cpu_load", T0+90, 6),
				at(n1, sel("socket0"), "power", T0+90, 103),
				at(n1, nil, "cpu_load", T0+120, 2),
				at(n1, sel("cpu0"), "flops_any", T0+120, 12),
				at(n1, sel("cpu1"), "flops_any", T0+140, 22),
				at(n1, sel("socket0", "memctrl0"), "mem_bw", T0+120, 0.1),
				at(n1, sel("cpu1"), "flops_any", T0+150, 23), // same slot as T0+140
				at(n2, nil, "cpu_load", T0+150, 7),
				at(n1, sel("cpu0"), "flops_any", T0+180, 13),
				at(n1, sel("socket0", "memctrl0"), "mem_bw", T0+180, 3.4028235e38),
				at(n1, nil, "cpu_load", T0+240, 3),  // T0+180 never written: NaN
				at(n1, nil, "cpu_load", T0+60, 9.5), // out of order: overwrites
				at(n1, nil, "cpu_load", T0+120, nan),
				at(n1, nil, "cpu_load", T0-600, 7), // before the buffer's start
				at(n1, sel("socket0", "memctrl0"), "mem_bw", T0+240, 1e-40),
				at(n1, sel("socket0", "memctrl0"), "mem_bw", T0+300, 1e39),
				at(n1, sel("socket0", "memctrl0"), "mem_bw", T0+360, -1.5),
				at(n1, nil, "cpu_load", T0+300, 4),
			)
		},
		Cases: []restoreCase{
			{From: 0},
			{From: T0 + 100, Note: "records before the horizon are skipped; the first replayed record starts each buffer"},
			{From: T0 + 1000, Note: "every record is before the horizon: only the cluster/host levels exist"},
		},
	}
}

func walMaxSize() fixture {
	return fixture{
		Name: "wal_maxsize",
		Description: "MaxWALSize = 200: before appending a record to a current.wal whose size has reached the limit, " +
			"staging deletes the file and starts a new one (magic + the record); the file keeps only the tail.",
		MaxWALSize: 200,
		Write: func(w *writer) error {
			w.startWAL()
			var s []sample
			for k := int64(0); k < 12; k++ {
				s = append(s, at("node001", nil, "cpu_load", T0+60*k, float64(k)+0.5))
				if k%3 == 0 {
					s = append(s, at("node001", sel("cpu0"), "flops_any", T0+60*k, float64(k)*10))
				}
			}
			return w.send(s...)
		},
		Cases: []restoreCase{{From: 0}},
	}
}

func walOversize() fixture {
	return fixture{
		Name: "wal_oversize",
		Description: "The Go writer truncates length fields silently and keeps the CRC valid: a 300-byte selector " +
			"is written with length byte 44, 256 selectors with count byte 0. Replay then reads altered records " +
			"without any error (a 44-byte selector and the value 0x78787878; a host-level value made of selector bytes).",
		Write: func(w *writer) error {
			w.startWAL()
			many := make([]string, 256)
			for i := range many {
				many[i] = "a"
			}
			return w.send(
				at("node001", nil, "cpu_load", T0, 1),
				at("node001", sel(strings.Repeat("x", 300)), "flops_any", T0+60, 2),
				at("node001", many, "cpu_load", T0+120, 3),
				at("node001", nil, "cpu_load", T0+180, 4),
			)
		},
		Cases: []restoreCase{{From: 0}},
	}
}

// snapSamples is the data of snap_basic, in time order.
func snapSamples() []sample {
	var s []sample
	for k := int64(0); k < 40; k++ {
		ts := T0 + 30*k
		s = append(s, at("node001", sel("socket0"), "power", ts, 200+float64(k)))
		if k%2 != 0 {
			continue
		}
		i := k / 2 // the 60 s metrics
		if i != 3 {
			v := 1 + float64(i)*0.5
			if i == 7 {
				v = nan
			}
			// off the grid by 5 s: the snapshot start is the window's from
			s = append(s, at("node001", nil, "cpu_load", T0+5+60*i, v))
		}
		for c := int64(0); c < 4; c++ {
			if c == 3 && i >= 5 { // cpu3 stops at T1: the next snapshot holds it with 0 values
				continue
			}
			s = append(s, at("node001", sel(fmt.Sprintf("cpu%d", c)), "flops_any", ts, float64(c*100+i)+0.25))
		}
		if i != 10 {
			s = append(s, at("node001", sel("socket0", "memctrl0"), "mem_bw", ts, 1000.5*float64(i)))
		}
		if ts >= T3 {
			s = append(s, at("node002", nil, "cpu_load", ts, 42+float64(i)))
		}
	}
	return s
}

// writeUpTo writes (or ingests) every sample with ts <= to that is not yet written.
func writeUpTo(w *writer, all []sample, next *int, to int64, ingest bool) error {
	for ; *next < len(all) && all[*next].TS <= to; *next++ {
		if !ingest {
			w.write(all[*next])
		} else if err := w.ingest(all[*next]); err != nil {
			return err
		}
	}
	return nil
}

func snapBasic() fixture {
	return fixture{
		Name: "snap_basic",
		Description: "Binary snapshots written by ToCheckpointWAL after Write (no WAL): windows [W1,T1], [T1,T2] and, " +
			"after a gap, [T3,T4]; data written up to each window's end before its checkpoint. Shows: start = " +
			"first write when the window begins earlier, start = window from otherwise (cpu_load is 5 s off the grid); " +
			"a metric ending exactly at T1 is written again with 0 values; node002 only appears in the last window; " +
			"NaN for gaps and explicit NaN; nested levels. Cases cover the Go snapshot selection rule.",
		Write: func(w *writer) error {
			all, next := snapSamples(), 0
			for _, win := range [][2]int64{{W1, T1}, {T1, T2}, {T3, T4}} {
				if err := writeUpTo(w, all, &next, win[1], false); err != nil {
					return err
				}
				if _, err := w.checkpointWAL(win[0], win[1]); err != nil {
					return err
				}
			}
			return nil
		},
		Cases: []restoreCase{
			{From: 0},
			{From: T0, Note: "between the first two snapshot names: the earlier one is taken too"},
			{From: T1, Note: "equal to a snapshot name: the earlier snapshot is not taken"},
			{From: T2 + 100, Note: "snapshot T1 is taken as the one before the horizon but skipped because its to < from"},
			{From: T3 + 100, Note: "after the newest snapshot name: nothing is loaded although its window [T3,T4] reaches past the horizon"},
			{From: 0, Metrics: map[string]int64{"cpu_load": 120, "flops_any": 60, "mem_bw": 60},
				Note: "restore config without power (skipped) and cpu_load at 120 s (buffers keep the file's 60 s)"},
		},
	}
}

func jsonBasic() fixture {
	return fixture{
		Name: "json_basic",
		Description: "Legacy JSON snapshots written by the real ToCheckpoint (the JSON writer is still exported): " +
			"values are printed with ONE decimal (strconv 'f', 1, 32), so 0.25 becomes 0.2, 1234.5678 becomes " +
			"1234.6, -0.05 becomes -0.1 and 0.001 becomes 0.0; NaN is null. Restored values are those decimals parsed as float64.",
		Write: func(w *writer) error {
			vals := []float64{0.25, 0.35, 1234.5678, nan, -0.05, 0.001, 3.4e38, math.Copysign(0, -1), 7}
			var all []sample
			for i, v := range vals {
				ts := T0 + 60*int64(i)
				all = append(all,
					at("node001", nil, "cpu_load", ts, v),
					at("node001", sel("cpu0"), "flops_any", ts, float64(i)+0.75),
					at("node001", sel("socket0", "memctrl0"), "mem_bw", ts, 1e6/float64(i+1)))
			}
			next := 0
			for _, win := range [][2]int64{{W1, T1}, {T1, T2}} {
				if err := writeUpTo(w, all, &next, win[1], false); err != nil {
					return err
				}
				w.checkpointJSON(win[0], win[1])
			}
			return nil
		},
		Cases: []restoreCase{{From: 0}, {From: T1}},
	}
}

func mixedJSONBin() fixture {
	return fixture{
		Name: "mixed_json_bin",
		Description: "A host switched from the JSON format to WAL: [W1,T1] as <W1>.json (ToCheckpoint, memory only), " +
			"then WAL staging starts, [T1,T2] is ingested and written as <T1>.bin (ToCheckpointWAL) followed by " +
			"RotateWALFiles, and a tail after T2 stays in current.wal.",
		Write: func(w *writer) error {
			var all []sample
			for k := int64(0); k < 14; k++ {
				ts := T0 + 60*k
				all = append(all,
					at("node001", nil, "cpu_load", ts, 10+float64(k)),
					at("node001", sel("cpu0"), "flops_any", ts, 0.5*float64(k)))
			}
			next := 0
			if err := writeUpTo(w, all, &next, T1, false); err != nil {
				return err
			}
			w.checkpointJSON(W1, T1)
			w.startWAL()
			if err := writeUpTo(w, all, &next, T2, true); err != nil {
				return err
			}
			dirs, err := w.checkpointWAL(T1, T2)
			if err != nil {
				return err
			}
			if err := w.rotate(dirs); err != nil {
				return err
			}
			return writeUpTo(w, all, &next, math.MaxInt64, true)
		},
		Cases: []restoreCase{{From: 0}, {From: T1}},
	}
}

func combined() fixture {
	return fixture{
		Name: "combined",
		Description: "The production sequence: every sample goes to SendWALMessage and then to memory (as DecodeLine " +
			"does); checkpoints [W1,T1] and [T1,T2] are each followed by RotateWALFiles on the host dirs that " +
			"ToCheckpointWAL returned; node002 stops before T1 (its second snapshot holds cpu_load with 0 values). " +
			"The samples at T2 exactly reach the WAL before the checkpoint, are not in the snapshot (reads stop " +
			"before `to`) and are deleted with the WAL by the rotation: they are not restored. After the rotation " +
			"a late sample for T2-60 overwrites a value inside the restored (archived) snapshot buffer; then the " +
			"tail follows; a late sample for T2-120 sent after the tail is dropped by replay (older than the head buffer).",
		Write: func(w *writer) error {
			var all []sample
			for k := int64(0); k < 15; k++ {
				ts := T0 + 60*k
				all = append(all,
					at("node001", nil, "cpu_load", ts, 1+float64(k)),
					at("node001", sel("cpu0"), "flops_any", ts, 100+float64(k)),
					at("node001", sel("cpu1"), "flops_any", ts, 200+float64(k)),
					at("node001", sel("socket0", "memctrl0"), "mem_bw", ts, 300+float64(k)))
				if ts < T1 {
					all = append(all, at("node002", nil, "cpu_load", ts, 50+float64(k)))
				}
			}
			w.startWAL()
			next := 0
			for _, win := range [][2]int64{{W1, T1}, {T1, T2}} {
				if err := writeUpTo(w, all, &next, win[1], true); err != nil {
					return err
				}
				dirs, err := w.checkpointWAL(win[0], win[1])
				if err != nil {
					return err
				}
				if err := w.rotate(dirs); err != nil {
					return err
				}
			}
			if err := w.ingest(at("node001", nil, "cpu_load", T2-60, -5)); err != nil {
				return err
			}
			if err := writeUpTo(w, all, &next, math.MaxInt64, true); err != nil {
				return err
			}
			return w.ingest(at("node001", nil, "cpu_load", T2-120, -6))
		},
		Cases: []restoreCase{
			{From: 0},
			{From: T1 + 60, Note: "after the newest snapshot name: no snapshot is loaded, only WAL records >= from"},
		},
	}
}

// quirkHosts of restore_quirks, each written the same way and then
// damaged in its own way.
var quirkHosts = []string{"badcrc", "badmagic", "badname", "badsnap", "emptywal", "ok", "oddnames", "shortwal", "startorder", "strays", "torn"}

func restoreQuirks() fixture {
	return fixture{
		Name: "restore_quirks",
		Description: "Every host gets the same history (cpu_load only, so each snapshot is byte-deterministic): " +
			"snapshots <W1>.bin and <T1>.bin with rotation after each, then 4 WAL records from T2 on. Then each " +
			"host but 'ok' is changed as listed in manipulations. FromCheckpointFiles returns an error because " +
			"some hosts fail; every other host is still restored.",
		Write: func(w *writer) error {
			w.startWAL()
			// Each phase covers every host: ToCheckpointWAL always covers all hosts.
			phase := func(first, last int64) error {
				for _, host := range quirkHosts {
					for k := first; k < last; k++ {
						if err := w.ingest(at(host, nil, "cpu_load", T0+60*k, float64(k)+0.5)); err != nil {
							return err
						}
					}
				}
				return nil
			}
			for _, win := range []struct{ first, last, from, to int64 }{{0, 5, W1, T1}, {5, 10, T1, T2}} {
				if err := phase(win.first, win.last); err != nil {
					return err
				}
				dirs, err := w.checkpointWAL(win.from, win.to)
				if err != nil {
					return err
				}
				if err := w.rotate(dirs); err != nil {
					return err
				}
			}
			return phase(10, 14)
		},
		Manipulate: manipulateQuirks,
		Cases: []restoreCase{
			{From: 0},
			{From: T1, Note: "only snapshots named >= T1 (the renamed ones follow their new names)"},
		},
	}
}

func manipulateQuirks(root string) ([]string, error) {
	var log []string
	host := func(h string) string { return filepath.Join(root, cluster, h) }
	name := func(ts int64) string { return fmt.Sprintf("%d.bin", ts) }
	const rec = 4 + 4 + 8 + 2 + len("cpu_load") + 1 + 4 + 4 // one host-level cpu_load record
	steps := []struct {
		desc string
		do   func() error
	}{
		{"torn/current.wal: last 3 bytes cut (torn tail)", func() error {
			return truncate(filepath.Join(host("torn"), "current.wal"), 4+4*rec-3)
		}},
		{"badcrc/current.wal: last byte of the 2nd record's CRC flipped", func() error {
			return flipByte(filepath.Join(host("badcrc"), "current.wal"), 4+2*rec-1)
		}},
		{"badmagic/current.wal: first byte of the file magic set to 0x00", func() error {
			return setByte(filepath.Join(host("badmagic"), "current.wal"), 0, 0)
		}},
		{"emptywal/current.wal: truncated to 0 bytes", func() error {
			return truncate(filepath.Join(host("emptywal"), "current.wal"), 0)
		}},
		{"shortwal/current.wal: truncated to 2 bytes", func() error {
			return truncate(filepath.Join(host("shortwal"), "current.wal"), 2)
		}},
		{fmt.Sprintf("strays: copies of %s as %d.bin.tmp and sub/%d.bin, of current.wal as current.wal.1 and %d.wal, plus notes.txt", name(T1), T2+50, T2+60, T2), func() error {
			d := host("strays")
			for _, c := range [][2]string{
				{name(T1), fmt.Sprintf("%d.bin.tmp", T2+50)},
				{name(T1), filepath.Join("sub", name(T2+60))},
				{"current.wal", "current.wal.1"},
				{"current.wal", fmt.Sprintf("%d.wal", T2)},
			} {
				if err := copyFile(filepath.Join(d, c[0]), filepath.Join(d, c[1])); err != nil {
					return err
				}
			}
			return os.WriteFile(filepath.Join(d, "notes.txt"), []byte("not a checkpoint\n"), 0o644)
		}},
		{fmt.Sprintf("startorder: %s renamed to %s (its metric starts before the head loaded from %s)", name(W1), name(T1+1), name(T1)), func() error {
			return os.Rename(filepath.Join(host("startorder"), name(W1)), filepath.Join(host("startorder"), name(T1+1)))
		}},
		{fmt.Sprintf("badname: copy of %s as latest.bin (not a number)", name(T1)), func() error {
			return copyFile(filepath.Join(host("badname"), name(T1)), filepath.Join(host("badname"), "latest.bin"))
		}},
		{fmt.Sprintf("badsnap: %s truncated to 40 bytes", name(T1)), func() error {
			return truncate(filepath.Join(host("badsnap"), name(T1)), 40)
		}},
		{fmt.Sprintf("oddnames: %s renamed to 0%s, %s renamed to +%s (strconv.ParseInt accepts both)", name(W1), name(W1), name(T1), name(T1)), func() error {
			d := host("oddnames")
			if err := os.Rename(filepath.Join(d, name(W1)), filepath.Join(d, "0"+name(W1))); err != nil {
				return err
			}
			return os.Rename(filepath.Join(d, name(T1)), filepath.Join(d, "+"+name(T1)))
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.desc, err)
		}
		log = append(log, s.desc)
	}
	return log, nil
}

func emptyHost() fixture {
	return fixture{
		Name: "empty_host",
		Description: "Host name \"\" (accepted by DecodeLine, WALStaging and ToCheckpointWAL): its current.wal and " +
			"<W1>.bin land directly in ROOT/b/. On restore, the first non-directory at the host level aborts the " +
			"scan: FromCheckpointFiles returns an error, cluster a (scanned before) is restored, b/h2 and c/h3 are not.",
		Write: func(w *writer) error {
			w.startWAL()
			for _, ch := range [][2]string{{"a", "h1"}, {"b", ""}, {"b", "h2"}, {"c", "h3"}} {
				for k := int64(0); k < 3; k++ {
					s := at(ch[1], nil, "cpu_load", T0+60*k, float64(k)+1)
					s.Cluster = ch[0]
					if err := w.ingest(s); err != nil {
						return err
					}
				}
			}
			_, err := w.checkpointWAL(W1, T1)
			return err
		},
		Cases: []restoreCase{{From: 0}},
	}
}

func truncate(path string, size int) error { return os.Truncate(path, int64(size)) }

func setByte(path string, off int, b byte) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if off >= len(data) {
		return fmt.Errorf("%s has only %d bytes", path, len(data))
	}
	data[off] = b
	return os.WriteFile(path, data, 0o644)
}

func flipByte(path string, off int) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if off >= len(data) {
		return fmt.Errorf("%s has only %d bytes", path, len(data))
	}
	return setByte(path, off, data[off]^0xFF)
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}
