//! Offline compaction: fold each host's WAL (current.wal and sealed
//! segments) into a new snapshot, then discard the folded files. For
//! directories whose WAL grew because checkpoints failed. Not for a root a
//! running store writes to.

use std::path::{Path, PathBuf};

use super::{snapshot_builder, write_snapshot};
use crate::codec::snapshot::EncodeError;
use crate::error::{Error, ErrorKind};
use crate::restore::{
    Chunk, MetricConfig, Recovery, RestoreOptions, RestoredLevel, Selection, restore,
};
use crate::storage::HostDir;

/// What compaction did for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactedHost {
    /// The host's cluster name.
    pub cluster: Vec<u8>,
    /// The host's name.
    pub host: Vec<u8>,
    /// The new snapshot, `None` when the WAL held nothing to fold.
    pub snapshot: Option<PathBuf>,
    /// WAL files deleted after the snapshot was on disk.
    pub removed: Vec<PathBuf>,
    /// The error that stopped this host's compaction; its WAL stays.
    pub error: Option<Error>,
}

/// One metric's WAL data as a single series: the chunks replay made,
/// merged on the grid of the first one (a snapshot holds one series per
/// metric and level).
fn merged_series(chunks: &[&Chunk]) -> Option<(i64, i64, Vec<f64>)> {
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

/// The window of a level's WAL data: (earliest start, latest end).
fn wal_window(level: &RestoredLevel) -> Option<(i64, i64)> {
    let own = level
        .metrics
        .values()
        .flatten()
        .filter(|c| !c.archived)
        .map(|c| (c.start, c.start + c.values.len() as i64 * c.frequency));
    let children = level.children.values().filter_map(wal_window);
    own.chain(children)
        .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
}

fn encode_level(
    builder: &mut super::SnapshotBuilder,
    level: &RestoredLevel,
) -> Result<(), EncodeError> {
    for (name, chain) in &level.metrics {
        let wal_chunks: Vec<&Chunk> = chain.iter().filter(|c| !c.archived).collect();
        if let Some((start, frequency, values)) = merged_series(&wal_chunks) {
            builder.metric(name, frequency, start, &values)?;
        }
    }
    for (name, child) in &level.children {
        builder.begin_child(name)?;
        encode_level(builder, child)?;
        builder.end_child()?;
    }
    Ok(())
}

/// Folds every host's WAL below `root` into a snapshot named after the
/// WAL's first sample (above every existing snapshot's number, so restore
/// selects it after them). Each snapshot is written and fsynced before its
/// WAL files are deleted, so a crash at any point loses nothing.
pub fn compact(root: &Path, config: &MetricConfig) -> Result<Vec<CompactedHost>, Error> {
    let options = RestoreOptions {
        selection: Selection::Covering,
        recovery: Recovery::Salvage,
        workers: 0,
        only: None,
    };
    let restored = restore(root, i64::MIN, config, &options)?;
    let mut out = Vec::new();
    for host in restored.hosts {
        let mut result = CompactedHost {
            cluster: host.cluster.clone(),
            host: host.host.clone(),
            snapshot: None,
            removed: vec![],
            error: None,
        };
        if let Some(error) = host.error {
            result.error = Some(error);
            out.push(result);
            continue;
        }
        match compact_host(root, &host.cluster, &host.host, &host.root) {
            Ok((snapshot, removed)) => {
                result.snapshot = snapshot;
                result.removed = removed;
            }
            Err(e) => result.error = Some(e),
        }
        out.push(result);
    }
    Ok(out)
}

fn compact_host(
    root: &Path,
    cluster: &[u8],
    host: &[u8],
    level: &RestoredLevel,
) -> Result<(Option<PathBuf>, Vec<PathBuf>), Error> {
    let dir = HostDir::new(root, cluster, host)?;
    let files = dir.list()?;
    let wal_files: Vec<PathBuf> = files
        .sealed
        .iter()
        .cloned()
        .chain(files.wal.clone())
        .collect();
    let Some((first, last)) = wal_window(level) else {
        return Ok((None, Vec::new()));
    };
    let newest = files.snapshots.iter().map(|s| s.number).max();
    let number = newest.map_or(first, |n| first.max(n + 1));
    let mut builder = snapshot_builder(number, last);
    encode_level(&mut builder, level)
        .and_then(|()| builder.finish().map(drop))
        .map_err(|e| Error::new(ErrorKind::InvalidArgument, e.to_string()))?;
    let path = write_snapshot(root, cluster, host, number, &builder.into_inner())?;
    let removal = dir.remove(wal_files);
    match removal.errors.into_iter().next() {
        Some((_, error)) => Err(error),
        None => Ok((Some(path), removal.removed)),
    }
}
