//! Compaction: makes a root complete for the Go metricstore of cc-backend
//! v1.5.4, which restores only snapshots and `current.wal`, and only in an
//! order it accepts.
//!
//! Go ignores sealed segments, drops a replayed record older than the
//! chain's newest buffer, refuses to start when a snapshot loaded later has
//! a buffer starting before one loaded earlier, and selects no snapshot at
//! all once its horizon is past the newest one's number. So, per host:
//!
//! 1. **Fold.** When the host's WAL files (sealed segments and
//!    `current.wal`) hold records, or (with [`CompactScope::Everything`]) when Go
//!    would refuse its snapshots' order, everything from the earliest such
//!    record or buffer on is restored (ccwal's rules: snapshots, then the
//!    WAL, older records into older chunks) and written as **one** snapshot
//!    holding each series whole. It replaces the snapshots it was made from,
//!    so Go loads every earlier snapshot, then this one, in an order it
//!    accepts. The WAL records it holds are removed from the WAL files;
//!    records it cannot hold (of metrics the configuration does not name)
//!    stay, and a damaged WAL file stays whole.
//! 2. **Publish the newest.** The newest snapshot is renamed from its
//!    window's start to the last second its data covers (`to - 1`), so
//!    Go's selection takes it for any horizon up to the end of its data.
//!    No checkpoint written later can have that number: a later window
//!    starts at or after `to`.
//!
//! Each step leaves a root that both Go and ccwal restore completely when a
//! crash interrupts it: the folded snapshot goes first, durably, in place of
//! the oldest file it replaces (its buffers start no later than any file
//! loaded after it); the others go next, then the rename, then the WAL
//! records. Running it again finishes what a crash left.
//!
//! Offline only: not for a root a running store writes to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::session::{Trimmed, trim_records};
use super::{snapshot_builder, write_snapshot};
use crate::codec::json::decode_json_snapshot;
use crate::codec::snapshot::{Level, decode_header, decode_snapshot};
use crate::codec::wal::{self, OnDamage, WalItem, WalReader};
use crate::error::{Error, ErrorKind};
use crate::layout::{SnapshotEntry, SnapshotFormat};
use crate::restore::{
    Chunk, MetricConfig, Recovery, RestoreOptions, RestoredLevel, Selection, restore_one,
};
use crate::storage::{self, HostDir, HostListing};

/// Which hosts compaction folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompactScope {
    /// Hosts whose WAL files hold records. Reads only WAL files and
    /// snapshot headers of the others: what a clean stop needs.
    #[default]
    Wal,
    /// Also hosts whose snapshots Go would refuse to load in their order
    /// (for example a root that an earlier `ccwal compact` folded above its
    /// older snapshots). Reads every snapshot.
    Everything,
}

/// What compaction did for one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactedHost {
    /// The host's cluster name.
    pub cluster: Vec<u8>,
    /// The host's name.
    pub host: Vec<u8>,
    /// The folded snapshot (under its final name), `None` when the host
    /// needed no fold.
    pub snapshot: Option<PathBuf>,
    /// Snapshots folded into it and removed.
    pub replaced: Vec<PathBuf>,
    /// WAL files removed: every record in them is in the folded snapshot.
    pub removed: Vec<PathBuf>,
    /// WAL files kept, cut down to the records no snapshot can hold
    /// (metrics the configuration does not name), or whole when damaged.
    pub kept: Vec<PathBuf>,
    /// The newest snapshot renamed `(from, to)` so that Go selects it.
    pub published: Option<(PathBuf, PathBuf)>,
    /// Damaged snapshots moved aside (`<name>.corrupt-<nanos>`), which Go
    /// would fail to load, stopping its start-up.
    pub moved_aside: Vec<PathBuf>,
    /// The error that stopped this host's compaction. What was done before
    /// it stays done; nothing is lost either way.
    pub error: Option<Error>,
}

/// Compacts every host below `root` (see the module documentation), hosts
/// in parallel. One host's failure is reported in its entry. Fails only
/// when `root` cannot be listed. Blocks; any thread.
pub fn compact(
    root: &Path,
    config: &MetricConfig,
    scope: CompactScope,
) -> Result<Vec<CompactedHost>, Error> {
    let hosts = storage::scan_root_or_empty(root)?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let now = unix_now();
    Ok(crate::parallel::map_with(
        &hosts,
        workers,
        || (),
        |(), dir| {
            let mut done = CompactedHost {
                cluster: dir.cluster.clone(),
                host: dir.host.clone(),
                ..Default::default()
            };
            if let Err(error) = compact_host(root, dir, config, scope, now, &mut done) {
                done.error = Some(error);
            }
            done
        },
    ))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn compact_host(
    root: &Path,
    dir: &HostDir,
    config: &MetricConfig,
    scope: CompactScope,
    now: i64,
    done: &mut CompactedHost,
) -> Result<(), Error> {
    let files = dir.list()?;
    if let Some(bad) = files.bad_names.first() {
        return Err(Error::new(
            ErrorKind::Format,
            format!(
                "{}: snapshot name is not a number (Go fails this host; rename or remove it)",
                bad.display()
            ),
        ));
    }
    let wal_files: Vec<PathBuf> = files.sealed.iter().chain(&files.wal).cloned().collect();
    let mut fold_from = earliest_record(&wal_files, config)?;
    if scope == CompactScope::Everything {
        let refused = first_refused_start(&files.snapshots, config, &mut done.moved_aside, dir)?;
        fold_from = min_option(fold_from, refused);
    }
    if let Some(from) = fold_from {
        fold(root, dir, config, &wal_files, from, done)?;
    }
    done.published = publish_newest(dir, now)?;
    if let Some((_, to)) = &done.published {
        if done.snapshot.is_some() {
            done.snapshot = Some(to.clone());
        }
    }
    Ok(())
}

fn min_option(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The earliest timestamp of a valid record of a configured metric in
/// `files` (damaged bytes are skipped, as restore skips them).
fn earliest_record(files: &[PathBuf], config: &MetricConfig) -> Result<Option<i64>, Error> {
    let mut earliest = None;
    for path in files {
        let content = match std::fs::read(path) {
            Ok(content) => content,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io_at("read", path, &e)),
        };
        let Ok(start) = wal::check_file_header(&content) else {
            continue;
        };
        for item in WalReader::new(&content, start, OnDamage::Resync) {
            match item {
                WalItem::Record { record, .. } if config.contains(record.metric) => {
                    earliest = min_option(earliest, Some(record.ts));
                }
                _ => {}
            }
        }
    }
    Ok(earliest)
}

/// A series of a snapshot: (level path below the host, metric name).
type SeriesKey = (Vec<Vec<u8>>, Vec<u8>);

/// Loads the snapshots in Go's order (by number) as Go's `loadFile` does and
/// returns the earliest buffer start of the first file Go refuses ("buffer
/// start time … is before previous buffer start"), if any. A damaged
/// snapshot, which would fail Go's start-up, is moved aside.
fn first_refused_start(
    snapshots: &[SnapshotEntry],
    config: &MetricConfig,
    moved_aside: &mut Vec<PathBuf>,
    dir: &HostDir,
) -> Result<Option<i64>, Error> {
    let mut ordered = snapshots.to_vec();
    ordered.sort_by_key(|e| e.number);
    let mut newest = Starts::new();
    for entry in &ordered {
        let Some(starts) = metric_starts(&entry.path, entry.format)? else {
            moved_aside.push(dir.move_aside(&entry.path)?);
            continue;
        };
        let starts: Vec<_> = starts
            .into_iter()
            .filter(|((_, metric), _)| config.contains(metric))
            .collect();
        let refused = starts
            .iter()
            .any(|(key, start)| newest.get(key).is_some_and(|prev| prev > start));
        if refused {
            return Ok(starts.iter().map(|(_, start)| *start).min());
        }
        newest.extend(starts);
    }
    Ok(None)
}

/// Every metric's buffer start in a snapshot file, keyed by (level path,
/// metric name); `None` when the file cannot be decoded.
fn metric_starts(
    path: &Path,
    format: SnapshotFormat,
) -> Result<Option<Vec<(SeriesKey, i64)>>, Error> {
    let content = std::fs::read(path).map_err(|e| Error::io_at("read", path, &e))?;
    fn walk<V>(level: &Level<V>, path: &mut Vec<Vec<u8>>, out: &mut Vec<(SeriesKey, i64)>) {
        for metric in &level.metrics {
            out.push(((path.clone(), metric.name.clone()), metric.start));
        }
        for child in &level.children {
            path.push(child.name.clone());
            walk(&child.level, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    match format {
        SnapshotFormat::Binary => match decode_snapshot(&content) {
            Ok((snapshot, _)) => walk(&snapshot.root, &mut Vec::new(), &mut out),
            Err(_) => return Ok(None),
        },
        SnapshotFormat::Json => match decode_json_snapshot(&content) {
            Ok(snapshot) => walk(&snapshot.root, &mut Vec::new(), &mut out),
            Err(_) => return Ok(None),
        },
    }
    Ok(Some(out))
}

/// Every metric's buffer start, keyed by its series.
type Starts = BTreeMap<SeriesKey, i64>;

/// A fold worked out, nothing written yet.
struct FoldPlan {
    /// The snapshots restored, oldest first: the fold replaces them.
    sources: Vec<SnapshotEntry>,
    /// The folded snapshot's bytes and number.
    bytes: Vec<u8>,
    number: i64,
    /// Its buffers' starts.
    starts: Starts,
}

/// Restores the host from `from` on, writes it as one snapshot in place of
/// the snapshots it was restored from, and removes the WAL records it holds.
/// When Go would refuse the folded snapshot after one it leaves in place (a
/// buffer of a metric starting earlier than that file's), the fold starts
/// at that file instead.
fn fold(
    root: &Path,
    dir: &HostDir,
    config: &MetricConfig,
    wal_files: &[PathBuf],
    mut from: i64,
    done: &mut CompactedHost,
) -> Result<(), Error> {
    let (files, plan) = loop {
        let files = dir.list()?;
        let Some(plan) = plan_fold(dir, config, &files, from)? else {
            // Nothing restorable (only unconfigured metrics): the WAL stays.
            done.kept.extend(wal_files.iter().cloned());
            return Ok(());
        };
        let mut kept: Vec<&SnapshotEntry> = (files.snapshots.iter())
            .filter(|s| !plan.sources.contains(s))
            .collect();
        kept.sort_by_key(|s| s.number);
        match refusing_file(&kept, &plan.starts, config)? {
            Some(number) if number < from => from = number,
            Some(number) => {
                return Err(Error::new(
                    ErrorKind::Format,
                    format!(
                        "the snapshot numbered {number} is not restored from {from} on, yet Go would load the fold after it; not folded"
                    ),
                ));
            }
            None => break (files, plan),
        }
    };
    if let Some(clash) =
        (files.snapshots.iter()).find(|s| !plan.sources.contains(s) && s.number >= plan.number)
    {
        return Err(Error::new(
            ErrorKind::Format,
            format!(
                "{} was not restored but is numbered at or after the fold ({}); not folded",
                clash.path.display(),
                plan.number
            ),
        ));
    }
    let path = write_snapshot(root, &dir.cluster, &dir.host, plan.number, &plan.bytes)?;
    let replaced = (plan.sources.iter())
        .map(|s| s.path.clone())
        .filter(|p| *p != path);
    let removal = dir.remove(replaced);
    if let Some((_, error)) = removal.errors.into_iter().next() {
        return Err(error);
    }
    done.replaced = removal.removed;
    done.snapshot = Some(path);

    for file in wal_files {
        let unconfigured = |record: &wal::Record<'_>| !config.contains(record.metric);
        match trim_records(dir, file, unconfigured)? {
            Trimmed::Empty => match dir.remove([file.clone()]).errors.into_iter().next() {
                Some((_, error)) => return Err(error),
                None => done.removed.push(file.clone()),
            },
            Trimmed::Unchanged | Trimmed::Kept(_) | Trimmed::Damaged(_) => {
                done.kept.push(file.clone())
            }
        }
    }
    Ok(())
}

/// Restores the host from `from` on (ccwal's rules) and encodes it as one
/// snapshot; `None` when nothing configured is there.
fn plan_fold(
    dir: &HostDir,
    config: &MetricConfig,
    files: &HostListing,
    from: i64,
) -> Result<Option<FoldPlan>, Error> {
    let options = RestoreOptions {
        selection: Selection::Covering,
        recovery: Recovery::Salvage,
        workers: 1,
        only: None,
    };
    let restored = restore_one(dir, from, config, &options);
    if let Some(error) = restored.error {
        return Err(error);
    }
    let report = &restored.report;
    // A file restore skipped (unreadable, or damaged so that Go could not
    // read it either) would be replaced without its data: stop here.
    if let Some(error) = report.files_skipped.iter().find_map(|(_, r)| r.error()) {
        return Err(Error::new(
            error.kind(),
            format!("{}; not folded", error.message()),
        ));
    }
    if report.records_rejected > 0 {
        return Err(Error::new(
            ErrorKind::Format,
            format!(
                "{} WAL records could not be placed in a buffer (timestamps out of range); the host is left as it is",
                report.records_rejected
            ),
        ));
    }
    let mut sources: Vec<SnapshotEntry> = (files.snapshots.iter())
        .filter(|s| report.files_loaded.contains(&s.path))
        .cloned()
        .collect();
    sources.sort_by_key(|s| s.number);
    for source in &sources {
        if let Some(metric) = unconfigured_metric(source, config)? {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{} holds metric {:?}, which the metric configuration lacks: not folded (its data would be lost)",
                    source.path.display(),
                    String::from_utf8_lossy(&metric)
                ),
            ));
        }
    }
    let Some((first, end)) = data_window(&restored.root) else {
        return Ok(None);
    };
    let mut builder = snapshot_builder(first, end);
    let mut starts = Starts::new();
    encode_level(&mut builder, &restored.root, &mut Vec::new(), &mut starts)
        .and_then(|()| builder.finish().map(drop))
        .map_err(|e| Error::new(ErrorKind::InvalidArgument, e.to_string()))?;
    // In place of the oldest source (everything loaded after it starts no
    // earlier), or named after the first record when there is none.
    let number = sources.first().map_or(from, |s| s.number);
    Ok(Some(FoldPlan {
        sources,
        bytes: builder.into_inner(),
        number,
        starts,
    }))
}

/// The number of the newest file among `kept` (oldest first) after which Go
/// would refuse a snapshot with buffers starting at `starts`.
fn refusing_file(
    kept: &[&SnapshotEntry],
    starts: &Starts,
    config: &MetricConfig,
) -> Result<Option<i64>, Error> {
    for entry in kept.iter().rev() {
        let Some(theirs) = metric_starts(&entry.path, entry.format)? else {
            continue;
        };
        let refused = theirs.iter().any(|(key, start)| {
            config.contains(&key.1) && starts.get(key).is_some_and(|ours| ours < start)
        });
        if refused {
            return Ok(Some(entry.number));
        }
    }
    Ok(None)
}

/// The first metric of a snapshot file that the configuration lacks.
fn unconfigured_metric(
    entry: &SnapshotEntry,
    config: &MetricConfig,
) -> Result<Option<Vec<u8>>, Error> {
    Ok(metric_starts(&entry.path, entry.format)?
        .unwrap_or_default()
        .into_iter()
        .map(|((_, metric), _)| metric)
        .find(|metric| !config.contains(metric)))
}

/// Renames the newest snapshot to `to - 1` of its window (never past
/// `now - 1`) when that is a larger number, so that Go's selection, which
/// takes nothing below its horizon after the last file, takes it.
fn publish_newest(dir: &HostDir, now: i64) -> Result<Option<(PathBuf, PathBuf)>, Error> {
    let files = dir.list()?;
    let Some(newest) = files.snapshots.iter().max_by_key(|s| s.number) else {
        return Ok(None);
    };
    let to = match newest.format {
        SnapshotFormat::Binary => {
            let mut header = [0u8; crate::codec::snapshot::HEADER_LEN];
            let read = std::fs::File::open(&newest.path)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header));
            match read.ok().and_then(|()| decode_header(&header).ok()) {
                Some((_, to)) => to,
                None => return Ok(None),
            }
        }
        SnapshotFormat::Json => {
            let content =
                std::fs::read(&newest.path).map_err(|e| Error::io_at("read", &newest.path, &e))?;
            match decode_json_snapshot(&content) {
                Ok(snapshot) => snapshot.to,
                Err(_) => return Ok(None),
            }
        }
    };
    let number = to.saturating_sub(1).min(now - 1);
    if number <= newest.number {
        return Ok(None);
    }
    let target = dir.snapshot_path(number, newest.format);
    dir.rename_durably(&newest.path, &target)?;
    Ok(Some((newest.path.clone(), target)))
}

/// One metric's chunks as a single series on the grid of the first one
/// (a snapshot holds one series per metric and level); a later chunk's
/// value wins a slot, as in the chain.
fn merged_series(chunks: &[Chunk]) -> Option<(i64, i64, Vec<f64>)> {
    let first = chunks.first()?;
    let (start, frequency) = (first.start, first.frequency);
    let mut values: Vec<f64> = Vec::new();
    for chunk in chunks {
        for (i, &v) in chunk.values.iter().enumerate() {
            let ts = chunk.start + i as i64 * chunk.frequency;
            let index = ((ts - start + frequency / 2) / frequency).max(0) as usize;
            if index >= values.len() {
                values.resize(index + 1, f64::NAN);
            }
            if !v.is_nan() {
                values[index] = v;
            }
        }
    }
    Some((start, frequency, values))
}

/// The window of a level's data: (earliest start, latest end).
fn data_window(level: &RestoredLevel) -> Option<(i64, i64)> {
    let own = level
        .metrics
        .values()
        .flatten()
        .filter(|c| !c.values.is_empty())
        .map(|c| (c.start, c.start + c.values.len() as i64 * c.frequency));
    let children = level.children.values().filter_map(data_window);
    own.chain(children)
        .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
}

/// Encodes a level, each metric's chunks merged, and notes each buffer's
/// start under `path`.
fn encode_level(
    builder: &mut super::SnapshotBuilder,
    level: &RestoredLevel,
    path: &mut Vec<Vec<u8>>,
    starts: &mut Starts,
) -> Result<(), crate::codec::snapshot::EncodeError> {
    for (name, chain) in &level.metrics {
        if let Some((start, frequency, values)) = merged_series(chain) {
            builder.metric(name, frequency, start, &values)?;
            starts.insert((path.clone(), name.clone()), start);
        }
    }
    for (name, child) in &level.children {
        builder.begin_child(name)?;
        path.push(name.clone());
        encode_level(builder, child, path, starts)?;
        path.pop();
        builder.end_child()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(start: i64, frequency: i64, values: &[f64]) -> Chunk {
        Chunk {
            start,
            frequency,
            capacity: values.len(),
            archived: false,
            values: values.to_vec(),
        }
    }

    #[test]
    fn merged_series_puts_each_value_in_the_slot_of_its_time() {
        // A Go snapshot starting off-grid at 123, then a replayed chunk
        // starting half a step before its first sample at 300.
        let chunks = [
            chunk(123, 60, &[1.0, 2.0]),
            chunk(270, 60, &[3.0, f64::NAN, 5.0]),
        ];
        let (start, frequency, values) = merged_series(&chunks).unwrap();
        assert_eq!((start, frequency), (123, 60));
        // Slot starts 123 → 0, 183 → 1; 270 → 2 (its sample at 300 is
        // read from slot (300 - 123) / 60 = 2), 390 → 4.
        let expected = [1.0, 2.0, 3.0, f64::NAN, 5.0];
        assert_eq!(values.len(), expected.len());
        for (got, want) in values.iter().zip(expected) {
            assert!(
                got == &want || (got.is_nan() && want.is_nan()),
                "{values:?}"
            );
        }
    }

    #[test]
    fn a_later_chunk_wins_a_slot_but_not_with_a_gap() {
        let chunks = [chunk(0, 10, &[1.0, 2.0]), chunk(10, 10, &[f64::NAN, 7.0])];
        let (_, _, values) = merged_series(&chunks).unwrap();
        assert_eq!(values, vec![1.0, 2.0, 7.0]);
    }

    #[test]
    fn the_data_window_spans_every_level() {
        let mut level = RestoredLevel::default();
        level
            .metrics
            .insert(b"m".to_vec(), vec![chunk(100, 10, &[1.0])]);
        let mut child = RestoredLevel::default();
        child
            .metrics
            .insert(b"m".to_vec(), vec![chunk(50, 10, &[1.0, 2.0, 3.0])]);
        level.children.insert(b"cpu0".to_vec(), child);
        assert_eq!(data_window(&level), Some((50, 110)));
        assert_eq!(data_window(&RestoredLevel::default()), None);
    }
}
