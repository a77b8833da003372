//! `ccwal restore ROOT --from UNIX --metrics FILE`: the restored state as
//! one JSON object on stdout, the per-host report on stderr. Exit 1 when a
//! host failed, damage was found, or `--strict` left hosts out (Go's scan
//! stops at a stray file in ROOT or a cluster directory).

use std::io::{self, BufWriter, Write};
use std::path::Path;

use ccwal::restore::{self, Chunk, Recovery, RestoreOptions, RestoredHost, Selection};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::output::{
    EXIT_DAMAGED, EXIT_ERROR, EXIT_OK, Name, Names, finish_output, json_line, key,
};

struct ChainJson<'a>(&'a [Chunk]);

#[derive(Serialize)]
struct ChunkJson {
    start: i64,
    frequency: i64,
    len: usize,
    cap: usize,
    archived: bool,
    bits: Vec<u32>,
}

impl Serialize for ChainJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|c| ChunkJson {
            start: c.start,
            frequency: c.frequency,
            len: c.values.len(),
            cap: c.capacity,
            archived: c.archived,
            bits: c.values.iter().map(|&v| (v as f32).to_bits()).collect(),
        }))
    }
}

struct MetricsJson<'a>(&'a std::collections::BTreeMap<Vec<u8>, Vec<Chunk>>);

impl Serialize for MetricsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, chain) in self.0 {
            map.serialize_entry(&key(name), &ChainJson(chain))?;
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

struct HostJson<'a>(&'a RestoredHost);

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
                metrics: MetricsJson(&level.metrics),
            })
            .collect();
        map.serialize_entry("levels", &levels)?;
        map.end()
    }
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
    let restored = match restore::restore(args.root, args.from, &config, &options) {
        Ok(restored) => restored,
        Err(e) => {
            eprintln!("ccwal: {e}");
            return EXIT_ERROR;
        }
    };
    for host in &restored.hosts {
        report(host);
    }
    // A stray file where only directories belong: under --strict the
    // hosts after it are left out, as by Go's scan.
    if let Some(error) = &restored.error {
        // When no host is left out (no --strict, or none after the file),
        // it is only a warning.
        let what = if restored.hosts_not_restored.is_empty() {
            "warning"
        } else {
            "error"
        };
        eprintln!("ccwal: {what} ({}): {error}", error.kind());
    }
    for (cluster, host) in &restored.hosts_not_restored {
        eprintln!(
            "{}: not restored: --strict stops at the stray file, as Go's scan does",
            host_name(cluster, host)
        );
    }
    let damaged = !restored.hosts_not_restored.is_empty()
        || restored
            .hosts
            .iter()
            .any(|h| h.error.is_some() || !h.report.damage.is_empty());
    #[derive(Serialize)]
    struct Output<'a> {
        from: i64,
        hosts: Vec<HostJson<'a>>,
    }
    let output = Output {
        from: restored.from,
        hosts: restored.hosts.iter().map(HostJson).collect(),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let written = json_line(&mut out, &output).and_then(|()| out.flush());
    finish_output(written.map(|()| if damaged { EXIT_DAMAGED } else { EXIT_OK }))
}
