//! Deleting old snapshots by the Go rule: in every host directory, every
//! `*.bin` and `*.json` whose number is ≤ the horizon (and not 0) goes;
//! WAL files and sealed segments never do. So do `<n>.bin.tmp` files with
//! n ≤ the horizon, left by a checkpoint that crashed (Go leaves them).

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
        for path in old_snapshots.chain(old_temporaries) {
            match fs::remove_file(&path) {
                Ok(()) => report.deleted.push(path),
                Err(e) => report.errors.push((path, e.to_string())),
            }
        }
    }
    Ok(report)
}
