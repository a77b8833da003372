//! The legacy JSON snapshot format (`<from>.json`), which the Go metricstore
//! still loads when present:
//!
//! ```text
//! {"from": i64, "to": i64,
//!  "metrics":  {NAME: {"frequency": i64, "start": i64, "data": [number|null, ...]}},
//!  "children": {NAME: <same object>}}
//! ```
//!
//! Values stay f64 (Go does not narrow them); `null` is NaN. Decoding
//! follows Go's `encoding/json`: keys match fields case-insensitively,
//! a repeated key decodes again over the earlier value (so the last one wins,
//! and repeated "metrics"/"children" objects merge), missing or null members
//! are empty, unknown keys are skipped. Keys come out in sorted order (the
//! format has none).
//!
//! [`validate_json_snapshot`] is the strict check of `ccwal verify`: the
//! same key matching, but every level must have integer `from` and `to`,
//! every metric integer `frequency` and `start` and a `data` array, as Go
//! writes them. Restore does not use it.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

use super::snapshot::{Child, Level, Metric, Snapshot};

/// Why a JSON snapshot could not be decoded or encoded.
#[derive(Debug)]
pub enum JsonError {
    /// Not valid JSON of the expected shape (with serde_json's position).
    Syntax(serde_json::Error),
    /// Valid JSON, but not of the strict shape of a snapshot (a required
    /// member missing or of the wrong type; with serde_json's position).
    Shape(serde_json::Error),
    /// ±Inf cannot be written as JSON.
    NonFinite {
        /// The metric holding it.
        metric: String,
        /// Its index among the metric's values.
        index: usize,
    },
    /// JSON keys are strings: a name that is not UTF-8 cannot be one.
    NonUtf8Name {
        /// The name.
        name: Vec<u8>,
    },
    /// Two metrics or two children of one level share a name; a JSON object
    /// would keep only one of them.
    DuplicateName {
        /// The name.
        name: String,
    },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax(e) => write!(f, "invalid JSON snapshot: {e}"),
            JsonError::Shape(e) => write!(f, "not a JSON snapshot: {e}"),
            JsonError::NonFinite { metric, index } => {
                write!(
                    f,
                    "metric {metric:?} value {index} is infinite; JSON cannot hold it"
                )
            }
            JsonError::NonUtf8Name { name } => {
                write!(f, "name {name:02x?} is not UTF-8; JSON keys must be")
            }
            JsonError::DuplicateName { name } => {
                write!(
                    f,
                    "name {name:?} occurs twice in one level; JSON keys must be unique"
                )
            }
        }
    }
}

impl std::error::Error for JsonError {}

/// One level as Go's `encoding/json` fills its struct; see [`GoObject`].
#[derive(Default)]
struct LevelIn {
    from: i64,
    to: i64,
    metrics: BTreeMap<String, MetricIn>,
    children: BTreeMap<String, LevelIn>,
}

#[derive(Default)]
struct MetricIn {
    frequency: i64,
    start: i64,
    data: Vec<f64>,
}

/// A value in "data": a number, or `null` for a missing sample.
struct NullableValue(f64);

impl<'de> Deserialize<'de> for NullableValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(NullableValue(
            Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN),
        ))
    }
}

/// Go's `encoding/json` rules for an object decoded into a struct, which
/// serde's derive does not follow: a key names a field case-insensitively
/// (by Unicode upper-casing, so "FROM" and "ſtart" match), a repeated key
/// decodes again over the earlier value, `null` leaves a number as it was
/// and empties a list or map, and unknown keys are skipped.
trait GoObject: Default {
    const EXPECTING: &'static str;

    /// Decodes the value of `key` into `self`; false when `key` names no field.
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error>;
}

/// Whether a JSON key names the (lower-case ASCII) field `name`.
fn go_key_matches(key: &str, name: &str) -> bool {
    key.chars().count() == name.len()
        && key.chars().zip(name.bytes()).all(|(k, n)| {
            let mut upper = k.to_uppercase();
            upper.next() == Some(n.to_ascii_uppercase() as char) && upper.next().is_none()
        })
}

/// Sets `target` unless the value is `null`.
fn go_number<'de, A: MapAccess<'de>>(target: &mut i64, map: &mut A) -> Result<(), A::Error> {
    if let Some(value) = map.next_value::<Option<i64>>()? {
        *target = value;
    }
    Ok(())
}

struct GoObjectVisitor<T>(PhantomData<T>);

impl<'de, T: GoObject> Visitor<'de> for GoObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut object = T::default();
        while let Some(key) = map.next_key::<String>()? {
            if !object.field(&key, &mut map)? {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(object)
    }
}

impl GoObject for LevelIn {
    const EXPECTING: &'static str = "a snapshot level object";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        if go_key_matches(key, "from") {
            go_number(&mut self.from, map)?;
        } else if go_key_matches(key, "to") {
            go_number(&mut self.to, map)?;
        } else if go_key_matches(key, "metrics") {
            map.next_value_seed(MergeInto(&mut self.metrics))?;
        } else if go_key_matches(key, "children") {
            map.next_value_seed(MergeInto(&mut self.children))?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }
}

impl GoObject for MetricIn {
    const EXPECTING: &'static str = "a metric object";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        if go_key_matches(key, "frequency") {
            go_number(&mut self.frequency, map)?;
        } else if go_key_matches(key, "start") {
            go_number(&mut self.start, map)?;
        } else if go_key_matches(key, "data") {
            let data = map.next_value::<Option<Vec<NullableValue>>>()?;
            self.data = data.unwrap_or_default().into_iter().map(|v| v.0).collect();
        } else {
            return Ok(false);
        }
        Ok(true)
    }
}

impl<'de> Deserialize<'de> for LevelIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(GoObjectVisitor(PhantomData))
    }
}

impl<'de> Deserialize<'de> for MetricIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(GoObjectVisitor(PhantomData))
    }
}

/// Decodes an object into an existing map, as Go reuses a map that is
/// already there: entries are added, a repeated name replaces the earlier
/// entry; `null` empties the map.
struct MergeInto<'a, T>(&'a mut BTreeMap<String, T>);

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for MergeInto<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for MergeInto<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or null")
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.0.clear();
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some((name, value)) = map.next_entry::<String, T>()? {
            self.0.insert(name, value);
        }
        Ok(())
    }
}

fn level_from(level: LevelIn) -> Level<f64> {
    let metrics = level
        .metrics
        .into_iter()
        .map(|(name, m)| Metric {
            name: name.into_bytes(),
            frequency: m.frequency,
            start: m.start,
            values: m.data,
        })
        .collect();
    let children = level
        .children
        .into_iter()
        .map(|(name, child)| Child {
            name: name.into_bytes(),
            level: level_from(child),
        })
        .collect();
    Level { metrics, children }
}

/// Decodes a JSON snapshot as Go's `encoding/json` reads it (see the
/// module documentation); the top level must be an object.
pub fn decode_json_snapshot(input: &[u8]) -> Result<Snapshot<f64>, JsonError> {
    let file: LevelIn = serde_json::from_slice(input).map_err(JsonError::Syntax)?;
    let (from, to) = (file.from, file.to);
    Ok(Snapshot {
        from,
        to,
        root: level_from(file),
    })
}

/// Checks that `input` is a JSON snapshot of the strict shape of the
/// format, as Go writes it (keys match fields as in [`decode_json_snapshot`],
/// unknown keys are skipped):
///
/// - every level is an object with integer `from` and `to` (present, not
///   null), and `metrics` and `children` each missing, null or an object;
/// - every metric is an object with integer `frequency` and `start` and a
///   `data` array of numbers and nulls.
///
/// `{}` is valid to the lenient decoder (an empty snapshot of 0..0) but
/// not here. A problem names where it is, e.g. `children["cpu0"]: "to" is
/// missing`.
pub fn validate_json_snapshot(input: &[u8]) -> Result<(), JsonError> {
    let mut deserializer = serde_json::Deserializer::from_slice(input);
    let checked = StrictLevel {
        location: String::new(),
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end());
    checked.map_err(|e| match e.classify() {
        serde_json::error::Category::Data => JsonError::Shape(e),
        _ => JsonError::Syntax(e),
    })
}

/// Where a level or metric is, for messages: "" is the top level.
fn place(location: &str) -> &str {
    if location.is_empty() {
        "the top level"
    } else {
        location
    }
}

/// What a value is, for messages.
fn json_type(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "null".to_string(),
        serde_json::Value::Bool(_) => "a boolean".to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(_) => "a string".to_string(),
        serde_json::Value::Array(_) => "an array".to_string(),
        serde_json::Value::Object(_) => "an object".to_string(),
    }
}

/// Reads the value of an integer member; false when it is null.
fn strict_integer<'de, A: MapAccess<'de>>(
    location: &str,
    field: &str,
    map: &mut A,
) -> Result<bool, A::Error> {
    use serde::de::Error;
    let value = map.next_value::<serde_json::Value>()?;
    if value.is_null() {
        return Ok(false);
    }
    if value.as_i64().is_none() {
        return Err(A::Error::custom(format!(
            "{}: {field:?} must be an integer (int64), not {}",
            place(location),
            json_type(&value)
        )));
    }
    Ok(true)
}

/// Fails unless every one of `fields` was `seen` (present and not null).
fn strict_required<E: serde::de::Error>(
    location: &str,
    fields: &[&str],
    seen: &[bool],
) -> Result<(), E> {
    match fields.iter().zip(seen).find(|(_, seen)| !**seen) {
        Some((field, _)) => Err(E::custom(format!(
            "{}: {field:?} is missing or null",
            place(location)
        ))),
        None => Ok(()),
    }
}

/// A level (the file, or a child) under the strict rules.
struct StrictLevel {
    location: String,
}

impl<'de> DeserializeSeed<'de> for StrictLevel {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StrictLevel {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an object (a snapshot level) at {}",
            place(&self.location)
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let location = &self.location;
        let mut seen = [false; 2];
        while let Some(key) = map.next_key::<String>()? {
            if go_key_matches(&key, "from") {
                seen[0] |= strict_integer(location, "from", &mut map)?;
            } else if go_key_matches(&key, "to") {
                seen[1] |= strict_integer(location, "to", &mut map)?;
            } else if go_key_matches(&key, "metrics") {
                map.next_value_seed(StrictMembers {
                    location,
                    field: "metrics",
                })?;
            } else if go_key_matches(&key, "children") {
                map.next_value_seed(StrictMembers {
                    location,
                    field: "children",
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        strict_required(location, &["from", "to"], &seen)
    }
}

/// The `metrics` or `children` object of a level: null, or an object of
/// metrics or levels.
struct StrictMembers<'a> {
    location: &'a str,
    field: &'static str,
}

impl<'de> DeserializeSeed<'de> for StrictMembers<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for StrictMembers<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an object or null as {:?} of {}",
            self.field,
            place(self.location)
        )
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let prefix = if self.location.is_empty() {
            String::new()
        } else {
            format!("{}.", self.location)
        };
        while let Some(name) = map.next_key::<String>()? {
            let location = format!("{prefix}{}[{name:?}]", self.field);
            if self.field == "metrics" {
                map.next_value_seed(StrictMetric { location })?;
            } else {
                map.next_value_seed(StrictLevel { location })?;
            }
        }
        Ok(())
    }
}

/// A metric under the strict rules.
struct StrictMetric {
    location: String,
}

impl<'de> DeserializeSeed<'de> for StrictMetric {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StrictMetric {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object (a metric) at {}", self.location)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::Error;
        let location = &self.location;
        let mut seen = [false; 3];
        while let Some(key) = map.next_key::<String>()? {
            if go_key_matches(&key, "frequency") {
                seen[0] |= strict_integer(location, "frequency", &mut map)?;
            } else if go_key_matches(&key, "start") {
                seen[1] |= strict_integer(location, "start", &mut map)?;
            } else if go_key_matches(&key, "data") {
                let data = map.next_value::<serde_json::Value>()?;
                let serde_json::Value::Array(values) = &data else {
                    if data.is_null() {
                        // Go empties the list: reported as missing below,
                        // unless a later "data" sets it again.
                        seen[2] = false;
                        continue;
                    }
                    return Err(A::Error::custom(format!(
                        "{location}: \"data\" must be an array, not {}",
                        json_type(&data)
                    )));
                };
                if let Some((index, value)) = values
                    .iter()
                    .enumerate()
                    .find(|(_, v)| !v.is_number() && !v.is_null())
                {
                    return Err(A::Error::custom(format!(
                        "{location}: \"data\"[{index}] must be a number or null, not {}",
                        json_type(value)
                    )));
                }
                seen[2] = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        strict_required(location, &["frequency", "start", "data"], &seen)
    }
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
        if metrics.insert(name, out).is_some() {
            return Err(JsonError::DuplicateName {
                name: name.to_string(),
            });
        }
    }
    let mut children = BTreeMap::new();
    for child in &level.children {
        let name = utf8(&child.name)?;
        if children
            .insert(name, level_out(&child.level, from, to)?)
            .is_some()
        {
            return Err(JsonError::DuplicateName {
                name: name.to_string(),
            });
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(input: &str) -> String {
        match validate_json_snapshot(input.as_bytes()) {
            Ok(()) => panic!("{input} passed the strict check"),
            Err(e) => e.to_string(),
        }
    }

    const GO_WRITTEN: &str = r#"{"metrics":{"cpu_load":{"frequency":60,"start":1700000400,
        "data":[0.2,null,-0.1]}},"children":{"cpu0":{"metrics":{},"children":{},
        "from":1700000100,"to":1700000700}},"from":1700000100,"to":1700000700}"#;

    #[test]
    fn what_go_writes_and_encode_produces_is_valid() {
        validate_json_snapshot(GO_WRITTEN.as_bytes()).unwrap();
        let snapshot = decode_json_snapshot(GO_WRITTEN.as_bytes()).unwrap();
        let encoded = encode_json_snapshot(&snapshot).unwrap();
        validate_json_snapshot(&encoded).unwrap();
        // Missing or null member maps, Go's key matching and unknown keys.
        for ok in [
            r#"{"from": 1, "to": 2}"#,
            r#"{"from": 1, "to": 2, "metrics": null, "children": null}"#,
            r#"{"FROM": -5, "To": 0, "version": [1], "metrics": {}}"#,
            r#"{"from": 1, "to": 2, "metrics": {"m": {"FREQUENCY": 60, "ſtart": 7, "Data": []}}}"#,
        ] {
            validate_json_snapshot(ok.as_bytes()).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn missing_or_mistyped_members_are_named() {
        let cases = [
            ("{}", r#"the top level: "from" is missing or null"#),
            (
                r#"{"from": 1}"#,
                r#"the top level: "to" is missing or null"#,
            ),
            (
                r#"{"from": null, "to": 2}"#,
                r#"the top level: "from" is missing or null"#,
            ),
            (
                r#"{"from": 1.5, "to": 2}"#,
                r#"the top level: "from" must be an integer (int64), not 1.5"#,
            ),
            (
                r#"{"from": 1, "to": "2"}"#,
                r#""to" must be an integer (int64), not a string"#,
            ),
            (
                r#"{"from": 1, "to": 2, "metrics": []}"#,
                r#"expected an object or null as "metrics" of the top level"#,
            ),
            (
                r#"{"from": 1, "to": 2, "children": {"cpu0": {"from": 1}}}"#,
                r#"children["cpu0"]: "to" is missing or null"#,
            ),
            (
                r#"{"from": 1, "to": 2, "children": {"s": {"from": 1, "to": 2,
                    "metrics": {"m": {"frequency": 60, "start": 1}}}}}"#,
                r#"children["s"].metrics["m"]: "data" is missing or null"#,
            ),
            (
                r#"{"from": 1, "to": 2, "metrics": {"m": {"frequency": 60, "start": 1,
                    "data": [1, "x"]}}}"#,
                r#"metrics["m"]: "data"[1] must be a number or null, not a string"#,
            ),
            (
                r#"{"from": 1, "to": 2, "metrics": {"m": {"frequency": 60, "start": 1,
                    "data": {}}}}"#,
                r#"metrics["m"]: "data" must be an array, not an object"#,
            ),
            (
                r#"{"from": 1, "to": 2, "metrics": {"m": null}}"#,
                r#"expected an object (a metric) at metrics["m"]"#,
            ),
            (
                "[]",
                "expected an object (a snapshot level) at the top level",
            ),
        ];
        for (input, expected) in cases {
            let message = problem(input);
            assert!(message.starts_with("not a JSON snapshot: "), "{message}");
            assert!(message.contains(expected), "{input}: {message}");
        }
    }

    #[test]
    fn syntax_errors_stay_syntax_errors() {
        for bad in ["", "{", r#"{"from": 1, "to": 2} x"#, "nul"] {
            assert!(
                matches!(
                    validate_json_snapshot(bad.as_bytes()),
                    Err(JsonError::Syntax(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn repeated_keys_are_checked_every_time() {
        // Go merges repeated "metrics" objects, so a bad metric in the
        // first one is still loaded: it must be reported.
        let input = r#"{"from": 1, "to": 2, "metrics": {"a": {"start": 1}},
            "metrics": {"b": {"frequency": 1, "start": 1, "data": []}}}"#;
        assert!(problem(input).contains(r#"metrics["a"]: "frequency" is missing or null"#));
        // A later null "data" empties the list, as in Go.
        let input = r#"{"from": 1, "to": 2, "metrics": {"a": {"frequency": 1, "start": 1,
            "data": [1], "data": null}}}"#;
        assert!(problem(input).contains(r#""data" is missing or null"#));
    }
}
