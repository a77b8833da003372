//! The archive to Parquet next to cc-backend v1.5.4's, on the same
//! checkpoint directory: 1,000 hosts × (16 node metrics + 16 hwthreads × 4
//! metrics) × 120 values (one in ten NaN), one binary snapshot each. Wall
//! time and peak RSS of ccwal (in a child process that does nothing else)
//! and of v1.5.4 (`go test -bench BenchmarkArchiveGo` in
//! examples-go/interop, two workers); then both again with 10,000 hosts.
//!
//! `cargo bench --bench archive` (below $CCWAL_BENCH_DIR, default
//! target/bench-archive; $CCWAL_BENCH_HOSTS hosts, default 1000;
//! CCWAL_BENCH_NO_GO=1 skips the Go side, which needs `make go-prefix`
//! first: the interop module links the ccwal installed in target/prefix).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ccwal::checkpoint::snapshot_builder;

const FROM: i64 = 1_700_000_000;
const VALUES: usize = 120;

fn host_snapshot(seed: usize) -> Vec<u8> {
    let values: Vec<f32> = (0..VALUES)
        .map(|i| {
            if (i + seed) % 10 == 3 {
                f32::NAN
            } else {
                ((seed * 31 + i * 7) % 1000) as f32 * 0.25
            }
        })
        .collect();
    let mut b = snapshot_builder(FROM, FROM + VALUES as i64 * 60);
    for m in 0..16 {
        b.metric(format!("node_metric_{m:02}").as_bytes(), 60, FROM, &values)
            .unwrap();
    }
    for t in 0..16 {
        b.begin_child(format!("hwthread{t}").as_bytes()).unwrap();
        for m in 0..4 {
            b.metric(format!("core_metric_{m}").as_bytes(), 60, FROM, &values)
                .unwrap();
        }
        b.end_child().unwrap();
    }
    b.finish().unwrap();
    b.into_inner()
}

/// ROOT/<cluster>/<host>/<FROM>.bin for `hosts` hosts in two clusters.
fn generate(root: &Path, hosts: usize) {
    let _ = std::fs::remove_dir_all(root);
    for h in 0..hosts {
        let dir = root
            .join(if h % 2 == 0 { "alex" } else { "fritz" })
            .join(format!("node{h:05}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{FROM}.bin")), host_snapshot(h)).unwrap();
    }
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// ccwal's archive in a child process: (seconds, peak RSS MiB, rows).
fn ccwal_child(root: &Path, out: &Path) -> (f64, f64, u64) {
    let output = Command::new(std::env::current_exe().unwrap())
        .arg("--archive-child")
        .arg(root)
        .arg(out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let mut parts = text.split_whitespace();
    let mut next = || parts.next().unwrap().to_string();
    (
        next().parse().unwrap(),
        next().parse().unwrap(),
        next().parse().unwrap(),
    )
}

/// v1.5.4's archive through `go test -bench`: (seconds, peak RSS MiB).
fn go_bench(root: &Path, out: &Path) -> Option<(f64, f64)> {
    if std::env::var_os("CCWAL_BENCH_NO_GO").is_some() {
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples-go/interop");
    // Where the Makefile's Go targets find ccwal, unless the caller says.
    let pkg_config_path = std::env::var_os("PKG_CONFIG_PATH").unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/prefix/lib/pkgconfig")
            .into()
    });
    let output = Command::new("go")
        .args([
            "test",
            "-run",
            "^$",
            "-bench",
            "^BenchmarkArchiveGo$",
            "-benchtime",
            "1x",
            ".",
        ])
        .current_dir(dir)
        .env("PKG_CONFIG_PATH", pkg_config_path)
        .env("CCWAL_ARCHIVE_BENCH_ROOT", root)
        .env("CCWAL_ARCHIVE_BENCH_OUT", out)
        .env("CCWAL_ARCHIVE_BENCH_HORIZON", FROM.to_string())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().find(|l| l.starts_with("BenchmarkArchiveGo"))?;
    let metric = |unit: &str| -> Option<f64> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let at = fields.iter().position(|f| *f == unit)?;
        fields[at - 1].parse().ok()
    };
    match (metric("s"), metric("peakRSS_MiB")) {
        (Some(s), Some(rss)) => Some((s, rss)),
        _ => {
            eprintln!(
                "go bench: no figures:\n{text}{}",
                String::from_utf8_lossy(&output.stderr)
            );
            None
        }
    }
}

fn du(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        total += if path.is_dir() {
            du(&path)
        } else {
            entry.metadata().map_or(0, |m| m.len())
        };
    }
    total
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--archive-child") {
        let (root, out) = (PathBuf::from(&args[at + 1]), PathBuf::from(&args[at + 2]));
        let started = Instant::now();
        let report = ccwal::archive::archive(&root, &out, FROM).unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert!(!report.has_errors(), "{report:?}");
        println!("{secs} {} {}", peak_rss_mib(), report.rows());
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--generate") {
        generate(Path::new(&args[at + 1]), args[at + 2].parse().unwrap());
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let base = std::env::var_os("CCWAL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-archive"));
    let hosts: usize = std::env::var("CCWAL_BENCH_HOSTS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(1000);
    let input = base.join("input");
    let (cc_root, go_root) = (base.join("ccwal-root"), base.join("go-root"));
    let (cc_out, go_out) = (base.join("ccwal-out"), base.join("go-out"));
    generate(&input, hosts);
    let input_bytes = du(&input);
    for dir in [&cc_root, &go_root, &cc_out, &go_out] {
        let _ = std::fs::remove_dir_all(dir);
    }
    for copy in [&cc_root, &go_root] {
        let status = Command::new("cp").arg("-r").arg(&input).arg(copy).status();
        assert!(status.unwrap().success());
    }
    println!(
        "archive of {hosts} hosts, {:.1} MiB of binary snapshots:",
        input_bytes as f64 / (1 << 20) as f64
    );
    let (secs, rss, rows) = ccwal_child(&cc_root, &cc_out);
    let cc_bytes = du(&cc_out);
    println!(
        "  ccwal:  {secs:7.2} s  peak RSS {rss:7.1} MiB  {rows} rows  archive {:.1} MiB",
        cc_bytes as f64 / (1 << 20) as f64
    );
    if let Some((go_secs, go_rss)) = go_bench(&go_root, &go_out) {
        let go_bytes = du(&go_out);
        println!(
            "  v1.5.4: {go_secs:7.2} s  peak RSS {go_rss:7.1} MiB  archive {:.1} MiB",
            go_bytes as f64 / (1 << 20) as f64
        );
        println!(
            "  ratio v1.5.4/ccwal: time {:.2}x  peak RSS {:.2}x  archive size {:.2}x",
            go_secs / secs,
            go_rss / rss,
            go_bytes as f64 / cc_bytes as f64
        );
    }
    // Peak memory with 10 × as many hosts.
    let many = hosts * 10;
    generate(&input, many);
    for dir in [&go_root, &cc_out, &go_out] {
        let _ = std::fs::remove_dir_all(dir);
    }
    let go_copy = Command::new("cp")
        .arg("-r")
        .arg(&input)
        .arg(&go_root)
        .status();
    assert!(go_copy.unwrap().success());
    let (many_secs, many_rss, many_rows) = ccwal_child(&input, &cc_out);
    println!(
        "  ccwal,  {many} hosts: {many_secs:7.2} s  peak RSS {many_rss:7.1} MiB  {many_rows} rows  (peak RSS {:.2}x of {hosts} hosts)",
        many_rss / rss
    );
    if let Some((go_secs, go_rss)) = go_bench(&go_root, &go_out) {
        println!(
            "  v1.5.4, {many} hosts: {go_secs:7.2} s  peak RSS {go_rss:7.1} MiB  ratio v1.5.4/ccwal: time {:.2}x  peak RSS {:.2}x",
            go_secs / many_secs,
            go_rss / many_rss
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}
