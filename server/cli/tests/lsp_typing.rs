//! `heapsight lsp` under real typing, over real stdio, on the listener-leak fixture with its
//! real capture and 3,000 lines of code added below the leak (placing it then takes long
//! enough that work done on the message loop for every edit would queue). A burst of 200
//! edits, each inserting a line at the top: the diagnostics come for the last version
//! only, moved down 200 lines; a hover and a code action sent during the burst answer at
//! once, from the last finished placement mapped through the edits; a hover inside the
//! freshly inserted text answers nothing instead of failing.
#![allow(clippy::unwrap_used)]

mod lsp_client;

use std::path::Path;
use std::time::{Duration, Instant};

use heapsight_lsp::StatusNotification;
use heapsight_tests::support::expected;
use lsp_client::{fixture_workspace as workspace, uri, Client};
use serde_json::{json, Value};
use tower_lsp_server::ls_types::notification::{DidOpenTextDocument, PublishDiagnostics};
use tower_lsp_server::ls_types::{DidOpenTextDocumentParams, TextDocumentItem, Uri};

/// Edits in the burst.
const BURST: i32 = 200;

/// A hover answered from finished work takes microseconds on the server; this leaves room
/// for a loaded machine and is far below what placing the file once per queued edit costs
/// (100 edits of a 3,100-line file).
const QUICK: Duration = Duration::from_millis(1000);

fn capabilities() -> Value {
    json!({"workspace": {"configuration": true}})
}

/// Code of the kind the fixture's file holds, `blocks` functions of 6 lines, none of them
/// a leak.
fn padding(blocks: usize) -> String {
    let mut out = String::new();
    for i in 0..blocks {
        out.push_str(&format!("\nfunction formatQuote{i}(quote) {{\n"));
        out.push_str("  const price = Number(quote.price).toFixed(2);\n");
        out.push_str("  const label = quote.symbol + '@' + price;\n");
        out.push_str(&format!("  return {{ label, at: quote.at + {i} }};\n"));
        out.push_str("}\n");
    }
    out
}

fn hover_at(client: &mut Client, uri: &Uri, line: u32, character: u32) -> i64 {
    client.send_request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
    )
}

/// The quick fixes at `line` (0-based) of the diagnostic's statement, as `(title, first
/// edit's start line)`.
fn fixes_at(client: &mut Client, uri: &Uri, line: u32) -> Vec<(String, u64)> {
    let reply = client
        .request_raw(
            "textDocument/codeAction",
            json!({
                "textDocument": {"uri": uri},
                "range": {"start": {"line": line, "character": 2}, "end": {"line": line, "character": 8}},
                "context": {"diagnostics": [], "only": ["quickfix"]},
            }),
        )
        .unwrap();
    reply
        .as_array()
        .unwrap()
        .iter()
        .map(|action| {
            let edits = action["edit"]["changes"][uri.as_str()].as_array().unwrap();
            let first = edits
                .iter()
                .map(|e| e["range"]["start"]["line"].as_u64().unwrap())
                .min()
                .unwrap();
            (action["title"].as_str().unwrap().to_string(), first)
        })
        .collect()
}

fn published_versions(client: &Client, file: &Path) -> Vec<Option<i64>> {
    let wanted = uri(file);
    client
        .received
        .iter()
        .filter(|m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == wanted
        })
        .map(|m| m["params"]["version"].as_i64())
        .collect()
}

#[test]
fn a_burst_of_edits_publishes_the_last_version_and_requests_answer_during_it() {
    let workspace = workspace("listener-leak", "typing");
    let root = workspace.0.clone();
    let main = root.join("main.js");
    let mut text = std::fs::read_to_string(&main).unwrap();
    text.push_str(&padding(503));
    assert!(text.lines().count() > 3_000);
    std::fs::write(&main, &text).unwrap();
    let leak_line = expected("listener-leak").unwrap().leaks[0].line - 1;

    let mut client = Client::start(&root, capabilities(), json!({}));
    client.await_notification::<StatusNotification>(|s| s.state == "ready");
    let main_uri = uri(&main).parse::<Uri>().unwrap();
    client.notify::<DidOpenTextDocument>(DidOpenTextDocumentParams {
        text_document: TextDocumentItem {
            uri: main_uri.clone(),
            language_id: "javascript".into(),
            version: 1,
            text,
        },
    });
    let opened = client.await_notification::<PublishDiagnostics>(|p| {
        p.uri == main_uri && p.version == Some(1) && !p.diagnostics.is_empty()
    });
    assert_eq!(opened.diagnostics[0].range.start.line, leak_line);
    let fixes_before = fixes_at(&mut client, &main_uri, leak_line);
    assert!(!fixes_before.is_empty());

    // Half the burst, a hover on the finding where it is now, the other half.
    let half = BURST / 2;
    for version in 2..=half + 1 {
        client.insert_line_at_top(main_uri.as_str(), version);
    }
    let moved = leak_line + half as u32;
    let asked = Instant::now();
    let hover = hover_at(&mut client, &main_uri, moved, 6);
    let hover = client.reply(hover);
    let waited = asked.elapsed();
    for version in half + 2..=BURST + 1 {
        client.insert_line_at_top(main_uri.as_str(), version);
    }
    assert!(waited < QUICK, "the hover waited {waited:?}");
    let result = &hover["result"];
    assert_eq!(result["range"]["start"]["line"], json!(moved), "{hover}");
    let markdown = result["contents"]["value"].as_str().unwrap_or_default();
    assert!(
        markdown.starts_with("**heapsight: listener leak**"),
        "{markdown}"
    );

    // Right after the burst, before its placement: inside the inserted text there is
    // nothing; the quick fixes are the same, moved with the text.
    let inside = hover_at(&mut client, &main_uri, 0, 4);
    let inside = client.reply(inside);
    assert_eq!(inside.get("error"), None, "{inside}");
    assert_eq!(inside["result"], Value::Null, "{inside}");
    let last_line = leak_line + BURST as u32;
    let fixes_after = fixes_at(&mut client, &main_uri, last_line);
    let shifted: Vec<(String, u64)> = fixes_before
        .iter()
        .map(|(title, line)| (title.clone(), line + BURST as u64))
        .collect();
    assert_eq!(fixes_after, shifted);

    let last = client.await_notification::<PublishDiagnostics>(|p| {
        p.uri == main_uri && p.version == Some(BURST + 1)
    });
    assert_eq!(last.diagnostics.len(), 1, "{last:?}");
    assert_eq!(last.diagnostics[0].range.start.line, last_line);
    // Anything a stale placement would have published has had time to arrive.
    client.pump(Duration::from_millis(500));
    let stale: Vec<Option<i64>> = published_versions(&client, &main)
        .into_iter()
        .filter(|v| v.is_some_and(|v| v > 1 && v <= i64::from(BURST)))
        .collect();
    assert_eq!(stale, [], "diagnostics published for stale versions");

    // Once placed, the hover answers in the last version's text too.
    let hover = hover_at(&mut client, &main_uri, last_line, 6);
    let hover = client.reply(hover);
    assert_eq!(hover["result"]["range"]["start"]["line"], json!(last_line));
    assert!(client.shutdown().success());
}
