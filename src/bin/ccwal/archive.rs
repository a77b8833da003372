//! `ccwal archive ROOT --to DIR --before UNIX [--json]`: old snapshots to
//! Parquet (`DIR/<cluster>/<UNIX>.parquet`), as cc-backend v1.5.4's archive
//! cleanup, durably; then the archived snapshots are deleted.

use std::io::{self, Write};
use std::path::Path;

use ccwal::archive::{self, ArchiveReport, HostOutcome};
use serde_json::json;

use crate::output::{EXIT_DAMAGED, EXIT_ERROR, EXIT_OK, Name, finish_output, json_line};
use crate::progress;

pub fn run(root: &Path, to: &Path, before: i64, as_json: bool) -> i32 {
    let spinner = progress::spinner(&format!("archiving {}", root.display()));
    let report = archive::archive(root, to, before);
    spinner.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            eprintln!("ccwal: {e}");
            return EXIT_ERROR;
        }
    };
    let code = if report.has_errors() {
        EXIT_DAMAGED
    } else {
        EXIT_OK
    };
    let mut out = io::stdout().lock();
    let written = if as_json {
        json_line(&mut out, &to_json(&report))
    } else {
        print_table(&mut out, &report)
    };
    finish_output(written.map(|()| code))
}

fn to_json(report: &ArchiveReport) -> serde_json::Value {
    let clusters: Vec<_> = report
        .clusters
        .iter()
        .map(|c| {
            json!({
                "cluster": Name(&c.cluster),
                "archive": c.archive.as_ref().map(|p| p.display().to_string()),
                "rows": c.rows,
                "row_groups": c.row_groups,
                "bytes": c.bytes,
                "error": c.error.as_ref().map(|e| e.to_string()),
            })
        })
        .collect();
    let hosts: Vec<_> = report
        .hosts
        .iter()
        .map(|h| {
            let error = match &h.outcome {
                HostOutcome::Archived => None,
                HostOutcome::Failed(e) => Some(e.to_string()),
            };
            json!({
                "cluster": Name(&h.cluster),
                "host": Name(&h.host),
                "archived": error.is_none(),
                "rows": h.rows,
                "files": h.files.len(),
                "deleted": h.deleted.len(),
                "delete_errors": h.delete_errors.iter()
                    .map(|(p, e)| format!("{}: {e}", p.display())).collect::<Vec<_>>(),
                "error": error,
            })
        })
        .collect();
    json!({
        "clusters": clusters,
        "hosts": hosts,
        "rows": report.rows(),
        "files_archived": report.files_archived(),
        "hosts_failed": report.hosts_failed(),
        "duration_ms": report.duration.as_millis() as u64,
    })
}

fn print_table(out: &mut impl Write, report: &ArchiveReport) -> io::Result<()> {
    writeln!(
        out,
        "{:<20} {:>12} {:>10} {:>12}  archive",
        "cluster", "rows", "hosts", "bytes"
    )?;
    for c in &report.clusters {
        let target = match (&c.archive, &c.error) {
            (Some(path), _) => path.display().to_string(),
            (None, Some(e)) => format!("FAILED: {e}"),
            (None, None) => "(no values: none written)".to_string(),
        };
        writeln!(
            out,
            "{:<20} {:>12} {:>10} {:>12}  {target}",
            String::from_utf8_lossy(&c.cluster),
            c.rows,
            c.row_groups,
            c.bytes
        )?;
    }
    for h in &report.hosts {
        let name = format!(
            "{}/{}",
            String::from_utf8_lossy(&h.cluster),
            String::from_utf8_lossy(&h.host)
        );
        if let HostOutcome::Failed(e) = &h.outcome {
            eprintln!("ccwal: {name}: kept {} files: {e}", h.files.len());
        }
        for (path, e) in &h.delete_errors {
            eprintln!(
                "ccwal: {name}: archived but not deleted: {}: {e}",
                path.display()
            );
        }
    }
    writeln!(
        out,
        "{} rows, {} snapshots archived, {} hosts kept their files, {} ms",
        report.rows(),
        report.files_archived(),
        report.hosts_failed(),
        report.duration.as_millis()
    )
}
