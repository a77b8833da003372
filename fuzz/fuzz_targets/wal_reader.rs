//! Any bytes as a WAL file. Invariants:
//! - the items of a read tile the body: each starts where the one before
//!   ended, and the last ends at the end of the input;
//! - every record re-encodes to the bytes it was read from (up to bytes
//!   after the value inside the payload, which readers ignore);
//! - resynchronisation never skips a valid record: no offset inside a
//!   damaged range, its start included, decodes as a record;
//! - a strict read is the resynchronising read up to its first damage,
//!   which then runs to the end of the input;
//! - a file without damage is rewritten byte for byte when every record is
//!   kept.
#![no_main]

use ccwal::codec::wal::{self, WalItem, OnDamage, WalReader};
use libfuzzer_sys::fuzz_target;

fn check_read(data: &[u8], start: usize, items: &[WalItem<'_>]) {
    let mut end = start;
    for item in items {
        match item {
            WalItem::Record { offset, record } => {
                assert_eq!(*offset, end, "items tile the input");
                let selector: Vec<&[u8]> = record.selector.iter().collect();
                let mut again = Vec::new();
                let len = wal::encode_record(
                    &mut again,
                    record.ts,
                    record.metric,
                    &selector,
                    record.value(),
                )
                .expect("decoded names fit");
                let (_, stored_len) = wal::decode_record(&data[end..]).expect("a record decodes");
                let stored = &data[end..end + stored_len];
                if stored_len == len {
                    assert_eq!(stored, &again[..], "a record re-encodes to its bytes");
                } else {
                    // The stored length counts bytes after the value.
                    assert!(stored_len > len);
                    assert_eq!(stored[8..len - 4], again[8..len - 4]);
                }
                end += stored_len;
            }
            WalItem::Damaged { offset, len, .. } => {
                assert_eq!(*offset, end, "items tile the input");
                assert!(*len > 0 && offset + len <= data.len());
                for at in *offset..offset + len {
                    assert!(
                        wal::decode_record(&data[at..]).is_err(),
                        "damage at {offset}+{len} hides a valid record at {at}"
                    );
                }
                end += len;
            }
        }
    }
    assert_eq!(end, data.len(), "the items reach the end of the input");
}

fuzz_target!(|data: &[u8]| {
    let Ok(start) = wal::check_file_header(data) else {
        return;
    };
    let salvaged: Vec<_> = WalReader::new(data, start, OnDamage::Resync).collect();
    check_read(data, start, &salvaged);
    let strict: Vec<_> = WalReader::new(data, start, OnDamage::Stop).collect();
    let first_damage = salvaged
        .iter()
        .position(|i| matches!(i, WalItem::Damaged { .. }));
    match first_damage {
        None => {
            assert_eq!(strict, salvaged);
            if !data.is_empty() {
                let copy = wal::filter_records(data, |_| true).expect("no damage");
                assert_eq!(copy.file, data, "an undamaged file is copied unchanged");
                assert_eq!(copy.kept as usize, strict.len());
            }
        }
        Some(at) => {
            assert_eq!(strict.len(), at + 1);
            assert_eq!(strict[..at], salvaged[..at]);
            let WalItem::Damaged { offset, len, .. } = strict[at] else {
                panic!("a strict read ends with its damage")
            };
            assert_eq!(offset + len, data.len(), "strict damage runs to the end");
            assert!(wal::filter_records(data, |_| true).is_err());
        }
    }
});
