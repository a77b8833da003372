//! `ccwal restore ROOT --from UNIX --metrics FILE`: the restored state as
//! one JSON object on stdout, written host by host as the hosts are
//! restored (in name order), the per-host report on stderr. Exit 1 when a
//! host failed, damage was found, or `--strict` left hosts out (Go's scan
//! stops at a stray file in ROOT or a cluster directory).

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use ccwal::restore::{self, Chunk, Recovery, RestoreOptions, RestoreScan, RestoredHost, Selection};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::output::{EXIT_DAMAGED, EXIT_ERROR, EXIT_OK, Name, Names, finish_output, finite, key};
use crate::progress;

/// A chain of chunks; with `values`, each chunk also carries its values
/// as numbers (null for NaN and ±Inf) next to the float32 bits.
struct ChainJson<'a> {
    chunks: &'a [Chunk],
    values: bool,
}

#[derive(Serialize)]
struct ChunkJson {
    start: i64,
    frequency: i64,
    len: usize,
    cap: usize,
    archived: bool,
    bits: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<Vec<Option<f64>>>,
}

impl Serialize for ChainJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.chunks.iter().map(|c| {
            ChunkJson {
                start: c.start,
                frequency: c.frequency,
                len: c.values.len(),
                cap: c.capacity,
                archived: c.archived,
                bits: c.values.iter().map(|&v| (v as f32).to_bits()).collect(),
                values: self
                    .values
                    .then(|| c.values.iter().map(|&v| finite(v)).collect()),
            }
        }))
    }
}

struct MetricsJson<'a>(&'a std::collections::BTreeMap<Vec<u8>, Vec<Chunk>>, bool);

impl Serialize for MetricsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, chain) in self.0 {
            map.serialize_entry(
                &key(name),
                &ChainJson {
                    chunks: chain,
                    values: self.1,
                },
            )?;
        }
        map.end()
    }
}

/// A level's path, a list of names.
type PathNames<'a> = Names<std::iter::Map<std::slice::Iter<'a, Vec<u8>>, fn(&Vec<u8>) -> &[u8]>>;

#[derive(Serialize)]
struct LevelJson<'a> {
    path: PathNames<'a>,
    metrics: MetricsJson<'a>,
}

struct HostJson<'a>(&'a RestoredHost, bool);

impl Serialize for HostJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let host = self.0;
        let levels = host.root.walk();
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("cluster", &Name(&host.cluster))?;
        map.serialize_entry("host", &Name(&host.host))?;
        map.serialize_entry("error", &host.error.as_ref().map(ccwal::Error::message))?;
        let as_slice: fn(&Vec<u8>) -> &[u8] = Vec::as_slice;
        let levels: Vec<LevelJson<'_>> = levels
            .iter()
            .map(|(path, level)| LevelJson {
                path: Names(path.iter().map(as_slice)),
                metrics: MetricsJson(&level.metrics, self.1),
            })
            .collect();
        map.serialize_entry("levels", &levels)?;
        map.end()
    }
}

/// Restores the scan's hosts on every core and hands each to `each` with
/// its index, in order, holding a few hosts per core at a time. Stops at
/// the first error of `each`.
fn each_host_in_order(
    scan: &RestoreScan,
    mut each: impl FnMut(usize, RestoredHost) -> io::Result<()>,
) -> io::Result<()> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let window = 4 * workers;
    for start in (0..scan.len()).step_by(window) {
        let end = (start + window).min(scan.len());
        let next = AtomicUsize::new(start);
        let mut restored: Vec<(usize, RestoredHost)> = std::thread::scope(|threads| {
            let workers: Vec<_> = (0..workers.min(end - start))
                .map(|_| {
                    threads.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            if index >= end {
                                return mine;
                            }
                            let host = scan.restore_host(index).expect("an index below len");
                            mine.push((index, host));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        restored.sort_unstable_by_key(|(index, _)| *index);
        for (index, host) in restored {
            each(index, host)?;
        }
    }
    Ok(())
}

fn host_name(cluster: &[u8], host: &[u8]) -> String {
    format!(
        "{}/{}",
        String::from_utf8_lossy(cluster),
        String::from_utf8_lossy(host)
    )
}

fn report(host: &RestoredHost) {
    let r = &host.report;
    let name = host_name(&host.cluster, &host.host);
    eprintln!(
        "{name}: {} files loaded, {} skipped; records: {} applied, {} before from, {} unknown metric, {} rejected",
        r.files_loaded.len(),
        r.files_skipped.len(),
        r.records_applied,
        r.records_before_from,
        r.records_unknown_metric,
        r.records_rejected
    );
    for (file, reason) in &r.files_skipped {
        match reason.error() {
            // The error's message names the file.
            Some(error) => eprintln!("{name}: skipped ({}): {error}", error.kind()),
            None => eprintln!("{name}: skipped {}: {reason}", file.display()),
        }
    }
    for d in &r.damage {
        eprintln!(
            "{name}: damaged {}: offset {} len {} ({}): {}",
            d.file.display(),
            d.offset,
            d.len,
            d.reason.kind(),
            d.reason
        );
    }
    if let Some(error) = &host.error {
        eprintln!("{name}: error ({}): {error}", error.kind());
    }
}

pub struct Args<'a> {
    pub root: &'a Path,
    pub from: i64,
    pub metrics: &'a Path,
    pub strict: bool,
    pub go_exact: bool,
    pub host: Option<&'a str>,
    /// Print each chunk's values as numbers too.
    pub values: bool,
}

/// The closing total of a restore, on stderr after the per-host lines.
#[derive(Default)]
struct Totals {
    hosts: usize,
    failed: usize,
    damaged: usize,
    files_loaded: usize,
    files_skipped: usize,
    records_applied: u64,
    records_skipped: u64,
    chunks: usize,
    values: usize,
}

impl Totals {
    fn add(&mut self, host: &RestoredHost) {
        let r = &host.report;
        self.hosts += 1;
        self.failed += usize::from(host.error.is_some());
        self.damaged += usize::from(!r.damage.is_empty());
        self.files_loaded += r.files_loaded.len();
        self.files_skipped += r.files_skipped.len();
        self.records_applied += r.records_applied;
        self.records_skipped +=
            r.records_before_from + r.records_unknown_metric + r.records_rejected;
        for (_, level) in host.root.walk() {
            for chain in level.metrics.values() {
                self.chunks += chain.len();
                self.values += chain.iter().map(|c| c.values.len()).sum::<usize>();
            }
        }
    }
}

pub fn run(args: Args<'_>) -> i32 {
    let config = match std::fs::read(args.metrics)
        .map_err(|e| e.to_string())
        .and_then(|json| restore::parse_metric_config(&json).map_err(|e| e.to_string()))
    {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ccwal: {}: {e}", args.metrics.display());
            return EXIT_ERROR;
        }
    };
    let only = match args.host.map(|h| h.split_once('/')) {
        None => None,
        Some(Some((cluster, host))) => {
            Some((cluster.as_bytes().to_vec(), host.as_bytes().to_vec()))
        }
        Some(None) => {
            eprintln!("ccwal: --host takes CLUSTER/HOST");
            return EXIT_ERROR;
        }
    };
    let options = RestoreOptions {
        selection: if args.go_exact {
            Selection::GoExact
        } else {
            Selection::Covering
        },
        recovery: if args.strict {
            Recovery::Strict
        } else {
            Recovery::Salvage
        },
        workers: 0,
        only,
    };
    let scan = match RestoreScan::new(args.root, args.from, config, options) {
        Ok(scan) => scan,
        Err(e) => {
            eprintln!("ccwal: {e}");
            return EXIT_ERROR;
        }
    };
    let bar = progress::bar(
        scan.len() as u64,
        &format!("restoring {}", args.root.display()),
    );
    let mut totals = Totals::default();
    let mut damaged = !scan.hosts_not_restored().is_empty();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    // The object `{"from":…,"hosts":[…]}` written host by host, so that
    // only the hosts being restored are held, not the whole root.
    let written = write!(out, "{{\"from\":{},\"hosts\":[", args.from)
        .and_then(|()| {
            each_host_in_order(&scan, |index, host| {
                bar.suspend(|| report(&host));
                bar.inc(1);
                totals.add(&host);
                damaged |= host.error.is_some() || !host.report.damage.is_empty();
                if index > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut out, &HostJson(&host, args.values))
                    .map_err(io::Error::other)
            })
        })
        .and_then(|()| out.write_all(b"]}\n"))
        .and_then(|()| out.flush());
    bar.finish_and_clear();
    // A stray file where only directories belong: under --strict the
    // hosts after it are left out, as by Go's scan.
    if let Some(error) = scan.error() {
        // When no host is left out (no --strict, or none after the file),
        // it is only a warning.
        let what = if scan.hosts_not_restored().is_empty() {
            "warning"
        } else {
            "error"
        };
        eprintln!("ccwal: {what} ({}): {error}", error.kind());
    }
    for (cluster, host) in scan.hosts_not_restored() {
        eprintln!(
            "{}: not restored: --strict stops at the stray file, as Go's scan does",
            host_name(cluster, host)
        );
    }
    eprintln!(
        "restored {} hosts ({} failed, {} with damage, {} left out): {} files loaded, {} skipped; {} records applied, {} skipped; {} chunks, {} values",
        totals.hosts,
        totals.failed,
        totals.damaged,
        scan.hosts_not_restored().len(),
        totals.files_loaded,
        totals.files_skipped,
        totals.records_applied,
        totals.records_skipped,
        totals.chunks,
        totals.values
    );
    finish_output(written.map(|()| if damaged { EXIT_DAMAGED } else { EXIT_OK }))
}
