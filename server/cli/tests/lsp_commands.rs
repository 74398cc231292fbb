//! `heapsight lsp`'s long commands over real stdio: `heapsight.capture` returns at once and
//! runs a real `heapsight capture` of a fixture app in the background with work-done
//! progress (a hover answers meanwhile), its cancel button and a shutdown stop it and the
//! app it started, a second one is refused; `heapsight.showReport` opens the report at a
//! finding's heading; a bad setting reads the same from `initializationOptions` as from
//! `workspace/configuration`.
#![allow(clippy::unwrap_used)]

mod lsp_client;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use heapsight_lsp::StatusNotification;
use heapsight_tests::support::expected;
use lsp_client::{fixture_workspace as workspace, uri, Client};
use serde_json::{json, Value};
use tower_lsp_server::ls_types::notification::{Progress, PublishDiagnostics, ShowMessage};
use tower_lsp_server::ls_types::request::{CodeLensRequest, HoverRequest};
use tower_lsp_server::ls_types::{
    CodeLensParams, HoverParams, MessageType, Position, ProgressParams, ProgressParamsValue,
    TextDocumentIdentifier, TextDocumentPositionParams, WorkDoneProgress,
};

fn capabilities() -> Value {
    json!({
        "window": {"workDoneProgress": true, "showDocument": {"support": true}},
        "workspace": {"configuration": true, "didChangeWatchedFiles": {"dynamicRegistration": false}},
    })
}

fn heapsight() -> &'static str {
    env!("CARGO_BIN_EXE_heapsight")
}

fn doc(path: &Path) -> TextDocumentIdentifier {
    TextDocumentIdentifier {
        uri: uri(path).parse().unwrap(),
    }
}

/// `token`'s progress of kind `kind` (`begin`, `report`, `end`).
fn progress(client: &mut Client, token: &str, kind: &str) -> ProgressParams {
    let token = json!(token);
    client.await_notification::<Progress>(|p| {
        json!(p.token) == token
            && matches!(
                (&p.value, kind),
                (
                    ProgressParamsValue::WorkDone(WorkDoneProgress::Begin(_)),
                    "begin"
                ) | (
                    ProgressParamsValue::WorkDone(WorkDoneProgress::Report(_)),
                    "report"
                ) | (
                    ProgressParamsValue::WorkDone(WorkDoneProgress::End(_)),
                    "end"
                )
            )
    })
}

fn message(p: &ProgressParams) -> String {
    match &p.value {
        ProgressParamsValue::WorkDone(WorkDoneProgress::Begin(b)) => b.message.clone(),
        ProgressParamsValue::WorkDone(WorkDoneProgress::Report(r)) => r.message.clone(),
        ProgressParamsValue::WorkDone(WorkDoneProgress::End(e)) => e.message.clone(),
    }
    .unwrap_or_default()
}

/// Starts `heapsight.capture` and returns its reply and how long it took.
fn start_capture(client: &mut Client) -> (Result<Value, Value>, Duration) {
    let asked = Instant::now();
    let reply = client.request_raw(
        "workspace/executeCommand",
        json!({"command": "heapsight.capture"}),
    );
    (reply, asked.elapsed())
}

#[test]
fn capture_returns_at_once_reports_its_phases_and_the_new_capture_is_analyzed() {
    // The app beside the load runner its load.js needs, as the fixtures lay it out.
    let scratch = std::env::temp_dir().join(format!(
        "heapsight-lsp-capture-progress-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&scratch);
    let _cleanup = lsp_client::TempDir(scratch.clone());
    let app = heapsight_tests::support::copy_fixture("listener-leak", &scratch).unwrap();
    let root = std::fs::canonicalize(app).unwrap();
    let settings = json!({"captureCommand": [
        heapsight(), "capture", "--ready-line", "ready port=(\\d+)",
        "--load", "node load.js {port}", "--idle", "1s", "--", "node", "main.js"
    ]});
    let mut client = Client::start(&root, capabilities(), settings);
    client.await_notification::<StatusNotification>(|s| s.state == "idle");
    let (reply, took) = start_capture(&mut client);
    let reply = reply.unwrap();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(reply["started"], json!(true), "{reply}");
    let token = reply["token"].as_str().unwrap().to_string();
    let begin = progress(&mut client, &token, "begin");
    // Requests do not wait behind the capture: a hover answers (nothing to show yet).
    let asked = Instant::now();
    let hover = client.request::<HoverRequest>(HoverParams {
        text_document_position_params: TextDocumentPositionParams {
            text_document: doc(&root.join("main.js")),
            position: Position::new(39, 4),
        },
        work_done_progress_params: Default::default(),
    });
    let hover_took = asked.elapsed();
    let report = progress(&mut client, &token, "report");
    let end = progress(&mut client, &token, "end");
    let status = client.await_notification::<StatusNotification>(|s| s.state == "ready");
    let leak = &expected("listener-leak").unwrap().leaks[0];
    let file = root.join(&leak.file);
    let wanted = uri(&file);
    let published = client.await_notification::<PublishDiagnostics>(|p| {
        p.uri.as_str() == wanted && !p.diagnostics.is_empty()
    });
    assert_eq!(
        (
            hover,
            hover_took < Duration::from_secs(1),
            message(&begin).starts_with("running "),
            message(&report).is_empty(),
            message(&end),
            status.findings,
            published.diagnostics[0].range.start.line + 1,
        ),
        (
            Ok(None),
            true,
            true,
            false,
            "captured; analyzing".to_string(),
            1,
            leak.line
        ),
        "hover took {hover_took:?}; first phase: {}",
        message(&report)
    );
    assert!(client.shutdown().success());
}

/// A workspace whose app writes its pid to `app.pid`, says it is ready and runs until
/// stopped; the capture waits two minutes between A and B.
fn long_capture_workspace(name: &str) -> (lsp_client::TempDir, Value) {
    let workspace = workspace("listener-leak", name);
    let root = &workspace.0;
    std::fs::remove_dir_all(root.join(".heapsight")).unwrap();
    std::fs::write(
        root.join("app.js"),
        "require('fs').writeFileSync('app.pid', String(process.pid));\n\
         console.log('app ready');\nsetInterval(() => {}, 1000);\n",
    )
    .unwrap();
    let settings = json!({"captureCommand": [
        heapsight(), "capture", "--ready-line", "app ready", "--duration", "120s",
        "--", "node", "app.js"
    ]});
    (workspace, settings)
}

/// The app's pid and its parent's (the `heapsight capture` the server started), once the
/// app is up.
fn app_and_capture_pids(root: &Path) -> (u32, u32) {
    let file = root.join("app.pid");
    let deadline = Instant::now() + lsp_client::TIMEOUT;
    loop {
        if let Some(pid) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            let after_name = &stat[stat.rfind(')').unwrap() + 2..];
            let parent = after_name.split(' ').nth(1).unwrap().parse().unwrap();
            return (pid, parent);
        }
        assert!(Instant::now() < deadline, "the app did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
fn gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit(") ").next().map(|r| r.chars().next()));
        if matches!(state, None | Some(Some('Z'))) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cancel_stops_the_capture_and_the_app_it_started_and_a_second_capture_is_refused() {
    let (workspace, settings) = long_capture_workspace("capture-cancel");
    let root = workspace.0.clone();
    let mut client = Client::start(&root, capabilities(), settings);
    client.await_notification::<StatusNotification>(|s| s.state == "idle");
    let (reply, took) = start_capture(&mut client);
    let token = reply.unwrap()["token"].as_str().unwrap().to_string();
    progress(&mut client, &token, "begin");
    let (app, capture) = app_and_capture_pids(&root);
    let (second, _) = start_capture(&mut client);
    let second = second.unwrap_err()["message"].as_str().unwrap().to_string();
    client.notify_raw("window/workDoneProgress/cancel", json!({"token": token}));
    let end = progress(&mut client, &token, "end");
    let status = client.await_notification::<StatusNotification>(|s| s.state != "analyzing");
    assert_eq!(
        (
            took < Duration::from_secs(2),
            second.replace(&root.display().to_string(), "<root>"),
            message(&end),
            status.message,
            gone(capture),
            gone(app),
        ),
        (
            true,
            "a capture is already running in <root>: wait for it or cancel it from its progress"
                .to_string(),
            "the capture was cancelled".to_string(),
            "the capture was cancelled".to_string(),
            true,
            true
        )
    );
    // The folder takes a new capture once this one is over.
    std::fs::remove_file(root.join("app.pid")).unwrap();
    let (again, _) = start_capture(&mut client);
    assert_eq!(again.unwrap()["started"], json!(true));
    let (app, _) = app_and_capture_pids(&root);
    assert!(client.shutdown().success());
    assert!(gone(app));
}

#[test]
fn shutdown_stops_a_running_capture_and_its_app() {
    let (workspace, settings) = long_capture_workspace("capture-shutdown");
    let root = workspace.0.clone();
    // A client without work-done progress: the capture runs all the same.
    let capabilities = json!({"workspace": {"configuration": true}});
    let mut client = Client::start(&root, capabilities, settings);
    client.await_notification::<StatusNotification>(|s| s.state == "idle");
    let (reply, _) = start_capture(&mut client);
    assert_eq!(reply.unwrap()["started"], json!(true));
    let (app, capture) = app_and_capture_pids(&root);
    let asked = Instant::now();
    assert!(client.shutdown().success());
    assert_eq!(
        (
            gone(capture),
            gone(app),
            asked.elapsed() < Duration::from_secs(10)
        ),
        (true, true, true)
    );
}

#[test]
fn show_report_with_a_finding_id_selects_its_heading() {
    let workspace = workspace("listener-leak", "report-at-finding");
    let root = workspace.0.clone();
    let main = root.join("main.js");
    let mut client = Client::start(&root, capabilities(), json!({}));
    client.await_notification::<StatusNotification>(|s| s.state == "ready");
    let lenses = client
        .request::<CodeLensRequest>(CodeLensParams {
            text_document: doc(&main),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap()
        .unwrap();
    let command = lenses[0].command.clone().unwrap();
    let id = command.arguments.clone().unwrap()[0].clone();
    let reply = client
        .request_raw(
            "workspace/executeCommand",
            json!({"command": command.command, "arguments": command.arguments}),
        )
        .unwrap();
    let shown = client
        .server_requests
        .iter()
        .rev()
        .find(|(m, _)| m == "window/showDocument")
        .map(|(_, p)| p.clone())
        .unwrap();
    let markdown = std::fs::read_to_string(root.join(".heapsight/report.md")).unwrap();
    let lines: Vec<&str> = markdown.lines().collect();
    let line = |l: &Value| lines[l.as_u64().unwrap() as usize].to_string();
    let selection = &shown["selection"];
    assert_eq!(
        (
            command.command.as_str(),
            id.is_string(),
            shown["uri"].clone(),
            line(&selection["start"]["line"]),
            selection["start"]["character"].clone(),
            selection["end"]["line"] == selection["start"]["line"],
            lines[selection["start"]["line"].as_u64().unwrap() as usize - 1].to_string(),
            reply["line"] == selection["start"]["line"],
        ),
        (
            "heapsight.showReport",
            true,
            json!(uri(&root.join(".heapsight/report.md"))),
            "## 1. listener leak at main.js:40".to_string(),
            json!(0),
            true,
            format!("<a id=\"{}\"></a>", id.as_str().unwrap()),
            true,
        )
    );
    // Without a finding: the top of the report, no selection.
    client
        .request_raw(
            "workspace/executeCommand",
            json!({"command": "heapsight.showReport"}),
        )
        .unwrap();
    let last = client
        .server_requests
        .iter()
        .rev()
        .find(|(m, _)| m == "window/showDocument")
        .map(|(_, p)| p.clone())
        .unwrap();
    assert_eq!(last.get("selection"), None);
    assert!(client.shutdown().success());
}

#[test]
fn a_client_without_show_document_gets_the_findings_line_in_the_reply() {
    let workspace = workspace("listener-leak", "report-no-show");
    let root = workspace.0.clone();
    let capabilities = json!({"workspace": {"configuration": true}});
    let mut client = Client::start(&root, capabilities, json!({}));
    let status = client.await_notification::<StatusNotification>(|s| s.state == "ready");
    assert_eq!(status.findings, 1);
    let lenses = client
        .request::<CodeLensRequest>(CodeLensParams {
            text_document: doc(&root.join("main.js")),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .unwrap()
        .unwrap();
    let reply = client
        .request_raw(
            "workspace/executeCommand",
            json!({"command": "heapsight.showReport", "arguments": lenses[0].command.clone().unwrap().arguments}),
        )
        .unwrap();
    let markdown = reply["markdown"].as_str().unwrap();
    let line = reply["line"].as_u64().unwrap() as usize;
    assert_eq!(
        (
            markdown.lines().nth(line),
            client
                .server_requests
                .iter()
                .any(|(m, _)| m == "window/showDocument")
        ),
        (Some("## 1. listener leak at main.js:40"), false)
    );
    assert!(client.shutdown().success());
}

/// The `window/showMessage` a bad `minRetainedBytes` gets: through `initializationOptions`
/// (a client without `workspace/configuration`), then through `workspace/configuration`.
#[test]
fn a_bad_setting_reads_the_same_from_either_source() {
    let workspace = workspace("listener-leak", "bad-setting");
    let root: PathBuf = workspace.0.clone();
    let bad = json!({"minRetainedBytes": "big"});
    let mut got = Vec::new();
    for through_configuration in [false, true] {
        let (capabilities, options) = if through_configuration {
            (json!({"workspace": {"configuration": true}}), json!({}))
        } else {
            (json!({}), bad.clone())
        };
        let mut client = Client::start(&root, capabilities, options);
        // Answered when the server asks, after `initialized`.
        client.settings = bad.clone();
        let shown = client.await_notification::<ShowMessage>(|m| m.typ == MessageType::ERROR);
        got.push(format!("{:?}: {}", shown.typ, shown.message));
        // The bad value is not taken: the defaults analyze as before.
        let status = client.await_notification::<StatusNotification>(|s| s.state == "ready");
        assert_eq!(status.findings, 1);
        assert!(client.shutdown().success());
    }
    assert_eq!(
        got.join("\n"),
        "Error: heapsight settings: invalid type: string \"big\", expected u64\n\
         Error: heapsight settings: invalid type: string \"big\", expected u64"
    );
}
