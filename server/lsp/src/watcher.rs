//! Watching each workspace folder's snapshot folder: through the client (`workspace/didChangeWatchedFiles`,
//! registered dynamically) when it can, else with a file watcher of our own. Changes are
//! debounced, then the newest input is loaded if it differs from the loaded one — a new
//! capture appears complete (its manifest is written last, `latest` after it).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use notify::Watcher as _;
use serde_json::json;
use tower_lsp_server::ls_types::{MessageType, Registration, Unregistration};

use crate::folder::Folder;
use crate::loader::{self, Reason, What};
use crate::state::State;

/// The registration id of our file watchers, followed by the workspace folder's root.
pub const REGISTRATION_ID: &str = "heapsight-snapshot-folder";

/// How long the folder must be quiet before a load.
const DEBOUNCE: Duration = Duration::from_millis(400);

/// The id of `folder`'s registration (one per workspace folder).
fn registration_id(folder: &Folder) -> String {
    format!("{REGISTRATION_ID}:{}", folder.root.display())
}

/// Starts watching `folder`'s snapshot folder.
pub async fn start(state: &Arc<State>, folder: &Arc<Folder>) {
    if folder.remote_snapshots().is_some() {
        return;
    }
    let dir = folder.snapshot_dir();
    if state.support().watched_files {
        let pattern = format!("{}/**/*", dir.display());
        let registration = Registration {
            id: registration_id(folder),
            method: "workspace/didChangeWatchedFiles".to_string(),
            register_options: Some(json!({ "watchers": [{ "globPattern": pattern }] })),
        };
        if state
            .client
            .register_capability(vec![registration])
            .await
            .is_ok()
        {
            return;
        }
    }
    if let Err(e) = watch_with_notify(state, folder, &dir) {
        state
            .client
            .log_message(
                MessageType::WARNING,
                format!("heapsight cannot watch {}: {e}", dir.display()),
            )
            .await;
    }
}

/// Watches `folder`'s (newly configured) snapshot folder instead of the old one.
pub async fn restart(state: &Arc<State>, folder: &Arc<Folder>) {
    stop(state, folder).await;
    start(state, folder).await;
}

/// Stops watching `folder`'s snapshot folder.
pub async fn stop(state: &State, folder: &Folder) {
    if state.support().watched_files {
        let _ = state
            .client
            .unregister_capability(vec![Unregistration {
                id: registration_id(folder),
                method: "workspace/didChangeWatchedFiles".to_string(),
            }])
            .await;
    }
    if let Ok(mut slot) = folder.watcher.lock() {
        *slot = None;
    }
}

fn watch_with_notify(state: &Arc<State>, folder: &Arc<Folder>, dir: &Path) -> notify::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<PathBuf>>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let _ = tx.send(event.paths);
        }
    })?;
    // The folder may not exist yet: watch the root for its creation too.
    watcher.watch(&folder.root, notify::RecursiveMode::NonRecursive)?;
    if dir.is_dir() {
        watcher.watch(dir, notify::RecursiveMode::Recursive)?;
    }
    if let Ok(mut slot) = folder.watcher.lock() {
        *slot = Some(watcher);
    }
    let state = state.clone();
    let folder = Arc::downgrade(folder);
    let dir = dir.to_path_buf();
    tokio::spawn(async move {
        let mut watching_dir = dir.is_dir();
        while let Some(paths) = rx.recv().await {
            // A workspace folder removed takes its watcher (and this channel's sender) along.
            let Some(folder) = folder.upgrade() else {
                break;
            };
            // A folder deleted and made again (a capture tool that starts afresh) needs a
            // new watch.
            if !dir.is_dir() {
                watching_dir = false;
            }
            if !watching_dir && dir.is_dir() {
                if let Ok(mut slot) = folder.watcher.lock() {
                    if let Some(w) = slot.as_mut() {
                        watching_dir = w.watch(&dir, notify::RecursiveMode::Recursive).is_ok();
                    }
                }
            }
            changed_in(&state, &folder, &paths);
        }
    });
    Ok(())
}

/// Reacts to changed paths (from the client or our watcher): each folder whose snapshot
/// folder they are in reloads.
pub fn changed(state: &Arc<State>, paths: &[PathBuf]) {
    for folder in state.folders() {
        changed_in(state, &folder, paths);
    }
}

fn changed_in(state: &Arc<State>, folder: &Arc<Folder>, paths: &[PathBuf]) {
    let dir = folder.snapshot_dir();
    let relevant = paths.iter().any(|p| {
        p.starts_with(&dir)
            && !p.starts_with(dir.join(heapsight_ide::cache::CACHE_DIR))
            && p.file_name().is_some_and(|n| n != "report.md")
    });
    if !relevant {
        return;
    }
    let generation = folder.watch_generation.fetch_add(1, Ordering::SeqCst) + 1;
    let state = state.clone();
    let folder = folder.clone();
    tokio::spawn(async move {
        tokio::time::sleep(DEBOUNCE).await;
        let still_there = state.folders().iter().any(|f| Arc::ptr_eq(f, &folder));
        if still_there && folder.watch_generation.load(Ordering::SeqCst) == generation {
            let _ = loader::load(state, folder, What::Newest, Reason::Watch).await;
        }
    });
}
