//! Settings from `workspace/configuration` (section `heapsight`), asked after `initialized`
//! and on `workspace/didChangeConfiguration`; a change reloads with the new settings.

use std::sync::Arc;

use tower_lsp_server::ls_types::{ConfigurationItem, DidChangeConfigurationParams, MessageType};

use crate::from_proto;
use crate::loader::{self, Reason, What};
use crate::state::State;
use crate::watcher;

/// Asks the client for the `heapsight` section, when it supports that; keeps the current
/// settings when it answers nothing.
pub async fn fetch(state: &State) {
    if !state.support().configuration {
        return;
    }
    let items = vec![ConfigurationItem {
        scope_uri: None,
        section: Some("heapsight".to_string()),
    }];
    let Ok(values) = state.client.configuration(items).await else {
        return;
    };
    if let Some(value) = values.first() {
        apply(state, value).await;
    }
}

async fn apply(state: &State, value: &serde_json::Value) {
    match from_proto::config(value) {
        Ok(Some(config)) => {
            if let Ok(mut slot) = state.config.write() {
                *slot = config;
            }
        }
        Ok(None) => {}
        Err(message) => state.client.show_message(MessageType::ERROR, message).await,
    }
}

/// Handles `workspace/didChangeConfiguration`.
pub async fn did_change(state: Arc<State>, params: DidChangeConfigurationParams) {
    let before = state.config();
    if state.support().configuration {
        fetch(&state).await;
    } else {
        apply(&state, &params.settings).await;
    }
    let after = state.config();
    if after.snapshot_dir != before.snapshot_dir {
        watcher::restart(&state).await;
    }
    if after != before {
        let _ = loader::load(state, What::Newest, Reason::Requested).await;
    }
}
