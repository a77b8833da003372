//! `ccwal::archive`: snapshots to Parquet, read back with the parquet
//! crate's reader (rows in order, schema, one row group per host), the
//! originals deleted only for hosts archived, damaged hosts kept, existing
//! archives never replaced; and (when `CCWAL_DUCKDB_PYTHON` names a Python
//! with the duckdb package, as `make test-duckdb` sets it) DuckDB's
//! `read_parquet` reads the archive back.
#![cfg(feature = "archive")]

use std::fs::File;
use std::path::{Path, PathBuf};

use ccwal::archive::rows::{ArchiveLevel, Row, host_rows, load_binary, load_json};
use ccwal::archive::{HostOutcome, SCHEMA, archive};
use ccwal::checkpoint::{snapshot_builder, write_snapshot};
use ccwal::codec::json::encode_json_snapshot;
use ccwal::codec::snapshot::{Child, Level, Metric, Snapshot};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::RowAccessor;

const T0: i64 = 1_700_000_000;

/// A host's binary snapshot of [from, from+600): host metrics, and child
/// levels of every scope kind (nested too), with NaN.
fn binary_snapshot(root: &Path, cluster: &str, host: &str, from: i64, seed: u32) -> Vec<u8> {
    let mut b = snapshot_builder(from, from + 600);
    let values = |n: usize, k: u32| -> Vec<f32> {
        (0..n)
            .map(|i| {
                if (i as u32 + k) % 7 == 3 {
                    f32::NAN
                } else {
                    (seed * 1000 + k * 100) as f32 + i as f32 * 0.5
                }
            })
            .collect()
    };
    b.metric(b"mem_used", 60, from, &values(10, 1)).unwrap();
    b.metric(b"cpu_load", 60, from, &values(10, 2)).unwrap();
    for (k, child) in [
        "socket0",
        "cpu12",
        "core3",
        "memoryDomain1",
        "hwthread5",
        "accelerator0",
        "memctrl1",
        "socket",
    ]
    .iter()
    .enumerate()
    {
        b.begin_child(child.as_bytes()).unwrap();
        b.metric(b"flops", 60, from + 30, &values(5, 10 + k as u32))
            .unwrap();
        if *child == "socket0" {
            b.begin_child(b"core7").unwrap();
            b.metric(b"ipc", 60, from, &values(3, 40)).unwrap();
            b.end_child().unwrap();
        }
        b.end_child().unwrap();
    }
    b.finish().unwrap();
    let bytes = b.into_inner();
    write_snapshot(root, cluster.as_bytes(), host.as_bytes(), from, &bytes).unwrap();
    bytes
}

fn json_snapshot(root: &Path, cluster: &str, host: &str, from: i64) -> Vec<u8> {
    let snapshot = Snapshot {
        from,
        to: from + 600,
        root: Level {
            metrics: vec![Metric {
                name: b"cpu_load".to_vec(),
                frequency: 60,
                start: from,
                values: vec![0.1, f64::NAN, 2.5, 1e-3],
            }],
            children: vec![Child {
                name: b"cpu0".to_vec(),
                level: Level {
                    metrics: vec![Metric {
                        name: b"flops".to_vec(),
                        frequency: 60,
                        start: from,
                        values: vec![f64::NAN, 7.0],
                    }],
                    children: vec![],
                },
            }],
        },
    };
    let bytes = encode_json_snapshot(&snapshot).unwrap();
    let dir = root.join(cluster).join(host);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{from}.json")), &bytes).unwrap();
    bytes
}

/// Reads an archive: its schema (printed), row group sizes and rows.
fn read_archive(path: &Path) -> (String, Vec<i64>, Vec<Row>) {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    let metadata = reader.metadata();
    let mut schema = Vec::new();
    parquet::schema::printer::print_schema(
        &mut schema,
        metadata.file_metadata().schema_descr().root_schema(),
    );
    let groups = metadata.row_groups().iter().map(|g| g.num_rows()).collect();
    let rows = reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            let row = row.unwrap();
            let s = |i| row.get_string(i).unwrap().as_bytes().to_vec();
            Row {
                cluster: s(0),
                hostname: s(1),
                metric: s(2),
                scope: s(3),
                scope_id: s(4),
                timestamp: row.get_long(5).unwrap(),
                frequency: row.get_long(6).unwrap(),
                value: row.get_float(7).unwrap(),
            }
        })
        .collect();
    (String::from_utf8(schema).unwrap(), groups, rows)
}

fn normalise(schema: &str) -> String {
    schema.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(files_below(&path));
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    to: PathBuf,
    /// Expected rows per cluster, in order.
    expected: Vec<(String, Vec<Row>)>,
}

/// Two clusters; hosts with binary and JSON snapshots before the horizon
/// and one after it (which stays), a WAL (which stays).
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("checkpoints");
    let to = dir.path().join("archive");
    let mut expected = Vec::new();
    for (c, cluster) in ["alex", "fritz"].iter().enumerate() {
        let mut rows = Vec::new();
        for h in 0..3u32 {
            let host = format!("n{h:02}");
            let mut trees: Vec<ArchiveLevel> = Vec::new();
            if h == 1 {
                let json = json_snapshot(&root, cluster, &host, T0 - 1200);
                trees.push(load_json(&json).unwrap());
            }
            for w in 0..2 {
                let from = T0 - 600 * (1 - w);
                let bin = binary_snapshot(&root, cluster, &host, from, c as u32 * 10 + h);
                trees.push(load_binary(&bin[..]).unwrap());
            }
            // After the horizon: stays.
            binary_snapshot(&root, cluster, &host, T0 + 600, 99);
            std::fs::write(root.join(cluster).join(&host).join("current.wal"), b"").unwrap();
            rows.extend(host_rows(cluster.as_bytes(), host.as_bytes(), &trees));
        }
        expected.push((cluster.to_string(), rows));
    }
    Fixture {
        _dir: dir,
        root,
        to,
        expected,
    }
}

#[test]
fn archive_rows_schema_row_groups_and_deletion() {
    let f = fixture();
    let report = archive(&f.root, &f.to, T0).unwrap();
    assert!(!report.has_errors(), "{report:#?}");
    assert_eq!(report.clusters.len(), 2);
    assert_eq!(report.hosts.len(), 6);
    for (cluster, expected) in &f.expected {
        let path = f.to.join(cluster).join(format!("{T0}.parquet"));
        let (schema, groups, rows) = read_archive(&path);
        let mut want = Vec::new();
        let parsed = parquet::schema::parser::parse_message_type(SCHEMA).unwrap();
        parquet::schema::printer::print_schema(&mut want, &parsed);
        assert_eq!(
            normalise(&schema),
            normalise(&String::from_utf8(want).unwrap())
        );
        assert_eq!(groups.len(), 3, "one row group per host");
        assert_eq!(groups.iter().sum::<i64>() as usize, expected.len());
        assert_eq!(rows.len(), expected.len());
        for (i, (got, want)) in rows.iter().zip(expected).enumerate() {
            assert_eq!(got, want, "row {i} of {cluster}");
        }
        let summary = report
            .clusters
            .iter()
            .find(|c| c.cluster == cluster.as_bytes())
            .unwrap();
        assert_eq!(summary.rows as usize, expected.len());
        assert_eq!(summary.archive.as_deref(), Some(path.as_path()));
    }
    // Left: per host the snapshot after the horizon and the WAL; no
    // temporary file in the archive directory.
    let left = files_below(&f.root);
    assert_eq!(left.len(), 12, "{left:?}");
    assert!(
        left.iter()
            .all(|p| p.ends_with(format!("{}.bin", T0 + 600)) || p.ends_with("current.wal"))
    );
    assert_eq!(files_below(&f.to).len(), 2);
    assert_eq!(report.files_archived(), 2 * (3 * 2 + 1));

    // Nothing left to archive; a second run at the same horizon writes
    // nothing and replaces nothing.
    let again = archive(&f.root, &f.to, T0).unwrap();
    assert!(again.clusters.is_empty() && again.hosts.is_empty());
}

#[test]
fn a_damaged_snapshot_keeps_its_hosts_files_and_an_archive_is_never_replaced() {
    let f = fixture();
    // fritz/n01's JSON snapshot is cut short; alex/n02 has a bad name.
    let json = f.root.join("fritz/n01").join(format!("{}.json", T0 - 1200));
    let len = std::fs::metadata(&json).unwrap().len();
    File::options()
        .write(true)
        .open(&json)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    std::fs::write(f.root.join("alex/n02/abc.bin"), b"x").unwrap();
    // An archive of the same name exists for a third cluster.
    binary_snapshot(&f.root, "meggie", "m1", T0, 1);
    std::fs::create_dir_all(f.to.join("meggie")).unwrap();
    std::fs::write(f.to.join("meggie").join(format!("{T0}.parquet")), b"old").unwrap();

    let report = archive(&f.root, &f.to, T0).unwrap();
    assert!(report.has_errors());
    let outcome = |cluster: &str, host: &str| {
        report
            .hosts
            .iter()
            .find(|h| h.cluster == cluster.as_bytes() && h.host == host.as_bytes())
            .unwrap()
    };
    let damaged = outcome("fritz", "n01");
    match &damaged.outcome {
        HostOutcome::Failed(e) => assert!(e.message().contains(".json"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(damaged.deleted.is_empty());
    assert!(matches!(
        outcome("alex", "n02").outcome,
        HostOutcome::Failed(_)
    ));
    assert!(matches!(
        outcome("meggie", "m1").outcome,
        HostOutcome::Failed(_)
    ));
    assert_eq!(
        std::fs::read(f.to.join("meggie").join(format!("{T0}.parquet"))).unwrap(),
        b"old"
    );
    // The other hosts are archived: their rows only.
    for (cluster, expected) in &f.expected {
        let skip: &[u8] = if cluster == "alex" { b"n02" } else { b"n01" };
        let want: Vec<&Row> = expected.iter().filter(|r| r.hostname != skip).collect();
        let (_, groups, rows) = read_archive(&f.to.join(cluster).join(format!("{T0}.parquet")));
        assert_eq!(groups.len(), 2);
        assert_eq!(rows.iter().collect::<Vec<_>>(), want);
    }
    // The failed hosts keep every file.
    assert_eq!(files_below(&f.root.join("fritz/n01")).len(), 5);
    assert_eq!(files_below(&f.root.join("alex/n02")).len(), 5);
    assert_eq!(files_below(&f.root.join("meggie/m1")).len(), 1);
    assert_eq!(files_below(&f.root.join("alex/n00")).len(), 2);
}

#[test]
fn only_nan_values_write_no_archive() {
    let dir = tempfile::tempdir().unwrap();
    let (root, to) = (dir.path().join("r"), dir.path().join("a"));
    let mut b = snapshot_builder(T0, T0 + 60);
    b.metric(b"m", 60, T0, &[f32::NAN, f32::NAN]).unwrap();
    b.finish().unwrap();
    write_snapshot(&root, b"c", b"h", T0, &b.into_inner()).unwrap();
    let report = archive(&root, &to, T0).unwrap();
    assert!(!report.has_errors(), "{report:#?}");
    assert_eq!(report.clusters[0].archive, None);
    assert!(files_below(&to).is_empty());
    assert!(files_below(&root).is_empty(), "nothing to keep");
}

/// DuckDB reads the archive: row count, a few spot values, the schema's
/// types. Skipped (loudly) unless CCWAL_DUCKDB_PYTHON is set; `make test`
/// sets it after installing duckdb from PyPI into target/duckdb-venv.
#[test]
fn duckdb_reads_the_archive() {
    let Some(python) = std::env::var_os("CCWAL_DUCKDB_PYTHON") else {
        eprintln!(
            "\n*** SKIPPED duckdb_reads_the_archive: CCWAL_DUCKDB_PYTHON is not set (run `make test-duckdb`) ***\n"
        );
        return;
    };
    let f = fixture();
    archive(&f.root, &f.to, T0).unwrap();
    let (cluster, expected) = &f.expected[1];
    let path = f.to.join(cluster).join(format!("{T0}.parquet"));
    let first = &expected[0];
    let last = expected.last().unwrap();
    let script = format!(
        r#"
import duckdb, sys
con = duckdb.connect()
path = {path:?}
n = con.execute("select count(*) from read_parquet(?)", [path]).fetchone()[0]
assert n == {n}, n
types = con.execute("select column_name, column_type from (describe select * from read_parquet(?))", [path]).fetchall()
assert types == [("cluster","VARCHAR"),("hostname","VARCHAR"),("metric","VARCHAR"),("scope","VARCHAR"),("scope_id","VARCHAR"),("timestamp","BIGINT"),("frequency","BIGINT"),("value","FLOAT")], types
rows = con.execute("select * from read_parquet(?)", [path]).fetchall()
assert rows[0] == ({c:?}, {h:?}, {m:?}, {s:?}, {i:?}, {ts}, {fr}, {v:?}), rows[0]
assert rows[-1][:7] == ({c2:?}, {h2:?}, {m2:?}, {s2:?}, {i2:?}, {ts2}, {fr2}), rows[-1]
assert abs(rows[-1][7] - {v2:?}) < 1e-6
hw = con.execute("select count(*) from read_parquet(?) where scope = 'hwthread' and scope_id = '12'", [path]).fetchone()[0]
assert hw == {hw}, hw
print("duckdb ok:", n, "rows")
"#,
        path = path.to_str().unwrap(),
        n = expected.len(),
        c = cluster,
        h = String::from_utf8_lossy(&first.hostname),
        m = String::from_utf8_lossy(&first.metric),
        s = String::from_utf8_lossy(&first.scope),
        i = String::from_utf8_lossy(&first.scope_id),
        ts = first.timestamp,
        fr = first.frequency,
        v = first.value as f64,
        c2 = cluster,
        h2 = String::from_utf8_lossy(&last.hostname),
        m2 = String::from_utf8_lossy(&last.metric),
        s2 = String::from_utf8_lossy(&last.scope),
        i2 = String::from_utf8_lossy(&last.scope_id),
        ts2 = last.timestamp,
        fr2 = last.frequency,
        v2 = last.value as f64,
        hw = expected
            .iter()
            .filter(|r| r.scope == b"hwthread" && r.scope_id == b"12")
            .count(),
    );
    let output = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "duckdb: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&output.stdout));
}

#[test]
fn the_cli_archives_and_reports() {
    let f = fixture();
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ccwal"))
            .arg("archive")
            .args(args)
            .output()
            .unwrap()
    };
    let before = T0.to_string();
    let output = run(&[
        f.root.as_os_str(),
        "--to".as_ref(),
        f.to.as_os_str(),
        "--before".as_ref(),
        before.as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows: usize = f.expected.iter().map(|(_, rows)| rows.len()).sum();
    assert_eq!(report["rows"], rows);
    assert_eq!(report["files_archived"], 14);
    assert_eq!(report["clusters"][0]["cluster"], "alex");
    assert_eq!(report["hosts"].as_array().unwrap().len(), 6);

    // A damaged snapshot: exit 1, the host named on stderr, its file kept.
    let damaged = f.root.join("alex/n00").join(format!("{}.bin", T0 + 600));
    std::fs::write(&damaged, b"damaged").unwrap();
    let later = (T0 + 600).to_string();
    let output = run(&[
        f.root.as_os_str(),
        "--to".as_ref(),
        f.to.as_os_str(),
        "--before".as_ref(),
        later.as_ref(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("alex/n00: kept 1 files"), "{stderr}");
    assert!(damaged.exists());
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("rows, 5 snapshots archived"),
        "{output:?}"
    );
    // Usage: --to is required.
    let output = run(&[f.root.as_os_str(), "--before".as_ref(), later.as_ref()]);
    assert_eq!(output.status.code(), Some(2));
}
