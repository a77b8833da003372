//! `ccwal stat ROOT [--json | --human]`: per cluster and in total, what a
//! checkpoint root holds.

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

/// `bytes` with a binary unit, then the exact number: `1.5 MiB (1572864 B)`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({bytes} B)", UNITS[unit])
}

/// Unix seconds as a UTC date and time, `2023-11-14 22:13:20 UTC`.
fn utc(ts: i64) -> String {
    let (days, secs) = (ts.div_euclid(86_400), ts.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A span of seconds in the largest units that fit: `3d 4h`, `12m 5s`.
fn span(seconds: i64) -> String {
    let units = [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)];
    let mut parts = Vec::new();
    let mut rest = seconds.max(0);
    for (name, size) in units {
        if rest >= size && parts.len() < 2 {
            parts.push(format!("{}{name}", rest / size));
            rest %= size;
        } else if !parts.is_empty() {
            break;
        }
    }
    if parts.is_empty() {
        "0s".to_string()
    } else {
        parts.join(" ")
    }
}

/// `stat --human`: one block per cluster and the total, sizes with units
/// and times as dates, each next to its exact number.
fn print_human<W: Write>(out: &mut W, stat: &Stat) -> io::Result<()> {
    let rows = stat
        .clusters
        .iter()
        .map(|(name, t)| (format!("cluster {name}"), t))
        .chain([("total".to_string(), &stat.total)]);
    for (name, t) in rows {
        writeln!(out, "{name}: {} hosts", t.hosts)?;
        writeln!(
            out,
            "  snapshots  {} files, {}",
            t.snapshot_files,
            human_bytes(t.snapshot_bytes)
        )?;
        writeln!(
            out,
            "  WAL        {} files, {}, {} records",
            t.wal_files,
            human_bytes(t.wal_bytes),
            t.wal_records
        )?;
        writeln!(
            out,
            "  sealed     {} files, {}, {} records",
            t.sealed_files,
            human_bytes(t.sealed_bytes),
            t.sealed_records
        )?;
        writeln!(out, "  damaged    {} files", t.damaged_files)?;
        match (t.first, t.last) {
            (Some(first), Some(last)) => writeln!(
                out,
                "  time       {} ({first}) to {} ({last}), {}",
                utc(first),
                utc(last),
                span(last - first)
            )?,
            _ => writeln!(out, "  time       -")?,
        }
    }
    Ok(())
}

/// How `stat` prints.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Human,
    Json,
}

pub fn run(root: &Path, format: Format) -> i32 {
    let stat = match collect(root) {
        Ok(stat) => stat,
        Err(e) => {
            eprintln!("ccwal: {}: {e}", root.display());
            return EXIT_ERROR;
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = match format {
        Format::Json => json_line(&mut out, &stat),
        Format::Human => print_human(&mut out, &stat),
        Format::Table => print_table(&mut out, &stat),
    };
    let code = if stat.total.damaged_files > 0 {
        EXIT_DAMAGED
    } else {
        EXIT_OK
    };
    finish_output(written.map(|()| code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_units_and_spans() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB (1536 B)");
        assert_eq!(human_bytes(10 << 30), "10.0 GiB (10737418240 B)");
        assert_eq!(span(0), "0s");
        assert_eq!(span(59), "59s");
        assert_eq!(span(3600 * 26 + 61), "1d 2h");
        assert_eq!(span(600), "10m");
    }
}
