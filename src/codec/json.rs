//! The legacy JSON snapshot format (`<from>.json`), which the Go metricstore
//! still loads when present:
//!
//! ```text
//! {"from": i64, "to": i64,
//!  "metrics":  {NAME: {"frequency": i64, "start": i64, "data": [number|null, ...]}},
//!  "children": {NAME: <same object>}}
//! ```
//!
//! Values stay f64 (Go does not narrow them); `null` is NaN. Duplicate keys
//! keep the last one and missing or null members are empty, as with Go's
//! `encoding/json`. Keys come out in sorted order (the format has none).

use std::collections::BTreeMap;
use std::fmt;

use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

use super::snapshot::{Child, Level, Metric, Snapshot};

/// Why a JSON snapshot could not be decoded or encoded.
#[derive(Debug)]
pub enum JsonError {
    /// Not valid JSON of the expected shape (with serde_json's position).
    Syntax(serde_json::Error),
    /// ±Inf cannot be written as JSON.
    NonFinite { metric: String, index: usize },
    /// JSON keys are strings: a name that is not UTF-8 cannot be one.
    NonUtf8Name { name: Vec<u8> },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax(e) => write!(f, "invalid JSON snapshot: {e}"),
            JsonError::NonFinite { metric, index } => {
                write!(
                    f,
                    "metric {metric:?} value {index} is infinite; JSON cannot hold it"
                )
            }
            JsonError::NonUtf8Name { name } => {
                write!(f, "name {name:02x?} is not UTF-8; JSON keys must be")
            }
        }
    }
}

impl std::error::Error for JsonError {}

#[derive(Deserialize)]
struct FileIn {
    #[serde(default)]
    from: i64,
    #[serde(default)]
    to: i64,
    #[serde(default)]
    metrics: Option<BTreeMap<String, MetricIn>>,
    #[serde(default)]
    children: Option<BTreeMap<String, FileIn>>,
}

#[derive(Deserialize)]
struct MetricIn {
    #[serde(default)]
    frequency: i64,
    #[serde(default)]
    start: i64,
    #[serde(default)]
    data: Option<Vec<Option<f64>>>,
}

fn level_from(file: FileIn) -> Level<f64> {
    let metrics = file
        .metrics
        .unwrap_or_default()
        .into_iter()
        .map(|(name, m)| Metric {
            name: name.into_bytes(),
            frequency: m.frequency,
            start: m.start,
            values: m
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.unwrap_or(f64::NAN))
                .collect(),
        })
        .collect();
    let children = file
        .children
        .unwrap_or_default()
        .into_iter()
        .map(|(name, child)| Child {
            name: name.into_bytes(),
            level: level_from(child),
        })
        .collect();
    Level { metrics, children }
}

/// Decodes a JSON snapshot.
pub fn decode_json_snapshot(input: &[u8]) -> Result<Snapshot<f64>, JsonError> {
    let file: FileIn = serde_json::from_slice(input).map_err(JsonError::Syntax)?;
    let (from, to) = (file.from, file.to);
    Ok(Snapshot {
        from,
        to,
        root: level_from(file),
    })
}

#[derive(Serialize)]
struct FileOut<'a> {
    from: i64,
    to: i64,
    metrics: BTreeMap<&'a str, MetricOut<'a>>,
    children: BTreeMap<&'a str, FileOut<'a>>,
}

#[derive(Serialize)]
struct MetricOut<'a> {
    frequency: i64,
    start: i64,
    data: NullableValues<'a>,
}

/// Serialises NaN as `null`.
struct NullableValues<'a>(&'a [f64]);

impl Serialize for NullableValues<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&if v.is_nan() { None } else { Some(*v) })?;
        }
        seq.end()
    }
}

fn utf8(name: &[u8]) -> Result<&str, JsonError> {
    std::str::from_utf8(name).map_err(|_| JsonError::NonUtf8Name {
        name: name.to_vec(),
    })
}

fn level_out(level: &Level<f64>, from: i64, to: i64) -> Result<FileOut<'_>, JsonError> {
    let mut metrics = BTreeMap::new();
    for m in &level.metrics {
        let name = utf8(&m.name)?;
        if let Some(index) = m.values.iter().position(|v| v.is_infinite()) {
            return Err(JsonError::NonFinite {
                metric: name.to_string(),
                index,
            });
        }
        let out = MetricOut {
            frequency: m.frequency,
            start: m.start,
            data: NullableValues(&m.values),
        };
        metrics.insert(name, out);
    }
    let mut children = BTreeMap::new();
    for child in &level.children {
        children.insert(utf8(&child.name)?, level_out(&child.level, from, to)?);
    }
    Ok(FileOut {
        from,
        to,
        metrics,
        children,
    })
}

/// Encodes a JSON snapshot as the Go metricstore wrote them (every level
/// repeats `from` and `to`).
pub fn encode_json_snapshot(snapshot: &Snapshot<f64>) -> Result<Vec<u8>, JsonError> {
    let file = level_out(&snapshot.root, snapshot.from, snapshot.to)?;
    serde_json::to_vec(&file).map_err(JsonError::Syntax)
}
