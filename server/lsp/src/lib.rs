//! heapsight's language server: leak findings from heap snapshots shown where the code is.
//!
//! Speaks LSP over stdio through tower-lsp-server. Loads the newest analysis of the
//! snapshot folder in the background (cache first) with work-done progress and
//! cancellation, watches the folder for new captures, publishes diagnostics for every file
//! with findings, and answers hover, code lens, code action and commands from the last
//! completed analysis. Placing findings in a document's text runs on worker threads
//! (`placing`); requests answer from its newest finished placement. All protocol conversion is in `to_proto` and `from_proto`; every
//! answer comes from the `heapsight-ide` crate, which knows no LSP.

mod capture;
mod commands;
mod documents;
mod edit_log;
mod folder;
mod framing;
mod from_proto;
mod handlers;
mod loader;
mod placing;
mod publish;
mod server;
mod state;
mod status;
mod to_proto;
mod watcher;

pub use commands::{ALL as COMMANDS, ANALYZE, CAPTURE, CLEAR, SHOW_REPORT};
pub use server::Backend;
pub use status::{FolderStatus, Status, StatusNotification};

use tower_lsp_server::{LspService, Server};

/// Serves LSP on `input` / `output` until the client says `exit` or closes the stream.
pub async fn serve<I, O>(input: I, output: O)
where
    I: tokio::io::AsyncRead + Unpin,
    O: tokio::io::AsyncWrite,
{
    let (service, socket) = LspService::build(Backend::new)
        .custom_method("window/workDoneProgress/cancel", Backend::progress_cancel)
        .custom_method(framing::INVALID_MESSAGE, Backend::invalid_message)
        .finish();
    // tower-lsp-server stops reading at the first message it cannot decode: `framing`
    // answers those with an error instead and passes the rest on through a bounded pipe.
    let (to_server, from_filter) = tokio::io::duplex(framing::PIPE);
    let filter = async move {
        let _ = framing::filter(input, to_server).await;
        // The pipe is closed now: the server sees the end of its input and finishes.
        std::future::pending::<()>().await
    };
    tokio::select! {
        () = Server::new(from_filter, output, socket).serve(service) => {}
        () = filter => {}
    }
}

/// Serves LSP on stdin/stdout (what `heapsight lsp` runs).
pub fn run_stdio() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(serve(tokio::io::stdin(), tokio::io::stdout()));
    // A load still reading snapshots on a blocking thread was cancelled at shutdown; do not
    // wait for it to notice.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    Ok(())
}
