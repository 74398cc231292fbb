//! Invariants of `LineIndex`, the one place positions cross between V8 and editors (lines by
//! `\n`, UTF-16 columns) and tree-sitter (bytes): conversions must round-trip exactly.

use heapsight_source::LineIndex;

/// Checks every offset of `text` (and a little past its end) and the (line, column) probes
/// that `probes` encodes (two bytes each).
pub fn check_line_index(text: &str, probes: &[u8]) {
    let index = LineIndex::new(text);
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(
        index.line_count(),
        lines.len(),
        "one line per `\\n`, plus one"
    );

    // The lines partition the text.
    let mut line_start = Vec::with_capacity(lines.len());
    let mut at = 0;
    for (line, line_text) in lines.iter().enumerate() {
        let l = line as u32;
        assert_eq!(index.line_range(l), Some((at, at + line_text.len())));
        assert_eq!(index.line_text(l), Some(*line_text));
        line_start.push(at);
        at += line_text.len() + 1;
    }
    assert_eq!(index.line_range(lines.len() as u32), None);

    // Every byte offset: its position, and back. Walk the text once, tracking the expected
    // line and columns of each char boundary.
    let (mut line, mut col8, mut col16) = (0u32, 0u32, 0u32);
    let mut boundaries = text.char_indices().map(|(at, _)| at).peekable();
    for offset in 0..=text.len() + 2 {
        let boundary = floor_boundary(text, offset);
        if boundary == offset && offset <= text.len() {
            // Advance the expected position to this boundary.
            while let Some(&b) = boundaries.peek() {
                if b >= offset {
                    break;
                }
                let ch = text[b..].chars().next().unwrap_or('\0');
                if ch == '\n' {
                    (line, col8, col16) = (line + 1, 0, 0);
                } else {
                    col8 += ch.len_utf8() as u32;
                    col16 += ch.len_utf16() as u32;
                }
                boundaries.next();
            }
        }
        let expected16 = (line, col16);
        let expected8 = (line, col8);
        // (`line`, `col*`) were last updated at `boundary`: offsets inside a character and
        // past the end clamp to it.
        assert_eq!(
            index.position_utf16(offset),
            expected16,
            "utf16 at {offset}"
        );
        assert_eq!(index.position_utf8(offset), expected8, "utf8 at {offset}");
        assert_eq!(index.line_of(offset), line, "line of {offset}");
        assert_eq!(
            index.offset_utf16(line, col16),
            Some(boundary),
            "utf16 back from {expected16:?}"
        );
        assert_eq!(
            index.offset_utf8(line, col8),
            Some(boundary),
            "utf8 back from {expected8:?}"
        );
        // The clamped forms agree, except that a trailing `\r` is not part of the line.
        let content_end = content_end(text, &line_start, lines[line as usize], line as usize);
        assert_eq!(
            index.offset_utf16_clamped(line, col16),
            boundary.min(content_end)
        );
        assert_eq!(
            index.offset_utf8_clamped(line, col8),
            boundary.min(content_end)
        );
    }

    // Arbitrary (line, column) pairs: the exact converters accept exactly the columns that
    // are char boundaries of an existing line; the clamped ones always land on a boundary
    // of that line (or at the end of the text for a line past the end).
    for pair in probes.chunks_exact(2).take(64) {
        let line = u32::from(pair[0]) % (lines.len() as u32 + 2);
        let column = u32::from(pair[1]);
        let exists = (line as usize) < lines.len();
        let (units, bytes): (Vec<u32>, Vec<u32>) = if exists {
            prefix_columns(lines[line as usize])
        } else {
            (Vec::new(), Vec::new())
        };
        match index.offset_utf16(line, column) {
            Some(offset) => {
                assert!(units.contains(&column), "utf16 ({line}, {column}) accepted");
                assert_eq!(index.position_utf16(offset), (line, column));
            }
            None => assert!(!units.contains(&column), "utf16 ({line}, {column}) refused"),
        }
        match index.offset_utf8(line, column) {
            Some(offset) => {
                assert!(bytes.contains(&column), "utf8 ({line}, {column}) accepted");
                assert_eq!(index.position_utf8(offset), (line, column));
            }
            None => assert!(!bytes.contains(&column), "utf8 ({line}, {column}) refused"),
        }
        for clamped in [
            index.offset_utf16_clamped(line, column),
            index.offset_utf8_clamped(line, column),
        ] {
            assert!(text.is_char_boundary(clamped), "clamped ({line}, {column})");
            if exists {
                let start = line_start[line as usize];
                let end = content_end(text, &line_start, lines[line as usize], line as usize);
                assert!((start..=end).contains(&clamped), "clamped into its line");
            } else {
                assert_eq!(clamped, text.len(), "a line past the end clamps to the end");
            }
        }
    }
}

/// The largest char boundary at or below `offset`, within the text.
fn floor_boundary(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Where `line`'s content ends: before its `\n`, and before a `\r` just ahead of it.
fn content_end(text: &str, line_start: &[usize], line_text: &str, line: usize) -> usize {
    let start = line_start[line];
    let end = start + line_text.len();
    if line_text.ends_with('\r') && text.len() >= end {
        end - 1
    } else {
        end
    }
}

/// The UTF-16 and UTF-8 columns of every char boundary of one line, end included.
fn prefix_columns(line: &str) -> (Vec<u32>, Vec<u32>) {
    let mut units = vec![0];
    let mut bytes = vec![0];
    let mut u = 0;
    for ch in line.chars() {
        u += ch.len_utf16() as u32;
        units.push(u);
    }
    for (at, ch) in line.char_indices() {
        bytes.push((at + ch.len_utf8()) as u32);
    }
    (units, bytes)
}
