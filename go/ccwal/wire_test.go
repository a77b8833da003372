package ccwal

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The golden files of the ccwal repository's tests/wire (see its README):
// the Rust side is tested against the same bytes and messages.
var wireDir = filepath.Join("..", "..", "tests", "wire")

// wireName is a name of cases.json: a string, or {"repeat": S, "times": N}.
type wireName string

// wireRepeat is {"repeat": S, "times": N}.
type wireRepeat struct {
	Repeat string
	Times  int
}

func (n *wireName) UnmarshalJSON(data []byte) error {
	var plain string
	if json.Unmarshal(data, &plain) == nil {
		*n = wireName(plain)
		return nil
	}
	var r wireRepeat
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	*n = wireName(strings.Repeat(r.Repeat, r.Times))
	return nil
}

// wireSelector is a list of names, or one name repeated to a count.
type wireSelector []string

func (s *wireSelector) UnmarshalJSON(data []byte) error {
	var list []wireName
	if json.Unmarshal(data, &list) == nil {
		for _, n := range list {
			*s = append(*s, string(n))
		}
		return nil
	}
	var r wireRepeat
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	for range r.Times {
		*s = append(*s, r.Repeat)
	}
	return nil
}

type wireSample struct {
	Cluster, Host, Metric wireName
	Selector              wireSelector
	Value                 float64
	Ts                    int64
	Error                 *string
}

type wireCases struct {
	Batch   []wireSample
	Hosts   [][2]string
	Metrics [][2]json.RawMessage // [name, frequency]
	Names   []wireSample
}

func readWire(t *testing.T, name string) []byte {
	t.Helper()
	return readFile(t, filepath.Join(wireDir, name))
}

func loadWireCases(t *testing.T) wireCases {
	t.Helper()
	var cases wireCases
	if err := json.Unmarshal(readWire(t, "cases.json"), &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

func TestBatchWritesTheGoldenBytes(t *testing.T) {
	var b Batch
	for _, s := range loadWireCases(t).Batch {
		if err := b.Add(string(s.Cluster), string(s.Host), string(s.Metric), s.Selector, s.Value, s.Ts); err != nil {
			t.Fatal(err)
		}
	}
	if want := readWire(t, "batch.bin"); !bytes.Equal(b.buf, want) {
		t.Fatalf("batch\n got %x\nwant %x", b.buf, want)
	}
}

func TestHostListWritesTheGoldenBytes(t *testing.T) {
	var hosts []Host
	for _, h := range loadWireCases(t).Hosts {
		hosts = append(hosts, Host{Cluster: h[0], Host: h[1]})
	}
	got, err := hostList(hosts)
	if want := readWire(t, "hosts.bin"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("host list %v\n got %x\nwant %x", err, got, want)
	}
}

func TestMetricConfigWritesTheGoldenBytes(t *testing.T) {
	metrics := map[string]int64{}
	for _, m := range loadWireCases(t).Metrics {
		var name string
		var frequency int64
		if err := errors.Join(json.Unmarshal(m[0], &name), json.Unmarshal(m[1], &frequency)); err != nil {
			t.Fatal(err)
		}
		metrics[name] = frequency
	}
	// The golden list is sorted by name, as metricConfig sorts the map.
	got, err := metricConfig(metrics)
	if want := readWire(t, "metrics.bin"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("metric configuration %v\n got %x\nwant %x", err, got, want)
	}
}

func TestNamesAreRefusedWithTheLibrarysMessages(t *testing.T) {
	for i, s := range loadWireCases(t).Names {
		var b Batch
		err := b.Add(string(s.Cluster), string(s.Host), string(s.Metric), s.Selector, 1, 1)
		switch {
		case s.Error == nil && err != nil:
			t.Errorf("case %d: refused: %v", i, err)
		case s.Error != nil:
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidName || e.Message != *s.Error {
				t.Errorf("case %d: got %v, want %q", i, err, *s.Error)
			} else if b.Len() != 0 || len(b.buf) != 0 {
				t.Errorf("case %d: a refused sample added bytes", i)
			}
		}
	}
}

// Lengths that do not fit their fields are refused, never truncated.
func TestOverlongNamesAreRefusedNotTruncated(t *testing.T) {
	long := strings.Repeat("x", 1<<16)
	if _, err := hostList([]Host{{Cluster: "c", Host: long}}); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("host list: %v", err)
	}
	if _, err := metricConfig(map[string]int64{long: 60}); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("metric configuration: %v", err)
	}
}

// Stats mirrors the C ccwal_stats field for field, in order (after
// struct_size): checked against the header, which tests/header.rs keeps
// equal to the Rust definition.
func TestStatsMirrorTheHeader(t *testing.T) {
	header := string(readFile(t, filepath.Join("..", "..", "include", "ccwal.h")))
	body := regexp.MustCompile(`(?s)typedef struct \{([^{}]*)\} ccwal_stats;`).FindStringSubmatch(header)
	if body == nil {
		t.Fatal("no ccwal_stats in ccwal.h")
	}
	var fields []string
	for _, m := range regexp.MustCompile(`(?m)^\s*\w+ (\w+);`).FindAllStringSubmatch(body[1], -1) {
		if m[1] != "struct_size" {
			fields = append(fields, goFieldName(m[1]))
		}
	}
	var goFields []string
	st := reflect.TypeOf(Stats{})
	for i := range st.NumField() {
		goFields = append(goFields, st.Field(i).Name)
	}
	if !reflect.DeepEqual(fields, goFields) {
		t.Fatalf("ccwal_stats fields %v\nStats fields      %v", fields, goFields)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// goFieldName is the Go name of a C field: bytes_written → BytesWritten,
// errors_io → ErrorsIO.
func goFieldName(c string) string {
	var out strings.Builder
	for _, part := range strings.Split(c, "_") {
		if part == "io" {
			out.WriteString("IO")
			continue
		}
		out.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return out.String()
}
