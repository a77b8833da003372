//! Any bytes as one line of InfluxDB line protocol. Invariants:
//! - parsing never panics;
//! - an accepted line has a metric name, a finite value, and one or two
//!   selector components, none empty;
//! - the sample written back as a line (every special byte escaped, the
//!   timestamp in seconds) parses to the same sample.
#![no_main]

use ccwal::codec::lineproto::{Sample, parse_line};
use libfuzzer_sys::fuzz_target;

fn escaped(out: &mut Vec<u8>, text: &[u8]) {
    for &b in text {
        if b == b'\\' || b == b',' || b == b'=' || b.is_ascii_whitespace() || b == b'#' {
            out.push(b'\\');
        }
        out.push(b);
    }
}

fn tag(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    out.push(b',');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    escaped(out, value);
}

/// The sample as a line: `type-id` alone carries the first component and
/// `stype-id` the second, so `type=node` never drops one.
fn write_line(sample: &Sample) -> Vec<u8> {
    let mut line = Vec::new();
    escaped(&mut line, &sample.metric);
    if let Some(cluster) = &sample.cluster {
        tag(&mut line, "cluster", cluster);
    }
    tag(&mut line, "hostname", &sample.host);
    let tags = ["type-id", "stype-id"];
    for (key, component) in tags.iter().zip(&sample.selector) {
        tag(&mut line, key, component);
    }
    line.extend_from_slice(format!(" value={:?}", sample.value).as_bytes());
    if let Some(ts) = sample.ts {
        line.extend_from_slice(format!(" {ts}").as_bytes());
    }
    line
}

fuzz_target!(|data: &[u8]| {
    let Ok(Some(sample)) = parse_line(data) else {
        return;
    };
    assert!(!sample.metric.is_empty());
    assert!(sample.value.is_finite(), "value {} accepted", sample.value);
    assert!(sample.selector.len() <= 2);
    assert!(sample.selector.iter().all(|c| !c.is_empty()));
    let line = write_line(&sample);
    let again = parse_line(&line)
        .unwrap_or_else(|e| panic!("{:?} refused: {e}", String::from_utf8_lossy(&line)))
        .expect("a sample line");
    assert_eq!(again.value.to_bits(), sample.value.to_bits());
    assert_eq!(again, sample);
});
