//! The `heapsight` binary: command-line glue over the library crates.
//!
//! Each subcommand lives in its own module under `cmd/`; this file only parses arguments
//! and maps errors to exit codes (0 ok, 1 a finding above `--fail-above` or, with
//! `--baseline`, a new or grown one, 2 an error).

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
    /// Find leaks in three snapshots of one process: baseline, target, final.
    Analyze(cmd::analyze::Args),
    /// Take snapshots A, B and C of a live Node.js process, with a manifest of its scripts.
    Capture(Box<cmd::capture::Args>),
    /// Capture the bundled leaky example service and show what heapsight finds.
    Demo(cmd::demo::Args),
    /// Run the language server on stdin/stdout (leak diagnostics in the editor).
    Lsp(cmd::lsp::Args),
    /// Copy a snapshot or a capture folder with the text of every string replaced (names,
    /// sizes and structure kept: the analysis finds the same leaks).
    Redact(cmd::redact::Args),
}

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Stats(args) => cmd::stats::run(args),
        Command::Capture(args) => cmd::capture::run(*args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Analyze(args) => cmd::analyze::run(args),
        Command::Lsp(args) => cmd::lsp::run(args),
        Command::Redact(args) => cmd::redact::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("heapsight: error: {}", describe(&err));
            if let Some(hint) = cmd::memory::hint(&err) {
                eprintln!("heapsight: {hint}");
            }
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, `: `-joined as `{:#}` does, without a cause the text before
/// already ends with: an error that shows its source in its own message and also returns it
/// from `source()` (the leak finder's "file: reason") would print the reason twice.
fn describe(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !out.is_empty() && out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Rust ignores SIGPIPE, which turns `heapsight analyze | head` into a panic on the next
/// write; a command-line tool should end quietly instead, as `cat` does.
fn restore_sigpipe() {
    #[cfg(unix)]
    {
        use nix::sys::signal::{signal, SigHandler, Signal};
        // SAFETY: installing the default disposition runs no handler code and is done
        // before any other thread exists.
        let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    }
}
