//! Any bytes as a snapshot (binary, or legacy JSON when they start with
//! `{`) for the archive. Invariants:
//! - the archive's reader accepts exactly what the snapshot decoder does;
//! - one row per value that is not NaN, a repeated name in a level counting
//!   once (the last), each row's timestamp `start + i * frequency`;
//! - a known scope prefix gives a scope id that starts with a digit and
//!   together with the prefix spells the level's name;
//! - the Parquet file written from the rows reads back (with the parquet
//!   crate's reader) to the same rows, in order.
#![no_main]

use std::collections::BTreeMap;

use bytes_reader::read_back;
use ccwal::archive::ParquetArchive;
use ccwal::archive::rows::{ArchiveLevel, host_rows, load_binary, load_json, parse_scope};
use ccwal::codec::json::decode_json_snapshot;
use ccwal::codec::snapshot::{Level, decode_snapshot};
use libfuzzer_sys::fuzz_target;

/// Non-NaN values of a decoded level, a repeated name counting once (the last).
fn expected_rows<V: Copy + Into<f64>>(level: &Level<V>) -> usize {
    let metrics: BTreeMap<&[u8], &[V]> = level
        .metrics
        .iter()
        .map(|m| (&m.name[..], &m.values[..]))
        .collect();
    let children: BTreeMap<&[u8], &Level<V>> = level
        .children
        .iter()
        .map(|c| (&c.name[..], &c.level))
        .collect();
    let own: usize = metrics
        .values()
        .map(|v| v.iter().filter(|x| !(**x).into().is_nan()).count())
        .sum();
    own + children.values().map(|c| expected_rows(c)).sum::<usize>()
}

fn check_scopes(level: &ArchiveLevel) {
    for (name, child) in &level.children {
        let (scope, id) = parse_scope(name);
        if !id.is_empty() {
            assert!(id[0].is_ascii_digit());
            let prefix = &name[..name.len() - id.len()];
            assert!(
                prefix == scope || (prefix == b"cpu" && scope == b"hwthread"),
                "{name:?}"
            );
        } else {
            assert_eq!(scope, &name[..]);
        }
        check_scopes(child);
    }
}

mod bytes_reader {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;

    /// (timestamp, frequency, value bits) of every row of a Parquet file.
    pub fn read_back(file: Vec<u8>) -> Vec<(i64, i64, u32)> {
        let reader =
            SerializedFileReader::new(bytes::Bytes::from(file)).expect("our archive reads back");
        reader
            .get_row_iter(None)
            .expect("rows")
            .map(|row| {
                let row = row.expect("a row");
                (
                    row.get_long(5).unwrap(),
                    row.get_long(6).unwrap(),
                    row.get_float(7).unwrap().to_bits(),
                )
            })
            .collect()
    }
}

fuzz_target!(|data: &[u8]| {
    let json = data.first() == Some(&b'{');
    let (level, expected) = if json {
        let level = load_json(data);
        let decoded = decode_json_snapshot(data);
        assert_eq!(level.is_ok(), decoded.is_ok());
        let Ok(level) = level else { return };
        (level, expected_rows(&decoded.unwrap().root))
    } else {
        let level = load_binary(data);
        let decoded = decode_snapshot(data);
        assert_eq!(level.is_ok(), decoded.is_ok());
        let Ok(level) = level else { return };
        (level, expected_rows(&decoded.unwrap().0.root))
    };
    check_scopes(&level);
    let snapshots = [level];
    let rows = host_rows(b"cluster", b"host", &snapshots);
    assert_eq!(rows.len(), expected, "one row per value that is not NaN");
    for row in &rows {
        assert!(!row.value.is_nan());
    }
    let mut archive = ParquetArchive::new(Vec::new()).unwrap();
    let encoded = archive
        .encoder()
        .encode(b"cluster", b"host", &snapshots)
        .unwrap();
    assert_eq!(archive.append(encoded).unwrap(), rows.len() as u64);
    let file = archive.finish().unwrap();
    let names_are_text = rows
        .iter()
        .all(|r| std::str::from_utf8(&r.metric).is_ok() && std::str::from_utf8(&r.scope).is_ok());
    if names_are_text {
        let expected: Vec<_> = rows
            .iter()
            .map(|r| (r.timestamp, r.frequency, r.value.to_bits()))
            .collect();
        assert_eq!(read_back(file), expected);
    }
});
