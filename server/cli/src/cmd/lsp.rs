//! `heapsight lsp`: the language server on stdin/stdout.

use std::process::ExitCode;

/// Arguments of `heapsight lsp` (editors may pass `--stdio`; stdio is the only transport).
#[derive(clap::Args)]
pub struct Args {
    /// Accepted for editors that pass it; the server always speaks on stdin/stdout.
    #[arg(long)]
    stdio: bool,
}

/// Runs the server until the client exits.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    heapsight_lsp::run_stdio()?;
    Ok(ExitCode::SUCCESS)
}
