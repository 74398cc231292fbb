//! Source maps: from a compiled script's function position to the call site in the original
//! TypeScript, through a map file (the ts-presence-leak fixture, compiled by tsc) or an inline
//! `data:` URL.
#![allow(clippy::unwrap_used)]

use heapsight_source::sourcemaps::{
    locate, original_call_site, source_mapping_url, MapSource, OriginalPosition, ScriptMap,
};
use heapsight_source::{collection_sites, Language, ParsedFile, SourceError};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/ts-presence-leak")
        .canonicalize()
        .unwrap()
}

/// Where the function starting on `line_text` is: the `(` before the last `=>`.
fn arrow_paren(line_text: &str) -> u32 {
    let arrow = line_text.rfind("=>").unwrap();
    let open = line_text[..arrow].rfind('(').unwrap();
    line_text[..open].encode_utf16().count() as u32
}

#[test]
fn compiled_fixture_maps_to_the_typescript_call_site() {
    let root = fixture();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("expected.json")).unwrap())
            .unwrap();
    let leak = &expected["leaks"][0];
    let compiled_line = leak["compiled"]["line"].as_u64().unwrap() as u32 - 1;
    let script_path = root.join(leak["compiled"]["file"].as_str().unwrap());
    let script = std::fs::read_to_string(&script_path).unwrap();
    let line_text = script.split('\n').nth(compiled_line as usize).unwrap();
    let found = original_call_site(
        &script_path,
        &script,
        &root,
        compiled_line,
        arrow_paren(line_text),
    )
    .unwrap()
    .unwrap();
    let statement_line = found
        .file
        .index()
        .position_utf16(found.site.statement.start)
        .0;
    let statement = found.file.index().line_text(statement_line).unwrap().trim();
    assert_eq!(
        format!(
            "{} L{} `{}` {:?}",
            found.position.path.strip_prefix(&root).unwrap().display(),
            statement_line + 1,
            statement,
            found.site.receiver
        ),
        format!(
            "{} L{} `{}` Some({:?})",
            leak["file"].as_str().unwrap(),
            leak["line"],
            leak["code"].as_str().unwrap(),
            leak["holder"].as_str().unwrap()
        )
    );
}

#[test]
fn inline_map_with_embedded_source() {
    let original = "const bus = new EventEmitter();\nexport function watch(): void {\n  bus.on('tick', (n: number) => {\n    console.log(n);\n  });\n}\n";
    let generated = "const bus = new EventEmitter();\nexport function watch() {\n    bus.on('tick', (n) => {\n        console.log(n);\n    });\n}\n";
    let mut builder = sourcemap::SourceMapBuilder::new(Some("watch.js"));
    let source = builder.add_source("watch.ts");
    builder.set_source_contents(source, Some(original));
    // Line 2: `bus.on` (col 4 -> 2) and the arrow's `(` (col 19 -> 17).
    builder.add_raw(2, 4, 2, 2, Some(source), None, false);
    builder.add_raw(2, 19, 2, 17, Some(source), None, false);
    let url = builder.into_sourcemap().to_data_url().unwrap();
    let script = format!("{generated}//# sourceMappingURL={url}\n");
    let dir = std::env::temp_dir().join("heapsight-source-inline-map");
    let script_path = dir.join("watch.js");
    assert!(matches!(
        locate(&script_path, &script),
        Some(MapSource::Inline(_))
    ));
    let found = original_call_site(&script_path, &script, &dir, 2, 19)
        .unwrap()
        .unwrap();
    assert_eq!(found.position.path, dir.join("watch.ts"));
    assert_eq!((found.position.line, found.position.column), (2, 17));
    let statement = &found.file.text()[found.site.statement.start..found.site.statement.end];
    assert!(
        statement.starts_with("bus.on('tick', (n: number) => {"),
        "{statement}"
    );
    assert_eq!(found.site.event.as_deref(), Some("tick"));
}

#[test]
fn mapping_url_comments() {
    assert_eq!(
        source_mapping_url("x\n//# sourceMappingURL=a.js.map\n"),
        Some("a.js.map")
    );
    assert_eq!(
        source_mapping_url("//@ sourceMappingURL=old.map"),
        Some("old.map")
    );
    assert_eq!(source_mapping_url("let a = 1;"), None);
    let script = Path::new("/w/dist/main.js");
    assert_eq!(
        locate(script, "//# sourceMappingURL=../maps/main.js.map"),
        Some(MapSource::File(PathBuf::from("/w/maps/main.js.map")))
    );
    for remote in [
        "https://cdn.example/main.js.map",
        "http://10.0.0.5/main.js.map",
        "HTTP://cdn.example/main.js.map",
        "ftp://cdn.example/main.js.map",
        "//cdn.example/main.js.map",
        "file://build-host/w/dist/main.js.map",
    ] {
        let text = format!("//# sourceMappingURL={remote}");
        assert_eq!(locate(script, &text), None, "{remote}");
    }
    assert_eq!(
        locate(script, "//# sourceMappingURL=file:///w/dist/main.js.map"),
        Some(MapSource::File(PathBuf::from("/w/dist/main.js.map")))
    );
    assert_eq!(
        locate(script, "//# sourceMappingURL=main.js.map?v=2#x"),
        Some(MapSource::File(PathBuf::from("/w/dist/main.js.map")))
    );
    assert!(matches!(
        locate(
            script,
            "//# sourceMappingURL=data:application/json;base64,e30="
        ),
        Some(MapSource::Inline(_))
    ));
}

#[test]
fn a_map_outside_the_workspace_is_not_read() {
    let script = "f();\n//# sourceMappingURL=../../elsewhere/main.js.map\n";
    let error = original_call_site(
        Path::new("/w/app/main.js"),
        script,
        Path::new("/w/app"),
        0,
        0,
    )
    .unwrap_err();
    assert!(matches!(error, SourceError::OutsideWorkspace(_)), "{error}");
}

/// Source maps the fuzzer found (kept under `fuzz/regressions/`). `sourcemap-1.bin` is an index
/// map whose section offset, added to a column that decodes negative (a `u32` near 2^32),
/// overflowed inside the `sourcemap` crate's flattening: a panic with overflow checks, a
/// wrapped column without. It must be refused with a typed error.
#[test]
fn fuzz_regressions_are_refused() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let bytes = std::fs::read(dir.join("sourcemap-1.bin")).unwrap();
    let err = ScriptMap::from_json(&bytes, PathBuf::from("/w")).unwrap_err();
    assert!(
        matches!(&err, SourceError::SourceMap { message, .. } if message.contains("past 2^32")),
        "{err}"
    );
    // The same offsets with columns that fit still flatten.
    let fits = br#"{"version":3,"sections":[{"offset":{"line":2,"column":4},"map":{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}}]}"#;
    assert!(ScriptMap::from_json(fits, PathBuf::from("/w")).is_ok());
}

/// (0-based line, UTF-16 column) of V8's position for the function whose parameter list
/// follows `before` in `script`: its `(`.
fn v8_position(script: &str, before: &str) -> (u32, u32) {
    let at = script.find(before).unwrap() + before.len();
    assert_eq!(&script[at..at + 1], "(", "{before}");
    let line_start = script[..at].rfind('\n').map_or(0, |newline| newline + 1);
    let line = script[..at].matches('\n').count() as u32;
    (line, script[line_start..at].encode_utf16().count() as u32)
}

/// The 0-based line of `text` holding `needle`.
fn line_holding(text: &str, needle: &str) -> u32 {
    text.split('\n')
        .position(|line| line.contains(needle))
        .unwrap() as u32
}

/// tsx (`node --import tsx main.ts`, `npx tsx main.ts`) gives V8 its esbuild output as one
/// line of JavaScript inside a wrapper, under the `.ts` file's own URL, with an inline map of
/// that file. esbuild's helpers come first on that line, before any mapping, and they share
/// the module's context: V8's anchor for a module-level `Map` was `__copyProps`, which mapped
/// nowhere, so the one-line JavaScript stood for `main.ts` and the leak landed on `main.ts:1`.
/// Code the compiler added belongs to the file (at its start); the user's functions map to
/// their lines; the growing call is found in the TypeScript. `data/tsx/store.v8.js` is tsx
/// 4.23.15's real output for `data/tsx/store.ts` (`data/tsx/dump.mjs` says how it was taken).
#[test]
fn tsx_one_line_output_maps_to_the_typescript_file() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tsx");
    let typescript = std::fs::read_to_string(data.join("store.ts")).unwrap();
    let script = std::fs::read_to_string(data.join("store.v8.js")).unwrap();
    // Where tsx ran it: its map names the file by its absolute path.
    let root = Path::new("/srv/app");
    let script_path = root.join("store.ts");
    let program = script.split('\n').nth(1).unwrap();
    assert!(
        program.contains("__copyProps=(") && program.contains("items.set(id,item)"),
        "tsx's helpers and the program share one line"
    );
    let source = locate(&script_path, &script).unwrap();
    assert!(matches!(source, MapSource::Inline(_)));
    let map = ScriptMap::load(&source, root, root).unwrap();
    assert_eq!(map.embedded_source(&script_path), Some(typescript.as_str()));

    // esbuild's helper: the file, at its start.
    let (line, column) = v8_position(&script, "__copyProps=");
    let helper = map.original_position(line, column).unwrap();
    assert_eq!(
        helper,
        OriginalPosition {
            path: script_path.clone(),
            line: 0,
            column: 0
        }
    );
    // No call site is claimed for it: the file's first line is a comment.
    assert!(
        original_call_site(&script_path, &script, root, line, column)
            .unwrap()
            .is_none()
    );
    // The growing call, found where a collection's finding looks for it: in the TypeScript.
    let file = ParsedFile::parse(typescript.clone(), Language::TypeScript);
    let grows = collection_sites(&file, "items").mutations;
    let statement = grows.first().unwrap().statement;
    assert_eq!(
        &typescript[statement.start..statement.end],
        "items.set(id, item);"
    );

    // The user's functions, further along the same generated line, map to their own lines.
    let (line, column) = v8_position(&script, "function keep");
    let keep = map.original_position(line, column).unwrap();
    assert_eq!(
        (keep.path.as_path(), keep.line),
        (
            script_path.as_path(),
            line_holding(&typescript, "export function keep(")
        )
    );
    let (line, column) = v8_position(&script, "http.createServer(");
    let found = original_call_site(&script_path, &script, root, line, column)
        .unwrap()
        .unwrap();
    let handler_line = line_holding(&typescript, "http.createServer((req");
    assert_eq!(found.position.line, handler_line);
    assert_eq!(
        found.file.index().line_of(found.site.statement.start),
        handler_line
    );
}

/// A bundle's map names several files: code no mapping covers belongs to none of them.
#[test]
fn unmapped_code_of_a_bundle_maps_nowhere() {
    let mut builder = sourcemap::SourceMapBuilder::new(Some("bundle.js"));
    let a = builder.add_source("a.ts");
    let b = builder.add_source("b.ts");
    builder.add_raw(1, 40, 0, 0, Some(a), None, false);
    builder.add_raw(1, 80, 3, 2, Some(b), None, false);
    let mut json = Vec::new();
    builder.into_sourcemap().to_writer(&mut json).unwrap();
    let map = ScriptMap::from_json(&json, PathBuf::from("/w/dist")).unwrap();
    assert_eq!(map.original_position(1, 10), None);
    assert_eq!(map.original_position(0, 0), None);
    let mapped = map.original_position(1, 90).unwrap();
    assert_eq!(
        (mapped.path, mapped.line, mapped.column),
        (PathBuf::from("/w/dist/b.ts"), 3, 2)
    );
}
