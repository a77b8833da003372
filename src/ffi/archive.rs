//! `ccwal_archive`: old snapshots to Parquet, and its report.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::error::ccwal_error;
use super::guard::{guard, guard_void};
use super::{
    CCWAL_OK, Failure, bytes, ccwal_result, error_codes, free_handle, handle, into_handle, item_at,
    out_ptr, result_of,
};
use super::{sized_out, sized_structs};
use crate::archive::{ArchiveReport, HostOutcome};

/// What an archive run did: per cluster (the archive written) and per host
/// that had snapshots older than the horizon.
///
/// Ownership: created by `ccwal_archive`, owned by the caller, freed with
/// `ccwal_archive_report_free`. Immutable: any thread.
pub struct ccwal_archive_report {
    report: ArchiveReport,
    /// Each cluster's archive path, as bytes (owned here for C).
    archive_paths: Vec<Vec<u8>>,
    /// Each host's error message, or empty.
    host_messages: Vec<String>,
}

/// The outcome for one host of an archive: one of the `CCWAL_ARCHIVE_HOST_*`
/// values.
pub type ccwal_archive_host_outcome = i32;
/// Its rows are in the cluster's archive and its snapshots were deleted
/// (see `delete_errors`).
pub const CCWAL_ARCHIVE_HOST_ARCHIVED: ccwal_archive_host_outcome = 0;
/// Nothing of it was archived (a damaged or unreadable snapshot, a name
/// that is not a number, or the cluster's archive failed): all its files
/// stay. See the message.
pub const CCWAL_ARCHIVE_HOST_FAILED: ccwal_archive_host_outcome = 1;

/// Totals of an archive report.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ccwal_archive_totals {
    /// Set by the caller to `sizeof` this struct before the call; ccwal
    /// fills that many bytes and sets it to the bytes it filled (see
    /// "ABI stability" in ccwal.h).
    pub struct_size: usize,
    /// Clusters that had snapshots older than the horizon.
    pub clusters: usize,
    /// Archives written (durably).
    pub archives: usize,
    /// Clusters whose archive failed (their snapshots stay).
    pub cluster_errors: usize,
    /// Hosts that had snapshots older than the horizon, archived, failed.
    pub hosts: usize,
    /// Hosts whose files were archived.
    pub hosts_archived: usize,
    /// Hosts none of whose files were archived (they stay).
    pub hosts_failed: usize,
    /// Rows written to all archives.
    pub rows: u64,
    /// Bytes of the archives written.
    pub bytes: u64,
    /// Snapshots deleted once archived.
    pub files_archived: usize,
    /// Archived snapshots that could not be deleted (they stay).
    pub delete_errors: usize,
    /// How long the run took, in µs.
    pub duration_micros: u64,
}

/// One cluster of an archive report; strings are owned by the report.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ccwal_archive_cluster {
    /// Set by the caller to `sizeof` this struct before the call; ccwal
    /// fills that many bytes and sets it to the bytes it filled (see
    /// "ABI stability" in ccwal.h).
    pub struct_size: usize,
    /// The cluster's name.
    pub cluster: *const u8,
    /// Its length.
    pub cluster_len: usize,
    /// The archive's path (empty when none was written).
    pub archive: *const u8,
    /// Its length.
    pub archive_len: usize,
    /// Rows written to the archive.
    pub rows: u64,
    /// Row groups in it (one per host with rows).
    pub row_groups: usize,
    /// Size of the archive in bytes.
    pub bytes: u64,
    /// `CCWAL_OK`, or the result code of why the archive failed.
    pub code: ccwal_result,
    /// Why the archive failed (empty otherwise).
    pub message: *const u8,
    /// Its length.
    pub message_len: usize,
}

/// One host of an archive report; strings are owned by the report.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ccwal_archive_host {
    /// Set by the caller to `sizeof` this struct before the call; ccwal
    /// fills that many bytes and sets it to the bytes it filled (see
    /// "ABI stability" in ccwal.h).
    pub struct_size: usize,
    /// The host's cluster.
    pub cluster: *const u8,
    /// Its length.
    pub cluster_len: usize,
    /// The host's name.
    pub host: *const u8,
    /// Its length.
    pub host_len: usize,
    /// Archived or failed (`CCWAL_ARCHIVE_HOST_*`).
    pub outcome: ccwal_archive_host_outcome,
    /// Rows written (0 unless archived).
    pub rows: u64,
    /// Snapshots selected, and deleted once archived.
    pub files: usize,
    /// Snapshots deleted once the archive was durable.
    pub deleted: usize,
    /// Archived snapshots that could not be deleted (they stay).
    pub delete_errors: usize,
    /// `CCWAL_OK`, or the result code of why the host failed.
    pub code: ccwal_result,
    /// Why the host failed (empty otherwise).
    pub message: *const u8,
    /// Its length.
    pub message_len: usize,
}

fn path_of(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

sized_structs!(
    ccwal_archive_totals: duration_micros: u64,
    ccwal_archive_cluster: message_len: usize,
    ccwal_archive_host: message_len: usize,
);

/// Archives every snapshot below `root` numbered ≤ `horizon` (and not 0)
/// into `to/<cluster>/<horizon>.parquet` (cc-backend v1.5.4's archive:
/// same rows, order and schema, one row group per host), durably: the
/// archive is fsynced and renamed into place before the archived snapshots
/// are deleted. A host with a damaged snapshot keeps all its files and is
/// reported; an existing archive is never replaced. Fails only when `root`
/// cannot be listed (or ccwal was built without the archive feature:
/// `CCWAL_INVALID_ARGUMENT`); everything else is in the report written to
/// `*report_out`. Blocks. Any thread, but not concurrently with a cleanup
/// or another archive of the same root.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_archive(
    root: *const u8,
    root_len: usize,
    to: *const u8,
    to_len: usize,
    horizon: i64,
    report_out: *mut *mut ccwal_archive_report,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: (ptr, len) pairs and a writable output, as documented.
        let (root, to) = unsafe { (bytes(root, root_len, "root")?, bytes(to, to_len, "to")?) };
        let out = unsafe { out_ptr(report_out, "report_out") }?;
        if root.is_empty() || to.is_empty() {
            return Err(Failure::invalid("root and to must not be empty"));
        }
        let report = crate::archive::archive(path_of(root), path_of(to), horizon)?;
        let archive_paths = report
            .clusters
            .iter()
            .map(|c| {
                c.archive
                    .as_ref()
                    .map(|p| p.as_os_str().as_bytes().to_vec())
                    .unwrap_or_default()
            })
            .collect();
        let host_messages = report
            .hosts
            .iter()
            .map(|h| match &h.outcome {
                HostOutcome::Archived => String::new(),
                HostOutcome::Failed(e) => e.message().to_string(),
            })
            .collect();
        out.write(into_handle(ccwal_archive_report {
            report,
            archive_paths,
            host_messages,
        }));
        Ok(())
    })
}

/// The totals of an archive report.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_archive_report_totals(
    report: *const ccwal_archive_report,
    totals_out: *mut ccwal_archive_totals,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and writable output, as documented.
        let report = &unsafe { handle(report, "report") }?.report;
        let out = unsafe { sized_out(totals_out, "totals_out") }?;
        let hosts_failed = report.hosts_failed();
        out.write(ccwal_archive_totals {
            struct_size: 0,
            clusters: report.clusters.len(),
            archives: report
                .clusters
                .iter()
                .filter(|c| c.archive.is_some())
                .count(),
            cluster_errors: report.clusters.iter().filter(|c| c.error.is_some()).count(),
            hosts: report.hosts.len(),
            hosts_archived: report.hosts.len() - hosts_failed,
            hosts_failed,
            rows: report.rows(),
            bytes: report.clusters.iter().map(|c| c.bytes).sum(),
            files_archived: report.files_archived(),
            delete_errors: report.hosts.iter().map(|h| h.delete_errors.len()).sum(),
            duration_micros: report.duration.as_micros() as u64,
        });
        Ok(())
    })
}

/// Cluster `index` (< totals.clusters) of an archive report.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_archive_report_cluster(
    report: *const ccwal_archive_report,
    index: usize,
    cluster_out: *mut ccwal_archive_cluster,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and writable output, as documented.
        let handle = unsafe { handle(report, "report") }?;
        let out = unsafe { sized_out(cluster_out, "cluster_out") }?;
        let cluster = item_at(&handle.report.clusters, index, "cluster")?;
        let archive = &handle.archive_paths[index];
        let message = cluster.error.as_ref().map_or("", |e| e.message());
        let (code, _) = error_codes(cluster.error.as_ref());
        out.write(ccwal_archive_cluster {
            struct_size: 0,
            cluster: cluster.cluster.as_ptr(),
            cluster_len: cluster.cluster.len(),
            archive: archive.as_ptr(),
            archive_len: archive.len(),
            rows: cluster.rows,
            row_groups: cluster.row_groups,
            bytes: cluster.bytes,
            code,
            message: message.as_ptr(),
            message_len: message.len(),
        });
        Ok(())
    })
}

/// Host `index` (< totals.hosts) of an archive report.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_archive_report_host(
    report: *const ccwal_archive_report,
    index: usize,
    host_out: *mut ccwal_archive_host,
    error_out: *mut *mut ccwal_error,
) -> ccwal_result {
    guard(error_out, || {
        // SAFETY: live handle and writable output, as documented.
        let handle = unsafe { handle(report, "report") }?;
        let out = unsafe { sized_out(host_out, "host_out") }?;
        let host = item_at(&handle.report.hosts, index, "host")?;
        let message = &handle.host_messages[index];
        let (outcome, code) = match &host.outcome {
            HostOutcome::Archived => (CCWAL_ARCHIVE_HOST_ARCHIVED, CCWAL_OK),
            HostOutcome::Failed(e) => (CCWAL_ARCHIVE_HOST_FAILED, result_of(e.kind())),
        };
        out.write(ccwal_archive_host {
            struct_size: 0,
            cluster: host.cluster.as_ptr(),
            cluster_len: host.cluster.len(),
            host: host.host.as_ptr(),
            host_len: host.host.len(),
            outcome,
            rows: host.rows,
            files: host.files.len(),
            deleted: host.deleted.len(),
            delete_errors: host.delete_errors.len(),
            code,
            message: message.as_ptr(),
            message_len: message.len(),
        });
        Ok(())
    })
}

/// Frees an archive report; NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn ccwal_archive_report_free(report: *mut ccwal_archive_report) {
    // SAFETY: NULL or a live report, not used afterwards.
    guard_void(|| unsafe { free_handle(report) })
}

#[cfg(all(test, feature = "archive"))]
mod tests {
    use super::super::test_util::take_error;
    use super::super::{CCWAL_INVALID_ARGUMENT, CCWAL_NULL_ARGUMENT};
    use super::*;

    #[test]
    fn archives_nothing_from_an_empty_root_and_checks_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let to = dir.path().join("to");
        let (root, to) = (root.as_os_str().as_bytes(), to.as_os_str().as_bytes());
        let mut report = std::ptr::null_mut();
        let mut error = std::ptr::null_mut();
        let rc = ccwal_archive(
            root.as_ptr(),
            root.len(),
            to.as_ptr(),
            to.len(),
            100,
            &mut report,
            &mut error,
        );
        assert_eq!(rc, CCWAL_OK);
        let mut totals = ccwal_archive_totals {
            struct_size: size_of::<ccwal_archive_totals>(),
            ..Default::default()
        };
        assert_eq!(
            ccwal_archive_report_totals(report, &mut totals, std::ptr::null_mut()),
            CCWAL_OK
        );
        assert_eq!((totals.clusters, totals.hosts, totals.rows), (0, 0, 0));
        let mut host = std::mem::MaybeUninit::uninit();
        let rc = ccwal_archive_report_host(report, 0, host.as_mut_ptr(), &mut error);
        assert_eq!(take_error(error).0, CCWAL_INVALID_ARGUMENT);
        assert_eq!(rc, CCWAL_INVALID_ARGUMENT);
        ccwal_archive_report_free(report);
        ccwal_archive_report_free(std::ptr::null_mut());

        let mut error = std::ptr::null_mut();
        let rc = ccwal_archive(
            root.as_ptr(),
            root.len(),
            to.as_ptr(),
            to.len(),
            100,
            std::ptr::null_mut(),
            &mut error,
        );
        assert_eq!(rc, CCWAL_NULL_ARGUMENT);
        take_error(error);
        let rc = ccwal_archive(
            std::ptr::null(),
            0,
            to.as_ptr(),
            to.len(),
            100,
            &mut report,
            std::ptr::null_mut(),
        );
        assert_eq!(rc, CCWAL_INVALID_ARGUMENT);
    }
}
