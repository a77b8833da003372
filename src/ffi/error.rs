//! `ccwal_error`: the detailed error object handed out through `error_out`.

use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;

use super::guard::{guard_value, guard_void};
use super::{CCWAL_NULL_ARGUMENT, CCWAL_OK, CCWAL_PANIC, Failure, ccwal_result, description};

/// The detail of a failed call: its result code, a message naming what was
/// affected, the file or directory concerned (when there is one), and the
/// OS error code behind an I/O error.
///
/// Ownership: created by ccwal on failure when the caller passed a non-NULL
/// `error_out`; owned by the caller, who frees it with `ccwal_error_free`.
/// Immutable: may be read from any thread, also concurrently.
pub struct ccwal_error {
    code: ccwal_result,
    /// The message followed by a NUL byte, so C can also print it directly.
    message: Vec<u8>,
    /// The path's bytes followed by a NUL byte; just the NUL when none.
    path: Vec<u8>,
    os_code: i32,
}

impl ccwal_error {
    pub(crate) fn from_failure(failure: Failure) -> Self {
        let text = failure.error.message().replace('\0', "\\0");
        let mut message = text.into_bytes();
        message.push(0);
        let mut path = failure
            .error
            .path()
            .map_or_else(Vec::new, |p| p.as_os_str().as_bytes().to_vec());
        path.push(0);
        ccwal_error {
            code: failure.code,
            message,
            path,
            os_code: failure.error.os_code().unwrap_or(0),
        }
    }
}

/// The result code of the failed call. Returns `CCWAL_NULL_ARGUMENT` for a
/// NULL `error`. Never blocks; any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_error_code(error: *const ccwal_error) -> ccwal_result {
    guard_value(CCWAL_PANIC, || {
        // SAFETY: NULL or a live error, as documented.
        unsafe { error.as_ref() }.map_or(CCWAL_NULL_ARGUMENT, |e| e.code)
    })
}

/// The message of the error as `(ptr, len)`: UTF-8, owned by `error`, valid
/// until `ccwal_error_free`; also NUL-terminated (`ptr[len] == 0`). Writes
/// nothing and returns `CCWAL_NULL_ARGUMENT` when any pointer is NULL.
/// Never blocks; any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_error_message(
    error: *const ccwal_error,
    message_out: *mut *const u8,
    len_out: *mut usize,
) -> ccwal_result {
    write_text(error, |e| &e.message, message_out, len_out)
}

/// Writes one of the error's NUL-terminated texts as `(ptr, len)`, the NUL
/// not counted; `CCWAL_NULL_ARGUMENT` when any pointer is NULL.
fn write_text(
    error: *const ccwal_error,
    text: impl FnOnce(&ccwal_error) -> &[u8],
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> ccwal_result {
    guard_value(CCWAL_PANIC, || {
        // SAFETY: each pointer is NULL or valid, as documented; the outputs
        // may hold anything, so they are seen as MaybeUninit (see out_ptr).
        let (Some(error), Some(ptr), Some(len)) = (
            unsafe { error.as_ref() },
            unsafe { ptr_out.cast::<MaybeUninit<*const u8>>().as_mut() },
            unsafe { len_out.cast::<MaybeUninit<usize>>().as_mut() },
        ) else {
            return CCWAL_NULL_ARGUMENT;
        };
        let text = text(error);
        ptr.write(text.as_ptr());
        len.write(text.len() - 1);
        CCWAL_OK
    })
}

/// The file or directory the error is about as `(ptr, len)`: the path's
/// bytes, owned by `error`, valid until `ccwal_error_free`, also
/// NUL-terminated; `len` 0 when the error concerns no one file. Writes
/// nothing and returns `CCWAL_NULL_ARGUMENT` when any pointer is NULL.
/// Never blocks; any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_error_path(
    error: *const ccwal_error,
    path_out: *mut *const u8,
    len_out: *mut usize,
) -> ccwal_result {
    write_text(error, |e| &e.path, path_out, len_out)
}

/// The OS error number (errno) behind an I/O error; 0 when there is none or
/// `error` is NULL. Never blocks; any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_error_os_code(error: *const ccwal_error) -> i32 {
    guard_value(0, || {
        // SAFETY: NULL or a live error, as documented.
        unsafe { error.as_ref() }.map_or(0, |e| e.os_code)
    })
}

/// Frees an error. NULL is accepted and ignored. The error must not be used
/// afterwards. Never blocks; any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_error_free(error: *mut ccwal_error) {
    guard_void(|| {
        if !error.is_null() {
            // SAFETY: a live error handed out by ccwal, freed once, as documented.
            drop(unsafe { Box::from_raw(error) });
        }
    })
}

/// A static, NUL-terminated English description of a result code ("unknown
/// result code" for a value that is none of the CCWAL_* codes); never NULL,
/// never to be freed. Never blocks; any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_result_description(result: ccwal_result) -> *const std::ffi::c_char {
    description(result).as_ptr()
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    fn describe(code: ccwal_result) -> &'static str {
        // SAFETY: a static NUL-terminated string, as documented.
        unsafe { CStr::from_ptr(ccwal_result_description(code)) }
            .to_str()
            .unwrap()
    }

    fn path_of(error: *const ccwal_error) -> Vec<u8> {
        let (mut ptr, mut len) = (std::ptr::null(), usize::MAX);
        assert_eq!(ccwal_error_path(error, &mut ptr, &mut len), CCWAL_OK);
        // SAFETY: `len` bytes and a NUL owned by the live error.
        let with_nul = unsafe { std::slice::from_raw_parts(ptr, len + 1) };
        assert_eq!(with_nul[len], 0);
        with_nul[..len].to_vec()
    }

    #[test]
    fn an_error_hands_out_its_path_and_os_code() {
        let io = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let failure = Failure::from(crate::Error::io_at(
            "write",
            std::path::Path::new("/r/c/h/current.wal"),
            &io,
        ));
        let error = Box::into_raw(Box::new(ccwal_error::from_failure(failure)));
        assert_eq!(path_of(error), b"/r/c/h/current.wal");
        assert_eq!(ccwal_error_os_code(error), libc::ENOSPC);
        assert_eq!(ccwal_error_code(error), super::super::CCWAL_IO);
        assert_eq!(
            ccwal_error_path(error, std::ptr::null_mut(), std::ptr::null_mut()),
            CCWAL_NULL_ARGUMENT
        );
        ccwal_error_free(error);

        let failure = Failure::invalid("no file involved");
        let error = Box::into_raw(Box::new(ccwal_error::from_failure(failure)));
        assert_eq!(path_of(error), b"");
        ccwal_error_free(error);
    }

    #[test]
    fn result_description_says_unknown_for_unknown_codes() {
        assert_eq!(describe(CCWAL_OK), "ok");
        assert_eq!(
            describe(super::super::CCWAL_INVALID_ARGUMENT),
            "invalid argument"
        );
        for code in [12345, 99, -1, 1, 7200, 7211] {
            assert_eq!(describe(code), "unknown result code", "{code}");
        }
    }
}
