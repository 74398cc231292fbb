//! `textDocument/publishDiagnostics` for every file with findings, opened or not, and for
//! files that had some before (to clear them). An open document's diagnostics carry its
//! version and are sent only while that version is still the current one.

use std::path::Path;

use tower_lsp_server::ls_types::Diagnostic;

use crate::state::State;
use crate::to_proto::{self, Converter};

/// Publishes the diagnostics of every affected file.
pub async fn publish_all(state: &State) {
    let mut files = state
        .analysis()
        .map(|a| a.files_with_findings())
        .unwrap_or_default();
    if let Ok(published) = state.published.lock() {
        for path in published.iter() {
            if !files.contains(path) {
                files.push(path.clone());
            }
        }
    }
    for path in files {
        publish(state, &path).await;
    }
}

/// Publishes the diagnostics of the file at `path` (canonical) from its current text.
pub async fn publish(state: &State, path: &Path) {
    let Some((uri, diagnostics, version)) = compute(state, path) else {
        return;
    };
    // Computed and checked without an await in between: a newer edit has not landed.
    let current = state.documents.get(path).map(|d| d.version);
    if version.is_some() && current != version {
        return;
    }
    if let Ok(mut published) = state.published.lock() {
        if diagnostics.is_empty() {
            published.remove(path);
        } else {
            published.insert(path.to_path_buf());
        }
    }
    state
        .client
        .publish_diagnostics(uri, diagnostics, version)
        .await;
}

fn compute(
    state: &State,
    path: &Path,
) -> Option<(
    tower_lsp_server::ls_types::Uri,
    Vec<Diagnostic>,
    Option<i32>,
)> {
    let (text, version) = state.text(path)?;
    let uri = match state.documents.get(path) {
        Some(doc) => doc.uri.clone(),
        None => to_proto::uri(path)?,
    };
    let converter = Converter::new(&text, state.encoding());
    let diagnostics = state
        .analysis()
        .map(|a| {
            a.diagnostics(path, &text)
                .iter()
                .map(|d| converter.diagnostic(d, &uri))
                .collect()
        })
        .unwrap_or_default();
    Some((uri, diagnostics, version))
}
