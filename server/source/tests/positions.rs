//! Line/column <-> byte offset conversion, with non-ASCII lines: V8 columns count UTF-16 code
//! units (a surrogate pair counts two), tree-sitter counts bytes, lines end at `\n` only.
#![allow(clippy::unwrap_used)]

use heapsight_source::LineIndex;

/// `text` with one `|` marking a position: checks that (line, UTF-16 column) and (line, byte
/// column) both convert to the marked byte offset and back.
fn check(marked: &str, line: u32, utf16_column: u32, utf8_column: u32) {
    let offset = marked.find('|').unwrap();
    let text = marked.replacen('|', "", 1);
    let index = LineIndex::new(&text);
    assert_eq!(
        index.offset_utf16(line, utf16_column),
        Some(offset),
        "utf16 in {marked:?}"
    );
    assert_eq!(
        index.offset_utf8(line, utf8_column),
        Some(offset),
        "utf8 in {marked:?}"
    );
    assert_eq!(
        index.position_utf16(offset),
        (line, utf16_column),
        "back in {marked:?}"
    );
    assert_eq!(
        index.position_utf8(offset),
        (line, utf8_column),
        "back in {marked:?}"
    );
}

#[test]
fn ascii_lines() {
    check("|a", 0, 0, 0);
    check("ab\ncd|e", 1, 2, 2);
    check("ab\n|", 1, 0, 0);
    check("ab|\ncd", 0, 2, 2);
}

#[test]
fn two_and_three_byte_characters_are_one_utf16_unit() {
    check("const é = 'ü';\nbus.on('données', (|x) => x);", 1, 19, 20);
    check("// 日本語\nconst s = '日本'; f(|1)", 1, 18, 22);
}

#[test]
fn astral_characters_are_a_surrogate_pair() {
    check("const face = '😀'; on(|x)", 0, 22, 24);
    check("x\n  '𝄞𝄞' + (|y)", 1, 12, 16);
}

#[test]
fn carriage_returns_stay_part_of_their_line() {
    check("a\r\nb|c", 1, 1, 1);
    check("a\r|\nb", 0, 2, 2);
}

#[test]
fn impossible_positions_are_refused() {
    let index = LineIndex::new("a😀b\nc");
    // Inside the surrogate pair, past the end of a line, past the last line.
    assert_eq!(index.offset_utf16(0, 2), None);
    assert_eq!(index.offset_utf16(0, 5), None);
    assert_eq!(index.offset_utf16(2, 0), None);
    // Inside a UTF-8 sequence.
    assert_eq!(index.offset_utf8(0, 2), None);
    // Offsets inside a character or past the end clamp.
    assert_eq!(index.position_utf16(3), (0, 1));
    assert_eq!(index.position_utf16(100), (1, 1));
}

/// `text` with one `|` marking where an editor's (line, column) lands once clamped.
fn check_clamped(marked: &str, line: u32, utf16_column: u32, utf8_column: u32) {
    let offset = marked.find('|').unwrap();
    let text = marked.replacen('|', "", 1);
    let index = LineIndex::new(&text);
    assert_eq!(
        index.offset_utf16_clamped(line, utf16_column),
        offset,
        "utf16 in {marked:?}"
    );
    assert_eq!(
        index.offset_utf8_clamped(line, utf8_column),
        offset,
        "utf8 in {marked:?}"
    );
    assert_eq!(
        index.line_of(offset),
        line.min(index.line_count() as u32 - 1)
    );
}

#[test]
fn editor_positions_clamp_to_the_text() {
    // Past the end of a line (before its `\r`), past the last line, inside a character.
    check_clamped("ab|\ncd", 0, 9, 9);
    check_clamped("ab|\r\ncd", 0, 9, 9);
    check_clamped("ab\ncd|", 7, 0, 0);
    check_clamped("a|😀b", 0, 2, 3);
    check_clamped("a😀|b", 0, 3, 5);
}
