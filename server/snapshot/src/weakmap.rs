//! WeakMap entries as V8 writes them, and how they retain.
//!
//! For each WeakMap entry V8 writes two `internal` edges to the value with one name:
//! `"<n> / part of key (<key> @<id>) -> value (<value> @<id>) pair in WeakMap (table @<id>)"`,
//! one from the key and one from the backing table. The value lives exactly as long as
//! the key (an ephemeron), so — as DevTools does — the table's edge does not retain; the
//! key's does. The text after `"<n> / "` pairs the two edges (distances use that).

use std::collections::HashMap;

use crate::graph::HeapGraph;

/// The WeakMap edge names found in one snapshot.
#[derive(Debug, Default)]
pub(crate) struct WeakMapEdges {
    /// String index → index into `entries`, or `NONE`; empty when there are no entries.
    by_string: Vec<u32>,
    /// (pair id, table node id).
    entries: Vec<(u32, u64)>,
}

const NONE: u32 = u32::MAX;

impl WeakMapEdges {
    /// Reads every string that has the form of a WeakMap edge name. Only internal edges
    /// are ever looked up, so a string of that form used elsewhere is harmless; reading the
    /// strings (a few million, most rejected on their first byte) instead of every
    /// internal edge's name (tens of millions of lookups out of order) took the 1 GB
    /// snapshot's scan from 0.27 s to a few milliseconds.
    pub(crate) fn find(graph: &HeapGraph) -> WeakMapEdges {
        let mut by_string = vec![NONE; graph.strings.len()];
        let mut entries = Vec::new();
        let mut pair_ids: HashMap<&str, u32> = HashMap::new();
        for (s, slot) in by_string.iter_mut().enumerate() {
            if let Some((pair, table)) = parse(graph.strings.get(s)) {
                let next = pair_ids.len() as u32;
                let pair = *pair_ids.entry(pair).or_insert(next);
                entries.push((pair, table));
                *slot = entries.len() as u32 - 1;
            }
        }
        if entries.is_empty() {
            by_string = Vec::new();
        }
        WeakMapEdges { by_string, entries }
    }

    /// For an internal edge named by string `name`: its pair id and table id.
    #[inline]
    pub(crate) fn get(&self, name: u32) -> Option<(u32, u64)> {
        let &entry = self.by_string.get(name as usize)?;
        self.entries.get(entry as usize).copied()
    }
}

/// Splits a WeakMap edge name into the pair text and the table's node id.
pub(crate) fn parse(name: &str) -> Option<(&str, u64)> {
    // The leading digits first: most strings fail there, on their first byte.
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || name.contains('\n') {
        return None;
    }
    let pair = name[digits..].strip_prefix(" / ")?;
    let rest = pair.strip_prefix("part of key (")?;
    let (_, after_key) = split_at_id(rest, ") -> value (")?;
    let (_, after_value) = split_at_id(after_key, ") pair in WeakMap (table @")?;
    let table = after_value.strip_suffix(')')?;
    if table.is_empty() || !table.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((pair, table.parse().ok()?))
}

/// Finds the first `" @<digits>"` followed by `sep` (the non-greedy `.*? @\d+` + sep).
fn split_at_id<'a>(s: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let mut from = 0;
    while let Some(at) = s[from..].find(" @") {
        let start = from + at;
        let digits = s[start + 2..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits > 0 && s[start + 2 + digits..].starts_with(sep) {
            return Some((&s[..start], &s[start + 2 + digits + sep.len()..]));
        }
        from = start + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_v8_names() {
        let n = "3 / part of key (Object @12345) -> value (Array @777) pair in WeakMap (table @99)";
        let (pair, table) = parse(n).expect("parses");
        assert_eq!(table, 99);
        assert!(pair.starts_with("part of key"));
        let other =
            "14 / part of key (Object @12345) -> value (Array @777) pair in WeakMap (table @99)";
        assert_eq!(
            parse(other).map(|p| p.0),
            Some(pair),
            "both edges of a pair share the text"
        );
        assert_eq!(
            parse("part of key (a @1) -> value (b @2) pair in WeakMap (table @3)"),
            None
        );
        assert_eq!(
            parse("1 / part of key (a\n @1) -> value (b @2) pair in WeakMap (table @3)"),
            None
        );
        assert_eq!(
            parse("1 / part of key (x @y @1) -> value (b @2) pair in WeakMap (table @3)")
                .map(|p| p.1),
            Some(3)
        );
        assert_eq!(parse("1 / elements"), None);
    }
}
