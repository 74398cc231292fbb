//! Line/column <-> byte offset conversion. V8 counts lines by `\n` only and columns in UTF-16
//! code units; tree-sitter counts bytes, so every position crossing that border goes through here.

/// Start offsets of every line of a text, for exact position conversion.
#[derive(Debug, Clone)]
pub struct LineIndex {
    text: String,
    line_starts: Vec<usize>,
}

impl LineIndex {
    /// Index `text`. Lines are separated by `\n` only (a `\r` stays part of its line).
    pub fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        LineIndex {
            text: text.to_owned(),
            line_starts,
        }
    }

    /// Number of lines (a text ending in `\n` has an empty last line).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The byte range of `line` without its `\n`.
    pub fn line_range(&self, line: u32) -> Option<(usize, usize)> {
        let line = line as usize;
        let start = *self.line_starts.get(line)?;
        let end = match self.line_starts.get(line + 1) {
            Some(next) => next - 1,
            None => self.text.len(),
        };
        Some((start, end))
    }

    /// The text of `line` without its `\n`.
    pub fn line_text(&self, line: u32) -> Option<&str> {
        let (start, end) = self.line_range(line)?;
        self.text.get(start..end)
    }

    /// Byte offset of (0-based `line`, `column` in UTF-16 code units). A column may point at the
    /// end of the line; past it, or inside a surrogate pair, gives `None`.
    pub fn offset_utf16(&self, line: u32, column: u32) -> Option<usize> {
        let (start, end) = self.line_range(line)?;
        let mut units = 0u32;
        for (at, ch) in self.text.get(start..end)?.char_indices() {
            if units == column {
                return Some(start + at);
            }
            units += ch.len_utf16() as u32;
            if units > column {
                return None;
            }
        }
        (units == column).then_some(end)
    }

    /// Byte offset of (0-based `line`, `column` in bytes). `None` past the line's end or inside a character.
    pub fn offset_utf8(&self, line: u32, column: u32) -> Option<usize> {
        let (start, end) = self.line_range(line)?;
        let offset = start + column as usize;
        (offset <= end && self.text.is_char_boundary(offset)).then_some(offset)
    }

    /// (0-based line, UTF-16 column) of a byte offset; offsets past the end clamp to the end,
    /// offsets inside a character go to its start.
    pub fn position_utf16(&self, offset: usize) -> (u32, u32) {
        let (line, start, offset) = self.locate(offset);
        let column = self.text.get(start..offset).map_or(0, |prefix| {
            prefix.chars().map(char::len_utf16).sum::<usize>()
        });
        (line as u32, column as u32)
    }

    /// (0-based line, byte column) of a byte offset, clamped like [`LineIndex::position_utf16`].
    pub fn position_utf8(&self, offset: usize) -> (u32, u32) {
        let (line, start, offset) = self.locate(offset);
        (line as u32, (offset - start) as u32)
    }

    /// The 0-based line holding byte `offset` (clamped to the text).
    pub fn line_of(&self, offset: usize) -> u32 {
        self.locate(offset).0 as u32
    }

    /// Byte offset of (0-based `line`, UTF-16 `column`), clamped as an editor expects: a column
    /// past the line's end gives the end of the line (before a `\r`), inside a surrogate pair
    /// the character's start, and a line past the end the end of the text.
    pub fn offset_utf16_clamped(&self, line: u32, column: u32) -> usize {
        let Some((start, end)) = self.content_range(line) else {
            return self.text.len();
        };
        let mut units = 0u32;
        for (at, ch) in self.text[start..end].char_indices() {
            units += ch.len_utf16() as u32;
            if units > column {
                return start + at;
            }
        }
        end
    }

    /// Byte offset of (0-based `line`, byte `column`), clamped like
    /// [`LineIndex::offset_utf16_clamped`].
    pub fn offset_utf8_clamped(&self, line: u32, column: u32) -> usize {
        let Some((start, end)) = self.content_range(line) else {
            return self.text.len();
        };
        let mut offset = (start + column as usize).min(end);
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }

    /// [`LineIndex::line_range`] without a trailing `\r`.
    fn content_range(&self, line: u32) -> Option<(usize, usize)> {
        let (start, end) = self.line_range(line)?;
        let end = if end > start && self.text.as_bytes().get(end - 1) == Some(&b'\r') {
            end - 1
        } else {
            end
        };
        Some((start, end))
    }

    fn locate(&self, offset: usize) -> (usize, usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        (line, self.line_starts[line], offset)
    }
}
