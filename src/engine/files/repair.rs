//! What a WAL file needs before this process appends to it for the first
//! time: a header in an empty file, a torn tail cut off (a crash in the
//! middle of a write), a file with a bad header moved aside. Every change
//! to the file goes through [`HostDir`], which owns append-side repairs.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::codec::wal::{self, FileHeaderError, OnDamage, RecordError, WalItem, WalReader};
use crate::engine::tunables::TAIL_CHECK_BYTES;
use crate::error::Error;
use crate::storage::{HostDir, SyncData, WalOpen};

/// A repair made to a host's WAL, for its event.
#[derive(Debug)]
pub(super) enum Repair {
    /// `len` damaged bytes at `offset` were cut off (made durable at once).
    TornTail {
        offset: u64,
        len: usize,
        error: RecordError,
    },
    /// The file had a bad header: it was moved to `aside` and a new WAL
    /// started.
    MovedAside {
        error: FileHeaderError,
        aside: PathBuf,
    },
}

impl Repair {
    /// The message for the host's event.
    pub fn message(&self, dir: &HostDir) -> String {
        let path = dir.wal_path();
        match self {
            Repair::TornTail { offset, len, error } => format!(
                "{}: cut {len} damaged bytes at offset {offset} ({error})",
                path.display()
            ),
            Repair::MovedAside { error, aside } => format!(
                "{}: {error}; moved to {} and started a new WAL",
                path.display(),
                aside.display()
            ),
        }
    }
}

/// Where appending to a checked WAL starts.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Checked {
    /// The file was empty (or new): a header was written, not yet synced;
    /// appends start after it.
    NewHeader,
    /// Whole records up to this length: what an earlier process left is as
    /// durable as it will get.
    Existing(u64),
}

/// Brings `file`, just opened as the host's current.wal, to a state where
/// appending is safe; `report` learns of each repair as it is made.
pub(super) fn check_wal(
    dir: &HostDir,
    file: &mut File,
    report: &mut dyn FnMut(Repair),
) -> Result<Checked, Error> {
    let path = dir.wal_path();
    let size = file
        .metadata()
        .map_err(|e| Error::io_at("stat", &path, &e))?
        .len();
    if size > 2 * TAIL_CHECK_BYTES {
        if let Some(len) = check_tail(dir, file, size, report)? {
            return Ok(Checked::Existing(len));
        }
    }
    let mut content = Vec::new();
    file.read_to_end(&mut content)
        .map_err(|e| Error::io_at("read", &path, &e))?;
    let start = match wal::check_file_header(&content) {
        Ok(0) => {
            // Cut whatever a failed header write left, then write it.
            dir.restart_wal(file, &wal::file_header())?;
            return Ok(Checked::NewHeader);
        }
        Ok(start) => start,
        Err(error) => {
            let aside = dir.move_aside(&path)?;
            report(Repair::MovedAside { error, aside });
            *file = dir
                .open_wal(WalOpen::CreateNew)
                .map_err(|e| Error::io_at("create", &path, &e))?;
            return check_wal(dir, file, report);
        }
    };
    let len = match first_damage(&content, start) {
        Some(damage) => cut_tail(dir, file, 0, damage, report)?,
        None => content.len() as u64,
    };
    Ok(Checked::Existing(len))
}

/// The first damaged stretch from `start` on: (offset, length, error).
fn first_damage(bytes: &[u8], start: usize) -> Option<(usize, usize, RecordError)> {
    WalReader::new(bytes, start, OnDamage::Stop).find_map(|item| match item {
        WalItem::Damaged { offset, len, error } => Some((offset, len, error)),
        WalItem::Record { .. } => None,
    })
}

/// [`check_wal`] of a large file: checks its header and looks for a torn
/// tail in its last [`TAIL_CHECK_BYTES`] only (what comes before was
/// written whole: every failed append is cut back). `None` when that is
/// not enough to tell (a bad header, no whole record in the window): the
/// caller reads the whole file.
fn check_tail(
    dir: &HostDir,
    file: &File,
    size: u64,
    report: &mut dyn FnMut(Repair),
) -> Result<Option<u64>, Error> {
    let read_error = |e: io::Error| Error::io_at("read", &dir.wal_path(), &e);
    let mut header = [0u8; wal::FILE_HEADER_LEN];
    file.read_exact_at(&mut header, 0).map_err(read_error)?;
    if wal::check_file_header(&header).is_err() {
        return Ok(None);
    }
    let base = size - TAIL_CHECK_BYTES;
    let mut window = vec![0u8; TAIL_CHECK_BYTES as usize];
    file.read_exact_at(&mut window, base).map_err(read_error)?;
    let first = match wal::decode_record(&window) {
        Ok(_) => Some(0),
        Err(_) => wal::find_next_record(&window, 0),
    };
    let Some(first) = first else {
        return Ok(None);
    };
    Ok(Some(match first_damage(&window, first) {
        Some(damage) => cut_tail(dir, file, base, damage, report)?,
        None => size,
    }))
}

/// Cuts a torn tail off at `base` + its offset; returns the new length.
/// Made durable at once (rare): a sealed segment must never get the torn
/// bytes back after a crash.
fn cut_tail(
    dir: &HostDir,
    file: &File,
    base: u64,
    (offset, len, error): (usize, usize, RecordError),
    report: &mut dyn FnMut(Repair),
) -> Result<u64, Error> {
    let offset = base + offset as u64;
    dir.cut_wal(file, offset, SyncData::Now)?;
    report(Repair::TornTail { offset, len, error });
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ts: i64) -> Vec<u8> {
        let mut out = Vec::new();
        wal::encode_record_unchecked(&mut out, ts, b"cpu_load", &[b"cpu0"], 1.5f32.to_bits());
        out
    }

    /// A host directory holding a current.wal with `content`, opened as
    /// the engine opens it.
    fn wal_with(content: &[u8]) -> (tempfile::TempDir, HostDir, File) {
        let root = tempfile::tempdir().unwrap();
        let dir = HostDir::new(root.path(), b"cluster", b"host").unwrap();
        dir.create().unwrap();
        std::fs::write(dir.wal_path(), content).unwrap();
        let file = dir.open_wal(WalOpen::CreateOrAppend).unwrap();
        (root, dir, file)
    }

    fn check(dir: &HostDir, file: &mut File) -> (Checked, Vec<Repair>) {
        let mut repairs = Vec::new();
        let checked = check_wal(dir, file, &mut |r| repairs.push(r)).unwrap();
        (checked, repairs)
    }

    #[test]
    fn an_empty_file_gets_a_header() {
        let (_root, dir, mut file) = wal_with(b"");
        let (checked, repairs) = check(&dir, &mut file);
        assert_eq!(checked, Checked::NewHeader);
        assert!(repairs.is_empty());
        assert_eq!(std::fs::read(dir.wal_path()).unwrap(), wal::file_header());
    }

    #[test]
    fn whole_records_are_kept_and_a_torn_tail_is_cut() {
        let mut content = wal::file_header().to_vec();
        content.extend(record(1));
        content.extend(record(2));
        let whole = content.len() as u64;
        let (_root, dir, mut file) = wal_with(&content);
        let (checked, repairs) = check(&dir, &mut file);
        assert_eq!(checked, Checked::Existing(whole));
        assert!(repairs.is_empty());

        let torn = &record(3)[..7];
        content.extend_from_slice(torn);
        let (_root, dir, mut file) = wal_with(&content);
        let (checked, repairs) = check(&dir, &mut file);
        assert_eq!(checked, Checked::Existing(whole));
        match &repairs[..] {
            [Repair::TornTail { offset, len, .. }] => assert_eq!((*offset, *len), (whole, 7)),
            other => panic!("{other:?}"),
        }
        assert!(repairs[0].message(&dir).contains("cut 7 damaged bytes"));
        assert_eq!(std::fs::metadata(dir.wal_path()).unwrap().len(), whole);
    }

    #[test]
    fn a_large_file_is_checked_by_its_tail_only() {
        let mut content = wal::file_header().to_vec();
        let one = record(1);
        while (content.len() as u64) < 3 * TAIL_CHECK_BYTES {
            content.extend_from_slice(&one);
        }
        let whole = content.len() as u64;
        // Damage before the window is not looked at (appends are whole)…
        let early = wal::FILE_HEADER_LEN + 3;
        content[early] ^= 0xff;
        content.extend_from_slice(&one[..5]);
        let (_root, dir, mut file) = wal_with(&content);
        let (checked, repairs) = check(&dir, &mut file);
        // …while the torn tail is cut.
        assert_eq!(checked, Checked::Existing(whole));
        assert!(matches!(repairs[..], [Repair::TornTail { len: 5, .. }]));
    }

    #[test]
    fn a_file_with_a_bad_or_partial_header_is_moved_aside_and_a_new_one_started() {
        for content in [&b"not a WAL at all"[..], &wal::file_header()[..3]] {
            let (_root, dir, mut file) = wal_with(content);
            let (checked, repairs) = check(&dir, &mut file);
            assert_eq!(checked, Checked::NewHeader);
            let [Repair::MovedAside { aside, .. }] = &repairs[..] else {
                panic!("{repairs:?}");
            };
            assert_eq!(std::fs::read(aside).unwrap(), content);
            assert_eq!(std::fs::read(dir.wal_path()).unwrap(), wal::file_header());
        }
    }
}
