//! Sustained ingest through the WAL engine: 1,000 hosts × 64 metrics,
//! 2,000,000 samples, from 1 and 2 appending threads, single appends and
//! batches, next to writing the same bytes with one large write() in the
//! same run. Also `Always` durability and the resident memory at 20,000
//! hosts.
//!
//! `cargo bench --bench engine` (writes below $CCWAL_BENCH_DIR, default
//! target/bench-engine)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccwal::engine::{Batch, Durability, Store, StoreOptions};

const HOSTS: usize = 1_000;
const METRICS: usize = 64;
const SAMPLES: usize = 2_000_000;
const BATCH: usize = 4_096;

struct Names {
    hosts: Vec<Vec<u8>>,
    metrics: Vec<Vec<u8>>,
}

fn names(hosts: usize) -> Names {
    Names {
        hosts: (0..hosts)
            .map(|h| format!("node{h:05}").into_bytes())
            .collect(),
        metrics: (0..METRICS)
            .map(|m| format!("metric_{m:02}").into_bytes())
            .collect(),
    }
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we pass.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

struct Run {
    elapsed: Duration,
    cpu: f64,
    bytes: u64,
    rejected: u64,
    /// Writer rounds (each takes a whole queue).
    rounds: u64,
    /// Time to create the hosts' files (before the measured part).
    creation: Duration,
}

/// Appends `SAMPLES` samples split over `threads`, host-major (a host's 64
/// metrics in a row, as a collector sends them), then closes the store.
fn ingest(dir: &Path, threads: usize, batched: bool, durability: Durability) -> Run {
    let _ = std::fs::remove_dir_all(dir);
    let mut options = StoreOptions::new(dir);
    options.durability = durability;
    let store = Arc::new(Store::open(options).unwrap());
    let names = Arc::new(names(HOSTS));
    // Steady state of a running server: every host's file exists and is
    // open (creating 1,000 files and fsyncing their directories is a
    // one-time cost, measured separately).
    let created = Instant::now();
    for host in &names.hosts {
        store
            .append(b"fritz", host, b"warmup", &[] as &[&[u8]], 0.0, 1)
            .unwrap();
    }
    store.flush().unwrap();
    let creation = created.elapsed();
    let (cpu_before, started) = (cpu_seconds(), Instant::now());
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (store, names) = (store.clone(), names.clone());
            std::thread::spawn(move || {
                let mut batch = Batch::new();
                let selector: [&[u8]; 1] = [b"cpu0"];
                for i in (t..SAMPLES).step_by(threads) {
                    let host = &names.hosts[(i / METRICS) % HOSTS];
                    let metric = &names.metrics[i % METRICS];
                    let ts = 1_700_000_000 + (i / (METRICS * HOSTS)) as i64 * 60;
                    if batched {
                        batch
                            .push(b"fritz", host, metric, &selector, i as f64, ts)
                            .unwrap();
                        if batch.len() == BATCH {
                            store.append_batch(&batch).unwrap();
                            batch.clear();
                        }
                    } else {
                        store
                            .append(b"fritz", host, metric, &selector, i as f64, ts)
                            .unwrap();
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
    let elapsed = started.elapsed();
    let stats = store.stats();
    assert_eq!(stats.written, (SAMPLES + HOSTS) as u64);
    Run {
        elapsed,
        cpu: cpu_seconds() - cpu_before,
        bytes: stats.bytes_written,
        rejected: stats.rejected,
        rounds: stats.flushes,
        creation,
    }
}

/// The same number of bytes with one large write(), the limit of any WAL.
fn one_large_write(dir: &Path, bytes: u64) -> Duration {
    let data = vec![0x5Au8; bytes as usize];
    let path = dir.join("one-large-write");
    let started = Instant::now();
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&data).unwrap();
    drop(file);
    let elapsed = started.elapsed();
    std::fs::remove_file(path).unwrap();
    elapsed
}

fn resident_memory_at(dir: &Path, hosts: usize) -> (u64, u64) {
    let _ = std::fs::remove_dir_all(dir);
    let names = names(hosts);
    let before = rss_kib();
    let store = Store::open(StoreOptions::new(dir)).unwrap();
    let mut batch = Batch::new();
    for host in &names.hosts {
        for metric in &names.metrics[..8] {
            batch
                .push(b"fritz", host, metric, &[] as &[&[u8]], 1.0, 1_700_000_000)
                .unwrap();
        }
        if batch.len() >= BATCH {
            store.append_batch(&batch).unwrap();
            batch.clear();
        }
    }
    store.append_batch(&batch).unwrap();
    store.flush().unwrap();
    let during = rss_kib();
    store.close().unwrap();
    (before, during)
}

fn main() {
    let root = std::env::var_os("CCWAL_BENCH_DIR")
        .map_or_else(|| PathBuf::from("target/bench-engine"), PathBuf::from);
    std::fs::create_dir_all(&root).unwrap();
    let dir = root.join("wal");
    println!("{SAMPLES} samples, {HOSTS} hosts × {METRICS} metrics, durability None unless noted");
    println!(
        "{:<38} {:>12} {:>9} {:>10} {:>12}",
        "case", "samples/s", "CPU s", "rejected", "× one write"
    );
    for (name, threads, batched, durability) in [
        ("single appends, 1 thread", 1, false, Durability::None),
        ("single appends, 2 threads", 2, false, Durability::None),
        ("batches of 4096, 1 thread", 1, true, Durability::None),
        ("batches of 4096, 2 threads", 2, true, Durability::None),
        (
            "batches of 4096, 2 threads, Always",
            2,
            true,
            Durability::Always,
        ),
    ] {
        let run = ingest(&dir, threads, batched, durability);
        // The limit, measured right after each case: the same bytes in one
        // write().
        let write = one_large_write(&root, run.bytes);
        println!(
            "{name:<38} {:>10.2} M {:>9.2} {:>10} {:>8} {:>12.1}",
            SAMPLES as f64 / run.elapsed.as_secs_f64() / 1e6,
            run.cpu,
            run.rejected,
            run.rounds,
            run.elapsed.as_secs_f64() / write.as_secs_f64()
        );
    }
    let run = ingest(&dir, 1, true, Durability::None);
    let (bytes, write) = (run.bytes, one_large_write(&root, run.bytes));
    println!(
        "creating {HOSTS} new WAL files (mkdir, header, directory fsyncs): {:.0} ms",
        run.creation.as_secs_f64() * 1e3
    );
    println!(
        "one write() of the same {bytes} bytes: {:.2} GB/s ({:.2} M samples/s equivalent)",
        bytes as f64 / write.as_secs_f64() / 1e9,
        SAMPLES as f64 / write.as_secs_f64() / 1e6
    );
    let (before, during) = resident_memory_at(&dir, 20_000);
    println!(
        "resident memory with 20,000 hosts open in the engine: {} MiB more ({} → {} MiB)",
        (during.saturating_sub(before)) / 1024,
        before / 1024,
        during / 1024
    );
    let _ = std::fs::remove_dir_all(&dir);
}
