//! Checkpoint sessions: seal the WAL at `begin` (appends never pause),
//! write each host's snapshot, and delete the sealed segments of the hosts
//! whose snapshot was written.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::pool::{HostOutcome, Outcome, SnapshotWriterPool};
use super::{SnapshotBuilder, snapshot_builder};
use crate::engine::Store;
use crate::error::{Error, ErrorKind};
use crate::layout;

/// What a checkpoint did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointReport {
    /// One entry per host given to the session (written, empty or failed).
    pub hosts: Vec<HostOutcome>,
    /// Sealed segments deleted because their host's snapshot was written.
    pub segments_deleted: Vec<PathBuf>,
    /// Segments that could not be deleted (they stay; restore replays them).
    pub delete_errors: Vec<(PathBuf, String)>,
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
        let hosts = match layout::scan_root(&root) {
            Ok(hosts) => hosts,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(format!("list {}", root.display()), &e)),
        };
        let pairs: Vec<(Vec<u8>, Vec<u8>)> =
            hosts.into_iter().map(|h| (h.cluster, h.host)).collect();
        let segments = store.seal(&pairs, to)?;
        let sealed = pairs.into_iter().zip(segments).collect();
        let pool = SnapshotWriterPool::new(root, workers, queue)?;
        Ok(CheckpointSession {
            from,
            to,
            sealed,
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

    /// Waits for every snapshot, then deletes the sealed segments of each
    /// host whose snapshot was written. Those of failed or empty hosts stay:
    /// restore replays them, and the next successful checkpoint of the host
    /// removes them.
    pub fn finish(self) -> CheckpointReport {
        let CheckpointSession {
            mut sealed,
            pool,
            started,
            ..
        } = self;
        let hosts = pool.finish();
        let mut report = CheckpointReport {
            hosts,
            ..Default::default()
        };
        for outcome in &report.hosts {
            if !matches!(outcome.outcome, Outcome::Written { .. }) {
                continue;
            }
            let key = (outcome.cluster.clone(), outcome.host.clone());
            for segment in sealed.remove(&key).unwrap_or_default() {
                match fs::remove_file(&segment) {
                    Ok(()) => report.segments_deleted.push(segment),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => report.delete_errors.push((segment, e.to_string())),
                }
            }
        }
        report.duration = started.elapsed();
        report
    }
}
