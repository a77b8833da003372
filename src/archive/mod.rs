//! Archiving old snapshots to Parquet, as cc-backend v1.5.4's cleanup does
//! in its `archive` mode (`CleanupCheckpoints(dir, cleanupDir, from,
//! false)`): every snapshot the Go cleanup selects for the horizon (the
//! rule of [`crate::checkpoint::cleanup`]: number ≤ horizon and not 0,
//! `.bin` and `.json`) becomes rows of `TO/<cluster>/<horizon>.parquet`,
//! one file per cluster, one row group per host; then the archived
//! snapshots are deleted. The rows, their order and the schema are
//! v1.5.4's (see the `rows` module).
//!
//! What differs, on purpose:
//! - durable: the archive is written to `<horizon>.parquet.tmp`, fsynced,
//!   renamed, and its directory fsynced before any snapshot is deleted
//!   (through [`crate::storage`]). A crash at any point leaves the
//!   snapshots, or a complete archive (or both: a later run then archives
//!   the snapshots left again, into its own file);
//! - every write error counts: the cluster's archive is dropped and its
//!   snapshots stay;
//! - per host: a host whose directory cannot be listed, whose snapshot
//!   names are not numbers, or one of whose selected snapshots does not
//!   decode is reported and keeps all its files; the other hosts of its
//!   cluster are archived (Go drops the whole cluster, or silently skips
//!   the damaged file);
//! - an existing archive of the same name is never replaced (Go truncates
//!   it);
//! - a cluster whose snapshots hold no value (all NaN) gets no archive, as
//!   in Go, but its selected snapshots are deleted (they hold nothing to
//!   lose; Go keeps them for ever);
//! - streaming with bounded memory: each of two workers decodes and
//!   encodes one host while the previous host's row group is written,
//!   never more.

pub mod rows;

#[cfg(feature = "archive")]
mod footer;
#[cfg(feature = "archive")]
mod parquet;

#[cfg(feature = "archive")]
pub use parquet::{ParquetArchive, SCHEMA};

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, ErrorKind};
#[cfg(feature = "archive")]
use crate::layout::SnapshotFormat;
#[cfg(feature = "archive")]
use crate::storage::{self, HostDir};
#[cfg(feature = "archive")]
use rows::ArchiveLevel;

/// What happened to one host that had snapshots to archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostOutcome {
    /// Its rows are in the cluster's archive; its snapshots were deleted
    /// (see `delete_errors` for those that could not be).
    Archived,
    /// Nothing of it was archived; all its files stay.
    Failed(Error),
}

/// One host that had snapshots older than the horizon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostReport {
    /// The host's cluster.
    pub cluster: Vec<u8>,
    /// The host's name.
    pub host: Vec<u8>,
    /// Archived, or why not.
    pub outcome: HostOutcome,
    /// Rows written (0 unless archived).
    pub rows: u64,
    /// The snapshots selected, oldest first.
    pub files: Vec<PathBuf>,
    /// The snapshots deleted after the archive was durable.
    pub deleted: Vec<PathBuf>,
    /// Archived snapshots that could not be deleted (they stay, and a later
    /// run archives them again).
    pub delete_errors: Vec<(PathBuf, Error)>,
}

/// One cluster that had snapshots older than the horizon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterReport {
    /// The cluster's name.
    pub cluster: Vec<u8>,
    /// The archive written, durably (`None`: no row, or it failed).
    pub archive: Option<PathBuf>,
    /// Rows written to the archive.
    pub rows: u64,
    /// Row groups (hosts with rows) in the archive.
    pub row_groups: usize,
    /// Size of the archive.
    pub bytes: u64,
    /// Why no archive was written although there were rows (its hosts
    /// are then `Failed` with the same error).
    pub error: Option<Error>,
}

/// What an archive run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    /// Per cluster, in name order.
    pub clusters: Vec<ClusterReport>,
    /// Per host, by cluster then host.
    pub hosts: Vec<HostReport>,
    /// How long the run took.
    pub duration: Duration,
}

impl ArchiveReport {
    /// Snapshots deleted after their archive was durable.
    pub fn files_archived(&self) -> usize {
        self.hosts.iter().map(|h| h.deleted.len()).sum()
    }

    /// Rows written to all archives.
    pub fn rows(&self) -> u64 {
        self.clusters.iter().map(|c| c.rows).sum()
    }

    /// Hosts none of whose files were archived.
    pub fn hosts_failed(&self) -> usize {
        self.hosts
            .iter()
            .filter(|h| matches!(h.outcome, HostOutcome::Failed(_)))
            .count()
    }

    /// Whether anything failed: a host, a cluster's archive, or a delete.
    pub fn has_errors(&self) -> bool {
        self.hosts_failed() > 0
            || self.clusters.iter().any(|c| c.error.is_some())
            || self.hosts.iter().any(|h| !h.delete_errors.is_empty())
    }
}

/// The archive's file name for a horizon: `<horizon>.parquet`.
pub fn archive_file_name(horizon: i64) -> String {
    format!("{horizon}.parquet")
}

/// A host's snapshots to archive, as the Go cleanup selects them: number ≤
/// `horizon` and not 0, oldest first (a `.bin` and a `.json` of the same
/// number in name order). `Err` when the host must keep its files.
#[cfg(feature = "archive")]
fn select(host: &HostDir, horizon: i64) -> Result<Vec<(PathBuf, SnapshotFormat)>, Error> {
    let listing = host.list()?;
    if let Some(bad) = listing.bad_names.first() {
        return Err(Error::new(
            ErrorKind::Format,
            format!("{}: snapshot name is not a number", bad.display()),
        ));
    }
    // The listing is in name order; the sort is stable.
    let mut snapshots = listing.snapshots;
    snapshots.retain(|s| s.number <= horizon && s.number != 0);
    snapshots.sort_by_key(|s| s.number);
    Ok(snapshots.into_iter().map(|s| (s.path, s.format)).collect())
}

/// Reads and decodes a host's selected snapshots.
#[cfg(feature = "archive")]
fn load(files: &[(PathBuf, SnapshotFormat)]) -> Result<Vec<ArchiveLevel>, Error> {
    files
        .iter()
        .map(|(path, format)| {
            let bytes = std::fs::read(path).map_err(|e| Error::io_at("read", path, &e))?;
            let tree = match format {
                SnapshotFormat::Binary => rows::load_binary(&bytes),
                SnapshotFormat::Json => rows::load_json(&bytes),
            };
            tree.map_err(|e| Error::new(ErrorKind::Corrupt, format!("{}: {e}", path.display())))
        })
        .collect()
}

/// Archives every snapshot below `root` numbered ≤ `horizon` (and not 0)
/// into `to/<cluster>/<horizon>.parquet`, then deletes those snapshots.
/// Fails only when `root` cannot be listed (a missing root has nothing to
/// archive) or ccwal was built without the `archive` feature; everything
/// else is in the report. Blocks; any thread; not concurrently with a
/// cleanup or another archive of the same root.
pub fn archive(root: &Path, to: &Path, horizon: i64) -> Result<ArchiveReport, Error> {
    #[cfg(not(feature = "archive"))]
    {
        let _ = (root, to, horizon);
        Err(Error::new(
            ErrorKind::InvalidArgument,
            "ccwal was built without the archive feature",
        ))
    }
    #[cfg(feature = "archive")]
    {
        let started = std::time::Instant::now();
        let hosts = storage::scan_root_or_empty(root)?;
        let mut report = ArchiveReport::default();
        let mut rest = &hosts[..];
        while let Some(first) = rest.first() {
            let n = rest
                .iter()
                .take_while(|h| h.cluster == first.cluster)
                .count();
            let (cluster_hosts, tail) = rest.split_at(n);
            rest = tail;
            archive_cluster(cluster_hosts, to, horizon, &mut report);
        }
        report.duration = started.elapsed();
        Ok(report)
    }
}

/// Threads reading, decoding and encoding hosts for an archive (the
/// machines cc-backend runs on have at least two cores, and v1.5.4's
/// archive uses two workers as well).
#[cfg(feature = "archive")]
const WORKERS: usize = 2;

/// Threads deleting archived snapshots, a host at a time: a host's
/// deletion waits for the fsync of its directory, and overlapping those
/// lets the disk serve them together (tenfold faster with four threads
/// than one on the development VM).
#[cfg(feature = "archive")]
const DELETERS: usize = 4;

#[cfg(feature = "archive")]
fn archive_cluster(hosts: &[HostDir], to: &Path, horizon: i64, report: &mut ArchiveReport) {
    use std::ffi::OsStr;
    use std::io::{BufWriter, Write};
    use std::os::unix::ffi::OsStrExt;

    let cluster = hosts[0].cluster.clone();
    let first_host = report.hosts.len();
    let mut planned = Vec::new();
    for host in hosts {
        let mut entry = HostReport {
            cluster: cluster.clone(),
            host: host.host.clone(),
            outcome: HostOutcome::Archived,
            rows: 0,
            files: Vec::new(),
            deleted: Vec::new(),
            delete_errors: Vec::new(),
        };
        match select(host, horizon) {
            Ok(files) if files.is_empty() => continue,
            Ok(files) => {
                entry.files = files.iter().map(|(p, _)| p.clone()).collect();
                planned.push((report.hosts.len(), host, files));
            }
            Err(e) => entry.outcome = HostOutcome::Failed(e),
        }
        report.hosts.push(entry);
    }
    if report.hosts.len() == first_host {
        return;
    }
    let mut summary = ClusterReport {
        cluster: cluster.clone(),
        archive: None,
        rows: 0,
        row_groups: 0,
        bytes: 0,
        error: None,
    };
    let dir = to.join(OsStr::from_bytes(&cluster));
    let written = (|| -> Result<Option<(storage::StagedFile, std::fs::File, u64)>, Error> {
        if planned.is_empty() {
            return Ok(None);
        }
        let (staged, file) = storage::StagedFile::create(&dir, &archive_file_name(horizon))?;
        let context = format!("write {}", staged.target().display());
        let mut archive = ParquetArchive::new(BufWriter::with_capacity(1 << 20, file))?;
        // Workers read, decode and encode hosts (worker k every k-th one)
        // while this thread appends them in order: memory holds at most a
        // host per worker and the one being appended.
        std::thread::scope(|scope| -> Result<(), Error> {
            let receivers: Vec<_> = (0..WORKERS)
                .map(|k| {
                    let (send, receive) = std::sync::mpsc::sync_channel(0);
                    let mut encoder = archive.encoder();
                    let (planned, cluster) = (&planned, &cluster);
                    scope.spawn(move || {
                        for (index, host, files) in planned.iter().skip(k).step_by(WORKERS) {
                            let encoded = load(files)
                                .map(|snapshots| encoder.encode(cluster, &host.host, &snapshots));
                            if send.send((*index, encoded)).is_err() {
                                return;
                            }
                        }
                    });
                    receive
                })
                .collect();
            for k in (0..planned.len()).map(|i| i % WORKERS) {
                // A worker that panicked: the scope passes its panic on.
                let Ok((index, encoded)) = receivers[k].recv() else {
                    break;
                };
                match encoded {
                    Ok(encoded) => report.hosts[index].rows = archive.append(encoded?)?,
                    Err(e) => report.hosts[index].outcome = HostOutcome::Failed(e),
                }
            }
            Ok(())
        })?;
        let rows = archive.rows();
        summary.row_groups = archive.row_groups();
        let mut sink = archive.finish()?;
        sink.flush().map_err(|e| Error::io(&context, &e))?;
        let file = sink
            .into_inner()
            .map_err(|e| Error::io(&context, e.error()))?;
        if rows == 0 {
            return Ok(None);
        }
        Ok(Some((staged, file, rows)))
    })();
    let committed = written.and_then(|staged| match staged {
        None => Ok(None),
        Some((staged, file, rows)) => {
            let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
            let path = staged.commit(file)?;
            Ok(Some((path, rows, bytes)))
        }
    });
    match committed {
        Ok(archived) => {
            if let Some((path, rows, bytes)) = archived {
                summary.archive = Some(path);
                summary.rows = rows;
                summary.bytes = bytes;
            }
            // The archive is durable (or there was no value to keep):
            // the archived hosts' snapshots go.
            let archived: Vec<_> = planned
                .iter()
                .map(|(index, host, _)| (*index, *host))
                .filter(|(index, _)| report.hosts[*index].outcome == HostOutcome::Archived)
                .collect();
            let removals = crate::parallel::map(&archived, DELETERS, |(index, host)| {
                host.remove(report.hosts[*index].files.clone())
            });
            for ((index, _), removal) in archived.into_iter().zip(removals) {
                let entry = &mut report.hosts[index];
                removal.report_into(&mut entry.deleted, &mut entry.delete_errors);
            }
        }
        Err(e) => {
            for (index, _, _) in &planned {
                let entry = &mut report.hosts[*index];
                entry.rows = 0;
                if entry.outcome == HostOutcome::Archived {
                    entry.outcome = HostOutcome::Failed(e.clone());
                }
            }
            summary.row_groups = 0;
            summary.error = Some(e);
        }
    }
    report.clusters.push(summary);
}
