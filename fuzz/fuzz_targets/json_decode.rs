//! Any bytes as a JSON snapshot: decoding never panics, and what decodes
//! (without infinities) encodes and decodes again to the same shape.
#![no_main]

use ccwal::codec::json::{decode_json_snapshot, encode_json_snapshot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(snapshot) = decode_json_snapshot(data) {
        if let Ok(text) = encode_json_snapshot(&snapshot) {
            let again = decode_json_snapshot(&text).expect("our own output decodes");
            assert_eq!(again.root.metrics.len(), snapshot.root.metrics.len());
            assert_eq!(again.root.children.len(), snapshot.root.children.len());
        }
    }
});
