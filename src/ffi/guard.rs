//! The panic boundary: every `extern "C"` function runs its body through one
//! of these, so a panic becomes a result code and never unwinds into C.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::error::ccwal_error;
use super::{CCWAL_OK, Failure, ccwal_result};
use crate::{Error, ErrorKind};

fn panic_failure(payload: Box<dyn Any + Send>) -> Failure {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    Failure::from(Error::new(
        ErrorKind::Panic,
        format!("ccwal panicked (a bug): {what}"),
    ))
}

/// Runs a fallible entry point: `CCWAL_OK` on success; on failure (or
/// panic) the failure's code, and a new error object in `*error_out` when
/// `error_out` is not NULL.
pub(crate) fn guard(
    error_out: *mut *mut ccwal_error,
    body: impl FnOnce() -> Result<(), Failure>,
) -> ccwal_result {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|p| Err(panic_failure(p)));
    match outcome {
        Ok(()) => CCWAL_OK,
        Err(failure) => {
            let code = failure.code;
            if !error_out.is_null() {
                let error = Box::new(ccwal_error::from_failure(failure));
                // SAFETY: the caller passes NULL or a writable pointer slot.
                unsafe { *error_out = Box::into_raw(error) };
            }
            code
        }
    }
}

/// Runs an entry point with a plain return value; `on_panic` is returned if
/// it panics.
pub(crate) fn guard_value<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// Runs an entry point that returns nothing (the `_free` functions).
pub(crate) fn guard_void(body: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(body));
}

#[cfg(test)]
mod tests {
    use std::ptr::null_mut;

    use super::*;
    use crate::ffi::CCWAL_PANIC;
    use crate::ffi::test_util::take_error;

    #[test]
    fn a_panic_becomes_its_own_code_and_kind() {
        let mut error = null_mut();
        let rc = guard(&mut error, || panic!("boom at {}", 42));
        assert_eq!(rc, CCWAL_PANIC);
        let (code, message) = take_error(error);
        assert_eq!(code, CCWAL_PANIC);
        assert_eq!(message, "ccwal panicked (a bug): boom at 42");
        assert_eq!(panic_failure(Box::new("x")).error.kind(), ErrorKind::Panic);
    }
}
