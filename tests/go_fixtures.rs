//! Ground truth from the real Go metricstore (cc-backend v1.5.4): each
//! directory under tests/fixtures/go was written by the Go code, and its
//! expected.json holds what Go's FromCheckpointFiles restored for several
//! horizons and metric configurations. ccwal's restore with the Go rules
//! (`GoExact`, `Strict`) must give the same buffer chains.

use std::collections::BTreeMap;
use std::path::Path;

use ccwal::restore::{Chunk, MetricConfig, Recovery, RestoreOptions, Selection, restore};
use serde_json::Value;

/// One buffer as expected.json describes it, and as ours is compared.
#[derive(Debug, PartialEq)]
struct Buffer {
    start: i64,
    /// `None` for an empty buffer (Go exposes no frequency then).
    frequency: Option<i64>,
    len: usize,
    archived: bool,
    /// Each value, NaN as one canonical marker and -0.0 as +0.0 (Go's Read
    /// computes 0 + v): float32 bits, or float64 bits for JSON-loaded values
    /// that are not exact float32s.
    values: Vec<String>,
}

fn canonical(v: f64, wide: bool) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    let v = if v == 0.0 { 0.0 } else { v };
    if wide && (v as f32) as f64 != v {
        format!("f64:{:016x}", v.to_bits())
    } else {
        format!("f32:{:08x}", (v as f32).to_bits())
    }
}

fn ours(chunk: &Chunk) -> Buffer {
    Buffer {
        start: chunk.start,
        frequency: (!chunk.values.is_empty()).then_some(chunk.frequency),
        len: chunk.values.len(),
        archived: chunk.archived,
        values: chunk.values.iter().map(|&v| canonical(v, true)).collect(),
    }
}

fn theirs(buffer: &Value) -> Buffer {
    let f32_bits: Vec<u32> = buffer["f32_bits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as u32)
        .collect();
    let f64_bits: Option<Vec<u64>> = buffer
        .get("f64_bits")
        .and_then(Value::as_array)
        .map(|bits| {
            bits.iter()
                .map(|b| {
                    u64::from_str_radix(b.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
                })
                .collect()
        });
    let values = match f64_bits {
        Some(bits) => bits
            .iter()
            .map(|&b| canonical(f64::from_bits(b), true))
            .collect(),
        None => f32_bits
            .iter()
            .map(|&b| canonical(f32::from_bits(b) as f64, false))
            .collect(),
    };
    Buffer {
        start: buffer["start"].as_i64().unwrap(),
        frequency: buffer["frequency"].as_i64(),
        len: buffer["len"].as_u64().unwrap() as usize,
        archived: buffer["archived"].as_bool().unwrap(),
        values,
    }
}

type Levels = BTreeMap<Vec<String>, BTreeMap<String, Vec<Buffer>>>;

fn restored_levels(root: &Path, from: i64, metrics: &MetricConfig) -> (Levels, bool) {
    let options = RestoreOptions {
        selection: Selection::GoExact,
        recovery: Recovery::Strict,
        workers: 2,
        only: None,
    };
    let restored = restore(root, from, metrics, &options).unwrap();
    let mut levels = Levels::new();
    let mut failed = restored.error.is_some();
    for host in restored.hosts {
        failed |= host.error.is_some();
        let prefix = vec![
            String::from_utf8(host.cluster).unwrap(),
            String::from_utf8(host.host).unwrap(),
        ];
        for (path, level) in host.root.walk() {
            let mut full = prefix.clone();
            full.extend(path.into_iter().map(|p| String::from_utf8(p).unwrap()));
            let chains = level
                .metrics
                .iter()
                .map(|(name, chain)| {
                    (
                        String::from_utf8(name.clone()).unwrap(),
                        chain.iter().map(ours).collect(),
                    )
                })
                .collect();
            levels.insert(full, chains);
        }
    }
    (levels, failed)
}

fn expected_levels(case: &Value) -> Levels {
    let mut levels = Levels::new();
    for level in case["levels"].as_array().unwrap() {
        let path: Vec<String> = level["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect();
        // Go also has a level per cluster; ccwal's start at the host.
        if path.len() < 2 {
            continue;
        }
        let chains = level["metrics"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, chain)| {
                (
                    name.clone(),
                    chain.as_array().unwrap().iter().map(theirs).collect(),
                )
            })
            .collect();
        levels.insert(path, chains);
    }
    levels
}

#[test]
fn ccwal_restores_what_the_go_metricstore_restores() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go");
    let mut compared = 0;
    let mut mismatches = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs
        .into_iter()
        .filter(|d| d.join("expected.json").exists())
    {
        let expected: Value =
            serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
        let root = dir.join(expected["root"].as_str().unwrap());
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        for (i, case) in expected["cases"].as_array().unwrap().iter().enumerate() {
            let from = case["from"].as_i64().unwrap();
            let metrics = MetricConfig::new(
                case["metrics"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(m, f)| (m.as_bytes().to_vec(), f.as_i64().unwrap())),
            );
            let (ours, failed) = restored_levels(&root, from, &metrics);
            let theirs = expected_levels(case);
            compared += 1;
            if ours != theirs {
                let differing: Vec<_> = ours
                    .keys()
                    .chain(theirs.keys())
                    .filter(|path| ours.get(*path) != theirs.get(*path))
                    .map(|path| {
                        format!(
                            "{path:?}: ccwal {:?}\n      Go {:?}",
                            ours.get(path),
                            theirs.get(path)
                        )
                    })
                    .take(3)
                    .collect();
                mismatches.push(format!(
                    "{name} case {i} (from {from}):\n    {}",
                    differing.join("\n    ")
                ));
            }
            let go_failed = !case["error"].is_null();
            if failed != go_failed {
                mismatches.push(format!(
                    "{name} case {i}: ccwal failed={failed}, Go error={}",
                    case["error"]
                ));
            }
        }
    }
    assert!(compared >= 9, "the fixtures are missing ({compared} cases)");
    assert!(
        mismatches.is_empty(),
        "{} of {compared} cases differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
