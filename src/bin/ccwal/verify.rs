//! `ccwal verify [--json] PATH...`: checks files or whole checkpoint roots
//! and lists every damaged range, then a closing total.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ccwal::layout::{self, HostFileName};

use crate::inspect::{Kind, format_by_name, inspect};
use serde::Serialize;

use crate::output::{EXIT_DAMAGED, EXIT_ERROR, EXIT_OK, Name, finish_output, json_line};
use crate::progress;

/// Whether a file found while walking a directory is one to check: every
/// file restore reads (`current.wal`, sealed segments, `*.bin`, `*.json`)
/// and other `*.wal`; not `*.bin.tmp`, which restore never reads.
fn is_metricstore_file(path: &Path) -> bool {
    !is_temporary(path) && format_by_name(path).is_some()
}

fn is_temporary(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| matches!(layout::classify(name), HostFileName::Temporary { .. }))
}

/// Whether a file is a WAL segment sealed by a checkpoint session.
fn is_sealed(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| matches!(layout::classify(name), HostFileName::Sealed { .. }))
}

/// Every file to check below `dir`, in name order.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, files)?;
        } else if is_metricstore_file(&path) {
            files.push(path);
        }
    }
    Ok(())
}

/// Whether a file could not be read: printed as a line of its own with
/// `--json`, on stderr otherwise.
fn io_error<W: Write>(out: &mut W, json: bool, path: &Path, e: &io::Error) -> io::Result<()> {
    if json {
        json_line(
            out,
            &serde_json::json!({"file": path_json(path), "error": e.to_string()}),
        )
    } else {
        eprintln!("ccwal: {}: {e}", path.display());
        Ok(())
    }
}

/// A path as JSON: the string when it is UTF-8, else `{"hex":"..."}`.
fn path_json(path: &Path) -> serde_json::Value {
    use std::os::unix::ffi::OsStrExt;
    serde_json::to_value(Name(path.as_os_str().as_bytes())).expect("a name is JSON")
}

pub fn run(paths: &[PathBuf], json: bool) -> i32 {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut files = Vec::new();
    let mut io_errors = 0;
    for path in paths {
        let found = match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut files),
            Ok(_) => {
                files.push(path.clone());
                Ok(())
            }
            Err(e) => Err(e),
        };
        if let Err(e) = found {
            if let Err(e) = io_error(&mut out, json, path, &e) {
                return finish_output(Err(e));
            }
            io_errors += 1;
        }
    }
    let result = verify_files(&mut out, &files, io_errors, json);
    finish_output(result)
}

/// What `verify` found, printed as its closing line.
#[derive(Default, Serialize)]
struct Totals {
    files: usize,
    wal: usize,
    sealed: usize,
    snapshots: usize,
    damaged: usize,
    records: u64,
    io_errors: usize,
}

fn damage_line<W: Write>(
    out: &mut W,
    json: bool,
    path: &Path,
    offset: usize,
    len: usize,
    reason: &str,
) -> io::Result<()> {
    if json {
        json_line(
            out,
            &serde_json::json!({
                "file": path_json(path), "offset": offset, "len": len, "reason": reason
            }),
        )
    } else {
        writeln!(
            out,
            "{}: offset {offset} len {len}: {reason}",
            path.display()
        )
    }
}

fn verify_files<W: Write>(
    out: &mut W,
    files: &[PathBuf],
    io_errors: usize,
    json: bool,
) -> io::Result<i32> {
    let mut totals = Totals {
        files: files.len(),
        io_errors,
        ..Totals::default()
    };
    let bar = progress::bar(files.len() as u64, "verify");
    for path in files {
        bar.inc(1);
        let content = match fs::read(path) {
            Ok(content) => content,
            Err(e) => {
                bar.suspend(|| io_error(out, json, path, &e))?;
                totals.io_errors += 1;
                continue;
            }
        };
        let Some(report) = inspect(path, &content) else {
            bar.suspend(|| {
                damage_line(out, json, path, 0, content.len(), "not a WAL or snapshot")
            })?;
            totals.damaged += 1;
            continue;
        };
        match report.kind {
            Kind::Wal if is_sealed(path) => totals.sealed += 1,
            Kind::Wal => totals.wal += 1,
            Kind::Snapshot => totals.snapshots += 1,
        }
        totals.records += report.records;
        bar.suspend(|| {
            report
                .damage
                .iter()
                .try_for_each(|d| damage_line(out, json, path, d.offset, d.len, &d.reason))
        })?;
        if !report.damage.is_empty() {
            totals.damaged += 1;
        }
    }
    bar.finish_and_clear();
    if json {
        json_line(out, &serde_json::json!({ "verified": totals }))?;
    } else {
        writeln!(
            out,
            "verified {} files ({} WAL, {} sealed, {} snapshots), {} damaged, {} records",
            totals.files,
            totals.wal,
            totals.sealed,
            totals.snapshots,
            totals.damaged,
            totals.records
        )?;
    }
    Ok(if totals.io_errors > 0 {
        EXIT_ERROR
    } else if totals.damaged > 0 {
        EXIT_DAMAGED
    } else {
        EXIT_OK
    })
}
