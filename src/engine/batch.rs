//! The flat, pointer-free batch of samples that `Store::append_batch` takes.
//!
//! The same bytes cross the C ABI unchanged (Go builds them in a `[]byte`),
//! so the layout is part of the interface. Each sample, little-endian and
//! unaligned, one after the other:
//!
//! ```text
//! i64 ts | f64 value | u16 cluster_len | u16 host_len | u16 metric_len |
//! u8 selector_count | cluster | host | metric | selector_count × (u8 len, bytes)
//! ```

use std::ops::Range;

use crate::codec::wal;
use crate::error::{Error, ErrorKind};
use crate::names::{self, NameField};

/// Fixed part of an entry: ts, value, three lengths and the selector count.
pub const ENTRY_HEADER_LEN: usize = 8 + 8 + 2 + 2 + 2 + 1;

/// One sample of a batch, borrowed from its bytes.
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    ts: i64,
    value: f64,
    cluster: &'a [u8],
    host: &'a [u8],
    metric: &'a [u8],
    /// The selector as stored in a WAL record: (u8 len, bytes) × count.
    selector_raw: &'a [u8],
    selector_count: u8,
    /// Where the next sample starts.
    end: usize,
}

/// A reusable batch of samples in the flat layout. Names are checked when a
/// sample is pushed, so a batch that was built here is always accepted by
/// the engine's validation.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    bytes: Vec<u8>,
    len: usize,
    /// The last (cluster, host) whose names passed the check: a host's
    /// samples come in a row, so each pair is checked once per run.
    checked: Option<(Vec<u8>, Vec<u8>)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch::default()
    }

    /// Adds one sample; refuses names that the WAL format or the directory
    /// layout cannot hold (nothing is added then).
    pub fn push<S: AsRef<[u8]>>(
        &mut self,
        cluster: &[u8],
        host: &[u8],
        metric: &[u8],
        selector: &[S],
        value: f64,
        ts: i64,
    ) -> Result<(), Error> {
        let known =
            matches!(&self.checked, Some((c, h)) if same_name(h, host) && same_name(c, cluster));
        if !known {
            names::validate_path_component(NameField::Cluster, cluster)?;
            names::validate_path_component(NameField::Host, host)?;
            self.checked = Some((cluster.to_vec(), host.to_vec()));
        }
        names::validate_metric(metric)?;
        names::validate_selector(selector)?;
        let out = &mut self.bytes;
        out.extend_from_slice(&ts.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
        out.extend_from_slice(&(cluster.len() as u16).to_le_bytes());
        out.extend_from_slice(&(host.len() as u16).to_le_bytes());
        out.extend_from_slice(&(metric.len() as u16).to_le_bytes());
        out.push(selector.len() as u8);
        out.extend_from_slice(cluster);
        out.extend_from_slice(host);
        out.extend_from_slice(metric);
        for component in selector {
            let component = component.as_ref();
            out.push(component.len() as u8);
            out.extend_from_slice(component);
        }
        self.len += 1;
        Ok(())
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the batch, keeping its memory for reuse.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.len = 0;
    }

    /// The encoded samples, as `Store::append_encoded_batch` takes them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

fn malformed(index: usize, offset: usize, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("batch sample {index} at byte {offset}: {what}"),
    )
}

/// Whether two short names are equal, without a library call for the
/// lengths names have (most are under 16 bytes): the batch path compares
/// a sample's cluster and host with the previous one for every sample.
#[inline]
pub(crate) fn same_name(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    match n {
        // Two overlapping words cover the whole name.
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        0..8 => a.iter().zip(b).all(|(x, y)| x == y),
        _ => a == b,
    }
}

/// Consecutive samples of one (cluster, host) in an encoded batch, and
/// where their WAL records are in the buffer [`runs`] filled. A collector
/// sends a host's metrics together, so a batch is a few runs of many
/// samples, and the work per host (names, shard, queue item) is done once
/// per run.
#[derive(Debug, Clone)]
pub(crate) struct Run<'a> {
    pub cluster: &'a [u8],
    pub host: &'a [u8],
    pub samples: u64,
    pub records: Range<usize>,
}

/// Whether [`runs`] checks each run's cluster and host names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostNames {
    /// Bytes from outside (the C ABI): check them.
    Check,
    /// Checked already (by [`Batch::push`]).
    Trusted,
}

/// Checks every sample of an encoded batch (lengths against the bytes and,
/// unless `names` are trusted, each run's cluster and host names: metric
/// and selector lengths cannot exceed their fields), writes its WAL record
/// to `records` (emptied first) and splits the batch into runs, in one walk
/// of the bytes. The first malformed sample is an error naming it.
pub(crate) fn runs<'a>(
    bytes: &'a [u8],
    names: HostNames,
    records: &mut Vec<u8>,
) -> Result<Vec<Run<'a>>, Error> {
    records.clear();
    // A record is shorter than its sample in the batch but for a few bytes.
    records.reserve(bytes.len() + bytes.len() / 8);
    let mut runs: Vec<Run<'_>> = Vec::new();
    let (mut pos, mut index) = (0, 0);
    while pos < bytes.len() {
        let e = parse(bytes, pos, index)?;
        let start = records.len();
        wal::encode_record_raw_selector(
            records,
            e.ts,
            e.metric,
            e.selector_count,
            e.selector_raw,
            (e.value as f32).to_bits(),
        );
        match runs.last_mut() {
            Some(run) if same_name(run.host, e.host) && same_name(run.cluster, e.cluster) => {
                run.samples += 1;
                run.records.end = records.len();
            }
            _ => {
                if names == HostNames::Check {
                    let check = |field, name: &[u8]| {
                        names::validate_path_component(field, name).map_err(|e| {
                            Error::new(ErrorKind::InvalidName, format!("batch sample {index}: {e}"))
                        })
                    };
                    check(NameField::Cluster, e.cluster)?;
                    check(NameField::Host, e.host)?;
                }
                runs.push(Run {
                    cluster: e.cluster,
                    host: e.host,
                    samples: 1,
                    records: start..records.len(),
                });
            }
        }
        pos = e.end;
        index += 1;
    }
    Ok(runs)
}

/// Parses the sample at `pos` (the `index`th), checking its lengths
/// against the bytes.
fn parse(bytes: &[u8], pos: usize, index: usize) -> Result<Entry<'_>, Error> {
    let header = bytes
        .get(pos..pos + ENTRY_HEADER_LEN)
        .ok_or_else(|| malformed(index, pos, "truncated sample header"))?;
    let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]) as usize;
    let ts = i64::from_le_bytes(header[0..8].try_into().expect("8 bytes"));
    let value = f64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    let selector_count = header[22];
    let mut cursor = pos + ENTRY_HEADER_LEN;
    let mut take = |len: usize, what: &str| {
        let field = bytes.get(cursor..cursor + len).ok_or_else(|| {
            malformed(index, pos, format!("{what} runs past the end of the batch"))
        })?;
        cursor += len;
        Ok::<_, Error>(field)
    };
    let cluster = take(u16_at(16), "cluster")?;
    let host = take(u16_at(18), "host")?;
    let metric = take(u16_at(20), "metric")?;
    let selector_start = cursor;
    for i in 0..selector_count {
        let overflow = || {
            malformed(
                index,
                pos,
                format!("selector[{i}] runs past the end of the batch"),
            )
        };
        let len = *bytes.get(cursor).ok_or_else(overflow)? as usize;
        cursor += 1 + len;
        if cursor > bytes.len() {
            return Err(overflow());
        }
    }
    Ok(Entry {
        ts,
        value,
        cluster,
        host,
        metric,
        selector_raw: &bytes[selector_start..cursor],
        selector_count,
        end: cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_once_per_run_of_a_host_but_always_checked() {
        let mut batch = Batch::new();
        let none: &[&[u8]] = &[];
        batch.push(b"c", b"h1", b"m", none, 1.0, 1).unwrap();
        batch.push(b"c", b"h1", b"m", none, 1.0, 2).unwrap();
        // A new host, a bad metric, a bad host after a good one: refused.
        let long = vec![b'm'; names::MAX_METRIC_NAME_LEN + 1];
        assert!(batch.push(b"c", b"h1", &long, none, 1.0, 3).is_err());
        assert!(batch.push(b"c", b"a/b", b"m", none, 1.0, 4).is_err());
        assert!(batch.push(b"..", b"h1", b"m", none, 1.0, 5).is_err());
        batch.push(b"c", b"h1", b"m", none, 1.0, 6).unwrap();
        assert_eq!(batch.len(), 3);
    }

    #[test]
    fn same_name_agrees_with_slice_equality_at_every_length() {
        for len in 0..40 {
            let a: Vec<u8> = (0..len as u8).collect();
            assert!(same_name(&a, &a.clone()));
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x80;
                assert!(!same_name(&a, &b), "{len} bytes, differing at {at}");
            }
            assert!(!same_name(&a, &a[..len.saturating_sub(1)]) || len == 0);
        }
    }

    #[test]
    fn runs_group_a_hosts_consecutive_samples_and_encode_as_single_records() {
        let mut batch = Batch::new();
        let cpu: &[&[u8]] = &[b"cpu0"];
        for (host, metric, ts) in [
            ("a", "m1", 1),
            ("a", "m2", 2),
            ("b", "m1", 3),
            ("a", "m3", 4),
        ] {
            batch
                .push(b"c", host.as_bytes(), metric.as_bytes(), cpu, ts as f64, ts)
                .unwrap();
        }
        let mut records = b"left over".to_vec();
        let runs = runs(batch.as_bytes(), HostNames::Check, &mut records).unwrap();
        let shape: Vec<_> = runs.iter().map(|r| (r.host, r.samples)).collect();
        assert_eq!(shape, [(b"a".as_slice(), 2), (b"b", 1), (b"a", 1)]);
        let mut expected = Vec::new();
        let mut ends = Vec::new();
        for (metric, ts) in [(b"m1", 1), (b"m2", 2), (b"m1", 3), (b"m3", 4)] {
            wal::encode_record(&mut expected, ts, metric, cpu, ts as f32).unwrap();
            ends.push(expected.len());
        }
        assert_eq!(records, expected);
        let ranges: Vec<_> = runs.iter().map(|r| r.records.clone()).collect();
        assert_eq!(ranges, [0..ends[1], ends[1]..ends[2], ends[2]..ends[3]]);
    }

    #[test]
    fn pushed_samples_parse_back() {
        let mut batch = Batch::new();
        batch
            .push(b"c", b"h1", b"load", &[] as &[&[u8]], 1.5, 100)
            .unwrap();
        batch
            .push(b"c", b"h2", b"user", &[b"cpu3".as_slice(), b"x"], -2.0, 160)
            .unwrap();
        assert!(
            batch
                .push(b"c", b"..", b"m", &[] as &[&[u8]], 1.0, 1)
                .is_err()
        );
        assert_eq!(batch.len(), 2);
        let bytes = batch.as_bytes();
        let first = parse(bytes, 0, 0).unwrap();
        let second = parse(bytes, first.end, 1).unwrap();
        assert_eq!(second.end, bytes.len());
        assert_eq!(
            (first.ts, first.value, first.host),
            (100, 1.5, b"h1".as_slice())
        );
        assert_eq!(second.selector_count, 2);
        assert_eq!(second.selector_raw, b"\x04cpu3\x01x");
        let runs = runs(bytes, HostNames::Check, &mut Vec::new()).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!((runs[1].host, runs[1].samples), (b"h2".as_slice(), 1));
        batch.clear();
        assert!(batch.is_empty() && batch.as_bytes().is_empty());
    }

    #[test]
    fn every_truncation_is_an_error_naming_the_sample() {
        let mut batch = Batch::new();
        batch
            .push(b"c", b"h", b"m", &[b"s".as_slice()], 1.0, 1)
            .unwrap();
        batch
            .push(b"c", b"h", b"m", &[b"s".as_slice()], 1.0, 2)
            .unwrap();
        let bytes = batch.as_bytes();
        let one = bytes.len() / 2;
        for len in 0..bytes.len() {
            match runs(&bytes[..len], HostNames::Check, &mut Vec::new()) {
                Ok(runs) => assert!(len == 0 || len == one, "{len}: {}", runs.len()),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
                    let index = if len < one { 0 } else { 1 };
                    assert!(
                        e.message().contains(&format!("sample {index}")),
                        "{}",
                        e.message()
                    );
                }
            }
        }
    }

    #[test]
    fn names_are_checked() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&1i64.to_le_bytes());
        bytes.extend_from_slice(&1f64.to_le_bytes());
        bytes.extend_from_slice(&[1, 0, 2, 0, 2, 0, 0]);
        bytes.extend_from_slice(b"c../m");
        let error = runs(&bytes, HostNames::Check, &mut Vec::new()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidName);
        assert!(runs(&bytes, HostNames::Trusted, &mut Vec::new()).is_ok());
    }
}
