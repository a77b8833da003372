//! The C ABI's restore report and error objects, called from Rust as C
//! would: a Go-written fixture root restored through `ccwal_restore`, every
//! accessor walked, every value read through the pointers handed out.
//! Small on purpose: `make miri` runs it under Miri (with file access),
//! which checks each pointer handed out for bounds, lifetime and
//! alignment.

use std::ffi::CStr;
use std::mem::{size_of, zeroed};
use std::path::Path;
use std::ptr::{null, null_mut};

use ccwal::ffi::error::{
    ccwal_error, ccwal_error_code, ccwal_error_free, ccwal_error_message, ccwal_error_os_code,
    ccwal_result_description,
};
use ccwal::ffi::restore::{
    ccwal_chunk, ccwal_restore, ccwal_restore_chunk, ccwal_restore_host, ccwal_restore_host_count,
    ccwal_restore_host_error, ccwal_restore_level, ccwal_restore_level_path, ccwal_restore_metric,
    ccwal_restore_result, ccwal_restore_result_free, ccwal_restore_root_error, ccwal_restored_host,
    ccwal_restored_level, ccwal_restored_metric,
};
use ccwal::ffi::restore_scan::{
    ccwal_restore_scan_free, ccwal_restore_scan_host, ccwal_restore_scan_host_count,
    ccwal_restore_scan_new, ccwal_restore_scan_root_error,
};
use ccwal::ffi::{CCWAL_INVALID_ARGUMENT, CCWAL_NULL_ARGUMENT, CCWAL_OK};
use ccwal::restore::{MetricConfig, RestoreOptions, restore};

const METRICS: [(&str, i64); 4] = [
    ("cpu_load", 60),
    ("flops_any", 60),
    ("mem_bw", 60),
    ("power", 30),
];

fn fixture_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go/combined/root")
}

/// `(ptr, len)` from C as a slice; an empty one may have any pointer.
fn slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if len == 0 {
        return &[];
    }
    // SAFETY: ccwal hands out `len` readable elements, valid until the
    // result is freed (which the callers do only afterwards).
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

/// Code and message of an error, which is then freed.
fn take_error(error: *mut ccwal_error) -> (i32, String) {
    assert!(!error.is_null());
    let (mut ptr, mut len) = (null(), 0);
    assert_eq!(ccwal_error_message(error, &mut ptr, &mut len), CCWAL_OK);
    // The message is NUL-terminated too.
    assert_eq!(slice(ptr, len + 1)[len], 0);
    let message = String::from_utf8(slice(ptr, len).to_vec()).unwrap();
    let code = ccwal_error_code(error);
    assert_eq!(ccwal_error_os_code(error), 0);
    ccwal_error_free(error);
    (code, message)
}

/// The metric configuration as C passes it.
fn flat_config() -> Vec<u8> {
    let mut config = Vec::new();
    for (name, frequency) in METRICS {
        config.extend_from_slice(&(name.len() as u16).to_le_bytes());
        config.extend_from_slice(name.as_bytes());
        config.extend_from_slice(&frequency.to_le_bytes());
    }
    config
}

fn restore_through_c() -> *mut ccwal_restore_result {
    let config = flat_config();
    let root = fixture_root();
    let root = root.as_os_str().as_encoded_bytes();
    let mut result = null_mut();
    let mut error = null_mut();
    let code = ccwal_restore(
        root.as_ptr(),
        root.len(),
        0,
        config.as_ptr(),
        config.len(),
        null(),
        &mut result,
        &mut error,
    );
    assert_eq!(code, CCWAL_OK);
    assert!(error.is_null() && !result.is_null());
    result
}

/// (host, level path, metric, chunk starts and values' bits) of every
/// chunk, read through the accessors.
type Chunks = Vec<(Vec<u8>, Vec<Vec<u8>>, Vec<u8>, i64, Vec<u64>)>;

fn chunks_through_c(result: *const ccwal_restore_result) -> Chunks {
    let e = null_mut();
    let mut out = Vec::new();
    let mut hosts = 0;
    assert_eq!(ccwal_restore_host_count(result, &mut hosts, e), CCWAL_OK);
    for h in 0..hosts {
        let mut host = ccwal_restored_host {
            struct_size: size_of::<ccwal_restored_host>(),
            ..unsafe { zeroed() }
        };
        assert_eq!(ccwal_restore_host(result, h, &mut host, e), CCWAL_OK);
        let name = slice(host.host, host.host_len).to_vec();
        assert!(!slice(host.cluster, host.cluster_len).is_empty());
        for l in 0..host.level_count {
            let mut level = ccwal_restored_level {
                struct_size: size_of::<ccwal_restored_level>(),
                ..unsafe { zeroed() }
            };
            assert_eq!(ccwal_restore_level(result, h, l, &mut level, e), CCWAL_OK);
            let path: Vec<Vec<u8>> = (0..level.depth)
                .map(|k| {
                    let (mut ptr, mut len) = (null(), 0);
                    let code = ccwal_restore_level_path(result, h, l, k, &mut ptr, &mut len, e);
                    assert_eq!(code, CCWAL_OK);
                    slice(ptr, len).to_vec()
                })
                .collect();
            for m in 0..level.metric_count {
                let mut metric = ccwal_restored_metric {
                    struct_size: size_of::<ccwal_restored_metric>(),
                    ..unsafe { zeroed() }
                };
                assert_eq!(
                    ccwal_restore_metric(result, h, l, m, &mut metric, e),
                    CCWAL_OK
                );
                for c in 0..metric.chunk_count {
                    let mut chunk = ccwal_chunk {
                        struct_size: size_of::<ccwal_chunk>(),
                        ..unsafe { zeroed() }
                    };
                    assert_eq!(
                        ccwal_restore_chunk(result, h, l, m, c, &mut chunk, e),
                        CCWAL_OK
                    );
                    let values = slice(chunk.values, chunk.len).iter().map(|v| v.to_bits());
                    out.push((
                        name.clone(),
                        path.clone(),
                        slice(metric.name, metric.name_len).to_vec(),
                        chunk.start,
                        values.collect(),
                    ));
                }
            }
        }
    }
    out
}

fn chunks_through_rust() -> Chunks {
    let config = MetricConfig::new(METRICS);
    let restored = restore(&fixture_root(), 0, &config, &RestoreOptions::default()).unwrap();
    let mut out = Vec::new();
    for host in &restored.hosts {
        for (path, level) in host.root.walk() {
            for (metric, chain) in &level.metrics {
                for chunk in chain {
                    out.push((
                        host.host.clone(),
                        path.clone(),
                        metric.clone(),
                        chunk.start,
                        chunk.values.iter().map(|v| v.to_bits()).collect(),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn every_accessor_of_a_restore_reads_what_the_rust_restore_gives() {
    let result = restore_through_c();
    let through_c = chunks_through_c(result);
    assert!(through_c.len() > 4, "the fixture restores several chunks");
    assert_eq!(through_c, chunks_through_rust());

    let (mut code, mut os_code, mut ptr, mut len) = (-1, -1, null(), usize::MAX);
    let e = null_mut();
    let status = ccwal_restore_root_error(result, &mut code, &mut os_code, &mut ptr, &mut len, e);
    assert_eq!((status, code, os_code, len), (CCWAL_OK, CCWAL_OK, 0, 0));
    len = usize::MAX;
    let status =
        ccwal_restore_host_error(result, 0, &mut code, &mut os_code, &mut ptr, &mut len, e);
    assert_eq!((status, code, len), (CCWAL_OK, CCWAL_OK, 0));
    ccwal_restore_result_free(result);
}

#[test]
fn out_of_range_indices_and_null_outputs_are_errors_not_reads() {
    let result = restore_through_c();
    let mut hosts = 0;
    assert_eq!(
        ccwal_restore_host_count(result, &mut hosts, null_mut()),
        CCWAL_OK
    );
    let mut error = null_mut();
    let mut host = ccwal_restored_host {
        struct_size: size_of::<ccwal_restored_host>(),
        ..unsafe { zeroed() }
    };
    assert_eq!(
        ccwal_restore_host(result, hosts, &mut host, &mut error),
        CCWAL_INVALID_ARGUMENT
    );
    let (code, message) = take_error(error);
    assert_eq!(code, CCWAL_INVALID_ARGUMENT);
    assert!(message.contains(&format!("of {hosts}")), "{message}");

    let mut chunk = ccwal_chunk {
        struct_size: size_of::<ccwal_chunk>(),
        ..unsafe { zeroed() }
    };
    let mut error = null_mut();
    let status = ccwal_restore_chunk(result, 0, 0, 0, usize::MAX, &mut chunk, &mut error);
    assert_eq!(status, CCWAL_INVALID_ARGUMENT);
    let (_, message) = take_error(error);
    assert!(
        message.contains(&format!("chunk index {} of ", usize::MAX)),
        "{message}"
    );

    let mut error = null_mut();
    assert_eq!(
        ccwal_restore_host_count(result, null_mut(), &mut error),
        CCWAL_NULL_ARGUMENT
    );
    assert_eq!(take_error(error).0, CCWAL_NULL_ARGUMENT);
    let mut error = null_mut();
    assert_eq!(
        ccwal_restore_host_count(null(), &mut hosts, &mut error),
        CCWAL_NULL_ARGUMENT
    );
    assert!(take_error(error).1.contains("result"));

    ccwal_restore_result_free(result);
    ccwal_restore_result_free(null_mut());
    ccwal_error_free(null_mut());
    // SAFETY: a static NUL-terminated string, never NULL.
    let description = unsafe { CStr::from_ptr(ccwal_result_description(CCWAL_NULL_ARGUMENT)) };
    assert!(!description.to_bytes().is_empty());
}

#[test]
fn a_scan_restores_host_by_host_what_the_rust_restore_gives() {
    let config = flat_config();
    let root = fixture_root();
    let root = root.as_os_str().as_encoded_bytes();
    let mut scan = null_mut();
    let e = null_mut();
    let code = ccwal_restore_scan_new(
        root.as_ptr(),
        root.len(),
        0,
        config.as_ptr(),
        config.len(),
        null(),
        &mut scan,
        e,
    );
    assert_eq!(code, CCWAL_OK);
    let mut hosts = 0;
    assert_eq!(ccwal_restore_scan_host_count(scan, &mut hosts, e), CCWAL_OK);
    assert!(hosts > 1, "the fixture has several hosts");
    let mut through_c = Vec::new();
    for h in 0..hosts {
        let mut result = null_mut();
        assert_eq!(ccwal_restore_scan_host(scan, h, &mut result, e), CCWAL_OK);
        let mut one = 0;
        assert_eq!(ccwal_restore_host_count(result, &mut one, e), CCWAL_OK);
        assert_eq!(one, 1);
        through_c.extend(chunks_through_c(result));
        ccwal_restore_result_free(result);
    }
    assert_eq!(through_c, chunks_through_rust());

    let (mut code, mut os_code, mut ptr, mut len) = (-1, -1, null(), usize::MAX);
    let status =
        ccwal_restore_scan_root_error(scan, &mut code, &mut os_code, &mut ptr, &mut len, e);
    assert_eq!((status, code, os_code, len), (CCWAL_OK, CCWAL_OK, 0, 0));

    let mut result = null_mut();
    let mut error = null_mut();
    assert_eq!(
        ccwal_restore_scan_host(scan, hosts, &mut result, &mut error),
        CCWAL_INVALID_ARGUMENT
    );
    assert!(result.is_null(), "no result on failure");
    assert!(
        take_error(error)
            .1
            .contains(&format!("host index {hosts} of {hosts}"))
    );
    let mut error = null_mut();
    assert_eq!(
        ccwal_restore_scan_host(scan, 0, null_mut(), &mut error),
        CCWAL_NULL_ARGUMENT
    );
    assert!(take_error(error).1.contains("result_out"));
    let mut error = null_mut();
    assert_eq!(
        ccwal_restore_scan_host(null(), 0, &mut result, &mut error),
        CCWAL_NULL_ARGUMENT
    );
    assert!(take_error(error).1.contains("scan"));
    ccwal_restore_scan_free(scan);
    ccwal_restore_scan_free(null_mut());
}
