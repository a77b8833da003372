//! Codec throughput on one core, next to a plain memcpy of the same bytes in
//! the same run (figures are ratios; the machines are shared and noisy).
//!
//! `cargo bench --bench codecs`

use std::hint::black_box;
use std::time::{Duration, Instant};

use ccwal::codec::snapshot::{
    SnapshotEncoder, SnapshotVisitor, ValuesRef, decode_snapshot, walk_snapshot,
};
use ccwal::codec::wal::{self, OnDamage, WalItem, WalReader};

/// Median time of `runs` runs of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

const RECORDS: usize = 1_000_000;
const RUNS: usize = 7;

fn encode_records(out: &mut Vec<u8>) {
    out.clear();
    let selectors: [&[&[u8]]; 2] = [&[b"cpu3"], &[b"socket0", b"memctrl1"]];
    for i in 0..RECORDS {
        let selector = selectors[i & 1];
        wal::encode_record(
            out,
            1_700_000_000 + i as i64,
            b"cpu_load_avg",
            selector,
            i as f32,
        )
        .unwrap();
    }
}

/// A realistic host: 64 metrics × 720 values and 16 sub-levels × 8 metrics
/// × 720 values (about 550 KB).
fn encode_host(out: &mut Vec<u8>, values: &[f64]) {
    out.clear();
    let mut encoder = SnapshotEncoder::new(out, 1_700_000_000, 1_700_043_200);
    for m in 0..64 {
        encoder
            .metric(
                format!("metric_{m:02}").as_bytes(),
                60,
                1_700_000_000,
                values,
            )
            .unwrap();
    }
    for c in 0..16 {
        encoder.begin_child(format!("cpu{c}").as_bytes()).unwrap();
        for m in 0..8 {
            encoder
                .metric(
                    format!("core_metric_{m}").as_bytes(),
                    60,
                    1_700_000_000,
                    values,
                )
                .unwrap();
        }
        encoder.end_child().unwrap();
    }
    encoder.finish().unwrap();
}

/// What a restore does with a snapshot: widen every value array to f64.
struct Widen {
    values: Vec<f64>,
}

impl SnapshotVisitor<'_> for Widen {
    fn metric(&mut self, _: &[u8], _: i64, _: i64, values: ValuesRef<'_>) {
        self.values.clear();
        values.extend_f64(&mut self.values);
        black_box(&self.values);
    }
    fn enter_child(&mut self, _: &[u8]) {}
    fn leave_child(&mut self) {}
}

fn gbps(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64() / 1e9
}

fn main() {
    let mut records = Vec::with_capacity(RECORDS * 64);
    let encode = median(RUNS, || encode_records(black_box(&mut records)));
    let decode = median(RUNS, || {
        let count = WalReader::new(black_box(&records), 0, OnDamage::Stop)
            .filter(|item| matches!(item, WalItem::Record { .. }))
            .count();
        assert_eq!(count, RECORDS);
    });
    let mut copy = vec![0u8; records.len()];
    let wal_memcpy = median(RUNS, || copy.copy_from_slice(black_box(&records)));

    let values: Vec<f64> = (0..720)
        .map(|i| {
            if i % 97 == 0 {
                f64::NAN
            } else {
                i as f64 * 0.25
            }
        })
        .collect();
    let mut host = Vec::new();
    encode_host(&mut host, &values);
    let hosts = 20;
    let snap_encode = median(RUNS, || {
        for _ in 0..hosts {
            encode_host(black_box(&mut host), &values);
        }
    });
    let snap_decode = median(RUNS, || {
        for _ in 0..hosts {
            black_box(decode_snapshot(black_box(&host)).unwrap());
        }
    });
    let mut widen = Widen {
        values: Vec::with_capacity(720),
    };
    let snap_walk = median(RUNS, || {
        for _ in 0..hosts {
            walk_snapshot(black_box(&host), &mut widen).unwrap();
        }
    });
    let mut host_copy = vec![0u8; host.len()];
    let snap_memcpy = median(RUNS, || {
        for _ in 0..hosts {
            host_copy.copy_from_slice(black_box(&host));
        }
    });

    let rate = |t: Duration| RECORDS as f64 / t.as_secs_f64() / 1e6;
    let snap_bytes = host.len() * hosts;
    println!("WAL records: {RECORDS} × {} bytes", records.len() / RECORDS);
    println!(
        "{:<34} {:>12} {:>10} {:>12}",
        "operation", "rate", "GB/s", "memcpy ×"
    );
    let wal_row = |name: &str, t: Duration| {
        println!(
            "{name:<34} {:>8.1} M/s {:>10.2} {:>12.1}",
            rate(t),
            gbps(records.len(), t),
            t.as_secs_f64() / wal_memcpy.as_secs_f64()
        )
    };
    wal_row("WAL record encode + CRC", encode);
    wal_row("WAL record decode + CRC", decode);
    wal_row("memcpy of the WAL bytes", wal_memcpy);
    println!(
        "snapshot: {} bytes per host, {hosts} hosts per run",
        host.len()
    );
    let snap_row = |name: &str, t: Duration| {
        println!(
            "{name:<34} {:>12} {:>10.2} {:>12.1}",
            "",
            gbps(snap_bytes, t),
            t.as_secs_f64() / snap_memcpy.as_secs_f64()
        )
    };
    snap_row("snapshot encode (f64 input)", snap_encode);
    snap_row("snapshot decode to tree (f32)", snap_decode);
    snap_row("snapshot walk, widened to f64", snap_walk);
    snap_row("memcpy of the snapshot bytes", snap_memcpy);
}
