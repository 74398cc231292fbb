//! Byte offsets to line/column positions and back, in UTF-8 or UTF-16 columns.
//!
//! V8 and LSP clients count columns in UTF-16 code units, tree-sitter and Rust strings in
//! bytes; every range this crate returns is in bytes, and the caller converts with this
//! index over the same text. Lines end at `\n` only, as V8 counts them.

/// Line starts of one text, for conversions between byte offsets and positions.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex {
            starts,
            len: text.len(),
        }
    }

    /// Number of lines (a text ending in `\n` has an empty last line).
    pub fn line_count(&self) -> u32 {
        self.starts.len() as u32
    }

    /// The byte range of `line` without its `\n`; `None` past the end.
    pub fn line_range(&self, text: &str, line: u32) -> Option<(usize, usize)> {
        let start = *self.starts.get(line as usize)?;
        let end = self
            .starts
            .get(line as usize + 1)
            .map_or(self.len, |next| next - 1);
        let end = if text.as_bytes().get(end.wrapping_sub(1)) == Some(&b'\r') && end > start {
            end - 1
        } else {
            end
        };
        Some((start, end))
    }

    /// The 0-based line holding byte `offset`.
    pub fn line_of(&self, offset: usize) -> u32 {
        match self.starts.binary_search(&offset) {
            Ok(line) => line as u32,
            Err(next) => next.saturating_sub(1) as u32,
        }
    }

    /// `(line, UTF-16 column)` of byte `offset` (clamped to the text and to a char boundary).
    pub fn position_utf16(&self, text: &str, offset: usize) -> (u32, u32) {
        let offset = floor_char_boundary(text, offset.min(self.len));
        let line = self.line_of(offset);
        let start = self.starts[line as usize];
        let column = text[start..offset].encode_utf16().count() as u32;
        (line, column)
    }

    /// `(line, byte column)` of byte `offset` (clamped to the text).
    pub fn position_utf8(&self, text: &str, offset: usize) -> (u32, u32) {
        let offset = floor_char_boundary(text, offset.min(self.len));
        let line = self.line_of(offset);
        (line, (offset - self.starts[line as usize]) as u32)
    }

    /// The byte offset of `(line, UTF-16 column)`; columns past the line's end clamp to it,
    /// lines past the end clamp to the end of the text.
    pub fn offset_utf16(&self, text: &str, line: u32, column: u32) -> usize {
        let Some((start, end)) = self.line_range(text, line) else {
            return self.len;
        };
        let mut units = 0u32;
        for (i, ch) in text[start..end].char_indices() {
            if units >= column {
                return start + i;
            }
            units += ch.len_utf16() as u32;
        }
        end
    }

    /// The byte offset of `(line, byte column)`, clamped like [`LineIndex::offset_utf16`].
    pub fn offset_utf8(&self, text: &str, line: u32, column: u32) -> usize {
        let Some((start, end)) = self.line_range(text, line) else {
            return self.len;
        };
        floor_char_boundary(text, (start + column as usize).min(end))
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    #[test]
    fn utf16_columns_round_trip_on_non_ascii_lines() {
        let text = "const a = 1;\nconst é = '😀'; x\r\nlast";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap_or_default();
        assert_eq!(index.position_utf16(text, x), (1, 16));
        assert_eq!(index.position_utf8(text, x), (1, 19));
        assert_eq!(index.offset_utf16(text, 1, 16), x);
        assert_eq!(index.offset_utf8(text, 1, 19), x);
        assert_eq!(
            index.line_range(text, 1).map(|(s, e)| &text[s..e]),
            Some("const é = '😀'; x")
        );
        assert_eq!(index.offset_utf16(text, 9, 0), text.len());
        assert_eq!(index.offset_utf16(text, 2, 99), text.len());
        assert_eq!(index.line_count(), 3);
    }
}
