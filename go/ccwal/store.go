package ccwal

/*
#include <stdlib.h>
#include "ccwal.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Durability says when written records are forced to disk.
type Durability int

const (
	// DurabilityNone hands records to the OS every round; Sync forces them.
	DurabilityNone Durability = iota
	// DurabilityInterval also fdatasyncs every Options.SyncInterval.
	DurabilityInterval
	// DurabilityAlways fdatasyncs every round before the next.
	DurabilityAlways
)

// Backpressure says what a write does when its queue is full.
type Backpressure int

const (
	// Block waits for room (at most Options.BlockTimeout when set).
	Block Backpressure = iota
	// Reject fails at once with ErrQueueFull.
	Reject
)

// Options configure a Store; zero values take the library's defaults.
type Options struct {
	// Root is the checkpoint directory: ROOT/CLUSTER/HOST/current.wal.
	Root string
	// Shards is the number of writer threads; 0: one per core.
	Shards int
	// QueueCapacity is the bytes of encoded records each shard may queue;
	// 0: the default, 8 MiB.
	QueueCapacity int
	// Durability says when records are forced to disk; the zero value is
	// DurabilityNone, the library's default.
	Durability Durability
	// SyncInterval is the period of DurabilityInterval's fdatasync, in
	// whole milliseconds (at least 1ms with DurabilityInterval); ignored
	// otherwise.
	SyncInterval time.Duration
	// FlushInterval is how often an idle writer wakes up, in whole
	// milliseconds; 0: the default, 1s.
	FlushInterval time.Duration
	// MaxOpenFiles is the number of WAL descriptors kept open across all
	// shards; 0: the default, half the soft RLIMIT_NOFILE (64 to 16384).
	MaxOpenFiles int
	// MaxWALBytes is the size, in bytes, at which a host's current.wal is
	// deleted and restarted, as in Go; 0: no limit.
	MaxWALBytes int64
	// Backpressure says what a write does when its queue is full; the zero
	// value is Block, the library's default.
	Backpressure Backpressure
	// BlockTimeout bounds the wait of Block, in whole milliseconds; 0:
	// wait without limit.
	BlockTimeout time.Duration
	// OnEvent receives the engine's events (write errors, repaired torn
	// tails, size rotations) from its writer threads: keep it quick.
	OnEvent func(Event)
}

// Store is the WAL engine. All methods are safe for concurrent use.
type Store struct {
	store *C.ccwal_store
	hook  *eventHook
}

// str passes a Go string to C for the duration of one call, without a copy.
func str(s string) (*C.uint8_t, C.size_t) {
	return (*C.uint8_t)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}

// byteSlice passes a Go byte slice to C for the duration of one call,
// without a copy (NULL when empty); keep b alive until the call returns.
func byteSlice(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))
}

func call(f func(errOut **C.ccwal_error) C.ccwal_result) error {
	var detail *C.ccwal_error
	rc := f(&detail)
	return toError(rc, detail)
}

func millis(d time.Duration) C.uint64_t {
	return C.uint64_t(d / time.Millisecond)
}

// Open starts the engine.
func Open(o Options) (*Store, error) {
	var opts *C.ccwal_options
	root, rootLen := str(o.Root)
	if err := call(func(e **C.ccwal_error) C.ccwal_result { return C.ccwal_options_new(root, rootLen, &opts, e) }); err != nil {
		return nil, err
	}
	runtime.KeepAlive(o.Root)
	defer C.ccwal_options_free(opts)
	settings := []func(e **C.ccwal_error) C.ccwal_result{}
	if o.Shards > 0 {
		settings = append(settings, func(e **C.ccwal_error) C.ccwal_result {
			return C.ccwal_options_set_shards(opts, C.size_t(o.Shards), e)
		})
	}
	if o.QueueCapacity > 0 {
		settings = append(settings, func(e **C.ccwal_error) C.ccwal_result {
			return C.ccwal_options_set_queue_capacity(opts, C.size_t(o.QueueCapacity), e)
		})
	}
	if o.FlushInterval > 0 {
		settings = append(settings, func(e **C.ccwal_error) C.ccwal_result {
			return C.ccwal_options_set_flush_interval_ms(opts, millis(o.FlushInterval), e)
		})
	}
	if o.MaxOpenFiles > 0 {
		settings = append(settings, func(e **C.ccwal_error) C.ccwal_result {
			return C.ccwal_options_set_max_open_files(opts, C.size_t(o.MaxOpenFiles), e)
		})
	}
	settings = append(settings,
		func(e **C.ccwal_error) C.ccwal_result {
			mode := [...]C.ccwal_durability{C.CCWAL_DURABILITY_NONE, C.CCWAL_DURABILITY_INTERVAL, C.CCWAL_DURABILITY_ALWAYS}[o.Durability]
			return C.ccwal_options_set_durability(opts, mode, millis(o.SyncInterval), e)
		},
		func(e **C.ccwal_error) C.ccwal_result {
			return C.ccwal_options_set_max_wal_bytes(opts, C.uint64_t(o.MaxWALBytes), e)
		},
		func(e **C.ccwal_error) C.ccwal_result {
			policy := C.ccwal_backpressure(C.CCWAL_BACKPRESSURE_BLOCK)
			if o.Backpressure == Reject {
				policy = C.CCWAL_BACKPRESSURE_REJECT
			}
			return C.ccwal_options_set_backpressure(opts, policy, millis(o.BlockTimeout), e)
		})
	for _, set := range settings {
		if err := call(set); err != nil {
			return nil, err
		}
	}
	s := &Store{}
	if o.OnEvent != nil {
		s.hook = newEventHook(o.OnEvent)
		if err := call(func(e **C.ccwal_error) C.ccwal_result { return s.hook.install(opts, e) }); err != nil {
			s.hook.release()
			return nil, err
		}
	}
	if err := call(func(e **C.ccwal_error) C.ccwal_result { return C.ccwal_store_open(opts, &s.store, e) }); err != nil {
		if s.hook != nil {
			s.hook.release()
		}
		return nil, err
	}
	runtime.SetFinalizer(s, (*Store).free)
	return s, nil
}

// Batch is a reusable set of samples in ccwal's flat, pointer-free layout:
// Add appends to one byte slice, so a warm batch allocates nothing, and
// WriteBatch passes the whole batch in one cgo call.
type Batch struct {
	buf []byte
	n   int
	// The last cluster and host names found valid: samples come in runs of
	// one host, so their names are checked once per run, not per sample.
	cluster, host string
}

// maxPathComponent is the longest cluster or host name (one directory
// name on Linux).
const maxPathComponent = 255

// sampleHeader is the fixed part of a sample: ts, value, the three name
// lengths and the selector count.
const sampleHeader = 8 + 8 + 2 + 2 + 2 + 1

// checkNewPathName refuses, with ErrInvalidName, a cluster or host name
// that cannot be a single directory below the root (the library's rule,
// checked here too so that one bad sample never spoils a whole batch), and
// remembers a valid one in *valid.
func checkNewPathName(field, name string, valid *string) error {
	if err := fitsLength(field, name, maxPathComponent); err != nil {
		return err
	}
	if name == "" || name == "." || strings.Contains(name, "..") || strings.ContainsAny(name, "/\\\x00") {
		return &Error{Code: CodeInvalidName, Message: field + " must be a single directory name: not empty or \".\", without \"..\", \"/\", \"\\\" or NUL"}
	}
	// Written only when the name changes: a pointer store costs a write
	// barrier check.
	*valid = name
	return nil
}

// checkPathName is checkNewPathName, skipped (and inlined) when name is
// *valid, the last one found valid ("" until there is one).
func checkPathName(field, name string, valid *string) error {
	if name == *valid && name != "" {
		return nil
	}
	return checkNewPathName(field, name, valid)
}

// checkNames refuses the names the library would refuse (the cluster and
// host only when they differ from the last ones found valid) and returns
// the selector's share of the sample's size.
func (b *Batch) checkNames(cluster, host, metric string, selector []string) (int, error) {
	if err := checkPathName("cluster", cluster, &b.cluster); err != nil {
		return 0, err
	}
	if err := checkPathName("host", host, &b.host); err != nil {
		return 0, err
	}
	if err := fitsLength("metric name", metric, math.MaxUint16); err != nil {
		return 0, err
	}
	if len(selector) > math.MaxUint8 {
		return 0, &Error{Code: CodeInvalidName, Message: fmt.Sprintf("selector has %d components, at most %d fit", len(selector), math.MaxUint8)}
	}
	size := len(selector)
	for i, component := range selector {
		if len(component) > math.MaxUint8 { // the field name is formatted only for the error
			return 0, fitsLength(fmt.Sprintf("selector[%d]", i), component, math.MaxUint8)
		}
		size += len(component)
	}
	return size, nil
}

// Add appends one sample. Names the library would refuse are refused here
// with ErrInvalidName (nothing is added), so a batch is always accepted
// whole.
func (b *Batch) Add(cluster, host, metric string, selector []string, value float64, ts int64) error {
	selectorSize, err := b.checkNames(cluster, host, metric, selector)
	if err != nil {
		return err
	}
	// Grown once and filled in place: one capacity check per sample.
	at := len(b.buf)
	b.buf = slices.Grow(b.buf, sampleHeader+len(cluster)+len(host)+len(metric)+selectorSize)
	b.buf = b.buf[:at+sampleHeader+len(cluster)+len(host)+len(metric)+selectorSize]
	p := b.buf[at:]
	_ = p[sampleHeader-1]
	binary.LittleEndian.PutUint64(p, uint64(ts))
	binary.LittleEndian.PutUint64(p[8:], math.Float64bits(value))
	binary.LittleEndian.PutUint16(p[16:], uint16(len(cluster)))
	binary.LittleEndian.PutUint16(p[18:], uint16(len(host)))
	binary.LittleEndian.PutUint16(p[20:], uint16(len(metric)))
	p[22] = byte(len(selector))
	p = p[sampleHeader+copy(p[sampleHeader:], cluster):]
	p = p[copy(p, host):]
	p = p[copy(p, metric):]
	for _, component := range selector {
		p[0] = byte(len(component))
		p = p[1+copy(p[1:], component):]
	}
	b.n++
	return nil
}

// Len is the number of samples in the batch.
func (b *Batch) Len() int { return b.n }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	b.buf = b.buf[:0]
	b.n = 0
}

// WriteBatch queues every sample of the batch, or none (a bad name, a full
// queue under Reject). The batch may be reused as soon as it returns.
func (s *Store) WriteBatch(b *Batch) error {
	if len(b.buf) == 0 {
		return nil
	}
	ptr := (*C.uint8_t)(unsafe.Pointer(&b.buf[0]))
	err := call(func(e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_store_append_batch(s.store, ptr, C.size_t(len(b.buf)), e)
	})
	runtime.KeepAlive(b)
	return err
}

var batchPool = sync.Pool{New: func() any { return new(Batch) }}

// Write queues one sample. Overlong names are refused (ErrInvalidName),
// never truncated. Prefer WriteBatch for many samples: one call for all.
func (s *Store) Write(cluster, host, metric string, selector []string, value float64, ts int64) error {
	b := batchPool.Get().(*Batch)
	defer func() {
		b.Reset()
		batchPool.Put(b)
	}()
	if err := b.Add(cluster, host, metric, selector, value, ts); err != nil {
		return err
	}
	return s.WriteBatch(b)
}

// Flush returns when every sample written before it, by any goroutine, is
// handed to the OS.
func (s *Store) Flush() error {
	return call(func(e **C.ccwal_error) C.ccwal_result { return C.ccwal_store_flush(s.store, e) })
}

// Sync returns when every sample written before it is on disk.
func (s *Store) Sync() error {
	return call(func(e **C.ccwal_error) C.ccwal_result { return C.ccwal_store_sync(s.store, e) })
}

// Host names a host directory, ROOT/CLUSTER/HOST.
type Host struct {
	// Cluster and Host are the two directory names below the root.
	Cluster, Host string
}

// Rotate closes and deletes current.wal of each host, after every sample
// of that host written before the call (the Go metricstore's rotation).
func (s *Store) Rotate(hosts []Host) error {
	list, err := hostList(hosts)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return nil
	}
	return call(func(e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_store_rotate(s.store, (*C.uint8_t)(unsafe.Pointer(&list[0])), C.size_t(len(list)), e)
	})
}

// Stats are the engine's counters.
type Stats struct {
	// Appended counts the samples accepted.
	Appended uint64
	// Written counts the records handed to the OS.
	Written uint64
	// BytesWritten counts the bytes handed to the OS.
	BytesWritten uint64
	// Rejected counts the samples refused with ErrQueueFull or ErrTimeout.
	Rejected uint64
	// Failed counts the records lost to write errors: only those still
	// unwritten when the store closed (each reported as an Event). Until
	// then records whose write failed are kept and retried.
	Failed uint64
	// ErrorsNoSpace counts the out-of-space write errors (a host failing
	// again with the same error counts once; so do the three below).
	ErrorsNoSpace uint64
	// ErrorsIO counts the I/O write errors.
	ErrorsIO uint64
	// ErrorsPermission counts the permission write errors.
	ErrorsPermission uint64
	// ErrorsOther counts the other write errors.
	ErrorsOther uint64
	// QueueBytes is the bytes waiting in all queues now.
	QueueBytes uint64
	// QueueBytesMax is the bytes waiting in the fullest queue now.
	QueueBytesMax uint64
	// OpenFiles is the number of WAL files open now.
	OpenFiles uint64
	// Fsyncs counts the fdatasync calls made.
	Fsyncs uint64
	// Flushes counts the rounds in which a writer handed its queue to the
	// OS.
	Flushes uint64
	// MaxFlushMicros is the longest such round, in microseconds.
	MaxFlushMicros uint64
	// Rotations counts the WAL files rotated (closed and deleted).
	Rotations uint64
	// SizeRotations counts the rotations because a file reached
	// MaxWALBytes.
	SizeRotations uint64
	// TornTailsRepaired counts the torn tails cut off before appending.
	TornTailsRepaired uint64
	// BacklogRecords is the records kept in memory now because their write
	// or fdatasync failed, waiting for a retry.
	BacklogRecords uint64
	// BacklogBytes is their bytes (they count against the queue capacity).
	BacklogBytes uint64
}

// Stats returns the engine's counters.
func (s *Store) Stats() (Stats, error) {
	c := C.ccwal_stats{struct_size: C.sizeof_ccwal_stats}
	if err := call(func(e **C.ccwal_error) C.ccwal_result { return C.ccwal_store_stats(s.store, &c, e) }); err != nil {
		return Stats{}, err
	}
	return Stats{
		uint64(c.appended), uint64(c.written), uint64(c.bytes_written), uint64(c.rejected), uint64(c.failed),
		uint64(c.errors_no_space), uint64(c.errors_io), uint64(c.errors_permission), uint64(c.errors_other),
		uint64(c.queue_bytes), uint64(c.queue_bytes_max), uint64(c.open_files), uint64(c.fsyncs), uint64(c.flushes),
		uint64(c.max_flush_micros), uint64(c.rotations), uint64(c.size_rotations), uint64(c.torn_tails_repaired),
		uint64(c.backlog_records), uint64(c.backlog_bytes),
	}, nil
}

// Close stops accepting (later calls fail with ErrClosed), writes what is
// queued, syncs unless durability is none, closes the files and stops the
// threads. Idempotent. The handle itself is released when the Store is
// garbage collected, so late calls get ErrClosed, never a crash.
func (s *Store) Close() error {
	return call(func(e **C.ccwal_error) C.ccwal_result { return C.ccwal_store_close(s.store, e) })
}

func (s *Store) free() {
	C.ccwal_store_free(s.store)
	if s.hook != nil {
		s.hook.release()
	}
}
