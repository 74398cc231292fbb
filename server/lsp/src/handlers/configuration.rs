//! Settings: from `initializationOptions` (every folder starts with them) and from
//! `workspace/configuration` (section `heapsight`, one item per workspace folder with its
//! `scopeUri`), asked after `initialized`, for a new folder, and on
//! `workspace/didChangeConfiguration`. A change applies at once; the reload it needs runs in
//! the background. A bad setting is reported by [`report_bad`] wherever it came from.

use std::sync::Arc;

use heapsight_ide::Config;
use tower_lsp_server::ls_types::{ConfigurationItem, DidChangeConfigurationParams, MessageType};

use crate::folder::Folder;
use crate::from_proto;
use crate::loader::{self, Reason, What};
use crate::state::State;
use crate::watcher;

/// Settings from `value`; `Err` holds the sentence [`report_bad`] shows.
pub fn parse(value: &serde_json::Value) -> Result<Option<Config>, String> {
    from_proto::config(value)
}

/// Tells the user a setting is bad: the same message and type wherever it came from.
pub async fn report_bad(state: &State, message: &str) {
    state.client.show_message(MessageType::ERROR, message).await;
}

/// Asks the client for the `heapsight` section of each of `folders`, when it supports
/// that, and applies each answer to its folder (a folder answered nothing keeps its
/// settings). Returns whether the client answered.
pub async fn fetch(state: &State, folders: &[Arc<Folder>]) -> bool {
    if !state.support().configuration || folders.is_empty() {
        return false;
    }
    let items = folders
        .iter()
        .map(|f| ConfigurationItem {
            scope_uri: f.uri.clone(),
            section: Some("heapsight".to_string()),
        })
        .collect();
    let Ok(values) = state.client.configuration(items).await else {
        return false;
    };
    let mut reported = Vec::new();
    for (folder, value) in folders.iter().zip(&values) {
        match parse(value) {
            Ok(Some(config)) => folder.set_config(config),
            Ok(None) => {}
            // One message per distinct mistake, not one per folder.
            Err(message) if !reported.contains(&message) => {
                report_bad(state, &message).await;
                reported.push(message);
            }
            Err(_) => {}
        }
    }
    !values.is_empty()
}

/// Handles `workspace/didChangeConfiguration`: the new settings apply before it returns;
/// the watch moves and the reloads start in the background.
pub async fn did_change(state: Arc<State>, params: DidChangeConfigurationParams) {
    let folders = state.folders();
    let before: Vec<Config> = folders.iter().map(|f| f.config()).collect();
    if state.support().configuration {
        fetch(&state, &folders).await;
    } else {
        match parse(&params.settings) {
            Ok(Some(config)) => {
                for folder in &folders {
                    folder.set_config(config.clone());
                }
            }
            Ok(None) => {}
            Err(message) => report_bad(&state, &message).await,
        }
    }
    for (folder, before) in folders.iter().zip(before) {
        let after = folder.config();
        if after == before {
            continue;
        }
        let moved = after.snapshot_dir != before.snapshot_dir;
        let (state, folder) = (state.clone(), folder.clone());
        tokio::spawn(async move {
            if moved {
                watcher::restart(&state, &folder).await;
            }
            let _ = loader::load(state, folder, What::Newest, Reason::Requested).await;
        });
    }
}
