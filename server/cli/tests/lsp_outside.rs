//! What a snapshot or a capture names is data: `heapsight lsp` on a capture whose script URL
//! points at a file outside the workspace (with a source map next to it) must not open that
//! file or its map, and nothing the server says may carry the file's contents. Reads are seen
//! with inotify (`IN_OPEN`/`IN_ACCESS` on the outside folder), not with timestamps. A capture
//! whose manifest and snapshots name `/etc/passwd`, and a `latest` naming a folder outside
//! `.heapsight/`, are watched with strace, since other processes open `/etc/passwd` too.
#![allow(clippy::unwrap_used)]

mod lsp_client;

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Waits for the analysis, checks the report names the listener leak, and returns the hover
/// at `line` of the file at `path` (outside the workspace: expected to be empty).
fn ready_then_hover(
    client: &mut Client,
    path: &str,
    line: u32,
) -> Result<serde_json::Value, serde_json::Value> {
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
    client.request_raw(
        "textDocument/hover",
        json!({"textDocument": {"uri": format!("file://{path}")}, "position": {"line": line, "character": 3}}),
    )
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
    let hover = ready_then_hover(&mut client, &secret.display().to_string(), 39);
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

/// The files `trace` (strace's `-o` output) shows opened, one per line.
fn opened(trace: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(trace).unwrap();
    text.lines()
        .filter(|l| l.contains("open"))
        .filter_map(|l| l.split('"').nth(1))
        .map(str::to_owned)
        .collect()
}

/// `strace` arguments that log every file `open` to `trace`, following threads and children.
fn strace_opens(trace: &Path) -> Vec<String> {
    [
        "strace",
        "-f",
        "-qq",
        "-e",
        "trace=open,openat,openat2",
        "-o",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([trace.display().to_string()])
    .collect()
}

#[test]
fn a_capture_naming_etc_passwd_opens_nothing_outside() {
    let workspace = fixture_workspace("listener-leak", "passwd");
    let root = workspace.0.clone();
    let passwd = "/etc/passwd";
    // The fixture's capture as if its app had been /etc/passwd: the snapshots name it, and the
    // manifest lists it with the app's source and hash.
    let capture = root.join(".heapsight/captures/20261204T000000Z");
    std::fs::create_dir_all(&capture).unwrap();
    let triple = fixture_snapshots("listener-leak", 20).unwrap();
    let app = heapsight_tests::support::fixture_dir("listener-leak")
        .unwrap()
        .join("main.js");
    let mut renamed = 0;
    for (from, label) in [(&triple.a, "A"), (&triple.b, "B"), (&triple.c, "C")] {
        let to = capture.join(format!("{label}.heapsnapshot"));
        renamed += rewrite(from, &to, &app.display().to_string(), passwd);
        std::fs::remove_file(root.join(format!(".heapsight/{label}.heapsnapshot"))).unwrap();
    }
    assert!(
        renamed >= 3,
        "the snapshots name {} {renamed} times",
        app.display()
    );
    let source = std::fs::read_to_string(&app).unwrap();
    let manifest = json!({
        "version": 1,
        "finished_at": "2026-12-04T00:00:00Z",
        "scripts": [{
            "id": "1",
            "url": format!("file://{passwd}"),
            "path": passwd,
            "sha256": heapsight_ide::sha256_hex(&source),
            "source": source,
        }],
    });
    std::fs::write(capture.join("manifest.json"), manifest.to_string()).unwrap();
    // A decoy capture outside the workspace that `latest` names: never to be opened.
    let decoy = std::env::temp_dir().join(format!("heapsight-decoy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&decoy);
    std::fs::create_dir_all(&decoy).unwrap();
    std::fs::write(decoy.join("manifest.json"), manifest.to_string()).unwrap();
    for (from, label) in [(&triple.a, "A"), (&triple.b, "B"), (&triple.c, "C")] {
        std::fs::copy(from, decoy.join(format!("{label}.heapsnapshot"))).unwrap();
    }
    std::fs::write(
        root.join(".heapsight/latest"),
        format!("{}\n", decoy.display()),
    )
    .unwrap();
    let secret_line = std::fs::read_to_string(passwd)
        .unwrap()
        .lines()
        .next()
        .unwrap_or("root:x:0:0")
        .to_owned();
    let outside = |opened: &[String]| -> Vec<String> {
        opened
            .iter()
            .filter(|p| p.as_str() == passwd || Path::new(p).starts_with(&decoy))
            .cloned()
            .collect()
    };

    // The command line, on the capture folder; with --read-outside-root it does read the
    // file, which shows the trace sees such an open.
    let analyze = |extra: &[&str], trace: &PathBuf| {
        let mut args = strace_opens(trace);
        args.push(env!("CARGO_BIN_EXE_heapsight").to_owned());
        let out = Command::new(&args[0])
            .args(&args[1..])
            .args(["analyze", "--format", "json", "--root"])
            .arg(&root)
            .arg(&capture)
            .args(extra)
            .output()
            .expect("strace runs (Debian package strace; tests/setup-editors.sh installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (report, String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let trace = root.join("cli.trace");
    let (report, stdout) = analyze(&[], &trace);
    let finding = &report["findings"][0];
    assert_eq!(finding["kind"], "listener", "{report}");
    assert_eq!(
        finding["file"], passwd,
        "placed by V8's position: {finding}"
    );
    assert!(!stdout.contains(&secret_line));
    let seen = outside(&opened(&trace));
    assert!(seen.is_empty(), "the command line opened {seen:?}");
    let control = root.join("control.trace");
    let _ = analyze(&["--read-outside-root"], &control);
    assert!(
        opened(&control).iter().any(|p| p == passwd),
        "with --read-outside-root the trace shows /etc/passwd opened"
    );

    // The language server: it analyzes the capture inside the workspace, publishes nothing
    // for /etc/passwd, and opens neither it nor the decoy.
    let trace = root.join("lsp.trace");
    let wrapper = strace_opens(&trace);
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let mut client = Client::start_under(&wrapper, &root, json!({}), json!({}));
    let hover = ready_then_hover(&mut client, passwd, 0);
    assert_eq!(hover, Ok(serde_json::Value::Null));
    let everything = serde_json::to_string(&client.received).unwrap();
    let published_outside = client.received.iter().any(|m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"]
                .as_str()
                .is_some_and(|u| u.contains(passwd))
    });
    assert!(client.shutdown().success());
    assert!(!everything.contains(&secret_line));
    assert!(
        !published_outside,
        "diagnostics were published for /etc/passwd"
    );
    let seen = outside(&opened(&trace));
    assert!(seen.is_empty(), "the language server opened {seen:?}");
    assert!(
        opened(&trace)
            .iter()
            .any(|p| p.ends_with("20261204T000000Z/C.heapsnapshot")),
        "the trace shows the capture inside the workspace read"
    );
    let _ = std::fs::remove_dir_all(&decoy);
}
