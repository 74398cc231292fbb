//! Byte ranges and text edits: the currency every other module of this crate deals in.

/// A half-open byte range `start..end` into a file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TextRange {
    /// First byte of the range.
    pub start: usize,
    /// One past the last byte of the range.
    pub end: usize,
}

impl TextRange {
    /// The range `start..end`.
    pub fn new(start: usize, end: usize) -> TextRange {
        TextRange { start, end }
    }

    /// An empty range at `offset` (an insertion point).
    pub fn empty(offset: usize) -> TextRange {
        TextRange {
            start: offset,
            end: offset,
        }
    }

    /// Number of bytes covered.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// True when the range covers no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when `other` lies entirely inside this range.
    pub fn contains_range(&self, other: TextRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// True when the ranges share a byte, or an empty one touches the other.
    pub fn intersects(&self, other: TextRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// True when `offset` is inside the range or at either end.
    pub fn contains(&self, offset: usize) -> bool {
        (self.start..=self.end).contains(&offset)
    }

    /// The text this range covers, or `None` when it is out of bounds or splits a character.
    pub fn slice<'a>(&self, text: &'a str) -> Option<&'a str> {
        text.get(self.start..self.end)
    }
}

/// Replace the text in `range` with `new_text` (an insertion when the range is empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TextEdit {
    /// The bytes replaced.
    pub range: TextRange,
    /// What replaces them.
    pub new_text: String,
}

impl TextEdit {
    /// Insert `new_text` at `offset`.
    pub fn insert(offset: usize, new_text: impl Into<String>) -> TextEdit {
        TextEdit {
            range: TextRange::empty(offset),
            new_text: new_text.into(),
        }
    }

    /// Replace `range` with `new_text`.
    pub fn replace(range: TextRange, new_text: impl Into<String>) -> TextEdit {
        TextEdit {
            range,
            new_text: new_text.into(),
        }
    }
}

/// Apply non-overlapping `edits` to `text`. Returns `None` when an edit is out of bounds,
/// splits a character, or overlaps another.
pub fn apply_edits(text: &str, edits: &[TextEdit]) -> Option<String> {
    let mut sorted: Vec<&TextEdit> = edits.iter().collect();
    sorted.sort_by_key(|edit| (edit.range.start, edit.range.end));
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for edit in sorted {
        if edit.range.start < cursor || edit.range.end < edit.range.start {
            return None;
        }
        out.push_str(text.get(cursor..edit.range.start)?);
        out.push_str(&edit.new_text);
        text.get(edit.range.start..edit.range.end)?;
        cursor = edit.range.end;
    }
    out.push_str(text.get(cursor..)?);
    Some(out)
}
