//! `ccwal ingest ROOT`: InfluxDB line protocol on stdin, appended through
//! the WAL engine; the engine's stats as JSON on stderr at the end.

use std::io::{self, BufRead};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccwal::codec::lineproto::parse_line;
use ccwal::engine::{Batch, Durability, Store, StoreOptions};

use crate::output::{EXIT_DAMAGED, EXIT_ERROR, EXIT_OK};

/// Samples per append: large enough that one call carries many.
const BATCH_SAMPLES: usize = 4096;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn run(root: &Path, default_cluster: Option<&str>, durability: Durability) -> i32 {
    let mut options = StoreOptions::new(root);
    options.durability = durability;
    options.event_hook = Some(std::sync::Arc::new(|event: &ccwal::engine::Event| {
        eprintln!(
            "ccwal: {:?}: {}/{}: {}",
            event.level,
            String::from_utf8_lossy(&event.cluster),
            String::from_utf8_lossy(&event.host),
            event.message
        )
    }));
    let store = match Store::open(options) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("ccwal: {}: {e}", root.display());
            return EXIT_ERROR;
        }
    };
    let mut batch = Batch::new();
    let mut skipped = 0u64;
    let mut failure = None;
    for (number, line) in io::stdin().lock().split(b'\n').enumerate() {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                failure = Some(format!("reading stdin: {e}"));
                break;
            }
        };
        let sample = match parse_line(&line) {
            Ok(Some(sample)) => sample,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("ccwal: line {}: {e}", number + 1);
                skipped += 1;
                continue;
            }
        };
        let cluster = sample
            .cluster
            .as_deref()
            .or(default_cluster.map(str::as_bytes))
            .unwrap_or_default();
        let ts = sample.ts.unwrap_or_else(now);
        if let Err(e) = batch.push(
            cluster,
            &sample.host,
            &sample.metric,
            &sample.selector,
            sample.value,
            ts,
        ) {
            eprintln!("ccwal: line {}: {e}", number + 1);
            skipped += 1;
            continue;
        }
        if batch.len() == BATCH_SAMPLES {
            if let Err(e) = store.append_batch(&batch) {
                failure = Some(e.to_string());
                break;
            }
            batch.clear();
        }
    }
    if failure.is_none() {
        if let Err(e) = store.append_batch(&batch) {
            failure = Some(e.to_string());
        }
    }
    // The final write and sync can fail (a full disk): records are lost
    // then, and the exit code must say so.
    if let Err(e) = store.close() {
        failure.get_or_insert(format!("closing the store: {e}"));
    }
    let stats = serde_json::to_string(&store.stats()).expect("stats serialise");
    eprintln!("{stats}");
    if let Some(failure) = failure {
        eprintln!("ccwal: {failure}");
        return EXIT_ERROR;
    }
    if skipped > 0 {
        eprintln!("ccwal: {skipped} lines skipped");
        return EXIT_DAMAGED;
    }
    EXIT_OK
}

/// `none`, `interval` (every second) or `always`.
pub fn parse_durability(text: &str) -> Result<Durability, String> {
    match text {
        "none" => Ok(Durability::None),
        "interval" => Ok(Durability::Interval(Duration::from_secs(1))),
        "always" => Ok(Durability::Always),
        other => Err(format!(
            "unknown durability {other:?}: none, interval or always"
        )),
    }
}
