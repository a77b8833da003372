//! Restore of a real checkpoint root (one of tests/fixtures/go, written by
//! the Go code) after mutations chosen by the input: bytes flipped, files
//! cut, contents swapped, bytes spliced from one file into another, files
//! renamed (another snapshot number, a sealed segment, current.wal) or
//! removed. Restored under both recovery modes with the input's selection,
//! horizon and metric frequencies. Invariants per host:
//! - the WAL records restore counts (applied, before the horizon, of an
//!   unknown metric, rejected) are no more than the valid records in the
//!   host's WAL files;
//! - the values restored are no more than the snapshot files hold plus the
//!   records applied;
//! - every file loaded, skipped or damaged is in the host's directory, and
//!   each damaged range lies inside its file.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ccwal::codec::json::decode_json_snapshot;
use ccwal::codec::snapshot::{Level, decode_snapshot};
use ccwal::codec::wal::{self, WalItem, OnDamage, WalReader};
use ccwal::layout::{self, HostFileName, SnapshotFormat};
use ccwal::restore::{MetricConfig, Recovery, RestoreOptions, RestoredHost, Selection, restore};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[path = "shared/scratch.rs"]
mod scratch;
use scratch::scratch_dir;

/// Fixture roots: (relative path, bytes) of each file, in path order.
type Root = Vec<(PathBuf, Vec<u8>)>;

fn fixtures() -> &'static [Root] {
    static ROOTS: OnceLock<Vec<Root>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/go");
        let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path().join("root"))
            .filter(|p| p.is_dir())
            .collect();
        cases.sort();
        cases
            .iter()
            .map(|root| {
                let mut files = Vec::new();
                collect(root, root, &mut files);
                files.sort();
                files
            })
            .collect()
    })
}

fn collect(root: &Path, dir: &Path, files: &mut Root) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            files.push((path.strip_prefix(root).unwrap().to_path_buf(), bytes));
        }
    }
}

#[derive(Arbitrary, Debug)]
enum NewName {
    Binary(i8),
    Json(i8),
    Sealed(i8, u8),
    Current,
    NotANumber,
}

impl NewName {
    fn file_name(&self) -> String {
        let number = |step: i8| 1_700_000_100 + 300 * i64::from(step);
        match *self {
            NewName::Binary(step) => {
                layout::snapshot_file_name(number(step), SnapshotFormat::Binary)
            }
            NewName::Json(step) => layout::snapshot_file_name(number(step), SnapshotFormat::Json),
            NewName::Sealed(step, k) => layout::sealed_segment_name(number(step), u32::from(k)),
            NewName::Current => "current.wal".to_string(),
            NewName::NotANumber => "17000x.bin".to_string(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    Flip {
        file: u8,
        at: u16,
        mask: u8,
    },
    Cut {
        file: u8,
        at: u16,
    },
    Swap {
        a: u8,
        b: u8,
    },
    Splice {
        from: u8,
        to: u8,
        at: u16,
        from_at: u16,
        len: u8,
    },
    Rename {
        file: u8,
        name: NewName,
    },
    Copy {
        file: u8,
        name: NewName,
    },
    Remove {
        file: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    fixture: u8,
    mutations: Vec<Mutation>,
    /// The horizon, in steps of 60 s from the fixtures' first window.
    from_step: Option<i8>,
    go_exact: bool,
    /// Frequencies of the fixtures' four metrics, in seconds.
    frequencies: [u8; 4],
}

fn mutate(files: &mut Root, mutation: &Mutation) {
    if files.is_empty() {
        return;
    }
    let count = files.len();
    let pick = |i: u8| i as usize % count;
    let within = |at: u16, len: usize| if len == 0 { 0 } else { at as usize % len };
    match *mutation {
        Mutation::Flip { file, at, mask } => {
            let bytes = &mut files[pick(file)].1;
            let at = within(at, bytes.len());
            if let Some(b) = bytes.get_mut(at) {
                *b ^= mask;
            }
        }
        Mutation::Cut { file, at } => {
            let bytes = &mut files[pick(file)].1;
            let at = within(at, bytes.len() + 1);
            bytes.truncate(at);
        }
        Mutation::Swap { a, b } => {
            let (a, b) = (pick(a), pick(b));
            let taken = std::mem::take(&mut files[a].1);
            files[a].1 = std::mem::replace(&mut files[b].1, taken);
        }
        Mutation::Splice {
            from,
            to,
            at,
            from_at,
            len,
        } => {
            let source = &files[pick(from)].1;
            let start = within(from_at, source.len());
            let piece = source[start..(start + len as usize).min(source.len())].to_vec();
            let target = &mut files[pick(to)].1;
            let at = within(at, target.len() + 1);
            let end = (at + piece.len()).min(target.len());
            target.splice(at..end, piece);
        }
        Mutation::Rename { file, ref name } => {
            let path = &mut files[pick(file)].0;
            path.set_file_name(name.file_name());
        }
        Mutation::Copy { file, ref name } => {
            let (path, bytes) = files[pick(file)].clone();
            files.push((path.with_file_name(name.file_name()), bytes));
        }
        Mutation::Remove { file } => {
            files.remove(pick(file));
        }
    }
}

fn non_nan<V: Copy + Into<f64>>(level: &Level<V>) -> u64 {
    let own: u64 = level
        .metrics
        .iter()
        .map(|m| m.values.iter().filter(|v| !(**v).into().is_nan()).count() as u64)
        .sum();
    own + level
        .children
        .iter()
        .map(|c| non_nan(&c.level))
        .sum::<u64>()
}

/// What the files of one host directory hold: valid WAL records (read with
/// resynchronisation) and values in snapshots that decode.
fn contents(dir: &Path) -> (u64, u64) {
    let (mut records, mut values) = (0, 0);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    for entry in entries {
        let entry = entry.unwrap();
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        match layout::classify(&entry.file_name()) {
            HostFileName::Wal | HostFileName::Sealed { .. } => {
                if let Ok(start) = wal::check_file_header(&bytes) {
                    records += WalReader::new(&bytes, start, OnDamage::Resync)
                        .filter(|item| matches!(item, WalItem::Record { .. }))
                        .count() as u64;
                }
            }
            HostFileName::Snapshot {
                format: SnapshotFormat::Binary,
                ..
            } => {
                values += decode_snapshot(&bytes).map_or(0, |(s, _)| non_nan(&s.root));
            }
            HostFileName::Snapshot {
                format: SnapshotFormat::Json,
                ..
            } => {
                values += decode_json_snapshot(&bytes).map_or(0, |s| non_nan(&s.root));
            }
            _ => {}
        }
    }
    (records, values)
}

fn restored_values(host: &RestoredHost) -> u64 {
    host.root
        .walk()
        .iter()
        .flat_map(|(_, level)| level.metrics.values().flatten())
        .map(|chunk| chunk.values.iter().filter(|v| !v.is_nan()).count() as u64)
        .sum()
}

fn check_host(root: &Path, host: &RestoredHost) {
    let dir = ccwal::layout::host_dir(root, &host.cluster, &host.host)
        .expect("a restored host has valid names");
    let (records, values) = contents(&dir);
    let r = &host.report;
    let counted =
        r.records_applied + r.records_before_from + r.records_unknown_metric + r.records_rejected;
    assert!(
        counted <= records,
        "{dir:?}: {counted} records counted, the files hold {records}"
    );
    let restored = restored_values(host);
    assert!(
        restored <= values + r.records_applied,
        "{dir:?}: {restored} values restored from {values} in snapshots and {} records",
        r.records_applied
    );
    let in_dir = |file: &Path| assert_eq!(file.parent(), Some(dir.as_path()), "{file:?}");
    r.files_loaded.iter().for_each(|f| in_dir(f));
    r.files_skipped.iter().for_each(|(f, _)| in_dir(f));
    for damage in &r.damage {
        in_dir(&damage.file);
        let size = std::fs::metadata(&damage.file).map_or(0, |m| m.len());
        assert!(
            damage.offset + damage.len <= size,
            "{damage:?} is outside the file ({size} bytes)"
        );
    }
}

fuzz_target!(|input: Input| {
    let roots = fixtures();
    let mut files = roots[input.fixture as usize % roots.len()].clone();
    for mutation in input.mutations.iter().take(16) {
        mutate(&mut files, mutation);
    }
    let root = scratch_dir("restore");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    for (path, bytes) in &files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    let from = input
        .from_step
        .map_or(0, |step| 1_700_000_100 + 60 * i64::from(step));
    let names = ["cpu_load", "flops_any", "mem_bw", "power"];
    let config = MetricConfig::new(
        names
            .iter()
            .zip(input.frequencies)
            .map(|(n, f)| (n, i64::from(f.max(1)))),
    );
    let selection = if input.go_exact {
        Selection::GoExact
    } else {
        Selection::Covering
    };
    let mut hosts_per_mode = BTreeMap::new();
    for recovery in [Recovery::Strict, Recovery::Salvage] {
        let options = RestoreOptions {
            selection,
            recovery,
            workers: 1,
            only: None,
        };
        let restored = restore(&root, from, &config, &options).expect("the root can be listed");
        for host in &restored.hosts {
            check_host(&root, host);
        }
        hosts_per_mode.insert(format!("{recovery:?}"), restored.hosts.len());
    }
    // Both modes see the same hosts (Strict may stop at a stray file).
    assert!(hosts_per_mode["Strict"] <= hosts_per_mode["Salvage"]);
});
