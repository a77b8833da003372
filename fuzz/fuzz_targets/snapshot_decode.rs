//! Any bytes as a binary snapshot: decoding never panics or over-allocates,
//! and what decodes re-encodes to the same bytes.
#![no_main]

use ccwal::codec::snapshot::{decode_snapshot, encode_snapshot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((snapshot, used)) = decode_snapshot(data) {
        let mut again = Vec::new();
        encode_snapshot(&snapshot, &mut again).expect("a decoded tree encodes");
        assert_eq!(&again[..], &data[..used]);
    }
});
