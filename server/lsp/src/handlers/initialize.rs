//! `initialize` and `initialized`: the workspace folders (all of them), settings from
//! `initializationOptions`, the position encoding, capabilities; then each folder's
//! settings from `workspace/configuration`, its watch and its first load, in the background.

use std::sync::Arc;

use tower_lsp_server::ls_types::{
    CodeActionKind, CodeActionOptions, CodeActionProviderCapability, CodeLensOptions,
    ExecuteCommandOptions, HoverProviderCapability, InitializeParams, InitializeResult, OneOf,
    PositionEncodingKind, ServerCapabilities, ServerInfo, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextDocumentSyncOptions, TextDocumentSyncSaveOptions, Uri,
    WorkspaceFoldersServerCapabilities, WorkspaceServerCapabilities,
};

use crate::commands;
use crate::folder::Folder;
use crate::from_proto;
use crate::handlers::configuration;
use crate::loader::{self, Reason, What};
use crate::state::{ClientSupport, Encoding, State};
use crate::watcher;

/// Answers `initialize`.
pub fn initialize(state: &State, params: InitializeParams) -> InitializeResult {
    let mut config = heapsight_ide::Config::default();
    if let Some(options) = &params.initialization_options {
        match configuration::parse(options) {
            Ok(Some(c)) => config = c,
            Ok(None) => {}
            // Shown once the client is initialized (it may not take messages before).
            Err(message) => {
                if let Ok(mut slot) = state.initial_config_error.lock() {
                    *slot = Some(message);
                }
            }
        }
    }
    let mut folders: Vec<Arc<Folder>> = Vec::new();
    for (root, uri) in workspace_folders(&params) {
        let folder = Folder::new(&root, uri, config.clone());
        // The same folder named twice is one folder.
        if folders.iter().all(|f| f.root != folder.root) {
            folders.push(Arc::new(folder));
        }
    }
    if let Ok(mut slot) = state.initial_config.write() {
        *slot = config;
    }
    if let Ok(mut slot) = state.folders.write() {
        *slot = folders;
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
            workspace: Some(WorkspaceServerCapabilities {
                workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                    supported: Some(true),
                    change_notifications: Some(OneOf::Left(true)),
                }),
                file_operations: None,
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

/// Handles `initialized`: settings, then each folder's watch and first load.
pub async fn initialized(state: Arc<State>) {
    let folders = state.folders();
    let answered = configuration::fetch(&state, &folders).await;
    let bad_options = state
        .initial_config_error
        .lock()
        .ok()
        .and_then(|mut e| e.take());
    if let Some(message) = bad_options.filter(|_| !answered) {
        configuration::report_bad(&state, &message).await;
    }
    for folder in folders {
        watcher::start(&state, &folder).await;
        loader::spawn_load(&state, &folder, What::Newest, Reason::Requested);
    }
}

/// Every workspace folder (root and URI); else the root URI; else the current directory.
fn workspace_folders(params: &InitializeParams) -> Vec<(std::path::PathBuf, Option<Uri>)> {
    let folders: Vec<_> = params
        .workspace_folders
        .iter()
        .flatten()
        .filter_map(|f| from_proto::path(&f.uri).map(|p| (p, Some(f.uri.clone()))))
        .collect();
    if !folders.is_empty() {
        return folders;
    }
    #[allow(deprecated)]
    let from_root_uri = params
        .root_uri
        .as_ref()
        .and_then(|uri| from_proto::path(uri).map(|p| (p, Some(uri.clone()))));
    from_root_uri
        .or_else(|| std::env::current_dir().ok().map(|p| (p, None)))
        .into_iter()
        .collect()
}
