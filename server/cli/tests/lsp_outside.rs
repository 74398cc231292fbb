//! What a snapshot names is data: `heapsight lsp` on a capture whose script URL points at a
//! file outside the workspace (with a source map next to it) must not open that file or its
//! map, and nothing the server says may carry the file's contents. Reads are seen with
//! inotify (`IN_OPEN`/`IN_ACCESS` on the outside folder), not with timestamps.
#![allow(clippy::unwrap_used)]

mod lsp_client;

use std::path::Path;

use heapsight_lsp::StatusNotification;
use heapsight_tests::support::fixture_snapshots;
use inotify::{Inotify, WatchMask};
use lsp_client::{fixture_workspace, Client};
use serde_json::json;

/// The opens and reads inotify saw since the last call, as `name: mask` lines.
fn accesses(inotify: &mut Inotify) -> Vec<String> {
    let mut buffer = [0u8; 4096];
    let mut seen = Vec::new();
    while let Ok(events) = inotify.read_events(&mut buffer) {
        let mut any = false;
        for event in events {
            any = true;
            seen.push(format!("{:?}: {:?}", event.name, event.mask));
        }
        if !any {
            break;
        }
    }
    seen
}

/// `from` with every occurrence of `old` replaced by `new`, written to `to`.
fn rewrite(from: &Path, to: &Path, old: &str, new: &str) -> usize {
    let text = std::fs::read_to_string(from).unwrap();
    let count = text.matches(old).count();
    std::fs::write(to, text.replace(old, new)).unwrap();
    count
}

#[test]
fn a_script_url_outside_the_workspace_is_not_read() {
    let workspace = fixture_workspace("listener-leak", "outside");
    let root = workspace.0.clone();
    let outside = std::env::temp_dir().join(format!("heapsight-outside-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&outside);
    std::fs::create_dir_all(&outside).unwrap();
    // The app as it would be elsewhere, under a name the workspace does not have, with a
    // canary and a source map pointing further out.
    let token = format!("OUTSIDE-CANARY-{}", std::process::id());
    let secret = outside.join("secret-main.js");
    let main = std::fs::read_to_string(root.join("main.js")).unwrap();
    std::fs::write(
        &secret,
        format!("{main}// {token}\n//# sourceMappingURL=secret-main.js.map\n"),
    )
    .unwrap();
    std::fs::write(
        outside.join("secret-main.js.map"),
        format!(r#"{{"version":3,"sources":["../../{token}.ts"],"names":[],"mappings":"AAAA"}}"#),
    )
    .unwrap();
    let triple = fixture_snapshots("listener-leak", 20).unwrap();
    let script = heapsight_tests::support::fixture_dir("listener-leak")
        .unwrap()
        .join("main.js");
    let script = script.display().to_string();
    let mut renamed = 0;
    for (from, label) in [(&triple.a, "A"), (&triple.b, "B"), (&triple.c, "C")] {
        let to = root.join(format!(".heapsight/{label}.heapsnapshot"));
        renamed += rewrite(from, &to, &script, &secret.display().to_string());
    }
    assert!(renamed >= 3, "the snapshots name {script} {renamed} times");
    // Nothing may have been read from the outside folder so far, and nothing from now on.
    let mut inotify = Inotify::init().unwrap();
    inotify
        .watches()
        .add(&outside, WatchMask::OPEN | WatchMask::ACCESS)
        .unwrap();

    let mut client = Client::start(&root, json!({}), json!({}));
    let status = client.await_notification::<StatusNotification>(|s| s.state != "analyzing");
    assert_eq!(status.state, "ready", "{}", client.statuses());
    let report = client
        .request_raw(
            "workspace/executeCommand",
            json!({"command": "heapsight.showReport"}),
        )
        .unwrap();
    let markdown = report["markdown"].as_str().unwrap_or_default();
    assert!(markdown.contains("listener"), "{markdown}");
    let hover = client.request_raw(
        "textDocument/hover",
        json!({"textDocument": {"uri": format!("file://{}", secret.display())}, "position": {"line": 39, "character": 3}}),
    );
    assert_eq!(hover, Ok(serde_json::Value::Null));
    let everything = serde_json::to_string(&client.received).unwrap();
    assert!(client.shutdown().success());
    assert!(
        !everything.contains(&token),
        "the outside file's contents came back"
    );
    let seen = accesses(&mut inotify);
    assert!(
        seen.is_empty(),
        "files outside the workspace were opened because a snapshot named them: {seen:?}"
    );
    let _ = std::fs::remove_dir_all(&outside);
}
