//! `ccwal`: inspect, verify and dump the files of a metricstore checkpoint
//! directory. Exit codes: 0 ok, 1 damage found, 2 usage or I/O error.

mod dump;
mod inspect;
mod output;
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
        file: PathBuf,
    },
    /// Check files or whole checkpoint roots and list every damaged range.
    Verify {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Summarise a checkpoint root per cluster: hosts, files, bytes,
    /// records, time covered.
    Stat {
        root: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Dump { strict, file } => dump::run(&file, strict),
        Command::Verify { paths } => verify::run(&paths),
        Command::Stat { root, json } => stat::run(&root, json),
    };
    std::process::exit(code);
}
