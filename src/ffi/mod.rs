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
//! - Enumerations are `int32_t` typedefs with `#define`d constants, never
//!   C (or Rust) enums: C may pass any integer, so every enumeration value
//!   taken from C is checked, and one that is none of the constants fails
//!   with `CCWAL_INVALID_ARGUMENT` and a message naming it.
//! - Every entry point catches panics and returns `CCWAL_PANIC` (or a typed
//!   default where there is no result); NULL handles give
//!   `CCWAL_NULL_ARGUMENT`; every `_free` accepts NULL.

#![allow(non_camel_case_types)]
// These are C entry points: their pointer contracts are documented for C
// callers (and checked for NULL), not expressed as Rust `unsafe fn`.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod archive;
pub mod checkpoint;
pub mod error;
mod guard;
pub mod options;
pub mod restore;
pub mod restore_scan;
pub mod snapshot;
pub mod store;
pub mod version;
#[cfg(test)]
mod wire_tests;

use crate::{Error, ErrorKind};

/// The result of every fallible ccwal function: one of the `CCWAL_*` result
/// codes. `CCWAL_OK` is zero; errors start at 7200 so they are not mistaken
/// for errno values or booleans.
///
/// Like every enumeration of the C ABI it is a fixed-width integer, not a C
/// `enum`: a C caller may pass any value, and ccwal checks it.
pub type ccwal_result = i32;

/// Success.
pub const CCWAL_OK: ccwal_result = 0;
/// A required pointer argument was NULL.
pub const CCWAL_NULL_ARGUMENT: ccwal_result = 7201;
/// A cluster, host, metric or selector name was refused.
pub const CCWAL_INVALID_NAME: ccwal_result = 7202;
/// An argument is out of range (also a value that is none of an
/// enumeration's constants), or a buffer is malformed.
pub const CCWAL_INVALID_ARGUMENT: ccwal_result = 7203;
/// A queue was full and the backpressure policy is reject.
pub const CCWAL_QUEUE_FULL: ccwal_result = 7204;
/// A blocking call gave up after its timeout.
pub const CCWAL_TIMEOUT: ccwal_result = 7205;
/// The handle was closed.
pub const CCWAL_CLOSED: ccwal_result = 7206;
/// A file system call failed (see the error's OS code).
pub const CCWAL_IO: ccwal_result = 7207;
/// A file is damaged or not of the expected format (a bad magic number or
/// checksum, a truncation, bytes that do not decode).
pub const CCWAL_CORRUPT: ccwal_result = 7208;
/// ccwal panicked: a bug. The handle involved should not be used again.
pub const CCWAL_PANIC: ccwal_result = 7209;
/// Files are intact but break the layout's or the restore's rules (a
/// snapshot name that is not a number, a stray file where only directories
/// belong, chunks out of order).
pub const CCWAL_FORMAT: ccwal_result = 7210;

/// Converts an enumeration value taken from C: `value` must be one of the
/// listed constants, each mapped to its Rust value; any other fails with
/// `CCWAL_INVALID_ARGUMENT` and a message naming `what`, the value and
/// every constant. The one place such conversions are written.
macro_rules! checked_enum {
    ($what:expr, $value:expr, { $($constant:ident => $rust:expr),+ $(,)? }) => {
        match $value {
            $($constant => Ok($rust),)+
            other => Err($crate::ffi::Failure::unknown_value(
                $what,
                other,
                &[$((stringify!($constant), $constant)),+],
            )),
        }
    };
}
pub(crate) use checked_enum;

/// Item `index` of a report's list, or `CCWAL_INVALID_ARGUMENT` naming
/// the list's length.
pub(crate) fn item_at<'a, T>(items: &'a [T], index: usize, what: &str) -> Result<&'a T, Failure> {
    items
        .get(index)
        .ok_or_else(|| Failure::index(what, index, items.len()))
}

/// An error's result code and OS error number: `CCWAL_OK` and 0 for none.
pub(crate) fn error_codes(error: Option<&Error>) -> (ccwal_result, i32) {
    error.map_or((CCWAL_OK, 0), |e| {
        (result_of(e.kind()), e.os_code().unwrap_or(0))
    })
}

/// The result code of an error kind.
pub(crate) fn result_of(kind: ErrorKind) -> ccwal_result {
    match kind {
        ErrorKind::InvalidName => CCWAL_INVALID_NAME,
        ErrorKind::InvalidArgument => CCWAL_INVALID_ARGUMENT,
        ErrorKind::QueueFull => CCWAL_QUEUE_FULL,
        ErrorKind::Timeout => CCWAL_TIMEOUT,
        ErrorKind::Closed => CCWAL_CLOSED,
        ErrorKind::Io => CCWAL_IO,
        ErrorKind::Corrupt => CCWAL_CORRUPT,
        ErrorKind::Format => CCWAL_FORMAT,
        ErrorKind::Panic => CCWAL_PANIC,
    }
}

/// A static, NUL-terminated description of a result code; any value that
/// is not one of the codes is described as unknown.
fn description(code: ccwal_result) -> &'static std::ffi::CStr {
    match code {
        CCWAL_OK => c"ok",
        CCWAL_NULL_ARGUMENT => c"a required pointer argument was NULL",
        CCWAL_INVALID_NAME => c"invalid name",
        CCWAL_INVALID_ARGUMENT => c"invalid argument",
        CCWAL_QUEUE_FULL => c"queue full",
        CCWAL_TIMEOUT => c"timed out",
        CCWAL_CLOSED => c"closed",
        CCWAL_IO => c"I/O error",
        CCWAL_CORRUPT => c"corrupt data",
        CCWAL_PANIC => c"internal panic",
        CCWAL_FORMAT => c"file layout or format error",
        _ => c"unknown result code",
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
            code: result_of(error.kind()),
            error,
        }
    }
}

impl Failure {
    pub(crate) fn null(what: &str) -> Self {
        Failure {
            code: CCWAL_NULL_ARGUMENT,
            error: Error::new(ErrorKind::InvalidArgument, format!("{what} is NULL")),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure::from(Error::new(ErrorKind::InvalidArgument, message))
    }

    /// `index` is not below `len`, the number of `what`s.
    pub(crate) fn index(what: &str, index: usize, len: usize) -> Self {
        Failure::invalid(format!("{what} index {index} of {len}"))
    }

    /// `value`, given for the enumeration `what`, is none of its `known`
    /// constants (name, value).
    pub(crate) fn unknown_value(what: &str, value: i32, known: &[(&str, i32)]) -> Self {
        let known: Vec<String> = known
            .iter()
            .map(|(name, value)| format!("{name} ({value})"))
            .collect();
        Failure::invalid(format!("{what} {value} is not one of {}", known.join(", ")))
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

/// An output parameter, checked for NULL before any work is done by the
/// caller of this helper, and written with `MaybeUninit::write`: the C
/// caller's memory may be uninitialised or hold bytes that are no valid `T`
/// (a `bool` other than 0 or 1), so it is never seen as a `T` before it is
/// written.
///
/// # Safety
/// `out` must be NULL or valid for a write of `T`.
pub(crate) unsafe fn out_ptr<'a, T>(
    out: *mut T,
    what: &str,
) -> Result<&'a mut std::mem::MaybeUninit<T>, Failure> {
    // SAFETY: the caller promises NULL or memory writable as a `T`, which
    // is valid as a `MaybeUninit<T>` whatever it holds.
    unsafe { out.cast::<std::mem::MaybeUninit<T>>().as_mut() }.ok_or_else(|| Failure::null(what))
}

/// A struct that can grow: its first field is `size_t struct_size`, which
/// the caller sets to `sizeof` the struct as its header declares it.
/// Fields are only ever appended. For an output ccwal fills only that many
/// bytes (an older caller gets the fields it knows, a newer caller's extra
/// fields stay as they were) and sets `struct_size` to the bytes it filled;
/// for an input ccwal reads only that many bytes (a field the caller's
/// header lacks takes its default, zero).
///
/// # Safety
/// `struct_size` must be a `usize` at offset 0 (checked by
/// [`sized_structs!`]).
pub(crate) unsafe trait SizedStruct: Sized {
    /// The struct's size in the release that introduced it: the least
    /// `struct_size` a caller may pass.
    const FIRST_SIZE: usize;
}

/// Marks structs as [`SizedStruct`] after checking, at compile time, that
/// `struct_size` comes first. Each names the last field of its first
/// release (`ccwal_stats: backlog_bytes: u64`): a field added later goes
/// after it, and callers built before it keep working.
macro_rules! sized_structs {
    ($($t:ident: $last:ident: $last_type:ty),+ $(,)?) => {
        $(
            const _: () = assert!(std::mem::offset_of!($t, struct_size) == 0);
            // SAFETY: `struct_size: usize` is at offset 0, asserted above.
            unsafe impl $crate::ffi::SizedStruct for $t {
                const FIRST_SIZE: usize =
                    std::mem::offset_of!($t, $last) + std::mem::size_of::<$last_type>();
            }
        )+
    };
}
pub(crate) use sized_structs;

/// The `struct_size` a caller set, when it covers at least the fields of
/// the struct's first release.
///
/// # Safety
/// `ptr` must be non-NULL with `struct_size` initialised.
unsafe fn caller_struct_size<T: SizedStruct>(ptr: *const T, what: &str) -> Result<usize, Failure> {
    let first_size = T::FIRST_SIZE;
    // SAFETY: non-NULL, with struct_size initialised by the caller.
    let caller = unsafe { ptr.cast::<usize>().read_unaligned() };
    if caller < first_size {
        return Err(Failure::invalid(format!(
            "{what}->struct_size is {caller}, less than the {first_size} bytes of its first \
             version: set it to sizeof the struct"
        )));
    }
    Ok(caller)
}

/// Reads an input struct that can grow (see [`SizedStruct`]): `None` for
/// NULL (every default), otherwise the caller's first `struct_size` bytes
/// over an all-zero `T`. A caller's struct larger than this library's
/// (built against a newer header) is accepted when the bytes this library
/// does not know are zero — options it lacks left unset — and refused
/// otherwise, rather than ignoring an option the caller asked for.
///
/// # Safety
/// `ptr` must be NULL or readable for `struct_size` bytes, with
/// `struct_size` initialised; `T` must be valid with every byte zero
/// (integers only).
pub(crate) unsafe fn sized_in<T: SizedStruct>(
    ptr: *const T,
    what: &str,
) -> Result<Option<T>, Failure> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL with struct_size initialised, as the caller promises.
    let caller = unsafe { caller_struct_size(ptr, what) }?;
    let known = std::mem::size_of::<T>();
    // SAFETY: the caller's struct is readable for `caller` bytes.
    let beyond = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), caller) }.get(known..);
    if let Some(offset) = beyond.and_then(|b| b.iter().position(|&byte| byte != 0)) {
        return Err(Failure::invalid(format!(
            "{what}->struct_size is {caller}: byte {} is set, past the {known} bytes this \
             ccwal {} knows (an option of a newer version; zero-initialise the struct, or \
             use a newer ccwal)",
            known + offset,
            env!("CARGO_PKG_VERSION"),
        )));
    }
    let mut value = std::mem::MaybeUninit::<T>::zeroed();
    // SAFETY: at most size_of::<T>() readable bytes into a T-sized buffer;
    // T is valid all-zero and every byte copied is an integer's.
    unsafe {
        std::ptr::copy_nonoverlapping(
            ptr.cast::<u8>(),
            value.as_mut_ptr().cast::<u8>(),
            caller.min(known),
        );
        Ok(Some(value.assume_init()))
    }
}

/// A checked output struct (see [`SizedStruct`]), ready to be written.
pub(crate) struct SizedOut<T> {
    out: *mut T,
    /// Bytes of `T` the caller has room for.
    len: usize,
}

impl<T: SizedStruct> SizedOut<T> {
    /// Writes the first `len` bytes of `value`, with `struct_size` set to
    /// them.
    pub(crate) fn write(self, value: T) {
        let value = std::mem::ManuallyDrop::new(value);
        let source: *const T = &*value;
        // SAFETY: `out` has room for `len` ≤ size_of::<T>() bytes (checked
        // in sized_out); `struct_size` is the usize at offset 0.
        unsafe {
            std::ptr::copy_nonoverlapping(source.cast::<u8>(), self.out.cast::<u8>(), self.len);
            self.out.cast::<usize>().write_unaligned(self.len);
        }
    }
}

/// Checks an output struct: not NULL, and its `struct_size` (set by the
/// caller) covers at least the fields of its first release.
///
/// # Safety
/// `out` must be NULL or valid for writes of `struct_size` bytes, with
/// `struct_size` initialised.
pub(crate) unsafe fn sized_out<T: SizedStruct>(
    out: *mut T,
    what: &str,
) -> Result<SizedOut<T>, Failure> {
    if out.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL, with struct_size initialised by the caller.
    let caller = unsafe { caller_struct_size(out.cast_const(), what) }?;
    Ok(SizedOut {
        out,
        len: caller.min(std::mem::size_of::<T>()),
    })
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

#[cfg(test)]
pub(crate) mod test_util {
    use super::ccwal_result;
    use super::error::{ccwal_error, ccwal_error_code, ccwal_error_free, ccwal_error_message};

    /// The code and message of an error handed out by a call, then freed.
    pub(crate) fn take_error(error: *mut ccwal_error) -> (ccwal_result, String) {
        assert!(!error.is_null(), "the call handed out no error");
        let mut ptr = std::ptr::null();
        let mut len = 0;
        assert_eq!(
            ccwal_error_message(error, &mut ptr, &mut len),
            super::CCWAL_OK
        );
        // SAFETY: the message is `len` bytes owned by the live error.
        let message = unsafe { std::slice::from_raw_parts(ptr, len) };
        let message = String::from_utf8(message.to_vec()).unwrap();
        let code = ccwal_error_code(error);
        ccwal_error_free(error);
        (code, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_description_and_others_are_unknown() {
        let codes = [
            CCWAL_OK,
            CCWAL_NULL_ARGUMENT,
            CCWAL_INVALID_NAME,
            CCWAL_INVALID_ARGUMENT,
            CCWAL_QUEUE_FULL,
            CCWAL_TIMEOUT,
            CCWAL_CLOSED,
            CCWAL_IO,
            CCWAL_CORRUPT,
            CCWAL_PANIC,
            CCWAL_FORMAT,
        ];
        let known: std::collections::HashSet<_> = codes.iter().map(|&c| description(c)).collect();
        assert_eq!(known.len(), codes.len());
        assert!(!known.contains(c"unknown result code"));
        assert_eq!(description(CCWAL_OK), c"ok");
        for unknown in [1, -1, 99, 7200, 7211, 12345, i32::MIN, i32::MAX] {
            assert_eq!(description(unknown), c"unknown result code", "{unknown}");
        }
    }

    #[test]
    fn unknown_values_are_named_with_the_known_ones() {
        let failure = Failure::unknown_value("durability", -1, &[("A", 0), ("B", 1)]);
        assert_eq!(failure.code, CCWAL_INVALID_ARGUMENT);
        assert_eq!(
            failure.error.message(),
            "durability -1 is not one of A (0), B (1)"
        );
    }
}
