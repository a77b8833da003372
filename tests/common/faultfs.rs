//! The Rust side of `tests/faultfs/faultfs.c`, an LD_PRELOAD library that
//! makes file system calls below a root fail on demand.
//!
//! A test cannot preload a library into itself, so a test re-executes its
//! own binary as a child with `LD_PRELOAD` set, selecting a scenario
//! through the environment ([`run_child`]); the child's dispatching test
//! calls [`child_scenario`] and runs it. The child reports what it observed
//! as `@@check` lines ([`check`]), every blocking call runs under a
//! watchdog ([`bounded`]) that fails the check and ends the child when the
//! call does not return in time, and the parent asserts on the collected
//! checks ([`assert_children`]).
//!
//! Parent side: [`library`], [`run_child`], [`run_children`],
//! [`assert_children`]. Child side: [`child_scenario`], [`Faultfs`],
//! [`check`], [`info`], [`bounded`].

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_char, c_int, c_long, c_longlong};
use std::fmt::Display;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The environment variables a child reads.
const SCENARIO_VAR: &str = "CCWAL_FAULTS_SCENARIO";
const ARGS_VAR: &str = "CCWAL_FAULTS_ARGS";
const ROOT_VAR: &str = "FAULTFS_ROOT";

/// Exit code of a child whose watchdog fired.
pub const HANG_EXIT: i32 = 70;

// ---------------------------------------------------------------- building

/// Compiles `tests/faultfs/faultfs.c` into the cargo target directory once
/// (again when the source is newer) and returns the library's path; `None`
/// (after saying why on stderr) only when there is no C compiler. A failing
/// compilation panics.
pub fn library() -> Option<PathBuf> {
    static LIBRARY: OnceLock<Option<PathBuf>> = OnceLock::new();
    LIBRARY.get_or_init(build).clone()
}

fn build() -> Option<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/faultfs/faultfs.c");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("faultfs");
    std::fs::create_dir_all(&dir).expect("create the faultfs build directory");
    let library = dir.join("libfaultfs.so");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(built), Some(written)) = (modified(&library), modified(&source)) {
        if built >= written {
            return Some(library);
        }
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    // Several test binaries may build at once: each into its own file,
    // renamed into place.
    let tmp = dir.join(format!("libfaultfs.so.{}.tmp", std::process::id()));
    let output = Command::new(&cc)
        .args([
            "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", "-o",
        ])
        .arg(&tmp)
        .arg(&source)
        .args(["-ldl", "-lpthread"])
        .output();
    match output {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "SKIPPED: no C compiler ({cc}: {e}); the fault-injection tests need one to build {}",
                source.display()
            );
            None
        }
        Err(e) => panic!("running {cc}: {e}"),
        Ok(out) if !out.status.success() => panic!(
            "compiling {} failed:\n{}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
        Ok(_) => {
            std::fs::rename(&tmp, &library).expect("move libfaultfs.so into place");
            Some(library)
        }
    }
}

// ------------------------------------------------------------ parent side

/// One check a child reported.
#[derive(Debug, Clone)]
pub struct Check {
    pub ok: bool,
    pub name: String,
    pub detail: String,
}

/// What a child did.
#[derive(Debug, Clone, Default)]
pub struct ChildReport {
    pub checks: Vec<Check>,
    pub infos: Vec<String>,
    /// The exit code (None: killed by a signal or by the parent's timeout).
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stderr: String,
    pub elapsed: Duration,
}

impl ChildReport {
    /// Every failed check, and an abnormal end, as one line each.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        if self.timed_out {
            out.push(format!(
                "the child did not finish within {:?} and was killed",
                self.elapsed
            ));
        } else if self.code == Some(HANG_EXIT) {
            out.push("(the child stopped at the call that hung)".to_string());
        } else if self.code != Some(0) {
            let tail: Vec<&str> = self.stderr.lines().rev().take(12).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            out.push(format!(
                "the child ended abnormally (exit {:?}); stderr ends with:\n      {}",
                self.code,
                tail.join("\n      ")
            ));
        }
        if self.checks.is_empty() && out.is_empty() {
            out.push("the child reported no check at all".to_string());
        }
        out
    }

    /// The value of the last `@@info key=value` line with this key.
    pub fn info(&self, key: &str) -> Option<&str> {
        self.infos
            .iter()
            .rev()
            .find_map(|i| i.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }
}

/// A scenario for a child: its name (dispatched by the test binary's child
/// entry point) and its arguments.
#[derive(Debug, Clone)]
pub struct Job {
    pub label: String,
    pub scenario: String,
    pub args: BTreeMap<String, String>,
    /// More environment variables for the child (e.g. `FAULTFS`).
    pub env: Vec<(String, String)>,
}

impl Job {
    pub fn new(scenario: &str) -> Job {
        Job {
            label: scenario.to_string(),
            scenario: scenario.to_string(),
            args: BTreeMap::new(),
            env: Vec::new(),
        }
    }

    pub fn env(mut self, key: &str, value: impl Display) -> Job {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn arg(mut self, key: &str, value: impl Display) -> Job {
        self.args.insert(key.to_string(), value.to_string());
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Job {
        self.label = label.into();
        self
    }
}

/// Children running at once across every test of the binary (the machine
/// has few cores; children mostly wait on the disk and on intervals).
const MAX_CHILDREN: usize = 4;

fn acquire_slot() -> impl Drop {
    static SLOTS: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());
    struct Slot;
    impl Drop for Slot {
        fn drop(&mut self) {
            *SLOTS.0.lock().unwrap() -= 1;
            SLOTS.1.notify_one();
        }
    }
    let mut used = SLOTS.0.lock().unwrap();
    while *used >= MAX_CHILDREN {
        used = SLOTS.1.wait(used).unwrap();
    }
    *used += 1;
    Slot
}

/// Runs `job` in a child: this test binary again, only `entry` (the name of
/// the test that dispatches scenarios), with the library preloaded and
/// `FAULTFS_ROOT` set to a fresh directory under /tmp, which the child gets
/// as its root. Kills the child after `timeout`.
pub fn run_child(library: &Path, entry: &str, job: &Job, timeout: Duration) -> ChildReport {
    let _slot = acquire_slot();
    let root = tempfile::Builder::new()
        .prefix("ccwal-faults-")
        .tempdir_in("/tmp")
        .expect("a temporary directory under /tmp");
    let args: String = job.args.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", entry, "--nocapture", "--test-threads=1", "-q"])
        .env(SCENARIO_VAR, &job.scenario)
        .env(ARGS_VAR, args)
        .env(ROOT_VAR, root.path())
        .env("LD_PRELOAD", library)
        .env("RUST_BACKTRACE", "1")
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut report = ChildReport::default();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break Some(status);
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            report.timed_out = true;
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    report.elapsed = started.elapsed();
    report.code = status.and_then(|s| s.code());
    report.stderr = err_reader.join().unwrap_or_default();
    for line in out_reader.join().unwrap_or_default() {
        if let Some(rest) = line.strip_prefix("@@check\t") {
            let mut parts = rest.splitn(3, '\t');
            let (ok, name, detail) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            report.checks.push(Check {
                ok: ok == "ok",
                name: name.to_string(),
                detail: detail.to_string(),
            });
        } else if let Some(rest) = line.strip_prefix("@@info\t") {
            report.infos.push(rest.to_string());
        }
    }
    report
}

/// Runs the jobs in parallel children (at most [`MAX_CHILDREN`] at once);
/// reports in the order of `jobs`.
pub fn run_children(
    library: &Path,
    entry: &str,
    jobs: &[Job],
    timeout: Duration,
) -> Vec<(Job, ChildReport)> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..MAX_CHILDREN.min(jobs.len()) {
            scope.spawn(|| {
                loop {
                    let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(job) = jobs.get(at) else { break };
                    let report = run_child(library, entry, job, timeout);
                    results.lock().unwrap().push((at, report));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(at, _)| *at);
    results
        .into_iter()
        .map(|(at, report)| (jobs[at].clone(), report))
        .collect()
}

/// Panics with every failure of every child, grouped by child, when there
/// is any.
pub fn assert_children(what: &str, results: &[(Job, ChildReport)]) {
    let (failed, text) = failure_text(results);
    assert!(
        failed == 0,
        "{what}: {failed} of {} scenarios broke the contract:{text}",
        results.len()
    );
}

/// How many children failed, and every failure grouped by child.
pub fn failure_text(results: &[(Job, ChildReport)]) -> (usize, String) {
    let mut text = String::new();
    let mut failed = 0;
    for (job, report) in results {
        let failures = report.failures();
        if failures.is_empty() {
            continue;
        }
        failed += 1;
        text.push_str(&format!("\n  [{}]\n", job.label));
        for f in failures {
            text.push_str(&format!("    - {f}\n"));
        }
    }
    (failed, text)
}

/// Runs `jobs` as children of the test `entry` and asserts that none broke
/// the contract; `None` (said on stderr) when faultfs cannot be built here.
pub fn run_checked(
    entry: &str,
    timeout: Duration,
    what: &str,
    jobs: Vec<Job>,
) -> Option<Vec<(Job, ChildReport)>> {
    let library = library()?;
    let results = run_children(&library, entry, &jobs, timeout);
    assert_children(what, &results);
    Some(results)
}

/// One job of `scenario` per (ops, errno) pair, after a few good calls,
/// failing once and for good: the fault matrix of a scenario.
pub fn fault_matrix(scenario: &str, faults: &[(&str, &[&str])]) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (ops, errnos) in faults {
        for errno in *errnos {
            for after in [0, 1, 2, 4, 8] {
                for count in ["1", "inf"] {
                    let spec = format!("{ops}:{errno}:after={after}:count={count}");
                    jobs.push(Job::new(scenario).arg("spec", &spec).label(spec));
                }
            }
        }
    }
    jobs
}

/// One job of `scenario` per call its fault-free `control` run made (its
/// `calls` info): a crash after call N fails every file call from the
/// N+1-th on.
pub fn crash_after_each_call(scenario: &str, control: &ChildReport) -> Vec<Job> {
    let calls: u64 = control
        .info("calls")
        .and_then(|c| c.parse().ok())
        .expect("the control run reports its calls");
    assert!(calls > 10, "{calls} calls");
    (0..=calls)
        .map(|n| {
            let spec = format!("*:EIO:after={n}:count=inf");
            Job::new(scenario)
                .arg("spec", &spec)
                .label(format!("crash after call {n} of {calls}"))
        })
        .collect()
}

// ------------------------------------------------------------- child side

/// The scenario this process runs as a child, with its arguments and root;
/// `None` in a normal test run.
pub fn child_scenario() -> Option<(String, BTreeMap<String, String>, PathBuf)> {
    let scenario = std::env::var(SCENARIO_VAR).ok()?;
    let args = std::env::var(ARGS_VAR)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let root = PathBuf::from(std::env::var(ROOT_VAR).expect("FAULTFS_ROOT is set for children"));
    Some((scenario, args, root))
}

fn one_line(text: impl Display) -> String {
    text.to_string().replace(['\n', '\t'], " ")
}

/// Reports a check of the contract (the parent asserts on it).
pub fn check(name: &str, ok: bool, detail: impl Display) -> bool {
    println!(
        "@@check\t{}\t{}\t{}",
        if ok { "ok" } else { "FAIL" },
        one_line(name),
        one_line(detail)
    );
    ok
}

/// Reports a fact (`key=value`) for the parent.
pub fn info(key: &str, value: impl Display) {
    println!("@@info\t{}={}", key, one_line(value));
}

struct Armed {
    id: u64,
    name: String,
    limit: Duration,
    deadline: Instant,
}

static ARMED: Mutex<Vec<Armed>> = Mutex::new(Vec::new());

type LastWords = Box<dyn Fn() + Send>;
static LAST_WORDS: Mutex<Option<LastWords>> = Mutex::new(None);

/// What the watchdog reports (e.g. `info` lines) before it ends a child
/// whose call hangs.
pub fn on_hang(report: impl Fn() + Send + 'static) {
    *LAST_WORDS.lock().unwrap() = Some(Box::new(report));
}

fn start_watchdog() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        std::thread::Builder::new()
            .name("faults-watchdog".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_millis(20));
                    let armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(late) = armed.iter().find(|a| Instant::now() > a.deadline) {
                        check(
                            &format!("{} returns in bounded time", late.name),
                            false,
                            format!("did not return within {:?}: it hangs", late.limit),
                        );
                        if let Some(report) = &*LAST_WORDS.lock().unwrap_or_else(|e| e.into_inner())
                        {
                            report();
                        }
                        std::process::exit(HANG_EXIT);
                    }
                }
            })
            .expect("start the watchdog");
    });
}

/// Runs `f`, ending the process with a failed check when it does not return
/// within `limit` (a call that hangs can be neither cancelled nor waited
/// for). Returns `f`'s result and how long it took.
pub fn bounded<T>(name: &str, limit: Duration, f: impl FnOnce() -> T) -> (T, Duration) {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    start_watchdog();
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    ARMED.lock().unwrap().push(Armed {
        id,
        name: name.to_string(),
        limit,
        deadline: started + limit,
    });
    let result = f();
    let took = started.elapsed();
    ARMED.lock().unwrap().retain(|a| a.id != id);
    (result, took)
}

type SetFn = unsafe extern "C" fn(*const c_char) -> c_int;
type ClearFn = unsafe extern "C" fn();
type CountFn = unsafe extern "C" fn(*const c_char) -> c_long;
type UnsyncedFn = unsafe extern "C" fn(*const c_char) -> c_longlong;

/// The control functions of the preloaded library, found with
/// `dlsym(RTLD_DEFAULT, ..)`.
pub struct Faultfs {
    set: SetFn,
    clear: ClearFn,
    hits: CountFn,
    calls: CountFn,
    reset: ClearFn,
    set_root: SetFn,
    unsynced: UnsyncedFn,
    entry_dirty: SetFn,
    dir_dirty: SetFn,
}

fn symbol(name: &CStr) -> *mut libc::c_void {
    // SAFETY: dlsym with a NUL-terminated name.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    assert!(
        !p.is_null(),
        "{name:?} not found: this child must run with LD_PRELOAD=libfaultfs.so"
    );
    p
}

fn c(text: &str) -> CString {
    CString::new(text).expect("no NUL")
}

fn c_path(path: &Path) -> CString {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes()).expect("no NUL")
}

impl Faultfs {
    /// The preloaded library's functions; panics when it is not preloaded.
    pub fn get() -> &'static Faultfs {
        static FAULTFS: OnceLock<Faultfs> = OnceLock::new();
        // SAFETY: the symbols are the library's functions with these
        // signatures (tests/faultfs/faultfs.c).
        FAULTFS.get_or_init(|| unsafe {
            Faultfs {
                set: std::mem::transmute::<*mut libc::c_void, SetFn>(symbol(c"faultfs_set")),
                clear: std::mem::transmute::<*mut libc::c_void, ClearFn>(symbol(c"faultfs_clear")),
                hits: std::mem::transmute::<*mut libc::c_void, CountFn>(symbol(c"faultfs_hits")),
                calls: std::mem::transmute::<*mut libc::c_void, CountFn>(symbol(c"faultfs_calls")),
                reset: std::mem::transmute::<*mut libc::c_void, ClearFn>(symbol(
                    c"faultfs_reset_counters",
                )),
                set_root: std::mem::transmute::<*mut libc::c_void, SetFn>(symbol(
                    c"faultfs_set_root",
                )),
                unsynced: std::mem::transmute::<*mut libc::c_void, UnsyncedFn>(symbol(
                    c"faultfs_unsynced_bytes",
                )),
                entry_dirty: std::mem::transmute::<*mut libc::c_void, SetFn>(symbol(
                    c"faultfs_entry_dirty",
                )),
                dir_dirty: std::mem::transmute::<*mut libc::c_void, SetFn>(symbol(
                    c"faultfs_dir_dirty",
                )),
            }
        })
    }

    /// Replaces the rules (see faultfs.c); panics on a malformed spec.
    pub fn set(&self, spec: &str) {
        // SAFETY: a valid C string.
        let r = unsafe { (self.set)(c(spec).as_ptr()) };
        assert_eq!(r, 0, "malformed faultfs spec {spec:?}");
    }

    /// Whether `spec` parses (the rules are replaced when it does).
    pub fn try_set(&self, spec: &str) -> bool {
        // SAFETY: a valid C string.
        unsafe { (self.set)(c(spec).as_ptr()) == 0 }
    }

    pub fn clear(&self) {
        // SAFETY: no arguments.
        unsafe { (self.clear)() }
    }

    /// Failed calls of `ops` ("write", "write|writev", "*") below the root.
    pub fn hits(&self, ops: &str) -> c_long {
        // SAFETY: a valid C string.
        unsafe { (self.hits)(c(ops).as_ptr()) }
    }

    /// Calls of `ops` below the root.
    pub fn calls(&self, ops: &str) -> c_long {
        // SAFETY: a valid C string.
        unsafe { (self.calls)(c(ops).as_ptr()) }
    }

    pub fn reset_counters(&self) {
        // SAFETY: no arguments.
        unsafe { (self.reset)() }
    }

    pub fn set_root(&self, root: Option<&Path>) {
        let path = root.map(c_path);
        // SAFETY: NULL or a valid C string.
        let r = unsafe { (self.set_root)(path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr())) };
        assert_eq!(r, 0, "faultfs_set_root({root:?})");
    }

    /// Bytes of the file not yet durable (see the oracle in faultfs.c);
    /// None when it is no regular file.
    pub fn unsynced_bytes(&self, path: &Path) -> Option<u64> {
        // SAFETY: a valid C string.
        let n = unsafe { (self.unsynced)(c_path(path).as_ptr()) };
        (n >= 0).then_some(n as u64)
    }

    /// Whether the directory entry `path` was created and not yet made
    /// durable.
    pub fn entry_dirty(&self, path: &Path) -> bool {
        // SAFETY: a valid C string.
        unsafe { (self.entry_dirty)(c_path(path).as_ptr()) == 1 }
    }

    /// Whether some entry created in directory `path` is not yet durable.
    pub fn dir_dirty(&self, path: &Path) -> bool {
        // SAFETY: a valid C string.
        unsafe { (self.dir_dirty)(c_path(path).as_ptr()) == 1 }
    }
}
