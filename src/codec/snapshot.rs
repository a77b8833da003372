//! The binary snapshot format (`<from>.bin`):
//!
//! ```text
//! file  := u32 magic  i64 from  i64 to  level
//! level := u32 num_metrics  { u16 len, name, i64 frequency, i64 start,
//!                             u32 num_values, num_values × f32 bits }
//!          u32 num_children { u16 len, name, level }
//! ```
//!
//! Pure byte-slice code. Values move in bulk (one pass per value array, which
//! the compiler turns into vector code); the decoder checks every count
//! against the bytes that remain before it allocates anything.

use std::borrow::BorrowMut;
use std::fmt;

use crate::names::{MAX_METRIC_NAME_LEN, NameField};

/// First four bytes of every binary snapshot.
pub const SNAPSHOT_MAGIC: u32 = 0xCC5B_0001;
/// Magic, from and to.
pub const HEADER_LEN: usize = 4 + 8 + 8;
/// Deepest level nesting accepted (and written). WAL selectors are at most
/// 255 deep, so real trees stay far below; the limit bounds the decoder's
/// recursion on corrupt input.
pub const MAX_DEPTH: usize = 512;

const MIN_METRIC_LEN: usize = 2 + 8 + 8 + 4;
const MIN_LEVEL_LEN: usize = 4 + 4;
const MIN_CHILD_LEN: usize = 2 + MIN_LEVEL_LEN;

/// One level of a snapshot tree: the host, or a selector below it.
///
/// `V` is the value type: `f32` for binary snapshots (exactly the stored
/// bits), `f64` for the legacy JSON format whose values are not narrowed.
#[derive(Debug, Clone, PartialEq)]
pub struct Level<V = f32> {
    /// The level's metrics.
    pub metrics: Vec<Metric<V>>,
    /// The named sub-levels.
    pub children: Vec<Child<V>>,
}

impl<V> Default for Level<V> {
    fn default() -> Self {
        Level {
            metrics: Vec::new(),
            children: Vec::new(),
        }
    }
}

/// A metric's values in one level: `values[i]` is the sample at
/// `start + i * frequency`; NaN marks a missing sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric<V = f32> {
    /// The metric's name.
    pub name: Vec<u8>,
    /// Seconds between two values.
    pub frequency: i64,
    /// Unix seconds of the first value.
    pub start: i64,
    /// The values, NaN for missing samples.
    pub values: Vec<V>,
}

/// A named sub-level.
#[derive(Debug, Clone, PartialEq)]
pub struct Child<V = f32> {
    /// The child's name, a selector component such as `cpu3`.
    pub name: Vec<u8>,
    /// The child's contents.
    pub level: Level<V>,
}

/// A whole snapshot file: the host level and the window it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot<V = f32> {
    /// Start of the window the snapshot covers (unix seconds, its file name).
    pub from: i64,
    /// End of the window (unix seconds).
    pub to: i64,
    /// The host level.
    pub root: Level<V>,
}

/// A value type the encoder can narrow to the stored float32.
pub trait SnapshotValue: Copy {
    /// The value as the stored float32.
    fn to_f32(self) -> f32;
}

impl SnapshotValue for f32 {
    fn to_f32(self) -> f32 {
        self
    }
}

impl SnapshotValue for f64 {
    fn to_f32(self) -> f32 {
        self as f32
    }
}

/// Why a snapshot could not be encoded. Nothing of the failing call was
/// written, so the encoder stays usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A metric or child name longer than the u16 length field.
    NameTooLong {
        /// Which name.
        field: NameField,
        /// Its length in bytes.
        len: usize,
    },
    /// More values than the u32 count holds.
    TooManyValues {
        /// The number of values.
        len: usize,
    },
    /// More metrics or children than the u32 count holds.
    TooManyEntries {
        /// `"metrics"` or `"children"`.
        what: &'static str,
    },
    /// Metrics of a level must all come before its first child.
    MetricAfterChild,
    /// `end_child` without a matching `begin_child`, or `finish` with
    /// children still open.
    Unbalanced {
        /// Children begun and not ended.
        open_children: usize,
    },
    /// Children nested deeper than a decoder accepts.
    TooDeep,
    /// `finish` was called already.
    Finished,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::NameTooLong { field, len } => {
                write!(
                    f,
                    "{field} is {len} bytes long, at most {MAX_METRIC_NAME_LEN} fit"
                )
            }
            EncodeError::TooManyValues { len } => {
                write!(f, "{len} values do not fit a u32 count")
            }
            EncodeError::TooManyEntries { what } => write!(f, "too many {what} in one level"),
            EncodeError::MetricAfterChild => {
                f.write_str("a level's metrics must be added before its first child")
            }
            EncodeError::Unbalanced { open_children } => {
                write!(f, "unbalanced levels: {open_children} child level(s) open")
            }
            EncodeError::TooDeep => write!(f, "levels nest deeper than {MAX_DEPTH}"),
            EncodeError::Finished => f.write_str("the snapshot is finished already"),
        }
    }
}

impl std::error::Error for EncodeError {}

struct OpenLevel {
    metrics_count_at: usize,
    metrics: u32,
    /// Set once the metrics are closed and the children count is reserved.
    children_count_at: Option<usize>,
    children: u32,
}

/// Writes a snapshot into a byte buffer as the caller walks its tree:
/// a level's metrics first, then each child between `begin_child` and
/// `end_child`. Counts are reserved and patched, so the tree never has to
/// exist in memory as a whole.
///
/// `B` is the buffer: a `&mut Vec<u8>` to append to, or an owned `Vec<u8>`
/// taken back with [`SnapshotEncoder::into_inner`].
pub struct SnapshotEncoder<B: BorrowMut<Vec<u8>> = Vec<u8>> {
    out: B,
    start: usize,
    /// Levels still open, the host level first; empty once finished.
    open: Vec<OpenLevel>,
}

impl<B: BorrowMut<Vec<u8>>> SnapshotEncoder<B> {
    /// Appends the header to `out` and opens the host level.
    pub fn new(mut out: B, from: i64, to: i64) -> Self {
        let buf = out.borrow_mut();
        let start = buf.len();
        buf.extend_from_slice(&SNAPSHOT_MAGIC.to_le_bytes());
        buf.extend_from_slice(&from.to_le_bytes());
        buf.extend_from_slice(&to.to_le_bytes());
        let mut encoder = SnapshotEncoder {
            out,
            start,
            open: Vec::with_capacity(4),
        };
        encoder.open_level();
        encoder
    }

    /// The buffer, with what was written (a complete snapshot only after a
    /// successful `finish`).
    pub fn into_inner(self) -> B {
        self.out
    }

    /// The bytes written since `new` (a complete snapshot once finished).
    pub fn as_bytes(&self) -> &[u8] {
        &self.out.borrow()[self.start..]
    }

    /// `finish` unless that happened already; returns the snapshot's length.
    pub fn ensure_finished(&mut self) -> Result<usize, EncodeError> {
        if self.open.is_empty() {
            return Ok(self.len());
        }
        self.finish()
    }

    /// Bytes written since `new`.
    pub fn len(&self) -> usize {
        self.out.borrow().len() - self.start
    }

    /// Never true: the header is written by `new`.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn buf(&mut self) -> &mut Vec<u8> {
        self.out.borrow_mut()
    }

    fn open_level(&mut self) {
        let metrics_count_at = self.buf().len();
        self.buf().extend_from_slice(&0u32.to_le_bytes());
        self.open.push(OpenLevel {
            metrics_count_at,
            metrics: 0,
            children_count_at: None,
            children: 0,
        });
    }

    fn patch_u32(&mut self, at: usize, value: u32) {
        self.buf()[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn current(&mut self) -> Result<&mut OpenLevel, EncodeError> {
        self.open.last_mut().ok_or(EncodeError::Finished)
    }

    /// Adds a metric to the current level. `values` are narrowed to float32
    /// in one bulk pass.
    pub fn metric<V: SnapshotValue>(
        &mut self,
        name: &[u8],
        frequency: i64,
        start: i64,
        values: &[V],
    ) -> Result<(), EncodeError> {
        check_name(NameField::Metric, name)?;
        let count = u32::try_from(values.len())
            .map_err(|_| EncodeError::TooManyValues { len: values.len() })?;
        let level = self.current()?;
        if level.children_count_at.is_some() {
            return Err(EncodeError::MetricAfterChild);
        }
        level.metrics = level
            .metrics
            .checked_add(1)
            .ok_or(EncodeError::TooManyEntries { what: "metrics" })?;
        let out = self.buf();
        out.reserve(MIN_METRIC_LEN + name.len() + values.len() * 4);
        put_name(out, name);
        out.extend_from_slice(&frequency.to_le_bytes());
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        put_values(out, values);
        Ok(())
    }

    /// Opens a child level of the current level; closes the current level's
    /// metrics.
    pub fn begin_child(&mut self, name: &[u8]) -> Result<(), EncodeError> {
        check_name(NameField::Child, name)?;
        // `open` holds the host level too: the new child is at depth `open.len()`.
        if self.open.len() > MAX_DEPTH {
            return Err(EncodeError::TooDeep);
        }
        let level = self.current()?;
        let children = level
            .children
            .checked_add(1)
            .ok_or(EncodeError::TooManyEntries { what: "children" })?;
        self.close_metrics();
        self.open.last_mut().expect("checked above").children = children;
        put_name(self.buf(), name);
        self.open_level();
        Ok(())
    }

    /// Closes the child level opened by the matching `begin_child`.
    pub fn end_child(&mut self) -> Result<(), EncodeError> {
        self.current()?;
        if self.open.len() < 2 {
            return Err(EncodeError::Unbalanced { open_children: 0 });
        }
        self.close_level();
        Ok(())
    }

    /// Closes the host level; returns the bytes written since `new`.
    /// Afterwards every call fails with `Finished`.
    pub fn finish(&mut self) -> Result<usize, EncodeError> {
        match self.open.len() {
            0 => return Err(EncodeError::Finished),
            1 => {}
            open => {
                return Err(EncodeError::Unbalanced {
                    open_children: open - 1,
                });
            }
        }
        self.close_level();
        Ok(self.len())
    }

    fn close_metrics(&mut self) {
        let level = self.open.last_mut().expect("callers check a level is open");
        if level.children_count_at.is_some() {
            return;
        }
        let (at, count) = (level.metrics_count_at, level.metrics);
        let children_at = self.buf().len();
        self.open.last_mut().expect("still open").children_count_at = Some(children_at);
        self.patch_u32(at, count);
        self.buf().extend_from_slice(&0u32.to_le_bytes());
    }

    fn close_level(&mut self) {
        self.close_metrics();
        let level = self.open.pop().expect("checked by callers");
        let at = level.children_count_at.expect("set by close_metrics");
        self.patch_u32(at, level.children);
    }
}

fn check_name(field: NameField, name: &[u8]) -> Result<(), EncodeError> {
    if name.len() > MAX_METRIC_NAME_LEN {
        return Err(EncodeError::NameTooLong {
            field,
            len: name.len(),
        });
    }
    Ok(())
}

fn put_name(out: &mut Vec<u8>, name: &[u8]) {
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(name);
}

fn put_values<V: SnapshotValue>(out: &mut Vec<u8>, values: &[V]) {
    let start = out.len();
    out.resize(start + values.len() * 4, 0);
    for (dst, v) in out[start..].chunks_exact_mut(4).zip(values) {
        dst.copy_from_slice(&v.to_f32().to_le_bytes());
    }
}

/// Encodes a whole tree; returns the bytes appended to `out`. On error `out`
/// is left as it was.
pub fn encode_snapshot<V: SnapshotValue>(
    snapshot: &Snapshot<V>,
    out: &mut Vec<u8>,
) -> Result<usize, EncodeError> {
    let before = out.len();
    let mut encoder = SnapshotEncoder::new(&mut *out, snapshot.from, snapshot.to);
    let result = encode_level(&mut encoder, &snapshot.root).and_then(|()| encoder.finish());
    if result.is_err() {
        out.truncate(before);
    }
    result
}

fn encode_level<V: SnapshotValue>(
    encoder: &mut SnapshotEncoder<&mut Vec<u8>>,
    level: &Level<V>,
) -> Result<(), EncodeError> {
    for m in &level.metrics {
        encoder.metric(&m.name, m.frequency, m.start, &m.values)?;
    }
    for child in &level.children {
        encoder.begin_child(&child.name)?;
        encode_level(encoder, &child.level)?;
        encoder.end_child()?;
    }
    Ok(())
}

/// What part of a snapshot a decode error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The file magic and window.
    Header,
    /// A level's metric count.
    MetricCount,
    /// A metric's name.
    MetricName,
    /// A metric's frequency and start.
    MetricHeader,
    /// A metric's value count.
    ValueCount,
    /// A metric's values.
    Values,
    /// A level's child count.
    ChildCount,
    /// A child's name.
    ChildName,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Header => "header",
            Field::MetricCount => "metric count",
            Field::MetricName => "metric name",
            Field::MetricHeader => "metric frequency/start",
            Field::ValueCount => "value count",
            Field::Values => "values",
            Field::ChildCount => "child count",
            Field::ChildName => "child name",
        })
    }
}

/// Why a snapshot could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The first four bytes are not the snapshot magic.
    BadMagic {
        /// The value found there.
        found: u32,
    },
    /// The input ends inside `Field`.
    Truncated(Field),
    /// A count that cannot fit the bytes that remain.
    CountTooLarge {
        /// Which count.
        field: Field,
        /// The count read.
        count: u32,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// Levels nested deeper than the decoder accepts.
    TooDeep,
}

/// A decode error and the offset at which it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset in the file where decoding failed.
    pub offset: usize,
    /// What went wrong there.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    /// A short, stable, machine-friendly name of the error kind.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            DecodeErrorKind::BadMagic { .. } => "bad_magic",
            DecodeErrorKind::Truncated(_) => "truncated",
            DecodeErrorKind::CountTooLarge { .. } => "count_too_large",
            DecodeErrorKind::TooDeep => "too_deep",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DecodeErrorKind::BadMagic { found } => write!(
                f,
                "bad snapshot magic 0x{found:08X} (expected 0x{SNAPSHOT_MAGIC:08X})"
            )?,
            DecodeErrorKind::Truncated(field) => write!(f, "snapshot truncated in {field}")?,
            DecodeErrorKind::CountTooLarge {
                field,
                count,
                remaining,
            } => write!(
                f,
                "{field} {count} cannot fit the {remaining} bytes that remain"
            )?,
            DecodeErrorKind::TooDeep => write!(f, "levels nest deeper than {MAX_DEPTH}")?,
        }
        write!(f, " at offset {}", self.offset)
    }
}

impl std::error::Error for DecodeError {}

/// A metric's stored values: little-endian float32 bits, borrowed from the
/// input and already length-checked.
#[derive(Debug, Clone, Copy)]
pub struct ValuesRef<'a> {
    raw: &'a [u8],
}

impl<'a> ValuesRef<'a> {
    /// The number of values.
    pub fn len(&self) -> usize {
        self.raw.len() / 4
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The stored bits of each value.
    pub fn bits(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        self.raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
    }

    /// The values as float32.
    pub fn to_f32_vec(&self) -> Vec<f32> {
        self.bits().map(f32::from_bits).collect()
    }

    /// Appends the values widened to f64 (one bulk pass).
    pub fn extend_f64(&self, out: &mut Vec<f64>) {
        out.extend(self.bits().map(|b| f32::from_bits(b) as f64));
    }
}

/// Receives a snapshot's contents in file order; names and values borrow
/// from the input (`'a`), so a visitor may keep them instead of copying.
pub trait SnapshotVisitor<'a> {
    /// A metric of the current level.
    fn metric(&mut self, name: &'a [u8], frequency: i64, start: i64, values: ValuesRef<'a>);
    /// A child level begins; its contents follow.
    fn enter_child(&mut self, name: &'a [u8]);
    /// The child level begun last ends.
    fn leave_child(&mut self);
}

struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn take(&mut self, n: usize, field: Field) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError {
                offset: self.pos,
                kind: DecodeErrorKind::Truncated(field),
            });
        }
        let bytes = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn u16(&mut self, field: Field) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(
            self.take(2, field)?.try_into().expect("2 bytes"),
        ))
    }

    fn u32(&mut self, field: Field) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(
            self.take(4, field)?.try_into().expect("4 bytes"),
        ))
    }

    fn i64(&mut self, field: Field) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(
            self.take(8, field)?.try_into().expect("8 bytes"),
        ))
    }

    fn name(&mut self, field: Field) -> Result<&'a [u8], DecodeError> {
        let len = self.u16(field)? as usize;
        self.take(len, field)
    }

    /// Reads a count and checks that `count × min_size` bytes remain.
    fn count(&mut self, field: Field, min_size: usize) -> Result<u32, DecodeError> {
        let offset = self.pos;
        let count = self.u32(field)?;
        let remaining = self.remaining();
        if (count as usize).saturating_mul(min_size) > remaining {
            return Err(DecodeError {
                offset,
                kind: DecodeErrorKind::CountTooLarge {
                    field,
                    count,
                    remaining,
                },
            });
        }
        Ok(count)
    }
}

/// Reads the header: returns (from, to).
pub fn decode_header(input: &[u8]) -> Result<(i64, i64), DecodeError> {
    let mut cursor = Cursor { input, pos: 0 };
    read_header(&mut cursor)
}

fn read_header(cursor: &mut Cursor<'_>) -> Result<(i64, i64), DecodeError> {
    let magic = cursor.u32(Field::Header)?;
    if magic != SNAPSHOT_MAGIC {
        return Err(DecodeError {
            offset: 0,
            kind: DecodeErrorKind::BadMagic { found: magic },
        });
    }
    Ok((cursor.i64(Field::Header)?, cursor.i64(Field::Header)?))
}

fn walk_level<'a, V: SnapshotVisitor<'a>>(
    cursor: &mut Cursor<'a>,
    visitor: &mut V,
    depth: usize,
) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError {
            offset: cursor.pos,
            kind: DecodeErrorKind::TooDeep,
        });
    }
    let metrics = cursor.count(Field::MetricCount, MIN_METRIC_LEN)?;
    for _ in 0..metrics {
        let name = cursor.name(Field::MetricName)?;
        let frequency = cursor.i64(Field::MetricHeader)?;
        let start = cursor.i64(Field::MetricHeader)?;
        let count = cursor.count(Field::ValueCount, 4)?;
        let raw = cursor.take(count as usize * 4, Field::Values)?;
        visitor.metric(name, frequency, start, ValuesRef { raw });
    }
    let children = cursor.count(Field::ChildCount, MIN_CHILD_LEN)?;
    for _ in 0..children {
        let name = cursor.name(Field::ChildName)?;
        visitor.enter_child(name);
        walk_level(cursor, visitor, depth + 1)?;
        visitor.leave_child();
    }
    Ok(())
}

struct Validator;

impl SnapshotVisitor<'_> for Validator {
    fn metric(&mut self, _: &[u8], _: i64, _: i64, _: ValuesRef<'_>) {}
    fn enter_child(&mut self, _: &[u8]) {}
    fn leave_child(&mut self) {}
}

/// Streams a snapshot to `visitor` and returns (from, to, bytes used).
///
/// The whole structure is validated first, so the visitor only ever sees a
/// snapshot that decodes completely: a corrupt file contributes nothing, as
/// with the Go reader. Bytes after the tree are not read (Go ignores them
/// too); compare the returned length with the input to detect them.
pub fn walk_snapshot<'a, V: SnapshotVisitor<'a>>(
    input: &'a [u8],
    visitor: &mut V,
) -> Result<(i64, i64, usize), DecodeError> {
    let mut cursor = Cursor { input, pos: 0 };
    let (from, to) = read_header(&mut cursor)?;
    let tree_start = cursor.pos;
    walk_level(&mut cursor, &mut Validator, 0)?;
    let len = cursor.pos;
    cursor.pos = tree_start;
    walk_level(&mut cursor, visitor, 0).expect("validated above");
    Ok((from, to, len))
}

struct TreeBuilder {
    stack: Vec<(Vec<u8>, Level<f32>)>,
    root: Level<f32>,
}

impl TreeBuilder {
    fn current(&mut self) -> &mut Level<f32> {
        match self.stack.last_mut() {
            Some((_, level)) => level,
            None => &mut self.root,
        }
    }
}

impl SnapshotVisitor<'_> for TreeBuilder {
    fn metric(&mut self, name: &[u8], frequency: i64, start: i64, values: ValuesRef<'_>) {
        let metric = Metric {
            name: name.to_vec(),
            frequency,
            start,
            values: values.to_f32_vec(),
        };
        self.current().metrics.push(metric);
    }

    fn enter_child(&mut self, name: &[u8]) {
        self.stack.push((name.to_vec(), Level::default()));
    }

    fn leave_child(&mut self) {
        let (name, level) = self.stack.pop().expect("balanced by the walker");
        self.current().children.push(Child { name, level });
    }
}

/// Decodes a whole snapshot into a tree; returns it and the bytes used.
pub fn decode_snapshot(input: &[u8]) -> Result<(Snapshot<f32>, usize), DecodeError> {
    let mut builder = TreeBuilder {
        stack: Vec::new(),
        root: Level::default(),
    };
    let (from, to, len) = walk_snapshot(input, &mut builder)?;
    Ok((
        Snapshot {
            from,
            to,
            root: builder.root,
        },
        len,
    ))
}
