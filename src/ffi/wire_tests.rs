//! The flat layouts and name rules of the C ABI against the shared golden
//! files in tests/wire (see its README), which other bindings are tested
//! against too.

use std::path::PathBuf;

use serde::Deserialize;

use super::parse_host_list;
use super::restore::parse_metric_list;
use crate::engine::Batch;
use crate::names;

/// A name: a string, or one repeated to a length.
#[derive(Deserialize)]
#[serde(untagged)]
enum Name {
    Plain(String),
    Repeat { repeat: String, times: usize },
}

impl Name {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Name::Plain(s) => s.as_bytes().to_vec(),
            Name::Repeat { repeat, times } => repeat.repeat(*times).into_bytes(),
        }
    }
}

/// A selector: a list of names, or one name repeated to a count.
#[derive(Deserialize)]
#[serde(untagged)]
enum Selector {
    List(Vec<Name>),
    Repeat { repeat: String, times: usize },
}

impl Selector {
    fn components(&self) -> Vec<Vec<u8>> {
        match self {
            Selector::List(names) => names.iter().map(Name::bytes).collect(),
            Selector::Repeat { repeat, times } => vec![repeat.as_bytes().to_vec(); *times],
        }
    }
}

#[derive(Deserialize)]
struct Sample {
    cluster: Name,
    host: Name,
    metric: Name,
    selector: Selector,
    #[serde(default)]
    value: f64,
    #[serde(default)]
    ts: i64,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Cases {
    batch: Vec<Sample>,
    hosts: Vec<(String, String)>,
    metrics: Vec<(String, i64)>,
    names: Vec<Sample>,
}

fn wire_file(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/wire")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn cases() -> Cases {
    serde_json::from_slice(&wire_file("cases.json")).expect("tests/wire/cases.json")
}

#[test]
fn the_batch_builder_writes_the_golden_batch() {
    let mut batch = Batch::new();
    for s in cases().batch {
        batch
            .push(
                &s.cluster.bytes(),
                &s.host.bytes(),
                &s.metric.bytes(),
                &s.selector.components(),
                s.value,
                s.ts,
            )
            .unwrap();
    }
    assert_eq!(batch.as_bytes(), wire_file("batch.bin"));
}

#[test]
fn the_host_list_reader_reads_the_golden_hosts() {
    let bytes = wire_file("hosts.bin");
    let read: Vec<(String, String)> = parse_host_list(&bytes)
        .unwrap_or_else(|f| panic!("{}", f.error))
        .into_iter()
        .map(|(c, h)| {
            (
                String::from_utf8(c.to_vec()).unwrap(),
                String::from_utf8(h.to_vec()).unwrap(),
            )
        })
        .collect();
    assert_eq!(read, cases().hosts);
}

#[test]
fn the_metric_configuration_reader_reads_the_golden_metrics() {
    let bytes = wire_file("metrics.bin");
    let read: Vec<(String, i64)> = parse_metric_list(&bytes)
        .unwrap_or_else(|f| panic!("{}", f.error))
        .into_iter()
        .map(|(name, frequency)| (String::from_utf8(name.to_vec()).unwrap(), frequency))
        .collect();
    assert_eq!(read, cases().metrics);
}

#[test]
fn names_are_refused_with_the_golden_messages() {
    for s in cases().names {
        let (cluster, host, metric) = (s.cluster.bytes(), s.host.bytes(), s.metric.bytes());
        let got = names::validate_sample(&cluster, &host, &metric, &s.selector.components())
            .err()
            .map(|e| e.to_string());
        assert_eq!(got, s.error, "{:?}", String::from_utf8_lossy(&host));
    }
}
