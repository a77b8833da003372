//! Checks one file of a checkpoint directory: what it is, how many records
//! it holds, the time it covers and every damaged range. Shared by `verify`
//! and `stat`.

use std::path::Path;

use ccwal::codec::wal::{self, WalItem};
use ccwal::codec::{FileKind, detect_kind, json, snapshot};
use ccwal::layout::{self, HostFileName, SnapshotFormat};

/// A range of bytes that is not what it should be.
pub struct Damage {
    pub offset: usize,
    pub len: usize,
    pub reason: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Wal,
    Snapshot,
}

pub struct FileReport {
    pub kind: Kind,
    pub records: u64,
    /// Earliest and latest time covered: record timestamps of a WAL, the
    /// window of a snapshot.
    pub time_range: Option<(i64, i64)>,
    pub damage: Vec<Damage>,
}

/// The format a file name calls for, as restore reads it: `current.wal`,
/// sealed segments (`wal-<label>[-<k>].sealed`) and other `*.wal` are WAL,
/// `*.bin` (and `*.bin.tmp`) binary and `*.json` JSON snapshots. `None`
/// when the name says nothing.
pub fn format_by_name(path: &Path) -> Option<FileKind> {
    match layout::classify(path.file_name()?) {
        HostFileName::Wal | HostFileName::Sealed { .. } | HostFileName::SegmentTemporary => {
            Some(FileKind::Wal)
        }
        HostFileName::Snapshot {
            format: SnapshotFormat::Binary,
            ..
        }
        | HostFileName::Temporary { .. } => Some(FileKind::BinarySnapshot),
        HostFileName::Snapshot {
            format: SnapshotFormat::Json,
            ..
        } => Some(FileKind::JsonSnapshot),
        HostFileName::Other => (path.extension()? == "wal").then_some(FileKind::Wal),
    }
}

/// Inspects `content` with the decoder its name calls for (as restore
/// would read it), or by its content when the name says nothing; `None`
/// when it is neither by name nor by content a metricstore file.
pub fn inspect(path: &Path, content: &[u8]) -> Option<FileReport> {
    match format_by_name(path).or_else(|| detect_kind(content))? {
        FileKind::Wal => Some(inspect_wal(content)),
        FileKind::BinarySnapshot => Some(inspect_binary(content)),
        FileKind::JsonSnapshot => Some(inspect_json(content)),
    }
}

fn whole_file_damage(kind: Kind, content: &[u8], reason: &str) -> FileReport {
    FileReport {
        kind,
        records: 0,
        time_range: None,
        damage: vec![Damage {
            offset: 0,
            len: content.len(),
            reason: reason.to_string(),
        }],
    }
}

fn widen(range: &mut Option<(i64, i64)>, ts: i64) {
    *range = Some(match *range {
        None => (ts, ts),
        Some((first, last)) => (first.min(ts), last.max(ts)),
    });
}

fn inspect_wal(content: &[u8]) -> FileReport {
    let start = match wal::check_file_header(content) {
        Ok(start) => start,
        Err(e) => return whole_file_damage(Kind::Wal, content, &e.to_string()),
    };
    let mut report = FileReport {
        kind: Kind::Wal,
        records: 0,
        time_range: None,
        damage: Vec::new(),
    };
    for item in wal::WalReader::new(content, start, wal::OnDamage::Resync) {
        match item {
            WalItem::Record { record, .. } => {
                report.records += 1;
                widen(&mut report.time_range, record.ts);
            }
            WalItem::Damaged { offset, len, error } => report.damage.push(Damage {
                offset,
                len,
                reason: error.to_string(),
            }),
        }
    }
    report
}

fn snapshot_report(window: (i64, i64), damage: Vec<Damage>) -> FileReport {
    let (from, to) = window;
    FileReport {
        kind: Kind::Snapshot,
        records: 0,
        time_range: Some((from, to.max(from))),
        damage,
    }
}

fn inspect_binary(content: &[u8]) -> FileReport {
    match snapshot::decode_snapshot(content) {
        Ok((snap, used)) => {
            let mut damage = Vec::new();
            if used < content.len() {
                damage.push(Damage {
                    offset: used,
                    len: content.len() - used,
                    reason: "trailing bytes after the snapshot tree".to_string(),
                });
            }
            snapshot_report((snap.from, snap.to), damage)
        }
        Err(e) => FileReport {
            kind: Kind::Snapshot,
            records: 0,
            time_range: None,
            damage: vec![Damage {
                offset: e.offset,
                len: content.len() - e.offset,
                reason: e.to_string(),
            }],
        },
    }
}

/// A JSON snapshot must have the strict shape of the format (integer
/// `from` and `to` on every level, ...), not only decode as leniently as
/// Go's restore reads it: `{}` is no snapshot.
fn inspect_json(content: &[u8]) -> FileReport {
    if let Err(e) = json::validate_json_snapshot(content) {
        return whole_file_damage(Kind::Snapshot, content, &e.to_string());
    }
    match json::decode_json_snapshot(content) {
        Ok(snap) => snapshot_report((snap.from, snap.to), Vec::new()),
        Err(e) => whole_file_damage(Kind::Snapshot, content, &e.to_string()),
    }
}
