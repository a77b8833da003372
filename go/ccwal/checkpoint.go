package ccwal

/*
#include "ccwal.h"
*/
import "C"

import (
	"runtime"
	"time"
	"unsafe"
)

// Snapshot is one host's snapshot being built: a level's metrics first,
// then each child level between BeginChild and EndChild. Values are copied
// once, straight into the file's bytes. Not safe for concurrent use.
type Snapshot struct {
	builder *C.ccwal_snapshot_builder
}

// NewSnapshot starts a snapshot of the window [from, to].
func NewSnapshot(from, to int64) (*Snapshot, error) {
	s := &Snapshot{}
	err := call(func(e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_snapshot_builder_new(C.int64_t(from), C.int64_t(to), &s.builder, e)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// AddMetric adds a metric to the current level: values[i] is the sample at
// start + i*frequency (NaN = missing).
func (s *Snapshot) AddMetric(name string, frequency, start int64, values []float64) error {
	n, nLen := str(name)
	var ptr *C.double
	if len(values) > 0 {
		ptr = (*C.double)(unsafe.Pointer(&values[0]))
	}
	err := call(func(e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_snapshot_builder_add_metric_f64(s.builder, n, nLen, C.int64_t(frequency), C.int64_t(start),
			ptr, C.size_t(len(values)), e)
	})
	runtime.KeepAlive(name)
	runtime.KeepAlive(values)
	return err
}

// BeginChild opens a child level (a selector component) of the current level.
func (s *Snapshot) BeginChild(name string) error {
	n, nLen := str(name)
	err := call(func(e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_snapshot_builder_begin_child(s.builder, n, nLen, e)
	})
	runtime.KeepAlive(name)
	return err
}

// EndChild closes the child level opened last.
func (s *Snapshot) EndChild() error {
	return call(func(e **C.ccwal_error) C.ccwal_result { return C.ccwal_snapshot_builder_end_child(s.builder, e) })
}

// Free releases a snapshot that was not handed to a checkpoint.
func (s *Snapshot) Free() {
	C.ccwal_snapshot_builder_free(s.builder)
	s.builder = nil
}

// WriteSnapshot writes ROOT/CLUSTER/HOST/<from>.bin atomically and durably,
// for hosts that do not use checkpoint sessions. The snapshot stays owned by
// the caller (Free it).
func WriteSnapshot(root, cluster, host string, from int64, s *Snapshot) error {
	r, rLen := str(root)
	c, cLen := str(cluster)
	h, hLen := str(host)
	err := call(func(e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_write_snapshot(r, rLen, c, cLen, h, hLen, C.int64_t(from), s.builder, e)
	})
	runtime.KeepAlive(root)
	runtime.KeepAlive(cluster)
	runtime.KeepAlive(host)
	return err
}

// Checkpoint is a checkpoint session: BeginCheckpoint sealed every host's
// WAL (writes went on), Add queues one snapshot per host, Finish waits and
// deletes the sealed segments of the hosts whose snapshot was written.
// Write each sample to memory before writing it to the Store, so that the
// snapshots built after BeginCheckpoint hold everything written before it.
type Checkpoint struct {
	session *C.ccwal_checkpoint
}

// BeginCheckpoint starts a checkpoint of [from, to] with `workers` writer
// threads behind a queue of `queue` snapshots.
func (s *Store) BeginCheckpoint(from, to int64, workers, queue int) (*Checkpoint, error) {
	c := &Checkpoint{}
	err := call(func(e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_checkpoint_begin(s.store, C.int64_t(from), C.int64_t(to), C.size_t(workers), C.size_t(queue),
			&c.session, e)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Add queues a host's snapshot and takes it (do not use or free it after).
// Safe for concurrent use. Blocks while the writers' queue is full.
func (c *Checkpoint) Add(cluster, host string, snapshot *Snapshot) error {
	cl, clLen := str(cluster)
	h, hLen := str(host)
	builder := snapshot.builder
	snapshot.builder = nil
	err := call(func(e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_checkpoint_add(c.session, cl, clLen, h, hLen, builder, e)
	})
	runtime.KeepAlive(cluster)
	runtime.KeepAlive(host)
	return err
}

// HostOutcome is what happened to one host's snapshot.
type HostOutcome struct {
	// Cluster and Host name the host as given to Add.
	Cluster, Host string
	// Written: its snapshot was written and its sealed segments settled.
	Written bool
	// Empty: the snapshot held nothing, so no file was written (as in Go).
	Empty bool
	// Bytes is the size of the snapshot in bytes.
	Bytes uint64
	// Duration is how long writing the snapshot took (measured in
	// microseconds).
	Duration time.Duration
	// Err is set for a host whose snapshot failed (an *Error with CodeIO
	// and the library's message); its WAL segments stay. nil otherwise.
	Err error
}

// CheckpointReport is what a checkpoint did.
type CheckpointReport struct {
	// Hosts has one outcome per host added to the session.
	Hosts []HostOutcome
	// Written and Failed count the snapshots written and the hosts whose
	// snapshot failed (empty hosts are in neither).
	Written, Failed int
	// Bytes is the total size of the snapshots written, in bytes.
	Bytes uint64
	// SegmentsDeleted is the number of sealed WAL segments deleted because
	// the snapshot holds every record in them.
	SegmentsDeleted int
	// Segments cut down to the records outside [from, to] (backfilled or
	// late samples the snapshot does not hold), and those records.
	SegmentsTrimmed int
	// RecordsKept is the number of records kept in the trimmed segments.
	RecordsKept uint64
	// Hosts whose WAL could not be sealed (their records stay in
	// current.wal) and segments that could not be settled (they stay whole).
	SealErrors, SegmentErrors int
	// Duration is how long the session took, up to the end of Finish
	// (measured in microseconds).
	Duration time.Duration
}

// Finish waits for every snapshot, deletes the sealed segments of the hosts
// written, and reports. The session is consumed.
func (c *Checkpoint) Finish() (CheckpointReport, error) {
	var report *C.ccwal_checkpoint_report
	if err := call(func(e **C.ccwal_error) C.ccwal_result { return C.ccwal_checkpoint_finish(c.session, &report, e) }); err != nil {
		return CheckpointReport{}, err
	}
	c.session = nil
	defer C.ccwal_checkpoint_report_free(report)
	totals := C.ccwal_checkpoint_totals{struct_size: C.sizeof_ccwal_checkpoint_totals}
	if err := call(func(e **C.ccwal_error) C.ccwal_result { return C.ccwal_checkpoint_report_totals(report, &totals, e) }); err != nil {
		return CheckpointReport{}, err
	}
	out := CheckpointReport{
		Written:         int(totals.written),
		Failed:          int(totals.failed),
		Bytes:           uint64(totals.bytes),
		SegmentsDeleted: int(totals.segments_deleted),
		SegmentsTrimmed: int(totals.segments_trimmed),
		RecordsKept:     uint64(totals.records_kept),
		SealErrors:      int(totals.seal_errors),
		SegmentErrors:   int(totals.segment_errors),
		Duration:        time.Duration(totals.duration_micros) * time.Microsecond,
	}
	for i := 0; i < int(totals.hosts); i++ {
		h := C.ccwal_checkpoint_host{struct_size: C.sizeof_ccwal_checkpoint_host}
		if err := call(func(e **C.ccwal_error) C.ccwal_result {
			return C.ccwal_checkpoint_report_host(report, C.size_t(i), &h, e)
		}); err != nil {
			return CheckpointReport{}, err
		}
		outcome := HostOutcome{
			Cluster:  goBytes(h.cluster, h.cluster_len),
			Host:     goBytes(h.host, h.host_len),
			Written:  h.outcome == C.CCWAL_HOST_WRITTEN,
			Empty:    h.outcome == C.CCWAL_HOST_EMPTY,
			Bytes:    uint64(h.bytes),
			Duration: time.Duration(h.duration_micros) * time.Microsecond,
		}
		if h.outcome == C.CCWAL_HOST_FAILED {
			outcome.Err = &Error{Code: CodeIO, Message: goBytes(h.message, h.message_len)}
		}
		out.Hosts = append(out.Hosts, outcome)
	}
	return out, nil
}

// Cleanup deletes old snapshots below root by the Go rule (number ≤
// horizon, never a WAL file). Files it could not delete are counted in
// problems and stay.
func Cleanup(root string, horizon int64) (deleted, problems int, err error) {
	r, rLen := str(root)
	var d, p C.size_t
	err = call(func(e **C.ccwal_error) C.ccwal_result { return C.ccwal_cleanup(r, rLen, C.int64_t(horizon), &d, &p, e) })
	runtime.KeepAlive(root)
	return int(d), int(p), err
}

func goBytes(ptr *C.uint8_t, n C.size_t) string {
	if n == 0 {
		return ""
	}
	return C.GoStringN((*C.char)(unsafe.Pointer(ptr)), C.int(n))
}
