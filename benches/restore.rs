//! Checkpoint write and restore of a realistic directory: 1,000 hosts ×
//! (64 metrics × 720 values + 16 sub-levels × 8 metrics × 720 values), and
//! the replay of a WAL of the same shape (10 records per metric and
//! level, 1.92 M records; best of 3) — next to one large write/read of the
//! same bytes in the same run.
//!
//! `cargo bench --bench restore [-- replay|snapshots]` (below
//! $CCWAL_BENCH_DIR, default target/bench-restore; $CCWAL_BENCH_HOSTS
//! hosts, default 1000; $CCWAL_BENCH_WAL_STEPS records per series, default
//! 10; `replay` runs only the WAL replay and `snapshots`
//! only the restore of snapshots, e.g. under a profiler)

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ccwal::checkpoint::{SnapshotWriterPool, snapshot_builder};
use ccwal::codec::wal;
use std::sync::atomic::{AtomicUsize, Ordering};

use ccwal::restore::{MetricConfig, RestoreOptions, RestoreScan, restore};

const VALUES: usize = 720;
const FROM: i64 = 1_700_000_000;

fn metric_names() -> (Vec<String>, Vec<String>) {
    (
        (0..64).map(|m| format!("node_metric_{m:02}")).collect(),
        (0..8).map(|m| format!("core_metric_{m}")).collect(),
    )
}

fn host_snapshot(values: &[f64]) -> Vec<u8> {
    let (node, core) = metric_names();
    let mut builder = snapshot_builder(FROM, FROM + VALUES as i64 * 60);
    for name in &node {
        builder.metric(name.as_bytes(), 60, FROM, values).unwrap();
    }
    for c in 0..16 {
        builder.begin_child(format!("cpu{c}").as_bytes()).unwrap();
        for name in &core {
            builder.metric(name.as_bytes(), 60, FROM, values).unwrap();
        }
        builder.end_child().unwrap();
    }
    builder.finish().unwrap();
    builder.into_inner()
}

fn config() -> MetricConfig {
    let (node, core) = metric_names();
    MetricConfig::new(
        node.iter()
            .chain(&core)
            .map(|n| (n.as_bytes().to_vec(), 60)),
    )
}

fn hwm_reset() {
    // Resets VmHWM (peak RSS) to the current RSS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn gbps(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e9
}

/// Writes every host's snapshot through the pool (durable: fdatasync and
/// directory fsync per file).
fn write_all(root: &Path, hosts: usize, workers: usize, values: &[f64]) -> (Duration, u64) {
    let _ = std::fs::remove_dir_all(root);
    let started = Instant::now();
    let pool = SnapshotWriterPool::new(root.to_path_buf(), workers, 2 * workers).unwrap();
    for h in 0..hosts {
        pool.submit(
            b"fritz",
            format!("node{h:04}").as_bytes(),
            FROM,
            host_snapshot(values),
        )
        .unwrap();
    }
    let outcomes = pool.finish();
    let elapsed = started.elapsed();
    (elapsed, outcomes.len() as u64)
}

/// The same snapshots encoded and handed to the OS without any fsync.
fn write_all_no_fsync(root: &Path, hosts: usize, values: &[f64]) -> (Duration, u64) {
    let _ = std::fs::remove_dir_all(root);
    let started = Instant::now();
    let mut bytes = 0;
    for h in 0..hosts {
        let dir = root.join("fritz").join(format!("node{h:04}"));
        std::fs::create_dir_all(&dir).unwrap();
        let snapshot = host_snapshot(values);
        bytes += snapshot.len() as u64;
        std::fs::write(dir.join(format!("{FROM}.bin")), snapshot).unwrap();
    }
    (started.elapsed(), bytes)
}

/// One line of the table: `t` for `bytes`, and as a multiple of `limit`.
fn row(name: &str, bytes: u64, t: Duration, limit: Duration) {
    println!(
        "{name:<44} {:>10.3} {:>10.2} {:>14.1}",
        t.as_secs_f64(),
        gbps(bytes, t),
        t.as_secs_f64() / limit.as_secs_f64()
    )
}

fn one_large_write_and_read(dir: &Path, bytes: u64) -> (Duration, Duration) {
    let data = vec![0x5Au8; bytes as usize];
    let path = dir.join("one-large-file");
    let started = Instant::now();
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&data)
        .unwrap();
    let write = started.elapsed();
    let mut back = Vec::with_capacity(data.len());
    let started = Instant::now();
    std::fs::File::open(&path)
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    let read = started.elapsed();
    std::fs::remove_file(path).unwrap();
    (write, read)
}

/// Records per metric and level in each host's WAL: $CCWAL_BENCH_WAL_STEPS,
/// default 10 (a server restarted a few hours after its checkpoint replays
/// a few hundred).
fn wal_steps() -> usize {
    std::env::var("CCWAL_BENCH_WAL_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

/// Each host's WAL as a collector fills it: per timestamp, every node
/// metric, then every core metric of cpu0..cpu15. Returns the bytes written.
fn write_wal(root: &Path, hosts: usize) -> u64 {
    let (node, core) = metric_names();
    let cpus: Vec<String> = (0..16).map(|c| format!("cpu{c}")).collect();
    let steps = wal_steps();
    let mut total = 0;
    for h in 0..hosts {
        let dir = root.join("fritz").join(format!("node{h:04}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut out = wal::file_header().to_vec();
        for step in 0..steps {
            let ts = FROM + (VALUES + step) as i64 * 60;
            let value = step as f32 * 0.5;
            for name in &node {
                wal::encode_record::<&[u8]>(&mut out, ts, name.as_bytes(), &[], value).unwrap();
            }
            for cpu in &cpus {
                for name in &core {
                    wal::encode_record(&mut out, ts, name.as_bytes(), &[cpu.as_bytes()], value)
                        .unwrap();
                }
            }
        }
        total += out.len() as u64;
        std::fs::write(dir.join("current.wal"), out).unwrap();
    }
    total
}

/// Runs of each replay measurement; the best counts, since the machine is
/// shared and a replay takes a fraction of a second.
const REPLAY_RUNS: usize = 3;

/// Replays a WAL of `hosts` hosts with 1 and 2 workers, next to one read()
/// of the same number of bytes (best of [`REPLAY_RUNS`] each).
fn replay(base: &Path, root: &Path, hosts: usize) {
    let _ = std::fs::remove_dir_all(root);
    let wal_bytes = write_wal(root, hosts);
    let records = hosts * wal_steps() * (64 + 16 * 8);
    let read_limit = (0..REPLAY_RUNS)
        .map(|_| one_large_write_and_read(base, wal_bytes).1)
        .min()
        .unwrap();
    println!(
        "{:<44} {:>10.3} s ({:.2} GB/s of {:.0} MB WAL)",
        "one read() of the same WAL bytes",
        read_limit.as_secs_f64(),
        gbps(wal_bytes, read_limit),
        wal_bytes as f64 / 1e6
    );
    let config = config();
    for workers in [1, 2] {
        let options = RestoreOptions {
            workers,
            ..RestoreOptions::default()
        };
        let t = (0..REPLAY_RUNS)
            .map(|_| {
                let started = Instant::now();
                let restored = restore(root, FROM, &config, &options).unwrap();
                let t = started.elapsed();
                let applied: u64 = restored
                    .hosts
                    .iter()
                    .map(|h| h.report.records_applied)
                    .sum();
                assert_eq!(applied as usize, records);
                t
            })
            .min()
            .unwrap();
        println!(
            "WAL replay, {workers} worker(s): {:.1} M records/s, {:.2} GB/s, {:.1} × one read() ({:.3} s)",
            records as f64 / t.as_secs_f64() / 1e6,
            gbps(wal_bytes, t),
            t.as_secs_f64() / read_limit.as_secs_f64(),
            t.as_secs_f64()
        );
    }
}

/// The floor of a restore that keeps every value in a chunk of its own:
/// `chunks` vectors of [`VALUES`] f64 each, allocated and filled on
/// `workers` threads and kept until all are done.
fn allocate_and_fill(chunks: usize, workers: usize) -> Duration {
    let source = vec![0.5f32; VALUES];
    let started = Instant::now();
    let kept: Vec<Vec<Vec<f64>>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    (0..chunks / workers)
                        .map(|_| {
                            let mut values = Vec::with_capacity(VALUES);
                            values.extend(source.iter().map(|&v| f64::from(v)));
                            values
                        })
                        .collect()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let t = started.elapsed();
    drop(kept);
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe { libc::malloc_trim(0) };
    t
}

/// Restores the snapshots below `root` with 1 and 2 workers, next to one
/// read() of the same bytes, with the peak memory each needs.
fn restore_snapshots(root: &Path, hosts: usize, bytes: u64, read_limit: Duration) {
    row(
        "one read() of the same bytes",
        bytes,
        read_limit,
        read_limit,
    );
    let config = config();
    let data_bytes = (hosts * (64 + 16 * 8) * VALUES * 8) as u64;
    for workers in [1, 2] {
        let t = allocate_and_fill(hosts * (64 + 16 * 8), workers);
        row(
            &format!("  only allocating its chunks, {workers} worker(s)"),
            bytes,
            t,
            read_limit,
        );
        let options = RestoreOptions {
            workers,
            ..RestoreOptions::default()
        };
        hwm_reset();
        let before = status_kib("VmRSS:");
        let started = Instant::now();
        let restored = restore(root, FROM, &config, &options).unwrap();
        let t = started.elapsed();
        let peak = status_kib("VmHWM:").saturating_sub(before) * 1024;
        assert!(restored.hosts.iter().all(|h| h.error.is_none()));
        row(
            &format!("restore, {workers} worker(s), page cache"),
            bytes,
            t,
            read_limit,
        );
        println!(
            "{:<44} {:>10.2} (peak RSS growth {:.0} MB for {:.0} MB of restored f64 data)",
            "  peak memory / restored data",
            peak as f64 / data_bytes as f64,
            peak as f64 / 1e6,
            data_bytes as f64 / 1e6
        );
        drop(restored);
        // Give freed memory back, so the next run's peak starts from here.
        // SAFETY: malloc_trim only releases free heap memory.
        unsafe { libc::malloc_trim(0) };
    }
    // A consumer that moves each host elsewhere (as the Go server copies it
    // into its store): each host is dropped once restored.
    let scan = RestoreScan::new(root, FROM, config, RestoreOptions::default()).unwrap();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|threads| {
        for _ in 0..2 {
            threads.spawn(|| {
                while let Some(host) = scan.restore_host(next.fetch_add(1, Ordering::Relaxed)) {
                    assert!(host.error.is_none());
                }
            });
        }
    });
    row(
        "scan, host by host, each dropped, 2 threads",
        bytes,
        started.elapsed(),
        read_limit,
    );
}

fn main() {
    let base = std::env::var_os("CCWAL_BENCH_DIR")
        .map_or_else(|| PathBuf::from("target/bench-restore"), PathBuf::from);
    let hosts: usize = std::env::var("CCWAL_BENCH_HOSTS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(1000);
    std::fs::create_dir_all(&base).unwrap();
    let root = base.join("root");
    if std::env::args().any(|a| a == "replay") {
        replay(&base, &root, hosts);
        let _ = std::fs::remove_dir_all(&base);
        return;
    }
    let values: Vec<f64> = (0..VALUES)
        .map(|i| {
            if i % 61 == 0 {
                f64::NAN
            } else {
                i as f64 * 0.5
            }
        })
        .collect();

    let (no_fsync, bytes) = write_all_no_fsync(&root, hosts, &values);
    let (write_limit, read_limit) = one_large_write_and_read(&base, bytes);
    println!("{hosts} hosts, {:.0} MB of snapshots", bytes as f64 / 1e6);
    if std::env::args().any(|a| a == "snapshots") {
        restore_snapshots(&root, hosts, bytes, read_limit);
        let _ = std::fs::remove_dir_all(&base);
        return;
    }
    println!(
        "{:<44} {:>10} {:>10} {:>14}",
        "operation", "seconds", "GB/s", "× one big I/O"
    );
    let row = |name: &str, t: Duration, limit: Duration| row(name, bytes, t, limit);
    row("one write() of the same bytes", write_limit, write_limit);
    row("snapshot encode + write, no fsync", no_fsync, write_limit);
    for workers in [1, 2] {
        let (t, written) = write_all(&root, hosts, workers, &values);
        assert_eq!(written, hosts as u64);
        row(
            &format!("checkpoint pool, {workers} worker(s), durable"),
            t,
            write_limit,
        );
    }
    restore_snapshots(&root, hosts, bytes, read_limit);
    replay(&base, &root, hosts);
    let _ = std::fs::remove_dir_all(&base);
}
