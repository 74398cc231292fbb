//! Diagnostics: one per finding placed in the file, with severity from the size thresholds,
//! the kind as the code (linked to the README's section on it) and the holder's
//! declaration as related information.

use std::path::{Path, PathBuf};

use heapsight_leaks::LeakKind;

use crate::analysis::Analysis;
use crate::config::Thresholds;
use heapsight_source::TextRange;

/// Where each kind is explained, with its fixes.
pub const README_URL: &str = "https://github.com/heapsight/heapsight#leak-kind-";

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Retains at least the error threshold.
    Error,
    /// Retains at least the warning threshold.
    Warning,
    /// Below the warning threshold, or stale.
    Information,
}

/// A diagnostic in the current text of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The finding it shows.
    pub finding: String,
    /// Where.
    pub range: TextRange,
    /// How serious.
    pub severity: Severity,
    /// The leak kind (`listener`).
    pub code: &'static str,
    /// The README section on the kind.
    pub code_url: String,
    /// The message.
    pub message: String,
    /// The code changed since the capture: the finding may be gone.
    pub stale: bool,
    /// Related places.
    pub related: Vec<Related>,
}

/// A related place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    /// The file.
    pub path: PathBuf,
    /// The range, in that file's current text (the same text for the diagnostic's file).
    pub range: TextRange,
    /// What is there.
    pub message: String,
}

/// The severity of `retained_bytes` under `thresholds`.
pub fn severity(retained_bytes: u64, thresholds: Thresholds) -> Severity {
    if retained_bytes >= thresholds.error_bytes {
        Severity::Error
    } else if retained_bytes >= thresholds.warning_bytes {
        Severity::Warning
    } else {
        Severity::Information
    }
}

/// The link for a kind's explanation.
pub fn kind_url(kind: LeakKind) -> String {
    format!("{README_URL}{}", kind.as_str())
}

impl Analysis {
    /// The diagnostics of the file at `path`, whose current text is `text`.
    pub fn diagnostics(&self, path: &Path, text: &str) -> Vec<Diagnostic> {
        self.placed(path, text)
            .into_iter()
            .map(|p| {
                let f = p.finding;
                let mut message = crate::wording::placed_message(f, &p.placement);
                if let Some(heap) = self.shown_heap(f) {
                    message = format!("{message} (in {heap})");
                }
                if p.placement.stale {
                    message = format!(
                        "possibly stale: this code changed since the capture; re-capture to confirm. {message}"
                    );
                }
                let related = p
                    .placement
                    .declaration
                    .map(|range| Related {
                        path: path.to_path_buf(),
                        range,
                        message: format!(
                            "`{}` is declared here",
                            f.holder.binding.as_ref().map_or("the holder".into(), |b| b.describe())
                        ),
                    })
                    .into_iter()
                    .collect();
                Diagnostic {
                    finding: p.id,
                    range: p.placement.range,
                    severity: if p.placement.stale {
                        Severity::Information
                    } else {
                        severity(f.retained_bytes, self.config().thresholds)
                    },
                    code: f.kind().as_str(),
                    code_url: kind_url(f.kind()),
                    message,
                    stale: p.placement.stale,
                    related,
                }
            })
            .collect()
    }
}
