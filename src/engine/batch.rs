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

use crate::error::{Error, ErrorKind};
use crate::names::{self, NameField};

/// Fixed part of an entry: ts, value, three lengths and the selector count.
pub const ENTRY_HEADER_LEN: usize = 8 + 8 + 2 + 2 + 2 + 1;

/// One sample of a batch, borrowed from its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    pub ts: i64,
    pub value: f64,
    pub cluster: &'a [u8],
    pub host: &'a [u8],
    pub metric: &'a [u8],
    /// The selector as stored in a WAL record: (u8 len, bytes) × count.
    pub selector_raw: &'a [u8],
    pub selector_count: u8,
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
        let known = matches!(&self.checked, Some((c, h)) if c == cluster && h == host);
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

/// Walks the samples of an encoded batch, checking every length against
/// the bytes (and, with `check_names`, every cluster and host name: metric
/// and selector lengths cannot exceed their fields). Yields each sample
/// with its index; the first malformed one ends the walk with an error.
pub(crate) struct Entries<'a> {
    bytes: &'a [u8],
    pos: usize,
    index: usize,
    check_names: bool,
    /// The last (cluster, host) checked: a host's samples come in a row,
    /// so each pair is checked once per run, not once per sample.
    checked: (&'a [u8], &'a [u8]),
}

impl<'a> Entries<'a> {
    pub fn new(bytes: &'a [u8], check_names: bool) -> Self {
        Entries {
            bytes,
            pos: 0,
            index: 0,
            check_names,
            checked: (&[], &[]),
        }
    }

    /// Where the next entry starts (see [`Entries::at`]).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The entry at `pos` of bytes an earlier iteration walked without an
    /// error (no checks again).
    pub fn at(bytes: &'a [u8], pos: usize) -> Entry<'a> {
        let mut entries = Entries::new(bytes, false);
        entries.pos = pos;
        entries.entry().expect("checked by an earlier iteration")
    }

    fn entry(&mut self) -> Result<Entry<'a>, Error> {
        let (bytes, pos, index) = (self.bytes, self.pos, self.index);
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
        if self.check_names && (cluster, host) != self.checked {
            let check = |field, name: &[u8]| {
                names::validate_path_component(field, name).map_err(|e| {
                    Error::new(ErrorKind::InvalidName, format!("batch sample {index}: {e}"))
                })
            };
            check(NameField::Cluster, cluster)?;
            check(NameField::Host, host)?;
            self.checked = (cluster, host);
        }
        self.pos = cursor;
        self.index += 1;
        Ok(Entry {
            ts,
            value,
            cluster,
            host,
            metric,
            selector_raw: &bytes[selector_start..cursor],
            selector_count,
        })
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let entry = self.entry();
        if entry.is_err() {
            self.pos = self.bytes.len();
        }
        Some(entry)
    }
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
        let entries: Vec<_> = Entries::new(batch.as_bytes(), true)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (entries[0].ts, entries[0].value, entries[0].host),
            (100, 1.5, b"h1".as_slice())
        );
        assert_eq!(entries[1].selector_count, 2);
        assert_eq!(entries[1].selector_raw, b"\x04cpu3\x01x");
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
            match Entries::new(&bytes[..len], true).collect::<Result<Vec<_>, _>>() {
                Ok(entries) => assert!(len == 0 || len == one, "{len}: {}", entries.len()),
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
        let error = Entries::new(&bytes, true).find_map(Result::err).unwrap();
        assert_eq!(error.kind(), ErrorKind::InvalidName);
        assert!(Entries::new(&bytes, false).all(|e| e.is_ok()));
    }
}
