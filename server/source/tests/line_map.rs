//! Lines follow edits made after a capture; changed or removed lines are stale.

use heapsight_source::LineMap;

/// Map every old line and render `old -> new` (or `stale`), one per line.
fn check(old: &str, new: &str, expected: &str) {
    let map = LineMap::new(old, new);
    let got: Vec<String> = old
        .split('\n')
        .enumerate()
        .map(|(line, text)| match map.map_line(line as u32) {
            Some(now) => format!("{line} {text:?} -> {now}"),
            None => format!("{line} {text:?} stale"),
        })
        .collect();
    assert_eq!(got.join("\n"), expected.trim());
}

#[test]
fn insertions_above_shift_lines() {
    check(
        "a\nbus.on('data', f);\nc",
        "// new\n// lines\na\nbus.on('data', f);\nc",
        r#"
0 "a" -> 2
1 "bus.on('data', f);" -> 3
2 "c" -> 4"#,
    );
}

#[test]
fn changed_and_removed_lines_are_stale() {
    check(
        "a\nbus.on('data', f);\nc\nd",
        "a\nbus.once('data', f);\nd",
        r#"
0 "a" -> 0
1 "bus.on('data', f);" stale
2 "c" stale
3 "d" -> 2"#,
    );
}

#[test]
fn lines_past_the_end_are_stale() {
    assert_eq!(LineMap::new("a", "a").map_line(5), None);
}
