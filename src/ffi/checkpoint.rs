//! `ccwal_checkpoint`: a checkpoint session, and its report.

use super::error::ccwal_error;
use super::guard::{guard, guard_void};
use super::snapshot::ccwal_snapshot_builder;
use super::store::ccwal_store;
use super::{Failure, bytes, ccwal_result, free_handle, handle, into_handle, item_at, out_ptr};
use super::{sized_out, sized_structs};
use crate::checkpoint::{CheckpointReport, CheckpointSession, CompactScope, Outcome};

/// A checkpoint of `[from, to]` in progress: the WAL of every host was
/// sealed when it began (appends go on), snapshots added are written by a
/// bounded pool of threads, and `ccwal_checkpoint_finish` settles the
/// sealed segments of the hosts whose snapshot was written: a segment is
/// deleted when every record in it is inside `[from, to]`, otherwise cut
/// down (atomically, under its own name) to the records outside the window
/// — backfilled or late samples the snapshot does not hold.
///
/// The host application must write each sample to memory *before*
/// appending it to the store, so that everything appended before
/// `ccwal_checkpoint_begin` is in the snapshots it builds afterwards.
///
/// Ownership: created by `ccwal_checkpoint_begin`, owned by the caller,
/// consumed by `ccwal_checkpoint_finish` or freed (abandoned: sealed
/// segments stay, restore replays them) with `ccwal_checkpoint_free`.
/// `ccwal_checkpoint_add` may be called from several threads at once.
pub struct ccwal_checkpoint {
    session: CheckpointSession,
}

/// What a finished checkpoint did.
///
/// Ownership: created by `ccwal_checkpoint_finish`, owned by the caller,
/// freed with `ccwal_checkpoint_report_free`. Immutable: any thread.
pub struct ccwal_checkpoint_report {
    report: CheckpointReport,
}

/// The outcome for one host: one of the `CCWAL_HOST_*` values.
pub type ccwal_host_outcome = i32;
/// The snapshot was written.
pub const CCWAL_HOST_WRITTEN: ccwal_host_outcome = 0;
/// Nothing to write: no file (as in Go).
pub const CCWAL_HOST_EMPTY: ccwal_host_outcome = 1;
/// The snapshot could not be written (see the message); the host's
/// sealed segments stay.
pub const CCWAL_HOST_FAILED: ccwal_host_outcome = 2;

/// Totals of a checkpoint report.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ccwal_checkpoint_totals {
    /// Set by the caller to `sizeof` this struct before the call; ccwal
    /// fills that many bytes and sets it to the bytes it filled (see
    /// "ABI stability" in ccwal.h).
    pub struct_size: usize,
    /// Hosts added to the session.
    pub hosts: usize,
    /// Snapshots written.
    pub written: usize,
    /// Hosts with nothing to write.
    pub empty: usize,
    /// Hosts whose snapshot failed.
    pub failed: usize,
    /// Bytes of snapshots written.
    pub bytes: u64,
    /// Sealed segments deleted.
    pub segments_deleted: usize,
    /// Segments cut down to their records outside `[from, to]`, and those
    /// records.
    pub segments_trimmed: usize,
    /// Records kept in trimmed segments.
    pub records_kept: u64,
    /// Hosts whose WAL could not be made durable and sealed at begin (their
    /// records stay in current.wal, which restore replays).
    pub seal_errors: usize,
    /// Segments that could not be settled: they stay whole.
    pub segment_errors: usize,
    /// How long the session took, in microseconds.
    pub duration_micros: u64,
}

/// One host of a checkpoint report; strings are owned by the report.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ccwal_checkpoint_host {
    /// Set by the caller to `sizeof` this struct before the call; ccwal
    /// fills that many bytes and sets it to the bytes it filled (see
    /// "ABI stability" in ccwal.h).
    pub struct_size: usize,
    /// The cluster name, `cluster_len` bytes.
    pub cluster: *const u8,
    /// Length of `cluster`.
    pub cluster_len: usize,
    /// The host name, `host_len` bytes.
    pub host: *const u8,
    /// Length of `host`.
    pub host_len: usize,
    /// A `CCWAL_HOST_*` value.
    pub outcome: ccwal_host_outcome,
    /// Bytes of its snapshot.
    pub bytes: u64,
    /// How long writing it took, in microseconds.
    pub duration_micros: u64,
    /// The error message of a failed host (empty otherwise).
    pub message: *const u8,
    /// Length of `message`.
    pub message_len: usize,
}

sized_structs!(
    ccwal_checkpoint_totals: duration_micros: u64,
    ccwal_checkpoint_host: message_len: usize,
);

/// Seals the WAL of every host below the store's root and starts `workers`
/// snapshot writers behind a queue of `queue` snapshots. Blocks until the
/// WAL is sealed (appends from other threads go on). Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_checkpoint_begin(
    store: *const ccwal_store,
    from: i64,
    to: i64,
    workers: usize,
    queue: usize,
    checkpoint_out: *mut *mut ccwal_checkpoint,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and writable output, as documented.
        let store = unsafe { handle(store, "store") }?;
        let out = unsafe { out_ptr(checkpoint_out, "checkpoint_out") }?;
        let session = CheckpointSession::begin(&store.inner, from, to, workers, queue)?;
        out.write(into_handle(ccwal_checkpoint { session }));
        Ok(())
    })
}

/// Queues a host's snapshot, taking the builder (even on failure: do not
/// use or free it afterwards). Blocks while the writers' queue is full.
/// Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_checkpoint_add(
    checkpoint: *const ccwal_checkpoint,
    cluster: *const u8,
    cluster_len: usize,
    host: *const u8,
    host_len: usize,
    builder: *mut ccwal_snapshot_builder,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        if builder.is_null() {
            return Err(Failure::null("builder"));
        }
        // SAFETY: a live builder handed over, as documented.
        let builder = unsafe { Box::from_raw(builder) };
        // SAFETY: live handle and (ptr, len) pairs, as documented.
        let checkpoint = unsafe { handle(checkpoint, "checkpoint") }?;
        let (cluster, host) = unsafe {
            (
                bytes(cluster, cluster_len, "cluster")?,
                bytes(host, host_len, "host")?,
            )
        };
        crate::names::validate_path_component(crate::names::NameField::Cluster, cluster)
            .map_err(crate::Error::from)?;
        crate::names::validate_path_component(crate::names::NameField::Host, host)
            .map_err(crate::Error::from)?;
        checkpoint.session.add(cluster, host, builder.inner)?;
        Ok(())
    })
}

/// Waits for every snapshot, settles the sealed segments of written hosts
/// (deleted, or cut down to the records outside `[from, to]`), frees the
/// session and writes the report to `*report_out`. Blocks.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_checkpoint_finish(
    checkpoint: *mut ccwal_checkpoint,
    report_out: *mut *mut ccwal_checkpoint_report,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: writable output, checked before the session is consumed.
        let out = unsafe { out_ptr(report_out, "report_out") }?;
        if checkpoint.is_null() {
            return Err(Failure::null("checkpoint"));
        }
        // SAFETY: a live session, consumed here, as documented.
        let checkpoint = unsafe { Box::from_raw(checkpoint) };
        out.write(into_handle(ccwal_checkpoint_report {
            report: checkpoint.session.finish(),
        }));
        Ok(())
    })
}

/// Abandons a session without finishing it (waits for snapshots already
/// queued; deletes no sealed segment); NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_checkpoint_free(checkpoint: *mut ccwal_checkpoint) {
    // SAFETY: NULL or a live session, not used afterwards.
    guard_void(|| unsafe { free_handle(checkpoint) })
}

/// The totals of a report.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_checkpoint_report_totals(
    report: *const ccwal_checkpoint_report,
    totals_out: *mut ccwal_checkpoint_totals,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and writable output, as documented.
        let report = &unsafe { handle(report, "report") }?.report;
        let out = unsafe { sized_out(totals_out, "totals_out") }?;
        let mut totals = ccwal_checkpoint_totals {
            struct_size: 0,
            hosts: report.hosts.len(),
            segments_deleted: report.segments_deleted.len(),
            segments_trimmed: report.segments_trimmed.len(),
            records_kept: report.records_kept,
            seal_errors: report.seal_errors.len(),
            segment_errors: report.delete_errors.len(),
            duration_micros: report.duration.as_micros() as u64,
            ..Default::default()
        };
        for host in &report.hosts {
            match &host.outcome {
                Outcome::Written { bytes, .. } => {
                    totals.written += 1;
                    totals.bytes += bytes;
                }
                Outcome::Empty => totals.empty += 1,
                Outcome::Failed(_) => totals.failed += 1,
            }
        }
        out.write(totals);
        Ok(())
    })
}

/// Host `index` (< totals.hosts) of a report.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_checkpoint_report_host(
    report: *const ccwal_checkpoint_report,
    index: usize,
    host_out: *mut ccwal_checkpoint_host,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and writable output, as documented.
        let report = &unsafe { handle(report, "report") }?.report;
        let out = unsafe { sized_out(host_out, "host_out") }?;
        let host = item_at(&report.hosts, index, "host")?;
        let (outcome, bytes, message) = match &host.outcome {
            Outcome::Written { bytes, .. } => (CCWAL_HOST_WRITTEN, *bytes, ""),
            Outcome::Empty => (CCWAL_HOST_EMPTY, 0, ""),
            Outcome::Failed(e) => (CCWAL_HOST_FAILED, 0, e.message()),
        };
        out.write(ccwal_checkpoint_host {
            struct_size: 0,
            cluster: host.cluster.as_ptr(),
            cluster_len: host.cluster.len(),
            host: host.host.as_ptr(),
            host_len: host.host.len(),
            outcome,
            bytes,
            duration_micros: host.duration.as_micros() as u64,
            message: message.as_ptr(),
            message_len: message.len(),
        });
        Ok(())
    })
}

/// Frees a report; NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_checkpoint_report_free(report: *mut ccwal_checkpoint_report) {
    // SAFETY: NULL or a live report, not used afterwards.
    guard_void(|| unsafe { free_handle(report) })
}

/// Deletes old snapshots below `root` by the Go rule (number ≤ `horizon`,
/// never a WAL file); writes how many were deleted to `*deleted_out`.
/// Problems with single files are not errors: they stay, and are counted
/// in `*problems_out`. Blocks. Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_cleanup(
    root: *const u8,
    root_len: usize,
    horizon: i64,
    deleted_out: *mut usize,
    problems_out: *mut usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: (ptr, len) and writable outputs, as documented.
        let root = unsafe { bytes(root, root_len, "root") }?;
        let (deleted, problems) = unsafe {
            (
                out_ptr(deleted_out, "deleted_out")?,
                out_ptr(problems_out, "problems_out")?,
            )
        };
        let path = std::path::Path::new(
            <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(root),
        );
        let report = crate::checkpoint::cleanup(path, horizon)?;
        deleted.write(report.deleted.len());
        problems.write(report.errors.len());
        Ok(())
    })
}

/// Which hosts `ccwal_compact` folds: one of the `CCWAL_COMPACT_*` values.
pub type ccwal_compact_scope = i32;
/// Hosts whose WAL files hold records (reads only WAL files and snapshot
/// headers of the others): what a clean stop needs.
pub const CCWAL_COMPACT_WAL: ccwal_compact_scope = 0;
/// Also hosts whose snapshots Go would refuse to load in order; damaged
/// snapshots are moved aside. Reads every snapshot: for an offline repair.
pub const CCWAL_COMPACT_EVERYTHING: ccwal_compact_scope = 1;

/// Makes the root complete for the stock Go metricstore (cc-backend
/// v1.5.4), which ignores sealed segments and refuses snapshots out of
/// order: for each host whose WAL files hold records (and, with
/// `CCWAL_COMPACT_EVERYTHING`, each whose snapshots Go would refuse to load
/// in order), folds everything from the earliest such record on into one
/// snapshot in place of those it replaces, removes the WAL records it
/// holds, then renames the host's newest snapshot to the end of its data so that
/// Go's selection takes it. A crash at any point loses nothing; calling it
/// again finishes the work.
///
/// Offline: no store may be open on `root` (call it after
/// `ccwal_store_close`). `metrics` is the flat configuration of
/// `ccwal_restore`. Writes the number of hosts folded, of newest snapshots
/// renamed and of hosts that failed (their files stay as they were) to the
/// `*_out`s; when a host failed, also returns that first host's error
/// (naming `CLUSTER/HOST`). Blocks (uses worker threads). Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_compact(
    root: *const u8,
    root_len: usize,
    metrics: *const u8,
    metrics_len: usize,
    scope: ccwal_compact_scope,
    folded_out: *mut usize,
    published_out: *mut usize,
    failed_out: *mut usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: (ptr, len) pairs and writable outputs, as documented.
        let root = unsafe { bytes(root, root_len, "root") }?;
        let config = super::restore::parse_metric_config(unsafe {
            bytes(metrics, metrics_len, "metrics")
        }?)?;
        let (folded, published, failed) = unsafe {
            (
                out_ptr(folded_out, "folded_out")?,
                out_ptr(published_out, "published_out")?,
                out_ptr(failed_out, "failed_out")?,
            )
        };
        let path = std::path::Path::new(
            <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(root),
        );
        let scope = match scope {
            CCWAL_COMPACT_WAL => CompactScope::Wal,
            CCWAL_COMPACT_EVERYTHING => CompactScope::Everything,
            other => {
                return Err(Failure::unknown_value(
                    "scope",
                    other,
                    &[
                        ("CCWAL_COMPACT_WAL", CCWAL_COMPACT_WAL),
                        ("CCWAL_COMPACT_EVERYTHING", CCWAL_COMPACT_EVERYTHING),
                    ],
                ));
            }
        };
        let hosts = crate::checkpoint::compact(path, &config, scope)?;
        folded.write(hosts.iter().filter(|h| h.snapshot.is_some()).count());
        published.write(hosts.iter().filter(|h| h.published.is_some()).count());
        failed.write(hosts.iter().filter(|h| h.error.is_some()).count());
        match hosts.iter().find_map(|h| h.error.as_ref().map(|e| (h, e))) {
            Some((host, error)) => Err(Failure::from(error.clone().with_context(format_args!(
                "host {}/{}",
                String::from_utf8_lossy(&host.cluster),
                String::from_utf8_lossy(&host.host)
            )))),
            None => Ok(()),
        }
    })
}
