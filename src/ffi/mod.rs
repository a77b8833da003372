//! The C ABI: a thin layer over the Rust API.
//!
//! Conventions (every function follows them; the header repeats them):
//! - Every fallible function returns a [`ccwal_result`]; outputs are written
//!   through `*_out` parameters, last, and only on success.
//! - Error detail comes back through an optional `ccwal_error **error_out`
//!   (the very last parameter): pass NULL to ignore it, or a pointer that
//!   receives a new [`error::ccwal_error`] on failure, which the caller frees.
//!   There is no thread-local "last error": cgo moves goroutines between OS
//!   threads between two calls.
//! - Strings are `(const uint8_t *ptr, size_t len)` pairs, never
//!   NUL-terminated; `ptr` may be NULL only when `len` is 0.
//! - Every entry point catches panics and returns `CCWAL_PANIC` (or a typed
//!   default where there is no result); NULL handles give
//!   `CCWAL_NULL_ARGUMENT`; every `_free` accepts NULL.

#![allow(non_camel_case_types)]
// These are C entry points: their pointer contracts are documented for C
// callers (and checked for NULL), not expressed as Rust `unsafe fn`.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod checkpoint;
pub mod error;
mod guard;
pub mod options;
pub mod restore;
pub mod snapshot;
pub mod store;
pub mod version;

use crate::{Error, ErrorKind};

/// The result of every fallible ccwal function. `CCWAL_OK` is zero; errors
/// start at 7200 so they are not mistaken for errno values or booleans.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ccwal_result {
    CCWAL_OK = 0,
    /// A required pointer argument was NULL.
    CCWAL_NULL_ARGUMENT = 7201,
    /// A cluster, host, metric or selector name was refused.
    CCWAL_INVALID_NAME = 7202,
    /// An argument is out of range, or a buffer is malformed.
    CCWAL_INVALID_ARGUMENT = 7203,
    /// A queue was full and the backpressure policy is reject.
    CCWAL_QUEUE_FULL = 7204,
    /// A blocking call gave up after its timeout.
    CCWAL_TIMEOUT = 7205,
    /// The handle was closed.
    CCWAL_CLOSED = 7206,
    /// A file system call failed (see the error's OS code).
    CCWAL_IO = 7207,
    /// A file is damaged or not of the expected format (a bad magic number
    /// or checksum, a truncation, bytes that do not decode).
    CCWAL_CORRUPT = 7208,
    /// ccwal panicked: a bug. The handle involved should not be used again.
    CCWAL_PANIC = 7209,
    /// Files are intact but break the layout's or the restore's rules (a
    /// snapshot name that is not a number, a stray file where only
    /// directories belong, chunks out of order).
    CCWAL_FORMAT = 7210,
}

impl ccwal_result {
    fn from_kind(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidName => ccwal_result::CCWAL_INVALID_NAME,
            ErrorKind::InvalidArgument => ccwal_result::CCWAL_INVALID_ARGUMENT,
            ErrorKind::QueueFull => ccwal_result::CCWAL_QUEUE_FULL,
            ErrorKind::Timeout => ccwal_result::CCWAL_TIMEOUT,
            ErrorKind::Closed => ccwal_result::CCWAL_CLOSED,
            ErrorKind::Io => ccwal_result::CCWAL_IO,
            ErrorKind::Corrupt => ccwal_result::CCWAL_CORRUPT,
            ErrorKind::Format => ccwal_result::CCWAL_FORMAT,
        }
    }

    /// A static, NUL-terminated description of the code.
    fn description(self) -> &'static std::ffi::CStr {
        match self {
            ccwal_result::CCWAL_OK => c"ok",
            ccwal_result::CCWAL_NULL_ARGUMENT => c"a required pointer argument was NULL",
            ccwal_result::CCWAL_INVALID_NAME => c"invalid name",
            ccwal_result::CCWAL_INVALID_ARGUMENT => c"invalid argument",
            ccwal_result::CCWAL_QUEUE_FULL => c"queue full",
            ccwal_result::CCWAL_TIMEOUT => c"timed out",
            ccwal_result::CCWAL_CLOSED => c"closed",
            ccwal_result::CCWAL_IO => c"I/O error",
            ccwal_result::CCWAL_CORRUPT => c"corrupt data",
            ccwal_result::CCWAL_PANIC => c"internal panic",
            ccwal_result::CCWAL_FORMAT => c"file layout or format error",
        }
    }
}

/// The failure of one C call: its code and the error object handed out.
pub(crate) struct Failure {
    code: ccwal_result,
    error: Error,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            code: ccwal_result::from_kind(error.kind()),
            error,
        }
    }
}

impl Failure {
    pub(crate) fn null(what: &str) -> Self {
        Failure {
            code: ccwal_result::CCWAL_NULL_ARGUMENT,
            error: Error::new(ErrorKind::InvalidArgument, format!("{what} is NULL")),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure::from(Error::new(ErrorKind::InvalidArgument, message))
    }
}

/// Borrows a `(ptr, len)` string. NULL is accepted only with `len == 0`.
///
/// # Safety
/// `ptr` must point to `len` readable bytes that outlive `'a`.
pub(crate) unsafe fn bytes<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Failure::null(what))
        };
    }
    // SAFETY: non-NULL, and the caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows the object behind a handle, or fails with `CCWAL_NULL_ARGUMENT`.
///
/// # Safety
/// `ptr` must be NULL or a live handle of type `T` handed out by ccwal.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller promises a live handle or NULL.
    unsafe { ptr.as_ref() }.ok_or_else(|| Failure::null(what))
}

/// Writes an output parameter, checked for NULL before any work is done by
/// the caller of this helper.
///
/// # Safety
/// `out` must be NULL or valid for a write of `T`.
pub(crate) unsafe fn out_ptr<'a, T>(out: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller promises NULL or a writable `T`.
    unsafe { out.as_mut() }.ok_or_else(|| Failure::null(what))
}

/// Hands a new object to C as an owned handle.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Frees a handle made by [`into_handle`]; NULL is ignored.
///
/// # Safety
/// `ptr` must be NULL or a live handle of type `T`, not used afterwards.
pub(crate) unsafe fn free_handle<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: a live handle from into_handle, freed once, as documented.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// A (cluster, host) pair borrowed from a host list.
pub(crate) type HostName<'a> = (&'a [u8], &'a [u8]);

/// Reads a flat host list: per host `u16 cluster_len, u16 host_len, cluster,
/// host` (little-endian), the layout `ccwal_store_rotate` takes.
pub(crate) fn parse_host_list(bytes: &[u8]) -> Result<Vec<HostName<'_>>, Failure> {
    let mut hosts = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let malformed = || {
            Failure::invalid(format!(
                "host list entry {} at byte {pos} runs past the end",
                hosts.len()
            ))
        };
        let header = bytes.get(pos..pos + 4).ok_or_else(malformed)?;
        let cluster_len = u16::from_le_bytes([header[0], header[1]]) as usize;
        let host_len = u16::from_le_bytes([header[2], header[3]]) as usize;
        let cluster = bytes
            .get(pos + 4..pos + 4 + cluster_len)
            .ok_or_else(malformed)?;
        let end = pos + 4 + cluster_len + host_len;
        let host = bytes
            .get(pos + 4 + cluster_len..end)
            .ok_or_else(malformed)?;
        hosts.push((cluster, host));
        pos = end;
    }
    Ok(hosts)
}
