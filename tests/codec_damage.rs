//! Exhaustive damage: every single-byte flip and every truncation of a small
//! WAL and a small snapshot decodes to an error or to a correct prefix —
//! never a panic, never a wrong record accepted.

use ccwal::codec::snapshot::{
    Child, DecodeErrorKind, Level, Metric, Snapshot, decode_snapshot, encode_snapshot,
};
use ccwal::codec::wal::{self, WalItem, WalReader};

const FLIPS: [u8; 3] = [0x01, 0x80, 0xFF];

/// Records as (offset, ts, metric, selector, value bits).
type Expected = Vec<(usize, i64, Vec<u8>, Vec<Vec<u8>>, u32)>;

fn small_wal() -> (Vec<u8>, Expected) {
    let mut file = wal::file_header().to_vec();
    let mut expected = Vec::new();
    let selectors: [&[&[u8]]; 3] = [&[], &[b"cpu3"], &[b"socket0", b"memctrl1"]];
    for i in 0..6 {
        let offset = file.len();
        let selector = selectors[i % 3];
        let metric = format!("metric_{i}").into_bytes();
        let value = i as f32 * 1.5;
        wal::encode_record(&mut file, 1000 + i as i64, &metric, selector, value).unwrap();
        let selector = selector.iter().map(|c| c.to_vec()).collect();
        expected.push((offset, 1000 + i as i64, metric, selector, value.to_bits()));
    }
    (file, expected)
}

/// Reads `file` and checks every record it yields is one of the true ones,
/// at its true offset; in strict mode also that they form a prefix.
fn check_wal(file: &[u8], expected: &Expected, resync: bool) {
    let Ok(start) = wal::check_file_header(file) else {
        return;
    };
    let mut next_expected = 0;
    let mut damaged = false;
    for item in WalReader::new(file, start, resync) {
        match item {
            WalItem::Record { offset, record } => {
                let index = expected
                    .iter()
                    .position(|e| e.0 == offset)
                    .unwrap_or_else(|| {
                        panic!("a record accepted at offset {offset}, where none was written")
                    });
                let e = &expected[index];
                assert_eq!(record.ts, e.1);
                assert_eq!(record.metric, &e.2[..]);
                assert_eq!(
                    record
                        .selector
                        .iter()
                        .map(|c| c.to_vec())
                        .collect::<Vec<_>>(),
                    e.3
                );
                assert_eq!(record.value_bits, e.4);
                assert!(index >= next_expected, "records come in file order");
                if !resync {
                    assert!(
                        !damaged && index == next_expected,
                        "strict reading yields a prefix"
                    );
                }
                next_expected = index + 1;
            }
            WalItem::Damaged { offset, len, .. } => {
                assert!(len > 0 && offset + len <= file.len());
                damaged = true;
            }
        }
    }
}

#[test]
fn every_wal_flip_and_truncation() {
    let (file, expected) = small_wal();
    for at in 0..file.len() {
        for flip in FLIPS {
            let mut damaged = file.clone();
            damaged[at] ^= flip;
            check_wal(&damaged, &expected, false);
            check_wal(&damaged, &expected, true);
        }
    }
    for len in 0..=file.len() {
        check_wal(&file[..len], &expected, false);
        check_wal(&file[..len], &expected, true);
        // A truncation loses at most the record it cuts.
        let whole = expected
            .iter()
            .filter(|e| wal::encoded_len(&e.2, &e.3) + e.0 <= len)
            .count();
        let start = wal::check_file_header(&file[..len]).unwrap_or(len);
        let read = WalReader::new(&file[..len], start, false)
            .filter(|item| matches!(item, WalItem::Record { .. }))
            .count();
        assert_eq!(read, whole, "truncated to {len}");
    }
}

#[test]
fn resync_recovers_every_record_after_a_single_flip() {
    let (file, expected) = small_wal();
    for at in 4..file.len() {
        let mut damaged = file.clone();
        damaged[at] ^= 0xFF;
        let read = WalReader::new(&damaged, 4, true)
            .filter(|i| matches!(i, WalItem::Record { .. }))
            .count();
        assert!(
            read >= expected.len() - 1,
            "a flip at {at} lost more than its own record"
        );
    }
}

fn small_snapshot() -> Snapshot<f32> {
    // Distinct, non-zero values, so value_ranges finds each array's bytes.
    let metric = |name: &str, n: usize| Metric {
        name: name.as_bytes().to_vec(),
        frequency: 60,
        start: 1_700_000_000,
        values: (0..n)
            .map(|i| 1000.25 + (name.len() * 10 + i) as f32)
            .collect(),
    };
    Snapshot {
        from: 1_700_000_000,
        to: 1_700_003_600,
        root: Level {
            metrics: vec![metric("load", 3), metric("mem", 2)],
            children: vec![
                Child {
                    name: b"cpu0".to_vec(),
                    level: Level {
                        metrics: vec![metric("user", 2)],
                        children: vec![],
                    },
                },
                Child {
                    name: b"socket0".to_vec(),
                    level: Level {
                        metrics: vec![],
                        children: vec![Child {
                            name: b"memctrl0".to_vec(),
                            level: Level {
                                metrics: vec![metric("bw", 1)],
                                children: vec![],
                            },
                        }],
                    },
                },
            ],
        },
    }
}

/// The tree without its values, to compare structure.
fn shape(level: &Level<f32>) -> Vec<String> {
    let mut out = Vec::new();
    for m in &level.metrics {
        out.push(format!(
            "m {:?} {} {} {}",
            m.name,
            m.frequency,
            m.start,
            m.values.len()
        ));
    }
    for c in &level.children {
        out.push(format!("c {:?} [{}]", c.name, shape(&c.level).join(",")));
    }
    out
}

/// Byte ranges of value arrays, where a flip changes a value, not the
/// structure.
fn value_ranges(snapshot: &Snapshot<f32>) -> Vec<(usize, usize)> {
    let mut bytes = Vec::new();
    encode_snapshot(snapshot, &mut bytes).unwrap();
    let mut ranges = Vec::new();
    let mut search_from = 0;
    fn collect(level: &Level<f32>, out: &mut Vec<Vec<u8>>) {
        for m in &level.metrics {
            out.push(m.values.iter().flat_map(|v| v.to_le_bytes()).collect());
        }
        for c in &level.children {
            collect(&c.level, out);
        }
    }
    let mut arrays = Vec::new();
    collect(&snapshot.root, &mut arrays);
    for array in arrays.into_iter().filter(|a| !a.is_empty()) {
        let at = search_from
            + bytes[search_from..]
                .windows(array.len())
                .position(|w| w == array)
                .unwrap();
        ranges.push((at, at + array.len()));
        search_from = at + array.len();
    }
    ranges
}

#[test]
fn every_snapshot_flip_and_truncation() {
    let original = small_snapshot();
    let mut bytes = Vec::new();
    encode_snapshot(&original, &mut bytes).unwrap();
    let values = value_ranges(&original);
    let in_values = |at: usize| values.iter().any(|&(a, b)| (a..b).contains(&at));
    for at in 0..bytes.len() {
        for flip in FLIPS {
            let mut damaged = bytes.clone();
            damaged[at] ^= flip;
            match decode_snapshot(&damaged) {
                Ok((decoded, _)) if in_values(at) => {
                    assert_eq!(shape(&decoded.root), shape(&original.root))
                }
                Ok((decoded, _)) if (4..20).contains(&at) => {
                    assert_eq!(shape(&decoded.root), shape(&original.root));
                    assert_ne!((decoded.from, decoded.to), (original.from, original.to));
                }
                // Elsewhere a flip must show: a changed tree, or a shorter
                // one whose trailing bytes `verify` reports.
                Ok((decoded, used)) => assert!(
                    used != bytes.len() || shape(&decoded.root) != shape(&original.root),
                    "flip at {at} went unnoticed"
                ),
                Err(e) => {
                    assert!(e.offset <= damaged.len());
                    assert!(!matches!(e.kind, DecodeErrorKind::TooDeep));
                }
            }
        }
    }
    for len in 0..bytes.len() {
        let err = decode_snapshot(&bytes[..len]).unwrap_err();
        assert!(
            matches!(
                err.kind,
                DecodeErrorKind::Truncated(_) | DecodeErrorKind::CountTooLarge { .. }
            ),
            "truncated to {len}: {err}"
        );
    }
}
