//! `didOpen`, `didChange`, `didClose`, `didSave`: the open documents of the workspace
//! (others are ignored) and their diagnostics, recomputed on every change. The document
//! is updated before the first `.await`, so changes apply in the order they arrived.

use tower_lsp_server::ls_types::{
    DidChangeTextDocumentParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
    DidSaveTextDocumentParams,
};

use crate::documents::apply_changes;
use crate::from_proto;
use crate::publish;
use crate::state::{Document, State};

/// Handles `textDocument/didOpen`.
pub async fn did_open(state: &State, params: DidOpenTextDocumentParams) {
    let doc = params.text_document;
    let Some(path) = from_proto::path(&doc.uri).and_then(|p| state.workspace_path(&p)) else {
        return;
    };
    state.documents.insert(
        path.clone(),
        Document {
            uri: doc.uri,
            text: doc.text,
            version: doc.version,
        },
    );
    publish::publish(state, &path).await;
}

/// Handles `textDocument/didChange`.
pub async fn did_change(state: &State, params: DidChangeTextDocumentParams) {
    let Some(path) =
        from_proto::path(&params.text_document.uri).and_then(|p| state.workspace_path(&p))
    else {
        return;
    };
    {
        let Some(mut doc) = state.documents.get_mut(&path) else {
            return;
        };
        apply_changes(&mut doc.text, params.content_changes, state.encoding());
        doc.version = params.text_document.version;
    }
    publish::publish(state, &path).await;
}

/// Handles `textDocument/didClose`: the file on disk is what counts again.
pub async fn did_close(state: &State, params: DidCloseTextDocumentParams) {
    let Some(path) =
        from_proto::path(&params.text_document.uri).and_then(|p| state.workspace_path(&p))
    else {
        return;
    };
    state.documents.remove(&path);
    publish::publish(state, &path).await;
}

/// Handles `textDocument/didSave`.
pub async fn did_save(state: &State, params: DidSaveTextDocumentParams) {
    let Some(path) =
        from_proto::path(&params.text_document.uri).and_then(|p| state.workspace_path(&p))
    else {
        return;
    };
    publish::publish(state, &path).await;
}
