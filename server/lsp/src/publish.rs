//! `textDocument/publishDiagnostics` for files with findings, opened or not, and for files
//! that had some before (to clear them). Each goes through `placing`: placed on a worker
//! thread, published with the document version it was computed for while that version is
//! still the current one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::placing;
use crate::state::State;

/// Publishes the diagnostics of every file of `files`, placed side by side; returns once
/// each is published (or found stale), so that what follows (a code-lens refresh) sees
/// them.
pub async fn publish_files(state: &Arc<State>, files: Vec<PathBuf>) {
    let placements: Vec<_> = files
        .iter()
        .map(|path| placing::schedule(state, path, Duration::ZERO))
        .collect();
    for placement in placements {
        let _ = placement.await;
    }
}
