//! `ccwal_restore_result`: a restored root, walked by index: hosts, their
//! levels, each level's metrics, each metric's chunks.

use std::ffi::OsStr;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::error::ccwal_error;
use super::guard::{guard, guard_void};
use super::{
    Failure, bytes, ccwal_result, error_codes, free_handle, handle, into_handle, item_at, out_ptr,
};
use super::{SizedStruct, checked_enum, sized_in, sized_out, sized_structs};
use crate::Error;
use crate::restore::{
    self, Chunk, HostReport, MetricConfig, Recovery, RestoreOptions, RestoredHost, Selection,
};

/// Which snapshots a restore loads: one of the `CCWAL_SELECTION_*` values
/// (any other is refused with CCWAL_INVALID_ARGUMENT).
pub type ccwal_selection = i32;
/// Go's rule and also the newest snapshot below the horizon (default).
pub const CCWAL_SELECTION_COVERING: ccwal_selection = 0;
/// Exactly Go's rule.
pub const CCWAL_SELECTION_GO_EXACT: ccwal_selection = 1;

/// What a restore does with damage: one of the `CCWAL_RECOVERY_*` values
/// (any other is refused with CCWAL_INVALID_ARGUMENT).
pub type ccwal_recovery = i32;
/// Skip damaged bytes and go on (default).
pub const CCWAL_RECOVERY_SALVAGE: ccwal_recovery = 0;
/// Stop as Go does.
pub const CCWAL_RECOVERY_STRICT: ccwal_recovery = 1;

/// Options of `ccwal_restore` and `ccwal_restore_scan_new`. Zero-initialise
/// it and set `struct_size`: every field left zero takes its default.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ccwal_restore_options {
    /// Set by the caller to `sizeof` this struct; ccwal reads that many
    /// bytes, so options can be appended without breaking callers (see
    /// "ABI stability" in ccwal.h).
    pub struct_size: usize,
    /// A `CCWAL_SELECTION_*` value.
    pub selection: ccwal_selection,
    /// A `CCWAL_RECOVERY_*` value.
    pub recovery: ccwal_recovery,
    /// Hosts restored in parallel; 0: one per core.
    pub workers: usize,
}

struct FlatLevel {
    path: Vec<Vec<u8>>,
    metrics: Vec<(Vec<u8>, Vec<Chunk>)>,
}

struct FlatHost {
    cluster: Vec<u8>,
    host: Vec<u8>,
    error: Option<Error>,
    report: HostReport,
    levels: Vec<FlatLevel>,
}

/// A restored root: the Go metricstore's buffers for every host.
///
/// Ownership: created by `ccwal_restore`, owned by the caller, freed with
/// `ccwal_restore_result_free`; every pointer an accessor hands out (names,
/// chunk values) is owned by the result and valid until it is freed.
/// Immutable: any number of threads may read it at once. Never blocks.
pub struct ccwal_restore_result {
    hosts: Vec<FlatHost>,
    /// A problem of the root itself.
    error: Option<Error>,
}

/// One restored host.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ccwal_restored_host {
    /// Set by the caller to `sizeof` this struct before the call; ccwal
    /// fills that many bytes and sets it to the bytes it filled (see
    /// "ABI stability" in ccwal.h).
    pub struct_size: usize,
    /// The cluster name, `cluster_len` bytes.
    pub cluster: *const u8,
    /// Length of `cluster`.
    pub cluster_len: usize,
    /// The host name, `host_len` bytes.
    pub host: *const u8,
    /// Length of `host`.
    pub host_len: usize,
    /// The message of the error that stopped this host (what was loaded
    /// before it stays); `error_len` 0 when there was none. Its result code
    /// and OS error number: `ccwal_restore_host_error`.
    pub error: *const u8,
    /// Length of `error`.
    pub error_len: usize,
    /// Levels of the host (see `ccwal_restore_level`).
    pub level_count: usize,
    /// Files loaded.
    pub files_loaded: usize,
    /// Files passed over.
    pub files_skipped: usize,
    /// WAL records written into chunks.
    pub records_applied: u64,
    /// WAL records older than `from`, skipped.
    pub records_before_from: u64,
    /// WAL records of metrics not configured, skipped.
    pub records_unknown_metric: u64,
    /// WAL records the buffer rule refused.
    pub records_rejected: u64,
    /// Damaged ranges found.
    pub damaged_ranges: usize,
}

/// One level of a host: `depth` path components (0 for the host itself).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ccwal_restored_level {
    /// Set by the caller to `sizeof` this struct before the call; ccwal
    /// fills that many bytes and sets it to the bytes it filled (see
    /// "ABI stability" in ccwal.h).
    pub struct_size: usize,
    /// Path components below the host.
    pub depth: usize,
    /// Metrics of the level.
    pub metric_count: usize,
}

/// One metric of a level, with its chain of chunks (oldest first).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ccwal_restored_metric {
    /// Set by the caller to `sizeof` this struct before the call; ccwal
    /// fills that many bytes and sets it to the bytes it filled (see
    /// "ABI stability" in ccwal.h).
    pub struct_size: usize,
    /// The metric name, `name_len` bytes.
    pub name: *const u8,
    /// Length of `name`.
    pub name_len: usize,
    /// Chunks in its chain.
    pub chunk_count: usize,
}

/// One chunk: `values[i]` is the sample at `start + i * frequency` (NaN =
/// missing); `capacity` is Go's buffer capacity; `archived` chunks came
/// from snapshots (the host must not write them to a snapshot again).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ccwal_chunk {
    /// Set by the caller to `sizeof` this struct before the call; ccwal
    /// fills that many bytes and sets it to the bytes it filled (see
    /// "ABI stability" in ccwal.h).
    pub struct_size: usize,
    /// Unix seconds of the chunk's start.
    pub start: i64,
    /// Seconds between two values.
    pub frequency: i64,
    /// Go's buffer capacity.
    pub capacity: usize,
    /// Loaded from a snapshot.
    pub archived: bool,
    /// The values, `len` of them, owned by the result.
    pub values: *const f64,
    /// Length of `values`.
    pub len: usize,
}

/// Reads a flat metric configuration: per metric `u16 name_len | name |
/// i64 frequency` (little-endian).
pub(super) fn parse_metric_config(bytes: &[u8]) -> Result<MetricConfig, Failure> {
    parse_metric_list(bytes).map(MetricConfig::new)
}

/// The (name, frequency) pairs of a flat metric configuration, in order.
pub(super) fn parse_metric_list(bytes: &[u8]) -> Result<Vec<(&[u8], i64)>, Failure> {
    let mut metrics = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let malformed = || {
            Failure::invalid(format!(
                "metric configuration entry {} at byte {pos} runs past the end",
                metrics.len()
            ))
        };
        let len = bytes.get(pos..pos + 2).ok_or_else(malformed)?;
        let len = u16::from_le_bytes([len[0], len[1]]) as usize;
        let name = bytes.get(pos + 2..pos + 2 + len).ok_or_else(malformed)?;
        let frequency = bytes
            .get(pos + 2 + len..pos + 10 + len)
            .ok_or_else(malformed)?;
        let frequency = i64::from_le_bytes(frequency.try_into().expect("8 bytes"));
        if frequency <= 0 {
            return Err(Failure::invalid(format!(
                "metric {:?}: frequency must be > 0",
                String::from_utf8_lossy(name)
            )));
        }
        metrics.push((name, frequency));
        pos += 10 + len;
    }
    Ok(metrics)
}

sized_structs!(
    ccwal_restore_options: workers: usize,
    ccwal_restored_host: damaged_ranges: usize,
    ccwal_restored_level: metric_count: usize,
    ccwal_restored_metric: chunk_count: usize,
    ccwal_chunk: len: usize,
);

/// Restores every `ROOT/CLUSTER/HOST` as the Go metricstore would, for the
/// retention horizon `from` (unix seconds). `metrics` is the configuration
/// as a flat list (per metric `u16 name_len | name | i64 frequency`);
/// `options` may be NULL for the defaults (a `struct_size` smaller than
/// the struct's first version, a selection or recovery that is none of its
/// constants, or an option this version does not know set past the end of
/// its struct fails with CCWAL_INVALID_ARGUMENT). One host's
/// failure is reported in that host, not as an error. Blocks (uses worker
/// threads). Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore(
    root: *const u8,
    root_len: usize,
    from: i64,
    metrics: *const u8,
    metrics_len: usize,
    options: *const ccwal_restore_options,
    result_out: *mut *mut ccwal_restore_result,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: (ptr, len) pairs, NULL or readable options, writable
        // output, as documented.
        let (root, config, options) =
            unsafe { restore_arguments(root, root_len, metrics, metrics_len, options) }?;
        let out = unsafe { out_ptr(result_out, "result_out") }?;
        let restored = restore::restore(root, from, &config, &options)?;
        out.write(into_handle(ccwal_restore_result {
            hosts: restored.hosts.into_iter().map(FlatHost::from).collect(),
            error: restored.error,
        }));
        Ok(())
    })
}

/// The arguments of a restore from C: the root path (bytes, as the file
/// system takes them), the flat metric configuration, and the options
/// (NULL for the defaults; refused as `ccwal_restore` documents).
///
/// # Safety
/// `(root, root_len)` and `(metrics, metrics_len)` must be readable (or
/// NULL with length 0), `options` NULL or readable for its `struct_size`.
pub(super) unsafe fn restore_arguments<'a>(
    root: *const u8,
    root_len: usize,
    metrics: *const u8,
    metrics_len: usize,
    options: *const ccwal_restore_options,
) -> Result<(&'a Path, MetricConfig, RestoreOptions), Failure> {
    // SAFETY: readable (ptr, len) pairs, as the caller promises.
    let root = Path::new(OsStr::from_bytes(unsafe { bytes(root, root_len, "root") }?));
    let config = parse_metric_config(unsafe { bytes(metrics, metrics_len, "metrics") }?)?;
    let mut rust_options = RestoreOptions::default();
    // SAFETY: NULL or readable for its struct_size, as the caller
    // promises; the options are integers only.
    if let Some(o) = unsafe { sized_in(options, "options") }? {
        rust_options.workers = o.workers;
        rust_options.selection = checked_enum!("options->selection", o.selection, {
            CCWAL_SELECTION_COVERING => Selection::Covering,
            CCWAL_SELECTION_GO_EXACT => Selection::GoExact,
        })?;
        rust_options.recovery = checked_enum!("options->recovery", o.recovery, {
            CCWAL_RECOVERY_SALVAGE => Recovery::Salvage,
            CCWAL_RECOVERY_STRICT => Recovery::Strict,
        })?;
    }
    Ok((root, config, rust_options))
}

impl From<RestoredHost> for FlatHost {
    fn from(h: RestoredHost) -> Self {
        let levels = h
            .root
            .into_levels()
            .into_iter()
            .map(|(path, metrics)| FlatLevel {
                path,
                metrics: metrics.into_iter().collect(),
            })
            .collect();
        FlatHost {
            cluster: h.cluster,
            host: h.host,
            error: h.error,
            report: h.report,
            levels,
        }
    }
}

impl ccwal_restore_result {
    /// A result of the one host `host` (index 0), with no root error.
    pub(super) fn of_host(host: RestoredHost) -> Self {
        ccwal_restore_result {
            hosts: vec![FlatHost::from(host)],
            error: None,
        }
    }
}

fn host_at(result: &ccwal_restore_result, h: usize) -> Result<&FlatHost, Failure> {
    item_at(&result.hosts, h, "host")
}

fn level_at(result: &ccwal_restore_result, h: usize, l: usize) -> Result<&FlatLevel, Failure> {
    item_at(&host_at(result, h)?.levels, l, "level")
}

fn metric_at(
    result: &ccwal_restore_result,
    h: usize,
    l: usize,
    m: usize,
) -> Result<&(Vec<u8>, Vec<Chunk>), Failure> {
    let level = level_at(result, h, l)?;
    item_at(&level.metrics, m, "metric")
}

/// Runs an accessor: a live result, a writable output.
fn read<T>(
    result: *const ccwal_restore_result,
    out: *mut T,
    error_out: *mut *mut ccwal_error,
    get: impl FnOnce(&ccwal_restore_result) -> Result<T, Failure>,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and writable output, as documented.
        let result = unsafe { handle(result, "result") }?;
        let out = unsafe { out_ptr(out, "output") }?;
        out.write(get(result)?);
        Ok(())
    })
}

/// [`read`] for an output struct that can grow (see `SizedStruct`).
fn read_sized<T: SizedStruct>(
    result: *const ccwal_restore_result,
    out: *mut T,
    what: &str,
    error_out: *mut *mut ccwal_error,
    get: impl FnOnce(&ccwal_restore_result) -> Result<T, Failure>,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and writable output, as documented.
        let result = unsafe { handle(result, "result") }?;
        let out = unsafe { sized_out(out, what) }?;
        out.write(get(result)?);
        Ok(())
    })
}

/// Number of hosts (sorted by cluster, then host).
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore_host_count(
    result: *const ccwal_restore_result,
    count_out: *mut usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    read(result, count_out, error_out, |r| Ok(r.hosts.len()))
}

/// Host `h`.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore_host(
    result: *const ccwal_restore_result,
    h: usize,
    host_out: *mut ccwal_restored_host,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    read_sized(result, host_out, "host_out", error_out, |r| {
        let host = host_at(r, h)?;
        let error = host.error.as_ref().map_or("", Error::message);
        let report = &host.report;
        Ok(ccwal_restored_host {
            struct_size: 0,
            cluster: host.cluster.as_ptr(),
            cluster_len: host.cluster.len(),
            host: host.host.as_ptr(),
            host_len: host.host.len(),
            error: error.as_ptr(),
            error_len: error.len(),
            level_count: host.levels.len(),
            files_loaded: report.files_loaded.len(),
            files_skipped: report.files_skipped.len(),
            records_applied: report.records_applied,
            records_before_from: report.records_before_from,
            records_unknown_metric: report.records_unknown_metric,
            records_rejected: report.records_rejected,
            damaged_ranges: report.damage.len(),
        })
    })
}

/// Level `l` of host `h` (levels in path order; level 0 is the host).
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore_level(
    result: *const ccwal_restore_result,
    h: usize,
    l: usize,
    level_out: *mut ccwal_restored_level,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    read_sized(result, level_out, "level_out", error_out, |r| {
        let level = level_at(r, h, l)?;
        Ok(ccwal_restored_level {
            struct_size: 0,
            depth: level.path.len(),
            metric_count: level.metrics.len(),
        })
    })
}

/// Path component `k` (< depth) of level `l` of host `h`, as `(ptr, len)`.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore_level_path(
    result: *const ccwal_restore_result,
    h: usize,
    l: usize,
    k: usize,
    name_out: *mut *const u8,
    len_out: *mut usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and writable outputs, as documented.
        let r = unsafe { handle(result, "result") }?;
        let (name, len) = unsafe { (out_ptr(name_out, "name_out")?, out_ptr(len_out, "len_out")?) };
        let level = level_at(r, h, l)?;
        let component = item_at(&level.path, k, "path")?;
        name.write(component.as_ptr());
        len.write(component.len());
        Ok(())
    })
}

/// Metric `m` of level `l` of host `h`.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore_metric(
    result: *const ccwal_restore_result,
    h: usize,
    l: usize,
    m: usize,
    metric_out: *mut ccwal_restored_metric,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    read_sized(result, metric_out, "metric_out", error_out, |r| {
        let (name, chain) = metric_at(r, h, l, m)?;
        Ok(ccwal_restored_metric {
            struct_size: 0,
            name: name.as_ptr(),
            name_len: name.len(),
            chunk_count: chain.len(),
        })
    })
}

/// Chunk `c` (oldest first) of metric `m` of level `l` of host `h`; its
/// values are owned by the result.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore_chunk(
    result: *const ccwal_restore_result,
    h: usize,
    l: usize,
    m: usize,
    c: usize,
    chunk_out: *mut ccwal_chunk,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    read_sized(result, chunk_out, "chunk_out", error_out, |r| {
        let (_, chain) = metric_at(r, h, l, m)?;
        let chunk = item_at(chain, c, "chunk")?;
        Ok(ccwal_chunk {
            struct_size: 0,
            start: chunk.start,
            frequency: chunk.frequency,
            capacity: chunk.capacity,
            archived: chunk.archived,
            values: chunk.values.as_ptr(),
            len: chunk.values.len(),
        })
    })
}

/// The outputs of an error read from a result: its result code, OS error
/// number and message.
struct ErrorOutputs<'a> {
    code: &'a mut MaybeUninit<ccwal_result>,
    os_code: &'a mut MaybeUninit<i32>,
    message: &'a mut MaybeUninit<*const u8>,
    len: &'a mut MaybeUninit<usize>,
}

impl<'a> ErrorOutputs<'a> {
    /// Checks the outputs for NULL.
    ///
    /// # Safety
    /// Each must be NULL or writable.
    unsafe fn new(
        code_out: *mut ccwal_result,
        os_code_out: *mut i32,
        message_out: *mut *const u8,
        len_out: *mut usize,
    ) -> Result<Self, Failure> {
        // SAFETY: NULL or writable, as the caller promises.
        unsafe {
            Ok(ErrorOutputs {
                code: out_ptr(code_out, "code_out")?,
                os_code: out_ptr(os_code_out, "os_code_out")?,
                message: out_ptr(message_out, "message_out")?,
                len: out_ptr(len_out, "len_out")?,
            })
        }
    }

    /// Writes `error` (`CCWAL_OK`, 0 and an empty message for none).
    fn write(self, error: Option<&Error>) {
        let (code, os_code) = error_codes(error);
        let text = error.map_or("", Error::message);
        self.code.write(code);
        self.os_code.write(os_code);
        self.message.write(text.as_ptr());
        self.len.write(text.len());
    }
}

/// An accessor of an error a handle holds: a live handle, outputs that are
/// NULL or writable, and `get`, which picks the error (`None`: there was
/// none).
#[allow(clippy::too_many_arguments)]
pub(super) fn read_error<H>(
    handle_ptr: *const H,
    what: &str,
    code_out: *mut ccwal_result,
    os_code_out: *mut i32,
    message_out: *mut *const u8,
    len_out: *mut usize,
    error_out: *mut *mut ccwal_error,
    get: impl FnOnce(&H) -> Result<Option<&Error>, Failure>,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and NULL or writable outputs, as the callers
        // document.
        let h = unsafe { handle(handle_ptr, what) }?;
        let outputs = unsafe { ErrorOutputs::new(code_out, os_code_out, message_out, len_out) }?;
        outputs.write(get(h)?);
        Ok(())
    })
}

/// A problem of the root itself, apart from the hosts' own errors, read as
/// a host's error is (`ccwal_restore_host_error`): its result code in
/// `*code_out` (`CCWAL_OK` when there was none, `CCWAL_FORMAT` for a file
/// where only cluster and host directories belong; under strict recovery
/// the scan stopped there, as Go's does, and the message says how many
/// hosts after it were not restored), the OS error number behind a
/// `CCWAL_IO` in `*os_code_out` (0 otherwise), and its message as `(ptr,
/// len)` owned by the result (`len` 0 when none).
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore_root_error(
    result: *const ccwal_restore_result,
    code_out: *mut ccwal_result,
    os_code_out: *mut i32,
    message_out: *mut *const u8,
    len_out: *mut usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    read_error(
        result,
        "result",
        code_out,
        os_code_out,
        message_out,
        len_out,
        error_out,
        |r| Ok(r.error.as_ref()),
    )
}

/// The error that stopped host `h`: its result code in `*code_out`
/// (`CCWAL_OK` when the host had none; `CCWAL_IO` when its directory or a
/// snapshot could not be read, `CCWAL_CORRUPT` for a damaged snapshot,
/// `CCWAL_FORMAT` for a snapshot name that is not a number or a chunk out
/// of order), the OS error number behind a `CCWAL_IO` in `*os_code_out` (0
/// otherwise), and its message, which names the file, as `(ptr, len)` owned
/// by the result (`len` 0 when none).
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore_host_error(
    result: *const ccwal_restore_result,
    h: usize,
    code_out: *mut ccwal_result,
    os_code_out: *mut i32,
    message_out: *mut *const u8,
    len_out: *mut usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    read_error(
        result,
        "result",
        code_out,
        os_code_out,
        message_out,
        len_out,
        error_out,
        |r| Ok(host_at(r, h)?.error.as_ref()),
    )
}

/// Frees a restore result and everything it handed out; NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore_result_free(result: *mut ccwal_restore_result) {
    // SAFETY: NULL or a live result, not used afterwards.
    guard_void(|| unsafe { free_handle(result) })
}

#[cfg(test)]
mod tests {
    use std::ptr::null_mut;

    use super::*;
    use crate::ffi::test_util::take_error;
    use crate::ffi::{CCWAL_INVALID_ARGUMENT, CCWAL_OK};

    /// Options as a caller of this version's header sets them.
    fn options(selection: i32, recovery: i32) -> ccwal_restore_options {
        ccwal_restore_options {
            struct_size: size_of::<ccwal_restore_options>(),
            selection,
            recovery,
            workers: 1,
        }
    }

    /// Restores an empty root with `options`; the result is freed.
    fn restore_empty(options: Option<ccwal_restore_options>) -> (ccwal_result, *mut ccwal_error) {
        restore_empty_with(
            options
                .as_ref()
                .map_or(std::ptr::null(), |o| o as *const ccwal_restore_options),
        )
    }

    /// [`restore_empty`] with options as a pointer, perhaps to a larger
    /// struct.
    fn restore_empty_with(
        options_ptr: *const ccwal_restore_options,
    ) -> (ccwal_result, *mut ccwal_error) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().as_os_str().as_bytes();
        let mut result = null_mut();
        let mut error = null_mut();
        let rc = ccwal_restore(
            root.as_ptr(),
            root.len(),
            0,
            std::ptr::null(),
            0,
            options_ptr,
            &mut result,
            &mut error,
        );
        assert_eq!(rc == CCWAL_OK, !result.is_null());
        ccwal_restore_result_free(result);
        (rc, error)
    }

    #[test]
    fn selection_or_recovery_outside_the_constants_is_refused() {
        for bad in [99, -1, 2, 12345] {
            let (rc, error) = restore_empty(Some(options(bad, CCWAL_RECOVERY_SALVAGE)));
            assert_eq!(rc, CCWAL_INVALID_ARGUMENT, "selection {bad}");
            let (_, message) = take_error(error);
            assert!(
                message.contains(&format!("options->selection {bad} ")),
                "{message}"
            );
            assert!(
                message.contains("CCWAL_SELECTION_GO_EXACT (1)"),
                "{message}"
            );

            let (rc, error) = restore_empty(Some(options(CCWAL_SELECTION_COVERING, bad)));
            assert_eq!(rc, CCWAL_INVALID_ARGUMENT, "recovery {bad}");
            let (_, message) = take_error(error);
            assert!(
                message.contains(&format!("options->recovery {bad} ")),
                "{message}"
            );
        }
    }

    #[test]
    fn every_selection_and_recovery_constant_is_accepted() {
        for selection in [CCWAL_SELECTION_COVERING, CCWAL_SELECTION_GO_EXACT] {
            for recovery in [CCWAL_RECOVERY_SALVAGE, CCWAL_RECOVERY_STRICT] {
                let (rc, error) = restore_empty(Some(options(selection, recovery)));
                assert_eq!(rc, CCWAL_OK, "{selection} {recovery}");
                assert!(error.is_null());
            }
        }
        let (rc, _) = restore_empty(None);
        assert_eq!(rc, CCWAL_OK);
    }

    #[test]
    fn restore_options_keep_their_c_layout() {
        // struct_size, two 32-bit enumerations, then a size_t.
        assert_eq!(std::mem::offset_of!(ccwal_restore_options, struct_size), 0);
        assert_eq!(std::mem::offset_of!(ccwal_restore_options, selection), 8);
        assert_eq!(std::mem::offset_of!(ccwal_restore_options, recovery), 12);
        assert_eq!(std::mem::offset_of!(ccwal_restore_options, workers), 16);
        assert_eq!(size_of::<ccwal_restore_options>(), 24);
    }

    #[test]
    fn options_without_their_struct_size_are_refused() {
        for struct_size in [0, 8, size_of::<ccwal_restore_options>() - 1] {
            let mut short = options(CCWAL_SELECTION_COVERING, CCWAL_RECOVERY_SALVAGE);
            short.struct_size = struct_size;
            let (rc, error) = restore_empty(Some(short));
            assert_eq!(rc, CCWAL_INVALID_ARGUMENT, "struct_size {struct_size}");
            let (_, message) = take_error(error);
            assert!(
                message.contains(&format!(
                    "options->struct_size is {struct_size}, less than the 24 bytes"
                )),
                "{message}"
            );
        }
    }

    /// The options of a caller built against a newer header: this
    /// version's fields, then one more option.
    #[repr(C)]
    struct NewerOptions {
        known: ccwal_restore_options,
        unknown_option: u64,
    }

    #[test]
    fn a_newer_callers_options_are_read_unless_it_sets_one_this_version_lacks() {
        let mut newer = NewerOptions {
            known: options(CCWAL_SELECTION_COVERING, 7),
            unknown_option: 0,
        };
        newer.known.struct_size = size_of::<NewerOptions>();
        let restore = |n: &NewerOptions| restore_empty_with((n as *const NewerOptions).cast());
        // The known fields are read: the bad recovery is seen.
        let (rc, error) = restore(&newer);
        assert_eq!(rc, CCWAL_INVALID_ARGUMENT);
        assert!(take_error(error).1.contains("options->recovery 7 "));
        newer.known.recovery = CCWAL_RECOVERY_STRICT;
        let (rc, error) = restore(&newer);
        assert_eq!(rc, CCWAL_OK);
        assert!(error.is_null());
        // An option this version does not have is refused, not ignored.
        newer.unknown_option = 1 << 16;
        let (rc, error) = restore(&newer);
        assert_eq!(rc, CCWAL_INVALID_ARGUMENT);
        let (_, message) = take_error(error);
        assert!(
            message.contains("options->struct_size is 32: byte 26 is set, past the 24 bytes"),
            "{message}"
        );
    }
}
