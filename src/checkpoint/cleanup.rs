//! Deleting old snapshots by the Go rule: in every host directory, every
//! `*.bin` and `*.json` whose number is ≤ the horizon (and not 0) goes;
//! current.wal never does. So do `<n>.bin.tmp` files with n ≤ the horizon,
//! left by a checkpoint that crashed (Go leaves them), and the temporaries
//! of segment rewrites a crash left. Sealed segments lose their records
//! older than the horizon (the records a checkpoint kept because they were
//! outside its window): cut down, or deleted when nothing is left.

use std::path::{Path, PathBuf};

use super::SEGMENT_REWRITE;
use super::session::{Trimmed, trim_records};
use crate::error::{Error, ErrorKind};
use crate::storage;

/// What a cleanup did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Snapshot files deleted.
    pub deleted: Vec<PathBuf>,
    /// Hosts or files that could not be cleaned (e.g. a snapshot name that
    /// is not a number makes Go skip the host; so does this).
    pub errors: Vec<(PathBuf, Error)>,
}

/// Deletes old snapshots below `root`. Fails only when `root` cannot be
/// listed; per-host problems are in the report. Blocks; any thread.
pub fn cleanup(root: &Path, horizon: i64) -> Result<CleanupReport, Error> {
    let hosts = storage::scan_root_or_empty(root)?;
    let mut report = CleanupReport::default();
    let _rewriting = SEGMENT_REWRITE.lock();
    for host in hosts {
        let files = match host.list() {
            Ok(files) => files,
            Err(e) => {
                report.errors.push((host.path, e));
                continue;
            }
        };
        if let Some(bad) = files.bad_names.first() {
            let error = Error::new(
                ErrorKind::Format,
                "snapshot name is not a number; host skipped",
            )
            .with_path(bad);
            report.errors.push((bad.clone(), error));
            continue;
        }
        let old_snapshots = files
            .snapshots
            .into_iter()
            .filter(|s| s.number <= horizon && s.number != 0)
            .map(|s| s.path);
        let old_temporaries = files
            .temporaries
            .into_iter()
            .filter(|(_, n)| *n <= horizon)
            .map(|(path, _)| path);
        let mut doomed: Vec<PathBuf> = old_snapshots
            .chain(old_temporaries)
            .chain(files.segment_temporaries)
            .collect();
        for segment in files.sealed {
            match trim_records(&host, &segment, |record| record.ts >= horizon) {
                Ok(Trimmed::Empty) => doomed.push(segment),
                Ok(Trimmed::Unchanged | Trimmed::Kept(_)) => {}
                Ok(Trimmed::Damaged(error)) | Err(error) => report.errors.push((segment, error)),
            }
        }
        host.remove(doomed)
            .report_into(&mut report.deleted, &mut report.errors);
    }
    Ok(report)
}
