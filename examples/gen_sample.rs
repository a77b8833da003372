//! Writes a small checkpoint directory for the demo: a few hosts with WAL
//! records (one with a torn tail, as after a crash), a binary snapshot and a
//! legacy JSON snapshot. Usage: gen_sample DIR

use std::fs;
use std::path::Path;

use ccwal::codec::json::encode_json_snapshot;
use ccwal::codec::snapshot::{Child, Level, Metric, Snapshot, encode_snapshot};
use ccwal::codec::wal;

const FROM: i64 = 1_700_000_000;

fn wal_file(records: usize, host: usize) -> Vec<u8> {
    let mut out = wal::file_header().to_vec();
    for i in 0..records {
        let ts = FROM + 3600 + 60 * i as i64;
        let cpu = format!("cpu{}", i % 4);
        let value = (host * 100 + i) as f32 / 10.0;
        wal::encode_record(&mut out, ts, b"cpu_load", &[] as &[&[u8]], value).expect("valid names");
        wal::encode_record(&mut out, ts, b"cpu_user", &[cpu.as_bytes()], value)
            .expect("valid names");
    }
    out
}

fn host_level(host: usize) -> Level<f32> {
    let series = |offset: usize| {
        (0..60)
            .map(|i| ((host + offset + i) % 7) as f32)
            .collect::<Vec<_>>()
    };
    let cpus = (0..4)
        .map(|c| Child {
            name: format!("cpu{c}").into_bytes(),
            level: Level {
                metrics: vec![Metric {
                    name: b"cpu_user".to_vec(),
                    frequency: 60,
                    start: FROM,
                    values: series(c),
                }],
                children: Vec::new(),
            },
        })
        .collect();
    let mut load = series(0);
    load[5] = f32::NAN;
    Level {
        metrics: vec![Metric {
            name: b"cpu_load".to_vec(),
            frequency: 60,
            start: FROM,
            values: load,
        }],
        children: cpus,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args().nth(1).ok_or("usage: gen_sample DIR")?;
    for host in 0..3 {
        let dir = Path::new(&root).join("demo").join(format!("node{host:02}"));
        fs::create_dir_all(&dir)?;
        let snapshot = Snapshot {
            from: FROM,
            to: FROM + 3600,
            root: host_level(host),
        };
        let mut bytes = Vec::new();
        encode_snapshot(&snapshot, &mut bytes)?;
        fs::write(dir.join(format!("{FROM}.bin")), bytes)?;
        let mut wal = wal_file(20, host);
        if host == 2 {
            // A crash mid-write leaves half a record at the end.
            wal.truncate(wal.len() - 7);
        }
        fs::write(dir.join("current.wal"), wal)?;
    }
    let legacy = Snapshot {
        from: FROM - 3600,
        to: FROM,
        root: Level {
            metrics: vec![Metric {
                name: b"cpu_load".to_vec(),
                frequency: 60,
                start: FROM - 3600,
                values: vec![0.5, f64::NAN, 1.5],
            }],
            children: Vec::new(),
        },
    };
    fs::write(
        Path::new(&root)
            .join("demo/node00")
            .join(format!("{}.json", FROM - 3600)),
        encode_json_snapshot(&legacy)?,
    )?;
    println!("sample checkpoint directory written to {root}");
    Ok(())
}
