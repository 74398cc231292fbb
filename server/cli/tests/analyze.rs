//! `heapsight analyze` and `heapsight stats` as users run them: the real binary on real
//! captures. JSON follows the documented contract, SARIF has what GitHub code scanning
//! reads, exit codes say what happened.

use std::path::Path;
use std::process::{Command, Output};

use heapsight_tests::support::{fixture_snapshots, repo_root};
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
    assert_eq!(v["version"], 1);
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
