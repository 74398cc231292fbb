//! The `heapsight` binary: command-line glue over the library crates.
//!
//! Each subcommand lives in its own module under `cmd/`; this file only parses arguments
//! and maps errors to exit codes (0 ok, 1 a finding above `--fail-above`, 2 an error).

mod cmd;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "heapsight",
    version,
    about = "Memory-leak diagnostics for Node.js from V8 heap snapshots"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print counts, total size and the top constructors of one .heapsnapshot file.
    Stats(cmd::stats::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Stats(args) => cmd::stats::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("heapsight: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
