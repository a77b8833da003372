//! `ccwal`: inspect, verify, dump, restore and compact the files of a
//! metricstore checkpoint directory. Exit codes: 0 ok, 1 damage found, 2
//! usage or I/O error.

mod archive;
mod compact;
mod dump;
mod ingest;
mod inspect;
mod output;
mod progress;
mod restore;
mod stat;
mod verify;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ccwal", version, about, long_about = None)]
#[command(after_help = "Exit codes: 0 ok, 1 damage found, 2 usage or I/O error.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a WAL (one JSON object per record) or a snapshot (one JSON
    /// object); the kind is detected from the content.
    Dump {
        /// Stop at the first damaged record, as the Go replay does, instead
        /// of resynchronising at the next valid one.
        #[arg(long)]
        strict: bool,
        /// The file: a WAL (current.wal, a sealed segment) or a snapshot
        /// (<from>.bin, <from>.json).
        file: PathBuf,
    },
    /// Check files or whole checkpoint roots (snapshots, current.wal and
    /// sealed WAL segments, each decoded as its name says) and list every
    /// damaged range, then a closing total. A progress bar goes to stderr
    /// when it is a terminal.
    Verify {
        /// Print one JSON object per damaged range or unreadable file
        /// ({"file","offset","len","reason"} or {"file","error"}) and a
        /// closing {"verified":{...}} with the totals.
        #[arg(long)]
        json: bool,
        /// Files to check, or directories (checkpoint roots, clusters,
        /// hosts) to walk for every file restore would read.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Append InfluxDB line protocol from stdin to ROOT's WALs through the
    /// engine; the engine's stats go to stderr as JSON at the end. Exit 1
    /// if lines were skipped.
    Ingest {
        /// The checkpoint root: WALs go to ROOT/CLUSTER/HOST/current.wal.
        root: PathBuf,
        /// Cluster for lines without a `cluster` tag.
        #[arg(long)]
        cluster: Option<String>,
        /// none, interval (fdatasync every second) or always.
        #[arg(long, default_value = "none", value_parser = ingest::parse_durability)]
        durability: ccwal::engine::Durability,
    },
    /// Restore ROOT as the Go metricstore would and print the state as one
    /// JSON object, written host by host (only a few hosts are held in
    /// memory at a time); the per-host report and a closing total go to
    /// stderr. Exit 1 if a host failed or damage was found.
    Restore {
        /// The checkpoint root (ROOT/CLUSTER/HOST/...).
        root: PathBuf,
        /// Retention horizon (unix seconds): older data is not restored.
        #[arg(long)]
        from: i64,
        /// JSON object {"metric": frequency_seconds, ...}.
        #[arg(long)]
        metrics: PathBuf,
        /// Stop at damage as Go does, instead of skipping it.
        #[arg(long)]
        strict: bool,
        /// Go's snapshot selection, including its flaw at the last window.
        #[arg(long)]
        go_exact: bool,
        /// Restore only CLUSTER/HOST.
        #[arg(long)]
        host: Option<String>,
        /// Print each chunk's values as numbers ("values", null for NaN
        /// and ±Inf) next to their float32 bits.
        #[arg(long)]
        values: bool,
    },
    /// Make ROOT complete for the stock Go metricstore (cc-backend v1.5.4),
    /// offline (no server may be running on ROOT): fold each host's WAL
    /// (sealed segments, current.wal) and any snapshots Go would refuse to
    /// load in order into one snapshot in place of the ones it replaces,
    /// move damaged snapshots aside, and rename each host's newest snapshot
    /// to the end of its data so that Go's selection takes it. Safe to run
    /// again; a crash in between loses nothing. One line per host, then a
    /// closing total; exit 1 if a host failed (its files stay).
    Compact {
        /// The checkpoint root (ROOT/CLUSTER/HOST/...).
        root: PathBuf,
        /// JSON object {"metric": frequency_seconds, ...}.
        #[arg(long)]
        metrics: PathBuf,
    },
    /// Archive every snapshot numbered <= UNIX (and not 0) to
    /// DIR/<cluster>/<UNIX>.parquet as cc-backend v1.5.4's archive cleanup
    /// does (same rows and schema), durably, then delete those snapshots.
    /// A host with a damaged snapshot keeps its files. Exit 1 if a host or
    /// a cluster's archive failed.
    Archive {
        root: PathBuf,
        /// Where the archives go (cc-backend's cleanup root).
        #[arg(long)]
        to: PathBuf,
        /// Horizon (unix seconds): snapshots numbered up to it are archived.
        #[arg(long)]
        before: i64,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Summarise a checkpoint root per cluster: hosts, files, bytes,
    /// records (current.wal and sealed WAL segments apart), time covered.
    Stat {
        /// The checkpoint root (ROOT/CLUSTER/HOST/...).
        root: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long, conflicts_with = "human")]
        json: bool,
        /// Print sizes with units (KiB, MiB, ...) and times as UTC dates,
        /// each next to its exact number.
        #[arg(long)]
        human: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Dump { strict, file } => dump::run(&file, strict),
        Command::Verify { json, paths } => verify::run(&paths, json),
        Command::Stat { root, json, human } => stat::run(
            &root,
            if json {
                stat::Format::Json
            } else if human {
                stat::Format::Human
            } else {
                stat::Format::Table
            },
        ),
        Command::Restore {
            root,
            from,
            metrics,
            strict,
            go_exact,
            host,
            values,
        } => restore::run(restore::Args {
            root: &root,
            from,
            metrics: &metrics,
            strict,
            go_exact,
            host: host.as_deref(),
            values,
        }),
        Command::Compact { root, metrics } => compact::run(&root, &metrics),
        Command::Archive {
            root,
            to,
            before,
            json,
        } => archive::run(&root, &to, before, json),
        Command::Ingest {
            root,
            cluster,
            durability,
        } => ingest::run(&root, cluster.as_deref(), durability),
    };
    std::process::exit(code);
}
