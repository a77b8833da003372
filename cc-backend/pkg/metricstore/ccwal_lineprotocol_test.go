// ccwal: this file is part of the ccwal project, not of cc-backend. It is
// added to cc-backend's pkg/metricstore by `scripts/ccbackend-build.sh ccwal
// test`, next to cc-backend's own tests.

package metricstore

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/ClusterCockpit/cc-line-protocol/v2/lineprotocol"
)

// ccwalRecorded is what a lineReader emitted for one sample, or the error
// that ended the reading.
type ccwalRecorded struct {
	metric, cluster, host, selector string
	value                           uint64
	unix                            int64
}

// ccwalRead reads body with r's decoder alone (whole) or as
// DecodeLineBytes does, and returns what was emitted.
func ccwalRead(ms *MemoryStore, body []byte, whole bool, start time.Time) ([]ccwalRecorded, error, int) {
	var got []ccwalRecorded
	r := newLineReader(ms, "default", func(r *lineReader) error {
		got = append(got, ccwalRecorded{
			metric: string(r.st.metricBuf), cluster: r.cluster, host: r.host,
			selector: strings.Join(r.st.selector, "/"),
			value:    math.Float64bits(float64(r.metric.Value)), unix: r.unix,
		})
		return nil
	})
	defer r.release()
	r.ts = start
	if whole {
		return got, r.decoded(lineprotocol.NewDecoderWithBytes(body)), 0
	}
	simple := 0
	for _, line := range strings.Split(string(body), "\n") {
		if len(line) > 0 && !strings.ContainsAny(string(body), "\"\\") {
			probe := newLineReader(ms, "default", func(*lineReader) error { return nil })
			if done, _ := probe.simple([]byte(line)); done {
				simple++
			}
			probe.release()
		}
	}
	return got, r.body(body), simple
}

// ccwalLineParts: the parts of a line, each in the simple form (typical)
// and in forms the decoder reads otherwise or refuses (odd).
var ccwalLineParts = [][2][]string{
	{{"cpu_load", "flops", "mem_bw"}, {"", "#c", "cpu=load", "cpu_lo\\,ad", "flops\t", "é", "cpu_load value=1 1700000000\n"}},
	{{"cluster=c1", "cluster=c2", "hostname=h1", "host=h2", "type=hwthread", "type-id=3", "type=node", "stype=memctrl",
		"stype-id=1", "other=x", "hostname=a/b", "hostname=..", "hostname=h#1"},
		{"k=", "=v", "k=v=w", "k=\"q\"", "k=v\\ w", "k=\x7f", "k=\tx", ""}},
	{{"value=1.5", "value=2i", "value=3u", "value=-1e3", "value=42", "value=1E5", "value=1e+5", "value=007", "value=-0",
		"value=1e999", "value=18446744073709551616u", "value=9223372036854775808i"},
		{"value=t", "value=\"s\"", "other=1", "value=1,value=2", "value=", "value=.5", "value=1.", "value=+1",
			"value=0x1p3", "value=NaN", "value=Inf", "value=-5u", "value=1e", "value=--1", "value=1 value=2"}},
	{{" 1700000000", " 1700000060", "", " -5", " 9223372036", " -9223372036", " 0017", " 1700000000000"},
		{"  1700000000", " 17a", " 99999999999999999999", " +5", " 9223372037", " -9223372037", " 1700000000 ",
			" 1700000000 x", " "}},
	{{"\n"}, {"\r\n", "\n\n", "\r", "", " \n"}},
}

func ccwalRandomBody(rng *rand.Rand) []byte {
	pick := func(part int) string {
		choice := ccwalLineParts[part][0]
		if rng.Intn(8) == 0 {
			choice = ccwalLineParts[part][1]
		}
		return choice[rng.Intn(len(choice))]
	}
	var b strings.Builder
	for n := 1 + rng.Intn(5); n > 0; n-- {
		b.WriteString(pick(0))
		for t := rng.Intn(5); t > 0; t-- {
			b.WriteString("," + pick(1))
		}
		b.WriteString(" " + pick(2) + pick(3) + pick(4))
	}
	return []byte(b.String())
}

// TestCcwalLineProtocolSameAsDecoder: DecodeLineBytes' reading emits the
// same samples and ends with the same error as the line-protocol decoder
// on the whole body, for typical and malformed lines alike; most typical
// lines take the simple path.
func TestCcwalLineProtocolSameAsDecoder(t *testing.T) {
	ms := ccwalTestStore()
	rng := rand.New(rand.NewSource(7))
	start := time.Unix(1_700_000_123, 456)
	bodies, simpleLines, simpleRandom, samples, errs := 0, 0, 0, 0, 0
	for i := 0; i < 30000; i++ {
		body := ccwalRandomBody(rng)
		typical := i%10 == 0
		if typical {
			// A typical request: every line in the simple form.
			var b strings.Builder
			for n := 0; n < 4; n++ {
				fmt.Fprintf(&b, "cpu_load,cluster=c,hostname=h%d,type=hwthread,type-id=%d value=%d.25 %d\n", n, n, n, 1_700_000_000+60*n)
			}
			body = []byte(b.String())
		}
		want, wantErr, _ := ccwalRead(ms, body, true, start)
		got, gotErr, simple := ccwalRead(ms, body, false, start)
		bodies++
		simpleLines += simple
		if !typical {
			simpleRandom += simple
		}
		samples += len(want)
		if wantErr != nil {
			errs++
		}
		if fmt.Sprint(wantErr) != fmt.Sprint(gotErr) {
			t.Fatalf("body %q: decoder error %v, got %v", body, wantErr, gotErr)
		}
		if len(got) != len(want) {
			t.Fatalf("body %q: decoder emitted %+v, got %+v", body, want, got)
		}
		now := time.Now().Unix()
		for k := range want {
			g, w := got[k], want[k]
			if g.unix != w.unix && absDiff(g.unix, now) <= 2 && absDiff(w.unix, now) <= 2 {
				// A timestamp finer than seconds: both took the clock.
				g.unix = w.unix
			}
			if g != w {
				t.Fatalf("body %q sample %d: decoder %+v, got %+v", body, k, w, g)
			}
		}
	}
	t.Logf("%d bodies, %d samples, %d errors, %d lines on the simple path (%d of random bodies)", bodies, samples, errs, simpleLines, simpleRandom)
	if simpleLines < bodies/3 || simpleRandom < bodies/20 || samples < bodies/2 || errs < bodies/10 {
		t.Fatalf("the cases do not cover both paths: %d bodies, %d simple lines (%d of random bodies), %d samples, %d errors",
			bodies, simpleLines, simpleRandom, samples, errs)
	}
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestCcwalDecodeLineBytesStore: DecodeLineBytes leaves the memory store
// as DecodeLine does, and reports a malformed line with its number in the
// body after writing the lines before it.
func TestCcwalDecodeLineBytesStore(t *testing.T) {
	ccwalRestoreGlobals(t)
	Keys.Checkpoints.FileFormat = "json"
	body := []byte("cpu_load,cluster=c,hostname=a value=1.5 1700000000\n" +
		"flops,cluster=c,hostname=a,type=hwthread,type-id=1 value=7i 1700000000\n" +
		"mem_bw,cluster=c,hostname=a value=3 1700000000\n" +
		"cpu_load,cluster=c,hostname=b value=2.5\n" +
		"cpu_load,cluster=c,hostname=b value=3.5 1700000060\n" +
		"cpu_load,cluster=c,hostname=a value=oops 1700000060\n" +
		"cpu_load,cluster=c,hostname=a value=9 1700000120\n")
	byDecoder, byBytes := ccwalTestStore(), ccwalTestStore()
	errDecoder := DecodeLine(lineprotocol.NewDecoderWithBytes(body), byDecoder, "")
	errBytes := DecodeLineBytes(body, byBytes, "")
	if errBytes == nil || !strings.Contains(errBytes.Error(), "at line 6:") || errBytes.Error() != errDecoder.Error() {
		t.Fatalf("errors: decoder %v, bytes %v", errDecoder, errBytes)
	}
	for _, s := range []ccwalSample{
		{host: "a", metric: "cpu_load", ts: 1_700_000_000, value: 1.5},
		{host: "a", metric: "flops", sub: "1", ts: 1_700_000_000, value: 7},
		{host: "b", metric: "cpu_load", ts: 1_700_000_060, value: 3.5},
	} {
		if a, b := ccwalReadAt(t, byDecoder, s), ccwalReadAt(t, byBytes, s); a != s.value || b != s.value {
			t.Errorf("%+v: decoder wrote %v, bytes %v", s, a, b)
		}
	}
	late := ccwalSample{host: "a", metric: "cpu_load", ts: 1_700_000_120}
	if v := ccwalReadAt(t, byBytes, late); !math.IsNaN(v) {
		t.Errorf("the line after the error was written: %v", v)
	}
}

// ccwalCollectorBody is one request as the e2e harness and collectors send
// it: 50 hosts, 5 node and 6 hwthread series each.
func ccwalCollectorBody() []byte {
	var b strings.Builder
	for h := 0; h < 50; h++ {
		for _, m := range []string{"cpu_load", "flops", "cpu_load", "flops", "cpu_load"} {
			fmt.Fprintf(&b, "%s,cluster=e2e,hostname=node%02d,type=node value=%d.5 1700000000\n", m, h, h)
		}
		for t := 0; t < 6; t++ {
			fmt.Fprintf(&b, "flops,cluster=e2e,hostname=node%02d,type=hwthread,type-id=%d value=%d 1700000000\n", h, t, t)
		}
	}
	return []byte(b.String())
}

// BenchmarkCcwalDecode: one request body into the memory store (no WAL),
// through the decoder and through DecodeLineBytes. Run with
// `scripts/ccbackend-build.sh ccwal bench`.
func BenchmarkCcwalDecode(b *testing.B) {
	body := ccwalCollectorBody()
	lines := int64(strings.Count(string(body), "\n"))
	for _, c := range []struct {
		name   string
		decode func(ms *MemoryStore) error
	}{
		{"decoder", func(ms *MemoryStore) error { return DecodeLine(lineprotocol.NewDecoderWithBytes(body), ms, "") }},
		{"bytes", func(ms *MemoryStore) error { return DecodeLineBytes(body, ms, "") }},
	} {
		b.Run(c.name, func(b *testing.B) {
			saved := Keys
			defer func() { Keys = saved }()
			Keys.Checkpoints.FileFormat = "json"
			ms := ccwalTestStore()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.decode(ms); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*lines), "ns/line")
		})
	}
}
