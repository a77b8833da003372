//! InfluxDB line protocol, as cc-metric-collector sends it and the Go
//! metricstore decodes it:
//!
//! ```text
//! cpu_load,cluster=fritz,hostname=f0101,type=cpu,type-id=3 value=0.75 1700000000
//! ```
//!
//! - the measurement is the metric name;
//! - tags `cluster`, `hostname` or `host`; `type` + `type-id` form the first
//!   selector component ("cpu" + "3" = "cpu3"; `type=node` adds nothing),
//!   `stype` + `stype-id` the second, whatever order the tags come in;
//!   other tags are ignored;
//! - the only field is `value` (float, integer `5i` or unsigned `5u`);
//! - the timestamp is tried as seconds, then milliseconds, microseconds and
//!   nanoseconds (the first whose nanosecond value fits an i64), and stored
//!   as unix seconds; a missing one means "now", left to the caller.

use std::fmt;

/// One decoded line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The measurement: the metric name.
    pub metric: Vec<u8>,
    /// The `cluster` tag, if present.
    pub cluster: Option<Vec<u8>>,
    /// The `hostname` or `host` tag; empty if neither is present.
    pub host: Vec<u8>,
    /// Selector components from the `type`/`type-id` and `stype`/`stype-id` tags.
    pub selector: Vec<Vec<u8>>,
    /// The `value` field.
    pub value: f64,
    /// Unix seconds; `None` when the line has no timestamp.
    pub ts: Option<i64>,
}

/// Why a line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// Not line protocol: what is missing or malformed.
    Syntax(&'static str),
    /// A field other than `value` (Go refuses the message).
    UnknownField(String),
    /// A `value` that is not a number (a string or a boolean).
    UnsupportedValue(String),
    /// A float `value` beyond float64's range (`1e999`): Go refuses it
    /// rather than store an infinity.
    OutOfRange(String),
    /// A timestamp that fits no precision.
    Timestamp(String),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::Syntax(what) => write!(f, "syntax error: {what}"),
            LineError::UnknownField(key) => {
                write!(f, "unknown field {key:?} (only \"value\" is accepted)")
            }
            LineError::UnsupportedValue(value) => {
                write!(f, "unsupported value {value:?}: not a number")
            }
            LineError::OutOfRange(value) => {
                write!(f, "value {value:?} is out of the float64 range")
            }
            LineError::Timestamp(ts) => {
                write!(f, "timestamp {ts:?} is not an integer in s, ms, µs or ns")
            }
        }
    }
}

impl std::error::Error for LineError {}

/// Splits `input` at the first unescaped byte in `stops` (a backslash
/// escapes the next byte); returns (unescaped part, the stop byte, rest).
fn split_unescaped<'a>(input: &'a [u8], stops: &[u8]) -> (Vec<u8>, Option<u8>, &'a [u8]) {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'\\' && i + 1 < input.len() {
            out.push(input[i + 1]);
            i += 2;
            continue;
        }
        if stops.contains(&b) {
            return (out, Some(b), &input[i + 1..]);
        }
        out.push(b);
        i += 1;
    }
    (out, None, &[])
}

/// Unix seconds of a raw timestamp, trying s, ms, µs, ns as Go does.
pub fn timestamp_seconds(raw: i64) -> Option<i64> {
    [1_000_000_000i64, 1_000_000, 1_000, 1]
        .iter()
        .find_map(|&unit| raw.checked_mul(unit))
        .map(|nanos| nanos.div_euclid(1_000_000_000))
}

fn parse_value(raw: &[u8]) -> Result<f64, LineError> {
    let text = std::str::from_utf8(raw).map_err(|_| LineError::Syntax("value is not UTF-8"))?;
    let unsupported = || LineError::UnsupportedValue(text.to_string());
    if let Some(int) = text.strip_suffix('i') {
        return int
            .parse::<i64>()
            .map(|v| v as f64)
            .map_err(|_| unsupported());
    }
    if let Some(uint) = text.strip_suffix('u') {
        return uint
            .parse::<u64>()
            .map(|v| v as f64)
            .map_err(|_| unsupported());
    }
    // Line protocol floats are plain decimals; refuse Rust's extras
    // ("inf", "NaN") that Go's decoder would not take either.
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return Err(unsupported());
    }
    let value = text.parse::<f64>().map_err(|_| unsupported())?;
    if value.is_infinite() {
        return Err(LineError::OutOfRange(text.to_string()));
    }
    Ok(value)
}

/// Parses one line; `Ok(None)` for blank lines and comments.
pub fn parse_line(line: &[u8]) -> Result<Option<Sample>, LineError> {
    let line = line.trim_ascii();
    if line.is_empty() || line[0] == b'#' {
        return Ok(None);
    }
    let (metric, stop, mut rest) = split_unescaped(line, b", ");
    if metric.is_empty() {
        return Err(LineError::Syntax("missing measurement"));
    }
    let mut sample = Sample {
        metric,
        cluster: None,
        host: Vec::new(),
        selector: Vec::new(),
        value: 0.0,
        ts: None,
    };
    let (mut type_id, mut stype_id) = (Vec::new(), Vec::new());
    let (mut type_name, mut stype_name) = (Vec::new(), Vec::new());
    let mut stop = stop;
    while stop == Some(b',') {
        let (key, eq, after_key) = split_unescaped(rest, b"= ,");
        if eq != Some(b'=') {
            return Err(LineError::Syntax("tag without '='"));
        }
        let (value, next, after_value) = split_unescaped(after_key, b", ");
        match key.as_slice() {
            b"cluster" => sample.cluster = Some(value),
            b"hostname" | b"host" => sample.host = value,
            b"type" if value != b"node" => type_name = value,
            b"type-id" => type_id = value,
            b"stype" => stype_name = value,
            b"stype-id" => stype_id = value,
            _ => {}
        }
        stop = next;
        rest = after_value;
    }
    if stop != Some(b' ') {
        return Err(LineError::Syntax("missing fields"));
    }
    let mut value: f64;
    loop {
        let (key, eq, after_key) = split_unescaped(rest, b"= ,");
        if eq != Some(b'=') || key.is_empty() {
            return Err(LineError::Syntax("field without '='"));
        }
        let (raw, next, after_value) = if after_key.first() == Some(&b'"') {
            return Err(LineError::UnsupportedValue(
                String::from_utf8_lossy(after_key).into_owned(),
            ));
        } else {
            split_unescaped(after_key, b", ")
        };
        if key != b"value" {
            return Err(LineError::UnknownField(
                String::from_utf8_lossy(&key).into_owned(),
            ));
        }
        value = parse_value(&raw)?;
        rest = after_value;
        if next != Some(b',') {
            break;
        }
    }
    sample.value = value;
    let ts_text = rest.trim_ascii();
    if !ts_text.is_empty() {
        let text = String::from_utf8_lossy(ts_text).into_owned();
        let raw: i64 = text
            .parse()
            .map_err(|_| LineError::Timestamp(text.clone()))?;
        sample.ts = Some(timestamp_seconds(raw).ok_or(LineError::Timestamp(text))?);
    }
    let type_selector = [type_name, type_id].concat();
    if !type_selector.is_empty() {
        sample.selector.push(type_selector);
        let stype_selector = [stype_name, stype_id].concat();
        if !stype_selector.is_empty() {
            sample.selector.push(stype_selector);
        }
    }
    Ok(Some(sample))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Sample {
        parse_line(line.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn collector_lines() {
        let s =
            parse("cpu_load,cluster=fritz,hostname=f0101,type=cpu,type-id=3 value=0.75 1700000000");
        assert_eq!(s.metric, b"cpu_load");
        assert_eq!(
            (s.cluster.as_deref(), s.host.as_slice()),
            (Some(&b"fritz"[..]), &b"f0101"[..])
        );
        assert_eq!(s.selector, vec![b"cpu3".to_vec()]);
        assert_eq!((s.value, s.ts), (0.75, Some(1_700_000_000)));

        let s = parse("mem_bw,host=h1,stype-id=1,type-id=0,stype=memctrl,type=socket value=12i");
        assert_eq!(s.selector, vec![b"socket0".to_vec(), b"memctrl1".to_vec()]);
        assert_eq!((s.value, s.ts, s.cluster), (12.0, None, None));

        let s = parse("load,host=h,type=node,other=x value=7u 1700000000000");
        assert!(s.selector.is_empty());
        assert_eq!((s.value, s.ts), (7.0, Some(1_700_000_000)));

        let s = parse(r"m\ x,host=a\,b value=1e3 1700000000123456789");
        assert_eq!(
            (s.metric.as_slice(), s.host.as_slice()),
            (&b"m x"[..], &b"a,b"[..])
        );
        assert_eq!((s.value, s.ts), (1000.0, Some(1_700_000_000)));

        assert_eq!(parse_line(b"  # comment").unwrap(), None);
        assert_eq!(parse_line(b"").unwrap(), None);
    }

    #[test]
    fn refusals() {
        let err = |line: &str| parse_line(line.as_bytes()).unwrap_err();
        assert_eq!(
            err("m,host=h other=1 1"),
            LineError::UnknownField("other".into())
        );
        assert!(matches!(
            err("m,host=h value=\"x\" 1"),
            LineError::UnsupportedValue(_)
        ));
        assert!(matches!(
            err("m,host=h value=true 1"),
            LineError::UnsupportedValue(_)
        ));
        assert!(matches!(
            err("m,host=h value=1 12ab"),
            LineError::Timestamp(_)
        ));
        assert!(matches!(err("m,host value=1"), LineError::Syntax(_)));
        assert!(matches!(err("m,host=h"), LineError::Syntax(_)));
        assert!(matches!(err("m value"), LineError::Syntax(_)));
    }

    #[test]
    fn precision_detection() {
        assert_eq!(timestamp_seconds(1_700_000_000), Some(1_700_000_000));
        assert_eq!(timestamp_seconds(1_700_000_000_500), Some(1_700_000_000));
        assert_eq!(
            timestamp_seconds(1_700_000_000_500_000),
            Some(1_700_000_000)
        );
        assert_eq!(timestamp_seconds(i64::MAX), Some(i64::MAX / 1_000_000_000));
        assert_eq!(timestamp_seconds(-1), Some(-1));
    }
}
