//! One workspace folder: its root, its settings (asked per folder with its `scopeUri`), its
//! snapshot folder and analysis, the load and the capture running for it, its watch and its
//! last status. A document belongs to the deepest folder containing it.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use heapsight_ide::{Analysis, Config};
use tower_lsp_server::ls_types::Uri;

use crate::capture::Running;
use crate::loader::Job;
use crate::status::Status;

/// A workspace folder and everything the server keeps for it.
pub struct Folder {
    /// Its root, canonical.
    pub root: PathBuf,
    /// Its URI as the client named it (the `scopeUri` of its settings).
    pub uri: Option<Uri>,
    /// Its settings.
    pub config: RwLock<Config>,
    /// Its last completed analysis.
    pub analysis: RwLock<Option<Arc<Analysis>>>,
    /// The cache key of what that analysis loaded, to skip reloading the same files.
    pub loaded_key: Mutex<Option<String>>,
    /// The running load, if any.
    pub job: Mutex<Option<Job>>,
    /// The running capture, if any.
    pub capture: Mutex<Option<Running>>,
    /// The file watcher used when the client cannot watch for us.
    pub watcher: Mutex<Option<notify::RecommendedWatcher>>,
    /// The newest burst of snapshot-folder changes (older debounced loads give way).
    pub watch_generation: AtomicU64,
    /// Its last status.
    pub status: Mutex<Option<Status>>,
}

impl Folder {
    /// A folder at `root` (made canonical) named `uri`, with `config`.
    pub fn new(root: &Path, uri: Option<Uri>, config: Config) -> Folder {
        Folder {
            root: std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()),
            uri,
            config: RwLock::new(config),
            analysis: RwLock::new(None),
            loaded_key: Mutex::new(None),
            job: Mutex::new(None),
            capture: Mutex::new(None),
            watcher: Mutex::new(None),
            watch_generation: AtomicU64::new(0),
            status: Mutex::new(None),
        }
    }

    /// Its settings.
    pub fn config(&self) -> Config {
        self.config.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// Replaces its settings.
    pub fn set_config(&self, config: Config) {
        if let Ok(mut slot) = self.config.write() {
            *slot = config;
        }
    }

    /// Its snapshot folder, absolute. For a bucket's URL, the local folder means nothing.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.root.join(self.config().snapshot_dir)
    }

    /// The snapshot folder setting when it is a bucket's URL (`s3://bucket/prefix`): the
    /// capture there is downloaded into the cache and analyzed, and nothing is watched.
    pub fn remote_snapshots(&self) -> Option<String> {
        let config = self.config();
        let text = config.snapshot_dir.to_str()?;
        heapsight_store::is_remote(text).then(|| text.to_owned())
    }

    /// Its last completed analysis.
    pub fn analysis(&self) -> Option<Arc<Analysis>> {
        self.analysis.read().ok().and_then(|a| a.clone())
    }

    /// Replaces (or drops) its analysis.
    pub fn set_analysis(&self, analysis: Option<Arc<Analysis>>) {
        if let Ok(mut slot) = self.analysis.write() {
            *slot = analysis;
        }
    }

    /// Its root as a `file:` URI string, for status and replies.
    pub fn name(&self) -> String {
        match &self.uri {
            Some(uri) => uri.as_str().to_string(),
            None => self.root.display().to_string(),
        }
    }
}

/// The deepest of `folders` containing `path` (canonical).
pub fn containing<'a>(folders: &'a [Arc<Folder>], path: &Path) -> Option<&'a Arc<Folder>> {
    folders
        .iter()
        .filter(|f| path.starts_with(&f.root))
        .max_by_key(|f| f.root.components().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_belongs_to_the_deepest_folder_containing_it() {
        let folder = |p: &str| Arc::new(Folder::new(Path::new(p), None, Config::default()));
        let folders = vec![
            folder("/nonexistent/ws"),
            folder("/nonexistent/ws/pkg"),
            folder("/nonexistent/other"),
        ];
        let owner = |p: &str| {
            containing(&folders, Path::new(p))
                .map_or("none".to_string(), |f| f.root.display().to_string())
        };
        assert_eq!(
            [
                owner("/nonexistent/ws/pkg/a.js"),
                owner("/nonexistent/ws/a.js"),
                owner("/nonexistent/wsx/a.js"),
                owner("/nonexistent/other/b/c.js"),
            ]
            .join(" "),
            "/nonexistent/ws/pkg /nonexistent/ws none /nonexistent/other"
        );
    }
}
