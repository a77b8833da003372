//! Any bytes as a binary snapshot. Invariants:
//! - decoding never panics or over-allocates;
//! - the header decodes to the tree's window whenever the tree decodes;
//! - what decodes re-encodes to exactly the bytes it used.
#![no_main]

use ccwal::codec::snapshot::{decode_header, decode_snapshot, encode_snapshot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((snapshot, used)) = decode_snapshot(data) else {
        return;
    };
    assert!(used <= data.len());
    assert_eq!(decode_header(data).ok(), Some((snapshot.from, snapshot.to)));
    let mut again = Vec::new();
    encode_snapshot(&snapshot, &mut again).expect("a decoded tree encodes");
    assert_eq!(&again[..], &data[..used]);
});
