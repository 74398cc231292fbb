//! Quick fixes for the findings whose statements meet a range, recomputed from the analysis
//! and the current text (clients need not send diagnostics' data back).

use std::path::Path;

use crate::analysis::Analysis;
use crate::locate;
use heapsight_source::{TextEdit, TextRange};

/// One quick fix in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeAction {
    /// What it does.
    pub title: String,
    /// Edits to the current text.
    pub edits: Vec<TextEdit>,
    /// Safe to apply without reading it first.
    pub preferred: bool,
    /// The finding it fixes (its diagnostic's `finding`).
    pub finding: String,
}

impl Analysis {
    /// The fixes for findings of the file at `path` whose statement meets `range`.
    pub fn code_actions(&self, path: &Path, text: &str, range: TextRange) -> Vec<CodeAction> {
        self.placed(path, text)
            .into_iter()
            .filter(|p| p.placement.statement.intersects(range))
            .flat_map(|p| {
                locate::fixes(&p.placement, path, text)
                    .into_iter()
                    .map(move |fix| CodeAction {
                        title: fix.title,
                        edits: fix.edits,
                        preferred: fix.preferred,
                        finding: p.id.clone(),
                    })
            })
            .collect()
    }
}
