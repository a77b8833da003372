//! The checkpoint directory layout: `ROOT/CLUSTER/HOST/{current.wal,
//! <from>.bin, <from>.json, <from>.bin.tmp}`, the names of files in a host
//! directory, and which snapshots a restore loads for a retention horizon.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::names::{self, NameError, NameField};

/// The live WAL of a host.
pub const WAL_FILE_NAME: &str = "current.wal";

/// `ROOT/CLUSTER/HOST`, after checking both names are single path
/// components.
pub fn host_dir(root: &Path, cluster: &[u8], host: &[u8]) -> Result<PathBuf, NameError> {
    names::validate_path_component(NameField::Cluster, cluster)?;
    names::validate_path_component(NameField::Host, host)?;
    Ok(root
        .join(OsStr::from_bytes(cluster))
        .join(OsStr::from_bytes(host)))
}

/// The two snapshot formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapshotFormat {
    /// `<from>.bin`.
    Binary,
    /// `<from>.json`.
    Json,
}

impl SnapshotFormat {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            SnapshotFormat::Binary => "bin",
            SnapshotFormat::Json => "json",
        }
    }
}

/// `<from>.bin` or `<from>.json`.
pub fn snapshot_file_name(from: i64, format: SnapshotFormat) -> String {
    format!("{from}.{}", format.extension())
}

/// `<from>.bin.tmp`: where a binary snapshot is written before its rename.
pub fn snapshot_temp_name(from: i64) -> String {
    format!("{from}.bin.tmp")
}

/// What a file in a host directory is, by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostFileName {
    /// `current.wal`.
    Wal,
    /// `*.bin` or `*.json`; `number` is the decimal number before the
    /// extension, or `None` when that is not a number (which fails the host
    /// on restore, as in Go).
    Snapshot {
        /// Binary or JSON.
        format: SnapshotFormat,
        /// The number in the name.
        number: Option<i64>,
    },
    /// `wal-<label>.sealed` or `wal-<label>-<k>.sealed`: a WAL segment
    /// sealed by a checkpoint session, replayed (oldest first) before
    /// current.wal. The Go restore ignores these names.
    Sealed {
        /// The label: the end of the window (`to`) of the checkpoint session
        /// that sealed it.
        label: i64,
        /// Which segment of that label: 0 for `wal-<label>.sealed`, k for
        /// `wal-<label>-<k>.sealed`.
        k: u32,
    },
    /// `<from>.bin.tmp`: a snapshot being written, or left by a crash.
    /// Never read; cleaned up by `checkpoint::cleanup` once old.
    Temporary {
        /// The number in the name.
        number: i64,
    },
    /// `wal-<label>[-<k>].sealed.tmp`: a sealed segment being replaced by
    /// its trimmed copy, or left by a crash (the segment itself is intact
    /// then). Never read; cleaned up by `checkpoint::cleanup`.
    SegmentTemporary,
    /// Anything else: never read.
    Other,
}

/// The name a checkpoint session gives a sealed segment: `wal-<label>.sealed`,
/// or `wal-<label>-<k>.sealed` for the k-th one with the same label.
pub fn sealed_segment_name(label: i64, k: u32) -> String {
    if k == 0 {
        format!("wal-{label}.sealed")
    } else {
        format!("wal-{label}-{k}.sealed")
    }
}

fn parse_sealed(name: &[u8]) -> Option<(i64, u32)> {
    let middle = std::str::from_utf8(name.strip_prefix(b"wal-")?.strip_suffix(b".sealed")?).ok()?;
    // A label may be negative, so split at the last '-' that is not first.
    match middle.rfind('-').filter(|&at| at > 0) {
        Some(at) => Some((middle[..at].parse().ok()?, middle[at + 1..].parse().ok()?)),
        None => Some((middle.parse().ok()?, 0)),
    }
}

/// Classifies a file name found in a host directory.
pub fn classify(name: &OsStr) -> HostFileName {
    let bytes = name.as_bytes();
    if bytes == WAL_FILE_NAME.as_bytes() {
        return HostFileName::Wal;
    }
    if let Some((label, k)) = parse_sealed(bytes) {
        return HostFileName::Sealed { label, k };
    }
    if bytes.strip_suffix(b".tmp").and_then(parse_sealed).is_some() {
        return HostFileName::SegmentTemporary;
    }
    if let Some(number) = bytes
        .strip_suffix(b".bin.tmp")
        .and_then(|stem| std::str::from_utf8(stem).ok())
        .and_then(|stem| stem.parse::<i64>().ok())
    {
        return HostFileName::Temporary { number };
    }
    let (stem, format) = if let Some(stem) = bytes.strip_suffix(b".bin") {
        (stem, SnapshotFormat::Binary)
    } else if let Some(stem) = bytes.strip_suffix(b".json") {
        (stem, SnapshotFormat::Json)
    } else {
        return HostFileName::Other;
    };
    let number = std::str::from_utf8(stem)
        .ok()
        .and_then(|s| s.parse::<i64>().ok());
    HostFileName::Snapshot { format, number }
}

/// A snapshot file of a host directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// The file's path.
    pub path: PathBuf,
    /// The number in its name (unix seconds).
    pub number: i64,
    /// Binary or JSON.
    pub format: SnapshotFormat,
}

/// Which snapshots a restore loads for a retention horizon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Selection {
    /// The Go rule: every snapshot numbered ≥ `from`, plus the one just
    /// below `from` when a later one is above it. When every snapshot is
    /// below `from`, none is taken, although the newest may cover data after
    /// `from`.
    GoExact,
    /// The Go rule, and also the newest snapshot below `from` when nothing
    /// is above it, so a horizon inside the last window does not lose it.
    /// (A snapshot whose `to` is before the horizon is still skipped when it
    /// is loaded.)
    #[default]
    Covering,
}

/// Applies the selection rule to a host's snapshots; returns them in load
/// order (by number; a `.json` and a `.bin` with the same number keep the
/// order they came in, which the caller makes stable).
pub fn select_snapshots(
    mut entries: Vec<SnapshotEntry>,
    from: i64,
    rule: Selection,
) -> Vec<SnapshotEntry> {
    entries.sort_by_key(|e| e.number);
    let mut keep = vec![false; entries.len()];
    for i in 0..entries.len() {
        let number = entries[i].number;
        if number >= from {
            keep[i] = true;
        } else if let Some(next) = entries.get(i + 1) {
            keep[i] = next.number > from;
        } else {
            keep[i] = rule == Selection::Covering;
        }
    }
    entries
        .into_iter()
        .zip(keep)
        .filter_map(|(e, k)| k.then_some(e))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(numbers: &[i64]) -> Vec<SnapshotEntry> {
        numbers
            .iter()
            .map(|&n| SnapshotEntry {
                path: PathBuf::from(snapshot_file_name(n, SnapshotFormat::Binary)),
                number: n,
                format: SnapshotFormat::Binary,
            })
            .collect()
    }

    fn numbers(selected: Vec<SnapshotEntry>) -> Vec<i64> {
        selected.into_iter().map(|e| e.number).collect()
    }

    #[test]
    fn go_selection_rule() {
        let go =
            |ns: &[i64], from| numbers(select_snapshots(entries(ns), from, Selection::GoExact));
        assert_eq!(go(&[300, 100, 200], 150), vec![100, 200, 300]);
        assert_eq!(go(&[100, 200, 300], 200), vec![200, 300]);
        assert_eq!(go(&[100, 200, 300], 50), vec![100, 200, 300]);
        assert_eq!(go(&[100, 200, 300], 350), Vec::<i64>::new());
        assert_eq!(go(&[100, 200, 300], 250), vec![200, 300]);
        assert_eq!(go(&[], 250), Vec::<i64>::new());
    }

    #[test]
    fn covering_takes_the_newest_below_the_horizon() {
        let cov =
            |ns: &[i64], from| numbers(select_snapshots(entries(ns), from, Selection::Covering));
        assert_eq!(cov(&[100, 200, 300], 350), vec![300]);
        assert_eq!(cov(&[100, 200, 300], 250), vec![200, 300]);
        assert_eq!(cov(&[100], 100), vec![100]);
    }

    #[test]
    fn file_names() {
        assert_eq!(classify(OsStr::new("current.wal")), HostFileName::Wal);
        assert_eq!(
            classify(OsStr::new("1700000000.bin")),
            HostFileName::Snapshot {
                format: SnapshotFormat::Binary,
                number: Some(1_700_000_000)
            }
        );
        assert_eq!(
            classify(OsStr::new("17.json")),
            HostFileName::Snapshot {
                format: SnapshotFormat::Json,
                number: Some(17)
            }
        );
        assert_eq!(
            classify(OsStr::new("abc.bin")),
            HostFileName::Snapshot {
                format: SnapshotFormat::Binary,
                number: None
            }
        );
        assert_eq!(
            classify(OsStr::new("1700000000.bin.tmp")),
            HostFileName::Temporary {
                number: 1_700_000_000
            }
        );
        assert_eq!(classify(OsStr::new("x.bin.tmp")), HostFileName::Other);
        assert_eq!(classify(OsStr::new("old.wal")), HostFileName::Other);
        assert_eq!(
            classify(OsStr::new("wal-1700000000.sealed")),
            HostFileName::Sealed {
                label: 1_700_000_000,
                k: 0
            }
        );
        assert_eq!(
            classify(OsStr::new("wal-17-2.sealed")),
            HostFileName::Sealed { label: 17, k: 2 }
        );
        assert_eq!(
            classify(OsStr::new("wal--5.sealed")),
            HostFileName::Sealed { label: -5, k: 0 }
        );
        assert_eq!(classify(OsStr::new("wal-x.sealed")), HostFileName::Other);
        assert_eq!(
            classify(OsStr::new("wal-17-2.sealed.tmp")),
            HostFileName::SegmentTemporary
        );
        for (label, k) in [(1_700_000_000, 0), (5, 3), (-2, 1)] {
            let name = sealed_segment_name(label, k);
            assert_eq!(
                classify(OsStr::new(&name)),
                HostFileName::Sealed { label, k }
            );
        }
    }

    #[test]
    fn host_dir_refuses_traversal() {
        let root = Path::new("/r");
        assert_eq!(host_dir(root, b"c", b"h").unwrap(), PathBuf::from("/r/c/h"));
        assert!(host_dir(root, b"..", b"h").is_err());
        assert!(host_dir(root, b"c", b"a/b").is_err());
    }
}
