//! `ccwal_store`: the WAL engine.

use super::error::ccwal_error;
use super::guard::{guard, guard_void};
use super::options::ccwal_options;
use super::{
    Failure, bytes, ccwal_result, free_handle, handle, into_handle, out_ptr, parse_host_list,
};
use super::{sized_out, sized_structs};
use crate::engine::Store;
use crate::error::Error;
use crate::names::{MAX_SELECTOR_DEPTH, NameError};

/// The WAL engine: background writer threads that append each host's
/// records to `ROOT/CLUSTER/HOST/current.wal`.
///
/// Ownership: created by `ccwal_store_open`, owned by the caller, freed
/// with `ccwal_store_free` (which closes it first). Thread-safe: every
/// function except `ccwal_store_free` may be called from any number of
/// threads at once. After `ccwal_store_close`, calls fail with
/// CCWAL_CLOSED.
pub struct ccwal_store {
    pub(crate) inner: Store,
}

/// A selector component for `ccwal_store_append`: `(ptr, len)`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ccwal_bytes {
    /// The bytes.
    pub ptr: *const u8,
    /// Their number.
    pub len: usize,
}

/// Counters of the engine (see `ccwal_store_stats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ccwal_stats {
    /// Set by the caller to `sizeof` this struct before the call; ccwal
    /// fills that many bytes and sets it to the bytes it filled (see
    /// "ABI stability" in ccwal.h).
    pub struct_size: usize,
    /// Samples accepted.
    pub appended: u64,
    /// Records handed to the OS.
    pub written: u64,
    /// Bytes handed to the OS.
    pub bytes_written: u64,
    /// Samples refused with CCWAL_QUEUE_FULL or CCWAL_TIMEOUT.
    pub rejected: u64,
    /// Records lost to write errors: only those still unwritten when the
    /// store closed (each reported to the event hook). Until then records
    /// whose write failed are kept and retried.
    pub failed: u64,
    /// Write errors (a host failing again with the same error counts
    /// once): out of space, I/O, permission, other.
    pub errors_no_space: u64,
    /// I/O errors.
    pub errors_io: u64,
    /// Permission errors.
    pub errors_permission: u64,
    /// Other errors.
    pub errors_other: u64,
    /// Bytes waiting in all queues, and in the fullest one.
    pub queue_bytes: u64,
    /// Bytes waiting in the fullest queue.
    pub queue_bytes_max: u64,
    /// WAL files open now.
    pub open_files: u64,
    /// fdatasync calls made.
    pub fsyncs: u64,
    /// Rounds in which a writer handed its queue to the OS.
    pub flushes: u64,
    /// The longest such round, in microseconds.
    pub max_flush_micros: u64,
    /// WAL files rotated (closed and deleted).
    pub rotations: u64,
    /// Rotations because a file reached the size limit.
    pub size_rotations: u64,
    /// Torn tails cut off before appending.
    pub torn_tails_repaired: u64,
    /// Records kept in memory after a failed write or fdatasync, waiting
    /// for a retry, and their bytes (they count against the queues).
    pub backlog_records: u64,
    /// Bytes of those records.
    pub backlog_bytes: u64,
}

sized_structs!(
    ccwal_stats: backlog_bytes: u64,
);

/// Starts the engine with `options` (not consumed). Never touches a file
/// until the first append. May block briefly (thread start).
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_store_open(
    options: *const ccwal_options,
    store_out: *mut *mut ccwal_store,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: NULL or live handles, as documented.
        let options = unsafe { handle(options, "options") }?;
        let out = unsafe { out_ptr(store_out, "store_out") }?;
        let inner = Store::open(options.store_options())?;
        out.write(into_handle(ccwal_store { inner }));
        Ok(())
    })
}

/// Appends one sample: names as `(ptr, len)`, the selector as an array of
/// `selector_len` components (NULL when 0). Names are checked in the
/// caller's thread (CCWAL_INVALID_NAME). The value is stored as float32.
/// May block when the queue is full and the policy is block. Any thread.
/// For many samples, `ccwal_store_append_batch` costs one call, not one per
/// sample.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_store_append(
    store: *const ccwal_store,
    cluster: *const u8,
    cluster_len: usize,
    host: *const u8,
    host_len: usize,
    metric: *const u8,
    metric_len: usize,
    selector: *const ccwal_bytes,
    selector_len: usize,
    value: f64,
    ts: i64,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and (ptr, len) pairs, as documented.
        let store = unsafe { handle(store, "store") }?;
        let (cluster, host, metric) = unsafe {
            (
                bytes(cluster, cluster_len, "cluster")?,
                bytes(host, host_len, "host")?,
                bytes(metric, metric_len, "metric")?,
            )
        };
        if selector_len > MAX_SELECTOR_DEPTH {
            return Err(Error::from(NameError::TooManySelectors {
                count: selector_len,
            })
            .into());
        }
        let components: &[ccwal_bytes] = if selector_len == 0 {
            &[]
        } else if selector.is_null() {
            return Err(Failure::null("selector"));
        } else {
            // SAFETY: `selector_len` readable elements, as documented.
            unsafe { std::slice::from_raw_parts(selector, selector_len) }
        };
        // The per-sample path: typical selectors (≤ 8 deep) stay on the stack.
        let mut stack: [&[u8]; 8] = [&[]; 8];
        let mut heap = Vec::new();
        let parts: &mut [&[u8]] = if components.len() <= stack.len() {
            &mut stack[..components.len()]
        } else {
            heap.resize(components.len(), &[][..]);
            &mut heap
        };
        for (part, c) in parts.iter_mut().zip(components) {
            // SAFETY: each component is a (ptr, len) pair, as documented.
            *part = unsafe { bytes(c.ptr, c.len, "a selector component") }?;
        }
        let parts: &[&[u8]] = parts;
        store
            .inner
            .append(cluster, host, metric, parts, value, ts)?;
        Ok(())
    })
}

/// Appends a batch of samples from one flat, pointer-free buffer — whole or
/// not at all. Layout, per sample, little-endian and unaligned:
///
/// ```text
/// i64 ts | f64 value | u16 cluster_len | u16 host_len | u16 metric_len |
/// u8 selector_count | cluster | host | metric | selector_count × (u8 len, bytes)
/// ```
///
/// A malformed buffer (a length running past the end, a bad name) fails
/// with CCWAL_INVALID_ARGUMENT or CCWAL_INVALID_NAME naming the sample, and
/// nothing is queued. The buffer is read during the call only (so Go may
/// pass a []byte). May block as `ccwal_store_append`. Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_store_append_batch(
    store: *const ccwal_store,
    batch: *const u8,
    batch_len: usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and (ptr, len), as documented.
        let store = unsafe { handle(store, "store") }?;
        let batch = unsafe { bytes(batch, batch_len, "batch") }?;
        store.inner.append_encoded_batch(batch)?;
        Ok(())
    })
}

/// Returns CCWAL_OK when every sample appended before the call, by any
/// thread, is handed to the OS (it survives a crash of the process). When
/// some could not be written (a full or failing disk, no descriptors),
/// returns CCWAL_IO with the OS error code in the error detail, naming the
/// file: those samples are kept and retried, and a later call answers
/// again. Blocks for one round of the writer threads, never longer (it
/// does not wait for a failing disk to recover). Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_store_flush(
    store: *const ccwal_store,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle, as documented.
        unsafe { handle(store, "store") }?.inner.flush()?;
        Ok(())
    })
}

/// Returns CCWAL_OK when every sample appended before the call, by any
/// thread, is on stable storage: file data fdatasynced and new directory
/// entries fsynced (group commit: concurrent callers share the syncs).
/// Otherwise CCWAL_IO, as `ccwal_store_flush`; after a failed fdatasync the
/// samples are written again from ccwal's own copy, never assumed safe.
/// Blocks for one round of the writer threads, never longer. Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_store_sync(
    store: *const ccwal_store,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle, as documented.
        unsafe { handle(store, "store") }?.inner.sync()?;
        Ok(())
    })
}

/// Closes and deletes current.wal of each host (Go's rotation), after every
/// record of that host appended before the call. `hosts` is a flat list:
/// per host `u16 cluster_len | u16 host_len | cluster | host`. Blocks until
/// done. Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_store_rotate(
    store: *const ccwal_store,
    hosts: *const u8,
    hosts_len: usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and (ptr, len), as documented.
        let store = unsafe { handle(store, "store") }?;
        let hosts = parse_host_list(unsafe { bytes(hosts, hosts_len, "hosts") }?)?;
        store.inner.rotate(&hosts)?;
        Ok(())
    })
}

/// Copies the engine's counters to `*stats_out`. Never blocks for long.
/// Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_store_stats(
    store: *const ccwal_store,
    stats_out: *mut ccwal_stats,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and writable output, as documented.
        let store = unsafe { handle(store, "store") }?;
        let out = unsafe { sized_out(stats_out, "stats_out") }?;
        let s = store.inner.stats();
        out.write(ccwal_stats {
            struct_size: 0,
            appended: s.appended,
            written: s.written,
            bytes_written: s.bytes_written,
            rejected: s.rejected,
            failed: s.failed,
            errors_no_space: s.errors_no_space.errors,
            errors_io: s.errors_io.errors,
            errors_permission: s.errors_permission.errors,
            errors_other: s.errors_other.errors,
            queue_bytes: s.queue_bytes.iter().sum(),
            queue_bytes_max: s.queue_bytes.iter().copied().max().unwrap_or(0),
            open_files: s.open_files,
            fsyncs: s.fsyncs,
            flushes: s.flushes,
            max_flush_micros: s.max_flush_micros,
            rotations: s.rotations,
            size_rotations: s.size_rotations,
            torn_tails_repaired: s.torn_tails_repaired,
            backlog_records: s.backlog_records,
            backlog_bytes: s.backlog_bytes,
        });
        Ok(())
    })
}

/// Stops accepting (later calls fail with CCWAL_CLOSED), writes what is
/// queued (retrying failed writes once more), fdatasyncs unless durability
/// is none, closes the files and joins the threads. Returns the first error
/// of that final write and sync (CCWAL_IO with the OS code): samples still
/// unwritten then are lost and counted in `failed`. Idempotent: a second
/// call returns the same result. Blocks. Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_store_close(
    store: *const ccwal_store,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle, as documented.
        unsafe { handle(store, "store") }?.inner.close()?;
        Ok(())
    })
}

/// Closes (as `ccwal_store_close`) and frees the store; NULL is ignored.
/// No other call on the store may run or follow. Blocks.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_store_free(store: *mut ccwal_store) {
    // SAFETY: NULL or a live store, not used afterwards, as documented.
    guard_void(|| unsafe { free_handle(store) })
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;
    use std::ptr::null_mut;

    use super::*;
    use crate::ffi::options::{ccwal_options_free, ccwal_options_new};
    use crate::ffi::test_util::take_error;
    use crate::ffi::{CCWAL_INVALID_ARGUMENT, CCWAL_OK};

    /// A caller built against a newer header: its ccwal_stats has a field
    /// this library does not know.
    #[repr(C)]
    struct NewerStats {
        known: ccwal_stats,
        added_later: u64,
    }

    #[test]
    fn stats_fill_as_many_bytes_as_the_caller_has_and_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().as_os_str().as_encoded_bytes();
        let (mut options, mut store) = (null_mut(), null_mut());
        assert_eq!(
            ccwal_options_new(root.as_ptr(), root.len(), &mut options, null_mut()),
            CCWAL_OK
        );
        assert_eq!(ccwal_store_open(options, &mut store, null_mut()), CCWAL_OK);
        ccwal_options_free(options);
        let sample = b"c";
        assert_eq!(
            ccwal_store_append(
                store,
                sample.as_ptr(),
                1,
                sample.as_ptr(),
                1,
                sample.as_ptr(),
                1,
                std::ptr::null(),
                0,
                1.0,
                60,
                null_mut()
            ),
            CCWAL_OK
        );

        let mut stats = ccwal_stats {
            struct_size: size_of::<ccwal_stats>(),
            ..Default::default()
        };
        assert_eq!(ccwal_store_stats(store, &mut stats, null_mut()), CCWAL_OK);
        assert_eq!(
            (stats.struct_size, stats.appended),
            (size_of::<ccwal_stats>(), 1)
        );

        let mut newer = NewerStats {
            known: ccwal_stats {
                struct_size: size_of::<NewerStats>(),
                ..Default::default()
            },
            added_later: 0xdead_beef,
        };
        assert_eq!(
            ccwal_store_stats(store, &mut newer.known, null_mut()),
            CCWAL_OK
        );
        assert_eq!(newer.known.struct_size, size_of::<ccwal_stats>());
        assert_eq!(newer.known.appended, 1);
        assert_eq!(newer.added_later, 0xdead_beef, "untouched");

        for too_small in [0, 8, size_of::<ccwal_stats>() - 1] {
            let mut stats = ccwal_stats {
                struct_size: too_small,
                appended: 77,
                ..Default::default()
            };
            let mut error = null_mut();
            let rc = ccwal_store_stats(store, &mut stats, &mut error);
            assert_eq!(rc, CCWAL_INVALID_ARGUMENT, "{too_small}");
            let (_, message) = take_error(error);
            assert!(message.contains("stats_out->struct_size"), "{message}");
            assert_eq!((stats.struct_size, stats.appended), (too_small, 77));
        }
        ccwal_store_free(store);
    }
}
