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

use ccwal::checkpoint::{
    CheckpointSession, CompactScope, CompactedHost, Outcome, cleanup, compact, snapshot_builder,
    write_snapshot,
};
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
    samples_by_host(restored)
}

/// The timestamps of metric "m" per host, each value checked to be its
/// timestamp (as the tests write them).
fn samples_by_host(restored: ccwal::restore::Restored) -> BTreeMap<String, BTreeSet<i64>> {
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

    let hosts = compact(root.path(), &config(), CompactScope::Wal).unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].error, None);
    assert_eq!(
        hosts[0].removed.len(),
        2,
        "current.wal and the sealed segment"
    );
    let dir = root.path().join("c/h");
    assert!(!dir.join("current.wal").exists() && !dir.join(sealed_segment_name(7, 0)).exists());
    // The older snapshot's window ends before the WAL's first record: it
    // stays, and the fold comes after it, named for the end of its data.
    assert!(dir.join("900000.bin").exists());
    assert_eq!(hosts[0].snapshot, Some(dir.join("1001199.bin")));
    assert_eq!(restored_samples(root.path()), before);
    assert_eq!(go_restored_samples(root.path(), 0), before);
    // Nothing left to do the second time.
    let again = compact(root.path(), &config(), CompactScope::Wal).unwrap();
    assert_eq!(
        again[0],
        CompactedHost {
            cluster: b"c".to_vec(),
            host: b"h".to_vec(),
            ..Default::default()
        }
    );
}

fn config() -> MetricConfig {
    MetricConfig::new([("m", 1)])
}

/// Every sample restored by Go's own rules (no sealed segment read, strict
/// replay of current.wal, Go's snapshot selection for `horizon`), after
/// checking that Go would load the snapshots in their order at all.
fn go_restored_samples(root: &Path, horizon: i64) -> BTreeMap<String, BTreeSet<i64>> {
    for host in ccwal::storage::scan_root(root).unwrap() {
        assert_go_accepts_the_order(&host.path);
        let files = ccwal::storage::list_host_files(&host.path).unwrap();
        assert!(
            files.sealed.is_empty(),
            "Go reads no sealed segment: {files:?}"
        );
    }
    let options = RestoreOptions {
        selection: ccwal::restore::Selection::GoExact,
        recovery: ccwal::restore::Recovery::Strict,
        ..RestoreOptions::default()
    };
    samples_by_host(restore(root, horizon, &config(), &options).unwrap())
}

/// Go's `loadFile` refuses (and stock cc-backend does not start) when a
/// snapshot loaded later, by number, starts a metric's buffer before one
/// loaded earlier.
fn assert_go_accepts_the_order(dir: &Path) {
    let mut files = ccwal::storage::list_host_files(dir).unwrap().snapshots;
    files.sort_by_key(|s| s.number);
    let mut newest = None;
    for file in files {
        let (snapshot, _) =
            ccwal::codec::snapshot::decode_snapshot(&fs::read(&file.path).unwrap()).unwrap();
        for metric in &snapshot.root.metrics {
            if let Some(previous) = newest {
                assert!(
                    metric.start >= previous,
                    "{}: Go refuses its start {} after {previous}",
                    file.path.display(),
                    metric.start
                );
            }
            newest = Some(metric.start);
        }
    }
}

/// The swapped server's clean stop: checkpoints kept backfilled, late and
/// future records in sealed segments, which Go ignores. Compaction puts
/// them into snapshots that Go loads in order, so Go's own rules restore
/// every sample, also for a horizon inside the newest window.
#[test]
fn after_compaction_the_go_rules_restore_every_sample() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(StoreOptions::new(root.path())).unwrap();
    let memory: Memory = Arc::default();
    let mut windows = Vec::new();
    for (round, from) in [1_003_600i64, 1_003_700, 1_003_800].into_iter().enumerate() {
        let to = from + 100;
        for ts in from..from + 60 {
            write_sample(&store, &memory, "h", ts);
        }
        // Backfill older than every window, a bit more each round.
        for ts in 1_000_000 + round as i64 * 50..1_000_000 + round as i64 * 50 + 40 {
            write_sample(&store, &memory, "h", ts);
        }
        store.sync().unwrap();
        let session = CheckpointSession::begin(&store, from, to, 1, 1).unwrap();
        snapshot_window(&session, &memory, from, to - 1);
        let report = session.finish();
        assert!(report.records_kept > 0, "{report:?}");
        windows.push((from, to));
    }
    store.close().unwrap();
    let expected: BTreeSet<i64> = memory.lock().unwrap()["h"].iter().copied().collect();
    // Before: Go restores the snapshots' windows only.
    assert!(go_restored_samples_unchecked(root.path()) < expected.len());

    let hosts = compact(root.path(), &config(), CompactScope::Wal).unwrap();
    assert_eq!(hosts[0].error, None, "{hosts:?}");
    assert_eq!(hosts[0].replaced.len(), 2, "{hosts:?}");
    assert_eq!(go_restored_samples(root.path(), 0)["h"], expected);
    assert_eq!(restored_samples(root.path())["h"], expected);
    // A horizon inside the newest window: Go's selection still takes it.
    let horizon = 1_003_850;
    let wanted: BTreeSet<i64> = expected
        .iter()
        .copied()
        .filter(|&ts| ts >= horizon)
        .collect();
    let got: BTreeSet<i64> = go_restored_samples(root.path(), horizon)["h"]
        .iter()
        .copied()
        .filter(|&ts| ts >= horizon)
        .collect();
    assert_eq!(got, wanted);
}

/// How many samples Go's rules restore, without the order check (the root
/// before compaction has sealed segments).
fn go_restored_samples_unchecked(root: &Path) -> usize {
    let options = RestoreOptions {
        selection: ccwal::restore::Selection::GoExact,
        recovery: ccwal::restore::Recovery::Strict,
        ..RestoreOptions::default()
    };
    let dir = root.join("c/h");
    let hidden = dir.join("hidden");
    fs::create_dir_all(&hidden).unwrap();
    let sealed = ccwal::storage::list_host_files(&dir).unwrap().sealed;
    for segment in &sealed {
        fs::rename(segment, hidden.join(segment.file_name().unwrap())).unwrap();
    }
    let restored = restore(root, 0, &config(), &options).unwrap();
    for segment in &sealed {
        fs::rename(hidden.join(segment.file_name().unwrap()), segment).unwrap();
    }
    fs::remove_dir(hidden).unwrap();
    let chains = restored.hosts[0]
        .root
        .metrics
        .get(&b"m"[..])
        .cloned()
        .unwrap_or_default();
    chains
        .iter()
        .flat_map(|c| &c.values)
        .filter(|v| !v.is_nan())
        .count()
}

/// A root whose newest snapshot starts before an older one (what `ccwal
/// compact` wrote before it knew Go's order rule) stops stock cc-backend
/// from starting; the thorough scope folds the two.
#[test]
fn compaction_repairs_snapshots_go_refuses_to_load_in_order() {
    let root = tempfile::tempdir().unwrap();
    let write = |number: i64, start: i64, len: i64| {
        let mut builder = snapshot_builder(number, start + len);
        let values: Vec<f64> = (start..start + len).map(|ts| ts as f32 as f64).collect();
        builder.metric(b"m", 1, start, &values).unwrap();
        builder.finish().unwrap();
        write_snapshot(root.path(), b"c", b"h", number, &builder.into_inner()).unwrap();
    };
    write(1_000, 1_000, 100);
    write(2_000, 2_000, 100);
    write(3_000, 1_500, 50); // starts before 2000.bin's buffer
    let before = restored_samples(root.path());

    let quick = compact(root.path(), &config(), CompactScope::Wal).unwrap();
    assert_eq!(quick[0].snapshot, None, "the quick scope reads no snapshot");
    let hosts = compact(root.path(), &config(), CompactScope::Everything).unwrap();
    assert_eq!(hosts[0].error, None, "{hosts:?}");
    assert!(
        root.path().join("c/h/1000.bin").exists(),
        "the file before stays"
    );
    assert_eq!(go_restored_samples(root.path(), 0), before);
}

/// Records of a metric the configuration does not name cannot go into a
/// snapshot: they stay in their WAL file, everything else is folded.
#[test]
fn compaction_keeps_records_it_cannot_fold() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(StoreOptions::new(root.path())).unwrap();
    for ts in 1_000_000..1_000_010 {
        store.append(b"c", b"h", b"m", NONE, ts as f64, ts).unwrap();
        store.append(b"c", b"h", b"other", NONE, 1.0, ts).unwrap();
    }
    store.close().unwrap();
    let hosts = compact(root.path(), &config(), CompactScope::Wal).unwrap();
    assert_eq!(hosts[0].kept, vec![root.path().join("c/h/current.wal")]);
    let wal = fs::read(root.path().join("c/h/current.wal")).unwrap();
    let start = ccwal::codec::wal::check_file_header(&wal).unwrap();
    let metrics: BTreeSet<Vec<u8>> =
        ccwal::codec::wal::WalReader::new(&wal, start, ccwal::codec::wal::OnDamage::Stop)
            .map(|item| match item {
                ccwal::codec::wal::WalItem::Record { record, .. } => record.metric.to_vec(),
                damaged => panic!("{damaged:?}"),
            })
            .collect();
    assert_eq!(metrics, BTreeSet::from([b"other".to_vec()]));
    assert_eq!(
        go_restored_samples(root.path(), 0)["h"],
        (1_000_000..1_000_010).collect()
    );
}
