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

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub use cleanup::{CleanupReport, cleanup};
pub use compact::{CompactedHost, compact};
pub use pool::{HostOutcome, Outcome, SnapshotWriterPool};
pub use session::{CheckpointReport, CheckpointSession};

use crate::codec::snapshot::{HEADER_LEN, SnapshotEncoder};
use crate::error::Error;
use crate::layout;

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

fn fsync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("fsync {}", dir.display()), &e))
}

/// A snapshot written to its temporary file, waiting to be renamed into
/// place.
pub(crate) struct StagedSnapshot {
    tmp: PathBuf,
    path: PathBuf,
}

impl StagedSnapshot {
    /// Renames the temporary file into place; removes it on failure.
    pub(crate) fn commit(&self) -> Result<PathBuf, Error> {
        fs::rename(&self.tmp, &self.path).map_err(|e| {
            let _ = fs::remove_file(&self.tmp);
            Error::io(format!("rename {} into place", self.tmp.display()), &e)
        })?;
        Ok(self.path.clone())
    }

    pub(crate) fn discard(&self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Writes the snapshot to `ROOT/CLUSTER/HOST/<from>.bin.tmp` (creating the
/// directories), with an fdatasync when `sync`; no temporary file is left
/// on failure.
pub(crate) fn stage_snapshot(
    root: &Path,
    cluster: &[u8],
    host: &[u8],
    from: i64,
    bytes: &[u8],
    sync: bool,
) -> Result<StagedSnapshot, Error> {
    let dir = layout::host_dir(root, cluster, host)?;
    if !dir.is_dir() {
        fs::create_dir_all(&dir).map_err(|e| Error::io(format!("create {}", dir.display()), &e))?;
        if sync {
            for parent in [dir.parent(), dir.parent().and_then(Path::parent)]
                .into_iter()
                .flatten()
            {
                fsync_dir(parent)?;
            }
        }
    }
    let tmp = dir.join(layout::snapshot_temp_name(from));
    let path = dir.join(layout::snapshot_file_name(
        from,
        layout::SnapshotFormat::Binary,
    ));
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_CLOEXEC)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            if sync { file.sync_data() } else { Ok(()) }
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(format!("write {}", path.display()), &e));
    }
    Ok(StagedSnapshot { tmp, path })
}

/// Flushes every dirty page of the file system holding `root` with one
/// syncfs: the checkpoint pool's group commit of many files.
pub(crate) fn sync_file_system(root: &Path) -> Result<(), Error> {
    let dir = File::open(root).map_err(|e| Error::io(format!("open {}", root.display()), &e))?;
    // SAFETY: syncfs on a valid, open descriptor.
    if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) } != 0 {
        return Err(Error::io(
            format!("syncfs {}", root.display()),
            &std::io::Error::last_os_error(),
        ));
    }
    Ok(())
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
    let staged = stage_snapshot(root, cluster, host, from, bytes, true)?;
    let path = staged.commit()?;
    fsync_dir(path.parent().expect("a host directory"))?;
    Ok(path)
}
