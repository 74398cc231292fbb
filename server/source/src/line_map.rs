//! Following lines across edits made after a capture: a line diff between the captured text and
//! the current one. A line that changed or disappeared maps to nothing (the finding is stale)
//! rather than to a neighbour.

use similar::{Algorithm, DiffOp, TextDiff};

/// Maps lines of an old text to the same lines in a new text.
#[derive(Debug, Clone)]
pub struct LineMap {
    old_to_new: Vec<Option<u32>>,
}

impl LineMap {
    /// Diff `old_text` against `new_text` by lines (`\n`-separated, like V8 counts them).
    pub fn new(old_text: &str, new_text: &str) -> LineMap {
        let diff = TextDiff::configure()
            .algorithm(Algorithm::Patience)
            .diff_lines(old_text, new_text);
        let old_lines = old_text.split('\n').count();
        let mut old_to_new = vec![None; old_lines];
        for op in diff.ops() {
            if let DiffOp::Equal {
                old_index,
                new_index,
                len,
            } = *op
            {
                for step in 0..len {
                    if let Some(slot) = old_to_new.get_mut(old_index + step) {
                        *slot = Some((new_index + step) as u32);
                    }
                }
            }
        }
        LineMap { old_to_new }
    }

    /// Where 0-based `old_line` is now; `None` when that line changed or was removed (stale).
    pub fn map_line(&self, old_line: u32) -> Option<u32> {
        self.old_to_new.get(old_line as usize).copied().flatten()
    }
}
