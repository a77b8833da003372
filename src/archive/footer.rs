//! The footer of an archive (Parquet's `FileMetaData`, Thrift compact
//! protocol), built as the row groups are written: each row group's
//! metadata is serialized when its host is appended, a few hundred bytes,
//! instead of being kept as parquet's in-memory structures until the end
//! (about 6 KiB per row group of eight columns in parquet's writer).
//!
//! The bytes are those parquet's own writer gives the same file (a test
//! compares them), for the metadata the archive has: required flat
//! columns, no page index, no bloom filter, no encryption.

use parquet::basic::{Compression, ConvertedType, LogicalType};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::statistics::Statistics;
use parquet::schema::types::SchemaDescriptor;

// Thrift compact protocol types.
const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const STRUCT: u8 = 12;

/// A Thrift compact protocol writer, for what a Parquet footer uses.
#[derive(Default)]
pub(crate) struct Thrift {
    out: Vec<u8>,
    /// The last field id of each open struct.
    last: Vec<i16>,
    field: i16,
}

/// `v` as ULEB128, the variable-length integer of Thrift's compact
/// protocol and of Parquet's RLE run headers.
pub(crate) fn uleb128(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Thrift {
    fn varint(&mut self, v: u64) {
        uleb128(&mut self.out, v);
    }

    fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn field(&mut self, id: i16, kind: u8) {
        let delta = id - self.field;
        if (1..=15).contains(&delta) {
            self.out.push((delta as u8) << 4 | kind);
        } else {
            self.out.push(kind);
            self.zigzag(id.into());
        }
        self.field = id;
    }

    fn i64(&mut self, id: i16, v: i64) {
        self.field(id, I64);
        self.zigzag(v);
    }

    fn i32(&mut self, id: i16, v: i32) {
        self.field(id, I32);
        self.zigzag(v.into());
    }

    fn bool(&mut self, id: i16, v: bool) {
        self.field(id, if v { BOOL_TRUE } else { BOOL_FALSE });
    }

    fn binary(&mut self, id: i16, v: &[u8]) {
        self.field(id, BINARY);
        self.varint(v.len() as u64);
        self.out.extend_from_slice(v);
    }

    fn list(&mut self, id: i16, kind: u8, len: usize) {
        self.field(id, LIST);
        self.list_header(kind, len);
    }

    fn list_header(&mut self, kind: u8, len: usize) {
        if len < 15 {
            self.out.push((len as u8) << 4 | kind);
        } else {
            self.out.push(0xf0 | kind);
            self.varint(len as u64);
        }
    }

    /// Opens a struct that is a list element.
    fn begin(&mut self) {
        self.last.push(self.field);
        self.field = 0;
    }

    /// Opens a struct that is field `id`.
    fn begin_field(&mut self, id: i16) {
        self.field(id, STRUCT);
        self.begin();
    }

    fn end(&mut self) {
        self.out.push(0);
        self.field = self.last.pop().expect("an open struct");
    }

    /// A `RowGroup` (a list element): its column chunks, which start at
    /// `offsets` in the file.
    pub(crate) fn row_group(
        &mut self,
        columns: &[ColumnChunkMetaData],
        offsets: &[u64],
        rows: u64,
        ordinal: i16,
    ) {
        self.begin();
        self.list(1, STRUCT, columns.len());
        for (column, offset) in columns.iter().zip(offsets) {
            self.column_chunk(column, *offset as i64);
        }
        let uncompressed: i64 = columns.iter().map(|c| c.uncompressed_size()).sum();
        self.i64(2, uncompressed);
        self.i64(3, rows as i64);
        self.i64(5, offsets.first().map_or(0, |o| *o as i64));
        self.i64(6, columns.iter().map(|c| c.compressed_size()).sum());
        self.field(7, I16);
        self.zigzag(ordinal.into());
        self.end();
    }

    /// A `ColumnChunk` whose pages were encoded from offset 0 and are now
    /// at `offset`.
    fn column_chunk(&mut self, chunk: &ColumnChunkMetaData, offset: i64) {
        self.begin();
        self.i64(2, 0);
        self.begin_field(3);
        self.i32(1, chunk.column_type() as i32);
        let encodings: Vec<_> = chunk.encodings().collect();
        self.list(2, I32, encodings.len());
        for encoding in encodings {
            self.zigzag((encoding as i32).into());
        }
        let path = chunk.column_descr().path().parts();
        self.list(3, BINARY, path.len());
        for part in path {
            self.varint(part.len() as u64);
            self.out.extend_from_slice(part.as_bytes());
        }
        self.i32(4, codec(chunk.compression()));
        self.i64(5, chunk.num_values());
        self.i64(6, chunk.uncompressed_size());
        self.i64(7, chunk.compressed_size());
        self.i64(9, chunk.data_page_offset() + offset);
        if let Some(dictionary) = chunk.dictionary_page_offset() {
            self.i64(11, dictionary + offset);
        }
        if let Some(statistics) = chunk.statistics() {
            self.begin_field(12);
            self.statistics(statistics);
            self.end();
        }
        if let Some(stats) = chunk.page_encoding_stats() {
            self.list(13, STRUCT, stats.len());
            for s in stats {
                self.begin();
                self.i32(1, s.page_type as i32);
                self.i32(2, s.encoding as i32);
                self.i32(3, s.count);
                self.end();
            }
        }
        self.end();
        self.end();
    }

    fn statistics(&mut self, s: &Statistics) {
        let (min, max) = (s.min_bytes_opt(), s.max_bytes_opt());
        if s.is_min_max_backwards_compatible() {
            if let Some(max) = max {
                self.binary(1, max);
            }
            if let Some(min) = min {
                self.binary(2, min);
            }
        }
        if let Some(nulls) = s.null_count_opt() {
            self.i64(3, nulls as i64);
        }
        if let Some(distinct) = s.distinct_count_opt() {
            self.i64(4, distinct as i64);
        }
        if !s.is_min_max_deprecated() {
            if let Some(max) = max {
                self.binary(5, max);
            }
            if let Some(min) = min {
                self.binary(6, min);
            }
        }
        self.bool(7, s.max_is_exact());
        self.bool(8, s.min_is_exact());
    }

    /// The start of the `FileMetaData`, up to its list of `row_groups`
    /// row groups: write [`Thrift::take`], then the row groups serialized
    /// by [`Thrift::row_group`], then [`Thrift::file_metadata_end`].
    pub(crate) fn file_metadata_start(
        &mut self,
        schema: &SchemaDescriptor,
        rows: u64,
        row_groups: usize,
    ) {
        self.begin();
        // Version 1: parquet's writer version 1.0, the archive's.
        self.i32(1, 1);
        let columns = schema.columns();
        self.list(2, STRUCT, columns.len() + 1);
        self.begin();
        self.binary(4, schema.root_schema().name().as_bytes());
        self.i32(5, columns.len() as i32);
        self.end();
        for column in columns {
            self.begin();
            self.i32(1, column.physical_type() as i32);
            // REQUIRED: every column of the archive is.
            self.i32(3, 0);
            self.binary(4, column.name().as_bytes());
            if column.converted_type() != ConvertedType::NONE {
                self.i32(6, column.converted_type() as i32);
            }
            match column.logical_type_ref() {
                None => {}
                Some(LogicalType::String) => {
                    self.begin_field(10);
                    self.begin_field(1);
                    self.end();
                    self.end();
                }
                Some(LogicalType::Integer {
                    bit_width,
                    is_signed,
                }) => {
                    self.begin_field(10);
                    self.begin_field(10);
                    self.field(1, BYTE);
                    self.out.push(*bit_width as u8);
                    self.bool(2, *is_signed);
                    self.end();
                    self.end();
                }
                Some(other) => unreachable!("the archive's schema has no {other:?}"),
            }
            self.end();
        }
        self.i64(3, rows as i64);
        self.list(4, STRUCT, row_groups);
    }

    /// The rest of the `FileMetaData`, after its row groups.
    pub(crate) fn file_metadata_end(&mut self, schema: &SchemaDescriptor, created_by: &str) {
        self.binary(6, created_by.as_bytes());
        // Type-defined order for every column, as parquet's writer sets.
        let columns = schema.num_columns();
        self.list(7, STRUCT, columns);
        for _ in 0..columns {
            self.begin();
            self.begin_field(1);
            self.end();
            self.end();
        }
        self.end();
    }

    /// The bytes written since the last take.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

/// Thrift's `CompressionCodec` of the archive's codec.
fn codec(compression: Compression) -> i32 {
    match compression {
        Compression::ZSTD(_) => 6,
        other => unreachable!("the archive is Zstd-compressed, not {other:?}"),
    }
}
