//! The `heapsight/status` notification an editor's status bar shows.

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
}
