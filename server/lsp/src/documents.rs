//! Applying `didChange` content changes (incremental or whole) to a document's text, and
//! the same changes in bytes for the document's edit log (`edit_log`).

use heapsight_ide::LineIndex;
use tower_lsp_server::ls_types::TextDocumentContentChangeEvent;

use crate::edit_log::Change;
use crate::from_proto;
use crate::state::Encoding;

/// Applies `changes` in order to `text`; returns them in bytes, each of the text before it.
pub fn apply_changes(
    text: &mut String,
    changes: Vec<TextDocumentContentChangeEvent>,
    encoding: Encoding,
) -> Vec<Change> {
    let mut applied = Vec::with_capacity(changes.len());
    for change in changes {
        match change.range {
            None => {
                *text = change.text;
                applied.push(Change::Reset);
            }
            Some(range) => {
                let index = LineIndex::new(text);
                let range = from_proto::text_range(&index, range, encoding);
                text.replace_range(range.start..range.end, &change.text);
                applied.push(Change::Edit {
                    start: range.start,
                    end: range.end,
                    inserted: change.text.len(),
                });
            }
        }
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::ls_types::{Position, Range};

    /// `(start line, start column)`, `(end line, end column)`, replacement.
    type Edit<'a> = ((u32, u32), (u32, u32), &'a str);

    fn check(encoding: Encoding, text: &str, edits: &[Edit<'_>], expected: &str) -> Vec<Change> {
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
        let applied = apply_changes(&mut text, changes, encoding);
        assert_eq!(text, expected);
        applied
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
        let applied = check(
            Encoding::Utf16,
            "x\n",
            &[
                ((0, 0), (0, 0), "1\n"),
                ((0, 0), (0, 0), "2\n"),
                ((3, 0), (3, 0), "end"),
            ],
            "2\n1\nx\nend",
        );
        // In bytes of the text each change was made to (the 😀 line: 4-byte character).
        let inserted = |start, end, inserted| Change::Edit {
            start,
            end,
            inserted,
        };
        assert_eq!(
            applied,
            [inserted(0, 0, 2), inserted(0, 0, 2), inserted(6, 6, 3)]
        );
        let emoji = check(
            Encoding::Utf16,
            "a😀b\nc",
            &[((0, 3), (0, 4), "BB")],
            "a😀BB\nc",
        );
        assert_eq!(emoji, [inserted(5, 6, 2)]);
    }
}
