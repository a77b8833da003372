//! `ccwal dump [--strict] FILE`: a WAL as one JSON object per record, a
//! snapshot as one JSON object.

use std::fmt::Display;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use ccwal::codec::snapshot::{self, Level, Snapshot};
use ccwal::codec::wal::{self, WalItem};
use ccwal::codec::{FileKind, detect_kind, json};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::output::{
    EXIT_DAMAGED, EXIT_ERROR, EXIT_OK, Name, Names, finish_output, finite, json_line, key,
};

pub fn run(path: &Path, strict: bool) -> i32 {
    let content = match fs::read(path) {
        Ok(content) => content,
        Err(e) => {
            eprintln!("ccwal: {}: {e}", path.display());
            return EXIT_ERROR;
        }
    };
    let named_wal = path.extension().is_some_and(|ext| ext == "wal");
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let kind = match detect_kind(&content) {
        Some(kind) => kind,
        None if named_wal => FileKind::Wal,
        None if content.is_empty() => {
            eprintln!("ccwal: {}: damaged snapshot: empty file", path.display());
            return EXIT_DAMAGED;
        }
        None => {
            eprintln!("ccwal: {}: not a WAL or snapshot", path.display());
            return EXIT_DAMAGED;
        }
    };
    let result = match kind {
        FileKind::Wal => dump_wal(&mut out, path, &content, strict),
        FileKind::BinarySnapshot => dump_snapshot(
            &mut out,
            path,
            snapshot::decode_snapshot(&content).map(|(s, _)| s),
        ),
        FileKind::JsonSnapshot => {
            dump_snapshot(&mut out, path, json::decode_json_snapshot(&content))
        }
    };
    finish_output(result.and_then(|code| out.flush().map(|()| code)))
}

#[derive(Serialize)]
struct RecordLine<'a> {
    offset: usize,
    ts: i64,
    metric: Name<'a>,
    selector: Names<wal::SelectorIter<'a>>,
    value: Option<f32>,
    bits: u32,
}

#[derive(Serialize)]
struct Damage<'a> {
    offset: usize,
    len: usize,
    reason: &'a str,
}

#[derive(Serialize)]
struct DamageLine<'a> {
    damaged: Damage<'a>,
}

#[derive(Serialize)]
struct EndLine {
    end: &'static str,
    records: u64,
}

fn dump_wal<W: Write>(out: &mut W, path: &Path, content: &[u8], strict: bool) -> io::Result<i32> {
    let start = match wal::check_file_header(content) {
        Ok(start) => start,
        Err(e) => {
            eprintln!("ccwal: {}: {e}", path.display());
            return Ok(EXIT_DAMAGED);
        }
    };
    let (mut records, mut damaged) = (0u64, false);
    let on_damage = if strict {
        wal::OnDamage::Stop
    } else {
        wal::OnDamage::Resync
    };
    for item in wal::WalReader::new(content, start, on_damage) {
        match item {
            WalItem::Record { offset, record } => {
                records += 1;
                let line = RecordLine {
                    offset,
                    ts: record.ts,
                    metric: Name(record.metric),
                    selector: Names(record.selector.iter()),
                    value: finite(record.value()),
                    bits: record.value_bits,
                };
                json_line(out, &line)?;
            }
            WalItem::Damaged { offset, len, error } => {
                damaged = true;
                let reason = error.to_string();
                json_line(
                    out,
                    &DamageLine {
                        damaged: Damage {
                            offset,
                            len,
                            reason: &reason,
                        },
                    },
                )?;
            }
        }
    }
    let end = if damaged { "damaged" } else { "eof" };
    json_line(out, &EndLine { end, records })?;
    Ok(if damaged { EXIT_DAMAGED } else { EXIT_OK })
}

/// A snapshot level as JSON, metrics and children in file order.
struct LevelJson<'a, V> {
    window: Option<(i64, i64)>,
    level: &'a Level<V>,
}

struct MetricJson<'a, V> {
    metric: &'a snapshot::Metric<V>,
}

struct ValuesJson<'a, V>(&'a [V]);

struct BitsJson<'a, V>(&'a [V]);

/// What the dump prints for each value type: the value as stored (f32 or
/// the JSON file's f64) and the float32 bits a binary snapshot would hold.
trait DumpValue: Copy + Serialize + Into<f64> {
    fn bits(self) -> u32;
}

impl DumpValue for f32 {
    fn bits(self) -> u32 {
        self.to_bits()
    }
}

impl DumpValue for f64 {
    fn bits(self) -> u32 {
        (self as f32).to_bits()
    }
}

impl<V: DumpValue> Serialize for ValuesJson<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|&v| finite(v)))
    }
}

impl<V: DumpValue> Serialize for BitsJson<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|&v| v.bits()))
    }
}

impl<V: DumpValue> Serialize for MetricJson<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("frequency", &self.metric.frequency)?;
        map.serialize_entry("start", &self.metric.start)?;
        map.serialize_entry("values", &ValuesJson(&self.metric.values))?;
        map.serialize_entry("bits", &BitsJson(&self.metric.values))?;
        map.end()
    }
}

struct MetricsJson<'a, V>(&'a [snapshot::Metric<V>]);

impl<V: DumpValue> Serialize for MetricsJson<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            self.0
                .iter()
                .map(|m| (key(&m.name), MetricJson { metric: m })),
        )
    }
}

struct ChildrenJson<'a, V>(&'a [snapshot::Child<V>]);

impl<V: DumpValue> Serialize for ChildrenJson<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|c| {
            (
                key(&c.name),
                LevelJson {
                    window: None,
                    level: &c.level,
                },
            )
        }))
    }
}

impl<V: DumpValue> Serialize for LevelJson<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some((from, to)) = self.window {
            map.serialize_entry("from", &from)?;
            map.serialize_entry("to", &to)?;
        }
        map.serialize_entry("metrics", &MetricsJson(&self.level.metrics))?;
        map.serialize_entry("children", &ChildrenJson(&self.level.children))?;
        map.end()
    }
}

fn dump_snapshot<W: Write, V: DumpValue, E: Display>(
    out: &mut W,
    path: &Path,
    decoded: Result<Snapshot<V>, E>,
) -> io::Result<i32> {
    match decoded {
        Ok(snap) => {
            json_line(
                out,
                &LevelJson {
                    window: Some((snap.from, snap.to)),
                    level: &snap.root,
                },
            )?;
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("ccwal: {}: damaged snapshot: {e}", path.display());
            Ok(EXIT_DAMAGED)
        }
    }
}
