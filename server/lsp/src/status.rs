//! The `heapsight/status` notification an editor's status bar shows: the first workspace
//! folder's status at the top level (what clients of one folder read), and with several
//! folders every folder's in `folders`.

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::notification::Notification;

/// `heapsight/status`.
pub enum StatusNotification {}

impl Notification for StatusNotification {
    type Params = Status;
    const METHOD: &'static str = "heapsight/status";
}

/// What the server is doing and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// `idle`, `analyzing`, `ready` or `error`.
    pub state: String,
    /// Findings shown.
    pub findings: usize,
    /// Their retained bytes, summed.
    pub retained_bytes: u64,
    /// A sentence for people.
    pub message: String,
    /// Each workspace folder's own status, when there are several (in the notification;
    /// empty in a command's reply, which is about one folder).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<FolderStatus>,
}

/// One workspace folder's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderStatus {
    /// The folder's URI.
    pub folder: String,
    /// `idle`, `analyzing`, `ready` or `error`.
    pub state: String,
    /// Findings shown.
    pub findings: usize,
    /// Their retained bytes, summed.
    pub retained_bytes: u64,
    /// A sentence for people.
    pub message: String,
}

impl Status {
    /// A status without per-folder entries.
    pub fn new(state: &str, findings: usize, retained_bytes: u64, message: String) -> Status {
        Status {
            state: state.to_string(),
            findings,
            retained_bytes,
            message,
            folders: Vec::new(),
        }
    }

    /// This status as folder `folder`'s entry.
    pub fn for_folder(&self, folder: String) -> FolderStatus {
        FolderStatus {
            folder,
            state: self.state.clone(),
            findings: self.findings,
            retained_bytes: self.retained_bytes,
            message: self.message.clone(),
        }
    }
}
