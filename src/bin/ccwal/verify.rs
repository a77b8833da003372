//! `ccwal verify PATH...`: checks files or whole checkpoint roots and lists
//! every damaged range.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ccwal::layout::{self, HostFileName};

use crate::inspect::{Kind, format_by_name, inspect};
use crate::output::{EXIT_DAMAGED, EXIT_ERROR, EXIT_OK, finish_output};

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

pub fn run(paths: &[PathBuf]) -> i32 {
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
            eprintln!("ccwal: {}: {e}", path.display());
            io_errors += 1;
        }
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = verify_files(&mut out, &files, io_errors);
    finish_output(result)
}

fn verify_files<W: Write>(out: &mut W, files: &[PathBuf], mut io_errors: usize) -> io::Result<i32> {
    let (mut wals, mut sealed, mut snapshots, mut damaged, mut records) = (0, 0, 0, 0, 0u64);
    for path in files {
        let content = match fs::read(path) {
            Ok(content) => content,
            Err(e) => {
                eprintln!("ccwal: {}: {e}", path.display());
                io_errors += 1;
                continue;
            }
        };
        let Some(report) = inspect(path, &content) else {
            writeln!(
                out,
                "{}: offset 0 len {}: not a WAL or snapshot",
                path.display(),
                content.len()
            )?;
            damaged += 1;
            continue;
        };
        match report.kind {
            Kind::Wal if is_sealed(path) => sealed += 1,
            Kind::Wal => wals += 1,
            Kind::Snapshot => snapshots += 1,
        }
        records += report.records;
        for d in &report.damage {
            writeln!(
                out,
                "{}: offset {} len {}: {}",
                path.display(),
                d.offset,
                d.len,
                d.reason
            )?;
        }
        if !report.damage.is_empty() {
            damaged += 1;
        }
    }
    writeln!(
        out,
        "verified {} files ({wals} WAL, {sealed} sealed, {snapshots} snapshots), {damaged} damaged, {records} records",
        files.len()
    )?;
    Ok(if io_errors > 0 {
        EXIT_ERROR
    } else if damaged > 0 {
        EXIT_DAMAGED
    } else {
        EXIT_OK
    })
}
