//! Any bytes as a legacy JSON snapshot. Invariants:
//! - what the strict validator accepts, the lenient decoder decodes;
//! - what decodes and encodes (no infinities, no repeated names) gives a
//!   file the strict validator accepts and that decodes to the same tree:
//!   encoding it again gives the same bytes.
#![no_main]

use ccwal::codec::json::{decode_json_snapshot, encode_json_snapshot, validate_json_snapshot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decoded = decode_json_snapshot(data);
    if validate_json_snapshot(data).is_ok() {
        assert!(decoded.is_ok(), "a strictly valid snapshot decodes");
    }
    let Ok(snapshot) = decoded else { return };
    let Ok(text) = encode_json_snapshot(&snapshot) else {
        return;
    };
    validate_json_snapshot(&text).expect("our own output is strictly valid");
    let again = decode_json_snapshot(&text).expect("our own output decodes");
    assert_eq!((again.from, again.to), (snapshot.from, snapshot.to));
    let text_again = encode_json_snapshot(&again).expect("a re-decoded tree encodes");
    assert_eq!(text_again, text, "encoding is stable through a decode");
});
