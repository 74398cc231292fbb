//! `didOpen`, `didChange`, `didClose`, `didSave`: the open documents of the workspace
//! (others are ignored). The document is updated before the first `.await`, so changes
//! apply in the order they arrived; its placement and diagnostics are scheduled on
//! `placing` (after a pause in the typing for a change, at once otherwise), never run here.

use std::sync::Arc;
use std::time::Duration;

use tower_lsp_server::ls_types::{
    DidChangeTextDocumentParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
    DidSaveTextDocumentParams,
};

use crate::documents::apply_changes;
use crate::edit_log::Change;
use crate::from_proto;
use crate::placing::{self, DEBOUNCE};
use crate::state::{Document, State};

/// Handles `textDocument/didOpen`.
pub async fn did_open(state: &Arc<State>, params: DidOpenTextDocumentParams) {
    let doc = params.text_document;
    let Some(path) = from_proto::path(&doc.uri).and_then(|p| state.workspace_path(&p)) else {
        return;
    };
    state.placing.open(
        state,
        &path,
        Document {
            uri: doc.uri,
            text: doc.text,
            version: doc.version,
        },
    );
    placing::schedule(state, &path, Duration::ZERO);
}

/// Handles `textDocument/didChange`.
pub async fn did_change(state: &Arc<State>, params: DidChangeTextDocumentParams) {
    let Some(path) =
        from_proto::path(&params.text_document.uri).and_then(|p| state.workspace_path(&p))
    else {
        return;
    };
    let mut open = false;
    state.placing.change(&path, || {
        let Some(mut doc) = state.documents.get_mut(&path) else {
            return Vec::new();
        };
        open = true;
        doc.version = params.text_document.version;
        apply_changes(&mut doc.text, params.content_changes, state.encoding())
    });
    if open {
        placing::schedule(state, &path, DEBOUNCE);
    }
}

/// Handles `textDocument/didClose`: the file on disk is what counts again.
pub async fn did_close(state: &Arc<State>, params: DidCloseTextDocumentParams) {
    let Some(path) =
        from_proto::path(&params.text_document.uri).and_then(|p| state.workspace_path(&p))
    else {
        return;
    };
    state.placing.change(&path, || {
        state.documents.remove(&path);
        vec![Change::Reset]
    });
    placing::schedule(state, &path, Duration::ZERO);
}

/// Handles `textDocument/didSave`.
pub async fn did_save(state: &Arc<State>, params: DidSaveTextDocumentParams) {
    let Some(path) =
        from_proto::path(&params.text_document.uri).and_then(|p| state.workspace_path(&p))
    else {
        return;
    };
    placing::schedule(state, &path, Duration::ZERO);
}
