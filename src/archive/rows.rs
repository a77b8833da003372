//! The rows of an archive, as cc-backend v1.5.4 makes them from a
//! snapshot: pure, no I/O.
//!
//! A snapshot (binary or legacy JSON) becomes an [`ArchiveLevel`] tree whose
//! metrics and children are sorted by name (bytewise, as Go's
//! `sort.Strings`); a name given twice in a binary level keeps the last one,
//! as Go's map does. The rows of a tree are, level by level (depth first):
//! each metric in name order, one row per value that is not NaN at
//! `start + i * frequency`; then each child level in name order, whose scope
//! and scope id come from its name ([`parse_scope`]). The host level's own
//! scope is `node` with an empty id.

use std::collections::BTreeMap;

use crate::codec::json::{JsonError, decode_json_snapshot};
use crate::codec::snapshot::{self, DecodeError, SnapshotVisitor, ValuesRef};

/// The scope of a host's own level, as v1.5.4 passes it.
pub const NODE_SCOPE: &[u8] = b"node";

/// One metric's values in one level of one snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveSeries {
    /// Seconds between two values.
    pub frequency: i64,
    /// Timestamp of the first value.
    pub start: i64,
    /// The values, NaN where none was stored.
    pub values: Vec<f32>,
}

/// A level of a snapshot, with metrics and children sorted by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArchiveLevel {
    /// Each metric of this level, by name.
    pub metrics: BTreeMap<Vec<u8>, ArchiveSeries>,
    /// Each child level, by name.
    pub children: BTreeMap<Vec<u8>, ArchiveLevel>,
}

/// The prefixes of child level names v1.5.4 turns into a scope, in the
/// order it tries them.
const SCOPE_PREFIXES: [(&[u8], &[u8]); 6] = [
    (b"socket", b"socket"),
    (b"memoryDomain", b"memoryDomain"),
    (b"core", b"core"),
    (b"hwthread", b"hwthread"),
    (b"cpu", b"hwthread"),
    (b"accelerator", b"accelerator"),
];

/// The scope and scope id of a child level, from its name: a known prefix
/// followed by something that starts with a digit (`socket0` -> `socket`,
/// `0`; `cpu12` -> `hwthread`, `12`); anything else is its own scope with
/// an empty id.
pub fn parse_scope(name: &[u8]) -> (&[u8], &[u8]) {
    for (prefix, scope) in SCOPE_PREFIXES {
        if let Some(id) = name.strip_prefix(prefix) {
            if id.first().is_some_and(u8::is_ascii_digit) {
                return (scope, id);
            }
        }
    }
    (name, b"")
}

/// Why a snapshot could not be read for the archive.
#[derive(Debug)]
pub enum LoadError {
    /// A binary snapshot that does not decode.
    Binary(DecodeError),
    /// A JSON snapshot that does not decode.
    Json(JsonError),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Binary(e) => write!(f, "damaged binary snapshot: {e}"),
            LoadError::Json(e) => write!(f, "damaged JSON snapshot: {e}"),
        }
    }
}

struct TreeBuilder {
    stack: Vec<(Vec<u8>, ArchiveLevel)>,
    root: ArchiveLevel,
}

impl TreeBuilder {
    fn current(&mut self) -> &mut ArchiveLevel {
        match self.stack.last_mut() {
            Some((_, level)) => level,
            None => &mut self.root,
        }
    }
}

impl SnapshotVisitor<'_> for TreeBuilder {
    fn metric(&mut self, name: &[u8], frequency: i64, start: i64, values: ValuesRef<'_>) {
        let series = ArchiveSeries {
            frequency,
            start,
            values: values.to_f32_vec(),
        };
        self.current().metrics.insert(name.to_vec(), series);
    }

    fn enter_child(&mut self, name: &[u8]) {
        self.stack.push((name.to_vec(), ArchiveLevel::default()));
    }

    fn leave_child(&mut self) {
        let (name, level) = self.stack.pop().expect("balanced by the walker");
        self.current().children.insert(name, level);
    }
}

/// Reads a binary snapshot (`<from>.bin`). Bytes after the tree are
/// ignored, as Go does.
pub fn load_binary(bytes: &[u8]) -> Result<ArchiveLevel, LoadError> {
    let mut builder = TreeBuilder {
        stack: Vec::new(),
        root: ArchiveLevel::default(),
    };
    snapshot::walk_snapshot(bytes, &mut builder).map_err(LoadError::Binary)?;
    Ok(builder.root)
}

fn level_from_json(level: snapshot::Level<f64>) -> ArchiveLevel {
    ArchiveLevel {
        metrics: level
            .metrics
            .into_iter()
            .map(|m| {
                let series = ArchiveSeries {
                    frequency: m.frequency,
                    start: m.start,
                    // Go narrows with float32(v): round to nearest.
                    values: m.values.into_iter().map(|v| v as f32).collect(),
                };
                (m.name, series)
            })
            .collect(),
        children: level
            .children
            .into_iter()
            .map(|c| (c.name, level_from_json(c.level)))
            .collect(),
    }
}

/// Reads a legacy JSON snapshot (`<from>.json`) as Go's `encoding/json`
/// does; values are narrowed to float32 as v1.5.4 writes them.
pub fn load_json(bytes: &[u8]) -> Result<ArchiveLevel, LoadError> {
    let snapshot = decode_json_snapshot(bytes).map_err(LoadError::Json)?;
    Ok(level_from_json(snapshot.root))
}

/// One metric of one level: rows for each of its values that is not NaN.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// The metric's name.
    pub metric: &'a [u8],
    /// The level's scope (`socket`, `hwthread`, …).
    pub scope: &'a [u8],
    /// The level's id within its scope (`0`, `12`, or empty).
    pub scope_id: &'a [u8],
    /// The metric's values.
    pub series: &'a ArchiveSeries,
}

impl<'a> Run<'a> {
    /// (timestamp, value) of each row, in order.
    pub fn points(&self) -> impl Iterator<Item = (i64, f32)> + 'a {
        let ArchiveSeries {
            frequency, start, ..
        } = *self.series;
        self.series
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            // Go adds the frequency once per value, wrapping.
            .map(move |(i, &v)| (start.wrapping_add((i as i64).wrapping_mul(frequency)), v))
    }
}

/// Calls `f` with each run of `level` and its descendants, in row order.
pub fn for_each_run<'a>(
    level: &'a ArchiveLevel,
    scope: &'a [u8],
    scope_id: &'a [u8],
    f: &mut impl FnMut(Run<'a>),
) {
    for (metric, series) in &level.metrics {
        f(Run {
            metric,
            scope,
            scope_id,
            series,
        });
    }
    for (name, child) in &level.children {
        let (scope, scope_id) = parse_scope(name);
        for_each_run(child, scope, scope_id, f);
    }
}

/// Calls `f` with each run of a host's snapshots (in the order given), in
/// row order.
pub fn for_each_host_run<'a>(snapshots: &'a [ArchiveLevel], f: &mut impl FnMut(Run<'a>)) {
    for level in snapshots {
        for_each_run(level, NODE_SCOPE, b"", f);
    }
}

/// One row of an archive, owned (for tests and tools; the writer streams
/// columns instead).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The cluster.
    pub cluster: Vec<u8>,
    /// The host.
    pub hostname: Vec<u8>,
    /// The metric.
    pub metric: Vec<u8>,
    /// The level's scope.
    pub scope: Vec<u8>,
    /// The level's id within its scope.
    pub scope_id: Vec<u8>,
    /// When the value was measured (Unix seconds).
    pub timestamp: i64,
    /// Seconds between values of the series.
    pub frequency: i64,
    /// The value.
    pub value: f32,
}

/// Every row of a host's snapshots, in order.
pub fn host_rows(cluster: &[u8], host: &[u8], snapshots: &[ArchiveLevel]) -> Vec<Row> {
    let mut rows = Vec::new();
    for_each_host_run(snapshots, &mut |run| {
        rows.extend(run.points().map(|(timestamp, value)| Row {
            cluster: cluster.to_vec(),
            hostname: host.to_vec(),
            metric: run.metric.to_vec(),
            scope: run.scope.to_vec(),
            scope_id: run.scope_id.to_vec(),
            timestamp,
            frequency: run.series.frequency,
            value,
        }))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::snapshot::{Child, Level, Metric, Snapshot};

    fn encode_snapshot(snapshot: &Snapshot<f32>) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        crate::codec::snapshot::encode_snapshot(snapshot, &mut out).ok()?;
        Some(out)
    }

    #[test]
    fn scopes_from_names() {
        let cases: [(&str, &str, &str); 14] = [
            ("socket0", "socket", "0"),
            ("cpu12", "hwthread", "12"),
            ("core3", "core", "3"),
            ("memoryDomain1", "memoryDomain", "1"),
            ("hwthread5", "hwthread", "5"),
            ("accelerator0", "accelerator", "0"),
            ("socket0a", "socket", "0a"),
            ("socket", "socket", ""),
            ("socketx", "socketx", ""),
            ("memctrl1", "memctrl1", ""),
            ("a0", "a0", ""),
            ("cpux1", "cpux1", ""),
            ("", "", ""),
            ("coreX", "coreX", ""),
        ];
        for (name, scope, id) in cases {
            assert_eq!(
                parse_scope(name.as_bytes()),
                (scope.as_bytes(), id.as_bytes()),
                "{name}"
            );
        }
    }

    fn metric(name: &str, start: i64, values: &[f32]) -> Metric<f32> {
        Metric {
            name: name.into(),
            frequency: 10,
            start,
            values: values.to_vec(),
        }
    }

    #[test]
    fn rows_sorted_by_metric_then_child_without_nan() {
        let snapshot = Snapshot {
            from: 0,
            to: 100,
            root: Level {
                metrics: vec![
                    metric("b", 100, &[1.0, f32::NAN, 3.0]),
                    metric("a", 5, &[7.0]),
                ],
                children: vec![
                    Child {
                        name: b"socket1".to_vec(),
                        level: Level {
                            metrics: vec![metric("a", 0, &[2.0])],
                            children: vec![],
                        },
                    },
                    Child {
                        name: b"cpu0".to_vec(),
                        level: Level {
                            metrics: vec![metric("a", 0, &[f32::NAN, 4.0])],
                            children: vec![],
                        },
                    },
                ],
            },
        };
        let bytes = encode_snapshot(&snapshot).unwrap();
        let tree = load_binary(&bytes).unwrap();
        let rows = host_rows(b"c", b"h", &[tree]);
        let brief: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    String::from_utf8(r.metric.clone()).unwrap(),
                    String::from_utf8(r.scope.clone()).unwrap(),
                    String::from_utf8(r.scope_id.clone()).unwrap(),
                    r.timestamp,
                    r.value,
                )
            })
            .collect();
        let s = |x: &str| x.to_string();
        assert_eq!(
            brief,
            vec![
                (s("a"), s("node"), s(""), 5, 7.0),
                (s("b"), s("node"), s(""), 100, 1.0),
                (s("b"), s("node"), s(""), 120, 3.0),
                (s("a"), s("hwthread"), s("0"), 10, 4.0),
                (s("a"), s("socket"), s("1"), 0, 2.0),
            ]
        );
    }

    #[test]
    fn duplicate_names_in_a_binary_level_keep_the_last() {
        let snapshot = Snapshot {
            from: 0,
            to: 100,
            root: Level {
                metrics: vec![metric("m", 0, &[1.0]), metric("m", 0, &[2.0])],
                children: vec![],
            },
        };
        let tree = load_binary(&encode_snapshot(&snapshot).unwrap()).unwrap();
        assert_eq!(tree.metrics[&b"m".to_vec()].values, vec![2.0]);
    }

    #[test]
    fn json_values_are_narrowed_and_null_is_nan() {
        let json = br#"{"from":1,"to":2,"metrics":{"m":{"frequency":60,"start":30,"data":[0.1,null,1e40]}}}"#;
        let tree = load_json(json).unwrap();
        let rows = host_rows(b"c", b"h", &[tree]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].value, 0.1f64 as f32);
        assert_eq!((rows[1].timestamp, rows[1].value), (150, f32::INFINITY));
        assert!(load_json(b"{").is_err());
        assert!(load_binary(b"nope").is_err());
    }
}
