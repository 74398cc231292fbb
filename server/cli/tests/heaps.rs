//! `heapsight analyze` on capture folders that hold several heaps, and on captures of the
//! wrong process. The folders are assembled from real fixture triples (one app's as the main
//! heap, others' as worker-thread or process parts with their own manifests) by
//! `heapsight_tests::captures`, through the capture crate's own manifest type; the real
//! binary analyzes them. Each feature has one `check` driven by a table of cases.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use heapsight_capture::{Manifest, Part, PartKind};
use heapsight_tests::captures::{entry_url, script, write_capture, HeapSpec, PartSpec};
use serde_json::Value;

fn heapsight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heapsight"))
        .args(args)
        .output()
        .expect("runs heapsight")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

/// A temp folder removed when the test ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Lines added at the top of `listener-leak/main.js` in the workspace after the capture:
/// its finding (line 40 as captured) is on line 43 when its heap's recorded source is the
/// one placement follows.
const ADDED_LINES: &str = "// edited\n// after\n// the capture\n";

/// A workspace holding a copy of each fixture app's entry script (listener-leak's edited
/// since the capture), and the capture at `.heapsight/captures/one`, named by `latest`.
fn workspace(name: &str, main: &HeapSpec, parts: &[PartSpec]) -> (TempDir, PathBuf, Manifest) {
    let root = std::env::temp_dir().join(format!("heapsight-heaps-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for app in [
        "listener-leak",
        "healthy-listeners",
        "map-cache",
        "closure-leak",
    ] {
        let from = PathBuf::from(entry_url(app).unwrap());
        let file = from.file_name().unwrap();
        let mut text = std::fs::read_to_string(&from).unwrap();
        if app == "listener-leak" {
            text = format!("{ADDED_LINES}{text}");
        }
        std::fs::create_dir_all(root.join(app)).unwrap();
        std::fs::write(root.join(app).join(file), text).unwrap();
    }
    let capture = root.join(".heapsight/captures/one");
    let manifest = write_capture(&capture, main, parts).unwrap();
    std::fs::write(root.join(".heapsight/latest"), "captures/one\n").unwrap();
    let root = std::fs::canonicalize(&root).unwrap();
    let capture = root.join(".heapsight/captures/one");
    (TempDir(root), capture, manifest)
}

/// listener-leak's entry script as captured, its source recorded in full; or (`decoy`)
/// only the hash of another text under the same URL, as another heap's manifest might
/// record it. Placed with the decoy, a finding in the edited file cannot be followed and
/// is marked stale; with its own heap's record it is followed to its line, not stale.
fn listener_source(decoy: bool) -> heapsight_capture::Script {
    let url = entry_url("listener-leak").unwrap();
    let text = std::fs::read_to_string(&url).unwrap();
    if decoy {
        script("118", &url, &format!("// another text\n{text}"), false)
    } else {
        script("118", &url, &text, true)
    }
}

fn heap(app: &'static str, scripts: Vec<heapsight_capture::Script>) -> HeapSpec {
    HeapSpec {
        scripts,
        ..HeapSpec::of(app)
    }
}

fn part(kind: PartKind, folder: &str, title: &str, heap: HeapSpec) -> PartSpec {
    let complete = heap.labels.len() == 3;
    PartSpec {
        part: Part {
            kind,
            folder: folder.to_owned(),
            pid: (kind == PartKind::Process).then_some(4242),
            thread_id: (kind == PartKind::Thread).then_some(1),
            title: title.to_owned(),
            url: None,
            complete,
            note: (!complete).then(|| "ended before C".to_owned()),
        },
        heap,
    }
}

/// A capture with several heaps and what `heapsight analyze` must say of it.
struct Case {
    name: &'static str,
    main: HeapSpec,
    parts: Vec<PartSpec>,
    /// `title: status findings` of each heap, in order (`<pid>` for the main process's).
    heaps: &'static [&'static str],
    /// `heap: kind file:line` of each finding.
    findings: &'static [&'static str],
    /// The codes of the warnings.
    warnings: &'static [&'static str],
    /// The text output's sentence on the heaps.
    looked_at: &'static str,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "worker",
            // The main heap's manifest records listener-leak's script with another text:
            // placing the worker's finding with it would mark it stale.
            main: heap("healthy-listeners", vec![listener_source(true)]),
            parts: vec![
                part(
                    PartKind::Thread,
                    "threads/1",
                    "worker 1 (main.js)",
                    heap("listener-leak", vec![listener_source(false)]),
                ),
                part(
                    PartKind::Thread,
                    "threads/2",
                    "worker 2 (main.js)",
                    HeapSpec {
                        labels: &["A"],
                        ..HeapSpec::of("listener-leak")
                    },
                ),
            ],
            heaps: &[
                "main thread: analyzed 0",
                "worker 1 (main.js): analyzed 1",
                "worker 2 (main.js): incomplete 0 (ended before C)",
            ],
            findings: &["worker 1 (main.js): listener listener-leak/main.js:43"],
            warnings: &[],
            looked_at: "looked at main thread (pid <pid>): no findings; worker 1 (main.js): 1 finding; \
                        not analyzed: worker 2 (main.js), incomplete (ended before C)",
        },
        Case {
            name: "cluster",
            main: heap("healthy-listeners", Vec::new()),
            parts: vec![part(
                PartKind::Process,
                "processes/4242",
                "cluster worker 1 (pid 4242)",
                heap("map-cache", Vec::new()),
            )],
            heaps: &[
                "main.js (pid <pid>): analyzed 0",
                "cluster worker 1 (pid 4242): analyzed 1",
            ],
            findings: &["cluster worker 1 (pid 4242): collection map-cache/main.mjs:46"],
            warnings: &[],
            looked_at: "looked at main.js (pid <pid>): no findings; cluster worker 1 (pid 4242): 1 finding",
        },
        Case {
            name: "both",
            main: heap("listener-leak", vec![listener_source(false)]),
            parts: vec![part(
                PartKind::Thread,
                "threads/1",
                "worker 1 (main.js)",
                heap("closure-leak", Vec::new()),
            )],
            heaps: &["main thread: analyzed 1", "worker 1 (main.js): analyzed 1"],
            findings: &[
                "main thread: listener listener-leak/main.js:43",
                "worker 1 (main.js): closure closure-leak/main.js:41",
            ],
            warnings: &[],
            looked_at: "looked at main thread (pid <pid>): 1 finding; worker 1 (main.js): 1 finding",
        },
        Case {
            name: "escape",
            main: heap("healthy-listeners", Vec::new()),
            // A complete part whose folder climbs out of the capture is not read.
            parts: vec![part(
                PartKind::Thread,
                "../../../elsewhere",
                "worker 1 (main.js)",
                heap("listener-leak", Vec::new()),
            )],
            heaps: &[
                "main thread: analyzed 0",
                "worker 1 (main.js): failed 0 (its folder `../../../elsewhere` is not inside the capture)",
            ],
            findings: &[],
            warnings: &["heap-not-analyzed"],
            looked_at: "looked at main thread (pid <pid>): no findings; not analyzed: worker 1 (main.js), \
                        failed (its folder `../../../elsewhere` is not inside the capture)",
        },
    ]
}

fn check(case: Case) {
    let name = case.name;
    let (ws, capture, manifest) = workspace(name, &case.main, &case.parts);
    let root = ws.0.display().to_string();
    let pid = manifest.pid.unwrap().to_string();
    let run = |target: &Path, format: &str| {
        heapsight(&[
            "analyze",
            &target.display().to_string(),
            "--format",
            format,
            "--root",
            &root,
        ])
    };

    // JSON: the heaps, each finding's heap and place, the warnings.
    let json = json_of(&run(&capture, "json"));
    let heaps: Vec<String> = json["heaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let note = h["note"]
                .as_str()
                .map_or(String::new(), |n| format!(" ({n})"));
            format!(
                "{}: {} {}{note}",
                h["title"].as_str().unwrap(),
                h["status"].as_str().unwrap(),
                h["findings"]
            )
            .replace(&pid, "<pid>")
        })
        .collect();
    assert_eq!(heaps, case.heaps, "{name}: heaps");
    let findings = json["findings"].as_array().unwrap();
    let mut placed: Vec<String> = findings
        .iter()
        .map(|f| {
            assert!(f.get("stale").is_none(), "{name}: not stale: {f}");
            format!(
                "{}: {} {}:{}",
                f["heap"].as_str().unwrap(),
                f["kind"].as_str().unwrap(),
                f["file"].as_str().unwrap_or("?"),
                f["line"]
            )
        })
        .collect();
    let sizes: Vec<u64> = findings
        .iter()
        .map(|f| f["retained_bytes"].as_u64().unwrap())
        .collect();
    assert!(
        sizes.windows(2).all(|w| w[0] >= w[1]),
        "{name}: largest first across heaps: {sizes:?}"
    );
    placed.sort();
    assert_eq!(placed, case.findings, "{name}: findings");
    let codes: Vec<&str> = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, case.warnings, "{name}: warnings");

    // `.heapsight` (its `latest`) names the same capture.
    let latest = json_of(&run(&ws.0.join(".heapsight"), "json"));
    assert_eq!(latest["heaps"], json["heaps"], "{name}: through latest");

    // SARIF: each result's heap in its properties and its message, the heaps, the warnings.
    let sarif = json_of(&run(&capture, "sarif"));
    let sarif_run = &sarif["runs"][0];
    let mut results: Vec<String> = sarif_run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let heap = r["properties"]["heap"].as_str().unwrap();
            let text = r["message"]["text"].as_str().unwrap();
            assert!(
                text.ends_with(&format!(" (in {heap})")),
                "{name}: the message names the heap: {text}"
            );
            let loc = &r["locations"][0]["physicalLocation"];
            format!(
                "{heap}: {} {}:{}",
                r["ruleId"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("heapsight/"),
                loc["artifactLocation"]["uri"].as_str().unwrap(),
                loc["region"]["startLine"]
            )
        })
        .collect();
    results.sort();
    assert_eq!(results, case.findings, "{name}: SARIF results");
    assert_eq!(
        sarif_run["properties"]["heaps"], json["heaps"],
        "{name}: SARIF heaps"
    );
    let notified: Vec<&str> = sarif_run["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            n["descriptor"]["id"]
                .as_str()
                .unwrap()
                .trim_start_matches("heapsight/")
        })
        .collect();
    assert_eq!(notified, case.warnings, "{name}: SARIF notifications");

    // Text: the heaps looked at, and each finding's heap on its line.
    let text = run(&capture, "text");
    assert!(text.status.success(), "{name}");
    let text = String::from_utf8_lossy(&text.stdout).replace(&pid, "<pid>");
    assert!(
        text.lines().any(|l| l == case.looked_at),
        "{name}: `{}` in\n{text}",
        case.looked_at
    );
    let mut lines: Vec<String> = text
        .lines()
        .filter_map(|line| {
            // `file:line:col: kind: message (in heap)`
            let (place, rest) = line.split_once(": ")?;
            let (kind, message) = rest.split_once(": ")?;
            let (file_line, _col) = place.rsplit_once(':')?;
            let heap = message.rsplit_once(" (in ")?.1.strip_suffix(')')?;
            Some(format!("{heap}: {kind} {file_line}"))
        })
        .collect();
    lines.sort();
    assert_eq!(lines, case.findings, "{name}: text\n{text}");
}

#[test]
fn every_heap_of_a_capture_is_analyzed_and_each_finding_names_its_heap() {
    for case in cases() {
        check(case);
    }
}

/// The command line of a capture that took npm instead of the service.
fn npm() -> Vec<String> {
    [
        "/usr/bin/node",
        "/usr/lib/node_modules/npm/bin/npm-cli.js",
        "start",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// A capture of `app` whose manifest says none of its scripts is the workspace's: every
/// format leads with the capture crate's own warning, and the findings are still reported.
fn check_not_the_service(app: &'static str, findings: usize) {
    let main = HeapSpec {
        workspace_scripts: Some(0),
        command: npm(),
        ..HeapSpec::of(app)
    };
    let (ws, capture, manifest) = workspace(&format!("npm-{app}"), &main, &[]);
    let warning = manifest
        .not_the_service()
        .expect("the capture's own warning");
    assert!(warning.contains("is npm (pid "), "{warning}");
    let root = ws.0.display().to_string();
    let target = capture.display().to_string();
    let run = |format: &str| heapsight(&["analyze", &target, "--format", format, "--root", &root]);

    let text = run("text");
    assert!(text.status.success(), "{app}");
    let text = String::from_utf8_lossy(&text.stdout);
    assert_eq!(
        text.lines().next(),
        Some(format!("warning: {warning}").as_str()),
        "{app}: the warning leads\n{text}"
    );
    assert!(
        !text.lines().any(|l| l == "no leaks above the threshold"),
        "{app}: never only `no leaks`\n{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.contains(".js:")).count(),
        findings,
        "{app}: findings still reported\n{text}"
    );

    let json = json_of(&run("json"));
    assert_eq!(
        json["warnings"],
        serde_json::json!([{"code": "not-the-service", "message": warning}]),
        "{app}"
    );
    assert_eq!(json["findings"].as_array().map(Vec::len), Some(findings));

    let sarif = json_of(&run("sarif"));
    let invocation = &sarif["runs"][0]["invocations"][0];
    assert_eq!(
        invocation["toolExecutionNotifications"],
        serde_json::json!([{
            "descriptor": {"id": "heapsight/not-the-service"},
            "level": "warning",
            "message": {"text": warning},
        }]),
        "{app}"
    );
    assert_eq!(invocation["executionSuccessful"], true);
    assert_eq!(
        sarif["runs"][0]["results"].as_array().map(Vec::len),
        Some(findings)
    );
}

#[test]
fn a_capture_of_the_wrong_process_says_so_in_every_format() {
    for (app, findings) in [("healthy-listeners", 0), ("listener-leak", 1)] {
        check_not_the_service(app, findings);
    }
}

#[test]
fn a_capture_without_parts_still_reads_as_before() {
    // No parts: findings name the main thread in JSON, nothing changes in text but the
    // sentence on the heaps.
    let (ws, capture, _) = workspace("single", &heap("listener-leak", Vec::new()), &[]);
    let root = ws.0.display().to_string();
    let target = capture.display().to_string();
    let json = json_of(&heapsight(&[
        "analyze", &target, "--format", "json", "--root", &root,
    ]));
    assert_eq!(json["findings"][0]["heap"], "main thread");
    assert_eq!(json["heaps"].as_array().map(Vec::len), Some(1));
    let text = heapsight(&["analyze", &target, "--root", &root]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        !text.contains(" (in main thread)"),
        "one heap needs no naming\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("looked at main thread (pid ") && l.ends_with("): 1 finding")),
        "the one heap looked at\n{text}"
    );
}

mod lsp_client;

use heapsight_lsp::StatusNotification;
use tower_lsp_server::ls_types::notification::{PublishDiagnostics, ShowMessage};
use tower_lsp_server::ls_types::request::HoverRequest;
use tower_lsp_server::ls_types::{
    HoverContents, HoverParams, MessageType, Position, TextDocumentIdentifier,
    TextDocumentPositionParams, Uri,
};

/// What the language server must show of a capture.
struct LspCase {
    name: &'static str,
    main: HeapSpec,
    parts: Vec<PartSpec>,
    /// The `heapsight/status` message once ready (`<root>`, `<pid>`, `<size>`, `<warning>`).
    status: &'static str,
    /// The published diagnostic: workspace file, 0-based line, the message's end.
    diagnostic: Option<(&'static str, u32, &'static str)>,
    /// What the hover on it says.
    hover: &'static str,
    /// Lines of the report (`heapsight.showReport`), in order.
    report: &'static [&'static str],
    /// Whether `window/showMessage` warns that the capture is not the service.
    warns: bool,
}

fn lsp_cases() -> Vec<LspCase> {
    let mut worker = cases().into_iter().next().unwrap();
    worker.parts.truncate(2);
    vec![
        LspCase {
            name: "lsp-worker",
            main: worker.main,
            parts: worker.parts,
            status:
                "1 leak retaining <size> (analyzed: <root>/.heapsight/captures/one); looked at \
                     main thread (pid <pid>): no findings; worker 1 (main.js): 1 finding; not \
                     analyzed: worker 2 (main.js), incomplete (ended before C)",
            diagnostic: Some(("listener-leak/main.js", 42, " (in worker 1 (main.js))")),
            hover: "Heap: **worker 1 (main.js)**",
            report: &[
                "Looked at main thread (pid <pid>): no findings; worker 1 (main.js): 1 finding; \
                 not analyzed: worker 2 (main.js), incomplete (ended before C).",
                "## 1. listener leak at listener-leak/main.js:43",
                "Heap: **worker 1 (main.js)**",
            ],
            warns: false,
        },
        LspCase {
            name: "lsp-npm",
            main: HeapSpec {
                workspace_scripts: Some(0),
                command: npm(),
                ..HeapSpec::of("healthy-listeners")
            },
            parts: Vec::new(),
            status: "warning: <warning> — no leaks above the threshold (analyzed: \
                     <root>/.heapsight/captures/one)",
            diagnostic: None,
            hover: "",
            report: &[
                "# heapsight report",
                "> **Warning:** <warning>",
                "No leaks above the threshold in these snapshots: read the warning above.",
            ],
            warns: true,
        },
    ]
}

fn check_lsp(case: LspCase) {
    let name = case.name;
    let (ws, _, manifest) = workspace(name, &case.main, &case.parts);
    let root = ws.0.clone();
    let warning = manifest.not_the_service().unwrap_or_default();
    let pid = manifest.pid.unwrap().to_string();
    let sizes = regex_lite::Regex::new(r"\d+(\.\d+)? (B|kB|MB|GB)").unwrap();
    let normalize = |text: &str| {
        let text = if warning.is_empty() {
            text.to_owned()
        } else {
            text.replace(&warning, "<warning>")
        };
        let text = text
            .replace(&root.display().to_string(), "<root>")
            .replace(&pid, "<pid>");
        sizes.replace_all(&text, "<size>").into_owned()
    };
    let capabilities = serde_json::json!({
        "window": {"workDoneProgress": true, "showDocument": {"support": true}},
    });
    let mut client = lsp_client::Client::start(&root, capabilities, serde_json::json!({}));
    let status = client.await_notification::<StatusNotification>(|s| s.state == "ready");
    assert_eq!(normalize(&status.message), case.status, "{name}: status");
    if case.warns {
        let shown = client.await_notification::<ShowMessage>(|m| m.typ == MessageType::WARNING);
        assert_eq!(shown.message, format!("heapsight: {warning}"), "{name}");
    }
    if let Some((file, line, ends)) = case.diagnostic {
        let path = root.join(file);
        let uri = lsp_client::uri(&path);
        let published = client.await_notification::<PublishDiagnostics>(|p| {
            p.uri.as_str() == uri && !p.diagnostics.is_empty()
        });
        let d = &published.diagnostics[0];
        assert_eq!(d.range.start.line, line, "{name}: {d:?}");
        assert!(d.message.ends_with(ends), "{name}: {}", d.message);
        assert!(
            !d.message.starts_with("possibly stale"),
            "{name}: placed with its own heap's recorded source: {}",
            d.message
        );
        let hover = client
            .request::<HoverRequest>(HoverParams {
                text_document_position_params: TextDocumentPositionParams {
                    text_document: TextDocumentIdentifier {
                        uri: uri.parse::<Uri>().unwrap(),
                    },
                    position: Position {
                        line,
                        character: d.range.start.character,
                    },
                },
                work_done_progress_params: Default::default(),
            })
            .unwrap()
            .unwrap();
        let HoverContents::Markup(markup) = hover.contents else {
            panic!("{name}: markdown hover");
        };
        assert!(
            markup.value.contains(case.hover),
            "{name}: {}",
            markup.value
        );
    }
    let report = client
        .request_raw(
            "workspace/executeCommand",
            serde_json::json!({"command": "heapsight.showReport"}),
        )
        .unwrap();
    let markdown = normalize(report["markdown"].as_str().unwrap());
    let mut lines = markdown.lines();
    for want in case.report {
        assert!(
            lines.any(|l| l == *want),
            "{name}: `{want}` (in this order) in\n{markdown}"
        );
    }
    assert!(client.shutdown().success());
}

#[test]
fn the_language_server_names_heaps_and_warns_of_the_wrong_process() {
    for case in lsp_cases() {
        check_lsp(case);
    }
}
