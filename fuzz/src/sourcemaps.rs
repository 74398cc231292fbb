//! Source maps from outside: whatever `ScriptMap` accepts is followed the way a finding's
//! position is — to an original position, into the embedded source, through tree-sitter to
//! a call site — and every range that comes back must lie inside its text.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use heapsight_source::sourcemaps::{original_call_site, ScriptMap};
use heapsight_source::{call_site_at_function, CallSite, Language, ParsedFile, TextRange};

/// A workspace that does not exist: nothing is read from disk, originals come from
/// `sourcesContent` only.
const WORKSPACE: &str = "/nonexistent-heapsight-fuzz";

/// Mappings followed per input (each may parse an embedded source).
const PROBES: usize = 24;

/// Parses `data` as a map and follows its mappings.
pub fn check_source_map(data: &[u8]) {
    let workspace = Path::new(WORKSPACE);
    let Ok(map) = ScriptMap::from_json(data, workspace.to_path_buf()) else {
        return;
    };
    // The generated positions the map names, plus a few no map names.
    let mut probes: Vec<(u32, u32)> = vec![(0, 0), (1, 5), (u32::MAX, u32::MAX)];
    if let Ok(sourcemap::DecodedMap::Regular(decoded)) = sourcemap::decode_slice(data) {
        probes.extend(
            decoded
                .tokens()
                .take(PROBES)
                .map(|t| (t.get_dst_line(), t.get_dst_col())),
        );
    }
    let mut parsed: HashMap<PathBuf, Option<ParsedFile>> = HashMap::new();
    for &(line, column) in &probes {
        let Some(position) = map.original_position(line, column) else {
            continue;
        };
        let file = parsed.entry(position.path.clone()).or_insert_with(|| {
            let text = map.embedded_source(&position.path)?;
            let language = Language::from_path(&position.path).unwrap_or(Language::TypeScript);
            Some(ParsedFile::parse(text.to_owned(), language))
        });
        let Some(file) = file else { continue };
        if let Some(site) = call_site_at_function(file, position.line, position.column) {
            check_site(&site, file.text());
        }
    }
    // The whole path once, as a script's inline `data:` URL.
    let script = format!(
        "f();\n//# sourceMappingURL=data:application/json;base64,{}\n",
        base64(data)
    );
    let (line, column) = probes.last().copied().unwrap_or((0, 0));
    let script_path = workspace.join("dist/main.js");
    if let Ok(Some(found)) = original_call_site(&script_path, &script, workspace, line, column) {
        check_site(&found.site, found.file.text());
    }
}

/// Every range of a call site lies inside the text, on char boundaries.
fn check_site(site: &CallSite, text: &str) {
    let ranges = [
        Some(site.statement),
        Some(site.call),
        Some(site.underline),
        site.handler,
        site.handler_declaration,
        site.enclosing_function,
    ];
    for range in ranges.into_iter().flatten() {
        check_range(range, text);
    }
}

/// `range` is ordered and slices `text`.
pub fn check_range(range: TextRange, text: &str) {
    assert!(range.start <= range.end, "range {range:?} is backwards");
    assert!(
        range.slice(text).is_some(),
        "range {range:?} is outside the {}-byte text or splits a character",
        text.len()
    );
}

/// Standard base64 with padding, for a `data:` URL.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
