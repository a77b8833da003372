//! `ccwal compact ROOT --metrics FILE`: make a root complete for the stock
//! Go metricstore, offline; one line per host, then a closing total.

use std::path::Path;

use ccwal::checkpoint::{self, CompactScope, CompactedHost};
use ccwal::restore::parse_metric_config;

use crate::output::{EXIT_DAMAGED, EXIT_ERROR, EXIT_OK};
use crate::progress;

pub fn run(root: &Path, metrics: &Path) -> i32 {
    let config = match std::fs::read(metrics)
        .map_err(|e| e.to_string())
        .and_then(|json| parse_metric_config(&json).map_err(|e| e.to_string()))
    {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ccwal: {}: {e}", metrics.display());
            return EXIT_ERROR;
        }
    };
    let spinner = progress::spinner(&format!("compacting {}", root.display()));
    let hosts = checkpoint::compact(root, &config, CompactScope::Everything);
    spinner.finish_and_clear();
    let hosts = match hosts {
        Ok(hosts) => hosts,
        Err(e) => {
            eprintln!("ccwal: {e}");
            return EXIT_ERROR;
        }
    };
    let (mut failed, mut folded, mut removed, mut kept, mut published) = (0, 0, 0, 0, 0);
    for host in &hosts {
        let name = format!(
            "{}/{}",
            String::from_utf8_lossy(&host.cluster),
            String::from_utf8_lossy(&host.host)
        );
        removed += host.removed.len();
        kept += host.kept.len();
        published += usize::from(host.published.is_some());
        folded += usize::from(host.snapshot.is_some());
        if let Some(error) = &host.error {
            failed += 1;
            eprintln!("ccwal: {name}: {error} (its files stay as they are)");
        }
        println!("{name}: {}", describe(host));
    }
    println!(
        "compacted {} hosts: {folded} folded, {removed} WAL files removed, {kept} kept, {published} newest snapshots renamed, {failed} failed",
        hosts.len()
    );
    if failed > 0 { EXIT_DAMAGED } else { EXIT_OK }
}

/// What was done to one host, in one line.
fn describe(host: &CompactedHost) -> String {
    let mut done = Vec::new();
    if let Some(snapshot) = &host.snapshot {
        done.push(format!(
            "folded into {} (replacing {} snapshots, removing {} WAL files)",
            snapshot.display(),
            host.replaced.len(),
            host.removed.len()
        ));
    }
    if !host.kept.is_empty() {
        done.push(format!(
            "kept {} WAL files (records of metrics not configured, or damaged)",
            host.kept.len()
        ));
    }
    for aside in &host.moved_aside {
        done.push(format!("moved damaged {} aside", aside.display()));
    }
    if let Some((from, to)) = &host.published {
        done.push(format!("renamed {} to {}", from.display(), to.display()));
    }
    if done.is_empty() {
        done.push("nothing to do".to_string());
    }
    done.join("; ")
}
