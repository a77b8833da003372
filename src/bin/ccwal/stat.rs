//! `ccwal stat ROOT [--json]`: per cluster and in total, what a checkpoint
//! root holds.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ccwal::storage;
use serde::Serialize;

use crate::inspect::{FileReport, Kind, inspect};
use crate::output::{EXIT_DAMAGED, EXIT_ERROR, EXIT_OK, finish_output, json_line, key};

#[derive(Default, Serialize)]
struct Totals {
    hosts: u64,
    snapshot_files: u64,
    snapshot_bytes: u64,
    wal_files: u64,
    wal_bytes: u64,
    wal_records: u64,
    /// WAL segments sealed by a checkpoint session (`wal-*.sealed`), which
    /// restore replays before current.wal; not counted in `wal_*`.
    sealed_files: u64,
    sealed_bytes: u64,
    sealed_records: u64,
    damaged_files: u64,
    /// Earliest time covered (unix seconds), null when nothing is.
    first: Option<i64>,
    last: Option<i64>,
}

impl Totals {
    fn add_file(&mut self, bytes: u64, report: &FileReport, sealed: bool) {
        match report.kind {
            Kind::Wal if sealed => {
                self.sealed_files += 1;
                self.sealed_bytes += bytes;
                self.sealed_records += report.records;
            }
            Kind::Wal => {
                self.wal_files += 1;
                self.wal_bytes += bytes;
                self.wal_records += report.records;
            }
            Kind::Snapshot => {
                self.snapshot_files += 1;
                self.snapshot_bytes += bytes;
            }
        }
        if !report.damage.is_empty() {
            self.damaged_files += 1;
        }
        if let Some((first, last)) = report.time_range {
            self.first = Some(self.first.map_or(first, |f| f.min(first)));
            self.last = Some(self.last.map_or(last, |l| l.max(last)));
        }
    }

    fn add(&mut self, other: &Totals) {
        self.hosts += other.hosts;
        self.snapshot_files += other.snapshot_files;
        self.snapshot_bytes += other.snapshot_bytes;
        self.wal_files += other.wal_files;
        self.wal_bytes += other.wal_bytes;
        self.wal_records += other.wal_records;
        self.sealed_files += other.sealed_files;
        self.sealed_bytes += other.sealed_bytes;
        self.sealed_records += other.sealed_records;
        self.damaged_files += other.damaged_files;
        self.first = other.first.into_iter().chain(self.first).min();
        self.last = other.last.into_iter().chain(self.last).max();
    }
}

#[derive(Serialize)]
struct Stat {
    clusters: BTreeMap<String, Totals>,
    total: Totals,
}

/// The files of a host that restore reads, each with whether it is a
/// sealed segment: snapshots, sealed segments, current.wal.
fn host_files(dir: &Path) -> io::Result<Vec<(PathBuf, bool)>> {
    let files = storage::list_host_files(dir)?;
    Ok(files
        .snapshots
        .into_iter()
        .map(|s| (s.path, false))
        .chain(files.sealed.into_iter().map(|path| (path, true)))
        .chain(files.wal.map(|path| (path, false)))
        .collect())
}

fn collect(root: &Path) -> io::Result<Stat> {
    let mut clusters: BTreeMap<String, Totals> = BTreeMap::new();
    for host in storage::scan_root(root)? {
        let totals = clusters.entry(key(&host.cluster)).or_default();
        totals.hosts += 1;
        for (path, sealed) in host_files(&host.path)? {
            let content = fs::read(&path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            if let Some(report) = inspect(&path, &content) {
                totals.add_file(content.len() as u64, &report, sealed);
            }
        }
    }
    let mut total = Totals::default();
    for totals in clusters.values() {
        total.add(totals);
    }
    Ok(Stat { clusters, total })
}

fn time(ts: Option<i64>) -> String {
    ts.map_or_else(|| "-".to_string(), |t| t.to_string())
}

fn print_table<W: Write>(out: &mut W, stat: &Stat) -> io::Result<()> {
    writeln!(
        out,
        "{:<20} {:>7} {:>9} {:>14} {:>9} {:>14} {:>12} {:>7} {:>14} {:>14} {:>8} {:>12} {:>12}",
        "cluster",
        "hosts",
        "snapshots",
        "snapshot bytes",
        "WAL files",
        "WAL bytes",
        "WAL records",
        "sealed",
        "sealed bytes",
        "sealed records",
        "damaged",
        "first",
        "last"
    )?;
    let rows = stat
        .clusters
        .iter()
        .map(|(name, t)| (name.as_str(), t))
        .chain([("total", &stat.total)]);
    for (name, t) in rows {
        writeln!(
            out,
            "{:<20} {:>7} {:>9} {:>14} {:>9} {:>14} {:>12} {:>7} {:>14} {:>14} {:>8} {:>12} {:>12}",
            name,
            t.hosts,
            t.snapshot_files,
            t.snapshot_bytes,
            t.wal_files,
            t.wal_bytes,
            t.wal_records,
            t.sealed_files,
            t.sealed_bytes,
            t.sealed_records,
            t.damaged_files,
            time(t.first),
            time(t.last)
        )?;
    }
    Ok(())
}

pub fn run(root: &Path, as_json: bool) -> i32 {
    let stat = match collect(root) {
        Ok(stat) => stat,
        Err(e) => {
            eprintln!("ccwal: {}: {e}", root.display());
            return EXIT_ERROR;
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = if as_json {
        json_line(&mut out, &stat)
    } else {
        print_table(&mut out, &stat)
    };
    let code = if stat.total.damaged_files > 0 {
        EXIT_DAMAGED
    } else {
        EXIT_OK
    };
    finish_output(written.map(|()| code))
}
