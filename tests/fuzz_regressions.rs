//! Inputs on which a fuzz target (fuzz/fuzz_targets/) found a broken
//! invariant, kept as files under tests/fuzz-regressions/TARGET/, each
//! test checking the assertion that failed. `make fuzz` also runs every
//! file there through its target's full set of invariants first.

use std::path::Path;

use ccwal::codec::lineproto::{LineError, parse_line};

/// The files kept for `target`, by name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
}

/// lineproto_decode: "an accepted line has a finite value". `1e999` was
/// taken as +Inf, where Go's decoder refuses the line (out of range).
#[test]
fn lineproto_values_beyond_float64_are_refused() {
    for (name, line) in inputs("lineproto_decode") {
        match parse_line(&line) {
            Err(LineError::OutOfRange(value)) => assert!(value.contains("e"), "{name}: {value}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    // The largest finite values still pass.
    let line = b"m,host=h value=1.7976931348623157e308";
    assert_eq!(parse_line(line).unwrap().unwrap().value, f64::MAX);
}
