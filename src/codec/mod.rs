//! Pure codecs for the three on-disk formats: no file I/O, no global state.

pub mod json;
pub mod lineproto;
pub mod snapshot;
pub mod wal;

/// The kind of a metricstore file, as told by its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A WAL file (`current.wal`, a sealed segment).
    Wal,
    /// A binary snapshot (`<from>.bin`).
    BinarySnapshot,
    /// A legacy JSON snapshot (`<from>.json`).
    JsonSnapshot,
}

/// Tells a file's kind from its first bytes: the WAL and binary snapshot
/// magics, or a JSON object. `None` when it is none of them (or empty).
pub fn detect_kind(content: &[u8]) -> Option<FileKind> {
    let magic = content
        .get(..4)
        .map(|m| u32::from_le_bytes(m.try_into().expect("4 bytes")));
    match magic {
        Some(wal::FILE_MAGIC) => Some(FileKind::Wal),
        Some(snapshot::SNAPSHOT_MAGIC) => Some(FileKind::BinarySnapshot),
        _ => match content.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Some(FileKind::JsonSnapshot),
            _ => None,
        },
    }
}
