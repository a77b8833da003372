//! Checkpoints: writing snapshots atomically and durably, a bounded pool of
//! writer threads for many hosts, checkpoint sessions that seal the WAL so
//! that no record is ever in no file, and the cleanup of old snapshots.
//!
//! The one ordering rule for the host application: write a sample to memory
//! *before* appending it to the WAL. Then every record appended before
//! `begin` is in memory when the host builds its snapshot after `begin`, so
//! it is in the snapshot or (when that host's snapshot fails) still in a
//! sealed segment that restore replays.

mod cleanup;
mod compact;
mod pool;
mod session;

use std::path::{Path, PathBuf};

pub use cleanup::{CleanupReport, cleanup};
pub use compact::{CompactScope, CompactedHost, compact};
pub use pool::{HostOutcome, Outcome, SnapshotWriterPool};
pub use session::{CheckpointReport, CheckpointSession};

use crate::codec::snapshot::{HEADER_LEN, SnapshotEncoder};
use crate::error::Error;
use crate::layout;
use crate::storage::{self, HostDir, SyncData};

/// A snapshot being built for one host: add metrics and child levels with
/// [`SnapshotEncoder::metric`] (f64 or f32 slices, copied once, straight
/// into the file's bytes) and [`SnapshotEncoder::begin_child`].
pub type SnapshotBuilder = SnapshotEncoder<Vec<u8>>;

/// A builder for a snapshot of `[from, to]`.
pub fn snapshot_builder(from: i64, to: i64) -> SnapshotBuilder {
    SnapshotEncoder::new(Vec::new(), from, to)
}

/// Bytes of a snapshot without a single metric or child level.
const EMPTY_SNAPSHOT_LEN: usize = HEADER_LEN + 4 + 4;

/// Whether encoded snapshot bytes hold nothing (Go skips such hosts).
fn is_empty_snapshot(bytes: &[u8]) -> bool {
    bytes.len() <= EMPTY_SNAPSHOT_LEN
}

/// Held while sealed segments are rewritten (a session's `finish`,
/// `cleanup`), so two of them never replace the same segment at once.
static SEGMENT_REWRITE: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// A snapshot written to its temporary file, waiting to be renamed into
/// place.
pub(crate) struct StagedSnapshot {
    dir: HostDir,
    tmp: PathBuf,
    path: PathBuf,
}

impl StagedSnapshot {
    /// Renames the temporary file into place; removes it on failure.
    pub(crate) fn commit(&self) -> Result<PathBuf, Error> {
        self.dir.rename_into_place(&self.tmp, &self.path)?;
        Ok(self.path.clone())
    }

    pub(crate) fn discard(&self) {
        self.dir.remove([self.tmp.clone()]);
    }
}

/// Writes the snapshot to `ROOT/CLUSTER/HOST/<from>.bin.tmp` (creating the
/// directories), with an fdatasync (and fsyncs of new directories) when
/// `sync` is [`SyncData::Now`]; no temporary file is left on failure.
pub(crate) fn stage_snapshot(
    root: &Path,
    cluster: &[u8],
    host: &[u8],
    from: i64,
    bytes: &[u8],
    sync: SyncData,
) -> Result<StagedSnapshot, Error> {
    let dir = HostDir::new(root, cluster, host)?;
    let tmp = dir.write_temporary(&layout::snapshot_temp_name(from), bytes, sync)?;
    let path = dir.snapshot_path(from, layout::SnapshotFormat::Binary);
    Ok(StagedSnapshot { dir, tmp, path })
}

/// Writes `ROOT/CLUSTER/HOST/<from>.bin` atomically and durably: to
/// `<from>.bin.tmp`, fdatasync, rename, fsync of the directory. `bytes` are
/// a finished snapshot (see [`SnapshotBuilder`]). On failure no temporary
/// file is left and an existing `<from>.bin` is untouched. Returns the
/// path. Blocks; any thread.
pub fn write_snapshot(
    root: &Path,
    cluster: &[u8],
    host: &[u8],
    from: i64,
    bytes: &[u8],
) -> Result<PathBuf, Error> {
    let staged = stage_snapshot(root, cluster, host, from, bytes, SyncData::Now)?;
    let path = staged.commit()?;
    storage::sync_dir(&staged.dir.path)?;
    Ok(path)
}
