// ccwal: this file is part of the ccwal project, not of cc-backend. It is
// added to cc-backend's pkg/metricstore at build time (scripts/ccbackend-build.sh).

package metricstore

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
	"unsafe"

	cclog "github.com/ClusterCockpit/cc-lib/v2/ccLogger"
	"github.com/ClusterCockpit/cc-lib/v2/schema"
	"github.com/ClusterCockpit/cc-line-protocol/v2/lineprotocol"
	"github.com/ccwal/ccwal/go/ccwal"
)

// walBatchLimit: a request's samples go to ccwal in batches of at most
// this many (one cgo call each).
const walBatchLimit = 4096

var walBatches = sync.Pool{New: func() any { return new(ccwal.Batch) }}

// DecodeLine reads InfluxDB line protocol from dec and writes each sample
// of a configured metric into ms, under the cluster of its "cluster" tag
// (clusterDefault without one) and the host of its "hostname" or "host"
// tag; "type"+"type-id" and "stype"+"stype-id" name the sub-levels. A line
// without a timestamp takes the previous line's (the first: now); its
// precision is found by trying seconds, then milli-, micro-, nanoseconds.
//
// With the WAL in use, each sample is written to memory first and then
// handed to ccwal, in batches, waiting (never dropping) while ccwal's queue
// is full. A sample whose names ccwal refuses (they would be truncated in
// the WAL format, or not make a directory) is skipped with a warning.
// DecodeLine does not wait for the disk: WALCommit does (the /api/write
// handler calls it). On an error the samples of the lines before it stay
// written. Errors of the WAL wrap ErrWALWrite.
func DecodeLine(dec *lineprotocol.Decoder, ms *MemoryStore, clusterDefault string) error {
	return writeLines(ms, clusterDefault, func(r *lineReader) error { return r.decoded(dec) })
}

// DecodeLineBytes is DecodeLine on a whole request body, with the same
// result for every input, faster: a line in the form collectors send
// (ASCII names, one "value" field, a timestamp in seconds or none) is
// split at its separators in one pass; any other line, and a body with a
// quote or a backslash (a line may then go on past a newline), goes
// through the line-protocol decoder. The decoder's errors keep the line
// number in the body.
func DecodeLineBytes(body []byte, ms *MemoryStore, clusterDefault string) error {
	return writeLines(ms, clusterDefault, func(r *lineReader) error { return r.body(body) })
}

// writeLines runs read with a lineReader whose samples go into ms and,
// with the WAL in use, to ccwal.
func writeLines(ms *MemoryStore, clusterDefault string, read func(*lineReader) error) error {
	w := storeWriter{ms: ms}
	if Keys.Checkpoints.FileFormat == "wal" {
		walMu.RLock()
		defer walMu.RUnlock()
		if walClosed {
			return fmt.Errorf("%w: the metric store is shutting down", ErrWALWrite)
		}
		if walStore != nil {
			w.batch = walBatches.Get().(*ccwal.Batch)
			w.batch.Reset()
			defer walBatches.Put(w.batch)
		}
	}
	r := newLineReader(ms, clusterDefault, w.write)
	defer r.release()
	err := read(r)
	if w.batch != nil && w.batch.Len() > 0 {
		if werr := walStore.WriteBatch(w.batch); werr != nil {
			return fmt.Errorf("%w: %w", ErrWALWrite, werr)
		}
	}
	return err
}

// storeWriter writes samples into the memory store and, with the WAL in
// use (batch not nil; walMu held shared), to ccwal.
type storeWriter struct {
	ms        *MemoryStore
	batch     *ccwal.Batch
	hostLevel *Level
	cluster   string
	host      string
}

// write is a lineReader's emit: r holds one sample.
func (w *storeWriter) write(r *lineReader) error {
	// The host's level is looked up again only when cluster or host change.
	if w.hostLevel == nil || r.cluster != w.cluster || r.host != w.host {
		w.hostLevel = w.ms.GetLevel([]string{r.cluster, r.host})
		w.cluster, w.host = r.cluster, r.host
	}
	st := r.st
	if w.batch != nil {
		// Checked (and staged) before the write to memory, so that a
		// sample ccwal refuses is not acknowledged at all. The batch goes
		// to ccwal only after the writes to memory: the order a checkpoint
		// session relies on.
		if err := w.batch.Add(r.cluster, r.host, string(st.metricBuf), st.selector, float64(r.metric.Value), r.unix); err != nil {
			cclog.Warnf("[METRICSTORE]> rejecting metric %s of host %s/%s: %v", string(st.metricBuf), r.cluster, r.host, err)
			return nil
		}
	}
	if err := w.ms.WriteToLevel(w.hostLevel, st.selector, r.unix, []Metric{r.metric}); err != nil {
		cclog.Warnf("write error for host %s metric %s at ts %d: %s", r.host, string(st.metricBuf), r.unix, err.Error())
		return nil
	}
	if w.batch != nil && w.batch.Len() >= walBatchLimit {
		if err := walStore.WriteBatch(w.batch); err != nil {
			return fmt.Errorf("%w: %w", ErrWALWrite, err)
		}
		w.batch.Reset()
	}
	return nil
}

// lineReader turns line protocol into samples of configured metrics and
// hands each to emit: the metric's name in st.metricBuf, its selector in
// st.selector, cluster, host, metric (config and value) and unix (seconds).
// An error of emit ends the reading.
type lineReader struct {
	ms             *MemoryStore
	clusterDefault string
	emit           func(*lineReader) error
	st             *decodeState
	// The previous line's time: that of a line without a timestamp.
	ts            time.Time
	cluster, host string
	metric        Metric
	unix          int64
	// The previous line's cluster and host: a line naming them again
	// takes these strings instead of allocating its own.
	lastCluster, lastHost string
	// The last cluster and host that passed isValidPathComponent.
	validCluster, validHost string
	// The tags of the line being read in the simple form: reused, so
	// that a line neither allocates nor zeroes a fixed array for them.
	tags []lineTag
}

func newLineReader(ms *MemoryStore, clusterDefault string, emit func(*lineReader) error) *lineReader {
	return &lineReader{
		ms:             ms,
		clusterDefault: clusterDefault,
		emit:           emit,
		st:             decodeStatePool.Get().(*decodeState),
		ts:             time.Now(),
	}
}

func (r *lineReader) release() {
	decodeStatePool.Put(r.st)
	r.st = nil
}

// begin starts a line of a configured metric.
func (r *lineReader) begin(measurement []byte, config MetricConfig) {
	r.st.metricBuf = append(r.st.metricBuf[:0], measurement...)
	r.metric.MetricConfig = config
	r.lastCluster, r.lastHost = r.cluster, r.host
	r.cluster, r.host = r.clusterDefault, ""
	r.st.typeBuf, r.st.subTypeBuf = r.st.typeBuf[:0], r.st.subTypeBuf[:0]
}

// tag applies one tag of the line.
func (r *lineReader) tag(key, val []byte) {
	st := r.st
	switch string(key) {
	case "cluster":
		r.cluster = internString(val, r.lastCluster)
	case "hostname", "host":
		r.host = internString(val, r.lastHost)
	case "type":
		if string(val) == "node" {
			return
		}
		st.typeBuf = prependKind(st.typeBuf, val)
	case "type-id":
		st.typeBuf = append(st.typeBuf, val...)
	case "stype":
		st.subTypeBuf = prependKind(st.subTypeBuf, val)
	case "stype-id":
		st.subTypeBuf = append(st.subTypeBuf, val...)
	}
}

// prependKind puts a "type" (or "stype") value before the "type-id" value
// buf may hold already: the selector is kind+id, whichever tag comes first.
func prependKind(buf, kind []byte) []byte {
	if len(buf) == 0 {
		return append(buf, kind...)
	}
	return reorder(buf, kind)
}

// finish ends a line whose value and time are set: its selector is built
// and the sample emitted, unless cluster or host would lead out of the
// checkpoint root (a warning).
func (r *lineReader) finish() error {
	if r.cluster != r.validCluster || r.host != r.validHost {
		if !isValidPathComponent(r.cluster) || !isValidPathComponent(r.host) {
			cclog.Warnf("[METRICSTORE]> rejecting metric with invalid cluster/host tag (cluster=%q host=%q)", r.cluster, r.host)
			return nil
		}
		r.validCluster, r.validHost = r.cluster, r.host
	}
	st := r.st
	st.selector = st.selector[:0]
	if len(st.typeBuf) > 0 {
		if !bytes.Equal(st.typeBuf, st.prevTypeBytes) {
			st.prevTypeBytes = append(st.prevTypeBytes[:0], st.typeBuf...)
			st.prevTypeStr = string(st.typeBuf)
		}
		st.selector = append(st.selector, st.prevTypeStr)
		if len(st.subTypeBuf) > 0 {
			if !bytes.Equal(st.subTypeBuf, st.prevSubTypeBytes) {
				st.prevSubTypeBytes = append(st.prevSubTypeBytes[:0], st.subTypeBuf...)
				st.prevSubTypeStr = string(st.subTypeBuf)
			}
			st.selector = append(st.selector, st.prevSubTypeStr)
		}
	}
	r.unix = r.ts.Unix()
	return r.emit(r)
}

// decoded reads the entries of dec.
func (r *lineReader) decoded(dec *lineprotocol.Decoder) error {
	for dec.Next() {
		measurement, err := dec.Measurement()
		if err != nil {
			return err
		}
		config, known := r.ms.Metrics[string(measurement)]
		if !known {
			continue
		}
		r.begin(measurement, config)
		for {
			key, val, err := dec.NextTag()
			if err != nil {
				return err
			}
			if key == nil {
				break
			}
			r.tag(key, val)
		}

		for {
			key, val, err := dec.NextField()
			if err != nil {
				return err
			}
			if key == nil {
				break
			}
			if string(key) != "value" {
				return fmt.Errorf("host %s: unknown field: '%s' (value: %#v)", r.host, string(key), val)
			}
			switch val.Kind() {
			case lineprotocol.Float:
				r.metric.Value = schema.Float(val.FloatV())
			case lineprotocol.Int:
				r.metric.Value = schema.Float(val.IntV())
			case lineprotocol.Uint:
				r.metric.Value = schema.Float(val.UintV())
			default:
				return fmt.Errorf("host %s: unsupported value type in message: %s", r.host, val.Kind().String())
			}
		}

		if r.ts, err = lineTime(dec, r.ts); err != nil {
			return fmt.Errorf("host %s: timestamp : %#v with error : %#v", r.host, r.ts, err.Error())
		}
		if err := r.finish(); err != nil {
			return err
		}
	}
	return nil
}

// body reads a whole request body: each line in the simple form directly,
// any other through the decoder (see DecodeLineBytes).
func (r *lineReader) body(body []byte) error {
	// Two vectorised scans: ContainsAny goes byte by byte.
	if bytes.IndexByte(body, '"') >= 0 || bytes.IndexByte(body, '\\') >= 0 {
		return r.decoded(lineprotocol.NewDecoderWithBytes(body))
	}
	for number := int64(1); len(body) > 0; number++ {
		// entry: the line with its newline, as the decoder sees it.
		line, entry := body, body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, entry, body = body[:i], body[:i+1], body[i+1:]
		} else {
			body = nil
		}
		if len(line) == 0 {
			continue
		}
		if done, err := r.simple(line); done || err != nil {
			if err != nil {
				return err
			}
			continue
		}
		if err := r.decoded(lineprotocol.NewDecoderWithBytes(entry)); err != nil {
			var syntax *lineprotocol.DecodeError
			if errors.As(err, &syntax) {
				syntax.Line += number - 1
			}
			return err
		}
	}
	return nil
}

// simple reads a line in the form
//
//	MEASUREMENT[,KEY=VALUE...] value=NUMBER [SECONDS]
//
// (names of printable ASCII other than space, comma, '=', quote and
// backslash, NUMBER a decimal float or an
// integer with suffix i or u, SECONDS a timestamp that fits in nanoseconds
// as seconds) and emits its sample, or skips it when its metric is not
// configured. done is false, with nothing emitted, for any other line: the
// decoder then reads it.
func (r *lineReader) simple(line []byte) (done bool, err error) {
	i := nameEnd(line, 0)
	if i == 0 || i == len(line) || line[0] == '#' {
		return false, nil
	}
	measurement := line[:i]
	tags := r.tags[:0]
	for line[i] == ',' {
		k := nameEnd(line, i+1)
		if k == i+1 || k == len(line) || line[k] != '=' {
			return false, nil
		}
		v := nameEnd(line, k+1)
		if v == k+1 || v == len(line) {
			return false, nil
		}
		tags = append(tags, lineTag{key: line[i+1 : k], value: line[k+1 : v]})
		i = v
	}
	r.tags = tags
	if line[i] != ' ' {
		return false, nil
	}
	fields, ok := bytes.CutPrefix(line[i+1:], []byte("value="))
	if !ok {
		return false, nil
	}
	number, stamp := fields, []byte(nil)
	for j, c := range fields {
		if c == ' ' {
			number, stamp = fields[:j], fields[j+1:]
			break
		}
	}
	value, ok := simpleNumber(number)
	if !ok {
		return false, nil
	}
	var seconds int64
	if stamp != nil {
		if seconds, ok = simpleSeconds(stamp); !ok {
			return false, nil
		}
	}

	config, known := r.ms.Metrics[string(measurement)]
	if !known {
		// Skipped as the decoder skips it. (Where the decoder ends an
		// entry it skips depends on the entry's form: a line in any
		// other form is left to it.)
		return true, nil
	}
	r.begin(measurement, config)
	for _, tag := range tags {
		r.tag(tag.key, tag.value)
	}
	r.metric.Value = value
	if stamp != nil {
		r.ts = time.Unix(seconds, 0)
	} else {
		r.ts = r.ts.Truncate(time.Second)
	}
	return true, r.finish()
}

// lineTag is one tag of a line in the simple form, as slices of the line.
type lineTag struct{ key, value []byte }

// nameEnd is the end of the name in the simple form starting at line[i]:
// printable ASCII other than space, comma, '=', quote and backslash.
func nameEnd(line []byte, i int) int {
	for i < len(line) {
		c := line[i]
		if c <= ' ' || c >= 0x7f || c == ',' || c == '=' || c == '"' || c == '\\' {
			break
		}
		i++
	}
	return i
}

// maxSimpleSeconds: the largest timestamp the decoder takes as seconds
// (it must fit in int64 as nanoseconds); a larger one is tried at finer
// precisions, which the decoder does.
const maxSimpleSeconds = math.MaxInt64 / int64(time.Second)

// simpleSeconds parses -?DIGITS within ±maxSimpleSeconds.
func simpleSeconds(b []byte) (int64, bool) {
	x, ok := digits(b, true)
	return x, ok && x <= maxSimpleSeconds && x >= -maxSimpleSeconds
}

// digits parses -?DIGITS (the sign if signed allows it) of at most 18
// digits, which int64 holds.
func digits(b []byte, signed bool) (int64, bool) {
	negative := signed && len(b) > 0 && b[0] == '-'
	if negative {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var x int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		x = x*10 + int64(c-'0')
	}
	if negative {
		x = -x
	}
	return x, true
}

// simpleNumber parses -?DIGITS(.DIGITS)?([eE][+-]?DIGITS)? as a float,
// -?DIGITS followed by i as an int and DIGITS followed by u as an uint,
// as the decoder does (with strconv); ok is false for any other form, and
// for a value the decoder refuses (out of range).
func simpleNumber(b []byte) (schema.Float, bool) {
	if len(b) == 0 {
		return 0, false
	}
	switch b[len(b)-1] {
	case 'i':
		x, err := strconv.ParseInt(transient(b[:len(b)-1]), 10, 64)
		return schema.Float(x), err == nil && isDecimal(b[:len(b)-1], true)
	case 'u':
		x, err := strconv.ParseUint(transient(b[:len(b)-1]), 10, 64)
		return schema.Float(x), err == nil && isDecimal(b[:len(b)-1], false)
	}
	// Each part must have a digit: digitRun finds the part's end.
	i := 0
	if b[0] == '-' {
		i++
	}
	if i = digitRun(b, i); i < 0 {
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		if i = digitRun(b, i+1); i < 0 {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i = digitRun(b, i); i < 0 {
			return 0, false
		}
	}
	if i != len(b) {
		return 0, false
	}
	x, err := strconv.ParseFloat(transient(b), 64)
	return schema.Float(x), err == nil
}

// isDecimal: b is one or more digits, after a '-' if signed allows it.
func isDecimal(b []byte, signed bool) bool {
	if signed && len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	return digitRun(b, 0) == len(b)
}

// digitRun is the end of the digits from b[i] on, -1 when there is none.
func digitRun(b []byte, i int) int {
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == start {
		return -1
	}
	return i
}

// transient views b as a string for a parse that does not keep it (its
// error is dropped): no copy.
func transient(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// internString returns last when val spells it (no allocation), else a
// new string.
func internString(val []byte, last string) string {
	if string(val) == last {
		return last
	}
	return string(val)
}

// lineTime is the line's timestamp (fallback when it has none), trying
// the precisions from seconds down to nanoseconds.
func lineTime(dec *lineprotocol.Decoder, fallback time.Time) (time.Time, error) {
	var err error
	for _, precision := range []lineprotocol.Precision{lineprotocol.Second, lineprotocol.Millisecond,
		lineprotocol.Microsecond, lineprotocol.Nanosecond} {
		var t time.Time
		if t, err = dec.Time(precision, fallback); err == nil {
			return t, nil
		}
		fallback = time.Now()
	}
	return fallback, err
}
