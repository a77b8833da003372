//! The Parquet file of one cluster's archive, one row group per host.
//! A host's row group is encoded in memory by a [`HostEncoder`] (on any
//! thread, so several hosts are encoded at once) and appended to the file
//! by [`ParquetArchive::append`]: memory holds the snapshots and the
//! encoded columns of the hosts in flight, never the rows of a cluster,
//! and of each host written only its part of the footer, serialized.
//!
//! The schema is v1.5.4's `ParquetMetricRow`, field for field (name,
//! physical and logical type, all required), under the same message name;
//! pages are Zstd-compressed as v1.5.4's are.

use std::collections::HashMap;
use std::hash::Hash;
use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{Compression, Encoding, EncodingMask, ZstdLevel};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::{ColumnCloseResult, get_column_writer, get_typed_column_writer};
use parquet::data_type::{DataType, FloatType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesPtr};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::{ColumnDescPtr, SchemaDescPtr, SchemaDescriptor};

use super::footer::{Thrift, uleb128};

use super::rows::{ArchiveLevel, for_each_host_run};
use crate::error::{Error, ErrorKind};

/// v1.5.4's schema (`ParquetMetricRow` in pkg/metricstore/parquetArchive.go).
pub const SCHEMA: &str = "message ParquetMetricRow {
    required binary cluster (STRING);
    required binary hostname (STRING);
    required binary metric (STRING);
    required binary scope (STRING);
    required binary scope_id (STRING);
    required int64 timestamp (INTEGER(64,true));
    required int64 frequency (INTEGER(64,true));
    required float value;
}";

/// Zstd level 3, the default of the Go writer's codec.
const ZSTD_LEVEL: i32 = 3;

/// A Parquet error as a ccwal error; an I/O error underneath keeps its OS
/// code.
pub(crate) fn parquet_error(context: &str, e: ParquetError) -> Error {
    if let ParquetError::External(inner) = &e {
        if let Some(io) = inner.downcast_ref::<io::Error>() {
            return Error::io(context, io);
        }
    }
    Error::new(ErrorKind::Io, format!("{context}: {e}"))
}

/// Parquet's magic, at the start and the end of the file.
const MAGIC: &[u8; 4] = b"PAR1";

/// A cluster's archive being written to `W`: the column chunks as the
/// hosts are appended, then the footer.
pub struct ParquetArchive<W: Write> {
    sink: W,
    /// Bytes written to `sink`.
    position: u64,
    schema: SchemaDescPtr,
    properties: WriterPropertiesPtr,
    rows: u64,
    row_groups: usize,
    /// The footer's row groups so far, serialized: what a Parquet file
    /// keeps per row group until its end (see the `footer` module).
    footer: Thrift,
}

impl<W: Write> ParquetArchive<W> {
    /// Starts an archive written to `sink` (the schema of v1.5.4's `ParquetMetricRow`, Zstd).
    pub fn new(mut sink: W) -> Result<Self, Error> {
        let schema = parse_message_type(SCHEMA).expect("a valid schema");
        let level = ZstdLevel::try_new(ZSTD_LEVEL).expect("a valid level");
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_created_by(format!("ccwal version {}", env!("CARGO_PKG_VERSION")))
            // Statistics per column chunk (a row group is a host), not per
            // page, and no page index.
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_offset_index_disabled(true)
            .build();
        sink.write_all(MAGIC)
            .map_err(|e| Error::io("start the archive", &e))?;
        Ok(ParquetArchive {
            sink,
            position: MAGIC.len() as u64,
            schema: Arc::new(SchemaDescriptor::new(Arc::new(schema))),
            properties: Arc::new(properties),
            rows: 0,
            row_groups: 0,
            footer: Thrift::default(),
        })
    }

    /// An encoder of row groups for this archive.
    pub fn encoder(&self) -> HostEncoder {
        HostEncoder {
            columns: self.schema.columns().to_vec(),
            properties: self.properties.clone(),
            compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL).expect("a valid level"),
        }
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Row groups written so far (one per host with rows).
    pub fn row_groups(&self) -> usize {
        self.row_groups
    }

    /// Writes one host's encoded rows as one row group; a host without
    /// rows adds none. Returns its rows.
    pub fn append(&mut self, host: EncodedHost) -> Result<u64, Error> {
        if host.rows == 0 {
            return Ok(0);
        }
        let context = format!("write the rows of {}", String::from_utf8_lossy(&host.host));
        // The row group's ordinal is an i16 in the footer.
        let ordinal = i16::try_from(self.row_groups).map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{context}: Parquet has at most {} row groups per file",
                    i16::MAX
                ),
            )
        })?;
        let mut offsets = Vec::with_capacity(host.columns.len());
        let mut columns = Vec::with_capacity(host.columns.len());
        for (bytes, close) in host.columns {
            offsets.push(self.position);
            self.sink
                .write_all(&bytes)
                .map_err(|e| Error::io(&context, &e))?;
            self.position += bytes.len() as u64;
            columns.push(close.metadata);
        }
        self.footer
            .row_group(&columns, &offsets, host.rows, ordinal);
        self.rows += host.rows;
        self.row_groups += 1;
        Ok(host.rows)
    }

    /// Writes the footer and hands back the sink.
    pub fn finish(mut self) -> Result<W, Error> {
        let row_groups = self.footer.take();
        let mut footer = Thrift::default();
        footer.file_metadata_start(&self.schema, self.rows, self.row_groups);
        let start = footer.take();
        footer.file_metadata_end(&self.schema, self.properties.created_by());
        let end = footer.take();
        let len = start.len() + row_groups.len() + end.len();
        let len = u32::try_from(len).map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                "the archive's footer exceeds 4 GiB",
            )
        })?;
        let context = "finish the archive";
        for part in [&start[..], &row_groups, &end, &len.to_le_bytes(), MAGIC] {
            self.sink
                .write_all(part)
                .map_err(|e| Error::io(context, &e))?;
        }
        Ok(self.sink)
    }
}

/// One host's row group, encoded: each column chunk's bytes and metadata.
pub struct EncodedHost {
    host: Vec<u8>,
    rows: u64,
    columns: Vec<(Bytes, ColumnCloseResult)>,
}

/// Encodes the row groups of one archive ([`ParquetArchive::encoder`]);
/// one per thread.
pub struct HostEncoder {
    columns: Vec<ColumnDescPtr>,
    properties: WriterPropertiesPtr,
    compressor: zstd::bulk::Compressor<'static>,
}

impl HostEncoder {
    /// Encodes the rows of one host's snapshots (in the order given).
    pub fn encode(
        &mut self,
        cluster: &[u8],
        host: &[u8],
        snapshots: &[ArchiveLevel],
    ) -> Result<EncodedHost, Error> {
        let context = format!("encode the rows of {}", String::from_utf8_lossy(host));
        self.encode_columns(cluster, host, snapshots)
            .map_err(|e| parquet_error(&context, e))
    }

    fn encode_columns(
        &mut self,
        cluster: &[u8],
        host: &[u8],
        snapshots: &[ArchiveLevel],
    ) -> Result<EncodedHost, ParquetError> {
        // The rows, as runs (a metric of a level: the strings and the
        // frequency are the same for each of its rows) and the columns
        // that change with each row.
        let mut runs = Vec::new();
        let (mut timestamps, mut values) = (Vec::new(), Vec::new());
        for_each_host_run(snapshots, &mut |run| {
            let before = values.len();
            for (ts, v) in run.points() {
                timestamps.push(ts);
                values.push(v);
            }
            if values.len() > before {
                runs.push((run, values.len() - before));
            }
        });
        let rows = values.len();
        let mut encoded = EncodedHost {
            host: host.to_vec(),
            rows: rows as u64,
            columns: Vec::with_capacity(self.columns.len()),
        };
        if rows == 0 {
            return Ok(encoded);
        }
        // The columns in SCHEMA's order.
        for column in 0..5 {
            let strings = runs.iter().map(|&(run, n)| {
                let string = match column {
                    0 => cluster,
                    1 => host,
                    2 => run.metric,
                    3 => run.scope,
                    _ => run.scope_id,
                };
                (string, n)
            });
            let plain = |s: &[u8], out: &mut Vec<u8>| {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s);
            };
            encoded
                .columns
                .push(self.encode_runs(column, strings, plain, None)?);
        }
        encoded
            .columns
            .push(self.encode_values::<Int64Type>(5, &timestamps)?);
        let frequencies = runs.iter().map(|(run, n)| (run.series.frequency, *n));
        // The statistics parquet's column writer gives an int64 column.
        let (min, max) = (
            frequencies.clone().map(|f| f.0).min(),
            frequencies.clone().map(|f| f.0).max(),
        );
        let statistics = ValueStatistics::new(min, max, None, Some(0), false)
            .with_backwards_compatible_min_max(true);
        let plain = |f: i64, out: &mut Vec<u8>| out.extend_from_slice(&f.to_le_bytes());
        encoded.columns.push(self.encode_runs(
            6,
            frequencies,
            plain,
            Some(Statistics::Int64(statistics)),
        )?);
        encoded
            .columns
            .push(self.encode_values::<FloatType>(7, &values)?);
        Ok(encoded)
    }

    /// A column with a value per row, through parquet's column writer.
    fn encode_values<T: DataType>(
        &self,
        column: usize,
        values: &[T::T],
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        let mut sink = TrackedWrite::new(Vec::new());
        let pages = Box::new(SerializedPageWriter::new(&mut sink));
        let writer =
            get_column_writer(self.columns[column].clone(), self.properties.clone(), pages);
        let mut writer = get_typed_column_writer::<T>(writer);
        writer.write_batch(values, None, None)?;
        let close = writer.close()?;
        Ok((Bytes::from(sink.into_inner()?), close))
    }

    /// A column whose rows come in runs of one value, with work per run,
    /// not per row: a dictionary page of its distinct values (`plain`
    /// encodes one) and one data page of the runs of their indices
    /// (RLE_DICTIONARY), as parquet's column writer lays out a dictionary
    /// column.
    fn encode_runs<K: Copy + Eq + Hash>(
        &mut self,
        column: usize,
        runs: impl Iterator<Item = (K, usize)>,
        plain: impl Fn(K, &mut Vec<u8>),
        statistics: Option<Statistics>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        let mut dictionary = Vec::new();
        let mut indices: HashMap<K, u32> = HashMap::new();
        let mut merged: Vec<(u32, usize)> = Vec::new();
        let mut rows = 0;
        for (key, n) in runs {
            let next = indices.len() as u32;
            let index = *indices.entry(key).or_insert_with(|| {
                plain(key, &mut dictionary);
                next
            });
            match merged.last_mut() {
                Some((last, len)) if *last == index => *len += n,
                _ => merged.push((index, n)),
            }
            rows += n;
        }
        // The RLE/bit-packing hybrid with RLE runs only: a bit width, then
        // per run its length (ULEB128, shifted by one) and its index in
        // the bytes the width needs.
        let width = u32::BITS - (indices.len() as u32 - 1).leading_zeros();
        let mut data = vec![width as u8];
        for (index, len) in merged {
            uleb128(&mut data, (len as u64) << 1);
            data.extend_from_slice(&index.to_le_bytes()[..width.div_ceil(8) as usize]);
        }
        let dictionary_page = self.compress(dictionary, |buf| Page::DictionaryPage {
            buf,
            num_values: indices.len() as u32,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        })?;
        let data_page = self.compress(data, |buf| Page::DataPage {
            buf,
            num_values: rows as u32,
            encoding: Encoding::RLE_DICTIONARY,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        })?;
        let mut sink = TrackedWrite::new(Vec::new());
        let mut pages = SerializedPageWriter::new(&mut sink);
        let dictionary_spec = pages.write_page(dictionary_page)?;
        let data_spec = pages.write_page(data_page)?;
        pages.close()?;
        let descr = self.columns[column].clone();
        // The encodings parquet's column writer lists for a dictionary
        // column.
        let encodings = [Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY];
        let mut metadata = ColumnChunkMetaData::builder(descr.clone())
            .set_compression(self.properties.compression(descr.path()))
            .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
            .set_total_compressed_size(
                (dictionary_spec.compressed_size + data_spec.compressed_size) as i64,
            )
            .set_total_uncompressed_size(
                (dictionary_spec.uncompressed_size + data_spec.uncompressed_size) as i64,
            )
            .set_num_values(rows as i64)
            .set_dictionary_page_offset(Some(dictionary_spec.offset as i64))
            .set_data_page_offset(data_spec.offset as i64);
        if let Some(statistics) = statistics {
            metadata = metadata.set_statistics(statistics);
        }
        let close = ColumnCloseResult {
            bytes_written: sink.bytes_written() as u64,
            rows_written: rows as u64,
            metadata: metadata.build()?,
            bloom_filter: None,
            column_index: None,
            offset_index: None,
        };
        Ok((Bytes::from(sink.into_inner()?), close))
    }

    /// A page of `raw` bytes, Zstd-compressed as the column writer's are.
    fn compress(
        &mut self,
        raw: Vec<u8>,
        page: impl FnOnce(Bytes) -> Page,
    ) -> Result<CompressedPage, ParquetError> {
        let compressed = self
            .compressor
            .compress(&raw)
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(CompressedPage::new(page(compressed.into()), raw.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::rows::load_binary;
    use crate::codec::snapshot::{Child, Level, Metric, Snapshot, encode_snapshot};
    use parquet::file::writer::SerializedFileWriter;

    fn host(seed: usize) -> Vec<ArchiveLevel> {
        let metric = |name: &str, frequency, n: usize| Metric {
            name: name.into(),
            frequency,
            start: 1_700_000_000 + seed as i64,
            values: (0..n)
                .map(|i| {
                    if (i + seed) % 4 == 1 {
                        f32::NAN
                    } else {
                        (i * seed) as f32 - 3.5
                    }
                })
                .collect(),
        };
        let snapshot = Snapshot {
            from: 0,
            to: 100,
            root: Level {
                metrics: vec![metric("load", 60, 30 + seed), metric("mem", 10, 7)],
                children: vec![
                    Child {
                        name: b"socket0".to_vec(),
                        level: Level {
                            metrics: vec![metric("power", 60 + seed as i64, 9)],
                            children: vec![],
                        },
                    },
                    Child {
                        name: format!("cpu{seed}").into_bytes(),
                        level: Level {
                            metrics: vec![metric("flops", 60, 20)],
                            children: vec![],
                        },
                    },
                ],
            },
        };
        let mut bytes = Vec::new();
        encode_snapshot(&snapshot, &mut bytes).unwrap();
        vec![load_binary(&bytes).unwrap()]
    }

    /// The file is byte for byte what parquet's own writer makes of the
    /// same column chunks: its footer too.
    #[test]
    fn the_file_is_parquets_own() {
        let hosts: Vec<_> = (0..20).map(host).collect();
        let mut ours = ParquetArchive::new(Vec::new()).unwrap();
        let mut encoder = ours.encoder();
        let mut theirs = SerializedFileWriter::new(
            Vec::new(),
            ours.schema.root_schema_ptr(),
            ours.properties.clone(),
        )
        .unwrap();
        for (i, snapshots) in hosts.iter().enumerate() {
            let name = format!("n{i}");
            let encoded = encoder.encode(b"alex", name.as_bytes(), snapshots).unwrap();
            ours.append(encoded).unwrap();
            let encoded = encoder.encode(b"alex", name.as_bytes(), snapshots).unwrap();
            let mut group = theirs.next_row_group().unwrap();
            for (bytes, close) in encoded.columns {
                group.append_column(&bytes, close).unwrap();
            }
            group.close().unwrap();
        }
        assert_eq!(ours.row_groups(), 20);
        assert_eq!(ours.finish().unwrap(), theirs.into_inner().unwrap());
    }
}
