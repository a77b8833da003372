//! Checkpoints: atomic snapshot writes, the cleanup rule, and the session
//! invariant — every record appended before `begin` is in a written
//! snapshot or in a WAL file restore replays, and nothing appended after
//! `begin` is deleted — under concurrent appends, a failing host, and a
//! crash at each step.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ccwal::checkpoint::{CheckpointSession, Outcome, cleanup, snapshot_builder, write_snapshot};
use ccwal::engine::{Store, StoreOptions};
use ccwal::layout::sealed_segment_name;
use ccwal::restore::{MetricConfig, RestoreOptions, restore};

const NONE: &[&[u8]] = &[];

#[test]
fn snapshots_are_written_atomically() {
    let root = tempfile::tempdir().unwrap();
    let mut builder = snapshot_builder(100, 200);
    builder.metric(b"m", 10, 95, &[1.0f64, 2.0]).unwrap();
    builder.finish().unwrap();
    let bytes = builder.into_inner();
    let path = write_snapshot(root.path(), b"c", b"h", 100, &bytes).unwrap();
    assert_eq!(path, root.path().join("c/h/100.bin"));
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert!(!root.path().join("c/h/100.bin.tmp").exists());

    // The rename fails when the target is a non-empty directory: the error
    // names the file and no temporary file is left.
    fs::create_dir_all(root.path().join("c/h/300.bin/x")).unwrap();
    let error = write_snapshot(root.path(), b"c", b"h", 300, &bytes).unwrap_err();
    assert!(error.message().contains("300.bin"), "{error}");
    assert!(!root.path().join("c/h/300.bin.tmp").exists());
    assert!(write_snapshot(root.path(), b"c", b"../x", 1, &bytes).is_err());
}

#[test]
fn cleanup_follows_the_go_rule() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("c/h");
    fs::create_dir_all(&dir).unwrap();
    for name in [
        "0.bin",
        "100.bin",
        "200.json",
        "300.bin",
        "current.wal",
        "7.bin.tmp",
        "400.bin.tmp",
    ] {
        fs::write(dir.join(name), b"x").unwrap();
    }
    // Sealed segments lose their records older than the horizon.
    let segment = |stamps: &[i64]| {
        let mut file = ccwal::codec::wal::file_header().to_vec();
        for &ts in stamps {
            ccwal::codec::wal::encode_record(&mut file, ts, b"m", NONE, 1.0).unwrap();
        }
        file
    };
    fs::write(dir.join(sealed_segment_name(50, 0)), segment(&[100, 300])).unwrap();
    fs::write(dir.join(sealed_segment_name(60, 0)), segment(&[150, 199])).unwrap();
    fs::write(dir.join("wal-70.sealed.tmp"), b"left by a crash").unwrap();
    let odd = root.path().join("c/odd");
    fs::create_dir_all(&odd).unwrap();
    fs::write(odd.join("50.bin"), b"x").unwrap();
    fs::write(odd.join("latest.bin"), b"x").unwrap();
    let report = cleanup(root.path(), 200).unwrap();
    let mut deleted: Vec<String> = report
        .deleted
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    deleted.sort();
    assert_eq!(
        deleted,
        vec![
            "100.bin",
            "200.json",
            "7.bin.tmp",
            "wal-60.sealed",
            "wal-70.sealed.tmp"
        ]
    );
    assert_eq!(
        fs::read(dir.join(sealed_segment_name(50, 0))).unwrap(),
        segment(&[300])
    );
    assert_eq!(report.errors.len(), 1);
    assert!(
        odd.join("50.bin").exists(),
        "a host with a non-numeric name is skipped, as in Go"
    );
    for kept in [
        "0.bin",
        "300.bin",
        "current.wal",
        "400.bin.tmp",
        "wal-50.sealed",
    ] {
        assert!(dir.join(kept).exists(), "{kept}");
    }
}

/// Every (ts, value) that restore gives back for metric "m" of each host.
fn restored_samples(root: &Path) -> BTreeMap<String, BTreeSet<i64>> {
    let restored = restore(
        root,
        0,
        &MetricConfig::new([("m", 1)]),
        &RestoreOptions::default(),
    )
    .unwrap();
    let mut out = BTreeMap::new();
    for host in restored.hosts {
        assert_eq!(host.error, None);
        let samples: &mut BTreeSet<i64> = out
            .entry(String::from_utf8(host.host).unwrap())
            .or_default();
        for chunk in host.root.metrics.get(&b"m"[..]).into_iter().flatten() {
            for (i, v) in chunk.values.iter().enumerate() {
                if !v.is_nan() {
                    let ts = chunk.start + i as i64 * chunk.frequency;
                    assert_eq!(*v, ts as f32 as f64, "the value written at {ts}");
                    samples.insert(ts);
                }
            }
        }
    }
    out
}

type Memory = Arc<Mutex<BTreeMap<String, Vec<i64>>>>;

/// The host application's write: memory first, then the WAL (the ordering
/// rule a checkpoint session relies on). Value = ts.
fn write_sample(store: &Store, memory: &Memory, host: &str, ts: i64) {
    memory
        .lock()
        .unwrap()
        .entry(host.to_string())
        .or_default()
        .push(ts);
    store
        .append(b"c", host.as_bytes(), b"m", NONE, ts as f64, ts)
        .unwrap();
}

/// The host application's side of a checkpoint: a snapshot of everything
/// in memory for each host (one sample per second, value = ts).
fn snapshot_everything(session: &CheckpointSession, memory: &Memory) {
    snapshot_window(session, memory, i64::MIN, i64::MAX);
}

/// A snapshot of what each host has in memory in `[from, to]`, as Go's
/// checkpoint of that window holds.
fn snapshot_window(session: &CheckpointSession, memory: &Memory, from: i64, to: i64) {
    let memory = memory.lock().unwrap().clone();
    for (host, samples) in memory {
        let samples: Vec<i64> = samples
            .into_iter()
            .filter(|ts| (from..=to).contains(ts))
            .collect();
        let mut builder = session.builder();
        let start = samples[0];
        let mut values = vec![f64::NAN; (samples[samples.len() - 1] - start + 1) as usize];
        for ts in &samples {
            values[(ts - start) as usize] = *ts as f32 as f64;
        }
        builder.metric(b"m", 1, start, &values).unwrap();
        session.add(b"c", host.as_bytes(), builder).unwrap();
    }
}

#[test]
fn session_invariant_under_concurrent_appends_and_a_failing_host() {
    let root = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(StoreOptions::new(root.path())).unwrap());
    let memory: Memory = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let appenders: Vec<_> = (0..3)
        .map(|t| {
            let (store, memory, stop) = (store.clone(), memory.clone(), stop.clone());
            std::thread::spawn(move || {
                let host = format!("h{t}");
                let mut ts = 1_000_000;
                while !stop.load(Ordering::Relaxed) || ts < 1_003_000 {
                    write_sample(&store, &memory, &host, ts);
                    ts += 1;
                }
            })
        })
        .collect();
    while memory
        .lock()
        .unwrap()
        .values()
        .map(Vec::len)
        .min()
        .unwrap_or(0)
        < 1000
        || memory.lock().unwrap().len() < 3
    {
        std::thread::yield_now();
    }
    store.flush().unwrap();
    // Host h1's snapshot cannot be renamed into place: it fails.
    fs::create_dir_all(root.path().join("c/h1/1000000.bin/blocker")).unwrap();
    let session = CheckpointSession::begin(&store, 1_000_000, 2_000_000, 2, 4).unwrap();
    snapshot_everything(&session, &memory);
    let report = session.finish();
    stop.store(true, Ordering::Relaxed);
    for a in appenders {
        a.join().unwrap();
    }
    store.close().unwrap();

    let outcome = |h: &str| {
        &report
            .hosts
            .iter()
            .find(|o| o.host == h.as_bytes())
            .unwrap()
            .outcome
    };
    assert!(matches!(outcome("h0"), Outcome::Written { .. }));
    assert!(matches!(outcome("h1"), Outcome::Failed(_)));
    assert!(
        report
            .segments_deleted
            .iter()
            .all(|p| !p.starts_with(root.path().join("c/h1")))
    );
    assert!(
        root.path()
            .join("c/h1")
            .join(sealed_segment_name(2_000_000, 0))
            .exists()
    );
    assert!(
        !root
            .path()
            .join("c/h0")
            .join(sealed_segment_name(2_000_000, 0))
            .exists()
    );

    let restored = restored_samples(root.path());
    for (host, samples) in memory.lock().unwrap().iter() {
        let expected: BTreeSet<i64> = samples.iter().copied().collect();
        let got = &restored[host];
        let missing: Vec<_> = expected.difference(got).take(5).collect();
        assert!(
            missing.is_empty(),
            "{host}: {} samples lost, e.g. {missing:?}",
            expected.len() - got.len()
        );
    }
}

/// Runs the checkpoint in a child process that aborts at `stage`.
fn crashing_child(root: &Path, stage: &str) {
    let store = Store::open(StoreOptions::new(root)).unwrap();
    let memory: Memory = Arc::default();
    for ts in 1_000_000..1_000_500 {
        for h in 0..2 {
            let host = format!("h{h}");
            write_sample(&store, &memory, &host, ts);
        }
    }
    store.sync().unwrap();
    let session = CheckpointSession::begin(&store, 1_000_000, 1_000_999, 1, 1).unwrap();
    for ts in 1_000_500..1_000_600 {
        store
            .append(b"c", b"h0", b"m", NONE, ts as f64, ts)
            .unwrap();
    }
    store.sync().unwrap();
    if stage == "after_seal" {
        std::process::abort();
    }
    snapshot_everything(&session, &memory);
    if stage == "during_snapshots" {
        std::process::abort();
    }
    let report = session.finish();
    assert_eq!(report.segments_deleted.len(), 2);
    std::process::abort();
}

#[test]
fn a_crash_at_any_step_loses_nothing() {
    if let (Ok(root), Ok(stage)) = (
        std::env::var("CCWAL_CRASH_ROOT"),
        std::env::var("CCWAL_CRASH_STAGE"),
    ) {
        crashing_child(Path::new(&root), &stage);
    }
    for stage in ["after_seal", "during_snapshots", "after_finish"] {
        let root = tempfile::tempdir().unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_crash_at_any_step_loses_nothing",
                "--test-threads=1",
            ])
            .env("CCWAL_CRASH_ROOT", root.path())
            .env("CCWAL_CRASH_STAGE", stage)
            .status()
            .unwrap();
        assert!(!status.success(), "{stage}: the child aborts");
        let restored = restored_samples(root.path());
        assert_eq!(restored["h0"], (1_000_000..1_000_600).collect(), "{stage}");
        assert_eq!(restored["h1"], (1_000_000..1_000_500).collect(), "{stage}");
    }
}

/// Backfilled samples (older than the checkpoint's window) are in memory
/// but not in the window's snapshot: the checkpoint keeps them in the
/// sealed segment, a restore after a crash brings them back, and cleanup
/// drops them only once they are older than its horizon. (The stock Go
/// metricstore deletes the whole WAL here and loses them.)
#[test]
fn backfilled_samples_survive_a_checkpoint_and_a_crash() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(StoreOptions::new(root.path())).unwrap();
    let memory: Memory = Arc::default();
    let backfill = 1_000_000..1_000_100;
    let live = 1_003_600..1_003_610;
    for ts in backfill.clone().chain(live.clone()) {
        write_sample(&store, &memory, "h", ts);
    }
    // One sample far in the future, outside the window too.
    write_sample(&store, &memory, "h", 1_010_000);
    store.sync().unwrap();
    let (from, to) = (1_003_600, 1_003_700);
    let session = CheckpointSession::begin(&store, from, to, 1, 1).unwrap();
    snapshot_window(&session, &memory, from, to);
    let report = session.finish();
    assert!(matches!(report.hosts[0].outcome, Outcome::Written { .. }));
    assert_eq!(report.records_kept, 101, "{report:?}");
    assert!(report.segments_deleted.is_empty());
    let segment = root.path().join("c/h").join(sealed_segment_name(to, 0));
    assert_eq!(report.segments_trimmed, vec![segment.clone()]);
    drop(store); // as good as a crash: everything was synced

    let expected: BTreeSet<i64> = memory.lock().unwrap()["h"].iter().copied().collect();
    assert_eq!(restored_samples(root.path())["h"], expected);

    // A second checkpoint keeps them again; cleanup drops those older than
    // its horizon, and the segment goes once nothing is left in it.
    let store = Store::open(StoreOptions::new(root.path())).unwrap();
    let session = CheckpointSession::begin(&store, to, to + 100, 1, 1).unwrap();
    snapshot_window(&session, &Memory::default(), to, to + 100);
    drop(session.finish());
    assert!(segment.exists());
    let report = cleanup(root.path(), 1_000_050).unwrap();
    assert!(!report.deleted.contains(&segment), "{report:?}");
    let left: BTreeSet<i64> = restored_samples(root.path())["h"].clone();
    let expected: BTreeSet<i64> = expected.into_iter().filter(|&ts| ts >= 1_000_050).collect();
    assert_eq!(left, expected);
    let report = cleanup(root.path(), 1_010_001).unwrap();
    assert!(report.deleted.contains(&segment), "{report:?}");
    store.close().unwrap();
}

/// A WAL left with a torn tail by a crash and not written to since the
/// restart is repaired when it is sealed, so the checkpoint can settle the
/// segment (found by the SIGKILL crash test).
#[test]
fn a_torn_tail_is_cut_before_the_wal_is_sealed() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("c/h");
    fs::create_dir_all(&dir).unwrap();
    let mut file = ccwal::codec::wal::file_header().to_vec();
    for ts in [1_000_000, 1_000_001] {
        ccwal::codec::wal::encode_record(&mut file, ts, b"m", NONE, ts as f32).unwrap();
    }
    let whole = file.len();
    ccwal::codec::wal::encode_record(&mut file, 1_000_002, b"m", NONE, 1.0).unwrap();
    fs::write(dir.join("current.wal"), &file[..whole + 9]).unwrap();

    let store = Store::open(StoreOptions::new(root.path())).unwrap();
    let memory: Memory = Arc::default();
    memory
        .lock()
        .unwrap()
        .insert("h".to_string(), vec![1_000_000, 1_000_001]);
    let session = CheckpointSession::begin(&store, 1_000_000, 1_000_100, 1, 1).unwrap();
    snapshot_everything(&session, &memory);
    let report = session.finish();
    assert!(report.delete_errors.is_empty(), "{report:?}");
    assert_eq!(report.segments_deleted.len(), 1, "{report:?}");
    store.close().unwrap();
    assert_eq!(
        restored_samples(root.path())["h"],
        BTreeSet::from([1_000_000, 1_000_001])
    );
}

#[test]
fn compaction_folds_the_wal_into_a_snapshot_without_changing_the_data() {
    let root = tempfile::tempdir().unwrap();
    {
        let store = Store::open(StoreOptions::new(root.path())).unwrap();
        for ts in 1_000_000..1_000_300 {
            store.append(b"c", b"h", b"m", NONE, ts as f64, ts).unwrap();
        }
        store.seal(&[(b"c", b"h")], 7).unwrap();
        // More than one chunk's worth (512) after the seal, with a gap.
        for ts in (1_000_300..1_001_200).filter(|ts| ts % 97 != 0) {
            store.append(b"c", b"h", b"m", NONE, ts as f64, ts).unwrap();
        }
        store.close().unwrap();
    }
    let mut builder = snapshot_builder(900_000, 999_000);
    builder
        .metric(b"m", 1, 998_000, &[998_000.0f64, 998_001.0])
        .unwrap();
    builder.finish().unwrap();
    write_snapshot(root.path(), b"c", b"h", 900_000, &builder.into_inner()).unwrap();
    let before = restored_samples(root.path());

    let hosts = ccwal::checkpoint::compact(root.path(), &MetricConfig::new([("m", 1)])).unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].error, None);
    assert_eq!(
        hosts[0].removed.len(),
        2,
        "current.wal and the sealed segment"
    );
    let dir = root.path().join("c/h");
    assert!(!dir.join("current.wal").exists() && !dir.join(sealed_segment_name(7, 0)).exists());
    let snapshot = hosts[0].snapshot.clone().unwrap();
    assert!(snapshot.exists());
    assert_eq!(restored_samples(root.path()), before);
    // Nothing left to fold the second time.
    let again = ccwal::checkpoint::compact(root.path(), &MetricConfig::new([("m", 1)])).unwrap();
    assert_eq!(
        (again[0].snapshot.clone(), again[0].removed.len()),
        (None, 0)
    );
}
