//! The `LanguageServer` implementation: each method guards its handler (a panic becomes an
//! error reply or a log line, never a dead server) and delegates to `handlers/`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use serde_json::Value;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::{
    CodeActionParams, CodeActionResponse, CodeLens, CodeLensParams, DidChangeConfigurationParams,
    DidChangeTextDocumentParams, DidChangeWatchedFilesParams, DidChangeWorkspaceFoldersParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DidSaveTextDocumentParams,
    ExecuteCommandParams, Hover, HoverParams, InitializeParams, InitializeResult,
    InitializedParams, MessageType,
};
use tower_lsp_server::{Client, LanguageServer};

use crate::framing;
use crate::handlers::{
    code_action, code_lens, configuration, execute_command, hover, initialize, progress_cancel,
    text_sync, watched_files, workspace_folders,
};
use crate::state::State;
use crate::{capture, loader};

/// The server.
pub struct Backend {
    state: Arc<State>,
}

impl Backend {
    /// A server talking to `client`.
    pub fn new(client: Client) -> Backend {
        Backend {
            state: Arc::new(State::new(client)),
        }
    }

    /// Answers a message the transport could not decode (see `framing`) with its error.
    pub async fn invalid_message(&self, params: framing::Invalid) -> Result<()> {
        Err(params.into_error())
    }

    /// Handles `window/workDoneProgress/cancel`.
    pub async fn progress_cancel(&self, params: progress_cancel::Params) {
        let state = self.state.clone();
        notification("window/workDoneProgress/cancel", &state, async {
            progress_cancel::cancel(&state, params)
        })
        .await;
    }
}

/// Runs a request handler; a panic becomes an internal-error reply.
async fn request<T>(method: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => Err(Error {
            code: ErrorCode::InternalError,
            message: format!("heapsight: {method} failed: {}", panic_message(&panic)).into(),
            data: None,
        }),
    }
}

/// Runs a notification handler; a panic is logged to the client.
async fn notification(method: &str, state: &State, fut: impl Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(fut).catch_unwind().await {
        state
            .client
            .log_message(
                MessageType::ERROR,
                format!("heapsight: {method} failed: {}", panic_message(&panic)),
            )
            .await;
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "internal error".to_string())
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        request("initialize", async {
            Ok(initialize::initialize(&self.state, params))
        })
        .await
    }

    async fn initialized(&self, _: InitializedParams) {
        let state = self.state.clone();
        notification("initialized", &self.state, initialize::initialized(state)).await;
    }

    async fn shutdown(&self) -> Result<()> {
        loader::cancel(&self.state, None);
        for folder in self.state.folders() {
            if let Ok(mut watcher) = folder.watcher.lock() {
                *watcher = None;
            }
        }
        // A capture we started does not outlive us, nor does the app it started.
        capture::stop_all(&self.state).await;
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        notification(
            "didOpen",
            &self.state,
            text_sync::did_open(&self.state, params),
        )
        .await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        notification(
            "didChange",
            &self.state,
            text_sync::did_change(&self.state, params),
        )
        .await;
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        notification(
            "didClose",
            &self.state,
            text_sync::did_close(&self.state, params),
        )
        .await;
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        notification(
            "didSave",
            &self.state,
            text_sync::did_save(&self.state, params),
        )
        .await;
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let state = self.state.clone();
        notification(
            "didChangeConfiguration",
            &self.state,
            configuration::did_change(state, params),
        )
        .await;
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        let state = self.state.clone();
        notification(
            "didChangeWorkspaceFolders",
            &self.state,
            workspace_folders::did_change(state, params),
        )
        .await;
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        notification("didChangeWatchedFiles", &self.state, async {
            watched_files::did_change(&self.state, params)
        })
        .await;
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        request("hover", async { Ok(hover::hover(&self.state, params)) }).await
    }

    async fn code_lens(&self, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
        request("codeLens", async {
            Ok(code_lens::code_lens(&self.state, params))
        })
        .await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        request("codeAction", async {
            Ok(code_action::code_action(&self.state, params))
        })
        .await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        let state = self.state.clone();
        request("executeCommand", execute_command::execute(state, params)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_becomes_an_error_reply() {
        let panicked: Result<()> = request("hover", async { panic!("boom") }).await;
        let fine = request("hover", async { Ok(7) }).await;
        assert_eq!(
            format!("{panicked:?} {fine:?}"),
            r#"Err(Error { code: InternalError, message: "heapsight: hover failed: boom", data: None }) Ok(7)"#
        );
    }
}
