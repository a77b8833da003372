package ccwal

/*
#include "ccwal.h"
*/
import "C"

import (
	"runtime"
	"time"
)

// ArchiveCluster is one cluster of an archive run.
type ArchiveCluster struct {
	// Cluster is the cluster's name.
	Cluster string
	// Archive is the Parquet file written (durably), "" when none was.
	Archive string
	// Rows is the number of rows written to the archive.
	Rows int64
	// RowGroups is the number of row groups in the archive: one per host
	// with rows.
	RowGroups int
	// Bytes is the size of the archive in bytes.
	Bytes int64
	// Err is why the archive failed (an *Error with the library's code);
	// the cluster's snapshots stay. nil when the archive was written.
	Err error
}

// ArchiveHost is one host that had snapshots older than the horizon.
type ArchiveHost struct {
	// Cluster and Host name the host's directory below the root.
	Cluster, Host string
	// Archived: its rows are in the archive and its snapshots were deleted
	// (but for DeleteErrors). Otherwise Err says why, and all its files
	// stay.
	Archived bool
	// Rows is the number of the host's rows written to the archive; 0
	// unless Archived.
	Rows int64
	// Files is the number of the host's snapshots selected (numbered ≤ the
	// horizon).
	Files int
	// Deleted is the number of its snapshots deleted once the archive was
	// durable; 0 unless Archived.
	Deleted int
	// DeleteErrors is the number of archived snapshots that could not be
	// deleted (they stay).
	DeleteErrors int
	// Err is why the host failed (an *Error with the library's code); nil
	// when Archived.
	Err error
}

// ArchiveReport is what Archive did.
type ArchiveReport struct {
	// Clusters are the clusters that had snapshots older than the horizon.
	Clusters []ArchiveCluster
	// Hosts are the hosts that had snapshots older than the horizon,
	// archived or failed.
	Hosts []ArchiveHost
	// Rows is the number of rows written to all archives.
	Rows int64
	// Bytes is the total size of the archives written, in bytes.
	Bytes int64
	// FilesArchived is the number of snapshots deleted once archived.
	FilesArchived int
	// HostsFailed is the number of hosts none of whose files were archived
	// (they stay).
	HostsFailed int
	// ClusterErrors is the number of clusters whose archive failed (their
	// snapshots stay).
	ClusterErrors int
	// DeleteErrors is the number of archived snapshots that could not be
	// deleted (they stay).
	DeleteErrors int
	// Duration is how long the run took (measured in microseconds).
	Duration time.Duration
}

// Archive archives every snapshot below root numbered ≤ horizon (and not 0)
// into to/<cluster>/<horizon>.parquet, as cc-backend v1.5.4's archive
// cleanup does (same rows, order and schema), durably: the archive is
// fsynced and renamed into place before the archived snapshots are
// deleted. A host with a damaged snapshot keeps its files (see the report);
// an existing archive is never replaced. The error is only for a root that
// cannot be listed.
func Archive(root, to string, horizon int64) (*ArchiveReport, error) {
	r, rLen := str(root)
	t, tLen := str(to)
	var handle *C.ccwal_archive_report
	err := call(func(e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_archive(r, rLen, t, tLen, C.int64_t(horizon), &handle, e)
	})
	runtime.KeepAlive(root)
	runtime.KeepAlive(to)
	if err != nil {
		return nil, err
	}
	defer C.ccwal_archive_report_free(handle)
	totals := C.ccwal_archive_totals{struct_size: C.sizeof_ccwal_archive_totals}
	if err := call(func(e **C.ccwal_error) C.ccwal_result {
		return C.ccwal_archive_report_totals(handle, &totals, e)
	}); err != nil {
		return nil, err
	}
	report := &ArchiveReport{
		Rows:          int64(totals.rows),
		Bytes:         int64(totals.bytes),
		FilesArchived: int(totals.files_archived),
		HostsFailed:   int(totals.hosts_failed),
		ClusterErrors: int(totals.cluster_errors),
		DeleteErrors:  int(totals.delete_errors),
		Duration:      time.Duration(totals.duration_micros) * time.Microsecond,
	}
	for i := 0; i < int(totals.clusters); i++ {
		c := C.ccwal_archive_cluster{struct_size: C.sizeof_ccwal_archive_cluster}
		if err := call(func(e **C.ccwal_error) C.ccwal_result {
			return C.ccwal_archive_report_cluster(handle, C.size_t(i), &c, e)
		}); err != nil {
			return nil, err
		}
		cluster := ArchiveCluster{
			Cluster:   goBytes(c.cluster, c.cluster_len),
			Archive:   goBytes(c.archive, c.archive_len),
			Rows:      int64(c.rows),
			RowGroups: int(c.row_groups),
			Bytes:     int64(c.bytes),
		}
		if c.message_len > 0 {
			cluster.Err = &Error{Code: Code(c.code), Message: goBytes(c.message, c.message_len)}
		}
		report.Clusters = append(report.Clusters, cluster)
	}
	for i := 0; i < int(totals.hosts); i++ {
		h := C.ccwal_archive_host{struct_size: C.sizeof_ccwal_archive_host}
		if err := call(func(e **C.ccwal_error) C.ccwal_result {
			return C.ccwal_archive_report_host(handle, C.size_t(i), &h, e)
		}); err != nil {
			return nil, err
		}
		host := ArchiveHost{
			Cluster:      goBytes(h.cluster, h.cluster_len),
			Host:         goBytes(h.host, h.host_len),
			Archived:     h.outcome == C.CCWAL_ARCHIVE_HOST_ARCHIVED,
			Rows:         int64(h.rows),
			Files:        int(h.files),
			Deleted:      int(h.deleted),
			DeleteErrors: int(h.delete_errors),
		}
		if !host.Archived {
			host.Err = &Error{Code: Code(h.code), Message: goBytes(h.message, h.message_len)}
		}
		report.Hosts = append(report.Hosts, host)
	}
	return report, nil
}
