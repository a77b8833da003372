//! `ccwal_options`: how to open a store.

use std::ffi::{OsStr, c_void};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::Duration;

use super::error::ccwal_error;
use super::guard::{guard, guard_void};
use super::{Failure, bytes, ccwal_result, checked_enum, free_handle, into_handle, out_ptr};
use crate::engine::{Backpressure, Durability, Event, EventLevel, StoreOptions};

/// Options for `ccwal_store_open`, with the defaults of the Rust API.
///
/// Ownership: created by `ccwal_options_new`, owned by the caller, freed
/// with `ccwal_options_free`; `ccwal_store_open` copies what it needs, so
/// the options may be freed or reused right after. Not thread-safe: use one
/// options object from one thread at a time. Never blocks.
pub struct ccwal_options {
    inner: StoreOptions,
}

impl ccwal_options {
    pub(crate) fn store_options(&self) -> StoreOptions {
        self.inner.clone()
    }
}

/// When written records are forced to disk: one of the
/// `CCWAL_DURABILITY_*` values (any other is refused with
/// CCWAL_INVALID_ARGUMENT).
pub type ccwal_durability = i32;
/// Handed to the OS every round; on disk at `ccwal_store_sync`.
pub const CCWAL_DURABILITY_NONE: ccwal_durability = 0;
/// Also fdatasync'ed every interval.
pub const CCWAL_DURABILITY_INTERVAL: ccwal_durability = 1;
/// Every round fdatasync'ed before the next.
pub const CCWAL_DURABILITY_ALWAYS: ccwal_durability = 2;

/// What an append does when its queue is full: one of the
/// `CCWAL_BACKPRESSURE_*` values (any other is refused with
/// CCWAL_INVALID_ARGUMENT).
pub type ccwal_backpressure = i32;
/// Wait for room (with a timeout if one is given).
pub const CCWAL_BACKPRESSURE_BLOCK: ccwal_backpressure = 0;
/// Fail at once with CCWAL_QUEUE_FULL.
pub const CCWAL_BACKPRESSURE_REJECT: ccwal_backpressure = 1;

/// How serious an event is: one of the `CCWAL_EVENT_*` values (passed by
/// ccwal to the event callback).
pub type ccwal_event_level = i32;
/// Informational (a rotation, a repaired torn tail).
pub const CCWAL_EVENT_INFO: ccwal_event_level = 0;
/// Something went wrong and was handled.
pub const CCWAL_EVENT_WARNING: ccwal_event_level = 1;
/// Records could not be written.
pub const CCWAL_EVENT_ERROR: ccwal_event_level = 2;

/// An event callback: `user_data` as given, the level, the cluster and
/// host concerned, and a message (all `(ptr, len)`, valid only during the
/// call). Called from ccwal's writer threads, possibly from several at
/// once: it must be thread-safe, quick, and must not call into the store.
pub type ccwal_event_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        level: ccwal_event_level,
        cluster: *const u8,
        cluster_len: usize,
        host: *const u8,
        host_len: usize,
        message: *const u8,
        message_len: usize,
    ),
>;

/// The caller's callback and its user data, sent to the writer threads.
struct EventTarget {
    callback: unsafe extern "C" fn(
        *mut c_void,
        ccwal_event_level,
        *const u8,
        usize,
        *const u8,
        usize,
        *const u8,
        usize,
    ),
    user_data: *mut c_void,
}

impl EventTarget {
    fn deliver(&self, event: &Event) {
        let level = match event.level {
            EventLevel::Info => CCWAL_EVENT_INFO,
            EventLevel::Warning => CCWAL_EVENT_WARNING,
            EventLevel::Error => CCWAL_EVENT_ERROR,
        };
        // SAFETY: the caller's callback, called with pointers valid for the
        // duration of the call, as documented.
        unsafe {
            (self.callback)(
                self.user_data,
                level,
                event.cluster.as_ptr(),
                event.cluster.len(),
                event.host.as_ptr(),
                event.host.len(),
                event.message.as_ptr(),
                event.message.len(),
            )
        }
    }
}

// SAFETY: the caller promises (documented at ccwal_options_set_event_hook)
// that the callback and user data may be used from any thread.
unsafe impl Send for EventTarget {}
// SAFETY: as above.
unsafe impl Sync for EventTarget {}

/// New options for a store below `root` (a path, `(ptr, len)`), with the
/// defaults. The new object is written to `*options_out`.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_options_new(
    root: *const u8,
    root_len: usize,
    options_out: *mut *mut ccwal_options,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: (ptr, len) as documented.
        let root = unsafe { bytes(root, root_len, "root") }?;
        if root.is_empty() {
            return Err(Failure::invalid("root is empty"));
        }
        // SAFETY: NULL or writable, as documented.
        let out = unsafe { out_ptr(options_out, "options_out") }?;
        out.write(into_handle(ccwal_options {
            inner: StoreOptions::new(OsStr::from_bytes(root)),
        }));
        Ok(())
    })
}

/// Runs `change` on the options behind `options`.
fn with_options(
    options: *mut ccwal_options,
    error_out: *mut *mut ccwal_error,
    change: impl FnOnce(&mut StoreOptions) -> Result<(), Failure>,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: NULL or a live options object used by one thread, as documented.
        let options = unsafe { options.as_mut() }.ok_or_else(|| Failure::null("options"))?;
        change(&mut options.inner)
    })
}

/// Writer threads (shards); 0 means one per core.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_options_set_shards(
    options: *mut ccwal_options,
    shards: usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    with_options(options, error_out, |o| {
        o.shards = shards;
        Ok(())
    })
}

/// Bytes of encoded records each shard may queue (> 0).
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_options_set_queue_capacity(
    options: *mut ccwal_options,
    bytes: usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    with_options(options, error_out, |o| {
        if bytes == 0 {
            return Err(Failure::invalid("queue capacity must be > 0"));
        }
        o.queue_capacity = bytes;
        Ok(())
    })
}

/// Durability mode (a `CCWAL_DURABILITY_*` value; any other fails with
/// CCWAL_INVALID_ARGUMENT and changes nothing); `interval_ms` (> 0) is used
/// by CCWAL_DURABILITY_INTERVAL only.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_options_set_durability(
    options: *mut ccwal_options,
    durability: ccwal_durability,
    interval_ms: u64,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    with_options(options, error_out, |o| {
        let durability = checked_enum!("durability", durability, {
            CCWAL_DURABILITY_NONE => Durability::None,
            CCWAL_DURABILITY_INTERVAL => Durability::Interval(Duration::from_millis(interval_ms)),
            CCWAL_DURABILITY_ALWAYS => Durability::Always,
        })?;
        if durability == Durability::Interval(Duration::ZERO) {
            return Err(Failure::invalid("the durability interval must be > 0"));
        }
        o.durability = durability;
        Ok(())
    })
}

/// How often an idle writer wakes up, in milliseconds (> 0).
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_options_set_flush_interval_ms(
    options: *mut ccwal_options,
    interval_ms: u64,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    with_options(options, error_out, |o| {
        if interval_ms == 0 {
            return Err(Failure::invalid("the flush interval must be > 0"));
        }
        o.flush_interval = Duration::from_millis(interval_ms);
        Ok(())
    })
}

/// Open WAL descriptors across all shards (> 0).
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_options_set_max_open_files(
    options: *mut ccwal_options,
    files: usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    with_options(options, error_out, |o| {
        if files == 0 {
            return Err(Failure::invalid("max open files must be > 0"));
        }
        o.max_open_files = files;
        Ok(())
    })
}

/// A host's WAL is deleted and restarted (as in Go) at this size; 0: no
/// limit.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_options_set_max_wal_bytes(
    options: *mut ccwal_options,
    bytes: u64,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    with_options(options, error_out, |o| {
        o.max_wal_bytes = bytes;
        Ok(())
    })
}

/// Backpressure policy (a `CCWAL_BACKPRESSURE_*` value; any other fails
/// with CCWAL_INVALID_ARGUMENT and changes nothing); `timeout_ms` bounds the
/// wait of CCWAL_BACKPRESSURE_BLOCK (0: wait without limit).
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_options_set_backpressure(
    options: *mut ccwal_options,
    policy: ccwal_backpressure,
    timeout_ms: u64,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    with_options(options, error_out, |o| {
        o.backpressure = checked_enum!("backpressure policy", policy, {
            CCWAL_BACKPRESSURE_BLOCK => Backpressure::Block {
                timeout: (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms)),
            },
            CCWAL_BACKPRESSURE_REJECT => Backpressure::Reject,
        })?;
        Ok(())
    })
}

/// Installs an event callback (NULL removes it). The callback and
/// `user_data` must stay valid until the store is freed, and may be called
/// from any of ccwal's threads (see `ccwal_event_callback`).
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_options_set_event_hook(
    options: *mut ccwal_options,
    callback: ccwal_event_callback,
    user_data: *mut c_void,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    with_options(options, error_out, |o| {
        o.event_hook = callback.map(|callback| {
            let target = EventTarget {
                callback,
                user_data,
            };
            let hook: Arc<crate::engine::EventHook> =
                Arc::new(move |event: &Event| target.deliver(event));
            hook
        });
        Ok(())
    })
}

/// Frees options; NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_options_free(options: *mut ccwal_options) {
    // SAFETY: NULL or a live options object, not used afterwards.
    guard_void(|| unsafe { free_handle(options) })
}

#[cfg(test)]
mod tests {
    use std::ptr::null_mut;

    use super::*;
    use crate::ffi::test_util::take_error;
    use crate::ffi::{CCWAL_INVALID_ARGUMENT, CCWAL_NULL_ARGUMENT, CCWAL_OK};

    fn new_options() -> *mut ccwal_options {
        let mut options = null_mut();
        let root = b"/nonexistent/ccwal-test";
        assert_eq!(
            ccwal_options_new(root.as_ptr(), root.len(), &mut options, null_mut()),
            CCWAL_OK
        );
        options
    }

    fn inner(options: *mut ccwal_options) -> StoreOptions {
        // SAFETY: a live options object from new_options.
        unsafe { &*options }.store_options()
    }

    #[test]
    fn durability_outside_the_constants_is_refused_and_changes_nothing() {
        let options = new_options();
        let before = inner(options).durability;
        for bad in [99, -1, 3, 12345, i32::MIN, i32::MAX] {
            let mut error = null_mut();
            let rc = ccwal_options_set_durability(options, bad, 10, &mut error);
            assert_eq!(rc, CCWAL_INVALID_ARGUMENT, "{bad}");
            let (code, message) = take_error(error);
            assert_eq!(code, CCWAL_INVALID_ARGUMENT);
            assert!(
                message.contains(&format!("durability {bad} ")),
                "{bad}: {message}"
            );
            assert!(message.contains("CCWAL_DURABILITY_ALWAYS (2)"), "{message}");
            assert_eq!(inner(options).durability, before);
        }
        ccwal_options_free(options);
    }

    #[test]
    fn every_durability_constant_is_accepted() {
        let options = new_options();
        let cases = [
            (CCWAL_DURABILITY_NONE, Durability::None),
            (CCWAL_DURABILITY_ALWAYS, Durability::Always),
            (
                CCWAL_DURABILITY_INTERVAL,
                Durability::Interval(Duration::from_millis(250)),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(
                ccwal_options_set_durability(options, value, 250, null_mut()),
                CCWAL_OK
            );
            assert_eq!(inner(options).durability, expected);
        }
        let mut error = null_mut();
        assert_eq!(
            ccwal_options_set_durability(options, CCWAL_DURABILITY_INTERVAL, 0, &mut error),
            CCWAL_INVALID_ARGUMENT
        );
        assert!(take_error(error).1.contains("interval"));
        ccwal_options_free(options);
    }

    #[test]
    fn backpressure_outside_the_constants_is_refused_and_changes_nothing() {
        let options = new_options();
        assert_eq!(
            ccwal_options_set_backpressure(options, CCWAL_BACKPRESSURE_REJECT, 0, null_mut()),
            CCWAL_OK
        );
        assert_eq!(inner(options).backpressure, Backpressure::Reject);
        for bad in [-1, 2, 99, 12345] {
            let mut error = null_mut();
            let rc = ccwal_options_set_backpressure(options, bad, 100, &mut error);
            assert_eq!(rc, CCWAL_INVALID_ARGUMENT, "{bad}");
            let (_, message) = take_error(error);
            assert!(
                message.contains(&format!("backpressure policy {bad} ")),
                "{bad}: {message}"
            );
            assert_eq!(inner(options).backpressure, Backpressure::Reject);
        }
        assert_eq!(
            ccwal_options_set_backpressure(options, CCWAL_BACKPRESSURE_BLOCK, 100, null_mut()),
            CCWAL_OK
        );
        assert_eq!(
            inner(options).backpressure,
            Backpressure::Block {
                timeout: Some(Duration::from_millis(100))
            }
        );
        ccwal_options_free(options);
    }

    #[test]
    fn null_options_come_before_the_value_check() {
        assert_eq!(
            ccwal_options_set_durability(null_mut(), 99, 0, null_mut()),
            CCWAL_NULL_ARGUMENT
        );
        assert_eq!(
            ccwal_options_set_backpressure(null_mut(), -1, 0, null_mut()),
            CCWAL_NULL_ARGUMENT
        );
    }
}
