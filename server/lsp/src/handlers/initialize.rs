//! `initialize` and `initialized`: the workspace root, settings from
//! `initializationOptions`, the position encoding, capabilities; then settings from
//! `workspace/configuration`, the folder watch and the first load, in the background.

use std::path::PathBuf;
use std::sync::Arc;

use tower_lsp_server::ls_types::{
    CodeActionKind, CodeActionOptions, CodeActionProviderCapability, CodeLensOptions,
    ExecuteCommandOptions, HoverProviderCapability, InitializeParams, InitializeResult,
    PositionEncodingKind, ServerCapabilities, ServerInfo, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextDocumentSyncOptions, TextDocumentSyncSaveOptions,
};

use crate::commands;
use crate::from_proto;
use crate::handlers::configuration;
use crate::loader::{self, Reason, What};
use crate::state::{ClientSupport, Encoding, State};
use crate::watcher;

/// Answers `initialize`.
pub fn initialize(state: &State, params: InitializeParams) -> InitializeResult {
    let root = workspace_root(&params);
    if let Ok(mut slot) = state.root.write() {
        *slot = std::fs::canonicalize(&root).unwrap_or(root);
    }
    if let Some(options) = &params.initialization_options {
        if let Ok(Some(config)) = from_proto::config(options) {
            if let Ok(mut slot) = state.config.write() {
                *slot = config;
            }
        }
    }
    let caps = &params.capabilities;
    let offers_utf8 = caps
        .general
        .as_ref()
        .and_then(|g| g.position_encodings.as_ref())
        .is_some_and(|encodings| encodings.contains(&PositionEncodingKind::UTF8));
    let encoding = if offers_utf8 {
        Encoding::Utf8
    } else {
        Encoding::Utf16
    };
    if let Ok(mut slot) = state.encoding.write() {
        *slot = encoding;
    }
    let window = caps.window.as_ref();
    let workspace = caps.workspace.as_ref();
    let support = ClientSupport {
        work_done_progress: window.and_then(|w| w.work_done_progress).unwrap_or(false),
        show_document: window
            .and_then(|w| w.show_document.as_ref())
            .is_some_and(|s| s.support),
        watched_files: workspace
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|w| w.dynamic_registration)
            .unwrap_or(false),
        configuration: workspace.and_then(|w| w.configuration).unwrap_or(false),
        code_lens_refresh: workspace
            .and_then(|w| w.code_lens.as_ref())
            .and_then(|c| c.refresh_support)
            .unwrap_or(false),
    };
    if let Ok(mut slot) = state.support.write() {
        *slot = support;
    }
    InitializeResult {
        capabilities: ServerCapabilities {
            position_encoding: Some(match encoding {
                Encoding::Utf8 => PositionEncodingKind::UTF8,
                Encoding::Utf16 => PositionEncodingKind::UTF16,
            }),
            text_document_sync: Some(TextDocumentSyncCapability::Options(
                TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::INCREMENTAL),
                    save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                    ..TextDocumentSyncOptions::default()
                },
            )),
            hover_provider: Some(HoverProviderCapability::Simple(true)),
            code_lens_provider: Some(CodeLensOptions {
                resolve_provider: Some(false),
            }),
            code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
                code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                ..CodeActionOptions::default()
            })),
            execute_command_provider: Some(ExecuteCommandOptions {
                commands: commands::ALL.iter().map(|c| c.to_string()).collect(),
                ..ExecuteCommandOptions::default()
            }),
            ..ServerCapabilities::default()
        },
        server_info: Some(ServerInfo {
            name: "heapsight".to_string(),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
        }),
        offset_encoding: None,
    }
}

/// Handles `initialized`: settings, the watch, the first load.
pub async fn initialized(state: Arc<State>) {
    configuration::fetch(&state).await;
    watcher::start(&state).await;
    tokio::spawn(async move {
        let _ = loader::load(state, What::Newest, Reason::Requested).await;
    });
}

fn workspace_root(params: &InitializeParams) -> PathBuf {
    let from_folders = params
        .workspace_folders
        .as_ref()
        .and_then(|f| f.first())
        .and_then(|f| from_proto::path(&f.uri));
    #[allow(deprecated)]
    let from_root_uri = params.root_uri.as_ref().and_then(from_proto::path);
    from_folders
        .or(from_root_uri)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default()
}
