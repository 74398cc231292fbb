//! `workspace/didChangeWorkspaceFolders`: an added folder gets its settings, its watch and
//! its load (in the background); a removed one has its load and capture stopped, its watch
//! dropped and its diagnostics cleared.

use std::sync::Arc;

use tower_lsp_server::ls_types::DidChangeWorkspaceFoldersParams;

use crate::capture;
use crate::folder::Folder;
use crate::from_proto;
use crate::handlers::configuration;
use crate::loader::{self, Reason, What};
use crate::state::State;
use crate::watcher;

/// Handles the notification.
pub async fn did_change(state: Arc<State>, params: DidChangeWorkspaceFoldersParams) {
    let removed: Vec<Arc<Folder>> = {
        let Ok(mut folders) = state.folders.write() else {
            return;
        };
        let mut removed = Vec::new();
        for gone in &params.event.removed {
            let Some(root) = from_proto::path(&gone.uri) else {
                continue;
            };
            let root = std::fs::canonicalize(&root).unwrap_or(root);
            if let Some(at) = folders.iter().position(|f| f.root == root) {
                removed.push(folders.remove(at));
            }
        }
        removed
    };
    let initial = state
        .initial_config
        .read()
        .map(|c| c.clone())
        .unwrap_or_default();
    let added: Vec<Arc<Folder>> = {
        let Ok(mut folders) = state.folders.write() else {
            return;
        };
        let mut added = Vec::new();
        for new in &params.event.added {
            let Some(root) = from_proto::path(&new.uri) else {
                continue;
            };
            let folder = Arc::new(Folder::new(&root, Some(new.uri.clone()), initial.clone()));
            if folders.iter().all(|f| f.root != folder.root) {
                folders.push(folder.clone());
                added.push(folder);
            }
        }
        added
    };
    let state_for_work = state.clone();
    // The settings round trip, the watches and the loads do not hold the notification.
    tokio::spawn(async move {
        let state = state_for_work;
        for folder in &removed {
            loader::cancel_folder(folder, None);
            capture::stop(folder).await;
            watcher::stop(&state, folder).await;
            folder.set_analysis(None);
            // Its files now belong to another folder or to none: republished from there.
            loader::publish_folder(&state, folder).await;
        }
        if !removed.is_empty() {
            loader::send_statuses(&state).await;
        }
        configuration::fetch(&state, &added).await;
        for folder in &added {
            watcher::start(&state, folder).await;
            loader::spawn_load(&state, folder, What::Newest, Reason::Requested);
        }
    });
}
