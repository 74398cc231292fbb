//! Applying `didChange` content changes (incremental or whole) to a document's text.

use heapsight_ide::LineIndex;
use tower_lsp_server::ls_types::TextDocumentContentChangeEvent;

use crate::from_proto;
use crate::state::Encoding;

/// Applies `changes` in order to `text`.
pub fn apply_changes(
    text: &mut String,
    changes: Vec<TextDocumentContentChangeEvent>,
    encoding: Encoding,
) {
    for change in changes {
        match change.range {
            None => *text = change.text,
            Some(range) => {
                let index = LineIndex::new(text);
                let range = from_proto::text_range(&index, range, encoding);
                text.replace_range(range.start..range.end, &change.text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::ls_types::{Position, Range};

    /// `(start line, start column)`, `(end line, end column)`, replacement.
    type Change<'a> = ((u32, u32), (u32, u32), &'a str);

    fn check(encoding: Encoding, text: &str, edits: &[Change<'_>], expected: &str) {
        let mut text = text.to_string();
        let changes = edits
            .iter()
            .map(
                |&((sl, sc), (el, ec), new)| TextDocumentContentChangeEvent {
                    range: Some(Range {
                        start: Position {
                            line: sl,
                            character: sc,
                        },
                        end: Position {
                            line: el,
                            character: ec,
                        },
                    }),
                    range_length: None,
                    text: new.to_string(),
                },
            )
            .collect();
        apply_changes(&mut text, changes, encoding);
        assert_eq!(text, expected);
    }

    #[test]
    fn incremental_changes_count_columns_in_the_negotiated_encoding() {
        // '😀' is two UTF-16 units and four bytes.
        check(
            Encoding::Utf16,
            "a😀b\nc",
            &[((0, 3), (0, 4), "B")],
            "a😀B\nc",
        );
        check(
            Encoding::Utf8,
            "a😀b\nc",
            &[((0, 5), (0, 6), "B")],
            "a😀B\nc",
        );
        check(
            Encoding::Utf16,
            "x\n",
            &[
                ((0, 0), (0, 0), "1\n"),
                ((0, 0), (0, 0), "2\n"),
                ((3, 0), (3, 0), "end"),
            ],
            "2\n1\nx\nend",
        );
    }
}
