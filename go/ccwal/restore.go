package ccwal

/*
#include "ccwal.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// RestoreOptions choose Go's exact behaviour or ccwal's salvaging one.
type RestoreOptions struct {
	// GoExact uses Go's snapshot selection, including its flaw at the last
	// window; by default the newest snapshot below the horizon is taken too.
	GoExact bool
	// Strict stops at damage as Go does; by default damage is skipped.
	Strict bool
	// Workers restoring hosts in parallel; 0: one per core.
	Workers int
}

// Chunk is one buffer of a metric's chain: Values[i] is the sample at
// Start + i*Frequency (NaN = missing).
type Chunk struct {
	// Start is the Unix time, in seconds, of the chunk's first value, and
	// Frequency the seconds between two values.
	Start, Frequency int64
	// Capacity is the Go metricstore's buffer capacity, in values.
	Capacity int
	// Archived chunks came from snapshots: do not write them again.
	Archived bool
	// Values are the samples (NaN = missing), copied into Go memory, so
	// they stay valid after Restored.Close.
	Values []float64
}

// RestoredHost is one host: its report, and the error that stopped it: an
// *Error with CodeIO (and Errno) when a file could not be read, CodeCorrupt
// for a damaged snapshot, CodeFormat for a snapshot name that is not a
// number or a chunk out of order.
type RestoredHost struct {
	// Cluster and Host name the host's directory below the root.
	Cluster, Host string
	// Err is the error that stopped the host (what was loaded before it
	// stays); nil when there was none.
	Err error
	// Levels is the number of the host's levels (the host itself and each
	// selector below it); walk them with Restored.Level.
	Levels int
	// FilesLoaded and FilesSkipped count the snapshot and WAL files loaded
	// and those passed over.
	FilesLoaded, FilesSkipped int
	// RecordsApplied counts the WAL records written into chunks, and
	// RecordsBeforeFrom those older than from, skipped.
	RecordsApplied, RecordsBeforeFrom uint64
	// RecordsUnknownMetric counts the WAL records of metrics not in the
	// configuration, skipped, and RecordsRejected those the buffer rule
	// refused.
	RecordsUnknownMetric, RecordsRejected uint64
	// DamagedRanges is the number of damaged ranges found (skipped unless
	// Strict).
	DamagedRanges int
}

// Restored is a restored root. Walk it with Host, Level, Metric and Chunks;
// Close releases it.
type Restored struct {
	result *C.ccwal_restore_result
	// Hosts are the restored hosts, sorted by cluster, then host; the
	// index of a host here is the h of Level and Metric.
	Hosts []RestoredHost
	// Err is a problem of the root itself (a stray file where only
	// directories belong: an *Error with CodeFormat), apart from the hosts'
	// own errors.
	Err error
}

// Restore loads every ROOT/CLUSTER/HOST as the Go metricstore would, for
// the retention horizon `from`, with `metrics` mapping each configured
// metric to its frequency in seconds.
func Restore(root string, from int64, metrics map[string]int64, o RestoreOptions) (*Restored, error) {
	var result *C.ccwal_restore_result
	err := callWithRestoreArgs(root, metrics, o, func(a restoreArgs, e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_restore(a.root, a.rootLen, C.int64_t(from), a.config, a.configLen, a.options, &result, e)
	})
	if err != nil {
		return nil, err
	}
	return newRestored(result)
}

// restoreArgs are the arguments common to ccwal_restore and
// ccwal_restore_scan_new, as the C ABI takes them.
type restoreArgs struct {
	root, config       *C.uint8_t
	rootLen, configLen C.size_t
	options            *C.ccwal_restore_options
}

// callWithRestoreArgs converts root, metrics and o for the C ABI and calls
// f with them, keeping them alive until it returns.
func callWithRestoreArgs(root string, metrics map[string]int64, o RestoreOptions, f func(restoreArgs, **C.ccwal_error) C.ccwal_result) error {
	config, err := metricConfig(metrics)
	if err != nil {
		return err
	}
	options := o.c()
	a := restoreArgs{options: &options}
	a.root, a.rootLen = str(root)
	a.config, a.configLen = byteSlice(config)
	err = call(func(e **C.ccwal_error) C.ccwal_result { return f(a, e) })
	runtime.KeepAlive(root)
	runtime.KeepAlive(config)
	return err
}

func (o RestoreOptions) c() C.ccwal_restore_options {
	options := C.ccwal_restore_options{struct_size: C.sizeof_ccwal_restore_options,
		selection: C.CCWAL_SELECTION_COVERING, recovery: C.CCWAL_RECOVERY_SALVAGE, workers: C.size_t(o.Workers)}
	if o.GoExact {
		options.selection = C.CCWAL_SELECTION_GO_EXACT
	}
	if o.Strict {
		options.recovery = C.CCWAL_RECOVERY_STRICT
	}
	return options
}

// errorOf reads an error that a restore reports (a root's or a host's)
// through read, which fills its code, OS error number and message; nil
// when there was none.
func errorOf(read func(code *C.ccwal_result, osCode *C.int32_t, message **C.uint8_t, messageLen *C.size_t, e **C.ccwal_error) C.ccwal_result) (error, error) {
	var message *C.uint8_t
	var messageLen C.size_t
	var code C.ccwal_result
	var osCode C.int32_t
	if err := call(func(e **C.ccwal_error) C.ccwal_result { return read(&code, &osCode, &message, &messageLen, e) }); err != nil {
		return nil, err
	}
	if code == C.CCWAL_OK {
		return nil, nil
	}
	return &Error{Code: Code(code), Message: goBytes(message, messageLen), Errno: int(osCode)}, nil
}

// newRestored reads the root error and the hosts of a result it then owns
// (and frees on failure).
func newRestored(result *C.ccwal_restore_result) (*Restored, error) {
	out := &Restored{result: result}
	rootErr, err := errorOf(func(code *C.ccwal_result, osCode *C.int32_t, message **C.uint8_t, messageLen *C.size_t, e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_restore_root_error(result, code, osCode, message, messageLen, e)
	})
	if err != nil {
		out.Close()
		return nil, err
	}
	out.Err = rootErr
	var count C.size_t
	if err := call(func(e **C.ccwal_error) C.ccwal_result { return C.ccwal_restore_host_count(result, &count, e) }); err != nil {
		out.Close()
		return nil, err
	}
	for i := 0; i < int(count); i++ {
		h := C.ccwal_restored_host{struct_size: C.sizeof_ccwal_restored_host}
		if err := call(func(e **C.ccwal_error) C.ccwal_result { return C.ccwal_restore_host(result, C.size_t(i), &h, e) }); err != nil {
			out.Close()
			return nil, err
		}
		host := RestoredHost{
			Cluster: goBytes(h.cluster, h.cluster_len), Host: goBytes(h.host, h.host_len),
			Levels: int(h.level_count), FilesLoaded: int(h.files_loaded), FilesSkipped: int(h.files_skipped),
			RecordsApplied: uint64(h.records_applied), RecordsBeforeFrom: uint64(h.records_before_from),
			RecordsUnknownMetric: uint64(h.records_unknown_metric), RecordsRejected: uint64(h.records_rejected),
			DamagedRanges: int(h.damaged_ranges),
		}
		host.Err, err = errorOf(func(code *C.ccwal_result, osCode *C.int32_t, message **C.uint8_t, messageLen *C.size_t, e **C.ccwal_error) C.ccwal_result {
			return C.ccwal_restore_host_error(result, C.size_t(i), code, osCode, message, messageLen, e)
		})
		if err != nil {
			out.Close()
			return nil, err
		}
		out.Hosts = append(out.Hosts, host)
	}
	return out, nil
}

// RestoreScan is a root's hosts, listed once and restored one at a time by
// RestoreHost, which goroutines may call at once. A caller that copies
// each host into its own store and closes it (as the metricstore does)
// overlaps that with the next hosts' restore in its other goroutines, and
// holds only the hosts in flight instead of the whole root twice.
type RestoreScan struct {
	scan *C.ccwal_restore_scan
	// Hosts is the number of hosts, sorted by cluster, then host.
	Hosts int
	// Err is a problem of the root itself, as Restored.Err.
	Err error
}

// ScanRestore lists the hosts of root that Restore would restore with the
// same arguments (o.Workers does not apply: RestoreHost restores on the
// calling goroutine's thread).
func ScanRestore(root string, from int64, metrics map[string]int64, o RestoreOptions) (*RestoreScan, error) {
	out := &RestoreScan{}
	err := callWithRestoreArgs(root, metrics, o, func(a restoreArgs, e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_restore_scan_new(a.root, a.rootLen, C.int64_t(from), a.config, a.configLen, a.options, &out.scan, e)
	})
	if err != nil {
		return nil, err
	}
	out.Err, err = errorOf(func(code *C.ccwal_result, osCode *C.int32_t, message **C.uint8_t, messageLen *C.size_t, e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_restore_scan_root_error(out.scan, code, osCode, message, messageLen, e)
	})
	if err == nil {
		var count C.size_t
		err = call(func(e **C.ccwal_error) C.ccwal_result { return C.ccwal_restore_scan_host_count(out.scan, &count, e) })
		out.Hosts = int(count)
	}
	if err != nil {
		out.Close()
		return nil, err
	}
	return out, nil
}

// RestoreHost restores host h (0 <= h < Hosts) on the calling goroutine's
// thread, as Restore would, into a Restored holding that one host at
// index 0 (its Err is nil: the root's is s.Err), which the caller closes.
// Blocks while it reads the host's files.
func (s *RestoreScan) RestoreHost(h int) (*Restored, error) {
	var result *C.ccwal_restore_result
	if err := call(func(e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_restore_scan_host(s.scan, C.size_t(h), &result, e)
	}); err != nil {
		return nil, err
	}
	return newRestored(result)
}

// Close releases the scan; the Restored it returned stay valid until they
// are closed. No RestoreHost may be running or follow.
func (s *RestoreScan) Close() {
	C.ccwal_restore_scan_free(s.scan)
	s.scan = nil
}

// Level returns the path (selector below the host) and metric count of
// level l of host h.
func (r *Restored) Level(h, l int) (path []string, metrics int, err error) {
	level := C.ccwal_restored_level{struct_size: C.sizeof_ccwal_restored_level}
	if err := call(func(e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_restore_level(r.result, C.size_t(h), C.size_t(l), &level, e)
	}); err != nil {
		return nil, 0, err
	}
	for k := 0; k < int(level.depth); k++ {
		var ptr *C.uint8_t
		var n C.size_t
		if err := call(func(e **C.ccwal_error) C.ccwal_result {
			return C.ccwal_restore_level_path(r.result, C.size_t(h), C.size_t(l), C.size_t(k), &ptr, &n, e)
		}); err != nil {
			return nil, 0, err
		}
		path = append(path, goBytes(ptr, n))
	}
	return path, int(level.metric_count), nil
}

// Metric returns metric m of level l of host h with its chunks, oldest
// first, copied into Go slices.
func (r *Restored) Metric(h, l, m int) (name string, chunks []Chunk, err error) {
	return r.metric(h, l, m, true)
}

// MetricView is Metric without the copy: each chunk's Values points into
// the restored data and is valid only until Close (reading it after Close
// is a use after free). For a caller that copies the values into its own
// buffers anyway, it saves one copy of every value. Goroutines may call
// it, and Metric, concurrently.
func (r *Restored) MetricView(h, l, m int) (name string, chunks []Chunk, err error) {
	return r.metric(h, l, m, false)
}

func (r *Restored) metric(h, l, m int, copyValues bool) (name string, chunks []Chunk, err error) {
	metric := C.ccwal_restored_metric{struct_size: C.sizeof_ccwal_restored_metric}
	if err := call(func(e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_restore_metric(r.result, C.size_t(h), C.size_t(l), C.size_t(m), &metric, e)
	}); err != nil {
		return "", nil, err
	}
	for c := 0; c < int(metric.chunk_count); c++ {
		chunk := C.ccwal_chunk{struct_size: C.sizeof_ccwal_chunk}
		if err := call(func(e **C.ccwal_error) C.ccwal_result {
			return C.ccwal_restore_chunk(r.result, C.size_t(h), C.size_t(l), C.size_t(m), C.size_t(c), &chunk, e)
		}); err != nil {
			return "", nil, err
		}
		var values []float64
		if chunk.len > 0 {
			values = unsafe.Slice((*float64)(unsafe.Pointer(chunk.values)), int(chunk.len))
			if copyValues {
				values = append([]float64(nil), values...)
			}
		} else if copyValues {
			values = []float64{}
		}
		chunks = append(chunks, Chunk{Start: int64(chunk.start), Frequency: int64(chunk.frequency),
			Capacity: int(chunk.capacity), Archived: bool(chunk.archived), Values: values})
	}
	return goBytes(metric.name, metric.name_len), chunks, nil
}

// Close releases the restored data (chunks already copied stay valid).
func (r *Restored) Close() {
	C.ccwal_restore_result_free(r.result)
	r.result = nil
}

// CompactScope says which hosts Compact folds.
type CompactScope int

const (
	// CompactWAL folds the hosts whose WAL files hold records: what a
	// clean stop needs (reads only WAL files and snapshot headers of the
	// others).
	CompactWAL CompactScope = C.CCWAL_COMPACT_WAL
	// CompactEverything also folds hosts whose snapshots the stock server
	// would refuse to load in order and moves damaged snapshots aside;
	// reads every snapshot (an offline repair).
	CompactEverything CompactScope = C.CCWAL_COMPACT_EVERYTHING
)

// CompactResult counts what Compact did.
type CompactResult struct {
	// Folded is the number of hosts whose WAL (and out-of-order
	// snapshots) went into one new snapshot.
	Folded int
	// Published is the number of hosts whose newest snapshot was renamed
	// to the end of its data, so that the stock server's selection takes it.
	Published int
	// Failed is the number of hosts left as they were because of an error
	// (the returned error names the first).
	Failed int
}

// Compact makes root complete for the stock cc-backend v1.5.4 metricstore,
// which restores only snapshots and current.wal, in an order it accepts:
// see ccwal_compact in ccwal.h. Offline: no Store may be open on root.
// Blocks.
func Compact(root string, metrics map[string]int64, scope CompactScope) (CompactResult, error) {
	config, err := metricConfig(metrics)
	if err != nil {
		return CompactResult{}, err
	}
	configPtr, configLen := byteSlice(config)
	r, rLen := str(root)
	var folded, published, failed C.size_t
	err = call(func(e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_compact(r, rLen, configPtr, configLen, C.ccwal_compact_scope(scope),
			&folded, &published, &failed, e)
	})
	runtime.KeepAlive(root)
	runtime.KeepAlive(config)
	return CompactResult{Folded: int(folded), Published: int(published), Failed: int(failed)}, err
}
