//! Checkpoint sessions: seal the WAL at `begin` (appends never pause),
//! write each host's snapshot, and settle the sealed segments of the hosts
//! whose snapshot was written: a segment goes only when the snapshot holds
//! every record in it.
//!
//! A record whose timestamp is outside the checkpoint's window `[from, to]`
//! (a backfilled sample, a late or a future one) is in the host's memory
//! but not in the window's snapshot. Such records stay in a sealed segment:
//! the segment is cut down to them (replaced atomically under its own
//! name, so restore still replays it in its place, before current.wal and
//! later segments). Records are not carried into the live WAL, where they
//! would follow newer ones. Restore in `Recovery::Salvage` (the default)
//! writes a record older than a chain's newest chunk into the right older
//! chunk, so they come back; the Go rule (`Strict`) refuses them, as Go's
//! own replay does. `cleanup` drops such records once they are older than
//! its horizon.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::pool::{HostOutcome, Outcome, SnapshotWriterPool};
use super::{SEGMENT_REWRITE, SnapshotBuilder, snapshot_builder};
use crate::codec::wal;
use crate::engine::Store;
use crate::error::{Error, ErrorKind};
use crate::storage::{self, HostDir};

/// What a checkpoint did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointReport {
    /// One entry per host given to the session (written, empty or failed).
    pub hosts: Vec<HostOutcome>,
    /// Hosts whose WAL could not be made durable and sealed at `begin`:
    /// their records stay in current.wal (restore replays it).
    pub seal_errors: Vec<(Vec<u8>, Vec<u8>, Error)>,
    /// Sealed segments deleted because their host's snapshot holds them.
    pub segments_deleted: Vec<PathBuf>,
    /// Sealed segments cut down to their records outside `[from, to]`.
    pub segments_trimmed: Vec<PathBuf>,
    /// Records outside `[from, to]` kept in trimmed segments.
    pub records_kept: u64,
    /// Segments that could not be settled (they stay whole; restore
    /// replays them).
    pub delete_errors: Vec<(PathBuf, Error)>,
    /// How long the session took, from begin to finish.
    pub duration: Duration,
}

/// A checkpoint of `[from, to]` in progress. Created by
/// [`CheckpointSession::begin`]; the host adds one snapshot per host, then
/// calls [`CheckpointSession::finish`].
pub struct CheckpointSession {
    from: i64,
    to: i64,
    /// Sealed segments per (cluster, host), as sealed at `begin`.
    sealed: HashMap<(Vec<u8>, Vec<u8>), Vec<PathBuf>>,
    seal_errors: Vec<(Vec<u8>, Vec<u8>, Error)>,
    pool: SnapshotWriterPool,
    started: Instant,
}

impl CheckpointSession {
    /// Seals the WAL of every host that has one below the store's root
    /// (records appended before this call stay in a sealed segment next to
    /// current.wal; later ones go to a fresh current.wal), then starts
    /// `workers` snapshot writers with a queue of `queue` snapshots.
    /// Blocks until the seal is done; appends from other threads go on.
    pub fn begin(
        store: &Store,
        from: i64,
        to: i64,
        workers: usize,
        queue: usize,
    ) -> Result<Self, Error> {
        let root = store.root().to_path_buf();
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = storage::scan_root_or_empty(&root)?
            .into_iter()
            .map(|h| (h.cluster, h.host))
            .collect();
        let segments = store.seal(&pairs, to)?;
        let mut sealed = HashMap::new();
        let mut seal_errors = Vec::new();
        for ((cluster, host), outcome) in pairs.into_iter().zip(segments) {
            match outcome {
                Ok(segments) => {
                    sealed.insert((cluster, host), segments);
                }
                Err(error) => seal_errors.push((cluster, host, error)),
            }
        }
        let pool = SnapshotWriterPool::new(root, workers, queue)?;
        Ok(CheckpointSession {
            from,
            to,
            sealed,
            seal_errors,
            pool,
            started: Instant::now(),
        })
    }

    /// A builder for this checkpoint's window.
    pub fn builder(&self) -> SnapshotBuilder {
        snapshot_builder(self.from, self.to)
    }

    /// Queues the host's snapshot for writing (finishing the builder if the
    /// caller did not). Blocks while the writers' queue is full.
    pub fn add(
        &self,
        cluster: &[u8],
        host: &[u8],
        mut snapshot: SnapshotBuilder,
    ) -> Result<(), Error> {
        snapshot
            .ensure_finished()
            .map_err(|e| Error::new(ErrorKind::InvalidArgument, e.to_string()))?;
        self.pool
            .submit(cluster, host, self.from, snapshot.into_inner())
    }

    /// Waits for every snapshot, then settles the sealed segments of each
    /// host whose snapshot was written: deleted, or cut down to the records
    /// outside `[from, to]` (see the module documentation). Those of failed
    /// or empty hosts stay whole: restore replays them, and the next
    /// successful checkpoint of the host settles them.
    pub fn finish(self) -> CheckpointReport {
        let CheckpointSession {
            from,
            to,
            mut sealed,
            seal_errors,
            pool,
            started,
        } = self;
        let root = pool.root().to_path_buf();
        let hosts = pool.finish();
        let mut report = CheckpointReport {
            hosts,
            seal_errors,
            ..Default::default()
        };
        let _rewriting = SEGMENT_REWRITE.lock();
        for at in 0..report.hosts.len() {
            let outcome = &report.hosts[at];
            if !matches!(outcome.outcome, Outcome::Written { .. }) {
                continue;
            }
            let key = (outcome.cluster.clone(), outcome.host.clone());
            let segments = sealed.remove(&key).unwrap_or_default();
            match HostDir::new(&root, &key.0, &key.1) {
                Ok(dir) => settle_segments(&dir, segments, from, to, &mut report),
                Err(e) => report
                    .delete_errors
                    .extend(segments.into_iter().map(|p| (p, e.clone()))),
            }
        }
        report.duration = started.elapsed();
        report
    }
}

/// Deletes each segment whose records are all inside `[from, to]`, and
/// cuts the others down to the records outside it.
fn settle_segments(
    dir: &HostDir,
    segments: Vec<PathBuf>,
    from: i64,
    to: i64,
    report: &mut CheckpointReport,
) {
    let mut covered = Vec::new();
    for segment in segments {
        match trim_records(dir, &segment, |record| record.ts < from || record.ts > to) {
            Ok(Trimmed::Empty) => covered.push(segment),
            Ok(Trimmed::Unchanged) => {}
            Ok(Trimmed::Kept(records)) => {
                report.records_kept += records;
                report.segments_trimmed.push(segment);
            }
            Ok(Trimmed::Damaged(error)) | Err(error) => report.delete_errors.push((segment, error)),
        }
    }
    dir.remove(covered)
        .report_into(&mut report.segments_deleted, &mut report.delete_errors);
}

/// What [`trim_records`] did to a WAL file.
pub(crate) enum Trimmed {
    /// No record is to be kept: the caller removes the file.
    Empty,
    /// Every record is kept (or the file is gone): it is left as it is.
    Unchanged,
    /// Replaced by a copy holding this many records.
    Kept(u64),
    /// Left whole because it cannot be read whole (the damage, as a
    /// `Corrupt` error): nothing is dropped that nobody has seen.
    Damaged(Error),
}

/// Cuts a WAL file (a sealed segment or an idle `current.wal`) down to the
/// records `keep` accepts, replacing it atomically.
pub(crate) fn trim_records(
    dir: &HostDir,
    file: &std::path::Path,
    keep: impl Fn(&wal::Record<'_>) -> bool,
) -> Result<Trimmed, Error> {
    let content = match fs::read(file) {
        Ok(content) => content,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Trimmed::Unchanged),
        Err(e) => return Err(Error::io_at("read", file, &e)),
    };
    let filtered = match wal::filter_records(&content, keep) {
        Ok(filtered) => filtered,
        Err(e) => {
            let reason = format!("{}: {e}; kept whole", file.display());
            return Ok(Trimmed::Damaged(
                Error::new(ErrorKind::Corrupt, reason).with_path(file),
            ));
        }
    };
    match (filtered.kept, filtered.dropped) {
        (0, _) => Ok(Trimmed::Empty),
        (_, 0) => Ok(Trimmed::Unchanged),
        (kept, _) => {
            dir.replace(file, &filtered.file)?;
            Ok(Trimmed::Kept(kept))
        }
    }
}
