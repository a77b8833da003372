//! Cost per sample in the caller's thread through the C ABI — single
//! appends and the flat batch buffer — next to the Rust API, in one run.
//! Queues are large enough that no append waits for the writers, so this
//! measures the call path (checks, encoding, queueing), not the disk.
//!
//! `cargo bench --bench ffi`

use std::time::{Duration, Instant};

use ccwal::engine::{Batch, Store, StoreOptions};
use ccwal::ffi::CCWAL_OK;
use ccwal::ffi::options::{
    ccwal_options_free, ccwal_options_new, ccwal_options_set_queue_capacity,
};
use ccwal::ffi::store::{
    ccwal_bytes, ccwal_store, ccwal_store_append, ccwal_store_append_batch, ccwal_store_free,
    ccwal_store_open,
};

const SAMPLES: usize = 1_000_000;
const BATCH: usize = 4096;
const QUEUE: usize = 1 << 30;

fn hosts() -> Vec<Vec<u8>> {
    (0..1000)
        .map(|h| format!("node{h:04}").into_bytes())
        .collect()
}

fn c_store(root: &std::path::Path) -> *mut ccwal_store {
    let root = root.to_str().unwrap();
    let mut options = std::ptr::null_mut();
    let mut store = std::ptr::null_mut();
    assert_eq!(
        ccwal_options_new(
            root.as_ptr(),
            root.len(),
            &mut options,
            std::ptr::null_mut()
        ),
        CCWAL_OK
    );
    assert_eq!(
        ccwal_options_set_queue_capacity(options, QUEUE, std::ptr::null_mut()),
        CCWAL_OK
    );
    assert_eq!(
        ccwal_store_open(options, &mut store, std::ptr::null_mut()),
        CCWAL_OK
    );
    ccwal_options_free(options);
    store
}

fn rust_store(root: &std::path::Path) -> Store {
    let mut options = StoreOptions::new(root);
    options.queue_capacity = QUEUE;
    Store::open(options).unwrap()
}

fn per_sample(t: Duration) -> f64 {
    t.as_nanos() as f64 / SAMPLES as f64
}

fn main() {
    let hosts = hosts();
    let host = |i: usize| &hosts[(i / 64) % hosts.len()];
    let selector = [b"cpu0".as_slice()];
    let c_selector = [ccwal_bytes {
        ptr: selector[0].as_ptr(),
        len: selector[0].len(),
    }];
    let metric = b"cpu_load";

    let dir = tempfile::tempdir().unwrap();
    let store = rust_store(&dir.path().join("rust-single"));
    let started = Instant::now();
    for i in 0..SAMPLES {
        store
            .append(b"fritz", host(i), metric, &selector, i as f64, i as i64)
            .unwrap();
    }
    let rust_single = started.elapsed();
    drop(store);

    let store = c_store(&dir.path().join("c-single"));
    let started = Instant::now();
    for i in 0..SAMPLES {
        let h = host(i);
        let rc = ccwal_store_append(
            store,
            b"fritz".as_ptr(),
            5,
            h.as_ptr(),
            h.len(),
            metric.as_ptr(),
            metric.len(),
            c_selector.as_ptr(),
            1,
            i as f64,
            i as i64,
            std::ptr::null_mut(),
        );
        assert_eq!(rc, CCWAL_OK);
    }
    let c_single = started.elapsed();
    ccwal_store_free(store);

    let store = rust_store(&dir.path().join("rust-batch"));
    let mut batch = Batch::new();
    let started = Instant::now();
    for i in 0..SAMPLES {
        batch
            .push(b"fritz", host(i), metric, &selector, i as f64, i as i64)
            .unwrap();
        if batch.len() == BATCH {
            store.append_batch(&batch).unwrap();
            batch.clear();
        }
    }
    store.append_batch(&batch).unwrap();
    let rust_batch = started.elapsed();
    drop(store);

    // The C caller builds the flat buffer itself (as Go does), then makes
    // one call per batch.
    let store = c_store(&dir.path().join("c-batch"));
    let mut buffer: Vec<u8> = Vec::with_capacity(BATCH * 64);
    let started = Instant::now();
    let mut in_buffer = 0;
    for i in 0..SAMPLES {
        let h = host(i);
        buffer.extend_from_slice(&(i as i64).to_le_bytes());
        buffer.extend_from_slice(&(i as f64).to_le_bytes());
        buffer.extend_from_slice(&5u16.to_le_bytes());
        buffer.extend_from_slice(&(h.len() as u16).to_le_bytes());
        buffer.extend_from_slice(&(metric.len() as u16).to_le_bytes());
        buffer.push(1);
        buffer.extend_from_slice(b"fritz");
        buffer.extend_from_slice(h);
        buffer.extend_from_slice(metric);
        buffer.push(4);
        buffer.extend_from_slice(b"cpu0");
        in_buffer += 1;
        if in_buffer == BATCH || i + 1 == SAMPLES {
            let rc = ccwal_store_append_batch(
                store,
                buffer.as_ptr(),
                buffer.len(),
                std::ptr::null_mut(),
            );
            assert_eq!(rc, CCWAL_OK);
            buffer.clear();
            in_buffer = 0;
        }
    }
    let c_batch = started.elapsed();
    ccwal_store_free(store);

    println!("{SAMPLES} samples from one thread, caller-side cost");
    println!("{:<36} {:>12} {:>16}", "path", "ns/sample", "× Rust API");
    for (name, t, reference) in [
        ("Rust Store::append", rust_single, rust_single),
        ("C ccwal_store_append", c_single, rust_single),
        ("Rust Batch + append_batch", rust_batch, rust_batch),
        ("C flat buffer + append_batch", c_batch, rust_batch),
    ] {
        println!(
            "{name:<36} {:>12.1} {:>16.2}",
            per_sample(t),
            t.as_secs_f64() / reference.as_secs_f64()
        );
    }
}
