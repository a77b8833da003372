//! Counters of the engine, and the events it reports to the caller's hook.

use std::sync::atomic::{AtomicU64, Ordering};

/// How serious an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventLevel {
    /// Informational (a rotation, a repaired torn tail).
    Info,
    /// Something went wrong and was handled.
    Warning,
    /// Records could not be written.
    Error,
}

/// Something the engine did on its own or that went wrong for one host:
/// a write error, a torn tail cut off, a file moved aside, a rotation
/// because of the size limit.
#[derive(Debug, Clone)]
pub struct Event {
    /// How serious it is.
    pub level: EventLevel,
    /// The cluster and host concerned.
    pub cluster: Vec<u8>,
    /// The host's name.
    pub host: Vec<u8>,
    /// What happened.
    pub message: String,
}

/// The caller's event hook. Called from the engine's writer threads, so it
/// must be quick and must not call back into the store.
pub type EventHook = dyn Fn(&Event) + Send + Sync;

/// Kinds of write errors counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteErrorKind {
    NoSpace,
    Io,
    Permission,
    Other,
}

impl WriteErrorKind {
    pub(crate) fn of(os_code: Option<i32>) -> Self {
        match os_code {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => WriteErrorKind::NoSpace,
            Some(libc::EIO) => WriteErrorKind::Io,
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
                WriteErrorKind::Permission
            }
            _ => WriteErrorKind::Other,
        }
    }
}

/// Write errors of one kind: how often one struck a host (a host that keeps
/// failing with the same error counts once), and how many records were
/// lost to it — only when the store closed while it lasted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ErrorCount {
    /// Errors of this kind (a host failing again with the same error counts once).
    pub errors: u64,
    /// Records lost to them (unwritten when the store closed).
    pub records_lost: u64,
}

/// A point-in-time copy of the engine's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Samples accepted by `append`/`append_batch`.
    pub appended: u64,
    /// Records handed to the OS.
    pub written: u64,
    /// Bytes handed to the OS.
    pub bytes_written: u64,
    /// Samples refused with `QueueFull` or `Timeout`.
    pub rejected: u64,
    /// Records lost to write errors (the sum over `errors_*`): only records
    /// still unwritten when the store closed; before that, records whose
    /// write failed are kept and retried.
    pub failed: u64,
    /// Records kept in memory because their write or fdatasync failed,
    /// waiting for a retry.
    pub backlog_records: u64,
    /// Their bytes (they count against the queue capacity).
    pub backlog_bytes: u64,
    /// Out of space (ENOSPC, EDQUOT).
    pub errors_no_space: ErrorCount,
    /// I/O errors (EIO and the like).
    pub errors_io: ErrorCount,
    /// Permission errors (EACCES, EPERM, EROFS).
    pub errors_permission: ErrorCount,
    /// Any other error.
    pub errors_other: ErrorCount,
    /// Bytes waiting in each shard's queue.
    pub queue_bytes: Vec<u64>,
    /// WAL files open now.
    pub open_files: u64,
    /// fdatasync calls made.
    pub fsyncs: u64,
    /// Rounds in which a writer handed its queue to the OS.
    pub flushes: u64,
    /// Longest time from taking a queue to having written it, in µs.
    pub max_flush_micros: u64,
    /// Files deleted by `rotate`.
    pub rotations: u64,
    /// Files deleted because they exceeded the size limit.
    pub size_rotations: u64,
    /// Torn tails cut off when an existing file was opened.
    pub torn_tails_repaired: u64,
}

#[derive(Default)]
pub(crate) struct ErrorCounters {
    errors: AtomicU64,
    records: AtomicU64,
}

/// The live counters of one shard.
#[derive(Default)]
pub(crate) struct Counters {
    pub appended: AtomicU64,
    pub written: AtomicU64,
    pub bytes_written: AtomicU64,
    pub rejected: AtomicU64,
    errors: [ErrorCounters; 4],
    pub backlog_records: AtomicU64,
    pub backlog_bytes: AtomicU64,
    pub open_files: AtomicU64,
    pub fsyncs: AtomicU64,
    pub flushes: AtomicU64,
    pub max_flush_micros: AtomicU64,
    pub rotations: AtomicU64,
    pub size_rotations: AtomicU64,
    pub torn_tails_repaired: AtomicU64,
}

fn error_slot(kind: WriteErrorKind) -> usize {
    match kind {
        WriteErrorKind::NoSpace => 0,
        WriteErrorKind::Io => 1,
        WriteErrorKind::Permission => 2,
        WriteErrorKind::Other => 3,
    }
}

pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Counters {
    pub fn write_error(&self, kind: WriteErrorKind, records: u64) {
        let slot = &self.errors[error_slot(kind)];
        bump(&slot.errors, 1);
        bump(&slot.records, records);
    }

    /// Adds this shard's counters to `stats`.
    pub fn add_to(&self, stats: &mut Stats) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        stats.appended += get(&self.appended);
        stats.written += get(&self.written);
        stats.bytes_written += get(&self.bytes_written);
        stats.rejected += get(&self.rejected);
        for (kind, total) in [
            (WriteErrorKind::NoSpace, &mut stats.errors_no_space),
            (WriteErrorKind::Io, &mut stats.errors_io),
            (WriteErrorKind::Permission, &mut stats.errors_permission),
            (WriteErrorKind::Other, &mut stats.errors_other),
        ] {
            let slot = &self.errors[error_slot(kind)];
            total.errors += get(&slot.errors);
            total.records_lost += get(&slot.records);
            stats.failed += get(&slot.records);
        }
        stats.backlog_records += get(&self.backlog_records);
        stats.backlog_bytes += get(&self.backlog_bytes);
        stats.open_files += get(&self.open_files);
        stats.fsyncs += get(&self.fsyncs);
        stats.flushes += get(&self.flushes);
        stats.max_flush_micros = stats.max_flush_micros.max(get(&self.max_flush_micros));
        stats.rotations += get(&self.rotations);
        stats.size_rotations += get(&self.size_rotations);
        stats.torn_tails_repaired += get(&self.torn_tails_repaired);
    }
}
