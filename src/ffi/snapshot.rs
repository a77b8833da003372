//! `ccwal_snapshot_builder`: one host's snapshot, built as the host walks
//! its level tree.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::error::ccwal_error;
use super::guard::{guard, guard_void};
use super::{Failure, bytes, ccwal_result, free_handle, into_handle, out_ptr};
use crate::checkpoint::{self, SnapshotBuilder};
use crate::codec::snapshot::SnapshotValue;
use crate::error::{Error, ErrorKind};

/// A snapshot being built: a level's metrics first, then each child level
/// between `begin_child` and `end_child`. Values are copied once, straight
/// into the file's bytes (narrowed to float32).
///
/// Ownership: created by `ccwal_snapshot_builder_new`, owned by the caller
/// until handed to `ccwal_checkpoint_add` (which takes it) or freed with
/// `ccwal_snapshot_builder_free`. Not thread-safe: one thread at a time.
/// Never blocks.
pub struct ccwal_snapshot_builder {
    pub(crate) inner: SnapshotBuilder,
}

/// A builder for a snapshot of the window `[from, to]`.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_snapshot_builder_new(
    from: i64,
    to: i64,
    builder_out: *mut *mut ccwal_snapshot_builder,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: NULL or writable, as documented.
        let out = unsafe { out_ptr(builder_out, "builder_out") }?;
        out.write(into_handle(ccwal_snapshot_builder {
            inner: checkpoint::snapshot_builder(from, to),
        }));
        Ok(())
    })
}

fn with_builder(
    builder: *mut ccwal_snapshot_builder,
    error_out: *mut *mut ccwal_error,
    change: impl FnOnce(&mut SnapshotBuilder) -> Result<(), Failure>,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: NULL or a live builder used by one thread, as documented.
        let builder = unsafe { builder.as_mut() }.ok_or_else(|| Failure::null("builder"))?;
        change(&mut builder.inner)
    })
}

fn encode_error(e: crate::codec::snapshot::EncodeError) -> Failure {
    Failure::from(Error::new(ErrorKind::InvalidArgument, e.to_string()))
}

/// Reads `len` values at `values` (NULL only when `len` is 0).
///
/// # Safety
/// `values` must point to `len` readable values.
unsafe fn values_slice<'a, T>(values: *const T, len: usize) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if values.is_null() {
        return Err(Failure::null("values"));
    }
    // SAFETY: `len` readable values, as the caller promises.
    Ok(unsafe { std::slice::from_raw_parts(values, len) })
}

/// The body of both `add_metric` entry points, for either value type.
#[allow(clippy::too_many_arguments)]
fn add_metric<V: SnapshotValue>(
    builder: *mut ccwal_snapshot_builder,
    name: *const u8,
    name_len: usize,
    frequency: i64,
    start: i64,
    values: *const V,
    values_len: usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    with_builder(builder, error_out, |b| {
        // SAFETY: (ptr, len) pairs, as documented.
        let (name, values) = unsafe {
            (
                bytes(name, name_len, "name")?,
                values_slice(values, values_len)?,
            )
        };
        b.metric(name, frequency, start, values)
            .map_err(encode_error)
    })
}

/// Adds a metric to the current level: `values[i]` is the sample at
/// `start + i * frequency` (NaN = missing). Fails after a child level of the
/// current level was begun.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_snapshot_builder_add_metric_f64(
    builder: *mut ccwal_snapshot_builder,
    name: *const u8,
    name_len: usize,
    frequency: i64,
    start: i64,
    values: *const f64,
    values_len: usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    add_metric(
        builder, name, name_len, frequency, start, values, values_len, error_out,
    )
}

/// `ccwal_snapshot_builder_add_metric_f64` for float32 values.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_snapshot_builder_add_metric_f32(
    builder: *mut ccwal_snapshot_builder,
    name: *const u8,
    name_len: usize,
    frequency: i64,
    start: i64,
    values: *const f32,
    values_len: usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    add_metric(
        builder, name, name_len, frequency, start, values, values_len, error_out,
    )
}

/// Opens a child level (a selector component such as "cpu3") of the
/// current level.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_snapshot_builder_begin_child(
    builder: *mut ccwal_snapshot_builder,
    name: *const u8,
    name_len: usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    with_builder(builder, error_out, |b| {
        // SAFETY: (ptr, len), as documented.
        let name = unsafe { bytes(name, name_len, "name") }?;
        b.begin_child(name).map_err(encode_error)
    })
}

/// Closes the child level opened last.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_snapshot_builder_end_child(
    builder: *mut ccwal_snapshot_builder,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    with_builder(builder, error_out, |b| b.end_child().map_err(encode_error))
}

/// Frees a builder; NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_snapshot_builder_free(builder: *mut ccwal_snapshot_builder) {
    // SAFETY: NULL or a live builder, not used afterwards.
    guard_void(|| unsafe { free_handle(builder) })
}

/// Finishes the builder's snapshot and writes it as
/// `ROOT/CLUSTER/HOST/<from>.bin`, atomically and durably (temporary file,
/// fdatasync, rename, directory fsync), for hosts that do not use
/// checkpoint sessions. The builder is finished, not freed. Blocks.
/// Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_write_snapshot(
    root: *const u8,
    root_len: usize,
    cluster: *const u8,
    cluster_len: usize,
    host: *const u8,
    host_len: usize,
    from: i64,
    builder: *mut ccwal_snapshot_builder,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    with_builder(builder, error_out, |b| {
        // SAFETY: (ptr, len) pairs, as documented.
        let (root, cluster, host) = unsafe {
            (
                bytes(root, root_len, "root")?,
                bytes(cluster, cluster_len, "cluster")?,
                bytes(host, host_len, "host")?,
            )
        };
        b.ensure_finished().map_err(encode_error)?;
        let root = Path::new(OsStr::from_bytes(root));
        let written = checkpoint::write_snapshot(root, cluster, host, from, b.as_bytes());
        written?;
        Ok(())
    })
}
