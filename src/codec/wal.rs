//! The WAL format: a file magic, then records of
//! `magic | payload_len | payload | crc32(payload)`.
//!
//! Pure byte-slice code: encoding appends to a caller-owned `Vec<u8>` (no
//! allocation once its capacity is warm), decoding borrows from the input.

use std::fmt;

use crate::names::{self, NameError};

/// First four bytes of every WAL file.
pub const FILE_MAGIC: u32 = 0xCC1D_A701;
/// First four bytes of every record.
pub const RECORD_MAGIC: u32 = 0xCC1D_A7A1;
/// Size of the file header.
pub const FILE_HEADER_LEN: usize = 4;
/// Bytes around the payload: magic, length and CRC.
pub const RECORD_OVERHEAD: usize = 12;
/// Largest payload a reader accepts (the Go reader's sanity limit).
pub const MAX_PAYLOAD_LEN: u32 = 1 << 20;
/// Smallest payload that can hold a record: ts, name length, selector count,
/// value.
pub const MIN_PAYLOAD_LEN: u32 = 8 + 2 + 1 + 4;

const RECORD_MAGIC_BYTES: [u8; 4] = RECORD_MAGIC.to_le_bytes();

/// The file header bytes every new WAL file starts with.
pub const fn file_header() -> [u8; FILE_HEADER_LEN] {
    FILE_MAGIC.to_le_bytes()
}

/// Why the first bytes of a WAL file are not a WAL file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileHeaderError {
    /// Fewer than four bytes (but not zero: an empty file is an empty WAL).
    Truncated {
        /// The file's length.
        len: usize,
    },
    /// The first four bytes are not the WAL file magic.
    BadMagic {
        /// The value found there.
        found: u32,
    },
}

impl fmt::Display for FileHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileHeaderError::Truncated { len } => {
                write!(f, "WAL file header truncated: {len} of 4 bytes")
            }
            FileHeaderError::BadMagic { found } => write!(
                f,
                "bad WAL file magic 0x{found:08X} (expected 0x{FILE_MAGIC:08X})"
            ),
        }
    }
}

impl std::error::Error for FileHeaderError {}

/// Checks the file header and returns the offset where records begin.
/// An empty input is a valid, empty WAL (returns `Ok(0)`).
pub fn check_file_header(file: &[u8]) -> Result<usize, FileHeaderError> {
    match file.len() {
        0 => Ok(0),
        len if len < FILE_HEADER_LEN => Err(FileHeaderError::Truncated { len }),
        _ => {
            let found = read_u32(file, 0);
            if found == FILE_MAGIC {
                Ok(FILE_HEADER_LEN)
            } else {
                Err(FileHeaderError::BadMagic { found })
            }
        }
    }
}

/// Which inner length of a payload points past its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InnerField {
    /// The metric name.
    MetricName,
    /// The selector count byte.
    SelectorCount,
    /// The selector component with this index.
    Selector(u8),
    /// The value.
    Value,
}

/// Why the bytes at some offset are not a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// The first four bytes are not the record magic.
    BadMagic {
        /// The value found there.
        found: u32,
    },
    /// The input ends before the record does; `needed` is the full record
    /// length when known, else the header length.
    Truncated {
        /// Bytes the record needs.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// `payload_len` is over [`MAX_PAYLOAD_LEN`].
    PayloadTooLarge {
        /// The stored `payload_len`.
        len: u32,
    },
    /// `payload_len` is under [`MIN_PAYLOAD_LEN`].
    PayloadTooShort {
        /// The stored `payload_len`.
        len: u32,
    },
    /// The stored CRC does not match the payload.
    CrcMismatch {
        /// The CRC in the file.
        stored: u32,
        /// The CRC of the payload.
        computed: u32,
    },
    /// An inner length (name, selector count, a selector, the value) runs
    /// past the payload.
    InnerLengthOverflow {
        /// Which length.
        field: InnerField,
    },
}

impl RecordError {
    /// A short, stable, machine-friendly name of the error kind.
    pub fn kind(&self) -> &'static str {
        match self {
            RecordError::BadMagic { .. } => "bad_magic",
            RecordError::Truncated { .. } => "truncated",
            RecordError::PayloadTooLarge { .. } => "payload_too_large",
            RecordError::PayloadTooShort { .. } => "payload_too_short",
            RecordError::CrcMismatch { .. } => "crc_mismatch",
            RecordError::InnerLengthOverflow { .. } => "inner_length_overflow",
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::BadMagic { found } => write!(
                f,
                "bad record magic 0x{found:08X} (expected 0x{RECORD_MAGIC:08X})"
            ),
            RecordError::Truncated { needed, available } => {
                write!(
                    f,
                    "record truncated: needs {needed} bytes, {available} left"
                )
            }
            RecordError::PayloadTooLarge { len } => {
                write!(
                    f,
                    "payload length {len} is over the {MAX_PAYLOAD_LEN}-byte limit"
                )
            }
            RecordError::PayloadTooShort { len } => {
                write!(
                    f,
                    "payload length {len} is under the {MIN_PAYLOAD_LEN}-byte minimum"
                )
            }
            RecordError::CrcMismatch { stored, computed } => write!(
                f,
                "CRC mismatch: stored 0x{stored:08X}, computed 0x{computed:08X}"
            ),
            RecordError::InnerLengthOverflow { field } => {
                let what = match field {
                    InnerField::MetricName => "metric name".to_string(),
                    InnerField::SelectorCount => "selector count".to_string(),
                    InnerField::Selector(i) => format!("selector[{i}]"),
                    InnerField::Value => "value".to_string(),
                };
                write!(f, "{what} runs past the end of the payload")
            }
        }
    }
}

impl std::error::Error for RecordError {}

/// A selector as stored in a record: `count` × (u8 len, bytes), borrowed
/// and already bounds-checked, so iterating it cannot fail.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SelectorRef<'a> {
    count: u8,
    raw: &'a [u8],
}

impl<'a> SelectorRef<'a> {
    /// Number of components.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the selector has no component.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The components, outermost first.
    pub fn iter(&self) -> SelectorIter<'a> {
        SelectorIter {
            remaining: self.count,
            raw: self.raw,
        }
    }

    /// The encoded form (without the count byte): equal selectors have equal
    /// bytes, so this is a cheap map key.
    pub fn as_encoded(&self) -> &'a [u8] {
        self.raw
    }
}

impl fmt::Debug for SelectorRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|c| String::from_utf8_lossy(c).into_owned()))
            .finish()
    }
}

impl<'a> IntoIterator for SelectorRef<'a> {
    type Item = &'a [u8];
    type IntoIter = SelectorIter<'a>;
    fn into_iter(self) -> SelectorIter<'a> {
        self.iter()
    }
}

/// Iterator over the components of a [`SelectorRef`].
#[derive(Clone)]
pub struct SelectorIter<'a> {
    remaining: u8,
    raw: &'a [u8],
}

impl<'a> Iterator for SelectorIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let len = self.raw[0] as usize;
        let (component, rest) = self.raw[1..].split_at(len);
        self.raw = rest;
        Some(component)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining as usize, Some(self.remaining as usize))
    }
}

impl ExactSizeIterator for SelectorIter<'_> {}

/// One decoded record, borrowing from the input.
#[derive(Clone, Copy, PartialEq)]
pub struct Record<'a> {
    /// Unix seconds.
    pub ts: i64,
    /// The metric name.
    pub metric: &'a [u8],
    /// The selector below the host.
    pub selector: SelectorRef<'a>,
    /// The stored float32 bits.
    pub value_bits: u32,
    /// Name length, name, selector count and components as stored.
    series: &'a [u8],
}

impl<'a> Record<'a> {
    /// The stored value.
    pub fn value(&self) -> f32 {
        f32::from_bits(self.value_bits)
    }

    /// The metric name and selector in their stored form (name length,
    /// name, selector count, components): one slice, equal exactly when
    /// both are, so a replay maps it to its chain with one lookup.
    pub fn series_key(&self) -> &'a [u8] {
        self.series
    }
}

// By hand, to leave out `series` (it repeats `metric` and `selector`).
impl fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("ts", &self.ts)
            .field("metric", &self.metric)
            .field("selector", &self.selector)
            .field("value_bits", &self.value_bits)
            .finish()
    }
}

/// Length in bytes of the record that [`encode_record`] writes.
pub fn encoded_len<S: AsRef<[u8]>>(metric: &[u8], selector: &[S]) -> usize {
    RECORD_OVERHEAD + payload_len(metric, selector)
}

fn payload_len<S: AsRef<[u8]>>(metric: &[u8], selector: &[S]) -> usize {
    let selector_bytes: usize = selector.iter().map(|s| 1 + s.as_ref().len()).sum();
    payload_len_raw(metric.len(), selector_bytes)
}

/// Payload length for a metric name of `metric_len` bytes and a selector
/// of `selector_bytes` bytes in its stored form, without its count.
fn payload_len_raw(metric_len: usize, selector_bytes: usize) -> usize {
    MIN_PAYLOAD_LEN as usize + metric_len + selector_bytes
}

/// Appends one record to `out` and returns its length.
///
/// Names that do not fit their length fields are refused (nothing is
/// written); the value is narrowed to float32 as the format stores it.
pub fn encode_record<S: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    ts: i64,
    metric: &[u8],
    selector: &[S],
    value: f32,
) -> Result<usize, NameError> {
    names::validate_metric(metric)?;
    names::validate_selector(selector)?;
    Ok(encode_record_unchecked(
        out,
        ts,
        metric,
        selector,
        value.to_bits(),
    ))
}

/// [`encode_record`] for names already checked by [`names`]; writing
/// unchecked overlong names would corrupt the record, so it stays private
/// to the crate.
pub(crate) fn encode_record_unchecked<S: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    ts: i64,
    metric: &[u8],
    selector: &[S],
    value_bits: u32,
) -> usize {
    let selector_bytes = selector.iter().map(|s| 1 + s.as_ref().len()).sum();
    encode_framed(out, ts, metric, selector_bytes, value_bits, |out| {
        out.push(selector.len() as u8);
        for component in selector {
            let component = component.as_ref();
            out.push(component.len() as u8);
            out.extend_from_slice(component);
        }
    })
}

/// Encodes a record whose selector is already in its stored form
/// (`count` × (u8 len, bytes) in `raw`), as the engine's batches carry it.
pub(crate) fn encode_record_raw_selector(
    out: &mut Vec<u8>,
    ts: i64,
    metric: &[u8],
    count: u8,
    raw: &[u8],
    value_bits: u32,
) -> usize {
    encode_framed(out, ts, metric, raw.len(), value_bits, |out| {
        out.push(count);
        out.extend_from_slice(raw);
    })
}

/// Writes magic, length, the payload (with `put_selector` writing the
/// selector count and components, `selector_bytes` long without the count)
/// and the CRC; returns the record length.
fn encode_framed(
    out: &mut Vec<u8>,
    ts: i64,
    metric: &[u8],
    selector_bytes: usize,
    value_bits: u32,
    put_selector: impl FnOnce(&mut Vec<u8>),
) -> usize {
    let payload = payload_len_raw(metric.len(), selector_bytes);
    let start = out.len();
    out.reserve(RECORD_OVERHEAD + payload);
    out.extend_from_slice(&RECORD_MAGIC_BYTES);
    out.extend_from_slice(&(payload as u32).to_le_bytes());
    out.extend_from_slice(&ts.to_le_bytes());
    out.extend_from_slice(&(metric.len() as u16).to_le_bytes());
    out.extend_from_slice(metric);
    put_selector(out);
    out.extend_from_slice(&value_bits.to_le_bytes());
    let crc = crc32fast::hash(&out[start + 8..]);
    out.extend_from_slice(&crc.to_le_bytes());
    RECORD_OVERHEAD + payload
}

/// Decodes the record at the start of `input`; returns it and its length.
///
/// Checks, in order: magic, header present, payload length within limits,
/// whole record present, CRC, inner lengths. Bytes after the value inside
/// the payload are ignored, as the Go reader ignores them.
pub fn decode_record(input: &[u8]) -> Result<(Record<'_>, usize), RecordError> {
    decode_record_with(input, &crc32fast::Hasher::new())
}

/// [`decode_record`] with a CRC hasher to clone: `crc32fast::hash` detects
/// the CPU's features on every call, which showed per record in replay.
fn decode_record_with<'a>(
    input: &'a [u8],
    crc: &crc32fast::Hasher,
) -> Result<(Record<'a>, usize), RecordError> {
    if input.len() < 8 {
        if input.len() >= 4 && read_u32(input, 0) != RECORD_MAGIC {
            return Err(RecordError::BadMagic {
                found: read_u32(input, 0),
            });
        }
        return Err(RecordError::Truncated {
            needed: 8,
            available: input.len(),
        });
    }
    let magic = read_u32(input, 0);
    if magic != RECORD_MAGIC {
        return Err(RecordError::BadMagic { found: magic });
    }
    let len = read_u32(input, 4);
    if len > MAX_PAYLOAD_LEN {
        return Err(RecordError::PayloadTooLarge { len });
    }
    if len < MIN_PAYLOAD_LEN {
        return Err(RecordError::PayloadTooShort { len });
    }
    let total = RECORD_OVERHEAD + len as usize;
    if input.len() < total {
        return Err(RecordError::Truncated {
            needed: total,
            available: input.len(),
        });
    }
    let payload = &input[8..8 + len as usize];
    let stored = read_u32(input, 8 + len as usize);
    let mut crc = crc.clone();
    crc.update(payload);
    let computed = crc.finalize();
    if stored != computed {
        return Err(RecordError::CrcMismatch { stored, computed });
    }
    Ok((parse_payload(payload)?, total))
}

fn parse_payload(payload: &[u8]) -> Result<Record<'_>, RecordError> {
    // MIN_PAYLOAD_LEN guarantees the timestamp and name length are present.
    let ts = i64::from_le_bytes(payload[0..8].try_into().expect("8 bytes"));
    let name_len = u16::from_le_bytes([payload[8], payload[9]]) as usize;
    let mut pos = 10;
    let metric = payload
        .get(pos..pos + name_len)
        .ok_or(RecordError::InnerLengthOverflow {
            field: InnerField::MetricName,
        })?;
    pos += name_len;
    let count = *payload.get(pos).ok_or(RecordError::InnerLengthOverflow {
        field: InnerField::SelectorCount,
    })?;
    pos += 1;
    let selector_start = pos;
    for i in 0..count {
        let len = *payload.get(pos).ok_or(RecordError::InnerLengthOverflow {
            field: InnerField::Selector(i),
        })? as usize;
        if pos + 1 + len > payload.len() {
            return Err(RecordError::InnerLengthOverflow {
                field: InnerField::Selector(i),
            });
        }
        pos += 1 + len;
    }
    let selector = SelectorRef {
        count,
        raw: &payload[selector_start..pos],
    };
    let value = payload
        .get(pos..pos + 4)
        .ok_or(RecordError::InnerLengthOverflow {
            field: InnerField::Value,
        })?;
    let value_bits = u32::from_le_bytes(value.try_into().expect("4 bytes"));
    Ok(Record {
        ts,
        metric,
        selector,
        value_bits,
        series: &payload[8..pos],
    })
}

/// Offset of the next position after `from` at which a valid record starts,
/// if any: the resynchronisation point after damage.
pub fn find_next_record(input: &[u8], from: usize) -> Option<usize> {
    let mut pos = from.checked_add(1)?;
    while pos + RECORD_OVERHEAD <= input.len() {
        let window = &input[pos..];
        match window.windows(4).position(|w| w == RECORD_MAGIC_BYTES) {
            None => return None,
            Some(skip) => {
                pos += skip;
                if decode_record(&input[pos..]).is_ok() {
                    return Some(pos);
                }
                pos += 1;
            }
        }
    }
    None
}

/// One step of reading a WAL: a record or a damaged range.
#[derive(Debug, Clone, PartialEq)]
pub enum WalItem<'a> {
    /// A valid record that starts at `offset`.
    Record {
        /// Byte offset of the record's magic.
        offset: usize,
        /// The record.
        record: Record<'a>,
    },
    /// Bytes `offset..offset + len` are not a valid record. With
    /// resynchronisation `len` reaches the next valid record (or the end);
    /// without it, the end of the input.
    Damaged {
        /// Byte offset of the damaged range.
        offset: usize,
        /// Its length.
        len: usize,
        /// Why the first record there is invalid.
        error: RecordError,
    },
}

/// What a [`WalReader`] does at damaged bytes (after reporting them as a
/// [`WalItem::Damaged`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDamage {
    /// Iteration ends, as the Go replay does.
    Stop,
    /// Skip to the next valid record and go on.
    Resync,
}

/// Walks the records of a WAL body (the bytes after the file header),
/// stopping at damage or resynchronising after it as `on_damage` says.
pub struct WalReader<'a> {
    input: &'a [u8],
    pos: usize,
    on_damage: OnDamage,
    done: bool,
    crc: crc32fast::Hasher,
}

impl<'a> WalReader<'a> {
    /// `input` is the whole file; `start` is where records begin (see
    /// [`check_file_header`]). Offsets reported are offsets into `input`.
    pub fn new(input: &'a [u8], start: usize, on_damage: OnDamage) -> Self {
        WalReader {
            input,
            pos: start,
            on_damage,
            done: false,
            crc: crc32fast::Hasher::new(),
        }
    }

    /// Offset of the next byte to read: after a full iteration with
    /// [`OnDamage::Stop`] this is the end of the last valid record before any damage.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for WalReader<'a> {
    type Item = WalItem<'a>;

    fn next(&mut self) -> Option<WalItem<'a>> {
        if self.done || self.pos >= self.input.len() {
            return None;
        }
        let offset = self.pos;
        match decode_record_with(&self.input[offset..], &self.crc) {
            Ok((record, len)) => {
                self.pos += len;
                Some(WalItem::Record { offset, record })
            }
            Err(error) => {
                let end = match self.on_damage {
                    OnDamage::Resync => {
                        let end = find_next_record(self.input, offset).unwrap_or(self.input.len());
                        self.pos = end;
                        end
                    }
                    OnDamage::Stop => {
                        self.done = true;
                        self.input.len()
                    }
                };
                Some(WalItem::Damaged {
                    offset,
                    len: end - offset,
                    error,
                })
            }
        }
    }
}

/// Why [`filter_records`] would not rewrite a WAL file.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterError {
    /// The file header is not a WAL header.
    Header(FileHeaderError),
    /// Damage at this offset: rewriting would drop what follows it.
    Damaged {
        /// Byte offset of the damage.
        offset: usize,
        /// What is wrong there.
        error: RecordError,
    },
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterError::Header(e) => e.fmt(f),
            FilterError::Damaged { offset, error } => write!(f, "offset {offset}: {error}"),
        }
    }
}

/// The records of a whole WAL file that `keep` accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    /// A WAL file (header and the kept records, bytes unchanged, in order).
    pub file: Vec<u8>,
    /// Records kept.
    pub kept: u64,
    /// Records dropped.
    pub dropped: u64,
}

/// Copies the records of `file` (a whole WAL file) that `keep` accepts into
/// a new WAL file. Refuses a file with any damage, so that nothing the
/// caller cannot see is lost.
pub fn filter_records(
    file: &[u8],
    mut keep: impl FnMut(&Record<'_>) -> bool,
) -> Result<Filtered, FilterError> {
    let start = check_file_header(file).map_err(FilterError::Header)?;
    let mut out = Filtered {
        file: file_header().to_vec(),
        kept: 0,
        dropped: 0,
    };
    let mut reader = WalReader::new(file, start, OnDamage::Stop);
    while let Some(item) = reader.next() {
        match item {
            WalItem::Record { offset, record } => {
                if keep(&record) {
                    out.file.extend_from_slice(&file[offset..reader.position()]);
                    out.kept += 1;
                } else {
                    out.dropped += 1;
                }
            }
            WalItem::Damaged { offset, error, .. } => {
                return Err(FilterError::Damaged { offset, error });
            }
        }
    }
    Ok(out)
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}
