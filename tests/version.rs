//! The version lives in Cargo.toml only: the C header's macros, the
//! library's `ccwal_version()` and the changelog must agree with it.

use std::ffi::CStr;
use std::fs;
use std::path::Path;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read(path: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The value of `#define NAME value` in the header.
fn header_define(header: &str, name: &str) -> String {
    header
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix("#define ")?.strip_prefix(name)?;
            rest.starts_with(' ').then(|| rest.trim().to_string())
        })
        .unwrap_or_else(|| panic!("include/ccwal.h defines no {name}"))
}

#[test]
fn header_macros_match_cargo_toml() {
    let header = read("include/ccwal.h");
    let from_header = ["MAJOR", "MINOR", "PATCH"]
        .map(|part| header_define(&header, &format!("CCWAL_VERSION_{part}")))
        .join(".");
    assert_eq!(from_header, VERSION, "include/ccwal.h against Cargo.toml");
}

#[test]
fn ccwal_version_matches_cargo_toml() {
    // SAFETY: ccwal_version returns a static NUL-terminated string.
    let text = unsafe { CStr::from_ptr(ccwal::ffi::version::ccwal_version()) };
    assert_eq!(text.to_str().unwrap(), VERSION);
}

#[test]
fn changelog_has_an_entry_for_the_version() {
    let changelog = read("CHANGELOG.md");
    assert!(
        changelog
            .lines()
            .any(|line| line == format!("## [{VERSION}]")
                || line.starts_with(&format!("## [{VERSION}] "))),
        "CHANGELOG.md has no `## [{VERSION}]` section"
    );
}
