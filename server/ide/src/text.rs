//! Byte ranges and edits in a document's current text.

use serde::Serialize;

/// A byte range `start..end` in one text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct TextRange {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl TextRange {
    /// `start..end`.
    pub fn new(start: usize, end: usize) -> TextRange {
        TextRange { start, end }
    }

    /// Whether the two ranges share a byte, or an empty one touches the other.
    pub fn intersects(self, other: TextRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// Whether `offset` is inside (ends included).
    pub fn contains(self, offset: usize) -> bool {
        (self.start..=self.end).contains(&offset)
    }
}

/// Replace `range` with `new_text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextEdit {
    /// What to replace.
    pub range: TextRange,
    /// The replacement.
    pub new_text: String,
}

/// Applies `edits` (non-overlapping, any order) to `text`.
pub fn apply_edits(text: &str, edits: &[TextEdit]) -> String {
    let mut sorted: Vec<&TextEdit> = edits.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse((e.range.start, e.range.end)));
    let mut out = text.to_string();
    for edit in sorted {
        let (start, end) = (
            edit.range.start.min(out.len()),
            edit.range.end.min(out.len()),
        );
        if out.is_char_boundary(start) && out.is_char_boundary(end) && start <= end {
            out.replace_range(start..end, &edit.new_text);
        }
    }
    out
}
