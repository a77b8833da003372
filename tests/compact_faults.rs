//! Compaction under failing system calls and process crashes, with
//! `tests/faultfs/faultfs.c` preloaded into a child (see
//! `tests/common/faultfs.rs`).
//!
//! The contract: whatever call fails, and after whichever call the process
//! dies (modelled by failing every file call from the next one on), the
//! directory left behind still restores every sample in ccwal, and the
//! stock Go server would still start on it (its snapshots load in an order
//! Go accepts). Compaction run again without faults then leaves a root that
//! Go's own rules restore completely.

#[path = "common/faultfs.rs"]
mod faultfs;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

use ccwal::checkpoint::{CompactScope, compact, snapshot_builder, write_snapshot};
use ccwal::codec::snapshot::decode_snapshot;
use ccwal::codec::wal;
use ccwal::layout::sealed_segment_name;
use ccwal::restore::{MetricConfig, Recovery, RestoreOptions, Selection, restore};
use faultfs::{Faultfs, Job, bounded, check, info};

const ENTRY: &str = "child_entry_point";
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);
const NONE: &[&[u8]] = &[];

#[test]
fn child_entry_point() {
    let Some((scenario, args, root)) = faultfs::child_scenario() else {
        return;
    };
    assert_eq!(scenario, "compact");
    scenario_compact(&root, args.get("spec").map_or("", String::as_str));
}

fn run(what: &str, jobs: Vec<Job>) -> Option<Vec<(Job, faultfs::ChildReport)>> {
    faultfs::run_checked(ENTRY, CHILD_TIMEOUT, what, jobs)
}

/// Every errno on every kind of call compaction makes, once or for good.
#[test]
fn a_fault_at_any_call_loses_nothing_and_never_stops_stock() {
    let jobs = faultfs::fault_matrix(
        "compact",
        &[
            ("open", &["EMFILE", "ENOSPC"]),
            ("read", &["EIO"]),
            ("write|writev", &["ENOSPC"]),
            ("fsync|fdatasync", &["EIO"]),
            ("rename", &["EIO"]),
            ("unlink", &["EIO"]),
        ],
    );
    run("compaction faults", jobs);
}

/// A crash after every single call of a compaction.
#[test]
fn a_crash_after_any_call_loses_nothing_and_never_stops_stock() {
    let Some(control) = run("compaction without faults", vec![Job::new("compact")]) else {
        return;
    };
    let jobs = faultfs::crash_after_each_call("compact", &control[0].1);
    run("compaction crashes", jobs);
}

// ------------------------------------------------------------------ child

fn config() -> MetricConfig {
    MetricConfig::new([("m", 1)])
}

/// One host as the swapped server leaves it after checkpoints over
/// backfill: three snapshots, a sealed segment with older (backfilled)
/// records and a record of a metric the configuration lacks, and a
/// `current.wal` after the last window. Returns every sample of "m".
fn lay_out(root: &Path) -> BTreeSet<i64> {
    let mut expected = BTreeSet::new();
    for from in [1000i64, 1100, 1200] {
        let values: Vec<f64> = (from..from + 60).map(|ts| ts as f64).collect();
        expected.extend(from..from + 60);
        let mut builder = snapshot_builder(from, from + 100);
        builder.metric(b"m", 1, from, &values).unwrap();
        builder.finish().unwrap();
        write_snapshot(root, b"c", b"h", from, &builder.into_inner()).unwrap();
    }
    let dir = root.join("c/h");
    let mut segment = wal::file_header().to_vec();
    for ts in 500..540 {
        wal::encode_record(&mut segment, ts, b"m", NONE, ts as f32).unwrap();
        expected.insert(ts);
    }
    wal::encode_record(&mut segment, 520, b"x", NONE, 1.0).unwrap();
    fs::write(dir.join(sealed_segment_name(1300, 0)), segment).unwrap();
    let mut current = wal::file_header().to_vec();
    for ts in 1300..1310 {
        wal::encode_record(&mut current, ts, b"m", NONE, ts as f32).unwrap();
        expected.insert(ts);
    }
    fs::write(dir.join("current.wal"), current).unwrap();
    expected
}

/// The samples of "m" restored, each checked to be its timestamp.
fn samples(root: &Path, options: &RestoreOptions) -> Result<BTreeSet<i64>, String> {
    let restored = restore(root, 0, &config(), options).map_err(|e| e.to_string())?;
    let mut out = BTreeSet::new();
    for host in restored.hosts {
        if let Some(error) = host.error {
            return Err(error.to_string());
        }
        for chunk in host.root.metrics.get(&b"m"[..]).into_iter().flatten() {
            for (i, v) in chunk.values.iter().enumerate() {
                let ts = chunk.start + i as i64 * chunk.frequency;
                if !v.is_nan() {
                    if *v != ts as f64 {
                        return Err(format!("{v} at {ts}"));
                    }
                    out.insert(ts);
                }
            }
        }
    }
    Ok(out)
}

/// Whether Go's `loadFile` takes the host's snapshots in number order (a
/// buffer starting before the previous file's fails the start-up).
fn go_accepts_the_order(dir: &Path) -> Result<(), String> {
    let mut files = ccwal::storage::list_host_files(dir)
        .map_err(|e| e.to_string())?
        .snapshots;
    files.sort_by_key(|s| s.number);
    let mut newest = i64::MIN;
    for file in files {
        let content = fs::read(&file.path).map_err(|e| e.to_string())?;
        let (snapshot, _) = decode_snapshot(&content)
            .map_err(|e| format!("{}: {e} (Go fails it)", file.path.display()))?;
        for metric in &snapshot.root.metrics {
            if metric.start < newest {
                return Err(format!(
                    "{}: starts {} before {newest}",
                    file.path.display(),
                    metric.start
                ));
            }
            newest = metric.start;
        }
    }
    Ok(())
}

fn scenario_compact(root: &Path, spec: &str) {
    let ff = Faultfs::get();
    let expected = lay_out(root);

    ff.reset_counters();
    ff.set(spec);
    let (result, _) = bounded("compact", Duration::from_secs(30), || {
        compact(root, &config(), CompactScope::Everything)
    });
    ff.clear();
    info("calls", ff.calls("*"));
    if spec.is_empty() {
        check(
            "without faults compaction succeeds",
            matches!(&result, Ok(hosts) if hosts.iter().all(|h| h.error.is_none())),
            format!("{result:?}"),
        );
    }
    let dir = root.join("c/h");
    let ccwal_restores = samples(root, &RestoreOptions::default());
    check(
        "ccwal restores every sample from what is left",
        ccwal_restores.as_ref() == Ok(&expected),
        format!("{ccwal_restores:?}"),
    );
    let order = go_accepts_the_order(&dir);
    check(
        "stock would start: its snapshots load in order",
        order.is_ok(),
        format!("{order:?}"),
    );

    // Done again without faults, the root is complete for Go's rules.
    let again = compact(root, &config(), CompactScope::Everything);
    check(
        "compaction again without faults succeeds",
        matches!(&again, Ok(hosts) if hosts.iter().all(|h| h.error.is_none())),
        format!("{again:?}"),
    );
    let go = RestoreOptions {
        selection: Selection::GoExact,
        recovery: Recovery::Strict,
        ..RestoreOptions::default()
    };
    let go_restores = samples(root, &go);
    let order = go_accepts_the_order(&dir);
    check(
        "Go's rules then restore every sample",
        order.is_ok() && go_restores.as_ref() == Ok(&expected),
        format!("{order:?} {go_restores:?}"),
    );
    // Only the unconfigured record is left in a WAL file, which Go ignores.
    let listing = ccwal::storage::list_host_files(&dir).unwrap();
    let left: Vec<Vec<u8>> = listing
        .sealed
        .iter()
        .chain(&listing.wal)
        .flat_map(|path| {
            let content = fs::read(path).unwrap();
            let start = wal::check_file_header(&content).unwrap();
            wal::WalReader::new(&content, start, wal::OnDamage::Stop)
                .filter_map(|item| match item {
                    wal::WalItem::Record { record, .. } => Some(record.metric.to_vec()),
                    wal::WalItem::Damaged { .. } => None,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    check(
        "the WAL keeps only what no snapshot can hold",
        left == vec![b"x".to_vec()],
        format!("{left:?}"),
    );
}
