//! Deleting old snapshots by the Go rule: in every host directory, every
//! `*.bin` and `*.json` whose number is ≤ the horizon (and not 0) goes;
//! WAL files and sealed segments never do.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::layout;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    pub deleted: Vec<PathBuf>,
    /// Hosts or files that could not be cleaned (e.g. a snapshot name that
    /// is not a number makes Go skip the host; so does this).
    pub errors: Vec<(PathBuf, String)>,
}

/// Deletes old snapshots below `root`. Fails only when `root` cannot be
/// listed; per-host problems are in the report. Blocks; any thread.
pub fn cleanup(root: &Path, horizon: i64) -> Result<CleanupReport, Error> {
    let hosts = match layout::scan_root(root) {
        Ok(hosts) => hosts,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(format!("list {}", root.display()), &e)),
    };
    let mut report = CleanupReport::default();
    for host in hosts {
        let files = match layout::list_host_files(&host.path) {
            Ok(files) => files,
            Err(e) => {
                report.errors.push((host.path, e.to_string()));
                continue;
            }
        };
        if let Some(bad) = files.bad_names.first() {
            report.errors.push((
                bad.clone(),
                "snapshot name is not a number; host skipped".to_string(),
            ));
            continue;
        }
        for snapshot in files
            .snapshots
            .into_iter()
            .filter(|s| s.number <= horizon && s.number != 0)
        {
            match fs::remove_file(&snapshot.path) {
                Ok(()) => report.deleted.push(snapshot.path),
                Err(e) => report.errors.push((snapshot.path, e.to_string())),
            }
        }
    }
    Ok(report)
}
