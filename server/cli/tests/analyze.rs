//! `heapsight analyze` and `heapsight stats` as users run them: the real binary on real
//! captures. JSON follows the documented contract, SARIF has what GitHub code scanning
//! reads, exit codes say what happened.

use std::path::Path;
use std::process::{Command, Output};

use heapsight_tests::support::{expected, fixture_snapshots, repo_root, FIXTURE_APPS};
use serde_json::Value;

fn heapsight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heapsight"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("runs heapsight")
}

fn dir(app: &str) -> String {
    let t = fixture_snapshots(app, 20).unwrap_or_else(|e| panic!("{app}: {e:#}"));
    t.dir.display().to_string()
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

#[test]
fn json_follows_the_contract() {
    let d = dir("listener-leak");
    let v = json_of(&heapsight(&[
        "analyze",
        &d,
        "--format",
        "json",
        "--root",
        "fixtures/listener-leak",
    ]));
    assert_eq!(v["format"], "heapsight-report");
    assert_eq!(v["version"], heapsight_ide::json_report::VERSION);
    assert!(v["snapshots"]["max_ids"]
        .as_array()
        .is_some_and(|a| a.len() == 3));
    let f = &v["findings"][0];
    for key in [
        "kind",
        "message",
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
        "retained_bytes",
        "count",
        "holder",
        "event",
        "growth",
        "retainer_path",
    ] {
        assert!(f.get(key).is_some(), "finding lacks `{key}`: {f}");
    }
    assert_eq!(f["kind"], "listener");
    assert_eq!(f["file"], "main.js", "relative to --root");
    assert_eq!(f["line"], 40, "1-based");
    assert_eq!(f["event"], "data");
    for key in ["baseline", "target", "final"] {
        assert!(f["growth"][key].is_u64(), "growth.{key}");
    }
    assert!(f["retainer_path"].as_array().is_some_and(|p| p.len() >= 3));
    assert!(v["comparison"].as_array().is_some_and(|c| !c.is_empty()));
}

#[test]
fn sarif_has_what_code_scanning_reads() {
    let d = dir("closure-leak");
    let v = json_of(&heapsight(&[
        "analyze", &d, "--format", "sarif", "--root", ".",
    ]));
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "heapsight");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    let result = &run["results"][0];
    let rule = result["ruleId"].as_str().expect("ruleId");
    assert!(rules.contains(&rule), "{rule} is declared");
    assert!(matches!(
        result["level"].as_str(),
        Some("warning" | "error")
    ));
    assert!(result["message"]["text"]
        .as_str()
        .is_some_and(|t| t.contains("callbacks")));
    let loc = &result["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"]["uri"],
        "fixtures/closure-leak/main.js"
    );
    assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    assert_eq!(loc["region"]["startLine"], 41);
    assert!(loc["region"]["startColumn"]
        .as_u64()
        .is_some_and(|c| c >= 1));
}

#[test]
fn exit_codes() {
    let d = dir("map-cache");
    let fail = heapsight(&["analyze", &d, "--fail-above", "1MB"]);
    assert_eq!(
        fail.status.code(),
        Some(1),
        "a finding above the limit fails the run"
    );
    let pass = heapsight(&["analyze", &d, "--fail-above", "1GB"]);
    assert_eq!(pass.status.code(), Some(0));
    let text = String::from_utf8_lossy(&pass.stdout);
    assert!(
        text.contains("main.mjs:") && text.contains("collection: `cache` (Map) grew by"),
        "{text}"
    );
    let missing = heapsight(&[
        "analyze",
        "/nonexistent/A",
        "/nonexistent/B",
        "/nonexistent/C",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/A"));
}

#[test]
fn a_corrupt_snapshot_is_an_error_with_its_place() {
    let t = fixture_snapshots("listener-leak", 20).expect("triple");
    let tmp = std::env::temp_dir().join(format!("heapsight-cut-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let bytes = std::fs::read(&t.c).expect("reads C");
    let cut = tmp.join("C.heapsnapshot");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("writes");
    let out = heapsight(&[
        "analyze",
        &t.a.display().to_string(),
        &t.b.display().to_string(),
        &cut.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("truncated snapshot") && err.contains(&cut.display().to_string()),
        "{err}"
    );
    let out = heapsight(&["stats", &cut.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn stats_prints_the_summary() {
    let t = fixture_snapshots("listener-leak", 20).expect("triple");
    let c = t.c.display().to_string();
    let v = json_of(&heapsight(&["stats", &c, "--format", "json"]));
    assert!(v["node_count"].as_u64().is_some_and(|n| n > 100_000));
    let classes = v["classes"].as_array().expect("classes");
    assert!(classes.iter().any(|c| c["name"] == "EventEmitter"));
    let out = heapsight(&["stats", &c, "--top", "5", "--sort", "count"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("constructor") && text.contains("nodes,"),
        "{text}"
    );
    assert!(Path::new(&c).exists());
}

/// `kind file:line` of every finding of `app`'s capture in each output format, with `--root`
/// the app's folder: the JSON findings, the SARIF results, the text headings.
fn places_of(app: &str) -> [Vec<String>; 3] {
    let d = dir(app);
    let root = format!("fixtures/{app}");
    let run = |format: &str| heapsight(&["analyze", &d, "--format", format, "--root", &root]);
    let json = json_of(&run("json"));
    let from_json = json["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("{app}: no findings array"))
        .iter()
        .map(|f| {
            assert!(
                f.get("stale").is_none(),
                "{app}: unchanged code is not stale: {f}"
            );
            format!(
                "{} {}:{}",
                f["kind"].as_str().unwrap_or("?"),
                f["file"].as_str().unwrap_or("?"),
                f["line"]
            )
        })
        .collect();
    let sarif = json_of(&run("sarif"));
    let from_sarif = sarif["runs"][0]["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{app}: no SARIF results"))
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            format!(
                "{} {}:{}",
                r["ruleId"]
                    .as_str()
                    .unwrap_or("?")
                    .trim_start_matches("heapsight/"),
                loc["artifactLocation"]["uri"].as_str().unwrap_or("?"),
                loc["region"]["startLine"]
            )
        })
        .collect();
    let text = run("text");
    assert!(
        text.status.success(),
        "{app}: {}",
        String::from_utf8_lossy(&text.stderr)
    );
    let from_text = String::from_utf8_lossy(&text.stdout)
        .lines()
        .filter_map(|line| {
            // `file:line:col: kind: message`
            let (place, rest) = line.split_once(": ")?;
            let (kind, _) = rest.split_once(": ")?;
            let (file_line, _col) = place.rsplit_once(':')?;
            Some(format!("{kind} {file_line}"))
        })
        .collect();
    [from_json, from_sarif, from_text]
}

#[test]
fn findings_are_placed_on_the_call_site_in_every_format() {
    for app in FIXTURE_APPS {
        let wanted = expected(app).unwrap_or_else(|e| panic!("{app}: {e:#}"));
        if wanted.leaks.is_empty() {
            continue;
        }
        let [json, sarif, text] = places_of(app);
        for leak in &wanted.leaks {
            let want = format!("{} {}:{}", leak.kind, leak.file, leak.line);
            for (format, got) in [("json", &json), ("sarif", &sarif), ("text", &text)] {
                assert!(
                    got.contains(&want),
                    "{app} ({format}): expected `{want}` ({:?}) among {got:#?}",
                    leak.code
                );
            }
        }
    }
}

/// `file:line stale=…` of listener-leak's finding when `main.js` gained three lines at the
/// top after a capture whose manifest recorded its source (`record_source`) or only its hash.
fn placed_after_an_edit(record_source: bool) -> String {
    let t = fixture_snapshots("listener-leak", 20).expect("triple");
    let tmp = std::env::temp_dir().join(format!(
        "heapsight-cli-edited-{record_source}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let (capture, root) = (tmp.join("capture"), tmp.join("app"));
    std::fs::create_dir_all(&capture).expect("capture dir");
    std::fs::create_dir_all(&root).expect("app dir");
    for (from, label) in [(&t.a, "A"), (&t.b, "B"), (&t.c, "C")] {
        std::fs::copy(from, capture.join(format!("{label}.heapsnapshot"))).expect("copies");
    }
    let before = json_of(&heapsight(&[
        "analyze",
        &dir("listener-leak"),
        "--format",
        "json",
    ]));
    let url = before["findings"][0]["anchor"]["url"].clone();
    let original = std::fs::read_to_string(repo_root().join("fixtures/listener-leak/main.js"))
        .expect("reads main.js");
    let manifest = serde_json::json!({
        "version": 1,
        "finished_at": "2026-11-25T12:00:00Z",
        "scripts": [{
            "id": "118",
            "url": url,
            "sha256": heapsight_ide::sha256_hex(&original),
            "source": if record_source { Value::String(original.clone()) } else { Value::Null },
        }],
    });
    std::fs::write(capture.join("manifest.json"), manifest.to_string()).expect("manifest");
    std::fs::write(
        root.join("main.js"),
        format!("// a\n// b\n// c\n{original}"),
    )
    .expect("edit");
    let v = json_of(&heapsight(&[
        "analyze",
        &capture.display().to_string(),
        "--format",
        "json",
        "--root",
        &root.display().to_string(),
    ]));
    // The capture's three files, named one by one, bring its manifest too.
    let files: Vec<String> = ["A", "B", "C"]
        .iter()
        .map(|label| {
            capture
                .join(format!("{label}.heapsnapshot"))
                .display()
                .to_string()
        })
        .collect();
    let root_arg = root.display().to_string();
    let by_files = json_of(&heapsight(&[
        "analyze", &files[0], &files[1], &files[2], "--format", "json", "--root", &root_arg,
    ]));
    let _ = std::fs::remove_dir_all(&tmp);
    let f = &v["findings"][0];
    for key in ["file", "line", "stale"] {
        assert_eq!(by_files["findings"][0][key], f[key], "{key}");
    }
    format!(
        "{}:{} stale={}",
        f["file"].as_str().unwrap_or("?"),
        f["line"],
        f["stale"]
    )
}

#[test]
fn an_edit_since_the_capture_is_followed_or_marked_stale() {
    // The recorded source lets the line be followed into the edited file.
    assert_eq!(placed_after_an_edit(true), "main.js:43 stale=null");
    // Only the hash: V8's line cannot be followed, but the emitter's per-request `bus.on`
    // call is found by its binding in the edited text; the finding still says the file
    // changed since the capture.
    assert_eq!(placed_after_an_edit(false), "main.js:43 stale=true");
}
