//! The server's shared state: settings, negotiated capabilities, open documents, and the
//! last completed analysis. Locks here are plain and never held across an `.await`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use dashmap::DashMap;
use heapsight_ide::{Analysis, Config};
use tower_lsp_server::ls_types::Uri;
use tower_lsp_server::Client;

use crate::loader::Job;

/// How columns are counted in positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-16 code units (LSP's default).
    #[default]
    Utf16,
    /// Bytes, when the client offers `utf-8`.
    Utf8,
}

/// What the client said it supports.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientSupport {
    /// `window/workDoneProgress/create`.
    pub work_done_progress: bool,
    /// `window/showDocument`.
    pub show_document: bool,
    /// Dynamic registration of `workspace/didChangeWatchedFiles`.
    pub watched_files: bool,
    /// `workspace/configuration`.
    pub configuration: bool,
    /// `workspace/codeLens/refresh`.
    pub code_lens_refresh: bool,
}

/// An open document.
#[derive(Debug, Clone)]
pub struct Document {
    /// Its URI as the client sent it.
    pub uri: Uri,
    /// Its current text.
    pub text: String,
    /// The client's version of it.
    pub version: i32,
}

/// Everything handlers share.
pub struct State {
    /// The channel to the client.
    pub client: Client,
    /// The workspace root.
    pub root: RwLock<PathBuf>,
    /// The settings.
    pub config: RwLock<Config>,
    /// Position encoding.
    pub encoding: RwLock<Encoding>,
    /// Client capabilities that change what we do.
    pub support: RwLock<ClientSupport>,
    /// Open documents inside the workspace, by canonical path.
    pub documents: DashMap<PathBuf, Document>,
    /// The last completed analysis.
    pub analysis: RwLock<Option<Arc<Analysis>>>,
    /// The cache key of what that analysis loaded, to skip reloading the same files.
    pub loaded_key: Mutex<Option<String>>,
    /// Files we published diagnostics for, to clear them when findings go away.
    pub published: Mutex<HashSet<PathBuf>>,
    /// The running load, if any.
    pub job: Mutex<Option<Job>>,
    /// The file watcher used when the client cannot watch for us.
    pub watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

impl State {
    /// Fresh state talking to `client`.
    pub fn new(client: Client) -> State {
        State {
            client,
            root: RwLock::new(std::env::current_dir().unwrap_or_default()),
            config: RwLock::new(Config::default()),
            encoding: RwLock::new(Encoding::Utf16),
            support: RwLock::new(ClientSupport::default()),
            documents: DashMap::new(),
            analysis: RwLock::new(None),
            loaded_key: Mutex::new(None),
            published: Mutex::new(HashSet::new()),
            job: Mutex::new(None),
            watcher: Mutex::new(None),
        }
    }

    /// The workspace root.
    pub fn root(&self) -> PathBuf {
        self.root.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// The settings.
    pub fn config(&self) -> Config {
        self.config.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// The position encoding.
    pub fn encoding(&self) -> Encoding {
        self.encoding.read().map(|e| *e).unwrap_or_default()
    }

    /// The client's support.
    pub fn support(&self) -> ClientSupport {
        self.support.read().map(|s| *s).unwrap_or_default()
    }

    /// The snapshot folder, absolute.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.root().join(self.config().snapshot_dir)
    }

    /// The last completed analysis.
    pub fn analysis(&self) -> Option<Arc<Analysis>> {
        self.analysis.read().ok().and_then(|a| a.clone())
    }

    /// The canonical path of a workspace file; `None` outside the workspace.
    pub fn workspace_path(&self, path: &Path) -> Option<PathBuf> {
        let root = self.root();
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        path.starts_with(&root).then_some(path)
    }

    /// The current text of `path`: the open document's, else the file on disk.
    pub fn text(&self, path: &Path) -> Option<(String, Option<i32>)> {
        if let Some(doc) = self.documents.get(path) {
            return Some((doc.text.clone(), Some(doc.version)));
        }
        std::fs::read_to_string(path).ok().map(|t| (t, None))
    }
}
