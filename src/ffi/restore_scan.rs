//! `ccwal_restore_scan`: the hosts of a root, each restored on the
//! caller's thread when the caller asks for it, into a
//! `ccwal_restore_result` of its own.

use super::error::ccwal_error;
use super::guard::{guard, guard_void};
use super::restore::{ccwal_restore_options, ccwal_restore_result, read_error, restore_arguments};
use super::{Failure, ccwal_result, free_handle, handle, into_handle, out_ptr};
use crate::restore::RestoreScan;

/// The hosts of a root, listed once, restored one at a time by the
/// caller's threads: a caller that copies each host into a store of its own
/// and frees it (as the Go server does) overlaps the copying with the next
/// hosts' restore on its other threads, and holds only the hosts in flight
/// instead of every host twice.
///
/// Ownership: created by `ccwal_restore_scan_new`, owned by the caller, freed
/// with `ccwal_restore_scan_free` (the results it handed out stay valid
/// until they are freed themselves). Any number of threads may use it at
/// once.
pub struct ccwal_restore_scan {
    scan: RestoreScan,
}

/// Lists the hosts of `ROOT/CLUSTER/HOST` to restore for the retention
/// horizon `from` (unix seconds), sorted by cluster, then host; restores
/// none of them. `metrics` and `options` are those of `ccwal_restore`
/// (`options->workers` does not apply: the hosts are restored on the
/// threads that call `ccwal_restore_scan_host`). Fails only when ROOT
/// cannot be listed (`CCWAL_IO`). Blocks (lists directories). Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore_scan_new(
    root: *const u8,
    root_len: usize,
    from: i64,
    metrics: *const u8,
    metrics_len: usize,
    options: *const ccwal_restore_options,
    scan_out: *mut *mut ccwal_restore_scan,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: (ptr, len) pairs, NULL or readable options, writable
        // output, as documented.
        let (root, config, options) =
            unsafe { restore_arguments(root, root_len, metrics, metrics_len, options) }?;
        let out = unsafe { out_ptr(scan_out, "scan_out") }?;
        let scan = RestoreScan::new(root, from, config, options)?;
        out.write(into_handle(ccwal_restore_scan { scan }));
        Ok(())
    })
}

/// Number of hosts the scan found. Never blocks. Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore_scan_host_count(
    scan: *const ccwal_restore_scan,
    count_out: *mut usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and writable output, as documented.
        let scan = unsafe { handle(scan, "scan") }?;
        let out = unsafe { out_ptr(count_out, "count_out") }?;
        out.write(scan.scan.len());
        Ok(())
    })
}

/// Restores host `h` (< the host count) on the calling thread into a new
/// result holding that one host at index 0, walked with the
/// `ccwal_restore_*` accessors and freed with `ccwal_restore_result_free`
/// by the caller; its root error is none (see
/// `ccwal_restore_scan_root_error`). A host's own failure is reported in
/// the result, as by `ccwal_restore`, not as an error. A host may be
/// restored again (its files are read again). Blocks (reads the host's
/// files). Any thread, any number at once.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore_scan_host(
    scan: *const ccwal_restore_scan,
    h: usize,
    result_out: *mut *mut ccwal_restore_result,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and writable output, as documented.
        let scan = unsafe { handle(scan, "scan") }?;
        let out = unsafe { out_ptr(result_out, "result_out") }?;
        let host = scan
            .scan
            .restore_host(h)
            .ok_or_else(|| Failure::index("host", h, scan.scan.len()))?;
        out.write(into_handle(ccwal_restore_result::of_host(host)));
        Ok(())
    })
}

/// A problem of the root itself, as `ccwal_restore_root_error` reads it
/// from a result; the message is owned by the scan. Never blocks. Any
/// thread.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore_scan_root_error(
    scan: *const ccwal_restore_scan,
    code_out: *mut ccwal_result,
    os_code_out: *mut i32,
    message_out: *mut *const u8,
    len_out: *mut usize,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    read_error(
        scan,
        "scan",
        code_out,
        os_code_out,
        message_out,
        len_out,
        error_out,
        |scan| Ok(scan.scan.error()),
    )
}

/// Frees a scan; NULL is ignored. The results it handed out are not freed.
/// No call on the scan may be running or follow.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_restore_scan_free(scan: *mut ccwal_restore_scan) {
    // SAFETY: NULL or a live scan, not used afterwards.
    guard_void(|| unsafe { free_handle(scan) })
}
