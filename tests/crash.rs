//! SIGKILL crash test of the whole persistence path.
//!
//! A child process (this test binary, re-executed with `CCWAL_CRASH_CHILD_*`
//! variables) plays a metricstore: it restores the root into its in-memory
//! model, opens a `Store`, writes samples of several clusters, hosts,
//! metrics and sub-levels step by step (memory first, then the WAL — the
//! library's ordering rule), acknowledges them with `sync()` or `flush()`
//! and reports each acknowledgement on stdout (`CRASHCHILD ack <step>`,
//! written only after the call returned Ok), and runs checkpoint sessions
//! (begin, more appends, one snapshot per host built from its model, add,
//! finish) and cleanups.
//!
//! The parent kills it with SIGKILL at random moments — some right after a
//! checkpoint began — then restores the root and checks that every
//! acknowledged sample is in the restored buffer chains with its exact
//! value. Several children in a row use the same root ("episodes"), each
//! continuing after what the previous one left on disk, so restore after a
//! crash, more appends, a checkpoint of restored data and another crash are
//! all exercised.
//!
//! Every sample is a pure function of its series and timestamp, so the
//! parent recomputes what an acknowledged step wrote from the episode seed
//! alone. SIGKILL keeps the page cache, so `flush()` acknowledgements must
//! survive as well as `sync()` ones. The root is on tmpfs (`/dev/shm`)
//! unless `CCWAL_CRASH_DIR` says otherwise: a SIGKILL test needs no disk.
//!
//! `acknowledged_samples_survive_sigkill`: the normal path (in-order samples
//! and a few out-of-order ones). `backfill_survives_checkpoint_and_crash`:
//! the same plus backfilled samples, an hour before the step that writes
//! them, always before the checkpoint window's `from` (windows are kept
//! below that hour); they exist only in the WAL, never in a snapshot.
//!
//! `CCWAL_CRASH_ITERATIONS` (default 100) children per test,
//! `CCWAL_CRASH_SEED` to repeat a run, `CCWAL_CRASH_KEEP=1` to keep the
//! first failing root. `make crash-test N=1000`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ccwal::checkpoint::{CheckpointSession, Outcome, SnapshotBuilder, cleanup};
use ccwal::codec::snapshot::{Level, decode_header, decode_snapshot};
use ccwal::codec::wal::{self, OnDamage, WalItem, WalReader};
use ccwal::engine::tunables::SYNCFS_MIN_FILES;
use ccwal::engine::{Batch, Durability, Store, StoreOptions};
use ccwal::restore::{Chunk, MetricConfig, RestoreOptions, RestoredLevel, restore};
use ccwal::storage;

// ---------------------------------------------------------------------------
// The workload: what every step writes, a pure function of the episode seed.
// ---------------------------------------------------------------------------

/// Simulated time of step 0; a multiple of every metric's frequency.
const T0: i64 = 1_699_999_980;
/// Simulated seconds per step.
const STEP: i64 = 10;
/// How far back a backfilled sample lies behind the step that writes it.
const BACKFILL_LAG: i64 = 3600;
/// The restore horizon: early enough for every backfilled sample.
const RESTORE_FROM: i64 = T0 - 2 * BACKFILL_LAG;
/// The child never checkpoints a longer window (it stops with an error), so
/// a backfilled sample is always before the window of the checkpoint that
/// follows its append: it is in no snapshot, only in the WAL.
const MAX_WINDOW: i64 = 3000;
/// After a checkpoint to `to`, snapshots numbered ≤ `to - RETENTION` may be
/// cleaned up (`cleanup <horizon>` is printed first); samples of the normal
/// series up to the end of the latest window that began at or before the
/// horizon are then no longer required (they may have been only in a
/// deleted snapshot). Cleanup also drops the records older than its horizon
/// that checkpoints kept in sealed segments (the backfilled samples):
/// backfilled samples before the horizon are no longer required either.
const RETENTION: i64 = 9000;

const CLUSTERS: [&str; 2] = ["alex", "fritz"];
/// 18 hosts in all: with one writer shard, a sync of them all takes the
/// engine's syncfs path ([`SYNCFS_MIN_FILES`] or more), with more, its
/// fdatasyncs.
const HOSTS: [&str; 9] = [
    "n0101", "n0102", "n0203", "n0204", "n0301", "n0302", "n0401", "n0402", "n0501",
];
const HOST_COUNT: usize = CLUSTERS.len() * HOSTS.len();
const _: () = assert!(HOST_COUNT >= SYNCFS_MIN_FILES);
/// Name and frequency (s) of every metric.
const METRICS: [(&str, i64); 4] = [("load", 10), ("mem", 10), ("flops", 30), ("backfill", 10)];
/// The sub-levels, in snapshot order ([] is the host level).
const LEVELS: [&[&str]; 3] = [&[], &["cpu0"], &["cpu1"]];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Normal,
    Backfill,
}

struct SeriesDef {
    metric: usize,
    level: usize,
    class: Class,
}

/// The series of each host; a series id is `host * SERIES.len() + local`.
const SERIES: [SeriesDef; 8] = [
    SeriesDef {
        metric: 0,
        level: 0,
        class: Class::Normal,
    },
    SeriesDef {
        metric: 1,
        level: 0,
        class: Class::Normal,
    },
    SeriesDef {
        metric: 2,
        level: 0,
        class: Class::Normal,
    },
    SeriesDef {
        metric: 0,
        level: 1,
        class: Class::Normal,
    },
    SeriesDef {
        metric: 0,
        level: 2,
        class: Class::Normal,
    },
    SeriesDef {
        metric: 2,
        level: 1,
        class: Class::Normal,
    },
    SeriesDef {
        metric: 3,
        level: 0,
        class: Class::Backfill,
    },
    SeriesDef {
        metric: 3,
        level: 1,
        class: Class::Backfill,
    },
];
const SERIES_COUNT: usize = HOST_COUNT * SERIES.len();

fn def(sid: usize) -> &'static SeriesDef {
    &SERIES[sid % SERIES.len()]
}

fn host_of(sid: usize) -> usize {
    sid / SERIES.len()
}

fn host_names(host: usize) -> (&'static str, &'static str) {
    (CLUSTERS[host / HOSTS.len()], HOSTS[host % HOSTS.len()])
}

fn frequency(sid: usize) -> i64 {
    METRICS[def(sid).metric].1
}

fn step_time(step: i64) -> i64 {
    T0 + step * STEP
}

fn describe(sid: usize, ts: i64) -> String {
    let (cluster, host) = host_names(host_of(sid));
    let d = def(sid);
    format!(
        "{cluster}/{host} {}{:?} ts={ts} (T0{:+})",
        METRICS[d.metric].0,
        LEVELS[d.level],
        ts - T0
    )
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The value of a series at `ts`: a multiple of 1/4 below 2^20, exact in
/// float32, different for neighbouring timestamps and series.
fn value(sid: usize, ts: i64) -> f64 {
    let h = mix((sid as u64) << 48 ^ ts as u64 ^ 0x5EED);
    ((h >> 40) & 0x3F_FFFF) as f64 * 0.25
}

fn value_bits(sid: usize, ts: i64) -> u32 {
    (value(sid, ts) as f32).to_bits()
}

/// The first point of the series' grid (`T0 + k * frequency`) at or after `t`.
fn grid_at_or_after(t: i64, freq: i64) -> i64 {
    T0 + (t - T0 + freq - 1).div_euclid(freq) * freq
}

/// The last point of the grid at or before `t`.
fn grid_at_or_before(t: i64, freq: i64) -> i64 {
    T0 + (t - T0).div_euclid(freq) * freq
}

#[derive(Debug, Clone, Copy)]
struct Op {
    sid: usize,
    ts: i64,
}

#[derive(Debug, Clone, Copy)]
struct Workload {
    seed: u64,
    backfill: bool,
}

impl Workload {
    fn active(&self, sid: usize) -> bool {
        self.backfill || def(sid).class == Class::Normal
    }

    fn raw_skip(&self, sid: usize, step: i64) -> bool {
        mix(self.seed ^ (sid as u64).wrapping_mul(0x1_0000_0001) ^ (step as u64) << 8) % 50 == 0
    }

    /// Whether the 10-second series leaves its sample of `step` out, to
    /// write it after the sample of `step + 1` (out of order). Never two
    /// steps in a row.
    fn skip(&self, sid: usize, step: i64) -> bool {
        def(sid).class == Class::Normal
            && frequency(sid) == STEP
            && step >= 2
            && self.raw_skip(sid, step)
            && !self.raw_skip(sid, step - 1)
    }

    /// Whether a sample of `step` waits for the next step (no checkpoint
    /// between the two, so that the late sample is never older than a
    /// snapshot's end in the restored chain).
    fn pending_fill(&self, step: i64) -> bool {
        (0..SERIES_COUNT).any(|sid| self.active(sid) && self.skip(sid, step))
    }

    /// The samples step `step` writes, in order.
    fn ops(&self, step: i64, out: &mut Vec<Op>) {
        out.clear();
        let t = step_time(step);
        for sid in (0..SERIES_COUNT).filter(|&s| self.active(s)) {
            match def(sid).class {
                Class::Normal => {
                    let freq = frequency(sid);
                    if (t - T0) % freq == 0 && !self.skip(sid, step) {
                        out.push(Op { sid, ts: t });
                    }
                    if freq == STEP && step >= 1 && self.skip(sid, step - 1) {
                        out.push(Op { sid, ts: t - STEP });
                    }
                }
                Class::Backfill => out.push(Op {
                    sid,
                    ts: t - BACKFILL_LAG,
                }),
            }
        }
    }

    /// The step that writes the sample of `sid` at `ts`.
    fn written_at(&self, sid: usize, ts: i64) -> i64 {
        match def(sid).class {
            Class::Backfill => (ts + BACKFILL_LAG - T0) / STEP,
            Class::Normal => {
                let step = (ts - T0) / STEP;
                if self.skip(sid, step) { step + 1 } else { step }
            }
        }
    }

    /// Whether the sample is written after a later one of its series.
    fn is_late(&self, sid: usize, ts: i64) -> bool {
        def(sid).class == Class::Normal && self.skip(sid, (ts - T0) / STEP)
    }
}

fn metric_config() -> MetricConfig {
    MetricConfig::new(METRICS.iter().map(|&(name, freq)| (name, freq)))
}

fn series_of(host: usize, path: &[Vec<u8>], metric: &[u8]) -> Option<usize> {
    let level = LEVELS.iter().position(|l| {
        l.len() == path.len()
            && l.iter()
                .zip(path)
                .all(|(a, b)| a.as_bytes() == b.as_slice())
    })?;
    let metric = METRICS
        .iter()
        .position(|(name, _)| name.as_bytes() == metric)?;
    let local = SERIES
        .iter()
        .position(|d| d.level == level && d.metric == metric)?;
    Some(host * SERIES.len() + local)
}

fn host_index(cluster: &[u8], host: &[u8]) -> Option<usize> {
    let c = CLUSTERS.iter().position(|n| n.as_bytes() == cluster)?;
    let h = HOSTS.iter().position(|n| n.as_bytes() == host)?;
    Some(c * HOSTS.len() + h)
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: u64, hi_inclusive: u64) -> u64 {
        lo + self.below(hi_inclusive - lo + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Every non-NaN slot of a restored chain as (grid timestamp, float32 bits);
/// `Err` for a slot whose interval holds no point of the series' grid.
fn chain_samples(chain: &[Chunk], freq: i64) -> Vec<Result<(i64, u32), (i64, u32)>> {
    let mut out = Vec::new();
    for chunk in chain {
        for (i, v) in chunk.values.iter().enumerate() {
            if v.is_nan() {
                continue;
            }
            let lo = chunk.start + i as i64 * chunk.frequency;
            let ts = grid_at_or_after(lo, freq);
            let bits = (*v as f32).to_bits();
            if chunk.frequency == freq && ts < lo + chunk.frequency {
                out.push(Ok((ts, bits)));
            } else {
                out.push(Err((lo, bits)));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The child.
// ---------------------------------------------------------------------------

const CHILD_ROOT: &str = "CCWAL_CRASH_CHILD_ROOT";
const CHILD_SEED: &str = "CCWAL_CRASH_CHILD_SEED";
const CHILD_WORKLOAD: &str = "CCWAL_CRASH_CHILD_WORKLOAD";
const CHILD_BACKFILL: &str = "CCWAL_CRASH_CHILD_BACKFILL";
const CHILD_START: &str = "CCWAL_CRASH_CHILD_START";
const LINE_PREFIX: &str = "CRASHCHILD ";

/// One whole line to stdout with a single write(2) (atomic on a pipe), so
/// that the parent either gets it complete or not at all.
fn report(line: &str) {
    let line = format!("{LINE_PREFIX}{line}\n");
    let mut rest = line.as_bytes();
    while !rest.is_empty() {
        // SAFETY: writes bytes of a live buffer to fd 1.
        let n = unsafe { libc::write(1, rest.as_ptr().cast(), rest.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            std::process::exit(5);
        }
        rest = &rest[n as usize..];
    }
}

fn die(message: String) -> ! {
    report(&format!("error {}", message.replace('\n', " | ")));
    std::process::exit(3);
}

fn env_i64(name: &str) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| die(format!("{name} missing")))
}

/// Enters the child role when the parent's variables are set; never returns
/// then.
fn maybe_child() {
    if let Ok(root) = std::env::var(CHILD_ROOT) {
        let workload = Workload {
            seed: env_i64(CHILD_WORKLOAD) as u64,
            backfill: env_i64(CHILD_BACKFILL) != 0,
        };
        run_child(
            Path::new(&root),
            workload,
            env_i64(CHILD_START),
            env_i64(CHILD_SEED) as u64,
        );
    }
}

/// The child's memory: each series' samples by timestamp.
struct Model {
    series: Vec<BTreeMap<i64, f32>>,
}

impl Model {
    /// The model restored from the root, as a metricstore starts.
    fn restore(root: &Path) -> Model {
        let mut model = Model {
            series: vec![BTreeMap::new(); SERIES_COUNT],
        };
        if !root.exists() {
            return model;
        }
        let options = RestoreOptions {
            workers: 1,
            ..RestoreOptions::default()
        };
        let restored = restore(root, RESTORE_FROM, &metric_config(), &options)
            .unwrap_or_else(|e| die(format!("restore at start-up: {e}")));
        if let Some(e) = restored.error {
            die(format!("restore at start-up: {e}"));
        }
        for host in restored.hosts {
            if let Some(e) = host.error {
                die(format!("restore at start-up: {e}"));
            }
            let Some(h) = host_index(&host.cluster, &host.host) else {
                die("restore at start-up: unknown host".into());
            };
            for (path, level) in host.root.walk() {
                for (metric, chain) in &level.metrics {
                    let Some(sid) = series_of(h, &path, metric) else {
                        die("restore at start-up: unknown series".into());
                    };
                    for (ts, bits) in chain_samples(chain, frequency(sid)).into_iter().flatten() {
                        model.series[sid].insert(ts, f32::from_bits(bits));
                    }
                }
            }
        }
        model
    }

    fn prune_before(&mut self, from: i64) {
        for series in &mut self.series {
            *series = series.split_off(&from);
        }
    }

    /// The host's snapshot of `[from, to]`: per level and metric with data
    /// in the window, the values from the first grid point at or after
    /// `from` to the last at or before `to` (NaN where missing).
    fn snapshot(
        &self,
        host: usize,
        mut builder: SnapshotBuilder,
        from: i64,
        to: i64,
    ) -> SnapshotBuilder {
        for (level, names) in LEVELS.iter().enumerate() {
            let mut metrics = Vec::new();
            for local in (0..SERIES.len()).filter(|&l| SERIES[l].level == level) {
                let sid = host * SERIES.len() + local;
                let freq = frequency(sid);
                let (start, end) = (grid_at_or_after(from, freq), grid_at_or_before(to, freq));
                if end < start {
                    continue;
                }
                let mut values = vec![f32::NAN; ((end - start) / freq + 1) as usize];
                let mut any = false;
                for (&ts, &v) in self.series[sid].range(start..=end) {
                    if (ts - start) % freq == 0 {
                        values[((ts - start) / freq) as usize] = v;
                        any = true;
                    }
                }
                if any {
                    metrics.push((METRICS[SERIES[local].metric].0, freq, start, values));
                }
            }
            if metrics.is_empty() {
                continue;
            }
            if let Some(name) = names.first() {
                builder
                    .begin_child(name.as_bytes())
                    .unwrap_or_else(|e| die(e.to_string()));
            }
            for (name, freq, start, values) in metrics {
                builder
                    .metric(name.as_bytes(), freq, start, &values)
                    .unwrap_or_else(|e| die(e.to_string()));
            }
            if !names.is_empty() {
                builder.end_child().unwrap_or_else(|e| die(e.to_string()));
            }
        }
        builder
    }
}

/// The start of the next checkpoint window: the oldest of the hosts' last
/// snapshot ends (a host without a snapshot counts from T0), so that a
/// checkpoint that was killed half-way is covered again in full.
fn window_start(root: &Path) -> i64 {
    let mut from = i64::MAX;
    for host in 0..HOST_COUNT {
        let (cluster, name) = host_names(host);
        let dir = root.join(cluster).join(name);
        let mut last = T0;
        if let Ok(files) = storage::list_host_files(&dir) {
            for snapshot in files.snapshots {
                let bytes = std::fs::read(&snapshot.path)
                    .unwrap_or_else(|e| die(format!("read {}: {e}", snapshot.path.display())));
                let (_, to) = decode_header(&bytes)
                    .unwrap_or_else(|e| die(format!("{}: {e}", snapshot.path.display())));
                last = last.max(to);
            }
        }
        from = from.min(last);
    }
    from
}

struct Child {
    store: Store,
    model: Model,
    workload: Workload,
    rng: Rng,
    ops: Vec<Op>,
    /// Percent of steps followed by an acknowledgement.
    ack_percent: u64,
    /// The last step written.
    last: i64,
}

impl Child {
    /// Writes step `last + 1`: memory first, then the WAL (single appends
    /// or one batch); then maybe an acknowledgement.
    fn step(&mut self) {
        let step = self.last + 1;
        self.workload.ops(step, &mut self.ops);
        for op in &self.ops {
            self.model.series[op.sid].insert(op.ts, value(op.sid, op.ts) as f32);
        }
        let sample = |op: &Op| {
            let (cluster, host) = host_names(host_of(op.sid));
            let d = def(op.sid);
            (
                cluster,
                host,
                METRICS[d.metric].0,
                LEVELS[d.level],
                value(op.sid, op.ts),
            )
        };
        if self.rng.chance(50) {
            let mut batch = Batch::new();
            for op in &self.ops {
                let (c, h, m, sel, v) = sample(op);
                batch
                    .push(c.as_bytes(), h.as_bytes(), m.as_bytes(), sel, v, op.ts)
                    .unwrap_or_else(|e| die(format!("batch: {e}")));
            }
            self.store
                .append_batch(&batch)
                .unwrap_or_else(|e| die(format!("append_batch: {e}")));
        } else {
            for op in &self.ops {
                let (c, h, m, sel, v) = sample(op);
                self.store
                    .append(c.as_bytes(), h.as_bytes(), m.as_bytes(), sel, v, op.ts)
                    .unwrap_or_else(|e| die(format!("append: {e}")));
            }
        }
        self.last = step;
        if self.rng.chance(self.ack_percent) {
            self.ack();
        }
    }

    /// `sync()` or `flush()`, then `ack <n>`: every step below n is
    /// acknowledged.
    fn ack(&mut self) {
        let (kind, result) = if self.rng.chance(50) {
            ("sync", self.store.sync())
        } else {
            ("flush", self.store.flush())
        };
        result.unwrap_or_else(|e| die(format!("{kind}: {e}")));
        report(&format!("ack {} {kind}", self.last + 1));
    }
}

fn run_child(root: &Path, workload: Workload, start: i64, seed: u64) -> ! {
    let mut rng = Rng(seed);
    let model = Model::restore(root);
    let mut from = window_start(root);
    let durability = match rng.below(3) {
        0 => Durability::None,
        1 => Durability::Interval(Duration::from_millis(rng.range(1, 20))),
        _ => Durability::Always,
    };
    let mut options = StoreOptions::new(root);
    options.shards = rng.range(1, 3) as usize;
    options.durability = durability;
    options.flush_interval = Duration::from_millis(rng.range(1, 50));
    options.max_open_files = [2, 4, 64][rng.below(3) as usize];
    options.queue_capacity = [1 << 10, 16 << 10, 8 << 20][rng.below(3) as usize];
    let store = Store::open(options).unwrap_or_else(|e| die(format!("open: {e}")));
    let ack_percent = [100, 30, 10][rng.below(3) as usize];
    let mut child = Child {
        store,
        model,
        workload,
        rng,
        ops: Vec::new(),
        ack_percent,
        last: start - 1,
    };
    report(&format!("ready {start} from={from} {durability:?}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut checkpoints = 0;
    let mut target = child.rng.range(20, 60) as i64 * STEP;
    loop {
        if Instant::now() > deadline {
            die("not killed within 30 s".into());
        }
        let to = step_time(child.last);
        if to - from >= target && !workload.pending_fill(child.last) {
            checkpoints += 1;
            from = checkpoint(&mut child, checkpoints, root, from, to);
            target = child.rng.range(20, 60) as i64 * STEP;
        }
        child.step();
        if child.rng.chance(20) {
            std::thread::sleep(Duration::from_micros(child.rng.range(10, 300)));
        }
    }
}

/// One checkpoint of `[from, to]` with appends going on; returns the next
/// window's start.
fn checkpoint(child: &mut Child, n: u32, root: &Path, from: i64, to: i64) -> i64 {
    if to - from > MAX_WINDOW {
        die(format!(
            "checkpoint window {from}..{to} longer than {MAX_WINDOW} s"
        ));
    }
    let workers = child.rng.range(1, 2) as usize;
    let queue = child.rng.range(1, 4) as usize;
    report(&format!("cp-begin {n} {from} {to}"));
    let session = CheckpointSession::begin(&child.store, from, to, workers, queue)
        .unwrap_or_else(|e| die(format!("checkpoint begin: {e}")));
    report(&format!("cp-sealed {n}"));
    // Appends go on while the checkpoint runs (after `begin`, so they go to
    // a fresh current.wal, and after `to`, so they are not in the window).
    for _ in 0..child.rng.below(4) {
        child.step();
    }
    for host in 0..HOST_COUNT {
        let (cluster, name) = host_names(host);
        let snapshot = child.model.snapshot(host, session.builder(), from, to);
        session
            .add(cluster.as_bytes(), name.as_bytes(), snapshot)
            .unwrap_or_else(|e| die(format!("checkpoint add: {e}")));
        if child.rng.chance(10) {
            child.step();
        }
    }
    report(&format!("cp-finish {n}"));
    let result = session.finish();
    for host in &result.hosts {
        if !matches!(host.outcome, Outcome::Written { .. }) {
            die(format!(
                "checkpoint {n}: {}/{}: {:?}",
                String::from_utf8_lossy(&host.cluster),
                String::from_utf8_lossy(&host.host),
                host.outcome
            ));
        }
    }
    if let Some((path, e)) = result.delete_errors.first() {
        die(format!("checkpoint {n}: delete {}: {e}", path.display()));
    }
    report(&format!(
        "cp-end {n} deleted={}",
        result.segments_deleted.len()
    ));
    let horizon = to - RETENTION;
    if horizon > T0 && child.rng.chance(30) {
        report(&format!("cleanup {horizon}"));
        let cleaned = cleanup(root, horizon).unwrap_or_else(|e| die(format!("cleanup: {e}")));
        if let Some((path, e)) = cleaned.errors.first() {
            die(format!("cleanup {}: {e}", path.display()));
        }
    }
    child.model.prune_before(to);
    to
}

// ---------------------------------------------------------------------------
// The parent.
// ---------------------------------------------------------------------------

fn iterations() -> usize {
    std::env::var("CCWAL_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

fn base_seed() -> u64 {
    std::env::var("CCWAL_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

fn crash_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CCWAL_CRASH_DIR") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    let writable = tempfile::tempdir_in(shm).is_ok();
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Where the kill of one child landed, by the last checkpoint marker it
/// printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Phase {
    Outside,
    /// Between `cp-begin` and the end of `begin` (sealing).
    Sealing,
    /// After the seal: appends, snapshots built and added.
    Snapshots,
    /// In `finish`: snapshot files written and renamed, segments deleted.
    Finishing,
}

/// Per class of samples.
#[derive(Debug, Default, Clone)]
struct ClassFigures {
    /// Distinct acknowledged samples.
    acked: u64,
    /// Acknowledged samples looked for, summed over the checks.
    checks: u64,
    /// Distinct acknowledged samples missing without an excuse.
    lost: u64,
    /// ... of which in no file on disk.
    lost_not_on_disk: u64,
    /// ... of which in a WAL file on disk but not restored.
    lost_on_disk: u64,
    /// Distinct late (out-of-order) samples missing because Go's buffer
    /// rule refuses them: the later sample written before them started a
    /// new chunk in the replay. Not a durability failure.
    go_rule_refused: u64,
    /// Distinct samples restored although never acknowledged (allowed).
    restored_unacked: u64,
    examples: Vec<String>,
}

#[derive(Debug, Default)]
struct Summary {
    name: &'static str,
    seed: u64,
    iterations: usize,
    episodes: usize,
    normal: ClassFigures,
    backfill: ClassFigures,
    /// Restored values that differ from what was written (never allowed).
    wrong: u64,
    wrong_examples: Vec<String>,
    /// Children that did not die of our SIGKILL, restores with errors.
    failures: Vec<String>,
    kills: BTreeMap<Phase, u64>,
    checkpoints_completed: u64,
    /// The longest checkpoint window any child began (s).
    max_window: i64,
    cleanups: u64,
    acks: u64,
    damage_ranges: u64,
    damage_inside: Vec<String>,
    elapsed: Duration,
    kept_root: Option<PathBuf>,
}

impl Summary {
    fn kills_in_checkpoints(&self) -> u64 {
        self.kills
            .iter()
            .filter(|(p, _)| **p != Phase::Outside)
            .map(|(_, n)| n)
            .sum()
    }

    fn class_line(name: &str, c: &ClassFigures) -> String {
        format!(
            "{name}: acked={} checked={} lost={} (not on disk {}, on disk but not restored {}) \
             refused_by_go_buffer_rule={} restored_unacked={}",
            c.acked,
            c.checks,
            c.lost,
            c.lost_not_on_disk,
            c.lost_on_disk,
            c.go_rule_refused,
            c.restored_unacked
        )
    }

    fn print(&self, with_backfill: bool) {
        let phase = |p| self.kills.get(&p).copied().unwrap_or(0);
        println!(
            "crash summary [{}]: iterations={} episodes={} acknowledged_samples_checked={} lost={} wrong={} \
             kills_inside_checkpoints={} (sealing {}, snapshots {}, finishing {}) checkpoints_completed={} \
             max_window={}s cleanups={} acks={} damaged_ranges={} (not at a file's tail {}) failures={} \
             elapsed={:.1}s seed={}",
            self.name,
            self.iterations,
            self.episodes,
            self.normal.checks + self.backfill.checks,
            self.normal.lost + self.backfill.lost,
            self.wrong,
            self.kills_in_checkpoints(),
            phase(Phase::Sealing),
            phase(Phase::Snapshots),
            phase(Phase::Finishing),
            self.checkpoints_completed,
            self.max_window,
            self.cleanups,
            self.acks,
            self.damage_ranges,
            self.damage_inside.len(),
            self.failures.len(),
            self.elapsed.as_secs_f64(),
            self.seed,
        );
        println!("  {}", Self::class_line("normal", &self.normal));
        if with_backfill {
            println!("  {}", Self::class_line("backfill", &self.backfill));
        }
        for e in self
            .normal
            .examples
            .iter()
            .chain(&self.backfill.examples)
            .chain(&self.wrong_examples)
            .chain(&self.failures)
            .chain(&self.damage_inside)
            .take(12)
        {
            println!("  {e}");
        }
        if let Some(root) = &self.kept_root {
            println!("  first failing root kept at {}", root.display());
        }
    }

    fn class(&mut self, sid: usize) -> &mut ClassFigures {
        match def(sid).class {
            Class::Normal => &mut self.normal,
            Class::Backfill => &mut self.backfill,
        }
    }
}

/// What one child printed.
#[derive(Debug, Default)]
struct ChildLines {
    ready: bool,
    acked_to: Option<i64>,
    acks: u64,
    phase: Option<Phase>,
    checkpoints_completed: u64,
    cleanup_horizon: Option<i64>,
    /// Every checkpoint window begun: (from, to).
    windows: Vec<(i64, i64)>,
    errors: Vec<String>,
}

impl ChildLines {
    fn take(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        let word = words.next().unwrap_or("");
        let number = words.next().and_then(|w| w.parse::<i64>().ok());
        match word {
            "ready" => self.ready = true,
            "ack" => {
                self.acks += 1;
                self.acked_to = self.acked_to.max(number);
            }
            "cp-begin" => {
                self.phase = Some(Phase::Sealing);
                // `cp-begin <n> <from> <to>`
                let mut next = || words.next().and_then(|w| w.parse::<i64>().ok());
                if let (Some(from), Some(to)) = (next(), next()) {
                    self.windows.push((from, to));
                }
            }
            "cp-sealed" => self.phase = Some(Phase::Snapshots),
            "cp-finish" => self.phase = Some(Phase::Finishing),
            "cp-end" => {
                self.phase = Some(Phase::Outside);
                self.checkpoints_completed += 1;
            }
            "cleanup" => self.cleanup_horizon = self.cleanup_horizon.max(number),
            "error" => self.errors.push(line.to_string()),
            _ => {}
        }
    }
}

/// One root used by several children in a row.
struct Episode {
    dir: tempfile::TempDir,
    workload: Workload,
    remaining: usize,
    next_start: i64,
    /// Acknowledged samples of every child so far, per series.
    acked: Vec<BTreeSet<i64>>,
    /// Every checkpoint window begun in the episode: a snapshot file
    /// `<from>.bin` can only be from one of these.
    windows: Vec<(i64, i64)>,
    /// Normal samples at or before this are no longer required (cleanup).
    cutoff: i64,
    /// Backfilled samples before this are no longer required (cleanup).
    backfill_horizon: i64,
    /// Already counted, so that each sample counts once.
    lost: HashSet<(usize, i64)>,
    refused: HashSet<(usize, i64)>,
    wrong: HashSet<(usize, i64)>,
    failed: bool,
}

/// What a restore of the root gave back.
struct Restored {
    /// Per series: timestamp → float32 bits (any chunk).
    samples: Vec<BTreeMap<i64, u32>>,
    /// Per series: starts of chunks created by the WAL replay.
    replay_starts: Vec<BTreeSet<i64>>,
    wrong: Vec<(usize, i64, String)>,
    errors: Vec<String>,
    damage: u64,
    /// Damaged ranges that do not reach the end of their file (a torn
    /// tail after SIGKILL is expected: a write(2) larger than a page can be
    /// cut by a fatal signal; garbage followed by records is not).
    damage_inside: Vec<String>,
}

fn restore_root(root: &Path) -> Restored {
    let mut out = Restored {
        samples: vec![BTreeMap::new(); SERIES_COUNT],
        replay_starts: vec![BTreeSet::new(); SERIES_COUNT],
        wrong: Vec::new(),
        errors: Vec::new(),
        damage: 0,
        damage_inside: Vec::new(),
    };
    let options = RestoreOptions {
        workers: 1,
        ..RestoreOptions::default()
    };
    let restored = match restore(root, RESTORE_FROM, &metric_config(), &options) {
        Ok(r) => r,
        Err(e) => {
            out.errors.push(format!("restore: {e}"));
            return out;
        }
    };
    if let Some(e) = restored.error {
        out.errors.push(format!("restore: {e}"));
    }
    for host in restored.hosts {
        let name = format!(
            "{}/{}",
            String::from_utf8_lossy(&host.cluster),
            String::from_utf8_lossy(&host.host)
        );
        if let Some(e) = &host.error {
            out.errors.push(format!("restore {name}: {e}"));
        }
        out.damage += host.report.damage.len() as u64;
        for d in &host.report.damage {
            let len = std::fs::metadata(&d.file).map_or(0, |m| m.len());
            if d.offset + d.len != len {
                out.damage_inside.push(format!(
                    "{}: {} bytes at {} of {len} ({})",
                    d.file.display(),
                    d.len,
                    d.offset,
                    d.reason
                ));
            }
        }
        let Some(h) = host_index(&host.cluster, &host.host) else {
            out.errors.push(format!("restore: unknown host {name}"));
            continue;
        };
        for (path, level) in host.root.walk() {
            check_level(h, &path, level, &mut out);
        }
    }
    out
}

fn check_level(host: usize, path: &[Vec<u8>], level: &RestoredLevel, out: &mut Restored) {
    for (metric, chain) in &level.metrics {
        let Some(sid) = series_of(host, path, metric) else {
            out.wrong.push((
                usize::MAX,
                0,
                format!(
                    "unexpected series {:?} {} in host {host}",
                    path,
                    String::from_utf8_lossy(metric)
                ),
            ));
            continue;
        };
        for chunk in chain.iter().filter(|c| !c.archived) {
            out.replay_starts[sid].insert(chunk.start);
        }
        for sample in chain_samples(chain, frequency(sid)) {
            match sample {
                Ok((ts, bits)) if bits == value_bits(sid, ts) => {
                    out.samples[sid].insert(ts, bits);
                }
                Ok((ts, bits)) => out.wrong.push((
                    sid,
                    ts,
                    format!(
                        "{}: restored {} instead of {}",
                        describe(sid, ts),
                        f32::from_bits(bits),
                        value(sid, ts)
                    ),
                )),
                Err((slot, bits)) => out.wrong.push((
                    sid,
                    slot,
                    format!(
                        "{}: value {} in a slot off the series' grid",
                        describe(sid, slot),
                        f32::from_bits(bits)
                    ),
                )),
            }
        }
    }
}

/// Every (series, ts) that some file below the root holds: WAL records
/// (current.wal, sealed segments, read with resynchronisation) and
/// snapshot values.
struct OnDisk {
    wal: HashSet<(usize, i64)>,
    snapshots: HashSet<(usize, i64)>,
}

fn scan_disk(root: &Path) -> OnDisk {
    let mut disk = OnDisk {
        wal: HashSet::new(),
        snapshots: HashSet::new(),
    };
    let Ok(hosts) = storage::scan_root(root) else {
        return disk;
    };
    for host_dir in hosts {
        let Some(h) = host_index(&host_dir.cluster, &host_dir.host) else {
            continue;
        };
        let Ok(files) = storage::list_host_files(&host_dir.path) else {
            continue;
        };
        for wal_path in files.sealed.iter().chain(&files.wal) {
            let Ok(bytes) = std::fs::read(wal_path) else {
                continue;
            };
            let Ok(start) = wal::check_file_header(&bytes) else {
                continue;
            };
            for item in WalReader::new(&bytes, start, OnDamage::Resync) {
                if let WalItem::Record { record, .. } = item {
                    let path: Vec<Vec<u8>> = record.selector.iter().map(<[u8]>::to_vec).collect();
                    if let Some(sid) = series_of(h, &path, record.metric) {
                        if record.value_bits == value_bits(sid, record.ts) {
                            disk.wal.insert((sid, record.ts));
                        }
                    }
                }
            }
        }
        for snapshot in &files.snapshots {
            let Ok(bytes) = std::fs::read(&snapshot.path) else {
                continue;
            };
            if let Ok((decoded, _)) = decode_snapshot(&bytes) {
                collect_snapshot(h, &mut Vec::new(), &decoded.root, &mut disk.snapshots);
            }
        }
    }
    disk
}

fn collect_snapshot(
    host: usize,
    path: &mut Vec<Vec<u8>>,
    level: &Level<f32>,
    out: &mut HashSet<(usize, i64)>,
) {
    for metric in &level.metrics {
        if let Some(sid) = series_of(host, path, &metric.name) {
            for (i, v) in metric.values.iter().enumerate() {
                let ts = metric.start + i as i64 * metric.frequency;
                if !v.is_nan() && v.to_bits() == value_bits(sid, ts) {
                    out.insert((sid, ts));
                }
            }
        }
    }
    for child in &level.children {
        path.push(child.name.clone());
        collect_snapshot(host, path, &child.level, out);
        path.pop();
    }
}

/// Runs a child against the episode's root and kills it; returns its lines.
fn run_one(
    test_name: &str,
    episode: &Episode,
    rng: &mut Rng,
    summary: &mut Summary,
) -> Result<ChildLines, String> {
    let child_seed = rng.next();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            test_name,
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(CHILD_ROOT, episode.dir.path())
        .env(CHILD_WORKLOAD, (episode.workload.seed as i64).to_string())
        .env(
            CHILD_BACKFILL,
            (episode.workload.backfill as i64).to_string(),
        )
        .env(CHILD_START, episode.next_start.to_string())
        .env(CHILD_SEED, (child_seed as i64).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                // Only whole lines count: a line cut by the kill is ignored.
                Ok(_) if line.last() == Some(&b'\n') => {
                    let text = String::from_utf8_lossy(&line);
                    if let Some(rest) = text.trim_end().strip_prefix(LINE_PREFIX) {
                        if lines_tx.send(rest.to_string()).is_err() {
                            break;
                        }
                    }
                }
                Ok(_) => break,
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let mut got = ChildLines::default();
    let spawned = Instant::now();
    // Kill plan: after a random time, or right after the n-th checkpoint
    // began or entered `finish` (plus a short random delay), so that many
    // kills land inside checkpoints.
    if rng.chance(45) {
        let marker = if rng.chance(60) {
            "cp-begin"
        } else {
            "cp-finish"
        };
        let nth = rng.range(1, 3);
        let delay = match rng.below(4) {
            0 => Duration::ZERO,
            1 => Duration::from_micros(rng.below(200)),
            2 => Duration::from_micros(rng.below(2_000)),
            _ => Duration::from_micros(rng.below(10_000)),
        };
        let mut begun = 0;
        let give_up = spawned + Duration::from_secs(5);
        while begun < nth {
            let left = give_up.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if line.starts_with(marker) {
                        begun += 1;
                    }
                    got.take(&line);
                }
                Err(_) => break,
            }
        }
        std::thread::sleep(delay);
    } else {
        let u = rng.below(1_000_000) as f64 / 1e6;
        std::thread::sleep(Duration::from_micros((5_000.0 + 295_000.0 * u * u) as u64));
    }
    let _ = child.kill();
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    reader.join().unwrap();
    for line in lines.try_iter() {
        got.take(&line);
    }
    let stderr_text = errors.join().unwrap();
    if status.signal() != Some(libc::SIGKILL) || !got.errors.is_empty() {
        return Err(format!(
            "child did not die of SIGKILL ({status}): {:?}; stderr: {}",
            got.errors,
            stderr_text.trim()
        ));
    }
    let phase = got.phase.unwrap_or(Phase::Outside);
    *summary.kills.entry(phase).or_default() += 1;
    summary.checkpoints_completed += got.checkpoints_completed;
    let longest = got.windows.iter().map(|(from, to)| to - from).max();
    summary.max_window = summary.max_window.max(longest.unwrap_or(0));
    summary.acks += got.acks;
    if got.cleanup_horizon.is_some() {
        summary.cleanups += 1;
    }
    Ok(got)
}

fn check_episode(episode: &mut Episode, start: i64, summary: &mut Summary, iteration: usize) {
    let root = episode.dir.path();
    let restored = restore_root(root);
    summary.damage_ranges += restored.damage;
    for d in &restored.damage_inside {
        summary
            .damage_inside
            .push(format!("iteration {iteration}: {d}"));
    }
    for e in &restored.errors {
        summary.failures.push(format!("iteration {iteration}: {e}"));
        episode.failed = true;
    }
    for (sid, ts, text) in &restored.wrong {
        if episode.wrong.insert((*sid, *ts)) {
            summary.wrong += 1;
            episode.failed = true;
            if summary.wrong_examples.len() < 5 {
                summary
                    .wrong_examples
                    .push(format!("WRONG (iteration {iteration}): {text}"));
            }
        }
    }
    // Acknowledged samples missing from the restore.
    let mut missing = Vec::new();
    for sid in 0..SERIES_COUNT {
        let cutoff = match def(sid).class {
            Class::Normal => episode.cutoff,
            Class::Backfill => episode.backfill_horizon.saturating_sub(1),
        };
        let wanted = episode.acked[sid].range(cutoff.saturating_add(1)..);
        let mut checked = 0;
        for &ts in wanted {
            checked += 1;
            if !restored.samples[sid].contains_key(&ts) {
                missing.push((sid, ts));
            }
        }
        summary.class(sid).checks += checked;
    }
    if !missing.is_empty() {
        let disk = scan_disk(root);
        for (sid, ts) in missing {
            if episode.lost.contains(&(sid, ts)) || episode.refused.contains(&(sid, ts)) {
                continue;
            }
            let freq = frequency(sid);
            let refused = episode.workload.is_late(sid, ts)
                && restored.replay_starts[sid].contains(&(ts + freq - freq / 2));
            if refused {
                episode.refused.insert((sid, ts));
                summary.class(sid).go_rule_refused += 1;
                continue;
            }
            episode.lost.insert((sid, ts));
            episode.failed = true;
            let on_disk = disk.wal.contains(&(sid, ts)) || disk.snapshots.contains(&(sid, ts));
            let class = summary.class(sid);
            class.lost += 1;
            if on_disk {
                class.lost_on_disk += 1;
            } else {
                class.lost_not_on_disk += 1;
            }
            if class.examples.len() < 5 {
                class.examples.push(format!(
                    "LOST (iteration {iteration}): {} written at step {}, acknowledged; {}",
                    describe(sid, ts),
                    episode.workload.written_at(sid, ts),
                    if on_disk {
                        "in a file on disk but not restored"
                    } else {
                        "in no file on disk"
                    }
                ));
            }
        }
    }
    // Restored samples this child wrote without acknowledging them, and the
    // step the next child starts at.
    let mut max_step = episode.next_start - 1;
    for sid in 0..SERIES_COUNT {
        for &ts in restored.samples[sid].keys() {
            if def(sid).class == Class::Normal {
                max_step = max_step.max((ts - T0) / STEP);
            }
            if episode.workload.written_at(sid, ts) >= start && !episode.acked[sid].contains(&ts) {
                summary.class(sid).restored_unacked += 1;
            }
        }
    }
    episode.next_start = max_step + 1;
}

fn campaign(name: &'static str, test_name: &str, backfill: bool, iterations: usize) -> Summary {
    let seed = base_seed();
    let mut rng = Rng(seed ^ if backfill { 0xBAC4F111 } else { 0 });
    let dir = crash_dir();
    let started = Instant::now();
    let mut summary = Summary {
        name,
        seed,
        iterations,
        ..Summary::default()
    };
    let mut episode: Option<Episode> = None;
    let mut ops = Vec::new();
    for iteration in 0..iterations {
        if episode.as_ref().is_none_or(|e| e.remaining == 0) {
            finish_episode(episode.take(), &mut summary);
            summary.episodes += 1;
            episode = Some(Episode {
                dir: tempfile::Builder::new()
                    .prefix("ccwal-crash-")
                    .tempdir_in(&dir)
                    .expect("a directory for the roots"),
                workload: Workload {
                    seed: rng.next(),
                    backfill,
                },
                remaining: rng.range(1, 6) as usize,
                next_start: 0,
                acked: vec![BTreeSet::new(); SERIES_COUNT],
                windows: Vec::new(),
                cutoff: i64::MIN,
                backfill_horizon: i64::MIN,
                lost: HashSet::new(),
                refused: HashSet::new(),
                wrong: HashSet::new(),
                failed: false,
            });
        }
        let ep = episode.as_mut().unwrap();
        ep.remaining -= 1;
        let start = ep.next_start;
        let lines = match run_one(test_name, ep, &mut rng, &mut summary) {
            Ok(lines) => lines,
            Err(e) => {
                summary.failures.push(format!("iteration {iteration}: {e}"));
                ep.failed = true;
                ep.remaining = 0;
                continue;
            }
        };
        ep.windows.extend(&lines.windows);
        if let Some(horizon) = lines.cleanup_horizon {
            // Cleanup deleted snapshots numbered ≤ horizon: the windows that
            // began there.
            let deleted = ep.windows.iter().filter(|(from, _)| *from <= horizon);
            ep.backfill_horizon = ep.backfill_horizon.max(horizon);
            ep.cutoff = ep
                .cutoff
                .max(deleted.map(|(_, to)| *to).max().unwrap_or(i64::MIN));
        }
        for step in start..lines.acked_to.unwrap_or(start) {
            ep.workload.ops(step, &mut ops);
            for op in &ops {
                if ep.acked[op.sid].insert(op.ts) {
                    summary.class(op.sid).acked += 1;
                }
            }
        }
        check_episode(ep, start, &mut summary, iteration);
    }
    finish_episode(episode, &mut summary);
    summary.elapsed = started.elapsed();
    summary
}

/// Deletes the episode's root, or keeps the first failing one when
/// `CCWAL_CRASH_KEEP` is set (the roots are on tmpfs: memory).
fn finish_episode(episode: Option<Episode>, summary: &mut Summary) {
    if let Some(episode) = episode {
        let keep = std::env::var_os("CCWAL_CRASH_KEEP").is_some();
        if episode.failed && keep && summary.kept_root.is_none() {
            summary.kept_root = Some(episode.dir.keep());
        }
    }
}

#[test]
fn acknowledged_samples_survive_sigkill() {
    maybe_child();
    let summary = campaign(
        "normal",
        "acknowledged_samples_survive_sigkill",
        false,
        iterations(),
    );
    summary.print(false);
    assert!(
        summary.failures.is_empty(),
        "children or restores failed: {:#?}",
        summary.failures
    );
    assert_eq!(
        (summary.normal.lost, summary.wrong),
        (0, 0),
        "acknowledged samples lost or restored wrong (seed {}): {:#?}",
        summary.seed,
        summary
            .normal
            .examples
            .iter()
            .chain(&summary.wrong_examples)
            .collect::<Vec<_>>()
    );
    assert!(summary.normal.checks > 0, "nothing was acknowledged");
}

#[test]
fn backfill_survives_checkpoint_and_crash() {
    maybe_child();
    let summary = campaign(
        "backfill",
        "backfill_survives_checkpoint_and_crash",
        true,
        iterations(),
    );
    summary.print(true);
    assert!(
        summary.failures.is_empty(),
        "children or restores failed: {:#?}",
        summary.failures
    );
    assert_eq!(
        summary.backfill.lost,
        0,
        "backfilled samples (timestamps before the checkpoint window) acknowledged and then lost \
         after a checkpoint and SIGKILL (seed {}): {} in no file on disk, {} on disk but not \
         restored; e.g. {:#?}",
        summary.seed,
        summary.backfill.lost_not_on_disk,
        summary.backfill.lost_on_disk,
        summary.backfill.examples
    );
    assert_eq!(
        (summary.normal.lost, summary.wrong),
        (0, 0),
        "acknowledged samples lost or restored wrong (seed {}): {:#?}",
        summary.seed,
        summary
            .normal
            .examples
            .iter()
            .chain(&summary.wrong_examples)
            .collect::<Vec<_>>()
    );
    assert!(
        summary.backfill.checks > 0,
        "no backfilled sample was acknowledged"
    );
}

/// The defect that `backfill_survives_checkpoint_and_crash` finds, in its
/// smallest form and without a crash: a sample synced before a checkpoint,
/// whose timestamp is before the checkpoint's window, is in no snapshot
/// (the window does not cover it, as in Go) and only in the segment sealed
/// by `begin` — which `finish` deletes. After a restart it is gone.
#[test]
fn backfill_before_the_window_survives_a_checkpoint() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(StoreOptions::new(root.path())).unwrap();
    let host_level: &[&str] = &[];
    // Memory first (the host application's model), then the WAL.
    store
        .append(b"c", b"h", b"load", host_level, 1.0, T0)
        .unwrap();
    store
        .append(b"c", b"h", b"backfill", host_level, 2.0, T0 - BACKFILL_LAG)
        .unwrap();
    store.sync().unwrap();
    // The checkpoint of [T0, T0 + 10]: only `load` has data in the window.
    let session = CheckpointSession::begin(&store, T0, T0 + STEP, 1, 1).unwrap();
    let mut snapshot = session.builder();
    snapshot
        .metric(b"load", 10, T0, &[1.0f32, f32::NAN])
        .unwrap();
    session.add(b"c", b"h", snapshot).unwrap();
    let report = session.finish();
    store.close().unwrap();

    let restored = restore(
        root.path(),
        RESTORE_FROM,
        &metric_config(),
        &RestoreOptions::default(),
    )
    .unwrap();
    let host = &restored.hosts[0];
    let chain = host.root.metrics.get(&b"backfill"[..]);
    let samples = chain.map(|c| chain_samples(c, 10)).unwrap_or_default();
    assert_eq!(
        samples,
        vec![Ok((T0 - BACKFILL_LAG, 2.0f32.to_bits()))],
        "the backfilled sample (synced, before the window [{T0}, {}]) is not restored; \
         finish deleted {:?}; files left: {:?}",
        T0 + STEP,
        report.segments_deleted,
        std::fs::read_dir(root.path().join("c/h"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>()
    );
}
