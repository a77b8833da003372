//! `ccwal compact ROOT --metrics FILE`: fold each host's WAL into a new
//! snapshot, offline; one line per host, then a closing total.

use std::path::Path;

use ccwal::checkpoint;
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
    let hosts = checkpoint::compact(root, &config);
    spinner.finish_and_clear();
    let hosts = match hosts {
        Ok(hosts) => hosts,
        Err(e) => {
            eprintln!("ccwal: {e}");
            return EXIT_ERROR;
        }
    };
    let (mut failed, mut written, mut removed, mut empty) = (0, 0, 0, 0);
    for host in &hosts {
        let name = format!(
            "{}/{}",
            String::from_utf8_lossy(&host.cluster),
            String::from_utf8_lossy(&host.host)
        );
        match (&host.error, &host.snapshot) {
            (Some(error), _) => {
                failed += 1;
                eprintln!("ccwal: {name}: {error}");
            }
            (None, Some(snapshot)) => {
                written += 1;
                removed += host.removed.len();
                println!(
                    "{name}: wrote {}, removed {} WAL files",
                    snapshot.display(),
                    host.removed.len()
                )
            }
            (None, None) => {
                empty += 1;
                println!("{name}: nothing to fold");
            }
        }
    }
    println!(
        "compacted {} hosts: {written} snapshots written, {removed} WAL files removed, {empty} with nothing to fold, {failed} failed",
        hosts.len()
    );
    if failed > 0 { EXIT_DAMAGED } else { EXIT_OK }
}
