//! The C ABI's flat batch buffer, through `ccwal_store_append_batch` on a
//! store below a temporary root: samples built from the input, then
//! optionally damaged (cut, a byte flipped, or raw bytes instead).
//! Invariants, against a reference parser of the documented layout:
//! - a buffer the reference accepts, with every cluster and host name
//!   passing validation, is appended whole: each host's current.wal, a
//!   path exactly ROOT/cluster/host/current.wal below the root, holds its
//!   samples' records in order and nothing else;
//! - any other buffer fails with CCWAL_INVALID_ARGUMENT (malformed) or
//!   CCWAL_INVALID_NAME, whose message names the first bad sample, and
//!   nothing is appended.
#![no_main]

use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use ccwal::codec::wal;
use ccwal::ffi::error::{ccwal_error, ccwal_error_code, ccwal_error_free, ccwal_error_message};
use ccwal::ffi::options::{ccwal_options_free, ccwal_options_new, ccwal_options_set_shards};
use ccwal::ffi::store::{
    ccwal_stats, ccwal_store, ccwal_store_append_batch, ccwal_store_flush, ccwal_store_free,
    ccwal_store_open, ccwal_store_rotate, ccwal_store_stats,
};
use ccwal::ffi::{CCWAL_INVALID_ARGUMENT, CCWAL_INVALID_NAME, CCWAL_OK};
use ccwal::names::{self, NameField};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[path = "shared/scratch.rs"]
mod scratch;
use scratch::scratch_dir;

#[derive(Arbitrary, Debug)]
struct SampleIn {
    ts: i64,
    value: f64,
    cluster: Vec<u8>,
    host: Vec<u8>,
    metric: Vec<u8>,
    selector: Vec<Vec<u8>>,
}

#[derive(Arbitrary, Debug)]
enum Damage {
    None,
    Cut(u16),
    Flip { at: u16, mask: u8 },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    samples: Vec<SampleIn>,
    damage: Damage,
}

/// One sample as the reference parser reads it.
#[derive(Debug)]
struct Sample<'a> {
    ts: i64,
    value: f64,
    cluster: &'a [u8],
    host: &'a [u8],
    metric: &'a [u8],
    selector: Vec<&'a [u8]>,
}

#[derive(Debug)]
enum Refusal {
    Malformed(usize),
    BadName(usize),
}

fn encode(samples: &[SampleIn]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in samples {
        let selector = &s.selector[..s.selector.len().min(255)];
        out.extend_from_slice(&s.ts.to_le_bytes());
        out.extend_from_slice(&s.value.to_le_bytes());
        for name in [&s.cluster, &s.host, &s.metric] {
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        }
        out.push(selector.len() as u8);
        for name in [&s.cluster, &s.host, &s.metric] {
            out.extend_from_slice(name);
        }
        for component in selector {
            let component = &component[..component.len().min(255)];
            out.push(component.len() as u8);
            out.extend_from_slice(component);
        }
    }
    out
}

/// The documented layout, read independently of ccwal's parser.
fn reference_parse(bytes: &[u8]) -> Result<Vec<Sample<'_>>, Refusal> {
    let mut samples = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let index = samples.len();
        let mut take = |n: usize| -> Result<&[u8], Refusal> {
            if rest.len() < n {
                return Err(Refusal::Malformed(index));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let header = take(23)?;
        let len = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]) as usize;
        let (cluster_len, host_len, metric_len) = (len(16), len(18), len(20));
        let sample = Sample {
            ts: i64::from_le_bytes(header[0..8].try_into().unwrap()),
            value: f64::from_le_bytes(header[8..16].try_into().unwrap()),
            cluster: take(cluster_len)?,
            host: take(host_len)?,
            metric: take(metric_len)?,
            selector: {
                let mut selector = Vec::new();
                for _ in 0..header[22] {
                    let n = take(1)?[0] as usize;
                    selector.push(take(n)?);
                }
                selector
            },
        };
        if names::validate_path_component(NameField::Cluster, sample.cluster).is_err()
            || names::validate_path_component(NameField::Host, sample.host).is_err()
        {
            return Err(Refusal::BadName(index));
        }
        samples.push(sample);
    }
    Ok(samples)
}

struct Fixture {
    root: PathBuf,
    store: *mut ccwal_store,
    uses: u32,
}

// SAFETY: the store is thread-safe (documented); the mutex serialises use.
unsafe impl Send for Fixture {}

/// Appends made before a fresh store on an empty root replaces this one,
/// so the root's directories do not pile up.
const USES_PER_STORE: u32 = 2000;

static FIXTURE: Mutex<Option<Fixture>> = Mutex::new(None);

fn open_store(root: &Path) -> *mut ccwal_store {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).unwrap();
    let root_bytes = root.as_os_str().as_encoded_bytes();
    let mut options = std::ptr::null_mut();
    let mut store = std::ptr::null_mut();
    let null_error = std::ptr::null_mut();
    assert_eq!(
        ccwal_options_new(
            root_bytes.as_ptr(),
            root_bytes.len(),
            &mut options,
            null_error
        ),
        CCWAL_OK
    );
    assert_eq!(ccwal_options_set_shards(options, 1, null_error), CCWAL_OK);
    assert_eq!(ccwal_store_open(options, &mut store, null_error), CCWAL_OK);
    ccwal_options_free(options);
    store
}

fn take_error(error: *mut ccwal_error) -> (i32, String) {
    assert!(!error.is_null(), "a failed call hands out an error");
    let (mut ptr, mut len) = (std::ptr::null(), 0);
    assert_eq!(ccwal_error_message(error, &mut ptr, &mut len), CCWAL_OK);
    // SAFETY: `len` bytes owned by the live error.
    let message = unsafe { std::slice::from_raw_parts(ptr, len) };
    let message = String::from_utf8(message.to_vec()).expect("UTF-8 message");
    let code = ccwal_error_code(error);
    ccwal_error_free(error);
    (code, message)
}

fn appended(store: *mut ccwal_store) -> u64 {
    let mut stats = ccwal_stats {
        struct_size: std::mem::size_of::<ccwal_stats>(),
        ..Default::default()
    };
    assert_eq!(
        ccwal_store_stats(store, &mut stats, std::ptr::null_mut()),
        CCWAL_OK
    );
    stats.appended
}

/// `ROOT/cluster/host/current.wal`, checked to be exactly those three
/// plain components below the root.
fn wal_path(root: &Path, cluster: &[u8], host: &[u8]) -> PathBuf {
    let path = ccwal::layout::host_dir(root, cluster, host)
        .expect("validated names")
        .join("current.wal");
    let below: Vec<_> = path
        .strip_prefix(root)
        .expect("below the root")
        .components()
        .collect();
    let plain = |c: &Component<'_>, name: &[u8]| matches!(c, Component::Normal(n) if n.as_encoded_bytes() == name);
    assert!(
        below.len() == 3 && plain(&below[0], cluster) && plain(&below[1], host),
        "{path:?}"
    );
    let real = path.canonicalize().expect("the WAL exists");
    assert!(
        real.starts_with(root.canonicalize().unwrap()),
        "{real:?} escapes the root"
    );
    path
}

fuzz_target!(|input: Input| {
    let mut bytes = encode(&input.samples);
    match input.damage {
        Damage::None => {}
        Damage::Cut(at) => bytes.truncate(at as usize),
        Damage::Flip { at, mask } => {
            if let Some(b) = bytes.get_mut(at as usize) {
                *b ^= mask;
            }
        }
        Damage::Raw(raw) => bytes = raw,
    }
    let mut fixture = FIXTURE.lock().unwrap();
    if fixture.as_ref().is_none_or(|f| f.uses >= USES_PER_STORE) {
        let root = scratch_dir("batch");
        if let Some(old) = fixture.take() {
            ccwal_store_free(old.store);
        }
        *fixture = Some(Fixture {
            store: open_store(&root),
            root,
            uses: 0,
        });
    }
    let fixture = fixture.as_mut().unwrap();
    fixture.uses += 1;
    let store = fixture.store;
    let before = appended(store);
    let mut error = std::ptr::null_mut();
    let result = ccwal_store_append_batch(store, bytes.as_ptr(), bytes.len(), &mut error);
    match reference_parse(&bytes) {
        Ok(samples) => {
            assert_eq!(result, CCWAL_OK, "{:?}", take_error(error));
            assert_eq!(appended(store) - before, samples.len() as u64);
            assert_eq!(ccwal_store_flush(store, std::ptr::null_mut()), CCWAL_OK);
            let mut hosts: Vec<(&[u8], &[u8])> =
                samples.iter().map(|s| (s.cluster, s.host)).collect();
            hosts.sort();
            hosts.dedup();
            let mut host_list = Vec::new();
            for &(cluster, host) in &hosts {
                let mut expected = wal::file_header().to_vec();
                for s in samples
                    .iter()
                    .filter(|s| (s.cluster, s.host) == (cluster, host))
                {
                    wal::encode_record(&mut expected, s.ts, s.metric, &s.selector, s.value as f32)
                        .expect("names that fit their fields");
                }
                let written = std::fs::read(wal_path(&fixture.root, cluster, host)).unwrap();
                assert!(
                    written == expected,
                    "{cluster:?}/{host:?}: the WAL holds other bytes"
                );
                host_list.extend_from_slice(&(cluster.len() as u16).to_le_bytes());
                host_list.extend_from_slice(&(host.len() as u16).to_le_bytes());
                host_list.extend_from_slice(cluster);
                host_list.extend_from_slice(host);
            }
            // Rotation deletes the files: the next append starts afresh.
            let rotated = ccwal_store_rotate(
                store,
                host_list.as_ptr(),
                host_list.len(),
                std::ptr::null_mut(),
            );
            assert_eq!(rotated, CCWAL_OK);
        }
        Err(refusal) => {
            let (code, message) = take_error(error);
            assert_eq!(result, code);
            let (expected, index) = match refusal {
                Refusal::Malformed(index) => (CCWAL_INVALID_ARGUMENT, index),
                Refusal::BadName(index) => (CCWAL_INVALID_NAME, index),
            };
            assert_eq!(code, expected, "{message}");
            assert!(
                message.contains(&format!("sample {index}")),
                "{message} (sample {index})"
            );
            assert_eq!(appended(store), before, "nothing is appended");
        }
    }
});
