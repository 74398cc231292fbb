//! `heapsight lsp` with several workspace folders over real stdio: each folder has its own
//! settings (asked with its `scopeUri`), snapshot folder, capture, analysis, diagnostics and
//! status entry; `workspace/didChangeWorkspaceFolders` adds a folder's diagnostics and
//! clears them when it goes.
#![allow(clippy::unwrap_used)]

mod lsp_client;

use std::path::Path;

use heapsight_lsp::StatusNotification;
use heapsight_tests::support::expected;
use lsp_client::{fixture_workspace as workspace, uri, Client};
use serde_json::{json, Value};
use tower_lsp_server::ls_types::notification::PublishDiagnostics;

fn capabilities() -> Value {
    json!({
        "window": {"workDoneProgress": true},
        "workspace": {"configuration": true, "didChangeWatchedFiles": {"dynamicRegistration": false}},
    })
}

/// The line (1-based) of the first diagnostic published for `app`'s leak file under `root`.
fn diagnostic_line(client: &mut Client, root: &Path, app: &str) -> u32 {
    let leak = &expected(app).unwrap().leaks[0];
    let wanted = uri(&root.join(&leak.file));
    let published = client.await_notification::<PublishDiagnostics>(|p| {
        p.uri.as_str() == wanted && !p.diagnostics.is_empty()
    });
    published.diagnostics[0].range.start.line + 1
}

/// `folder: state findings` for each folder entry of `status`.
fn entries(status: &heapsight_lsp::Status, roots: &[&Path]) -> String {
    status
        .folders
        .iter()
        .map(|f| {
            let mut name = f.folder.clone();
            for (n, root) in roots.iter().enumerate() {
                name = name.replace(&uri(root), &format!("<{n}>"));
            }
            format!("{name}: {} {}", f.state, f.findings)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn two_folders_each_with_its_own_settings_and_capture_get_their_own_diagnostics() {
    let first = workspace("listener-leak", "folders-first");
    let second = workspace("interval-leak", "folders-second");
    let (a, b) = (first.0.clone(), second.0.clone());
    // Each capture command puts its folder's triple in place; the second folder keeps its
    // snapshots in `snaps/`, a setting only its own `workspace/configuration` item has.
    std::fs::rename(a.join(".heapsight"), a.join("staged")).unwrap();
    std::fs::rename(b.join(".heapsight"), b.join("staged")).unwrap();
    std::fs::create_dir_all(b.join("snaps")).unwrap();
    let command = |to: &str| json!(["sh", "-c", format!("mv staged/*.heapsnapshot {to}/")]);
    let mut client = Client::start_in(&[], &[&a, &b], capabilities(), json!({}));
    client.folder_settings.insert(
        uri(&a),
        json!({"captureCommand": ["sh", "-c", "mkdir -p .heapsight && mv staged/*.heapsnapshot .heapsight/"]}),
    );
    client.folder_settings.insert(
        uri(&b),
        json!({"snapshotDir": "snaps", "captureCommand": command("snaps")}),
    );
    let idle = client.await_notification::<StatusNotification>(|s| {
        s.folders.len() == 2 && s.folders.iter().all(|f| f.state == "idle")
    });
    assert_eq!(entries(&idle, &[&a, &b]), "<0>: idle 0, <1>: idle 0");
    for root in [&a, &b] {
        let reply = client
            .request_raw(
                "workspace/executeCommand",
                json!({"command": "heapsight.capture", "arguments": [uri(root)]}),
            )
            .unwrap();
        assert_eq!(reply["folder"], json!(uri(root)), "{reply}");
    }
    let lines = (
        diagnostic_line(&mut client, &a, "listener-leak"),
        diagnostic_line(&mut client, &b, "interval-leak"),
    );
    let ready = client.await_notification::<StatusNotification>(|s| {
        s.folders.len() == 2 && s.folders.iter().all(|f| f.state == "ready")
    });
    assert_eq!(
        (
            lines,
            entries(&ready, &[&a, &b]),
            ready.state.as_str(),
            ready.findings
        ),
        (
            (
                expected("listener-leak").unwrap().leaks[0].line,
                expected("interval-leak").unwrap().leaks[0].line
            ),
            "<0>: ready 1, <1>: ready 1".to_string(),
            "ready",
            1
        )
    );
    // Each folder asked for its own settings.
    let scopes: Vec<String> = client
        .server_requests
        .iter()
        .filter(|(m, _)| m == "workspace/configuration")
        .flat_map(|(_, p)| p["items"].as_array().cloned().unwrap_or_default())
        .map(|item| item["scopeUri"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(scopes, vec![uri(&a), uri(&b)]);
    assert!(client.shutdown().success());
}

#[test]
fn a_folder_added_gets_its_diagnostics_and_loses_them_when_removed() {
    let first = workspace("listener-leak", "folders-added-first");
    let second = workspace("interval-leak", "folders-added-second");
    let (a, b) = (first.0.clone(), second.0.clone());
    let mut client = Client::start(&a, capabilities(), json!({}));
    client.await_notification::<StatusNotification>(|s| s.state == "ready");
    assert_eq!(
        diagnostic_line(&mut client, &a, "listener-leak"),
        expected("listener-leak").unwrap().leaks[0].line
    );
    let folder = json!({"uri": uri(&b), "name": "second"});
    client.notify_raw(
        "workspace/didChangeWorkspaceFolders",
        json!({"event": {"added": [folder], "removed": []}}),
    );
    let added_line = diagnostic_line(&mut client, &b, "interval-leak");
    let both = client.await_notification::<StatusNotification>(|s| {
        s.folders.len() == 2 && s.folders.iter().all(|f| f.state == "ready")
    });
    client.notify_raw(
        "workspace/didChangeWorkspaceFolders",
        json!({"event": {"added": [], "removed": [folder]}}),
    );
    let leak = &expected("interval-leak").unwrap().leaks[0];
    let wanted = uri(&b.join(&leak.file));
    client.await_notification::<PublishDiagnostics>(|p| {
        p.uri.as_str() == wanted && p.diagnostics.is_empty()
    });
    let after = client
        .await_notification::<StatusNotification>(|s| s.folders.is_empty() && s.state == "ready");
    // A file of the removed folder is outside the workspace again: no hover.
    let hover = client.request_raw(
        "textDocument/hover",
        json!({"textDocument": {"uri": wanted}, "position": {"line": leak.line - 1, "character": 4}}),
    );
    assert_eq!(
        (
            added_line,
            entries(&both, &[&a, &b]),
            after.state.as_str(),
            after.findings,
            hover
        ),
        (
            leak.line,
            "<0>: ready 1, <1>: ready 1".to_string(),
            "ready",
            1,
            Ok(Value::Null)
        )
    );
    assert!(client.shutdown().success());
}
