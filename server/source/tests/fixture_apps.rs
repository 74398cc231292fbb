//! The real fixture apps: every leak in `fixtures/*/expected.json` resolves to its registering
//! statement, from the function position V8 would report (or, for a collection, its binding;
//! for a library's structure fed by a call without a callback, the calls on the holder's
//! binding or into the package, as the heap's placement candidates ask).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use heapsight_source::{
    binding_calls, call_site_at_function, collection_sites, package_calls, CallSite, Language,
    ParsedFile,
};
use std::path::{Path, PathBuf};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// V8's position for the handler that starts on `line_text`: the last function on the line
/// (`(` of an arrow's or function's parameters, or a bare arrow parameter), as a UTF-16 column.
fn handler_position(line_text: &str) -> Option<u32> {
    let arrow = line_text.rfind("=>")?;
    let before = line_text[..arrow].trim_end();
    let start = if before.ends_with(')') {
        let mut depth = 0;
        let mut open = None;
        for (at, ch) in before.char_indices().rev() {
            match ch {
                ')' => depth += 1,
                '(' => {
                    depth -= 1;
                    if depth == 0 {
                        open = Some(at);
                        break;
                    }
                }
                _ => {}
            }
        }
        open?
    } else {
        before
            .rfind(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '$'))
            .map_or(0, |at| at + 1)
    };
    Some(line_text[..start].encode_utf16().count() as u32)
}

/// The packages `text` loads with `require('x')` or `from 'x'`.
fn required_packages(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for marker in ["require('", "from '"] {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            if let Some(end) = rest.find('\'') {
                let spec = &rest[..end];
                if !spec.starts_with('.') && !spec.starts_with("node:") {
                    out.push(spec.to_owned());
                }
            }
        }
    }
    out
}

/// Resolve one expected leak and describe what we found, for comparison with the expectation.
fn resolve(app: &str, leak: &serde_json::Value) -> String {
    let file_name = leak["file"].as_str().unwrap();
    let path = fixtures_dir().join(app).join(file_name);
    let text = std::fs::read_to_string(&path).unwrap();
    let language = Language::from_path(&path).unwrap();
    let parsed = ParsedFile::parse(text, language);
    let line = leak["line"].as_u64().unwrap() as u32 - 1;
    let line_text = parsed.index().line_text(line).unwrap().to_owned();
    let site: Option<CallSite> = match handler_position(&line_text) {
        Some(column) => call_site_at_function(&parsed, line, column),
        None => {
            let on_line =
                |site: &CallSite| parsed.index().position_utf16(site.statement.start).0 == line;
            let holder = leak["holder"].as_str().unwrap_or("");
            // `httpDuration.hashMap` is fed through `httpDuration`.
            let root = holder.split('.').next().unwrap_or(holder);
            collection_sites(&parsed, holder)
                .mutations
                .into_iter()
                .find(on_line)
                .or_else(|| {
                    binding_calls(&parsed, root)
                        .into_iter()
                        .map(|(site, _)| site)
                        .find(on_line)
                })
                .or_else(|| {
                    // The leak's package, else (a twin's lookalike) any the file requires.
                    let packages: Vec<String> = match leak["package"].as_str() {
                        Some(package) => vec![package.to_owned()],
                        None => required_packages(parsed.text()),
                    };
                    packages
                        .iter()
                        .find_map(|p| package_calls(&parsed, p).into_iter().find(on_line))
                })
        }
    };
    let Some(site) = site else {
        return format!("{app}: no call site");
    };
    let (found_line, _) = parsed.index().position_utf16(site.statement.start);
    let statement_line = parsed
        .index()
        .line_text(found_line)
        .unwrap()
        .trim()
        .to_owned();
    format!(
        "{app}: line {} {:?} `{}` receiver={:?} long_lived={:?} event={:?}",
        found_line + 1,
        site.kind,
        statement_line,
        site.receiver,
        site.receiver_long_lived,
        site.event,
    )
}

#[test]
fn every_fixture_leak_resolves_to_its_registering_statement() {
    let mut apps: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("expected.json").is_file())
        .collect();
    apps.sort();
    let mut checked = 0;
    let mut failures = Vec::new();
    for app_dir in apps {
        let app = app_dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(app_dir.join("expected.json")).unwrap())
                .unwrap();
        for leak in expected["leaks"].as_array().unwrap() {
            checked += 1;
            let got = resolve(&app, leak);
            let want_line = format!("line {} ", leak["line"]);
            let want_code = format!("`{}`", leak["code"].as_str().unwrap());
            println!("{got}");
            if !got.contains(&want_line) || !got.contains(&want_code) {
                failures.push(format!("{got}\n   expected {want_line}{want_code}"));
            }
            if let Some(holder) = leak["holder"].as_str() {
                let is_library = leak.get("library").is_some();
                if !is_library && !got.contains(&format!("receiver=Some({holder:?})")) {
                    failures.push(format!("{got}\n   expected receiver {holder}"));
                }
            }
            if let Some(event) = leak["event"].as_str() {
                if !got.contains(&format!("event=Some({event:?})")) {
                    failures.push(format!("{got}\n   expected event {event}"));
                }
            }
        }
    }
    assert!(
        checked >= 8,
        "the leaky fixture apps expect at least eight leaks, found {checked}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn lookalikes_resolve_to_their_statements_too() {
    // The healthy controls and the near misses must be placed as exactly as the leaks, so the
    // analysis can tell them apart on the right line. Lines without a function resolve through
    // the collection they grow; listeners with a named handler are covered in `call_sites.rs`.
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut apps: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("expected.json").is_file())
        .collect();
    apps.sort();
    for app_dir in apps {
        let app = app_dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(app_dir.join("expected.json")).unwrap())
                .unwrap();
        for lookalike in expected["lookalikes"].as_array().unwrap() {
            let code = lookalike["code"].as_str().unwrap();
            let has_function = handler_position(code).is_some();
            let mut leak = lookalike.clone();
            if !has_function {
                if lookalike["kind"] != "collection" {
                    continue;
                }
                // `this.members.set(...)` grows `this.members`: the callee less its method.
                let callee = code.split('(').next().unwrap();
                let binding = callee.rsplit_once('.').map_or(callee, |(b, _)| b);
                leak["holder"] = serde_json::Value::from(binding);
            }
            checked += 1;
            let got = resolve(&app, &leak);
            // A lookalike's `code` is text on the line, not always the whole line.
            let want = format!("line {} ", lookalike["line"]);
            let on_line = got
                .split_once('`')
                .and_then(|(_, rest)| rest.rsplit_once('`'))
                .is_some_and(|(line, _)| line.contains(code));
            if !got.contains(&want) || !on_line {
                failures.push(format!("{got}\n   expected {want}`{code}`"));
            }
        }
    }
    println!("{checked} lookalikes checked");
    assert!(checked >= 15, "only {checked} lookalikes checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
