//! The durability contract under failing system calls (ENOSPC, EIO,
//! EMFILE), proved with `tests/faultfs/faultfs.c` preloaded into a child
//! process (this binary re-executed; see `tests/common/faultfs.rs`).
//!
//! The contract:
//! - `flush` returns Ok only when every record appended before it is handed
//!   to the OS, `sync` only when every such record is on stable storage
//!   (checked with faultfs's durability oracle: file bytes fdatasync'ed and
//!   directory entries fsync'ed); otherwise an error of kind `Io` carrying
//!   the OS errno, within a bounded time (a watchdog fails a call that does
//!   not return), and never Ok later for records that were lost.
//! - Write errors (ENOSPC, EIO on write/writev, EMFILE/EIO on open, ENOSPC
//!   on mkdir) drop no record: they stay queued and are retried; once the
//!   fault is cleared, `sync` returns Ok and a restore finds every appended
//!   sample with its exact (float32) value.
//! - A failed fdatasync is not retried as if the data were safe: faultfs
//!   models Linux (the unsynced bytes are lost and a later fdatasync
//!   succeeds without bringing them back), so the engine must write them
//!   again from its own copy before a `sync` may return Ok.
//! - With the queue full because the disk keeps failing, appends get an
//!   error (`QueueFull` with `Reject`, `Timeout` with a Block timeout, `Io`
//!   for a Block without timeout, in bounded time) — never silent loss.
//! - `close` returns the first error of its final write and sync.
//! - An earlier snapshot survives a fault during a checkpoint, a snapshot
//!   reported written is durable, and nothing acknowledged is lost.
//! - `max_open_files` above RLIMIT_NOFILE is refused with
//!   `InvalidArgument`; EMFILE during operation reaches flush/sync callers
//!   and loses no record.
//!
//! Each test runs its scenarios in children, which report `@@check` lines;
//! the test fails listing every broken check of every scenario.

#[path = "common/faultfs.rs"]
mod faultfs;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ccwal::checkpoint::{CheckpointSession, Outcome};
use ccwal::engine::{Backpressure, Batch, Durability, Store, StoreOptions};
use ccwal::restore::{MetricConfig, Recovery, RestoreOptions, restore};
use ccwal::{Error, ErrorKind};
use faultfs::{ChildReport, Faultfs, Job, bounded, check, info};

/// The test that runs a child's scenario (and does nothing otherwise).
const ENTRY: &str = "child_entry_point";
/// How long a flush, sync, append, close or checkpoint step may take.
const BOUND: Duration = Duration::from_secs(10);
/// The same for the cells of the matrix (small data, short intervals).
const MATRIX_BOUND: Duration = Duration::from_secs(5);
/// After this the parent kills a child (its watchdog should have ended it).
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

const T0: i64 = 1_700_000_000;
const CLUSTER: &[u8] = b"c";
const METRICS: [&str; 2] = ["m", "n"];
const NONE: &[&[u8]] = &[];
/// Bytes of a WAL file's header (its magic).
const WAL_HEADER_LEN: u64 = 4;

// ------------------------------------------------------------------ tests

/// Runs `jobs` in children and fails with every broken check; `None` when
/// the library cannot be built (no C compiler: skipped, said on stderr).
fn run(what: &str, jobs: Vec<Job>) -> Option<Vec<(Job, ChildReport)>> {
    faultfs::run_checked(ENTRY, CHILD_TIMEOUT, what, jobs)
}

#[test]
fn child_entry_point() {
    let Some((scenario, args, root)) = faultfs::child_scenario() else {
        return;
    };
    let ctx = Ctx {
        root,
        args,
        ff: Faultfs::get(),
        bound: BOUND,
    };
    match scenario.as_str() {
        "interposition" => scenario_interposition(&ctx),
        "rules" => scenario_rules(&ctx),
        "write_errors" => scenario_write_errors(&ctx),
        "fdatasync" => scenario_fdatasync(&ctx),
        "queue_full" => scenario_queue_full(&ctx),
        "close" => scenario_close(&ctx),
        "checkpoint" => scenario_checkpoint(&ctx),
        "descriptors" => scenario_descriptors(&ctx),
        "sealed" => scenario_sealed(&ctx),
        "cell" => scenario_cell(&Ctx {
            bound: MATRIX_BOUND,
            ..ctx
        }),
        other => panic!("unknown scenario {other}"),
    }
}

/// faultfs defines every file call this test binary (ccwal and Rust's std)
/// imports, and every std and ccwal operation goes through it: counted
/// below the root, failed with the injected errno, and nothing outside the
/// root is touched.
#[test]
fn interposition_catches_every_file_call_of_std_and_ccwal() {
    let Some(library) = faultfs::library() else {
        return;
    };
    // The same check ctest runs on libccwal.so, here on this binary (ccwal
    // and Rust's std as linked into it).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/faultfs/check_symbols.sh");
    let out = std::process::Command::new("sh")
        .arg(&script)
        .arg(std::env::current_exe().unwrap())
        .arg(&library)
        .output()
        .expect("run check_symbols.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    eprint!("{text}");
    match out.status.code() {
        Some(0) | Some(77) => {}
        _ => panic!("{text}{}", String::from_utf8_lossy(&out.stderr)),
    }
    run("interposition", vec![Job::new("interposition")]);
}

/// The rule language: after, count, partial, path, several rules, op
/// lists, numeric errnos, malformed specs refused, the spec in the
/// environment at load, the root changed at run time, the oracle.
#[test]
fn faultfs_rules_behave_as_specified() {
    run(
        "faultfs rules",
        vec![Job::new("rules").env("FAULTFS", "write:ENOSPC:path=from-env")],
    );
}

/// Write errors of every kind reach flush and sync as Io errors with the
/// OS errno, lose no record, and the engine recovers once they clear.
#[test]
fn write_errors_reach_flush_and_sync_and_lose_nothing() {
    let variants: &[(&str, &str, &str)] = &[
        ("write|writev:ENOSPC", "write|writev", "ENOSPC"),
        ("write|writev:EIO", "write|writev", "EIO"),
        ("writev:ENOSPC:partial=9", "writev", "ENOSPC"),
        ("writev:EIO:partial=9;ftruncate:EIO", "writev", "EIO"),
        ("write|writev:ENOSPC:after=3", "write|writev", "ENOSPC"),
        ("open:EMFILE", "open", "EMFILE"),
        ("open:EIO:path=current.wal", "open", "EIO"),
        ("mkdir:ENOSPC", "mkdir", "ENOSPC"),
    ];
    let mut jobs = Vec::new();
    for (spec, ops, errno) in variants {
        for durability in ["none", "always"] {
            jobs.push(
                Job::new("write_errors")
                    .arg("spec", spec)
                    .arg("ops", ops)
                    .arg("errno", errno)
                    .arg("durability", durability)
                    .label(format!("{spec} durability={durability}")),
            );
        }
    }
    run("write errors", jobs);
}

/// A failed fdatasync loses the unsynced bytes (as on Linux): the engine
/// must write them again before a sync returns Ok.
#[test]
fn a_failed_fdatasync_is_not_retried_as_if_the_data_were_safe() {
    // The many- variants sync enough files at once to take the syncfs
    // path, and fail that.
    let variants = ["transient", "persistent", "interval", "directory"];
    let many = ["many-transient", "many-persistent", "many-interval"];
    let jobs = variants
        .into_iter()
        .chain(many)
        .map(|v| Job::new("fdatasync").arg("variant", v).label(v))
        .collect();
    run("failed fdatasync", jobs);
}

/// With the disk failing, a full queue refuses appends (per policy) and
/// loses nothing that was accepted.
#[test]
fn a_full_queue_refuses_appends_while_the_disk_fails() {
    let jobs = ["reject", "timeout", "block"]
        .into_iter()
        .map(|p| Job::new("queue_full").arg("policy", p).label(p))
        .collect();
    run("full queue", jobs);
}

/// `close` returns the first error of its final write and sync.
#[test]
fn close_returns_the_first_error_of_its_final_write_and_sync() {
    let jobs = ["write", "fdatasync", "clean"]
        .into_iter()
        .map(|v| Job::new("close").arg("variant", v).label(v))
        .collect();
    run("close", jobs);
}

/// A fault during a checkpoint (seal, snapshot writes, syncfs, renames,
/// deletion of sealed segments) leaves the earlier snapshot intact, every
/// snapshot reported written durable, and every sample restorable.
#[test]
fn an_earlier_snapshot_survives_a_fault_during_a_checkpoint() {
    let cases: &[(&str, &str, &[u32])] = &[
        ("rename", "EIO", &[0, 1, 3]),
        ("fdatasync", "EIO", &[0, 1]),
        ("fsync", "EIO", &[0, 2]),
        ("syncfs", "EIO", &[0, 1]),
        ("unlink", "EIO", &[0, 1]),
        ("open", "EMFILE", &[0, 3]),
        ("write|writev", "ENOSPC", &[0, 2]),
    ];
    let mut jobs = Vec::new();
    for (ops, errno, afters) in cases {
        for after in afters.iter() {
            for count in ["1", "inf"] {
                let spec = format!("{ops}:{errno}:after={after}:count={count}");
                jobs.push(
                    Job::new("checkpoint")
                        .arg("spec", &spec)
                        .arg("ops", ops)
                        .arg("errno", errno)
                        .label(spec),
                );
            }
        }
    }
    run("checkpoint faults", jobs);
}

/// Without any fault: a checkpoint session that writes no snapshot (the
/// sealed segments stay for restore to replay) and a sync afterwards — the
/// sealed records must be durable once sync returns Ok, whether their file
/// was still open at the seal or closed by the descriptor budget.
#[test]
fn sealed_segments_are_durable_once_sync_returns() {
    let jobs = [1, 1000]
        .into_iter()
        .map(|n| {
            Job::new("sealed")
                .arg("max_open_files", n)
                .label(format!("max_open_files={n}"))
        })
        .collect();
    run("sealed segments", jobs);
}

/// The descriptor budget against RLIMIT_NOFILE, and real EMFILE (every
/// descriptor taken) during operation.
#[test]
fn the_descriptor_budget_is_checked_and_emfile_loses_nothing() {
    run("descriptors", vec![Job::new("descriptors")]);
}

/// The matrix's scenario without any fault, for every durability, with
/// and without a checkpoint: every check passes (the harness and its oracle
/// find nothing wrong with a healthy disk).
#[test]
fn without_faults_every_check_passes() {
    let mut jobs = Vec::new();
    for durability in ["none", "interval", "always"] {
        for checkpoint in [false, true] {
            jobs.push(
                Job::new("cell")
                    .arg("spec", "")
                    .arg("ops", "*")
                    .arg("errno", "EIO")
                    .arg("durability", durability)
                    .arg("checkpoint", checkpoint)
                    .label(format!(
                        "no fault, durability={durability}, checkpoint={checkpoint}"
                    )),
            );
        }
    }
    run("without faults", jobs);
}

/// op × errno × successful calls before the fault × durability, with a
/// checkpoint in the middle for some cells (always for the ops only a
/// checkpoint calls).
#[test]
fn fault_matrix() {
    let Some(library) = faultfs::library() else {
        return;
    };
    let ops: &[(&str, &[u32], bool)] = &[
        ("write|writev", &[0, 2, 5], false),
        ("open", &[0, 2, 5], false),
        ("fdatasync", &[0, 2, 5], false),
        ("syncfs", &[0, 1, 2], true),
        ("rename", &[0, 1, 2], true),
        ("unlink", &[0, 1, 2], true),
    ];
    let mut jobs = Vec::new();
    for (op, afters, always_checkpoint) in ops {
        for errno in ["ENOSPC", "EIO"] {
            for (i, after) in afters.iter().enumerate() {
                for durability in ["none", "interval", "always"] {
                    let checkpoint = *always_checkpoint || i == 1;
                    // The middle write cells also leave a partial record.
                    let partial = *op == "write|writev" && i == 1;
                    let mut spec = format!("{op}:{errno}:after={after}");
                    if partial {
                        spec.push_str(":partial=7");
                    }
                    jobs.push(
                        Job::new("cell")
                            .arg("spec", &spec)
                            .arg("ops", op)
                            .arg("errno", errno)
                            .arg("durability", durability)
                            .arg("checkpoint", checkpoint)
                            .label(format!(
                                "{spec} durability={durability}{}",
                                if checkpoint { " +checkpoint" } else { "" }
                            )),
                    );
                }
            }
        }
    }
    let started = Instant::now();
    let results = faultfs::run_children(&library, ENTRY, &jobs, CHILD_TIMEOUT);
    eprintln!(
        "fault matrix: {} cells in {:?}",
        jobs.len(),
        started.elapsed()
    );
    // Every op must have failed calls in some cell, or the matrix proves
    // nothing about it.
    let mut problems = String::new();
    for (op, _, _) in ops {
        let hit = results.iter().any(|(job, report)| {
            job.args["ops"] == *op
                && report
                    .info("hits")
                    .and_then(|h| h.parse::<i64>().ok())
                    .is_some_and(|h| h > 0)
        });
        if !hit {
            problems.push_str(&format!(
                "\n  no cell made a {op} call fail: the op is untested"
            ));
        }
    }
    let (failed, text) = faultfs::failure_text(&results);
    assert!(
        failed == 0 && problems.is_empty(),
        "fault matrix: {failed} of {} cells broke the contract:{text}{problems}",
        results.len()
    );
}

// ------------------------------------------------------ the child's tools

struct Ctx {
    root: PathBuf,
    args: BTreeMap<String, String>,
    ff: &'static Faultfs,
    bound: Duration,
}

impl Ctx {
    fn arg(&self, key: &str) -> &str {
        self.args
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("the scenario needs the argument {key}"))
    }

    fn errno(&self) -> i32 {
        errno_named(self.arg("errno"))
    }

    fn durability(&self) -> Durability {
        match self.args.get("durability").map_or("none", String::as_str) {
            "none" => Durability::None,
            "interval" => Durability::Interval(Duration::from_millis(50)),
            "always" => Durability::Always,
            other => panic!("durability {other}"),
        }
    }
}

fn errno_named(name: &str) -> i32 {
    match name {
        "ENOSPC" => libc::ENOSPC,
        "EIO" => libc::EIO,
        "EMFILE" => libc::EMFILE,
        other => panic!("errno {other}"),
    }
}

fn errno_name(code: Option<i32>) -> String {
    match code {
        Some(libc::ENOSPC) => "ENOSPC".into(),
        Some(libc::EIO) => "EIO".into(),
        Some(libc::EMFILE) => "EMFILE".into(),
        Some(n) => format!("errno {n}"),
        None => "no errno".into(),
    }
}

fn describe(error: &Error) -> String {
    format!(
        "{:?} ({}): {error}",
        error.kind(),
        errno_name(error.os_code())
    )
}

fn open_store(ctx: &Ctx, configure: impl FnOnce(&mut StoreOptions)) -> Store {
    let mut options = StoreOptions::new(&ctx.root);
    options.shards = 1;
    options.flush_interval = Duration::from_millis(20);
    options.durability = ctx.durability();
    configure(&mut options);
    Store::open(options).expect("Store::open")
}

type Key = (String, String, i64);

fn key_text((host, metric, ts): &Key) -> String {
    format!("{host}/{metric}@+{}", ts - T0)
}

/// The value appended for a sample: not exact in float32, so restore must
/// give back exactly `value as f32 as f64`.
fn value_of(host: &str, metric: &str, ts: i64) -> f64 {
    let h: i64 = host.bytes().map(i64::from).sum();
    let m = if metric == "n" { 0.5 } else { 0.0 };
    (ts - T0) as f64 * 0.1 + h as f64 * 1000.0 + m + 0.01
}

/// What the host application holds: every accepted sample with the value
/// restore must give back, and each host's next timestamp.
#[derive(Default)]
struct Model {
    expected: BTreeMap<Key, f64>,
    next_ts: BTreeMap<String, i64>,
}

impl Model {
    /// Appends one sample (memory first, then the WAL, the ordering rule of
    /// checkpoint sessions); a refused sample leaves memory again.
    fn append(
        &mut self,
        ctx: &Ctx,
        store: &Store,
        host: &str,
        metric: &str,
        ts: i64,
    ) -> Result<(), Error> {
        let value = value_of(host, metric, ts);
        let key = (host.to_string(), metric.to_string(), ts);
        self.expected.insert(key.clone(), value as f32 as f64);
        let (result, _) = bounded("append", ctx.bound, || {
            store.append(CLUSTER, host.as_bytes(), metric.as_bytes(), NONE, value, ts)
        });
        if result.is_err() {
            self.expected.remove(&key);
        }
        result
    }

    /// One sample of each metric at the host's next timestamp; a refusal
    /// fails a check (the scenarios using this keep the queue far from
    /// full).
    fn tick(&mut self, ctx: &Ctx, store: &Store, host: &str) {
        let ts = *self.next_ts.entry(host.to_string()).or_insert(T0);
        self.next_ts.insert(host.to_string(), ts + 1);
        for metric in METRICS {
            if let Err(e) = self.append(ctx, store, host, metric, ts) {
                check(
                    "append is accepted while the queue has room",
                    false,
                    format!("{host}/{metric}@+{}: {}", ts - T0, describe(&e)),
                );
            }
        }
    }

    fn ticks(&mut self, ctx: &Ctx, store: &Store, hosts: &[&str], n: usize) {
        for _ in 0..n {
            for host in hosts {
                self.tick(ctx, store, host);
            }
        }
    }

    /// The samples of `host` with `from <= ts <= to`, as a snapshot.
    fn snapshot(
        &self,
        session: &CheckpointSession,
        host: &str,
        from: i64,
        to: i64,
    ) -> ccwal::checkpoint::SnapshotBuilder {
        let mut builder = session.builder();
        for metric in METRICS {
            let samples: Vec<(i64, f64)> = self
                .expected
                .range(
                    (host.to_string(), metric.to_string(), from)
                        ..=(host.to_string(), metric.to_string(), to),
                )
                .map(|((_, _, ts), v)| (*ts, *v))
                .collect();
            let Some(&(start, _)) = samples.first() else {
                continue;
            };
            let end = samples.last().unwrap().0;
            let mut values = vec![f64::NAN; (end - start + 1) as usize];
            for (ts, v) in samples {
                values[(ts - start) as usize] = v;
            }
            builder
                .metric(metric.as_bytes(), 1, start, &values)
                .unwrap();
        }
        builder
    }

    fn hosts(&self) -> Vec<String> {
        self.next_ts.keys().cloned().collect()
    }
}

/// The same directory through a path outside faultfs's root: what the
/// checks read there is never failed (nor counted) by the active rules.
fn outside_faults(root: &Path) -> PathBuf {
    Path::new("/proc/self/root").join(root.strip_prefix("/").unwrap_or(root))
}

/// Every (host, metric, ts) → value a restore of `root` gives back (read
/// past the active faults), and the errors it reports; a timestamp with two
/// different values counts as an error.
fn restored(root: &Path, strict: bool) -> Result<(BTreeMap<Key, f64>, Vec<String>), String> {
    let root = &outside_faults(root);
    let options = RestoreOptions {
        recovery: if strict {
            Recovery::Strict
        } else {
            Recovery::Salvage
        },
        workers: 1,
        ..Default::default()
    };
    let config = MetricConfig::new(METRICS.iter().map(|m| (*m, 1)));
    let restored = restore(root, 0, &config, &options).map_err(|e| e.to_string())?;
    let mut samples = BTreeMap::new();
    let mut errors: Vec<String> = restored.error.iter().map(|e| e.to_string()).collect();
    for host in restored.hosts {
        let name = String::from_utf8_lossy(&host.host).into_owned();
        if let Some(e) = host.error {
            errors.push(format!("{name}: {e}"));
        }
        for (metric, chain) in &host.root.metrics {
            let metric = String::from_utf8_lossy(metric).into_owned();
            for chunk in chain {
                for (i, v) in chunk.values.iter().enumerate() {
                    if v.is_nan() {
                        continue;
                    }
                    let key = (
                        name.clone(),
                        metric.clone(),
                        chunk.start + i as i64 * chunk.frequency,
                    );
                    if let Some(old) = samples.insert(key.clone(), *v) {
                        if old != *v {
                            errors.push(format!("{}: {old} and {v}", key_text(&key)));
                        }
                    }
                }
            }
        }
    }
    Ok((samples, errors))
}

/// None when `got` holds exactly `expected`; else what differs.
fn difference(expected: &BTreeMap<Key, f64>, got: &BTreeMap<Key, f64>) -> Option<String> {
    let missing: Vec<&Key> = expected.keys().filter(|k| !got.contains_key(*k)).collect();
    let wrong: Vec<String> = expected
        .iter()
        .filter_map(|(k, v)| {
            got.get(k)
                .filter(|g| *g != v)
                .map(|g| format!("{} = {g} (appended {v})", key_text(k)))
        })
        .collect();
    let unexpected: Vec<&Key> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
    if missing.is_empty() && wrong.is_empty() && unexpected.is_empty() {
        return None;
    }
    let some = |keys: &[&Key]| {
        keys.iter()
            .take(4)
            .map(|k| key_text(k))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "{} of {} samples missing ({}); {} with a wrong value ({}); {} never accepted ({})",
        missing.len(),
        expected.len(),
        some(&missing),
        wrong.len(),
        wrong.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
        unexpected.len(),
        some(&unexpected),
    ))
}

/// Checks that a restore of the root gives back exactly the model.
fn check_restore(name: &str, root: &Path, model: &Model, strict: bool) -> bool {
    match restored(root, strict) {
        Err(e) => check(name, false, format!("restore failed: {e}")),
        Ok((got, errors)) => {
            let diff = difference(&model.expected, &got);
            let ok = diff.is_none() && errors.is_empty();
            check(
                name,
                ok,
                format!(
                    "{}{}",
                    diff.unwrap_or_else(|| format!("all {} samples", model.expected.len())),
                    if errors.is_empty() {
                        String::new()
                    } else {
                        format!("; restore errors: {}", errors.join("; "))
                    }
                ),
            )
        }
    }
}

/// What the oracle says is not durable among the WAL files below the root
/// (current.wal, sealed segments) and the directory entries leading to
/// them.
fn not_durable(ff: &Faultfs, root: &Path) -> Vec<String> {
    let mut out = BTreeSet::new();
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let dirs = |p: &Path| -> Vec<PathBuf> {
        fs::read_dir(p)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    };
    for cluster in dirs(root) {
        for host in dirs(&cluster) {
            let Ok(entries) = fs::read_dir(&host) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name != "current.wal" && !(name.starts_with("wal-") && name.ends_with(".sealed"))
                {
                    continue;
                }
                let path = entry.path();
                // A file holding no record (a header at most) loses
                // nothing.
                if entry.metadata().map_or(0, |m| m.len()) <= WAL_HEADER_LEN {
                    continue;
                }
                match ff.unsynced_bytes(&path) {
                    Some(0) => {}
                    Some(n) => {
                        out.insert(format!("{}: {n} bytes not durable", rel(&path)));
                    }
                    None => {
                        out.insert(format!("{}: not a regular file", rel(&path)));
                    }
                }
                for p in [&path, &host, &cluster] {
                    if ff.entry_dirty(p) {
                        out.insert(format!("{}: its directory entry is not durable", rel(p)));
                    }
                }
            }
        }
    }
    out.into_iter().collect()
}

fn check_durable(name: &str, ctx: &Ctx) -> bool {
    let problems = not_durable(ctx.ff, &ctx.root);
    check(
        name,
        problems.is_empty(),
        if problems.is_empty() {
            "every WAL file and its directory entries are durable".to_string()
        } else {
            problems.join("; ")
        },
    )
}

/// Checks a flush or sync result against the contract: an error is kind Io
/// with `errno` (any errno when None); Ok means every sample appended
/// before is in the files and, for sync, durable.
fn check_result(
    ctx: &Ctx,
    step: &str,
    call: &str,
    result: &Result<(), Error>,
    errno: Option<i32>,
    model: &Model,
) -> bool {
    match result {
        Ok(()) => {
            let visible = check_restore(
                &format!("{step}: {call} Ok ⇒ every sample appended before it is in the files"),
                &ctx.root,
                model,
                false,
            );
            let durable = call != "sync"
                || check_durable(
                    &format!(
                        "{step}: sync Ok ⇒ those samples are durable (file bytes and directory entries)"
                    ),
                    ctx,
                );
            visible && durable
        }
        Err(e) => check(
            &format!(
                "{step}: a {call} error is kind Io with {}",
                errno.map_or("the OS errno".to_string(), |e| errno_name(Some(e)))
            ),
            e.kind() == ErrorKind::Io
                && errno.map_or(e.os_code().is_some(), |n| e.os_code() == Some(n)),
            describe(e),
        ),
    }
}

fn flush(ctx: &Ctx, step: &str, store: &Store) -> Result<(), Error> {
    bounded(&format!("{step}: flush"), ctx.bound, || store.flush()).0
}

fn sync(ctx: &Ctx, step: &str, store: &Store) -> Result<(), Error> {
    bounded(&format!("{step}: sync"), ctx.bound, || store.sync()).0
}

/// Clears the fault, then: sync succeeds, everything is durable and in the
/// files, close succeeds, and a restore (also as Go's strict replay does
/// it) finds every sample with its exact value.
fn recover_and_verify(ctx: &Ctx, store: &Store, model: &Model) {
    ctx.ff.clear();
    let result = sync(ctx, "after the fault cleared", store);
    if check(
        "after the fault cleared: sync succeeds",
        result.is_ok(),
        result.as_ref().err().map_or("Ok".into(), describe),
    ) {
        check_durable(
            "after the fault cleared: sync Ok ⇒ everything is durable",
            ctx,
        );
    }
    let (closed, _) = bounded("close", ctx.bound, || store.close());
    check(
        "after the fault cleared: close succeeds",
        closed.is_ok(),
        closed.as_ref().err().map_or("Ok".into(), describe),
    );
    check_restore(
        "restore finds every appended sample with its exact value",
        &ctx.root,
        model,
        false,
    );
    check_restore(
        "a strict restore (as Go replays) finds every appended sample too",
        &ctx.root,
        model,
        true,
    );
}

// --------------------------------------------------------------- scenarios

fn expect_errno<T: std::fmt::Debug>(name: &str, result: io::Result<T>, errno: i32) {
    let ok = matches!(&result, Err(e) if e.raw_os_error() == Some(errno));
    check(name, ok, format!("{result:?}"));
}

fn scenario_interposition(ctx: &Ctx) {
    let ff = ctx.ff;
    let dir = ctx.root.join("probe");
    fs::create_dir_all(&dir).unwrap();
    let file = |k: usize| dir.join(format!("f{k}"));
    let make = |k: usize| -> io::Result<Option<File>> {
        OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(file(k))
            .map(Some)
    };
    let nothing = |_: usize| -> io::Result<Option<File>> { Ok(None) };
    let mut n = 0;
    // Each step: a set-up, the std operation, and the faultfs op it must go
    // through. Run once without a fault (the op must be counted below the
    // root) and once with the op failing once (the operation must fail
    // with that errno).
    type Setup<'a> = &'a dyn Fn(usize) -> io::Result<Option<File>>;
    type Action<'a> = &'a dyn Fn(usize, Option<File>) -> io::Result<()>;
    let mut step = |name: &str, op: &str, setup: Setup, action: Action| {
        for faulty in [false, true] {
            ff.clear();
            n += 1;
            let prepared = setup(n).expect("set-up");
            let (calls, hits) = (ff.calls(op), ff.hits(op));
            if faulty {
                ff.set(&format!("{op}:EIO:count=1"));
            }
            let result = action(n, prepared);
            ff.clear();
            if faulty {
                check(
                    &format!("{name} fails with an injected EIO on {op}()"),
                    matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EIO))
                        && ff.hits(op) == hits + 1,
                    format!("{result:?}"),
                );
            } else {
                check(
                    &format!("{name} goes through {op}()"),
                    result.is_ok() && ff.calls(op) > calls,
                    format!(
                        "{result:?}; {op} calls below the root {calls} -> {}",
                        ff.calls(op)
                    ),
                );
            }
        }
    };
    step("fs::create_dir_all", "mkdir", &nothing, &|k, _| {
        fs::create_dir_all(dir.join(format!("d{k}/e")))
    });
    step("OpenOptions::open(create)", "open", &nothing, &|k, _| {
        make(k).map(drop)
    });
    step("File::open", "open", &make, &|k, _| {
        File::open(file(k)).map(drop)
    });
    step("File::write_all", "write", &make, &|_, f| {
        f.unwrap().write_all(b"abc")
    });
    step("File::write_vectored", "writev", &make, &|_, f| {
        f.unwrap()
            .write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")])
            .map(drop)
    });
    step("FileExt::write_at", "pwrite", &make, &|_, f| {
        f.unwrap().write_at(b"xy", 3).map(drop)
    });
    step("File::sync_data", "fdatasync", &make, &|_, f| {
        f.unwrap().sync_data()
    });
    step("File::sync_all", "fsync", &make, &|_, f| {
        f.unwrap().sync_all()
    });
    let open_dir = |_: usize| File::open(&dir).map(Some);
    step(
        "File::sync_all of a directory",
        "fsync",
        &open_dir,
        &|_, d| d.unwrap().sync_all(),
    );
    step("libc::syncfs", "syncfs", &open_dir, &|_, d| {
        // SAFETY: syncfs on an open descriptor.
        if unsafe { libc::syncfs(d.unwrap().as_raw_fd()) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    });
    step("File::set_len", "ftruncate", &make, &|_, f| {
        f.unwrap().set_len(1)
    });
    step("fs::rename", "rename", &make, &|k, _| {
        fs::rename(file(k), dir.join(format!("renamed{k}")))
    });
    step("fs::remove_file", "unlink", &make, &|k, _| {
        fs::remove_file(file(k))
    });
    let make_dir = |k: usize| fs::create_dir_all(dir.join(format!("t{k}/u"))).map(|()| None);
    step("fs::remove_dir", "rmdir", &make_dir, &|k, _| {
        fs::remove_dir(dir.join(format!("t{k}/u")))
    });
    step("fs::remove_dir_all", "rmdir", &make_dir, &|k, _| {
        fs::remove_dir_all(dir.join(format!("t{k}")))
    });
    let make_data = |k: usize| fs::write(file(k), b"data").map(|()| None);
    step("fs::read", "read", &make_data, &|k, _| {
        fs::read(file(k)).map(drop)
    });
    step("libc::close", "close", &make, &|_, f| {
        let fd = f.unwrap().into_raw_fd();
        // SAFETY: closes the descriptor we own.
        if unsafe { libc::close(fd) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    });

    // Nothing outside the root is touched, whatever fails inside it.
    let outside = tempfile::Builder::new()
        .prefix("ccwal-faults-outside-")
        .tempdir_in("/tmp")
        .unwrap();
    ff.set("*:EIO");
    let written = fs::write(outside.path().join("x"), b"outside")
        .and_then(|()| File::open(outside.path().join("x"))?.sync_all());
    let inside = fs::write(dir.join("inside"), b"x");
    ff.clear();
    check(
        "files outside the root are never failed (while every op inside fails)",
        written.is_ok(),
        format!("{written:?}"),
    );
    check(
        "and inside the root they are",
        inside.is_err(),
        format!("{inside:?}"),
    );

    // Another path to the same files is outside the root: checks read
    // through it while faults are active.
    fs::write(dir.join("seen"), b"x").unwrap();
    ff.set("open|read:EIO");
    let direct = fs::read(dir.join("seen"));
    let around = fs::read(outside_faults(&dir).join("seen"));
    ff.clear();
    check(
        "a file read through /proc/self/root/ROOT is outside the root",
        direct.is_err() && around.is_ok(),
        format!("direct {direct:?}, through /proc/self/root {around:?}"),
    );

    // The root can change at run time.
    ff.set_root(Some(outside.path()));
    ff.set("write:ENOSPC");
    let old_root = fs::write(dir.join("after-move"), b"x");
    let new_root = fs::write(outside.path().join("y"), b"x");
    ff.clear();
    ff.set_root(Some(&ctx.root));
    check(
        "faultfs_set_root moves the root at run time",
        old_root.is_ok() && matches!(&new_root, Err(e) if e.raw_os_error() == Some(libc::ENOSPC)),
        format!("old root {old_root:?}, new root {new_root:?}"),
    );

    // What ccwal itself calls: a store, a checkpoint and a restore below
    // the root, every call counted.
    ff.reset_counters();
    let engine_root = ctx.root.join("engine");
    let mut options = StoreOptions::new(&engine_root);
    options.shards = 1;
    options.max_open_files = 1;
    options.durability = Durability::Always;
    let store = Store::open(options).unwrap();
    for ts in 0..20 {
        for host in ["h0", "h1"] {
            store
                .append(CLUSTER, host.as_bytes(), b"m", NONE, ts as f64, T0 + ts)
                .unwrap();
        }
    }
    store.sync().unwrap();
    let session = CheckpointSession::begin(&store, T0, T0 + 19, 1, 2).unwrap();
    for host in ["h0", "h1"] {
        let mut builder = session.builder();
        builder
            .metric(b"m", 1, T0, &(0..20).map(f64::from).collect::<Vec<_>>())
            .unwrap();
        session.add(CLUSTER, host.as_bytes(), builder).unwrap();
    }
    let report = session.finish();
    assert!(
        report
            .hosts
            .iter()
            .all(|h| matches!(h.outcome, Outcome::Written { .. }))
    );
    drop(store);
    restore(
        &engine_root,
        0,
        &MetricConfig::new([("m", 1)]),
        &RestoreOptions::default(),
    )
    .unwrap();
    let mut counts = Vec::new();
    for op in [
        "open",
        "read",
        "write",
        "writev",
        "pwrite",
        "fsync",
        "fdatasync",
        "syncfs",
        "rename",
        "unlink",
        "rmdir",
        "ftruncate",
        "mkdir",
        "close",
    ] {
        counts.push(format!("{op} {}", ff.calls(op)));
    }
    info("ccwal_calls", counts.join(", "));
    for op in [
        "open",
        "write|writev",
        "fdatasync",
        "fsync",
        "syncfs",
        "rename",
        "unlink",
        "mkdir",
        "read",
        "close",
    ] {
        check(
            &format!("ccwal's store, checkpoint and restore go through {op}()"),
            ff.calls(op) > 0,
            format!("{op} calls below the root: {}", ff.calls(op)),
        );
    }
}

fn scenario_rules(ctx: &Ctx) {
    let ff = ctx.ff;
    let root = &ctx.root;
    // The spec from the environment at load: writes to paths containing
    // "from-env" fail with ENOSPC, others do not.
    expect_errno(
        "FAULTFS from the environment is active at load",
        fs::write(root.join("from-env"), b"x"),
        libc::ENOSPC,
    );
    let other = fs::write(root.join("other"), b"x");
    check(
        "a path filter spares other paths",
        other.is_ok(),
        format!("{other:?}"),
    );
    ff.clear();
    check(
        "faultfs_clear removes the rules",
        fs::write(root.join("from-env"), b"x").is_ok(),
        "",
    );

    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("a"))
        .unwrap();
    ff.reset_counters();
    ff.set("write:EIO:after=2:count=1");
    let results: Vec<bool> = (0..5).map(|_| f.write(b"x").is_ok()).collect();
    check(
        "after=2:count=1 lets two writes through, fails one, then lets all through",
        results == [true, true, false, true, true],
        format!("{results:?}"),
    );
    check(
        "faultfs_hits and faultfs_calls count failed and all calls below the root",
        ff.hits("write") == 1 && ff.calls("write") == 5 && ff.hits("*") == 1,
        format!("hits {} calls {}", ff.hits("write"), ff.calls("write")),
    );
    ff.set("write:EIO:after=1");
    let results: Vec<bool> = (0..4).map(|_| f.write(b"x").is_ok()).collect();
    check(
        "count defaults to forever",
        results == [true, false, false, false],
        format!("{results:?}"),
    );
    ff.set("write:EIO:count=1;write:ENOSPC:count=1");
    let errors: Vec<Option<i32>> = (0..3)
        .map(|_| f.write(b"x").err().and_then(|e| e.raw_os_error()))
        .collect();
    check(
        "rules are tried in order, the first that fails a call ends the search",
        errors == [Some(libc::EIO), Some(libc::ENOSPC), None],
        format!("{errors:?}"),
    );
    ff.set("write|fsync:28");
    expect_errno("op lists and numeric errnos", f.write(b"x"), libc::ENOSPC);
    expect_errno(
        "op lists and numeric errnos (2)",
        f.sync_all(),
        libc::ENOSPC,
    );

    // Partial writes: the first K bytes really land, then the call fails.
    let len = |p: &Path| fs::metadata(p).unwrap().len();
    let mut g = File::create(root.join("partial")).unwrap();
    ff.set("write:ENOSPC:partial=3:count=1");
    expect_errno(
        "a partial write fails",
        g.write(b"0123456789"),
        libc::ENOSPC,
    );
    check(
        "partial=3 writes exactly 3 bytes",
        len(&root.join("partial")) == 3,
        len(&root.join("partial")),
    );
    ff.set("writev:EIO:partial=5:count=1");
    let r = g.write_vectored(&[
        IoSlice::new(b"abcd"),
        IoSlice::new(b"efgh"),
        IoSlice::new(b"ijkl"),
    ]);
    expect_errno("a partial writev fails", r, libc::EIO);
    check(
        "partial=5 on writev writes exactly 5 more bytes across the slices",
        fs::read(root.join("partial")).unwrap() == b"012abcde",
        format!(
            "{:?}",
            String::from_utf8_lossy(&fs::read(root.join("partial")).unwrap())
        ),
    );

    // Malformed specs are refused and leave the rules as they were.
    ff.set("write:EIO");
    let refused: Vec<&str> = [
        "nope:EIO",
        "write",
        "write:EWHAT",
        "write:EIO:after=x",
        "write:EIO:bogus=1",
        "write:EIO:count=-1",
    ]
    .into_iter()
    .filter(|s| !ff.try_set(s))
    .collect();
    check(
        "malformed specs are refused",
        refused.len() == 6,
        format!("{refused:?}"),
    );
    expect_errno("a refused spec keeps the rules", f.write(b"x"), libc::EIO);
    ff.clear();

    // A failed close still closes the descriptor.
    let fd = File::create(root.join("c")).unwrap().into_raw_fd();
    ff.set("close:EIO");
    // SAFETY: closes a descriptor we own; F_GETFD checks it is gone.
    let (r, errno, still_open) = unsafe {
        let r = libc::close(fd);
        let errno = io::Error::last_os_error().raw_os_error();
        (r, errno, libc::fcntl(fd, libc::F_GETFD) != -1)
    };
    ff.clear();
    check(
        "a failed close returns -1/EIO and still closes the descriptor",
        r == -1 && errno == Some(libc::EIO) && !still_open,
        format!("close {r}, errno {errno:?}, still open {still_open}"),
    );

    // The oracle: a failed fdatasync loses the unsynced bytes for good
    // (a later fdatasync does not bring them back); cutting them off and
    // writing again does.
    let path = root.join("oracle");
    let mut h = File::create(&path).unwrap();
    h.write_all(b"0123456789").unwrap();
    check(
        "oracle: written, not synced",
        ff.unsynced_bytes(&path) == Some(10) && ff.entry_dirty(&path),
        format!("{:?} {}", ff.unsynced_bytes(&path), ff.entry_dirty(&path)),
    );
    h.sync_data().unwrap();
    File::open(root).unwrap().sync_all().unwrap();
    check(
        "oracle: fdatasync and a directory fsync make bytes and entry durable",
        ff.unsynced_bytes(&path) == Some(0) && !ff.entry_dirty(&path) && !ff.dir_dirty(root),
        format!("{:?} {}", ff.unsynced_bytes(&path), ff.entry_dirty(&path)),
    );
    h.write_all(b"abcdef").unwrap();
    ff.set("fdatasync:EIO:count=1");
    expect_errno(
        "oracle: injected fdatasync failure",
        h.sync_data(),
        libc::EIO,
    );
    h.sync_data().unwrap();
    check(
        "oracle: bytes a failed fdatasync lost stay lost after a later successful one",
        ff.unsynced_bytes(&path) == Some(6),
        format!("{:?}", ff.unsynced_bytes(&path)),
    );
    h.set_len(10).unwrap();
    h.write_all(b"ABCDEF").unwrap();
    h.sync_data().unwrap();
    check(
        "oracle: cut off and written again, they are durable",
        ff.unsynced_bytes(&path) == Some(0),
        format!("{:?}", ff.unsynced_bytes(&path)),
    );
    fs::write(root.join("via-syncfs"), b"x").unwrap();
    let d = File::open(root).unwrap();
    // SAFETY: syncfs on an open descriptor.
    unsafe { libc::syncfs(d.as_raw_fd()) };
    check(
        "oracle: syncfs makes everything durable",
        ff.unsynced_bytes(&root.join("via-syncfs")) == Some(0) && !ff.dir_dirty(root),
        format!("{:?}", ff.unsynced_bytes(&root.join("via-syncfs"))),
    );
}

/// Reports how often `ops` failed should the child end at a call that
/// hangs.
fn hits_on_hang(ops: &str) {
    let ops = ops.to_string();
    faultfs::on_hang(move || info("hits", Faultfs::get().hits(&ops)));
}

fn scenario_write_errors(ctx: &Ctx) {
    let errno = ctx.errno();
    let ops = ctx.arg("ops");
    hits_on_hang(ops);
    // One writer, one descriptor: every host switch reopens a file.
    let store = open_store(ctx, |o| o.max_open_files = 1);
    let mut model = Model::default();
    model.ticks(ctx, &store, &["h0", "h1", "h2"], 5);
    let before = sync(ctx, "before the fault", &store);
    check(
        "before the fault: sync succeeds",
        before.is_ok(),
        format!("{before:?}"),
    );

    ctx.ff.set(ctx.arg("spec"));
    // Records for the existing hosts and a new one (new directory, file).
    model.ticks(ctx, &store, &["h0", "h1", "h2", "h3"], 5);
    let mut batch = Batch::new();
    for host in ["h1", "h4"] {
        let ts = *model.next_ts.entry(host.to_string()).or_insert(T0);
        model.next_ts.insert(host.to_string(), ts + 1);
        let value = value_of(host, "m", ts);
        model
            .expected
            .insert((host.into(), "m".into(), ts), value as f32 as f64);
        batch
            .push(CLUSTER, host.as_bytes(), b"m", NONE, value, ts)
            .unwrap();
    }
    let (queued, _) = bounded("append_batch", ctx.bound, || store.append_batch(&batch));
    check(
        "append_batch is accepted while the queue has room",
        queued.is_ok(),
        format!("{queued:?}"),
    );

    let result = flush(ctx, "while the fault lasts", &store);
    check_result(
        ctx,
        "while the fault lasts",
        "flush",
        &result,
        Some(errno),
        &model,
    );
    let hits = ctx.ff.hits(ops);
    info("hits", hits);
    check(
        "the fault failed some call (the scenario tests something)",
        hits > 0,
        format!("{ops} failed {hits} times"),
    );
    let result = sync(ctx, "while the fault lasts", &store);
    check_result(
        ctx,
        "while the fault lasts",
        "sync",
        &result,
        Some(errno),
        &model,
    );
    // More records while it lasts: they queue behind the failed ones.
    model.ticks(ctx, &store, &["h0", "h3", "h5"], 3);
    let result = flush(ctx, "still failing", &store);
    check_result(ctx, "still failing", "flush", &result, Some(errno), &model);
    recover_and_verify(ctx, &store, &model);
}

fn scenario_fdatasync(ctx: &Ctx) {
    let (variant, op, hosts) = match ctx.arg("variant").strip_prefix("many-") {
        Some(variant) => (
            variant,
            "syncfs",
            (0..20).map(|h| format!("h{h}")).collect(),
        ),
        None => (
            ctx.arg("variant"),
            "fdatasync",
            vec!["h0".to_string(), "h1".to_string()],
        ),
    };
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let durability = match variant {
        "persistent" => Durability::Always,
        "interval" => Durability::Interval(Duration::from_millis(50)),
        _ => Durability::None,
    };
    let store = open_store(ctx, |o| o.durability = durability);
    let mut model = Model::default();
    if variant == "interval" {
        // Before the first background fdatasync can happen.
        ctx.ff.set(&format!("{op}:EIO:count=1"));
    }
    model.ticks(ctx, &store, &hosts, 5);
    match variant {
        "transient" | "directory" => {
            if variant == "directory" {
                // A new host: its directory entries need an fsync of the
                // directories, which fails once.
                model.ticks(ctx, &store, &["h2"], 3);
                ctx.ff.set("fsync:EIO:count=1");
            } else {
                ctx.ff.set(&format!("{op}:EIO:count=1"));
            }
            let result = sync(ctx, "one failing fdatasync", &store);
            check_result(
                ctx,
                "one failing fdatasync",
                "sync",
                &result,
                Some(libc::EIO),
                &model,
            );
            let hits = ctx.ff.hits("fsync|fdatasync|syncfs");
            info("hits", hits);
            check("the fault failed a call", hits == 1, format!("{hits}"));
            let result = sync(ctx, "the next sync", &store);
            if check(
                "the next sync succeeds (the fault was transient)",
                result.is_ok(),
                format!("{result:?}"),
            ) {
                check_durable(
                    "the next sync: Ok ⇒ durable, the lost bytes written again",
                    ctx,
                );
            }
        }
        "persistent" => {
            ctx.ff.set(&format!("{op}:EIO"));
            model.ticks(ctx, &store, &hosts, 3);
            let result = sync(ctx, "fdatasync failing", &store);
            check(
                "fdatasync failing: sync returns an error",
                result.is_err(),
                "sync returned Ok while every fdatasync fails",
            );
            check_result(
                ctx,
                "fdatasync failing",
                "sync",
                &result,
                Some(libc::EIO),
                &model,
            );
            let result = flush(ctx, "fdatasync failing", &store);
            check_result(
                ctx,
                "fdatasync failing",
                "flush",
                &result,
                Some(libc::EIO),
                &model,
            );
            model.ticks(ctx, &store, &["h1"], 3);
        }
        "interval" => {
            // The background sync fails once; the next sync must not take
            // the lost bytes for durable.
            let started = Instant::now();
            while ctx.ff.hits(op) == 0 && started.elapsed() < Duration::from_secs(3) {
                std::thread::sleep(Duration::from_millis(10));
            }
            let hits = ctx.ff.hits(op);
            info("hits", hits);
            check(
                "the interval's fdatasync failed once",
                hits == 1,
                format!("{hits}"),
            );
            let result = sync(ctx, "after a failed background fdatasync", &store);
            check_result(
                ctx,
                "after a failed background fdatasync",
                "sync",
                &result,
                Some(libc::EIO),
                &model,
            );
        }
        other => panic!("variant {other}"),
    }
    recover_and_verify(ctx, &store, &model);
}

fn scenario_queue_full(ctx: &Ctx) {
    let policy = ctx.arg("policy");
    let timeout = Duration::from_millis(200);
    let capacity = 4096;
    let store = open_store(ctx, |o| {
        o.queue_capacity = capacity;
        o.backpressure = match policy {
            "reject" => Backpressure::Reject,
            "timeout" => Backpressure::Block {
                timeout: Some(timeout),
            },
            _ => Backpressure::Block { timeout: None },
        };
    });
    let mut model = Model::default();
    model.ticks(ctx, &store, &["h0"], 5);
    let before = sync(ctx, "before the fault", &store);
    check(
        "before the fault: sync succeeds",
        before.is_ok(),
        format!("{before:?}"),
    );

    ctx.ff.set("write|writev:ENOSPC");
    // First the writer meets the failing disk, then the appends come.
    model.tick(ctx, &store, "h0");
    let started = Instant::now();
    while ctx.ff.hits("write|writev") == 0 && started.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(5));
    }
    check(
        "the writer meets the failing disk",
        ctx.ff.hits("write|writev") > 0,
        "no write failed within 3 s",
    );
    let mut accepted = 0;
    let mut refused: Vec<(Error, Duration)> = Vec::new();
    let appends = 2000;
    for i in 0..appends {
        let ts = T0 + 100 + i;
        let host = "h0";
        let value = value_of(host, "m", ts);
        let key = (host.to_string(), "m".to_string(), ts);
        model.expected.insert(key.clone(), value as f32 as f64);
        let (result, took) = bounded("append while the disk fails", ctx.bound, || {
            store.append(CLUSTER, host.as_bytes(), b"m", NONE, value, ts)
        });
        match result {
            Ok(()) => accepted += 1,
            Err(e) => {
                model.expected.remove(&key);
                refused.push((e, took));
                if policy == "block" || refused.len() >= 3 {
                    break;
                }
            }
        }
    }
    let want = match policy {
        "reject" => "QueueFull",
        "timeout" => "Timeout",
        _ => "Io (ENOSPC)",
    };
    check(
        &format!("with the disk failing, an append is refused ({want}) once the queue is full"),
        !refused.is_empty(),
        format!(
            "all {accepted} appends (~{} KiB, {}× the queue) were accepted while every write failed",
            accepted * 32 / 1024,
            accepted * 32 / capacity
        ),
    );
    for (error, took) in &refused {
        let ok = match policy {
            "reject" => error.kind() == ErrorKind::QueueFull,
            "timeout" => error.kind() == ErrorKind::Timeout && *took >= timeout,
            _ => error.kind() == ErrorKind::Io && error.os_code() == Some(libc::ENOSPC),
        };
        check(
            &format!("a refused append fails with {want}"),
            ok,
            format!("{} after {took:?}", describe(error)),
        );
    }
    if policy == "reject" && !refused.is_empty() {
        // A batch is refused whole.
        let mut batch = Batch::new();
        for i in 0..20 {
            batch
                .push(CLUSTER, b"h1", b"m", NONE, 1.0, T0 + 10_000 + i)
                .unwrap();
        }
        let (result, _) = bounded("append_batch while the queue is full", ctx.bound, || {
            store.append_batch(&batch)
        });
        check(
            "a batch is refused whole with QueueFull while the queue is full",
            matches!(&result, Err(e) if e.kind() == ErrorKind::QueueFull),
            format!("{result:?}"),
        );
        if result.is_ok() {
            for i in 0..20 {
                model
                    .expected
                    .insert(("h1".into(), "m".into(), T0 + 10_000 + i), 1.0);
            }
        }
    }
    info("accepted", accepted);
    // What was accepted is kept: restore gives back exactly that.
    recover_and_verify(ctx, &store, &model);
}

fn scenario_close(ctx: &Ctx) {
    let variant = ctx.arg("variant");
    let durability = match variant {
        // No background sync before close.
        "fdatasync" => Durability::Interval(Duration::from_secs(60)),
        "clean" => Durability::Always,
        _ => Durability::None,
    };
    let store = open_store(ctx, |o| o.durability = durability);
    let mut model = Model::default();
    model.ticks(ctx, &store, &["h0", "h1"], 5);
    let before = sync(ctx, "before the fault", &store);
    check(
        "before the fault: sync succeeds",
        before.is_ok(),
        format!("{before:?}"),
    );
    let acknowledged = model.expected.clone();
    match variant {
        "write" => {
            ctx.ff.set("write|writev:ENOSPC");
            model.ticks(ctx, &store, &["h0", "h1"], 3);
            let (result, _) = bounded("close", ctx.bound, || store.close());
            check(
                "close returns the final write's error (Io, ENOSPC)",
                matches!(&result, Err(e) if e.kind() == ErrorKind::Io && e.os_code() == Some(libc::ENOSPC)),
                result.as_ref().err().map_or(
                    "close returned Ok although its final write failed".into(),
                    describe,
                ),
            );
        }
        "fdatasync" => {
            model.ticks(ctx, &store, &["h0", "h1"], 3);
            let flushed = flush(ctx, "before close", &store);
            check(
                "before close: flush succeeds",
                flushed.is_ok(),
                format!("{flushed:?}"),
            );
            ctx.ff.set("fdatasync:EIO");
            let (result, _) = bounded("close", ctx.bound, || store.close());
            check(
                "close returns the final sync's error (Io, EIO)",
                matches!(&result, Err(e) if e.kind() == ErrorKind::Io && e.os_code() == Some(libc::EIO)),
                result.as_ref().err().map_or(
                    "close returned Ok although its final fdatasync failed".into(),
                    describe,
                ),
            );
        }
        _ => {
            model.ticks(ctx, &store, &["h0", "h1"], 3);
            let (result, _) = bounded("close", ctx.bound, || store.close());
            check(
                "close without a fault succeeds",
                result.is_ok(),
                format!("{result:?}"),
            );
            check_durable("close Ok ⇒ everything is durable (durability always)", ctx);
        }
    }
    ctx.ff.clear();
    // What a successful sync acknowledged survives the failed close.
    match restored(&ctx.root, false) {
        Ok((got, _)) => {
            let lost: Vec<String> = acknowledged
                .keys()
                .filter(|k| !got.contains_key(*k))
                .take(4)
                .map(key_text)
                .collect();
            check(
                "every sample a sync acknowledged is restored after close",
                lost.is_empty(),
                format!("lost: {lost:?}"),
            );
        }
        Err(e) => {
            check("restore after close", false, e);
        }
    }
    if variant == "clean" {
        check_restore(
            "close without a fault: restore finds every sample",
            &ctx.root,
            &model,
            false,
        );
    }
}

/// Runs one checkpoint of `[from, to]` with a snapshot of every host's
/// samples in that window; checks that each step returns in bounded time,
/// errors are Io with `errno`, and snapshots reported written are durable.
/// Returns the report when the session got to finish.
fn checkpoint(
    ctx: &Ctx,
    step: &str,
    store: &Store,
    model: &Model,
    from: i64,
    to: i64,
    errno: i32,
) -> Option<ccwal::checkpoint::CheckpointReport> {
    let (session, _) = bounded(
        &format!("{step}: CheckpointSession::begin"),
        ctx.bound,
        || CheckpointSession::begin(store, from, to, 1, 4),
    );
    let session = match session {
        Ok(session) => session,
        Err(e) => {
            check(
                &format!(
                    "{step}: a failed begin is kind Io with {}",
                    errno_name(Some(errno))
                ),
                e.kind() == ErrorKind::Io && e.os_code() == Some(errno),
                describe(&e),
            );
            return None;
        }
    };
    for host in model.hosts() {
        let builder = model.snapshot(&session, &host, from, to);
        let (added, _) = bounded(&format!("{step}: add"), ctx.bound, || {
            session.add(CLUSTER, host.as_bytes(), builder)
        });
        check(
            &format!("{step}: add is accepted"),
            added.is_ok(),
            format!("{added:?}"),
        );
    }
    let (report, _) = bounded(&format!("{step}: finish"), ctx.bound, || session.finish());
    let mut outcomes = Vec::new();
    for host in &report.hosts {
        let name = String::from_utf8_lossy(&host.host).into_owned();
        match &host.outcome {
            Outcome::Written { path, .. } => {
                outcomes.push(format!("{name} written"));
                let unsynced = ctx.ff.unsynced_bytes(path);
                let entry = ctx.ff.entry_dirty(path);
                check(
                    &format!("{step}: a snapshot reported written is durable"),
                    unsynced == Some(0) && !entry,
                    format!("{name}: unsynced bytes {unsynced:?}, entry pending {entry}"),
                );
            }
            Outcome::Empty => outcomes.push(format!("{name} empty")),
            Outcome::Failed(e) => {
                outcomes.push(format!("{name} failed: {}", describe(e)));
                check(
                    &format!(
                        "{step}: a failed snapshot is kind Io with {}",
                        errno_name(Some(errno))
                    ),
                    e.kind() == ErrorKind::Io && e.os_code() == Some(errno),
                    describe(e),
                );
            }
        }
    }
    info(&format!("{step}_outcomes"), outcomes.join("; "));
    Some(report)
}

fn scenario_checkpoint(ctx: &Ctx) {
    let errno = ctx.errno();
    let ops = ctx.arg("ops");
    hits_on_hang(ops);
    let store = open_store(ctx, |o| o.shards = 2);
    let mut model = Model::default();
    let all = ["h0", "h1", "h2"];
    model.ticks(ctx, &store, &all, 10); // ts +0..+9
    let synced = sync(ctx, "before the checkpoints", &store);
    check(
        "before the checkpoints: sync succeeds",
        synced.is_ok(),
        format!("{synced:?}"),
    );
    // The first checkpoint, without a fault: every host written.
    let first = checkpoint(ctx, "first checkpoint", &store, &model, T0, T0 + 9, errno);
    let written = first.as_ref().is_some_and(|r| {
        r.hosts.len() == all.len()
            && r.hosts
                .iter()
                .all(|h| matches!(h.outcome, Outcome::Written { .. }))
    });
    check(
        "the first checkpoint (no fault) writes every host",
        written,
        "",
    );
    let snapshot_path = |host: &str| ctx.root.join("c").join(host).join(format!("{T0}.bin"));
    let earlier: BTreeMap<&str, Vec<u8>> = all
        .iter()
        .map(|h| (*h, fs::read(snapshot_path(h)).unwrap_or_default()))
        .collect();
    model.ticks(ctx, &store, &all, 5); // +10..+14
    let synced = sync(ctx, "between the checkpoints", &store);
    check(
        "between the checkpoints: sync succeeds",
        synced.is_ok(),
        format!("{synced:?}"),
    );
    model.ticks(ctx, &store, &all, 5); // +15..+19, not synced: the seal syncs them

    ctx.ff.set(ctx.arg("spec"));
    checkpoint(
        ctx,
        "checkpoint under the fault",
        &store,
        &model,
        T0 + 10,
        T0 + 19,
        errno,
    );
    model.ticks(ctx, &store, &all, 5); // +20..+24, while the fault lasts
    let step = "after the checkpoint, the fault still on";
    let result = flush(ctx, step, &store);
    check_result(ctx, step, "flush", &result, Some(errno), &model);
    let hits = ctx.ff.hits(ops);
    info("hits", hits);
    check(
        "the fault failed some call (the scenario tests something)",
        hits > 0,
        format!("{ops} failed {hits} times"),
    );
    ctx.ff.clear();

    for host in &all {
        let now = fs::read(snapshot_path(host)).unwrap_or_default();
        check(
            "the earlier snapshot survives the failed checkpoint unchanged",
            !earlier[host].is_empty() && now == earlier[host],
            format!(
                "{host}: {} bytes before, {} now",
                earlier[host].len(),
                now.len()
            ),
        );
    }
    recover_and_verify(ctx, &store, &model);
}

fn scenario_sealed(ctx: &Ctx) {
    let budget: usize = ctx.arg("max_open_files").parse().unwrap();
    let store = open_store(ctx, |o| o.max_open_files = budget);
    let mut model = Model::default();
    let all = ["h0", "h1", "h2"];
    model.ticks(ctx, &store, &all, 5);
    // Written (so that begin finds the hosts' files), not synced.
    let flushed = flush(ctx, "before the checkpoint", &store);
    check(
        "before the checkpoint: flush succeeds",
        flushed.is_ok(),
        format!("{flushed:?}"),
    );
    let (session, _) = bounded("CheckpointSession::begin", ctx.bound, || {
        CheckpointSession::begin(&store, T0, T0 + 4, 1, 1)
    });
    match session {
        Ok(session) => {
            let (report, _) = bounded("finish", ctx.bound, || session.finish());
            info("segments_deleted", report.segments_deleted.len());
        }
        Err(e) => {
            check("begin succeeds without a fault", false, describe(&e));
        }
    }
    model.ticks(ctx, &store, &all, 2);
    let result = sync(ctx, "after a checkpoint without snapshots", &store);
    check(
        "after a checkpoint without snapshots: sync succeeds",
        result.is_ok(),
        format!("{result:?}"),
    );
    check_result(
        ctx,
        "after a checkpoint without snapshots",
        "sync",
        &result,
        None,
        &model,
    );
    recover_and_verify(ctx, &store, &model);
}

fn scenario_descriptors(ctx: &Ctx) {
    let limit: libc::rlim_t = 64;
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl), 0);
        rl.rlim_cur = limit;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &rl), 0);
    }
    for budget in [limit as usize + 1, 1000] {
        let mut options = StoreOptions::new(&ctx.root);
        options.max_open_files = budget;
        let result = Store::open(options);
        check(
            "max_open_files above RLIMIT_NOFILE is refused at open with InvalidArgument",
            matches!(&result, Err(e) if e.kind() == ErrorKind::InvalidArgument),
            format!(
                "max_open_files {budget}, soft limit {limit}: {}",
                result.as_ref().err().map_or("opened".into(), describe)
            ),
        );
        if let Ok(store) = result {
            drop(store);
        }
    }
    let store = open_store(ctx, |o| o.max_open_files = 16);
    let mut model = Model::default();
    model.ticks(ctx, &store, &["h0", "h1", "h2", "h3"], 5);
    let synced = sync(ctx, "before the descriptors run out", &store);
    check(
        "before the descriptors run out: sync succeeds",
        synced.is_ok(),
        format!("{synced:?}"),
    );
    // A store with files of its own open makes room by closing some of them
    // (and then succeeds); one that has none open cannot, so the EMFILE
    // must reach the caller.
    let closed = store.close();
    check(
        "a clean close succeeds",
        closed.is_ok(),
        format!("{closed:?}"),
    );
    let store = open_store(ctx, |o| o.max_open_files = 16);

    // Take every descriptor left.
    let mut hog = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => hog.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                break;
            }
        }
    }
    info("descriptors_taken", hog.len());
    // New hosts need new files (and directories to fsync).
    model.ticks(ctx, &store, &["h4", "h5", "h0"], 3);
    // Checking an Ok takes descriptors (a restore): the limit is raised
    // for the check only (an engine retrying meanwhile may make the check
    // lenient, never wrongly failing).
    let set_limit = |soft: libc::rlim_t| {
        let rl = libc::rlimit {
            rlim_cur: soft,
            rlim_max: rl.rlim_max,
        };
        // SAFETY: setrlimit with a valid struct.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) }, 0);
    };
    let result = flush(ctx, "no descriptor left", &store);
    set_limit(limit + 64);
    check_result(
        ctx,
        "no descriptor left",
        "flush",
        &result,
        Some(libc::EMFILE),
        &model,
    );
    set_limit(limit);
    let result = sync(ctx, "no descriptor left", &store);
    set_limit(limit + 64);
    check_result(
        ctx,
        "no descriptor left",
        "sync",
        &result,
        Some(libc::EMFILE),
        &model,
    );
    set_limit(limit);
    check(
        "with no descriptor left, flush or sync reports EMFILE",
        matches!(&result, Err(e) if e.os_code() == Some(libc::EMFILE)),
        format!("{result:?}"),
    );
    drop(hog);
    recover_and_verify(ctx, &store, &model);
}

fn scenario_cell(ctx: &Ctx) {
    let errno = ctx.errno();
    let ops = ctx.arg("ops");
    let with_checkpoint = ctx.arg("checkpoint") == "true";
    hits_on_hang(ops);
    // Two writers with one descriptor each: files are reopened often.
    let store = open_store(ctx, |o| {
        o.shards = 2;
        o.max_open_files = 2;
    });
    let mut model = Model::default();
    let mut hosts: Vec<String> = (0..3).map(|h| format!("h{h}")).collect();
    for _ in 0..5 {
        for host in &hosts {
            model.tick(ctx, &store, host);
        }
    }
    let synced = sync(ctx, "before the fault", &store);
    check(
        "before the fault: sync succeeds",
        synced.is_ok(),
        format!("{synced:?}"),
    );
    ctx.ff.set(ctx.arg("spec"));
    for round in 0..4 {
        // A new host each round: a new directory and file.
        hosts.push(format!("h{}", hosts.len()));
        for _ in 0..3 {
            for host in &hosts {
                model.tick(ctx, &store, host);
            }
        }
        let step = format!("round {round}");
        if with_checkpoint && round == 1 {
            let to = model.next_ts.values().max().copied().unwrap_or(T0) - 1;
            checkpoint(
                ctx,
                &format!("{step}: checkpoint"),
                &store,
                &model,
                T0,
                to,
                errno,
            );
        }
        let result = flush(ctx, &step, &store);
        check_result(ctx, &step, "flush", &result, Some(errno), &model);
        let result = sync(ctx, &step, &store);
        check_result(ctx, &step, "sync", &result, Some(errno), &model);
        info("hits", ctx.ff.hits(ops));
    }
    recover_and_verify(ctx, &store, &model);
}
