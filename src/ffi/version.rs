//! The library version, for the header's macros and at run time.

use std::ffi::c_char;

/// Major version of the ccwal these headers belong to.
pub const CCWAL_VERSION_MAJOR: u32 = 0;
/// Minor version of the ccwal these headers belong to.
pub const CCWAL_VERSION_MINOR: u32 = 1;
/// Patch version of the ccwal these headers belong to.
pub const CCWAL_VERSION_PATCH: u32 = 0;

static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The version of the linked library, e.g. "0.1.0": static, NUL-terminated,
/// never NULL, never to be freed. Compare it with `CCWAL_VERSION_*` to detect
/// a header/library mismatch. Never blocks; any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_macros_match_the_crate_version() {
        let parts: Vec<u32> = env!("CARGO_PKG_VERSION")
            .split('.')
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(
            parts,
            [
                CCWAL_VERSION_MAJOR,
                CCWAL_VERSION_MINOR,
                CCWAL_VERSION_PATCH
            ]
        );
        // SAFETY: ccwal_version returns a static NUL-terminated string.
        let text = unsafe { std::ffi::CStr::from_ptr(ccwal_version()) };
        assert_eq!(text.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
