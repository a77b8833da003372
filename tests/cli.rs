//! The `ccwal` binary on files made with the codecs: output lines, exit
//! codes, strict versus resynchronising dumps.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use ccwal::codec::json::encode_json_snapshot;
use ccwal::codec::snapshot::{Child, Level, Metric, Snapshot, encode_snapshot};
use ccwal::codec::wal;
use serde_json::{Value, json};

fn ccwal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccwal"))
        .args(args)
        .output()
        .expect("run ccwal")
}

fn stdout_lines(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .expect("UTF-8 output")
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect()
}

const NO_SELECTOR: &[&[u8]] = &[];

/// A WAL of three records; returns the bytes and each record's offset.
fn three_records() -> (Vec<u8>, Vec<usize>) {
    let mut out = wal::file_header().to_vec();
    let mut offsets = Vec::new();
    offsets.push(out.len());
    wal::encode_record(&mut out, 100, b"cpu_load", NO_SELECTOR, 0.75).unwrap();
    offsets.push(out.len());
    wal::encode_record(
        &mut out,
        160,
        b"mem\xff",
        &[b"socket0".as_slice(), b"memctrl1"],
        f32::NAN,
    )
    .unwrap();
    offsets.push(out.len());
    wal::encode_record(&mut out, 220, b"flops", &[b"cpu3"], -2.5).unwrap();
    (out, offsets)
}

#[test]
fn dump_prints_each_record_and_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("current.wal");
    let (bytes, offsets) = three_records();
    fs::write(&path, &bytes).unwrap();
    let output = ccwal(&["dump", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    let lines = stdout_lines(&output);
    assert_eq!(
        lines,
        vec![
            json!({"offset": offsets[0], "ts": 100, "metric": "cpu_load", "selector": [], "value": 0.75, "bits": 0.75f32.to_bits()}),
            json!({"offset": offsets[1], "ts": 160, "metric": {"hex": "6d656dff"}, "selector": ["socket0", "memctrl1"], "value": null, "bits": f32::NAN.to_bits()}),
            json!({"offset": offsets[2], "ts": 220, "metric": "flops", "selector": ["cpu3"], "value": -2.5, "bits": (-2.5f32).to_bits()}),
            json!({"end": "eof", "records": 3}),
        ]
    );
}

#[test]
fn strict_dump_stops_at_damage_and_resync_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("current.wal");
    let (mut bytes, offsets) = three_records();
    bytes[offsets[1] + 12] ^= 0x40; // inside the second record's payload: CRC mismatch
    fs::write(&path, &bytes).unwrap();
    let path = path.to_str().unwrap();

    let strict = ccwal(&["dump", "--strict", path]);
    assert_eq!(strict.status.code(), Some(1));
    let lines = stdout_lines(&strict);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["offset"], offsets[0]);
    assert_eq!(lines[1]["damaged"]["offset"], offsets[1]);
    assert_eq!(lines[1]["damaged"]["len"], bytes.len() - offsets[1]);
    assert!(
        lines[1]["damaged"]["reason"]
            .as_str()
            .unwrap()
            .contains("CRC")
    );
    assert_eq!(lines[2], json!({"end": "damaged", "records": 1}));

    let resync = ccwal(&["dump", path]);
    assert_eq!(resync.status.code(), Some(1));
    let lines = stdout_lines(&resync);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[1]["damaged"]["len"], offsets[2] - offsets[1]);
    assert_eq!(lines[2]["offset"], offsets[2]);
    assert_eq!(lines[2]["metric"], "flops");
    assert_eq!(lines[3], json!({"end": "damaged", "records": 2}));
}

#[test]
fn torn_tail_is_reported_as_damage_up_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("current.wal");
    let (bytes, offsets) = three_records();
    fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let output = ccwal(&["dump", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let lines = stdout_lines(&output);
    assert_eq!(lines[2]["damaged"]["offset"], offsets[2]);
    assert_eq!(lines[2]["damaged"]["len"], bytes.len() - 3 - offsets[2]);
    assert_eq!(lines[3], json!({"end": "damaged", "records": 2}));
}

#[test]
fn empty_and_bad_headers() {
    let dir = tempfile::tempdir().unwrap();
    let empty_wal = dir.path().join("current.wal");
    fs::write(&empty_wal, b"").unwrap();
    let output = ccwal(&["dump", empty_wal.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout_lines(&output),
        vec![json!({"end": "eof", "records": 0})]
    );

    let empty_snapshot = dir.path().join("1700000000.bin");
    fs::write(&empty_snapshot, b"").unwrap();
    assert_eq!(
        ccwal(&["dump", empty_snapshot.to_str().unwrap()])
            .status
            .code(),
        Some(1)
    );

    let bad_magic = dir.path().join("bad.wal");
    fs::write(&bad_magic, [1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let output = ccwal(&["dump", bad_magic.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("bad WAL file magic"));
    assert!(output.stdout.is_empty());

    let short = dir.path().join("short.wal");
    fs::write(&short, [0x01, 0xA7]).unwrap();
    let output = ccwal(&["dump", short.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("truncated"));

    let other = dir.path().join("notes.txt");
    fs::write(&other, b"hello").unwrap();
    assert_eq!(
        ccwal(&["dump", other.to_str().unwrap()]).status.code(),
        Some(1)
    );
}

fn sample_snapshot() -> Snapshot<f32> {
    Snapshot {
        from: 1000,
        to: 2000,
        root: Level {
            metrics: vec![Metric {
                name: b"load".to_vec(),
                frequency: 60,
                start: 970,
                values: vec![1.5, f32::NAN],
            }],
            children: vec![Child {
                name: b"cpu\xfe".to_vec(),
                level: Level {
                    metrics: vec![Metric {
                        name: b"user".to_vec(),
                        frequency: 10,
                        start: 995,
                        values: vec![],
                    }],
                    children: vec![],
                },
            }],
        },
    }
}

#[test]
fn dump_of_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("1000.bin");
    let mut bytes = Vec::new();
    encode_snapshot(&sample_snapshot(), &mut bytes).unwrap();
    fs::write(&bin, &bytes).unwrap();
    let output = ccwal(&["dump", bin.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout_lines(&output),
        vec![json!({
            "from": 1000, "to": 2000,
            "metrics": {"load": {"frequency": 60, "start": 970, "values": [1.5, null], "bits": [1.5f32.to_bits(), f32::NAN.to_bits()]}},
            "children": {"hex:637075fe": {"metrics": {"user": {"frequency": 10, "start": 995, "values": [], "bits": []}}, "children": {}}}
        })]
    );

    fs::write(&bin, &bytes[..bytes.len() - 5]).unwrap();
    let output = ccwal(&["dump", bin.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("damaged snapshot"));

    let json_path = dir.path().join("900.json");
    let legacy = Snapshot {
        from: 900,
        to: 1000,
        root: Level {
            metrics: vec![Metric {
                name: b"load".to_vec(),
                frequency: 60,
                start: 870,
                values: vec![0.1, f64::NAN],
            }],
            children: vec![],
        },
    };
    fs::write(&json_path, encode_json_snapshot(&legacy).unwrap()).unwrap();
    let output = ccwal(&["dump", json_path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    let lines = stdout_lines(&output);
    assert_eq!(lines[0]["metrics"]["load"]["values"], json!([0.1, null]));
    assert_eq!(
        lines[0]["metrics"]["load"]["bits"],
        json!([0.1f32.to_bits(), f32::NAN.to_bits()])
    );
}

fn write_root(root: &Path, damage_second_host: bool) -> usize {
    let (bytes, offsets) = three_records();
    for host in ["a01", "a02"] {
        let dir = root.join("clusterA").join(host);
        fs::create_dir_all(&dir).unwrap();
        let mut wal = bytes.clone();
        if host == "a02" && damage_second_host {
            wal[offsets[1]] = 0; // the second record's magic
        }
        fs::write(dir.join("current.wal"), wal).unwrap();
        let mut snap = Vec::new();
        encode_snapshot(&sample_snapshot(), &mut snap).unwrap();
        fs::write(dir.join("1000.bin"), snap).unwrap();
        fs::write(dir.join("2000.bin.tmp"), b"partial").unwrap();
    }
    offsets[1]
}

#[test]
fn verify_lists_damage_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let clean = ccwal(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(clean.status.code(), Some(0));

    let damaged_at = write_root(dir.path(), true);
    let output = ccwal(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let expected = format!("a02/current.wal: offset {damaged_at} len ");
    assert!(lines[0].contains(&expected), "{}", lines[0]);
    assert!(lines[0].contains("bad record magic"));
    assert_eq!(
        lines[1],
        "verified 4 files (2 WAL, 0 sealed, 2 snapshots), 1 damaged, 5 records"
    );
}

#[test]
fn verify_of_a_clean_root_and_bad_paths() {
    let dir = tempfile::tempdir().unwrap();
    write_root(dir.path(), false);
    let output = ccwal(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "verified 4 files (2 WAL, 0 sealed, 2 snapshots), 0 damaged, 6 records\n"
    );
    let missing = dir.path().join("missing");
    assert_eq!(
        ccwal(&["verify", missing.to_str().unwrap()]).status.code(),
        Some(2)
    );
    assert_eq!(ccwal(&["verify"]).status.code(), Some(2));
    assert_eq!(ccwal(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(ccwal(&["--help"]).status.code(), Some(0));
}

#[test]
fn stat_counts_per_cluster_and_in_total() {
    let dir = tempfile::tempdir().unwrap();
    write_root(dir.path(), false);
    let output = ccwal(&["stat", "--json", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    let stat = &stdout_lines(&output)[0];
    let (wal_len, _) = three_records();
    let mut snap = Vec::new();
    encode_snapshot(&sample_snapshot(), &mut snap).unwrap();
    let expected = json!({
        "hosts": 2, "snapshot_files": 2, "snapshot_bytes": 2 * snap.len(),
        "wal_files": 2, "wal_bytes": 2 * wal_len.len(), "wal_records": 6,
        "sealed_files": 0, "sealed_bytes": 0, "sealed_records": 0,
        "damaged_files": 0, "first": 100, "last": 2000
    });
    assert_eq!(stat["clusters"]["clusterA"], expected);
    assert_eq!(stat["total"], expected);
}

/// A host with a clean current.wal, a damaged sealed segment (the second
/// record's magic zeroed) and a clean one: `wal-1000.sealed`,
/// `wal-1000-1.sealed`. Returns the host directory and the damaged offset.
fn write_sealed_host(root: &Path) -> (std::path::PathBuf, usize) {
    let (bytes, offsets) = three_records();
    let dir = root.join("clusterS").join("s01");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("current.wal"), &bytes).unwrap();
    let mut damaged = bytes.clone();
    damaged[offsets[1]] = 0;
    fs::write(dir.join("wal-1000.sealed"), damaged).unwrap();
    fs::write(dir.join("wal-1000-1.sealed"), &bytes).unwrap();
    (dir, offsets[1])
}

#[test]
fn verify_checks_sealed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (host, damaged_at) = write_sealed_host(dir.path());
    let output = ccwal(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let expected = format!("s01/wal-1000.sealed: offset {damaged_at} len ");
    assert!(lines[0].contains(&expected), "{}", lines[0]);
    assert!(lines[0].contains("bad record magic"), "{}", lines[0]);
    assert_eq!(
        lines[1],
        "verified 3 files (1 WAL, 2 sealed, 0 snapshots), 1 damaged, 8 records"
    );

    // Also named on the command line; a clean sealed segment passes.
    let sealed = host.join("wal-1000.sealed");
    assert_eq!(
        ccwal(&["verify", sealed.to_str().unwrap()]).status.code(),
        Some(1)
    );
    let clean = host.join("wal-1000-1.sealed");
    let output = ccwal(&["verify", clean.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "verified 1 files (0 WAL, 1 sealed, 0 snapshots), 0 damaged, 3 records\n"
    );
}

#[test]
fn stat_counts_sealed_segments_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = write_sealed_host(dir.path());
    let (wal, _) = three_records();
    let output = ccwal(&["stat", "--json", dir.path().to_str().unwrap()]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the sealed segment is damaged"
    );
    let stat = &stdout_lines(&output)[0];
    let expected = json!({
        "hosts": 1, "snapshot_files": 0, "snapshot_bytes": 0,
        "wal_files": 1, "wal_bytes": wal.len(), "wal_records": 3,
        "sealed_files": 2, "sealed_bytes": 2 * wal.len(), "sealed_records": 5,
        "damaged_files": 1, "first": 100, "last": 220
    });
    assert_eq!(stat["clusters"]["clusterS"], expected);
    assert_eq!(stat["total"], expected);

    let output = ccwal(&["stat", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    let header = text.lines().next().unwrap();
    assert!(
        header.contains(" sealed ")
            && header.contains(" sealed bytes ")
            && header.contains(" sealed records "),
        "{text}"
    );
    let row: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[0], "clusterS");
    // hosts, snapshots, snapshot bytes, WAL files, WAL bytes, WAL records, sealed, ...
    assert_eq!(row[7], "2", "{text}");
    assert_eq!(row[8], (2 * wal.len()).to_string(), "{text}");
}

#[test]
fn verify_picks_the_decoder_by_file_name() {
    // What restore would read: a WAL named as a binary snapshot is a
    // damaged snapshot, a JSON snapshot named current.wal a damaged WAL.
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = three_records();
    let bin = dir.path().join("1000.bin");
    fs::write(&bin, &wal).unwrap();
    let output = ccwal(&["verify", bin.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("1000.bin: offset 0 "), "{text}");
    assert!(text.contains("(0 WAL, 0 sealed, 1 snapshots)"), "{text}");

    let snapshot = Snapshot {
        from: 1000,
        to: 2000,
        root: Level::<f64>::default(),
    };
    let current = dir.path().join("current.wal");
    fs::write(&current, encode_json_snapshot(&snapshot).unwrap()).unwrap();
    let output = ccwal(&["verify", current.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("bad WAL file magic"), "{text}");
}

#[test]
fn verify_rejects_json_without_the_snapshot_shape() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("c").join("h");
    fs::create_dir_all(&host).unwrap();
    let empty = host.join("1.json");
    fs::write(&empty, b"{}").unwrap();
    let output = ccwal(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("h/1.json: offset 0 len 2: "), "{text}");
    assert!(lines[0].contains("not a JSON snapshot"), "{text}");
    assert!(lines[0].contains(r#""from" is missing"#), "{text}");
    assert_eq!(
        lines[1],
        "verified 1 files (0 WAL, 0 sealed, 1 snapshots), 1 damaged, 0 records"
    );

    let mistyped = host.join("2.json");
    fs::write(
        &mistyped,
        br#"{"from": 1, "to": 2, "metrics": {"m": {"frequency": "60", "start": 1, "data": []}}}"#,
    )
    .unwrap();
    let output = ccwal(&["verify", mistyped.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains(r#"metrics["m"]: "frequency" must be an integer"#),
        "{text}"
    );

    // stat counts such a file as damaged, too.
    let output = ccwal(&["stat", "--json", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_lines(&output)[0]["total"]["damaged_files"], 2);
}

#[test]
fn verify_accepts_go_written_json_snapshots() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go");
    let mut files = Vec::new();
    for case in ["json_basic", "mixed_json_bin"] {
        let host = fixtures.join(case).join("root/testcluster/node001");
        for entry in fs::read_dir(&host).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                files.push(path.to_str().unwrap().to_string());
            }
        }
    }
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    let args: Vec<&str> = ["verify"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    let output = ccwal(&args);
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "verified 3 files (0 WAL, 0 sealed, 3 snapshots), 0 damaged, 0 records\n"
    );
    assert_eq!(output.status.code(), Some(0));

    // Whole Go-written roots with JSON snapshots verify clean as well.
    for case in ["json_basic", "mixed_json_bin"] {
        let root = fixtures.join(case).join("root");
        let output = ccwal(&["verify", root.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(0), "{case}");
    }
}

/// Records that cannot be written (here the cluster's directory is a file)
/// make `ingest` fail, with the reason, instead of exiting 0.
#[test]
fn ingest_fails_when_its_records_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocked"), b"not a directory").unwrap();
    let root = dir.path().to_str().unwrap();
    let output = ingest(
        &[root, "--cluster", "blocked"],
        b"cpu_load,hostname=h1 value=1 1700000000\n",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("closing the store") && stderr.contains("blocked"),
        "{stderr}"
    );
    assert!(stderr.contains("\"failed\":1"), "{stderr}");
}

/// Runs `ccwal ingest ARGS` with `input` on its standard input.
fn ingest(args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ccwal"))
        .arg("ingest")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn ingest_appends_line_protocol_and_reports_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let output = ingest(
        &[root, "--cluster", "fallback", "--durability", "always"],
        b"cpu_load,cluster=fritz,hostname=f0101,type=cpu,type-id=3 value=0.75 1700000000\n\
              not line protocol\n\
              mem_bw,hostname=f0102,type=socket,type-id=0,stype=memctrl,stype-id=1 value=12i 1700000060000\n\
              flops,cluster=fritz,hostname=../x value=1 1700000000\n",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("line 2:") && stderr.contains("line 4:"),
        "{stderr}"
    );
    let stats: Value = stderr
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("stats JSON");
    assert_eq!(
        (stats["appended"].as_u64(), stats["written"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(stats["fsyncs"].as_u64().unwrap() >= 1);

    let first = ccwal(&[
        "dump",
        dir.path().join("fritz/f0101/current.wal").to_str().unwrap(),
    ]);
    let lines = stdout_lines(&first);
    assert_eq!(lines[0]["selector"], json!(["cpu3"]));
    assert_eq!(
        (lines[0]["ts"].as_i64(), lines[0]["value"].as_f64()),
        (Some(1_700_000_000), Some(0.75))
    );
    let second = ccwal(&[
        "dump",
        dir.path()
            .join("fallback/f0102/current.wal")
            .to_str()
            .unwrap(),
    ]);
    let lines = stdout_lines(&second);
    assert_eq!(lines[0]["selector"], json!(["socket0", "memctrl1"]));
    assert_eq!(lines[0]["ts"].as_i64(), Some(1_700_000_060));
}

/// More hosts than `restore` holds at a time (a few per core), some of
/// them damaged: the JSON still lists every host once, in name order, each
/// with its own values, and the per-host reports on stderr follow the same
/// order.
#[test]
fn restore_writes_many_hosts_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = 4 * 4 * std::thread::available_parallelism().map_or(1, |n| n.get()) + 3;
    for h in 0..hosts {
        let host = dir.path().join(format!("c/h{h:03}"));
        fs::create_dir_all(&host).unwrap();
        let mut wal = wal::file_header().to_vec();
        wal::encode_record(&mut wal, 2000, b"load", NO_SELECTOR, h as f32).unwrap();
        if h % 7 == 3 {
            wal.extend_from_slice(b"torn");
        }
        fs::write(host.join("current.wal"), wal).unwrap();
    }
    let metrics = dir.path().join("metrics.json");
    fs::write(&metrics, br#"{"load": 60}"#).unwrap();
    let root = dir.path().to_str().unwrap();
    let output = ccwal(&[
        "restore",
        root,
        "--from",
        "0",
        "--metrics",
        metrics.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "damage found");
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 1, "one JSON object");
    let listed = lines[0]["hosts"].as_array().unwrap();
    assert_eq!(listed.len(), hosts);
    for (h, host) in listed.iter().enumerate() {
        assert_eq!(host["host"], format!("h{h:03}"));
        let chunk = &host["levels"][0]["metrics"]["load"][0];
        assert_eq!(chunk["bits"], json!([(h as f32).to_bits()]), "host {h}");
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reported: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("c/h") && l.contains("files loaded"))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    let expected: Vec<String> = (0..hosts).map(|h| format!("c/h{h:03}")).collect();
    assert_eq!(reported, expected);
    assert!(
        stderr.contains(&format!("restored {hosts} hosts")),
        "{stderr}"
    );
}

#[test]
fn restore_prints_the_state_and_compact_folds_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("c/h");
    fs::create_dir_all(&host).unwrap();
    let mut snap = Vec::new();
    let snapshot = Snapshot {
        from: 1000,
        to: 2000,
        root: Level {
            metrics: vec![Metric {
                name: b"load".to_vec(),
                frequency: 60,
                start: 1000,
                values: vec![1.5],
            }],
            children: vec![Child {
                name: b"cpu0".to_vec(),
                level: Level::default(),
            }],
        },
    };
    encode_snapshot(&snapshot, &mut snap).unwrap();
    fs::write(host.join("1000.bin"), snap).unwrap();
    let mut wal = wal::file_header().to_vec();
    wal::encode_record(&mut wal, 2000, b"load", NO_SELECTOR, 2.5).unwrap();
    fs::write(host.join("current.wal"), wal).unwrap();
    let metrics = dir.path().join("metrics.json");
    fs::write(&metrics, br#"{"load": 60}"#).unwrap();
    let root = dir.path().to_str().unwrap();
    let metrics = metrics.to_str().unwrap();

    let output = ccwal(&["restore", root, "--from", "0", "--metrics", metrics]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = json!({"from": 0, "hosts": [{"cluster": "c", "host": "h", "error": null, "levels": [
        {"path": [], "metrics": {"load": [
            {"start": 1000, "frequency": 60, "len": 1, "cap": 1, "archived": true, "bits": [1.5f32.to_bits()]},
            {"start": 1970, "frequency": 60, "len": 1, "cap": 512, "archived": false, "bits": [2.5f32.to_bits()]}
        ]}},
        {"path": ["cpu0"], "metrics": {}}
    ]}]});
    assert_eq!(stdout_lines(&output), vec![expected]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("1 applied"));
    assert_eq!(
        ccwal(&["restore", root, "--from", "0", "--metrics", "/nonexistent"])
            .status
            .code(),
        Some(2)
    );

    let output = ccwal(&["compact", root, "--metrics", metrics]);
    assert_eq!(output.status.code(), Some(0));
    assert!(!host.join("current.wal").exists());
    let output = ccwal(&[
        "restore",
        root,
        "--from",
        "0",
        "--metrics",
        metrics,
        "--strict",
        "--go-exact",
        "--host",
        "c/h",
    ]);
    // One snapshot of both samples on the first one's grid (the WAL's
    // chunk started half a step early: 2000 is slot 16), renamed to the end
    // of its data so that Go's selection takes it.
    assert!(!host.join("1000.bin").exists());
    assert!(host.join("2029.bin").exists());
    let lines = stdout_lines(&output);
    let chain = &lines[0]["hosts"][0]["levels"][0]["metrics"]["load"];
    assert_eq!(chain.as_array().unwrap().len(), 1);
    assert_eq!(chain[0]["archived"], true);
    assert_eq!(chain[0]["start"], 1000);
    let bits = chain[0]["bits"].as_array().unwrap();
    assert_eq!(bits.len(), 17);
    assert_eq!(bits[0], json!(1.5f32.to_bits()));
    assert_eq!(bits[16], json!(2.5f32.to_bits()));
}

/// Go's scan stops at the first file where only directories belong: with
/// `--strict` the hosts after it are left out, which the tool says (naming
/// the file and each host) and marks with exit 1; without it every host is
/// restored and the file is only warned about.
#[test]
fn strict_restore_names_a_stray_file_and_the_hosts_it_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    for host in ["a", "c", "d"] {
        let host = dir.path().join("cl").join(host);
        fs::create_dir_all(&host).unwrap();
        let mut wal = wal::file_header().to_vec();
        wal::encode_record(&mut wal, 2000, b"load", NO_SELECTOR, 2.5).unwrap();
        fs::write(host.join("current.wal"), wal).unwrap();
    }
    let stray = dir.path().join("cl").join("b.bin");
    fs::write(&stray, b"").unwrap();
    let metrics = dir.path().join("metrics.json");
    fs::write(&metrics, br#"{"load": 60}"#).unwrap();
    let root = dir.path().to_str().unwrap();
    let metrics = metrics.to_str().unwrap();
    let hosts = |output: &Output| -> Vec<String> {
        stdout_lines(output)[0]["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["host"].as_str().unwrap().to_string())
            .collect()
    };

    let output = ccwal(&[
        "restore",
        root,
        "--from",
        "0",
        "--metrics",
        metrics,
        "--strict",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(hosts(&output), vec!["a"]);
    assert!(
        stderr.contains(&format!("error (format): {}", stray.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 host(s) after it not restored"),
        "{stderr}"
    );
    assert!(stderr.contains("cl/c: not restored"), "{stderr}");
    assert!(stderr.contains("cl/d: not restored"), "{stderr}");
    assert!(!stderr.contains("cl/a: not restored"), "{stderr}");

    let output = ccwal(&["restore", root, "--from", "0", "--metrics", metrics]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(hosts(&output), vec!["a", "c", "d"]);
    assert!(
        stderr.contains(&format!("warning (format): {}", stray.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("not restored"), "{stderr}");

    // Only a host before the stray file: nothing is left out.
    let output = ccwal(&[
        "restore",
        root,
        "--from",
        "0",
        "--metrics",
        metrics,
        "--strict",
        "--host",
        "cl/a",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning (format)"), "{stderr}");
    let output = ccwal(&[
        "restore",
        root,
        "--from",
        "0",
        "--metrics",
        metrics,
        "--strict",
        "--host",
        "cl/d",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cl/d: not restored"), "{stderr}");
    assert!(!stderr.contains("cl/c: not restored"), "{stderr}");

    // A host's error is printed with its kind: a snapshot that cannot be
    // read (a link to a directory) is an I/O error with its errno.
    fs::remove_file(&stray).unwrap();
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.path().join("cl/a/1000.bin")).unwrap();
    let output = ccwal(&[
        "restore",
        root,
        "--from",
        "0",
        "--metrics",
        metrics,
        "--strict",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cl/a: error (io): read "), "{stderr}");
    assert!(
        stderr.contains("1000.bin: Is a directory (os error 21)"),
        "{stderr}"
    );
    let output = ccwal(&["restore", root, "--from", "0", "--metrics", metrics]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("cl/a: skipped (io): read "), "{stderr}");
}

#[test]
fn verify_json_lists_damage_and_totals() {
    let dir = tempfile::tempdir().unwrap();
    let damaged_at = write_root(dir.path(), true);
    let missing = dir.path().join("missing");
    let output = ccwal(&[
        "verify",
        "--json",
        dir.path().to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    // An unreadable path makes it exit 2 (I/O error), also with --json.
    assert_eq!(output.status.code(), Some(2));
    // Not a terminal: no progress bar, nothing on stderr.
    assert!(output.stderr.is_empty(), "{:?}", output.stderr);
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["file"], missing.to_str().unwrap());
    assert!(lines[0]["error"].as_str().unwrap().contains("No such file"));
    assert!(
        lines[1]["file"]
            .as_str()
            .unwrap()
            .ends_with("a02/current.wal")
    );
    assert_eq!(lines[1]["offset"], damaged_at);
    assert!(
        lines[1]["reason"]
            .as_str()
            .unwrap()
            .contains("bad record magic")
    );
    assert_eq!(
        lines[2],
        json!({"verified": {"files": 4, "wal": 2, "sealed": 0, "snapshots": 2,
                            "damaged": 1, "records": 5, "io_errors": 1}})
    );

    let output = ccwal(&[
        "verify",
        "--json",
        dir.path().join("clusterA/a01").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout_lines(&output),
        vec![
            json!({"verified": {"files": 2, "wal": 1, "sealed": 0, "snapshots": 1,
                                 "damaged": 0, "records": 3, "io_errors": 0}})
        ]
    );
}

/// A root with one host: a snapshot (1.5 at 1000) and a WAL (2.5 at 2000,
/// NaN at 2060). Returns (root, metrics file).
fn restorable_root(dir: &Path) -> (String, String) {
    let host = dir.join("c/h");
    fs::create_dir_all(&host).unwrap();
    let snapshot = Snapshot {
        from: 1000,
        to: 2000,
        root: Level {
            metrics: vec![Metric {
                name: b"load".to_vec(),
                frequency: 60,
                start: 1000,
                values: vec![1.5],
            }],
            children: Vec::new(),
        },
    };
    let mut snap = Vec::new();
    encode_snapshot(&snapshot, &mut snap).unwrap();
    fs::write(host.join("1000.bin"), snap).unwrap();
    let mut wal = wal::file_header().to_vec();
    wal::encode_record(&mut wal, 2000, b"load", NO_SELECTOR, 2.5).unwrap();
    wal::encode_record(&mut wal, 2060, b"load", NO_SELECTOR, f32::NAN).unwrap();
    fs::write(host.join("current.wal"), wal).unwrap();
    let metrics = dir.join("metrics.json");
    fs::write(&metrics, br#"{"load": 60}"#).unwrap();
    (
        dir.to_str().unwrap().to_string(),
        metrics.to_str().unwrap().to_string(),
    )
}

#[test]
fn restore_values_and_closing_totals() {
    let dir = tempfile::tempdir().unwrap();
    let (root, metrics) = restorable_root(dir.path());
    let output = ccwal(&[
        "restore",
        &root,
        "--from",
        "0",
        "--metrics",
        &metrics,
        "--values",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let lines = stdout_lines(&output);
    let chain = &lines[0]["hosts"][0]["levels"][0]["metrics"]["load"];
    assert_eq!(chain[0]["values"], json!([1.5]));
    assert_eq!(chain[0]["bits"], json!([1.5f32.to_bits()]));
    assert_eq!(chain[1]["values"], json!([2.5, null]));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let last = stderr.lines().last().unwrap();
    assert_eq!(
        last,
        "restored 1 hosts (0 failed, 0 with damage, 0 left out): 2 files loaded, 0 skipped; 2 records applied, 0 skipped; 2 chunks, 3 values"
    );

    // Without --values, bits only (the shape scripts already parse).
    let output = ccwal(&["restore", &root, "--from", "0", "--metrics", &metrics]);
    let lines = stdout_lines(&output);
    let chain = &lines[0]["hosts"][0]["levels"][0]["metrics"]["load"];
    assert!(chain[0].get("values").is_none());
}

#[test]
fn compact_closes_with_a_total() {
    let dir = tempfile::tempdir().unwrap();
    let (root, metrics) = restorable_root(dir.path());
    let empty = dir.path().join("c/idle");
    fs::create_dir_all(&empty).unwrap();
    let output = ccwal(&["compact", &root, "--metrics", &metrics]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.lines().last().unwrap(),
        "compacted 2 hosts: 1 folded, 1 WAL files removed, 0 kept, 1 newest snapshots renamed, 0 failed",
        "{stdout}"
    );
    assert!(output.stderr.is_empty());
}

#[test]
fn stat_human_shows_units_and_dates_next_to_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (root, _) = restorable_root(dir.path());
    let output = ccwal(&["stat", "--human", &root]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("cluster c: 1 hosts\n"), "{text}");
    assert!(text.contains("\ntotal: 1 hosts\n"), "{text}");
    assert!(
        text.contains(
            "time       1970-01-01 00:16:40 UTC (1000) to 1970-01-01 00:34:20 UTC (2060), 17m 40s"
        ),
        "{text}"
    );
    assert!(text.contains("2 records"), "{text}");
    assert!(text.contains(" B"), "{text}");
    assert_eq!(
        ccwal(&["stat", "--human", "--json", &root]).status.code(),
        Some(2)
    );
}

/// Every positional argument of every subcommand is described in its help.
#[test]
fn every_positional_argument_has_help() {
    for command in ["dump", "verify", "stat", "ingest", "restore", "compact"] {
        let output = ccwal(&["help", command]);
        assert_eq!(output.status.code(), Some(0), "{command}");
        let help = String::from_utf8(output.stdout).unwrap();
        let arguments: Vec<&str> = help
            .split("Arguments:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{command} has no positional argument: {help}"))
            .lines()
            .take_while(|line| !line.is_empty())
            .collect();
        assert!(!arguments.is_empty(), "{help}");
        for line in arguments {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert!(
                words.len() > 1 && words[0].starts_with('<'),
                "{command}: `{line}` has no help"
            );
        }
    }
}
