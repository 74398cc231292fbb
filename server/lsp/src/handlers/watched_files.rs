//! `workspace/didChangeWatchedFiles`: the client saw the snapshot folder change.

use std::sync::Arc;

use tower_lsp_server::ls_types::DidChangeWatchedFilesParams;

use crate::from_proto;
use crate::state::State;
use crate::watcher;

/// Handles the notification.
pub fn did_change(state: &Arc<State>, params: DidChangeWatchedFilesParams) {
    let paths: Vec<_> = params
        .changes
        .iter()
        .filter_map(|c| from_proto::path(&c.uri))
        .collect();
    watcher::changed(state, &paths);
}
