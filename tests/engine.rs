//! The WAL engine: concurrency, ordering, torn tails, the descriptor budget,
//! rotation, write errors, backpressure and close.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use ccwal::ErrorKind;
use ccwal::codec::wal::{self, OnDamage, WalItem, WalReader};
use ccwal::engine::{
    Backpressure, Batch, Durability, Event, EventLevel, Store, StoreOptions, WriteFault,
};

/// (ts, metric, selector, value) of every record of a WAL file; panics on
/// damage.
fn read_wal(path: &Path) -> Vec<(i64, String, Vec<String>, f32)> {
    let content = std::fs::read(path).unwrap_or_default();
    let start = wal::check_file_header(&content).expect("valid header");
    WalReader::new(&content, start, OnDamage::Stop)
        .map(|item| match item {
            WalItem::Record { record, .. } => (
                record.ts,
                String::from_utf8(record.metric.to_vec()).unwrap(),
                record
                    .selector
                    .iter()
                    .map(|s| String::from_utf8(s.to_vec()).unwrap())
                    .collect(),
                record.value(),
            ),
            WalItem::Damaged { offset, error, .. } => {
                panic!("{}: damage at {offset}: {error}", path.display())
            }
        })
        .collect()
}

fn wal_path(root: &Path, cluster: &str, host: &str) -> std::path::PathBuf {
    root.join(cluster).join(host).join("current.wal")
}

const NONE: &[&[u8]] = &[];

#[test]
fn many_threads_many_hosts_every_sample_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = StoreOptions::new(dir.path());
    options.shards = 3;
    options.max_open_files = 300;
    let store = Arc::new(Store::open(options).unwrap());
    let (threads, per_thread, hosts) = (8, 100_000, 1_000);
    let selectors: [&[&[u8]]; 3] = [&[], &[b"cpu1"], &[b"socket0", b"memctrl1"]];
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut batch = Batch::new();
                for i in 0..per_thread {
                    let host = format!("h{:04}", (i * 7 + t) % hosts);
                    let metric = format!("t{t}");
                    let selector = selectors[i % 3];
                    // Half the threads append one by one, half in batches.
                    if t % 2 == 0 {
                        store
                            .append(
                                b"c",
                                host.as_bytes(),
                                metric.as_bytes(),
                                selector,
                                i as f64,
                                i as i64,
                            )
                            .unwrap();
                    } else {
                        batch
                            .push(
                                b"c",
                                host.as_bytes(),
                                metric.as_bytes(),
                                selector,
                                i as f64,
                                i as i64,
                            )
                            .unwrap();
                        if batch.len() == 1000 {
                            store.append_batch(&batch).unwrap();
                            batch.clear();
                        }
                    }
                }
                store.append_batch(&batch).unwrap();
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    store.close().unwrap();
    let stats = store.stats();
    assert_eq!(stats.appended, (threads * per_thread) as u64);
    assert_eq!(stats.written, stats.appended);
    assert_eq!((stats.rejected, stats.failed), (0, 0));
    let mut total = 0;
    for h in 0..hosts {
        let host = format!("h{h:04}");
        let records = read_wal(&wal_path(dir.path(), "c", &host));
        total += records.len();
        for t in 0..threads {
            let mine: Vec<_> = records.iter().filter(|r| r.1 == format!("t{t}")).collect();
            let expected: Vec<usize> = (0..per_thread)
                .filter(|i| (i * 7 + t) % hosts == h)
                .collect();
            assert_eq!(mine.len(), expected.len(), "host {host} thread {t}");
            for (record, &i) in mine.iter().zip(&expected) {
                assert_eq!((record.0, record.3), (i as i64, i as f32));
                assert_eq!(record.2.len(), selectors[i % 3].len());
            }
        }
    }
    assert_eq!(total, threads * per_thread);
}

#[test]
fn a_torn_tail_is_cut_before_appending() {
    let dir = tempfile::tempdir().unwrap();
    let path = wal_path(dir.path(), "c", "h");
    {
        let store = Store::open(StoreOptions::new(dir.path())).unwrap();
        for i in 0..3 {
            store.append(b"c", b"h", b"m", NONE, i as f64, i).unwrap();
        }
    }
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 5).unwrap(); // a crash in the middle of the third record
    drop(f);
    let events = Arc::new(Mutex::new(Vec::<Event>::new()));
    let mut options = StoreOptions::new(dir.path());
    let sink = events.clone();
    options.event_hook = Some(Arc::new(move |e: &Event| {
        sink.lock().unwrap().push(e.clone())
    }));
    let store = Store::open(options).unwrap();
    for i in 10..13 {
        store.append(b"c", b"h", b"m", NONE, i as f64, i).unwrap();
    }
    store.close().unwrap();
    let ts: Vec<i64> = read_wal(&path).iter().map(|r| r.0).collect();
    assert_eq!(ts, vec![0, 1, 10, 11, 12]);
    assert_eq!(store.stats().torn_tails_repaired, 1);
    let events = events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.host == b"h" && e.message.contains("cut")),
        "{events:?}"
    );
}

#[test]
fn a_file_with_a_bad_header_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = wal_path(dir.path(), "c", "h");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"garbage!").unwrap();
    let store = Store::open(StoreOptions::new(dir.path())).unwrap();
    store.append(b"c", b"h", b"m", NONE, 1.0, 5).unwrap();
    store.close().unwrap();
    assert_eq!(read_wal(&path).len(), 1);
    let aside: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("current.wal.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read(path.with_file_name(&aside[0])).unwrap(),
        b"garbage!"
    );
}

/// Runs in a child process with RLIMIT_NOFILE lowered to 256: 5,000 hosts
/// through a budget of 128 descriptors.
#[test]
fn five_thousand_hosts_under_a_low_descriptor_limit() {
    if let Ok(root) = std::env::var("CCWAL_TEST_NOFILE_ROOT") {
        let limit = libc::rlimit {
            rlim_cur: 256,
            rlim_max: 256,
        };
        // SAFETY: setrlimit with a valid struct only changes this process's limit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
        let mut options = StoreOptions::new(&root);
        options.max_open_files = 128;
        options.shards = 2;
        let store = Store::open(options).unwrap();
        for round in 0..3 {
            for h in 0..5_000 {
                store
                    .append(
                        b"c",
                        format!("h{h}").as_bytes(),
                        b"m",
                        NONE,
                        round as f64,
                        round,
                    )
                    .unwrap();
            }
            store.flush().unwrap();
        }
        store.close().unwrap();
        let stats = store.stats();
        assert_eq!((stats.written, stats.failed), (15_000, 0), "{stats:?}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "five_thousand_hosts_under_a_low_descriptor_limit",
            "--test-threads=1",
        ])
        .env("CCWAL_TEST_NOFILE_ROOT", dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    for h in [0, 2_500, 4_999] {
        let ts: Vec<i64> = read_wal(&wal_path(dir.path(), "c", &format!("h{h}")))
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(ts, vec![0, 1, 2]);
    }
}

#[test]
fn rotation_comes_after_earlier_records_and_before_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreOptions::new(dir.path())).unwrap();
    for i in 0..1000 {
        store.append(b"c", b"h", b"m", NONE, 0.0, i).unwrap();
    }
    store
        .rotate(&[(&b"c"[..], &b"h"[..]), (b"c", b"never-written")])
        .unwrap();
    assert!(
        !wal_path(dir.path(), "c", "h").exists(),
        "rotation deletes the file after its records"
    );
    store.append(b"c", b"h", b"m", NONE, 0.0, 5000).unwrap();
    store.close().unwrap();
    let ts: Vec<i64> = read_wal(&wal_path(dir.path(), "c", "h"))
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(ts, vec![5000]);
    assert_eq!(store.stats().rotations, 1);
    assert!(store.rotate(&[(b"c", b"..")]).is_err());
}

#[test]
fn rotate_racing_with_appends_keeps_a_suffix_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(StoreOptions::new(dir.path())).unwrap());
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for i in 0..20_000 {
                store.append(b"c", b"h", b"m", NONE, 0.0, i).unwrap();
            }
        })
    };
    for _ in 0..20 {
        store.rotate(&[(b"c", b"h")]).unwrap();
    }
    writer.join().unwrap();
    store.close().unwrap();
    // What survives is an unbroken run ending with the last record.
    let ts: Vec<i64> = read_wal(&wal_path(dir.path(), "c", "h"))
        .iter()
        .map(|r| r.0)
        .collect();
    let first = ts.first().copied().unwrap_or(20_000);
    assert_eq!(ts, (first..20_000).collect::<Vec<_>>());
}

#[test]
fn close_racing_with_appends_loses_nothing_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(StoreOptions::new(dir.path())).unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (store, accepted) = (store.clone(), accepted.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    match store.append(b"c", format!("h{t}").as_bytes(), b"m", NONE, 0.0, i) {
                        Ok(()) => accepted.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::Closed);
                            return;
                        }
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    store.close().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    store.close().unwrap(); // idempotent
    let on_disk: usize = (0..4)
        .map(|t| read_wal(&wal_path(dir.path(), "c", &format!("h{t}"))).len())
        .sum();
    assert_eq!(on_disk, accepted.load(Ordering::Relaxed));
    assert_eq!(store.stats().written as usize, on_disk);
    assert_eq!(store.flush().unwrap_err().kind(), ErrorKind::Closed);
}

#[test]
fn write_errors_keep_the_records_and_leave_no_partial_record() {
    let dir = tempfile::tempdir().unwrap();
    let fault = Arc::new(Mutex::new(None::<i32>));
    let events = Arc::new(Mutex::new(Vec::<Event>::new()));
    let mut options = StoreOptions::new(dir.path());
    let switch = fault.clone();
    options.fault_injector = Some(Arc::new(move |path: &Path| {
        let errno = (*switch.lock().unwrap())?;
        if !path.ends_with("bad/current.wal") {
            return None;
        }
        Some(WriteFault {
            after_bytes: 20,
            error: io::Error::from_raw_os_error(errno),
        })
    }));
    let sink = events.clone();
    options.event_hook = Some(Arc::new(move |e: &Event| {
        sink.lock().unwrap().push(e.clone())
    }));
    let store = Store::open(options).unwrap();
    store.append(b"c", b"bad", b"m", NONE, 1.0, 1).unwrap();
    store.flush().unwrap();
    for (errno, ts) in [(libc::ENOSPC, 2), (libc::EIO, 3)] {
        *fault.lock().unwrap() = Some(errno);
        store.append(b"c", b"bad", b"m", NONE, 1.0, ts).unwrap();
        store.append(b"c", b"good", b"m", NONE, 1.0, ts).unwrap();
        // The flush sees the failed write: an error with the OS code that
        // names the file, not OK.
        let error = store.flush().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Io);
        assert_eq!(error.os_code(), Some(errno));
        assert!(error.message().contains("bad/current.wal"), "{error}");
        assert_eq!(store.stats().backlog_records, 1);
        // The record was kept; the fault is over: the next flush writes it.
        *fault.lock().unwrap() = None;
        store.flush().unwrap();
        assert_eq!(store.stats().backlog_records, 0);
    }
    store.append(b"c", b"bad", b"m", NONE, 1.0, 4).unwrap();
    store.close().unwrap();
    let stats = store.stats();
    assert_eq!(
        (
            stats.errors_no_space.errors,
            stats.errors_no_space.records_lost
        ),
        (1, 0)
    );
    assert_eq!(
        (stats.errors_io.errors, stats.errors_io.records_lost),
        (1, 0)
    );
    assert_eq!((stats.failed, stats.written), (0, 6));
    // The failed appends were cut back and written again: the file reads
    // cleanly, every record once, in order.
    let ts: Vec<i64> = read_wal(&wal_path(dir.path(), "c", "bad"))
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(ts, vec![1, 2, 3, 4]);
    assert_eq!(read_wal(&wal_path(dir.path(), "c", "good")).len(), 2);
    let events = events.lock().unwrap();
    let errors: Vec<_> = events
        .iter()
        .filter(|e| e.host == b"bad" && e.level == EventLevel::Error)
        .collect();
    assert_eq!(errors.len(), 2, "{events:?}");
    assert!(errors[0].message.contains("kept in memory and retried"));
}

/// A store whose appends to every file fail with `errno` while `failing`
/// is set.
fn failing_store(
    dir: &Path,
    errno: i32,
    configure: impl FnOnce(&mut StoreOptions),
) -> (Store, Arc<AtomicBool>) {
    let failing = Arc::new(AtomicBool::new(true));
    let mut options = StoreOptions::new(dir);
    let switch = failing.clone();
    options.fault_injector = Some(Arc::new(move |_: &Path| {
        switch.load(Ordering::Acquire).then(|| WriteFault {
            after_bytes: 7,
            error: io::Error::from_raw_os_error(errno),
        })
    }));
    configure(&mut options);
    (Store::open(options).unwrap(), failing)
}

/// Defects found by a user: with every write failing, `sync` returned OK
/// 40 times in a row while the records were dropped. Now each call answers
/// the error within a round (no hang), nothing is dropped, and after the
/// fault everything is written and synced without a restart.
#[test]
fn sync_reports_a_failing_disk_and_nothing_is_lost_after_it_clears() {
    for errno in [libc::ENOSPC, libc::EIO] {
        let dir = tempfile::tempdir().unwrap();
        let (store, failing) = failing_store(dir.path(), errno, |o| {
            o.durability = Durability::Interval(Duration::from_millis(20))
        });
        for round in 0..40 {
            for h in 0..10 {
                let host = format!("h{h}");
                store
                    .append(b"c", host.as_bytes(), b"m", NONE, round as f64, round)
                    .unwrap();
            }
            let started = Instant::now();
            let error = store.sync().unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(5));
            assert_eq!(
                (error.kind(), error.os_code()),
                (ErrorKind::Io, Some(errno))
            );
        }
        let stats = store.stats();
        assert_eq!((stats.backlog_records, stats.failed), (400, 0), "{stats:?}");
        failing.store(false, Ordering::Release);
        store.sync().unwrap();
        store.close().unwrap();
        for h in 0..10 {
            let ts: Vec<i64> = read_wal(&wal_path(dir.path(), "c", &format!("h{h}")))
                .iter()
                .map(|r| r.0)
                .collect();
            assert_eq!(ts, (0..40).collect::<Vec<_>>());
        }
    }
}

/// Kept records count against the queue: a disk that stays full pushes
/// back on appenders, who get an error instead of a silent loss or a hang.
#[test]
fn a_failing_disk_pushes_back_on_appenders() {
    for backpressure in [
        Backpressure::Reject,
        Backpressure::Block {
            timeout: Some(Duration::from_millis(50)),
        },
        Backpressure::Block { timeout: None },
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (store, failing) = failing_store(dir.path(), libc::ENOSPC, |o| {
            o.shards = 1;
            o.queue_capacity = 4096;
            o.backpressure = backpressure;
        });
        let mut accepted = 0;
        let error = loop {
            match store.append(b"c", b"h", b"m", NONE, 1.0, accepted) {
                Ok(()) => accepted += 1,
                Err(e) => break e,
            }
            assert!(accepted < 100_000, "{backpressure:?}: never pushed back");
        };
        let expected = match backpressure {
            Backpressure::Reject => ErrorKind::QueueFull,
            Backpressure::Block { timeout: Some(_) } => ErrorKind::Timeout,
            Backpressure::Block { timeout: None } => ErrorKind::Io,
        };
        assert_eq!(error.kind(), expected, "{backpressure:?}: {error}");
        failing.store(false, Ordering::Release);
        store.close().unwrap();
        assert_eq!(
            read_wal(&wal_path(dir.path(), "c", "h")).len(),
            accepted as usize
        );
    }
}

/// The last write and sync's error reaches the caller of `close`, with the
/// records it could not write counted as lost.
#[test]
fn close_reports_what_it_could_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _failing) = failing_store(dir.path(), libc::EIO, |_| {});
    store.append(b"c", b"h", b"m", NONE, 1.0, 1).unwrap();
    let error = store.close().unwrap_err();
    assert_eq!(
        (error.kind(), error.os_code()),
        (ErrorKind::Io, Some(libc::EIO))
    );
    assert_eq!(store.stats().failed, 1);
    assert_eq!(store.stats().errors_io.records_lost, 1);
    // Idempotent: the same answer again.
    assert_eq!(store.close().unwrap_err().os_code(), Some(libc::EIO));
}

/// A budget of descriptors above what RLIMIT_NOFILE allows is refused.
#[test]
fn a_descriptor_budget_above_the_limit_is_refused() {
    let mut options = StoreOptions::new("/nonexistent");
    options.max_open_files = usize::MAX / 2;
    let error = Store::open(options).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    assert!(error.message().contains("RLIMIT_NOFILE"), "{error}");
}

/// A store whose writer blocks inside its first write until released.
fn stalled_store(dir: &Path, backpressure: Backpressure) -> (Store, Arc<AtomicBool>) {
    let release = Arc::new(AtomicBool::new(false));
    let mut options = StoreOptions::new(dir);
    options.shards = 1;
    options.queue_capacity = 4096;
    options.backpressure = backpressure;
    let gate = release.clone();
    options.fault_injector = Some(Arc::new(move |_: &Path| {
        while !gate.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        None
    }));
    let store = Store::open(options).unwrap();
    store.append(b"c", b"h", b"m", NONE, 0.0, 0).unwrap();
    // Let the writer take that record and stall in its write.
    while store.stats().queue_bytes[0] > 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    (store, release)
}

#[test]
fn reject_returns_queue_full_under_a_stalled_writer() {
    let dir = tempfile::tempdir().unwrap();
    let (store, release) = stalled_store(dir.path(), Backpressure::Reject);
    let mut accepted = 0;
    let error = loop {
        match store.append(b"c", b"h", b"m", NONE, 0.0, accepted + 1) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(error.kind(), ErrorKind::QueueFull);
    assert!(accepted > 10 && accepted < 4096);
    let mut batch = Batch::new();
    batch.push(b"c", b"h", b"m", NONE, 0.0, 1).unwrap();
    assert_eq!(
        store.append_batch(&batch).unwrap_err().kind(),
        ErrorKind::QueueFull
    );
    assert_eq!(store.stats().rejected, 2);
    release.store(true, Ordering::Release);
    store.close().unwrap();
    assert_eq!(
        read_wal(&wal_path(dir.path(), "c", "h")).len(),
        accepted as usize + 1
    );
}

#[test]
fn block_with_timeout_gives_up_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let timeout = Duration::from_millis(100);
    let (store, release) = stalled_store(
        dir.path(),
        Backpressure::Block {
            timeout: Some(timeout),
        },
    );
    let mut i = 1;
    let (started, error) = loop {
        let started = Instant::now();
        match store.append(b"c", b"h", b"m", NONE, 0.0, i) {
            Ok(()) => i += 1,
            Err(e) => break (started, e),
        }
    };
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert!(started.elapsed() >= timeout);
    release.store(true, Ordering::Release);
    store.close().unwrap();
    assert_eq!(store.stats().rejected, 1);
}

#[test]
fn batches_are_all_or_nothing_on_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreOptions::new(dir.path())).unwrap();
    let mut batch = Batch::new();
    batch.push(b"c", b"h", b"m", NONE, 1.0, 1).unwrap();
    let mut bytes = batch.as_bytes().to_vec();
    bytes.extend_from_slice(&bytes.clone()[..10]);
    let error = store.append_encoded_batch(&bytes).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    assert!(error.message().contains("sample 1"), "{}", error.message());
    store.close().unwrap();
    assert_eq!(store.stats().appended, 0);
    assert!(!wal_path(dir.path(), "c", "h").exists());
}

#[test]
fn sync_and_durability_modes_fsync() {
    for durability in [
        Durability::None,
        Durability::Always,
        Durability::Interval(Duration::from_millis(5)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut options = StoreOptions::new(dir.path());
        options.durability = durability;
        options.shards = 1;
        let store = Store::open(options).unwrap();
        store.append(b"c", b"h", b"m", NONE, 1.0, 1).unwrap();
        store.sync().unwrap();
        assert!(store.stats().fsyncs >= 1, "{durability:?}");
        assert_eq!(read_wal(&wal_path(dir.path(), "c", "h")).len(), 1);
    }
}

#[test]
fn invalid_names_and_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = StoreOptions::new(dir.path());
    options.max_wal_bytes = 200;
    let store = Store::open(options).unwrap();
    for (cluster, host) in [
        (&b".."[..], &b"h"[..]),
        (b"c", b"a/b"),
        (b"c", b""),
        (b"c\0", b"h"),
    ] {
        let error = store.append(cluster, host, b"m", NONE, 1.0, 1).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidName);
    }
    let long = vec![b's'; 256];
    assert_eq!(
        store
            .append(b"c", b"h", b"m", &[long], 1.0, 1)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidName
    );
    for i in 0..30 {
        store.append(b"c", b"h", b"m", NONE, 1.0, i).unwrap();
        store.flush().unwrap();
    }
    store.close().unwrap();
    let stats = store.stats();
    assert!(stats.size_rotations >= 2, "{stats:?}");
    let ts: Vec<i64> = read_wal(&wal_path(dir.path(), "c", "h"))
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(*ts.last().unwrap(), 29);
    assert!(
        std::fs::metadata(wal_path(dir.path(), "c", "h"))
            .unwrap()
            .len()
            <= 200 + 40
    );
}

#[test]
fn open_rejects_bad_options() {
    let mut options = StoreOptions::new("/nonexistent-ccwal-root");
    options.queue_capacity = 0;
    assert_eq!(
        Store::open(options).err().unwrap().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn a_barrier_of_threads_flushing_sees_its_own_samples() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(StoreOptions::new(dir.path())).unwrap());
    let barrier = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (store, barrier, root) = (store.clone(), barrier.clone(), dir.path().to_path_buf());
            std::thread::spawn(move || {
                barrier.wait();
                let host = format!("h{t}");
                for i in 0..100 {
                    store
                        .append(b"c", host.as_bytes(), b"m", NONE, 0.0, i)
                        .unwrap();
                }
                store.flush().unwrap();
                assert_eq!(read_wal(&wal_path(&root, "c", &host)).len(), 100);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Small appends wait to be written together, but not for long: without
/// any flush, a record reaches its file within the coalescing delay
/// (`engine::tunables::COALESCE_DELAY`) plus a round; `flush` writes at once.
#[test]
fn coalesced_records_are_written_without_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreOptions::new(dir.path())).unwrap();
    store.append(b"c", b"h", b"m", NONE, 1.0, 1).unwrap();
    let wal = wal_path(dir.path(), "c", "h");
    let started = Instant::now();
    while read_wal(&wal).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a record waited in memory for 2 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    store.append(b"c", b"h", b"m", NONE, 2.0, 2).unwrap();
    store.flush().unwrap();
    assert_eq!(read_wal(&wal).len(), 2);
    store.close().unwrap();
}

/// Reopening a large WAL reads only its last MiB for the torn-tail check
/// (not the whole file): a torn tail is still cut, and damage further back
/// (which no append of ccwal leaves) is left for restore to skip.
#[test]
fn a_large_wal_is_checked_at_its_tail_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = wal_path(dir.path(), "c", "h");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut file = wal::file_header().to_vec();
    let mut ts = 0;
    while file.len() < 5 << 20 {
        wal::encode_record(&mut file, ts, b"m", NONE, ts as f32).unwrap();
        ts += 1;
    }
    // Damage 4 MiB before the end: a full scan would cut everything after.
    let middle = file.len() - (4 << 20);
    file[middle..middle + 8].fill(0xFF);
    let whole = file.len();
    wal::encode_record(&mut file, ts, b"m", NONE, 0.0).unwrap();
    file.truncate(whole + 10); // a torn last record
    std::fs::write(&path, &file).unwrap();

    let store = Store::open(StoreOptions::new(dir.path())).unwrap();
    store.append(b"c", b"h", b"m", NONE, 7.0, ts + 100).unwrap();
    store.close().unwrap();
    assert_eq!(store.stats().torn_tails_repaired, 1);
    let content = std::fs::read(&path).unwrap();
    assert_eq!(
        content[..whole],
        file[..whole],
        "nothing before the tail changed"
    );
    let mut resync = WalReader::new(&content, wal::FILE_HEADER_LEN, OnDamage::Resync);
    let last = resync
        .by_ref()
        .filter_map(|item| match item {
            WalItem::Record { record, .. } => Some(record.ts),
            WalItem::Damaged { .. } => None,
        })
        .last();
    assert_eq!(
        last,
        Some(ts + 100),
        "the append follows the last whole record"
    );
}

/// A file closed by the descriptor budget is reopened without re-creating
/// its directories; when they were removed meanwhile (by hand), that open
/// fails and the next attempt starts a valid file again.
#[test]
fn an_evicted_host_whose_directory_was_removed_starts_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = StoreOptions::new(dir.path());
    options.shards = 1;
    options.max_open_files = 1;
    let store = Store::open(options).unwrap();
    for host in [b"a", b"b"] {
        store.append(b"c", host, b"m", NONE, 1.0, 1).unwrap();
        store.flush().unwrap();
    }
    // "a" was evicted for "b".
    std::fs::remove_dir_all(dir.path().join("c/a")).unwrap();
    store.append(b"c", b"a", b"m", NONE, 2.0, 2).unwrap();
    // The open fails; the flush's retry of failed hosts starts over.
    store.flush().unwrap();
    store.append(b"c", b"b", b"m", NONE, 3.0, 3).unwrap();
    store.close().unwrap();
    let a = read_wal(&wal_path(dir.path(), "c", "a"));
    assert_eq!(a, [(2, "m".to_string(), vec![], 2.0)]);
    assert_eq!(read_wal(&wal_path(dir.path(), "c", "b")).len(), 2);
}
