//! The Parquet file of one cluster's archive, written host by host: one row
//! group per host, column after column, so memory holds one host's
//! snapshots and one page of each column, never the rows of a cluster.
//!
//! The schema is v1.5.4's `ParquetMetricRow`, field for field (name,
//! physical and logical type, all required), under the same message name;
//! pages are Zstd-compressed as v1.5.4's are.

use std::io::{self, Write};
use std::sync::Arc;

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, FloatType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::parser::parse_message_type;

use super::rows::{ArchiveLevel, Run, count_rows, for_each_host_run};
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

/// Values handed to a column writer at once.
const BATCH: usize = 8192;

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

/// A cluster's archive being written to `W`.
pub struct ParquetArchive<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    rows: u64,
    row_groups: usize,
}

impl<W: Write + Send> ParquetArchive<W> {
    /// Starts an archive written to `sink` (the schema of v1.5.4's `ParquetMetricRow`, Zstd).
    pub fn new(sink: W) -> Result<Self, Error> {
        let schema = parse_message_type(SCHEMA).expect("a valid schema");
        let level = ZstdLevel::try_new(ZSTD_LEVEL).expect("a valid level");
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_created_by(format!("ccwal version {}", env!("CARGO_PKG_VERSION")))
            // Statistics per column chunk (a row group is a host), not per
            // page, and no page index: the footer, which a Parquet writer
            // keeps in memory until the end, stays small per host.
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_offset_index_disabled(true);
        // Min/max of the string columns cost a comparison per row (a fifth
        // of the time); the numbers keep theirs.
        let properties = ["cluster", "hostname", "metric", "scope", "scope_id"]
            .into_iter()
            .fold(properties, |p, column| {
                p.set_column_statistics_enabled(column.into(), EnabledStatistics::None)
            })
            .build();
        let writer = SerializedFileWriter::new(sink, Arc::new(schema), Arc::new(properties))
            .map_err(|e| parquet_error("start the archive", e))?;
        Ok(ParquetArchive {
            writer,
            rows: 0,
            row_groups: 0,
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Row groups written so far (one per host with rows).
    pub fn row_groups(&self) -> usize {
        self.row_groups
    }

    /// Writes the rows of one host's snapshots (in the order given) as one
    /// row group; a host without rows adds none. Returns its rows.
    pub fn write_host(
        &mut self,
        cluster: &[u8],
        host: &[u8],
        snapshots: &[ArchiveLevel],
    ) -> Result<u64, Error> {
        let rows = count_rows(snapshots);
        if rows == 0 {
            return Ok(0);
        }
        let context = format!("write the rows of {}", String::from_utf8_lossy(host));
        let fail = |e| parquet_error(&context, e);
        let mut group = self.writer.next_row_group().map_err(fail)?;
        let cluster = ByteArray::from(cluster.to_vec());
        let host = ByteArray::from(host.to_vec());
        write_bytes(&mut group, snapshots, |_| cluster.clone()).map_err(fail)?;
        write_bytes(&mut group, snapshots, |_| host.clone()).map_err(fail)?;
        write_bytes(&mut group, snapshots, |run| run.metric.to_vec().into()).map_err(fail)?;
        write_bytes(&mut group, snapshots, |run| run.scope.to_vec().into()).map_err(fail)?;
        write_bytes(&mut group, snapshots, |run| run.scope_id.to_vec().into()).map_err(fail)?;
        write_points::<Int64Type>(&mut group, snapshots, |_, ts, _| ts).map_err(fail)?;
        write_points::<Int64Type>(&mut group, snapshots, |run, _, _| run.series.frequency)
            .map_err(fail)?;
        write_points::<FloatType>(&mut group, snapshots, |_, _, v| v).map_err(fail)?;
        group.close().map_err(fail)?;
        self.rows += rows;
        self.row_groups += 1;
        Ok(rows)
    }

    /// Writes the footer and hands back the sink.
    pub fn finish(self) -> Result<W, Error> {
        self.writer
            .into_inner()
            .map_err(|e| parquet_error("finish the archive", e))
    }
}

/// Writes the next column, `T`, with `value(run, timestamp, value)` for
/// each row.
fn write_points<T: DataType>(
    group: &mut SerializedRowGroupWriter<'_, impl Write + Send>,
    snapshots: &[ArchiveLevel],
    value: impl Fn(&Run<'_>, i64, f32) -> T::T,
) -> Result<(), ParquetError> {
    let mut column = group
        .next_column()?
        .ok_or_else(|| ParquetError::General("too few columns".into()))?;
    let writer = column.typed::<T>();
    let mut batch = Vec::with_capacity(BATCH);
    let mut result = Ok(());
    for_each_host_run(snapshots, &mut |run| {
        for (ts, v) in run.points() {
            if result.is_err() {
                return;
            }
            batch.push(value(&run, ts, v));
            if batch.len() == BATCH {
                result = writer.write_batch(&batch, None, None).map(drop);
                batch.clear();
            }
        }
    });
    result?;
    if !batch.is_empty() {
        writer.write_batch(&batch, None, None)?;
    }
    column.close()
}

/// Writes the next column, a string, with one value per run repeated for
/// each of its rows.
fn write_bytes(
    group: &mut SerializedRowGroupWriter<'_, impl Write + Send>,
    snapshots: &[ArchiveLevel],
    value: impl Fn(&Run<'_>) -> ByteArray,
) -> Result<(), ParquetError> {
    let mut column = group
        .next_column()?
        .ok_or_else(|| ParquetError::General("too few columns".into()))?;
    let writer = column.typed::<ByteArrayType>();
    let mut batch: Vec<ByteArray> = Vec::with_capacity(BATCH);
    let mut result = Ok(());
    for_each_host_run(snapshots, &mut |run| {
        let mut rows = run.rows();
        if rows == 0 || result.is_err() {
            return;
        }
        let bytes = value(&run);
        while rows > 0 {
            let n = rows.min(BATCH - batch.len());
            batch.extend(std::iter::repeat_n(bytes.clone(), n));
            rows -= n;
            if batch.len() == BATCH {
                result = writer.write_batch(&batch, None, None).map(drop);
                batch.clear();
                if result.is_err() {
                    return;
                }
            }
        }
    });
    result?;
    if !batch.is_empty() {
        writer.write_batch(&batch, None, None)?;
    }
    column.close()
}
