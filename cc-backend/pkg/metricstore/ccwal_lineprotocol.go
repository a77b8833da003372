// ccwal: this file is part of the ccwal project, not of cc-backend. It is
// added to cc-backend's pkg/metricstore at build time (scripts/ccbackend-build.sh).

package metricstore

import (
	"bytes"
	"fmt"
	"sync"
	"time"

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
	var batch *ccwal.Batch
	if Keys.Checkpoints.FileFormat == "wal" {
		walMu.RLock()
		defer walMu.RUnlock()
		if walClosed {
			return fmt.Errorf("%w: the metric store is shutting down", ErrWALWrite)
		}
		if walStore != nil {
			batch = walBatches.Get().(*ccwal.Batch)
			batch.Reset()
			defer walBatches.Put(batch)
		}
	}
	err := decodeLines(dec, ms, clusterDefault, batch)
	if batch != nil && batch.Len() > 0 {
		if werr := walStore.WriteBatch(batch); werr != nil {
			return fmt.Errorf("%w: %w", ErrWALWrite, werr)
		}
	}
	return err
}

// decodeLines does DecodeLine's work; batch is nil without a WAL. Called
// with walMu held shared when batch is not nil.
func decodeLines(dec *lineprotocol.Decoder, ms *MemoryStore, clusterDefault string, batch *ccwal.Batch) error {
	st := decodeStatePool.Get().(*decodeState)
	defer decodeStatePool.Put(st)

	// The host's level is looked up again only when cluster or host change.
	var hostLevel *Level
	lastCluster, lastHost := "", ""
	ts := time.Now()
	metric := Metric{}

	for dec.Next() {
		measurement, err := dec.Measurement()
		if err != nil {
			return err
		}
		config, known := ms.Metrics[string(measurement)]
		if !known {
			continue
		}
		st.metricBuf = append(st.metricBuf[:0], measurement...)
		metric.MetricConfig = config

		cluster, host := clusterDefault, ""
		st.typeBuf, st.subTypeBuf = st.typeBuf[:0], st.subTypeBuf[:0]
		for {
			key, val, err := dec.NextTag()
			if err != nil {
				return err
			}
			if key == nil {
				break
			}
			switch string(key) {
			case "cluster":
				cluster = internString(val, lastCluster)
			case "hostname", "host":
				host = internString(val, lastHost)
			case "type":
				if string(val) == "node" {
					continue
				}
				// "type" names the kind, "type-id" the index: type+id,
				// whichever tag comes first.
				if len(st.typeBuf) == 0 {
					st.typeBuf = append(st.typeBuf, val...)
				} else {
					st.typeBuf = reorder(st.typeBuf, val)
				}
			case "type-id":
				st.typeBuf = append(st.typeBuf, val...)
			case "stype":
				if len(st.subTypeBuf) == 0 {
					st.subTypeBuf = append(st.subTypeBuf, val...)
				} else {
					st.subTypeBuf = reorder(st.subTypeBuf, val)
				}
			case "stype-id":
				st.subTypeBuf = append(st.subTypeBuf, val...)
			}
		}

		// Cluster and host become directory names: no way out of the root.
		if !isValidPathComponent(cluster) || !isValidPathComponent(host) {
			cclog.Warnf("[METRICSTORE]> rejecting metric with invalid cluster/host tag (cluster=%q host=%q)", cluster, host)
			continue
		}
		if hostLevel == nil || cluster != lastCluster || host != lastHost {
			hostLevel = ms.GetLevel([]string{cluster, host})
			lastCluster, lastHost = cluster, host
		}

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

		for {
			key, val, err := dec.NextField()
			if err != nil {
				return err
			}
			if key == nil {
				break
			}
			if string(key) != "value" {
				return fmt.Errorf("host %s: unknown field: '%s' (value: %#v)", host, string(key), val)
			}
			switch val.Kind() {
			case lineprotocol.Float:
				metric.Value = schema.Float(val.FloatV())
			case lineprotocol.Int:
				metric.Value = schema.Float(val.IntV())
			case lineprotocol.Uint:
				metric.Value = schema.Float(val.UintV())
			default:
				return fmt.Errorf("host %s: unsupported value type in message: %s", host, val.Kind().String())
			}
		}

		if ts, err = lineTime(dec, ts); err != nil {
			return fmt.Errorf("host %s: timestamp : %#v with error : %#v", host, ts, err.Error())
		}
		unix := ts.Unix()

		if batch != nil {
			// Checked (and staged) before the write to memory, so that a
			// sample ccwal refuses is not acknowledged at all. The batch
			// goes to ccwal only after the writes to memory: the order a
			// checkpoint session relies on.
			if err := batch.Add(cluster, host, string(st.metricBuf), st.selector, float64(metric.Value), unix); err != nil {
				cclog.Warnf("[METRICSTORE]> rejecting metric %s of host %s/%s: %v", string(st.metricBuf), cluster, host, err)
				continue
			}
		}
		if err := ms.WriteToLevel(hostLevel, st.selector, unix, []Metric{metric}); err != nil {
			cclog.Warnf("write error for host %s metric %s at ts %d: %s", host, string(st.metricBuf), unix, err.Error())
			continue
		}
		if batch != nil && batch.Len() >= walBatchLimit {
			if err := walStore.WriteBatch(batch); err != nil {
				return fmt.Errorf("%w: %w", ErrWALWrite, err)
			}
			batch.Reset()
		}
	}
	return nil
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
