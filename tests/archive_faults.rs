//! The archive under failing system calls and crashes, with
//! `tests/faultfs/faultfs.c` preloaded into a child (see
//! `tests/common/faultfs.rs` and `tests/faults.rs`).
//!
//! The contract: whatever fails and wherever a crash happens, every host's
//! data survives, either in its original snapshots or in a complete,
//! durable archive — never neither. A crash after call N is modelled by
//! failing every file call from the N+1-th on (nothing after N takes
//! effect) and asking faultfs's durability oracle what a crash at that
//! point keeps: the archive counts only when its bytes were fsynced and
//! its directory entries (file, cluster directory, archive root) were
//! fsynced too. N runs over every call of a fault-free archive. Besides,
//! the report never says "archived" for a host whose archive is not
//! durable, and a host reported failed keeps all its files.
#![cfg(feature = "archive")]

#[path = "common/faultfs.rs"]
mod faultfs;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ccwal::archive::rows::{Row, host_rows, load_binary};
use ccwal::archive::{HostOutcome, archive};
use ccwal::checkpoint::{snapshot_builder, write_snapshot};
use faultfs::{Faultfs, Job, bounded, check, info};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::RowAccessor;

const ENTRY: &str = "child_entry_point";
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);
const T0: i64 = 1_700_000_000;
const HOSTS: [&str; 3] = ["h0", "h1", "h2"];

#[test]
fn child_entry_point() {
    let Some((scenario, args, root)) = faultfs::child_scenario() else {
        return;
    };
    assert_eq!(scenario, "archive");
    scenario_archive(&root, args.get("spec").map_or("", String::as_str));
}

fn run(what: &str, jobs: Vec<Job>) -> Option<Vec<(Job, faultfs::ChildReport)>> {
    faultfs::run_checked(ENTRY, CHILD_TIMEOUT, what, jobs)
}

/// Every errno on every kind of call the archive makes, once or for good,
/// after a few good calls.
#[test]
fn a_fault_at_any_call_keeps_the_originals_or_a_complete_archive() {
    let jobs = faultfs::fault_matrix(
        "archive",
        &[
            ("open", &["EMFILE", "EIO", "ENOSPC"]),
            ("read", &["EIO"]),
            ("write|writev", &["ENOSPC", "EIO"]),
            ("fsync|fdatasync", &["EIO"]),
            ("rename", &["EIO", "ENOSPC"]),
            ("unlink", &["EIO"]),
            ("mkdir", &["ENOSPC"]),
            ("close", &["EIO"]),
        ],
    );
    run("archive faults", jobs);
}

/// A crash after every single call of an archive run.
#[test]
fn a_crash_after_any_call_keeps_the_originals_or_a_complete_archive() {
    let Some(control) = run("archive without faults", vec![Job::new("archive")]) else {
        return;
    };
    let jobs = faultfs::crash_after_each_call("archive", &control[0].1);
    run("archive crashes", jobs);
}

// ------------------------------------------------------------------ child

/// The same path outside faultfs's root (never failed, never counted).
fn outside(path: &Path) -> PathBuf {
    Path::new("/proc/self/root").join(path.strip_prefix("/").unwrap_or(path))
}

/// Rows of an archive by host (read past the faults); None when it is not
/// a readable Parquet file.
fn archived_rows(path: &Path) -> Option<BTreeMap<Vec<u8>, Vec<Row>>> {
    let reader = SerializedFileReader::new(File::open(outside(path)).ok()?).ok()?;
    let mut by_host: BTreeMap<Vec<u8>, Vec<Row>> = BTreeMap::new();
    for row in reader.get_row_iter(None).ok()? {
        let row = row.ok()?;
        let s = |i| row.get_string(i).map(|s| s.as_bytes().to_vec());
        let row = Row {
            cluster: s(0).ok()?,
            hostname: s(1).ok()?,
            metric: s(2).ok()?,
            scope: s(3).ok()?,
            scope_id: s(4).ok()?,
            timestamp: row.get_long(5).ok()?,
            frequency: row.get_long(6).ok()?,
            value: row.get_float(7).ok()?,
        };
        by_host.entry(row.hostname.clone()).or_default().push(row);
    }
    Some(by_host)
}

fn scenario_archive(root: &Path, spec: &str) {
    let ff = Faultfs::get();
    let checkpoints = root.join("checkpoints");
    let to = root.join("archive");
    // Two snapshots per host before the horizon (archived), one after
    // (stays), all durable.
    let mut originals: BTreeMap<&str, Vec<(PathBuf, Vec<u8>)>> = BTreeMap::new();
    let mut expected: BTreeMap<&str, Vec<Row>> = BTreeMap::new();
    for (h, host) in HOSTS.iter().enumerate() {
        let mut trees = Vec::new();
        for w in 0..4i64 {
            let from = T0 - 1200 + 600 * w;
            let mut b = snapshot_builder(from, from + 600);
            let values: Vec<f32> = (0..20)
                .map(|i| {
                    if i % 5 == 2 {
                        f32::NAN
                    } else {
                        (h * 100 + i) as f32
                    }
                })
                .collect();
            b.metric(b"cpu_load", 60, from, &values).unwrap();
            b.begin_child(b"socket0").unwrap();
            b.metric(b"mem_bw", 60, from, &values[..7]).unwrap();
            b.end_child().unwrap();
            b.finish().unwrap();
            let bytes = b.into_inner();
            let path = write_snapshot(&checkpoints, b"c", host.as_bytes(), from, &bytes).unwrap();
            if from <= T0 {
                trees.push(load_binary(&bytes).unwrap());
                originals.entry(host).or_default().push((path, bytes));
            }
        }
        expected.insert(host, host_rows(b"c", host.as_bytes(), &trees));
    }
    let archive_path = to.join("c").join(format!("{T0}.parquet"));

    ff.reset_counters();
    ff.set(spec);
    let (result, _) = bounded("archive", Duration::from_secs(30), || {
        archive(&checkpoints, &to, T0)
    });
    ff.clear();
    info("calls", ff.calls("*"));
    info("hits", ff.hits("*"));
    if spec.is_empty() {
        check(
            "without faults the archive succeeds",
            matches!(&result, Ok(r) if !r.has_errors()),
            format!("{result:?}"),
        );
    }

    // What a crash now would keep of the archive: its bytes fsynced and
    // every entry on its path fsynced.
    let durable = archive_path.exists()
        && ff.unsynced_bytes(&archive_path) == Some(0)
        && [&archive_path, &to.join("c"), &to]
            .iter()
            .all(|p| !ff.entry_dirty(p));
    let rows = if durable {
        archived_rows(&archive_path)
    } else {
        None
    };
    check(
        "a durable archive is a complete Parquet file",
        !durable || rows.is_some(),
        archive_path.display(),
    );
    for host in HOSTS {
        let intact = originals[host]
            .iter()
            .all(|(path, bytes)| std::fs::read(outside(path)).ok().as_ref() == Some(bytes));
        let in_archive = rows
            .as_ref()
            .and_then(|rows| rows.get(host.as_bytes()))
            .is_some_and(|rows| *rows == expected[host]);
        check(
            "every host's data survives: its snapshots or a durable archive",
            intact || in_archive,
            format!(
                "{host}: snapshots intact {intact}, durable archive holds its rows {in_archive}"
            ),
        );
        if let Ok(report) = &result {
            if let Some(entry) = report.hosts.iter().find(|e| e.host == host.as_bytes()) {
                match &entry.outcome {
                    HostOutcome::Archived => check(
                        "a host reported archived is in the durable archive",
                        in_archive,
                        host,
                    ),
                    HostOutcome::Failed(e) => check(
                        "a host reported failed keeps its snapshots",
                        intact,
                        format!("{host}: {e}"),
                    ),
                };
            }
        }
    }
    // The snapshot after the horizon is never touched.
    for host in HOSTS {
        let later = checkpoints
            .join("c")
            .join(host)
            .join(format!("{}.bin", T0 + 600));
        check(
            "the snapshot after the horizon stays",
            outside(&later).exists(),
            later.display(),
        );
    }
}
