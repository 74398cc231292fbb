//! The server's shared state: negotiated capabilities, open documents, and the workspace
//! folders (each with its settings and last completed analysis, see `folder`). Locks here
//! are plain and never held across an `.await`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use dashmap::DashMap;
use heapsight_ide::{Analysis, Config};
use tower_lsp_server::ls_types::Uri;
use tower_lsp_server::Client;

use crate::folder::{self, Folder};
use crate::placing::Placing;

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
    /// The workspace folders, in the client's order (the first one's status leads).
    pub folders: RwLock<Vec<Arc<Folder>>>,
    /// The settings of `initializationOptions`, which a folder starts with.
    pub initial_config: RwLock<Config>,
    /// A bad `initializationOptions`, reported once the client is initialized.
    pub initial_config_error: Mutex<Option<String>>,
    /// Position encoding.
    pub encoding: RwLock<Encoding>,
    /// Client capabilities that change what we do.
    pub support: RwLock<ClientSupport>,
    /// Open documents inside the workspace, by canonical path.
    pub documents: DashMap<PathBuf, Document>,
    /// Files we published diagnostics for, to clear them when findings go away.
    pub published: Mutex<HashSet<PathBuf>>,
    /// Each document's placement: scheduled, running off the loop, finished.
    pub placing: Placing,
}

impl State {
    /// Fresh state talking to `client`.
    pub fn new(client: Client) -> State {
        State {
            client,
            folders: RwLock::new(Vec::new()),
            initial_config: RwLock::new(Config::default()),
            initial_config_error: Mutex::new(None),
            encoding: RwLock::new(Encoding::Utf16),
            support: RwLock::new(ClientSupport::default()),
            documents: DashMap::new(),
            published: Mutex::new(HashSet::new()),
            placing: Placing::default(),
        }
    }

    /// The workspace folders.
    pub fn folders(&self) -> Vec<Arc<Folder>> {
        self.folders.read().map(|f| f.clone()).unwrap_or_default()
    }

    /// The first workspace folder (what a client that knows one folder means).
    pub fn first_folder(&self) -> Option<Arc<Folder>> {
        self.folders.read().ok().and_then(|f| f.first().cloned())
    }

    /// The folder containing `path` (canonical): the deepest one.
    pub fn folder_for(&self, path: &Path) -> Option<Arc<Folder>> {
        let folders = self.folders.read().ok()?;
        folder::containing(&folders, path).cloned()
    }

    /// The position encoding.
    pub fn encoding(&self) -> Encoding {
        self.encoding.read().map(|e| *e).unwrap_or_default()
    }

    /// The client's support.
    pub fn support(&self) -> ClientSupport {
        self.support.read().map(|s| *s).unwrap_or_default()
    }

    /// The last completed analysis of the folder containing `path` (canonical).
    pub fn analysis_for(&self, path: &Path) -> Option<Arc<Analysis>> {
        self.folder_for(path).and_then(|f| f.analysis())
    }

    /// The canonical path of a workspace file; `None` outside every workspace folder.
    pub fn workspace_path(&self, path: &Path) -> Option<PathBuf> {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.folder_for(&path).is_some().then_some(path)
    }
}
