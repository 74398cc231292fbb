//! Code lenses above flagged statements: `retains 7.8 MB · 1,800 listeners`.

use std::path::Path;

use heapsight_leaks::{format_bytes, format_count};

use crate::analysis::Analysis;
use heapsight_source::TextRange;

/// A lens over one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeLens {
    /// The statement.
    pub range: TextRange,
    /// `retains 7.8 MB · 1,800 listeners`.
    pub title: String,
    /// The finding it opens in the report.
    pub finding: String,
}

impl Analysis {
    /// The lenses of the file at `path` (current text `text`).
    pub fn code_lenses(&self, path: &Path, text: &str) -> Vec<CodeLens> {
        self.placed(path, text)
            .into_iter()
            .filter(|p| !p.placement.stale)
            .map(|p| {
                let f = p.finding;
                let at_least = if f.retained_is_lower_bound {
                    "at least "
                } else {
                    ""
                };
                CodeLens {
                    range: p.placement.statement,
                    title: format!(
                        "retains {at_least}{} · {} {}",
                        format_bytes(f.retained_bytes),
                        format_count(f.count),
                        f.noun()
                    ),
                    finding: p.id,
                }
            })
            .collect()
    }
}
