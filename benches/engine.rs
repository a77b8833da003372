//! Sustained ingest through the WAL engine in steady state: every host's
//! WAL exists and is open before a case is measured (start-up — creating
//! and reopening the files — is measured on its own). Each case appends
//! its samples, host-major (a host's 64 metrics in a row, as a collector
//! sends them), then flushes; it reports samples/s, the CPU of the whole
//! process (appending threads and writers) per sample, and the time over
//! that of writing the same bytes with 1 MiB write()s, measured right
//! after it.
//!
//! Then how the cost grows with the hosts (1,000 / 20,000 / 100,000,
//! resident memory per host) and with the writer shards (1, 2, 4, 8).
//!
//! `cargo bench --bench engine` (writes below $CCWAL_BENCH_DIR, default
//! target/bench-engine). For a profile of one case:
//! `CCWAL_BENCH_ONLY="C ABI" CCWAL_BENCH_SAMPLES=20000000 perf record -g
//! target/release/deps/engine-*`; `CCWAL_BENCH_ONLY` matches case names.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccwal::engine::{Batch, Durability, Store, StoreOptions};
use ccwal::ffi::CCWAL_OK;
use ccwal::ffi::options::{ccwal_options_free, ccwal_options_new};
use ccwal::ffi::store::{
    ccwal_store, ccwal_store_append_batch, ccwal_store_flush, ccwal_store_free, ccwal_store_open,
    ccwal_store_sync,
};

const HOSTS: usize = 1_000;
const METRICS: usize = 64;
const BATCH: usize = 4_096;
const CLUSTER: &[u8] = b"fritz";
const SELECTOR: [&[u8]; 1] = [b"cpu0"];

struct Names {
    hosts: Vec<Vec<u8>>,
    metrics: Vec<Vec<u8>>,
}

fn names(hosts: usize) -> Names {
    Names {
        hosts: (0..hosts)
            .map(|h| format!("node{h:06}").into_bytes())
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

/// How the appending threads hand samples over.
#[derive(Clone, Copy)]
enum Producer {
    /// `Store::append`, one call per sample.
    Single,
    /// `Batch::push` and `Store::append_batch`.
    Batch,
    /// The flat buffer built by the caller, as C and Go do, and one
    /// `ccwal_store_append_batch` per batch.
    CBatch,
}

/// A C store handle; the C ABI allows calls from any thread.
struct CStore(*mut ccwal_store);
// SAFETY: ccwal_store is documented as callable from any thread.
unsafe impl Send for CStore {}
unsafe impl Sync for CStore {}

enum Target {
    Rust(Store),
    C(CStore),
}

impl Target {
    fn open(options: StoreOptions, producer: Producer) -> Target {
        let Producer::CBatch = producer else {
            return Target::Rust(Store::open(options).unwrap());
        };
        let root = options.root.to_str().unwrap();
        let (mut c_options, mut store) = (std::ptr::null_mut(), std::ptr::null_mut());
        let no_error = std::ptr::null_mut();
        assert_eq!(
            ccwal_options_new(root.as_ptr(), root.len(), &mut c_options, no_error),
            CCWAL_OK
        );
        assert_eq!(ccwal_store_open(c_options, &mut store, no_error), CCWAL_OK);
        ccwal_options_free(c_options);
        Target::C(CStore(store))
    }

    fn flush(&self) {
        match self {
            Target::Rust(store) => store.flush().unwrap(),
            Target::C(store) => {
                assert_eq!(ccwal_store_flush(store.0, std::ptr::null_mut()), CCWAL_OK)
            }
        }
    }

    fn sync(&self) {
        match self {
            Target::Rust(store) => store.sync().unwrap(),
            Target::C(store) => {
                assert_eq!(ccwal_store_sync(store.0, std::ptr::null_mut()), CCWAL_OK)
            }
        }
    }

    fn close(self) {
        match self {
            Target::Rust(store) => store.close().unwrap(),
            Target::C(store) => ccwal_store_free(store.0),
        }
    }
}

/// Appends the flat batch layout (see `ccwal::engine::Batch`) as a C
/// caller writes it.
fn push_flat(buffer: &mut Vec<u8>, host: &[u8], metric: &[u8], value: f64, ts: i64) {
    buffer.extend_from_slice(&ts.to_le_bytes());
    buffer.extend_from_slice(&value.to_le_bytes());
    buffer.extend_from_slice(&(CLUSTER.len() as u16).to_le_bytes());
    buffer.extend_from_slice(&(host.len() as u16).to_le_bytes());
    buffer.extend_from_slice(&(metric.len() as u16).to_le_bytes());
    buffer.push(SELECTOR.len() as u8);
    buffer.extend_from_slice(CLUSTER);
    buffer.extend_from_slice(host);
    buffer.extend_from_slice(metric);
    for component in SELECTOR {
        buffer.push(component.len() as u8);
        buffer.extend_from_slice(component);
    }
}

/// One producer thread's share: samples `t, t + threads, …` of `samples`,
/// with timestamps from `first_ts`, one interval per round over all hosts.
fn produce(
    target: &Target,
    names: &Names,
    producer: Producer,
    share: (usize, usize),
    samples: usize,
    first_ts: i64,
) {
    let (t, threads) = share;
    let hosts = names.hosts.len();
    let mut batch = Batch::new();
    let mut flat = Vec::with_capacity(BATCH * 48);
    let mut in_flat = 0;
    let c_append = |store: &CStore, flat: &[u8]| {
        let rc = ccwal_store_append_batch(store.0, flat.as_ptr(), flat.len(), std::ptr::null_mut());
        assert_eq!(rc, CCWAL_OK);
    };
    for i in (t..samples).step_by(threads) {
        let host = &names.hosts[(i / METRICS) % hosts];
        let metric = &names.metrics[i % METRICS];
        let ts = first_ts + (i / (METRICS * hosts)) as i64 * 60;
        match (producer, target) {
            (Producer::Single, Target::Rust(store)) => store
                .append(CLUSTER, host, metric, &SELECTOR, i as f64, ts)
                .unwrap(),
            (Producer::Batch, Target::Rust(store)) => {
                batch
                    .push(CLUSTER, host, metric, &SELECTOR, i as f64, ts)
                    .unwrap();
                if batch.len() == BATCH {
                    store.append_batch(&batch).unwrap();
                    batch.clear();
                }
            }
            (Producer::CBatch, Target::C(store)) => {
                push_flat(&mut flat, host, metric, i as f64, ts);
                in_flat += 1;
                if in_flat == BATCH {
                    c_append(store, &flat);
                    flat.clear();
                    in_flat = 0;
                }
            }
            _ => unreachable!("Target::open matches the producer"),
        }
    }
    match target {
        Target::Rust(store) if !batch.is_empty() => store.append_batch(&batch).unwrap(),
        Target::C(store) if in_flat > 0 => c_append(store, &flat),
        _ => {}
    }
}

/// One configuration of the engine with every host's file open, and
/// what it took to get there.
struct Warm {
    target: Arc<Target>,
    names: Arc<Names>,
    options: StoreOptions,
    producer: Producer,
    /// Creating the hosts' directories and files (a fresh root).
    created: Duration,
    /// Closing and reopening them (torn-tail check of each existing file).
    reopened: Duration,
    next_ts: i64,
}

/// Bytes this process has read with read() and friends so far.
fn bytes_read() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Opens the store and appends one sample to every host, so that every
/// host's WAL is open; returns it with the time and bytes read that took.
fn open_every_host(
    options: &StoreOptions,
    producer: Producer,
    names: &Names,
    ts: i64,
) -> (Target, Duration, u64) {
    let (read_before, started) = (bytes_read(), Instant::now());
    let target = Target::open(options.clone(), producer);
    let mut batch = Vec::new();
    for host in &names.hosts {
        push_flat(&mut batch, host, b"warmup", 0.0, ts);
    }
    match &target {
        Target::Rust(store) => store.append_encoded_batch(&batch).unwrap(),
        Target::C(store) => {
            let rc = ccwal_store_append_batch(
                store.0,
                batch.as_ptr(),
                batch.len(),
                std::ptr::null_mut(),
            );
            assert_eq!(rc, CCWAL_OK);
        }
    }
    target.flush();
    (target, started.elapsed(), bytes_read() - read_before)
}

fn warm_up(
    dir: &Path,
    hosts: usize,
    producer: Producer,
    configure: impl Fn(&mut StoreOptions),
) -> Warm {
    let _ = std::fs::remove_dir_all(dir);
    let names = Arc::new(names(hosts));
    let mut options = StoreOptions::new(dir);
    configure(&mut options);
    let (target, created, _) = open_every_host(&options, producer, &names, 1_700_000_000);
    let fresh = Warm {
        target: Arc::new(target),
        names,
        options,
        producer,
        created,
        reopened: Duration::ZERO,
        next_ts: 1_700_000_060,
    };
    fresh.reopen().0
}

impl Warm {
    /// Closes the store and opens it again, as a restarted process does;
    /// returns the bytes read to check the existing files.
    fn reopen(self) -> (Warm, u64) {
        let Warm {
            target,
            names,
            options,
            producer,
            created,
            next_ts,
            ..
        } = self;
        Arc::try_unwrap(target)
            .ok()
            .expect("producers joined")
            .close();
        let (target, reopened, read) = open_every_host(&options, producer, &names, next_ts);
        let warm = Warm {
            target: Arc::new(target),
            names,
            options,
            producer,
            created,
            reopened,
            next_ts: next_ts + 60,
        };
        (warm, read)
    }
}

struct Measured {
    samples: usize,
    elapsed: Duration,
    cpu: f64,
    /// Elapsed time over that of writing the same bytes with write().
    over_write: f64,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.samples as f64 / self.elapsed.as_secs_f64()
    }
    fn cpu_ns(&self) -> f64 {
        self.cpu * 1e9 / self.samples as f64
    }
}

/// WAL bytes under the root (files only grow during a run: no rotation).
fn wal_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

/// Writing `bytes` with 1 MiB write()s into a fresh file: the limit of
/// any WAL on this machine at this moment.
fn write_time(dir: &Path, bytes: u64) -> Duration {
    let chunk = vec![0x5Au8; 1 << 20];
    let path = dir.join("plain-writes");
    let started = Instant::now();
    let mut file = std::fs::File::create(&path).unwrap();
    let mut left = bytes as usize;
    while left > 0 {
        let n = left.min(chunk.len());
        file.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    drop(file);
    let elapsed = started.elapsed();
    std::fs::remove_file(path).unwrap();
    elapsed
}

fn measure(
    warm: &mut Warm,
    dir: &Path,
    producer: Producer,
    threads: usize,
    samples: usize,
) -> Measured {
    let bytes_before = wal_bytes(dir);
    let first_ts = warm.next_ts;
    // What earlier cases wrote is written back now, not by the kernel's
    // flusher during this case.
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let (cpu_before, started) = (cpu_seconds(), Instant::now());
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (target, names) = (warm.target.clone(), warm.names.clone());
            std::thread::spawn(move || {
                produce(&target, &names, producer, (t, threads), samples, first_ts)
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    warm.target.flush();
    let elapsed = started.elapsed();
    let cpu = cpu_seconds() - cpu_before;
    let rounds = samples.div_ceil(METRICS * warm.names.hosts.len()) as i64;
    warm.next_ts += rounds * 60;
    let bytes = wal_bytes(dir) - bytes_before;
    let parent = dir.parent().unwrap();
    Measured {
        samples,
        elapsed,
        cpu,
        over_write: elapsed.as_secs_f64() / write_time(parent, bytes).as_secs_f64(),
    }
}

fn close(warm: Warm) {
    Arc::try_unwrap(warm.target)
        .ok()
        .expect("producers joined")
        .close();
}

fn selected(case: &str) -> bool {
    std::env::var("CCWAL_BENCH_ONLY").map_or(true, |only| case.contains(&only))
}

fn main() {
    let root = std::env::var_os("CCWAL_BENCH_DIR")
        .map_or_else(|| PathBuf::from("target/bench-engine"), PathBuf::from);
    let samples: usize = std::env::var("CCWAL_BENCH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4_000_000);
    std::fs::create_dir_all(&root).unwrap();
    let dir = root.join("wal");
    println!(
        "steady state: {HOSTS} hosts × {METRICS} metrics, selector cpu0, every WAL open; \
         {samples} samples per case, then a flush; durability None unless noted"
    );
    println!(
        "{:<44} {:>12} {:>15} {:>12}",
        "case", "samples/s", "CPU ns/sample", "× write()"
    );
    let print = |name: &str, m: &Measured| {
        println!(
            "{name:<44} {:>10.2} M {:>15.0} {:>12.2}",
            m.rate() / 1e6,
            m.cpu_ns(),
            m.over_write
        );
    };
    let mut startup = None;
    for (name, producer, durability, cases) in [
        (
            "single appends",
            Producer::Single,
            Durability::None,
            &[1, 2][..],
        ),
        (
            "batches of 4096",
            Producer::Batch,
            Durability::None,
            &[1, 2],
        ),
        (
            "C ABI flat batches of 4096",
            Producer::CBatch,
            Durability::None,
            &[2],
        ),
        (
            "batches of 4096, Always",
            Producer::Batch,
            Durability::Always,
            &[2],
        ),
    ] {
        let cases: Vec<(String, usize)> = cases
            .iter()
            .map(|&threads| (format!("{name}, {threads} thread(s)"), threads))
            .filter(|(case, _)| selected(case))
            .collect();
        if cases.is_empty() {
            continue;
        }
        let mut warm = warm_up(&dir, HOSTS, producer, |o| o.durability = durability);
        for (case, threads) in cases {
            let m = measure(&mut warm, &dir, producer, threads, samples);
            print(&case, &m);
        }
        if startup.is_none() {
            // A restart after the cases: the files hold their WAL now.
            let wal = wal_bytes(&dir);
            let (created, empty_reopened) = (warm.created, warm.reopened);
            let (again, read) = warm.reopen();
            startup = Some((created, empty_reopened, wal, again.reopened, read));
            warm = again;
        }
        close(warm);
    }
    if let Some((created, empty_reopened, wal, reopened, read)) = startup {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "start-up, {HOSTS} hosts: creating their WAL files {:.0} ms, reopening them {:.0} ms; \
             reopening with {:.0} MB of WAL {:.0} ms, {:.0} KiB read per host (the torn-tail check \
             reads a bounded tail)",
            ms(created),
            ms(empty_reopened),
            wal as f64 / 1e6,
            ms(reopened),
            read as f64 / 1024.0 / HOSTS as f64
        );
    }

    if selected("hosts") {
        println!();
        println!(
            "scale with hosts: batches of 4096, 2 threads, every host sent 64 samples per interval"
        );
        println!(
            "{:<10} {:>12} {:>15} {:>12} {:>14} {:>14} {:>12}",
            "hosts", "samples/s", "CPU ns/sample", "× write()", "RSS/host", "after sync", "reopen"
        );
        for hosts in [1_000, 20_000, 100_000] {
            let before = rss_kib();
            let mut warm = warm_up(&dir, hosts, Producer::Batch, |_| {});
            let m = measure(
                &mut warm,
                &dir,
                Producer::Batch,
                2,
                samples.max(hosts * METRICS),
            );
            let per_host = |kib: u64| kib.saturating_sub(before) as f64 * 1024.0 / hosts as f64;
            // After ingest: with the queues, the kept backlogs and the copies
            // of unsynced bytes (bounded per shard, not per host).
            let ingesting = per_host(rss_kib());
            // After a sync the copies are freed: what stays is per host.
            warm.target.sync();
            // SAFETY: malloc_trim only returns free heap memory to the OS.
            unsafe { libc::malloc_trim(0) };
            let settled = per_host(rss_kib());
            println!(
                "{hosts:<10} {:>10.2} M {:>15.0} {:>12.2} {:>12.0} B {:>12.0} B {:>9.0} ms",
                m.rate() / 1e6,
                m.cpu_ns(),
                m.over_write,
                ingesting,
                settled,
                warm.reopened.as_secs_f64() * 1e3
            );
            close(warm);
        }
    }

    if selected("shards") {
        println!();
        println!(
            "scale with writer shards: {HOSTS} hosts, batches of 4096, 2 threads (2 cores here)"
        );
        println!(
            "{:<10} {:>12} {:>15} {:>12}",
            "shards", "samples/s", "CPU ns/sample", "× write()"
        );
        for shards in [1, 2, 4, 8] {
            let mut warm = warm_up(&dir, HOSTS, Producer::Batch, |o| o.shards = shards);
            let m = measure(&mut warm, &dir, Producer::Batch, 2, samples);
            println!(
                "{shards:<10} {:>10.2} M {:>15.0} {:>12.2}",
                m.rate() / 1e6,
                m.cpu_ns(),
                m.over_write
            );
            close(warm);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
