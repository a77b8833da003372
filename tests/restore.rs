//! Restore against the Go rules: snapshot selection and windows, the
//! start-order error, unknown metrics, JSON and binary mixed, the buffer
//! write rule during replay, damage in both recovery modes, sealed segments.

use std::fs;
use std::path::{Path, PathBuf};

use ccwal::ErrorKind;
use ccwal::codec::json::encode_json_snapshot;
use ccwal::codec::snapshot::{Child, Level, Metric, Snapshot, encode_snapshot};
use ccwal::codec::wal;
use ccwal::layout::sealed_segment_name;
use ccwal::restore::{
    Chunk, MetricConfig, Recovery, RestoreOptions, RestoreScan, RestoredHost, Selection,
    SkipReason, restore,
};

fn host_dir(root: &Path, host: &str) -> PathBuf {
    let dir = root.join("c").join(host);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn metric(name: &str, start: i64, values: &[f32]) -> Metric<f32> {
    Metric {
        name: name.as_bytes().to_vec(),
        frequency: 60,
        start,
        values: values.to_vec(),
    }
}

fn write_bin(dir: &Path, from: i64, to: i64, root: Level<f32>) {
    let mut bytes = Vec::new();
    encode_snapshot(&Snapshot { from, to, root }, &mut bytes).unwrap();
    fs::write(dir.join(format!("{from}.bin")), bytes).unwrap();
}

type Rec<'a> = (i64, &'a str, &'a [&'a str], f32);

fn wal_bytes(records: &[Rec<'_>]) -> Vec<u8> {
    let mut out = wal::file_header().to_vec();
    for &(ts, name, selector, value) in records {
        let selector: Vec<&[u8]> = selector.iter().map(|s| s.as_bytes()).collect();
        wal::encode_record(&mut out, ts, name.as_bytes(), &selector, value).unwrap();
    }
    out
}

fn config() -> MetricConfig {
    MetricConfig::new([("load", 60), ("mem", 60)])
}

fn options(selection: Selection, recovery: Recovery) -> RestoreOptions {
    RestoreOptions {
        selection,
        recovery,
        workers: 2,
        only: None,
    }
}

fn restore_one(root: &Path, from: i64, options: &RestoreOptions) -> RestoredHost {
    let mut restored = restore(root, from, &config(), options).unwrap();
    assert_eq!(restored.hosts.len(), 1);
    restored.hosts.remove(0)
}

fn chain<'a>(host: &'a RestoredHost, path: &[&str], metric: &str) -> &'a [Chunk] {
    let mut level = &host.root;
    for name in path {
        level = &level.children[name.as_bytes()];
    }
    level
        .metrics
        .get(metric.as_bytes())
        .map_or(&[], |c| c.as_slice())
}

fn summary(chain: &[Chunk]) -> Vec<(i64, usize, bool, Vec<u32>)> {
    chain
        .iter()
        .map(|c| {
            (
                c.start,
                c.capacity,
                c.archived,
                c.values.iter().map(|v| (*v as f32).to_bits()).collect(),
            )
        })
        .collect()
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

const NAN: f32 = f32::NAN;

#[test]
fn snapshots_then_wal_with_the_buffer_rule() {
    let root = tempfile::tempdir().unwrap();
    let dir = host_dir(root.path(), "h");
    write_bin(
        &dir,
        1000,
        2000,
        Level {
            metrics: vec![metric("load", 1000, &[1.0, 2.0])],
            children: vec![],
        },
    );
    write_bin(
        &dir,
        2000,
        3000,
        Level {
            metrics: vec![
                metric("load", 2000, &[3.0]),
                metric("unknown", 2000, &[9.0]),
            ],
            children: vec![Child {
                name: b"cpu0".to_vec(),
                level: Level {
                    metrics: vec![metric("mem", 2000, &[4.0])],
                    children: vec![],
                },
            }],
        },
    );
    fs::write(
        dir.join("current.wal"),
        wal_bytes(&[
            (3000, "load", &[], 5.0), // past the archived chunk's capacity: new chunk at 2970
            (3180, "load", &[], 6.0), // index 3: two NaN before it
            (3060, "load", &[], 7.0), // out of order: overwrites the gap at index 1
            (3000, "load", &[], 8.0), // duplicate: last write wins
            (2900, "load", &[], 1.0), // before the newest chunk's start: refused
            (100, "load", &[], 1.0),  // before from: skipped
            (3000, "other", &[], 1.0), // unknown metric: skipped
            (3000, "mem", &["cpu0"], 10.0), // a sub-level
            (3000, "mem", &["socket0", "memctrl1"], 11.0), // a new two-deep level
        ]),
    )
    .unwrap();
    let host = restore_one(
        root.path(),
        1500,
        &options(Selection::GoExact, Recovery::Strict),
    );
    assert_eq!(host.error, None);
    assert_eq!(
        summary(chain(&host, &[], "load")),
        vec![
            (1000, 2, true, bits(&[1.0, 2.0])),
            (2000, 1, true, bits(&[3.0])),
            (2970, 512, false, bits(&[8.0, 7.0, NAN, 6.0])),
        ]
    );
    assert_eq!(
        summary(chain(&host, &["cpu0"], "mem")),
        vec![
            (2000, 1, true, bits(&[4.0])),
            (2970, 512, false, bits(&[10.0]))
        ]
    );
    assert_eq!(
        summary(chain(&host, &["socket0", "memctrl1"], "mem")),
        vec![(2970, 512, false, bits(&[11.0]))]
    );
    assert!(!host.root.metrics.contains_key(&b"unknown"[..]));
    let r = &host.report;
    assert_eq!(
        (
            r.records_applied,
            r.records_rejected,
            r.records_before_from,
            r.records_unknown_metric
        ),
        (6, 1, 1, 1)
    );
    assert_eq!(r.files_loaded.len(), 3);
    let paths: Vec<Vec<Vec<u8>>> = host.root.walk().into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        vec![
            vec![],
            vec![b"cpu0".to_vec()],
            vec![b"socket0".to_vec()],
            vec![b"socket0".to_vec(), b"memctrl1".to_vec()]
        ]
    );
}

#[test]
fn selection_windows_and_the_go_flaw() {
    let root = tempfile::tempdir().unwrap();
    let dir = host_dir(root.path(), "h");
    write_bin(
        &dir,
        1000,
        1200,
        Level {
            metrics: vec![metric("load", 1000, &[1.0])],
            children: vec![],
        },
    );
    write_bin(
        &dir,
        2000,
        3000,
        Level {
            metrics: vec![metric("load", 2000, &[2.0])],
            children: vec![],
        },
    );
    let starts = |host: &RestoredHost| {
        chain(host, &[], "load")
            .iter()
            .map(|c| c.start)
            .collect::<Vec<_>>()
    };
    // 1000 is the file just before from=1500, but its window ends at 1200.
    let host = restore_one(
        root.path(),
        1500,
        &options(Selection::GoExact, Recovery::Strict),
    );
    assert_eq!(starts(&host), vec![2000]);
    assert_eq!(
        host.report.files_skipped,
        vec![(dir.join("1000.bin"), SkipReason::BeforeFrom { to: 1200 })]
    );
    // A horizon after the newest snapshot: Go takes none, Covering the newest.
    let host = restore_one(
        root.path(),
        2500,
        &options(Selection::GoExact, Recovery::Strict),
    );
    assert_eq!(starts(&host), Vec::<i64>::new());
    let host = restore_one(
        root.path(),
        2500,
        &options(Selection::Covering, Recovery::Strict),
    );
    assert_eq!(starts(&host), vec![2000]);
}

#[test]
fn start_order_error_fails_the_host_in_strict_and_is_skipped_in_salvage() {
    let root = tempfile::tempdir().unwrap();
    let dir = host_dir(root.path(), "h");
    write_bin(
        &dir,
        1000,
        2000,
        Level {
            metrics: vec![metric("load", 1500, &[1.0]), metric("mem", 1000, &[1.0])],
            children: vec![],
        },
    );
    write_bin(
        &dir,
        2000,
        3000,
        Level {
            metrics: vec![metric("load", 1400, &[2.0]), metric("mem", 2000, &[2.0])],
            children: vec![],
        },
    );
    fs::write(
        dir.join("current.wal"),
        wal_bytes(&[(5000, "mem", &[], 3.0)]),
    )
    .unwrap();
    let strict = restore_one(
        root.path(),
        0,
        &options(Selection::GoExact, Recovery::Strict),
    );
    let failure = strict.error.as_ref().unwrap();
    assert_eq!(failure.kind(), ErrorKind::Format, "{failure:?}");
    assert!(
        failure
            .message()
            .contains("before the previous chunk's start")
            && failure.message().contains("2000.bin"),
        "{failure:?}"
    );
    assert_eq!(chain(&strict, &[], "load").len(), 1);
    // Go stops the host there: the WAL is not replayed.
    assert_eq!(strict.report.records_applied, 0);

    let salvage = restore_one(
        root.path(),
        0,
        &options(Selection::GoExact, Recovery::Salvage),
    );
    assert_eq!(salvage.error, None);
    assert_eq!(chain(&salvage, &[], "load").len(), 1);
    assert_eq!(chain(&salvage, &[], "mem").len(), 3);
    assert_eq!(salvage.report.damage.len(), 1);
    assert_eq!(salvage.report.damage[0].reason.kind(), ErrorKind::Format);
}

#[test]
fn json_and_binary_mixed_and_duplicate_names() {
    let root = tempfile::tempdir().unwrap();
    let dir = host_dir(root.path(), "h");
    let legacy = Snapshot {
        from: 1000,
        to: 2000,
        root: Level {
            metrics: vec![Metric {
                name: b"load".to_vec(),
                frequency: 60,
                start: 1000,
                values: vec![0.1, f64::NAN],
            }],
            children: vec![],
        },
    };
    fs::write(
        dir.join("1000.json"),
        encode_json_snapshot(&legacy).unwrap(),
    )
    .unwrap();
    write_bin(
        &dir,
        2000,
        3000,
        Level {
            metrics: vec![metric("load", 2000, &[1.0]), metric("load", 2100, &[2.0])],
            children: vec![],
        },
    );
    let host = restore_one(root.path(), 0, &RestoreOptions::default());
    let load = chain(&host, &[], "load");
    assert_eq!(load.len(), 2);
    assert_eq!(load[0].values[0], 0.1, "JSON values stay f64");
    assert!(load[0].values[1].is_nan());
    assert_eq!(
        (load[1].start, load[1].values.clone()),
        (2100, vec![2.0]),
        "the last of a repeated name wins"
    );
}

#[test]
fn a_repeated_child_counts_once_the_last() {
    let root = tempfile::tempdir().unwrap();
    let dir = host_dir(root.path(), "h");
    let child = |metrics| Child {
        name: b"cpu0".to_vec(),
        level: Level {
            metrics,
            children: vec![],
        },
    };
    write_bin(
        &dir,
        2000,
        3000,
        Level {
            metrics: vec![],
            children: vec![
                child(vec![
                    metric("load", 2000, &[1.0]),
                    metric("mem", 2000, &[5.0]),
                ]),
                child(vec![metric("load", 2000, &[2.0])]),
            ],
        },
    );
    let host = restore_one(root.path(), 0, &RestoreOptions::default());
    assert_eq!(chain(&host, &["cpu0"], "load")[0].values, vec![2.0]);
    let cpu0 = &host.root.children[b"cpu0".as_slice()];
    assert!(
        !cpu0.metrics.contains_key(b"mem".as_slice()),
        "the earlier child is passed over whole, as Go's map replaces it"
    );
}

#[test]
fn a_snapshot_name_that_is_not_a_number_fails_the_host_only() {
    let root = tempfile::tempdir().unwrap();
    let bad = host_dir(root.path(), "bad");
    write_bin(
        &bad,
        1000,
        2000,
        Level {
            metrics: vec![metric("load", 1000, &[1.0])],
            children: vec![],
        },
    );
    fs::write(bad.join("latest.bin"), b"whatever").unwrap();
    fs::write(
        bad.join("current.wal"),
        wal_bytes(&[(5000, "load", &[], 3.0)]),
    )
    .unwrap();
    let good = host_dir(root.path(), "good");
    fs::write(
        good.join("current.wal"),
        wal_bytes(&[(5000, "load", &[], 3.0)]),
    )
    .unwrap();
    fs::write(good.join("7.bin.tmp"), b"partial").unwrap();
    let restored = restore(root.path(), 0, &config(), &RestoreOptions::default()).unwrap();
    let names: Vec<&[u8]> = restored.hosts.iter().map(|h| h.host.as_slice()).collect();
    assert_eq!(names, vec![&b"bad"[..], b"good"]);
    let failure = restored.hosts[0].error.as_ref().unwrap();
    assert_eq!(failure.kind(), ErrorKind::Format);
    assert_eq!(failure.os_code(), None);
    assert!(failure.message().contains("latest.bin"), "{failure:?}");
    assert!(restored.hosts[0].root.metrics.is_empty());
    assert_eq!(restored.hosts[1].error, None);
    assert_eq!(chain(&restored.hosts[1], &[], "load").len(), 1);
}

#[test]
fn damage_in_the_wal_in_both_modes() {
    let root = tempfile::tempdir().unwrap();
    let dir = host_dir(root.path(), "h");
    let records: Vec<Rec<'_>> = (0..6)
        .map(|i| (1000 + 60 * i, "load", &[][..], i as f32))
        .collect();
    let mut bytes = wal_bytes(&records);
    let second = 4 + wal::encoded_len(b"load", &[] as &[&[u8]]);
    bytes[second + 10] ^= 0xFF; // the second record's payload
    bytes.truncate(bytes.len() - 3); // and a torn tail
    fs::write(dir.join("current.wal"), &bytes).unwrap();
    let values = |host: &RestoredHost| {
        chain(host, &[], "load")[0]
            .values
            .iter()
            .map(|v| *v as f32)
            .collect::<Vec<_>>()
    };
    let strict = restore_one(
        root.path(),
        0,
        &options(Selection::Covering, Recovery::Strict),
    );
    assert_eq!(values(&strict), vec![0.0]);
    assert_eq!(strict.report.damage.len(), 1);
    assert_eq!(strict.report.damage[0].reason.kind(), ErrorKind::Corrupt);
    assert_eq!(strict.error, None, "WAL damage does not fail the host");
    let salvage = restore_one(
        root.path(),
        0,
        &options(Selection::Covering, Recovery::Salvage),
    );
    assert_eq!(bits(&values(&salvage)), bits(&[0.0, NAN, 2.0, 3.0, 4.0]));
    assert_eq!(salvage.report.damage.len(), 2);
    assert_eq!(salvage.report.damage[0].offset, second as u64);
}

#[test]
fn sealed_segments_replay_oldest_first_and_bad_headers_are_skipped() {
    let root = tempfile::tempdir().unwrap();
    let dir = host_dir(root.path(), "h");
    fs::write(
        dir.join(sealed_segment_name(200, 0)),
        wal_bytes(&[(1000, "load", &[], 2.0)]),
    )
    .unwrap();
    fs::write(
        dir.join(sealed_segment_name(100, 0)),
        wal_bytes(&[(1000, "load", &[], 1.0), (1060, "load", &[], 1.0)]),
    )
    .unwrap();
    fs::write(
        dir.join(sealed_segment_name(200, 1)),
        wal_bytes(&[(1060, "load", &[], 3.0)]),
    )
    .unwrap();
    fs::write(dir.join("current.wal"), b"not a WAL at all").unwrap();
    let host = restore_one(root.path(), 0, &RestoreOptions::default());
    assert_eq!(host.error, None);
    assert_eq!(chain(&host, &[], "load")[0].values, vec![2.0, 3.0]);
    assert_eq!(host.report.files_skipped.len(), 1);
    let (file, reason) = &host.report.files_skipped[0];
    assert_eq!(file, &dir.join("current.wal"));
    let error = reason.error().unwrap();
    assert_eq!(error.kind(), ErrorKind::Corrupt);
    assert!(
        error.message().contains("magic") && error.message().contains("current.wal"),
        "{error:?}"
    );
}

/// A file restore cannot read: a snapshot name (and a WAL name) that is a
/// symbolic link to a directory. The layout lists it as a file (the link
/// is not a directory) and reading it fails with EISDIR, as a real I/O
/// error does (chmod 000 does not stop root).
#[test]
fn a_file_that_cannot_be_read_is_an_io_error_with_its_errno() {
    let root = tempfile::tempdir().unwrap();
    let dir = host_dir(root.path(), "h");
    let elsewhere = root.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.join("1000.bin")).unwrap();
    fs::write(
        dir.join("current.wal"),
        wal_bytes(&[(5000, "load", &[], 3.0)]),
    )
    .unwrap();
    const EISDIR: i32 = 21;

    // Strict: the selected snapshot fails the host, as a Go read error does.
    let strict = restore_one(
        root.path(),
        0,
        &options(Selection::Covering, Recovery::Strict),
    );
    let failure = strict.error.as_ref().unwrap();
    assert_eq!(failure.kind(), ErrorKind::Io, "{failure:?}");
    assert_eq!(failure.os_code(), Some(EISDIR));
    assert!(failure.message().contains("1000.bin"), "{failure:?}");
    assert_eq!(strict.report.records_applied, 0);

    // Salvage: skipped with the same error, the WAL is replayed.
    let salvage = restore_one(
        root.path(),
        0,
        &options(Selection::Covering, Recovery::Salvage),
    );
    assert_eq!(salvage.error, None);
    assert_eq!(salvage.report.records_applied, 1);
    let (file, reason) = &salvage.report.files_skipped[0];
    assert_eq!(file, &dir.join("1000.bin"));
    let error = reason.error().unwrap();
    assert_eq!(
        (error.kind(), error.os_code()),
        (ErrorKind::Io, Some(EISDIR))
    );

    // A WAL that cannot be read is skipped (the host is not failed).
    fs::remove_file(dir.join("1000.bin")).unwrap();
    fs::remove_file(dir.join("current.wal")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.join("current.wal")).unwrap();
    for recovery in [Recovery::Strict, Recovery::Salvage] {
        let host = restore_one(root.path(), 0, &options(Selection::Covering, recovery));
        assert_eq!(host.error, None);
        let error = host.report.files_skipped[0].1.error().unwrap();
        assert_eq!(
            (error.kind(), error.os_code()),
            (ErrorKind::Io, Some(EISDIR))
        );
        assert!(error.message().contains("current.wal"), "{error:?}");
    }
}

#[test]
fn a_damaged_snapshot_is_corrupt() {
    let root = tempfile::tempdir().unwrap();
    let dir = host_dir(root.path(), "h");
    write_bin(
        &dir,
        1000,
        2000,
        Level {
            metrics: vec![metric("load", 1000, &[1.0, 2.0])],
            children: vec![],
        },
    );
    let path = dir.join("1000.bin");
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 3]).unwrap(); // truncated

    let strict = restore_one(
        root.path(),
        0,
        &options(Selection::Covering, Recovery::Strict),
    );
    let failure = strict.error.as_ref().unwrap();
    assert_eq!(failure.kind(), ErrorKind::Corrupt, "{failure:?}");
    assert_eq!(failure.os_code(), None);
    assert!(failure.message().contains("1000.bin"), "{failure:?}");

    let salvage = restore_one(
        root.path(),
        0,
        &options(Selection::Covering, Recovery::Salvage),
    );
    assert_eq!(salvage.error, None);
    assert_eq!(salvage.report.damage.len(), 1);
    assert_eq!(salvage.report.damage[0].reason.kind(), ErrorKind::Corrupt);
    let error = salvage.report.files_skipped[0].1.error().unwrap();
    assert_eq!(error.kind(), ErrorKind::Corrupt);
}

/// Go's scan stops at the first file where only directories belong: under
/// Strict the hosts after it are not restored, and listed; under Salvage
/// every host is restored. Either way the root's error is a format error
/// naming the file.
#[test]
fn a_stray_file_in_a_cluster_is_a_format_error_that_lists_the_hosts_dropped() {
    let root = tempfile::tempdir().unwrap();
    for host in ["a", "c", "d"] {
        let dir = host_dir(root.path(), host);
        fs::write(
            dir.join("current.wal"),
            wal_bytes(&[(5000, "load", &[], 3.0)]),
        )
        .unwrap();
    }
    fs::write(root.path().join("c").join("b.bin"), b"").unwrap();

    let strict = restore(
        root.path(),
        0,
        &config(),
        &options(Selection::Covering, Recovery::Strict),
    )
    .unwrap();
    let error = strict.error.as_ref().unwrap();
    assert_eq!(error.kind(), ErrorKind::Format);
    assert!(error.message().contains("b.bin"), "{error:?}");
    let names: Vec<&[u8]> = strict.hosts.iter().map(|h| h.host.as_slice()).collect();
    assert_eq!(names, vec![&b"a"[..]]);
    assert_eq!(
        strict.hosts_not_restored,
        vec![
            (b"c".to_vec(), b"c".to_vec()),
            (b"c".to_vec(), b"d".to_vec())
        ]
    );
    // With --host, only that host is listed.
    let mut only = options(Selection::Covering, Recovery::Strict);
    only.only = Some((b"c".to_vec(), b"d".to_vec()));
    let strict = restore(root.path(), 0, &config(), &only).unwrap();
    assert!(strict.hosts.is_empty());
    assert_eq!(
        strict.hosts_not_restored,
        vec![(b"c".to_vec(), b"d".to_vec())]
    );

    let salvage = restore(root.path(), 0, &config(), &RestoreOptions::default()).unwrap();
    assert_eq!(salvage.error.as_ref().unwrap().kind(), ErrorKind::Format);
    assert_eq!(salvage.hosts.len(), 3);
    assert!(salvage.hosts_not_restored.is_empty());
}

/// A scan restores each host on the caller's threads exactly as `restore`
/// does, from several threads at once and more than once, and reports the
/// root as it does.
#[test]
fn a_scan_restores_each_host_as_restore_does() {
    let root = tempfile::tempdir().unwrap();
    for h in 0..12 {
        let dir = host_dir(root.path(), &format!("h{h:02}"));
        write_bin(
            &dir,
            1000,
            2000,
            Level {
                metrics: vec![metric("load", 1000, &[h as f32, 1.0])],
                children: vec![Child {
                    name: b"cpu0".to_vec(),
                    level: Level {
                        metrics: vec![metric("mem", 1000, &[2.0; 40])],
                        children: vec![],
                    },
                }],
            },
        );
        let records: Vec<Rec<'_>> = (0..50)
            .map(|i| {
                (
                    2000 + i * 60,
                    if i % 2 == 0 { "load" } else { "mem" },
                    &["cpu1"][..],
                    i as f32,
                )
            })
            .collect();
        fs::write(dir.join("current.wal"), wal_bytes(&records)).unwrap();
    }
    // A file where only cluster directories belong: under Strict the scan
    // stops there, as Go's does.
    fs::write(root.path().join("c").join("h05x.bin"), b"").unwrap();
    for options in [
        RestoreOptions::default(),
        options(Selection::GoExact, Recovery::Strict),
    ] {
        let whole = restore(root.path(), 0, &config(), &options).unwrap();
        let scan = RestoreScan::new(root.path(), 0, config(), options.clone()).unwrap();
        assert_eq!(scan.len(), whole.hosts.len());
        assert_eq!(scan.error(), whole.error.as_ref());
        assert_eq!(
            scan.hosts_not_restored(),
            whole.hosts_not_restored.as_slice()
        );
        assert!(scan.restore_host(scan.len()).is_none());
        assert!(scan.host_name(scan.len()).is_none());
        std::thread::scope(|threads| {
            for _ in 0..3 {
                threads.spawn(|| {
                    for (i, expected) in whole.hosts.iter().enumerate() {
                        let host = scan.restore_host(i).unwrap();
                        // By their Debug text: a missing value is NaN.
                        assert_eq!(format!("{host:?}"), format!("{expected:?}"));
                        assert_eq!(
                            scan.host_name(i).unwrap(),
                            (expected.cluster.as_slice(), expected.host.as_slice())
                        );
                    }
                });
            }
        });
    }
}
