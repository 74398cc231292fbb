//! The JSON report as one contract, through the real binary on real captures: a report
//! reads back into `heapsight_ide::JsonReport` and writes out byte for byte the same; a
//! saved report prints again in every format as the analysis printed it; `heapsight analyze`
//! with no path takes the latest capture; a newer report version is refused; `NO_COLOR`;
//! SARIF levels from `--fail-above` and absolute URIs for files outside the root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use heapsight_ide::json_report::VERSION;
use heapsight_ide::JsonReport;
use heapsight_tests::support::{fixture_snapshots, fixture_snapshots_tracked, repo_root};
use serde_json::Value;

fn heapsight_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_heapsight"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("runs heapsight")
}

fn heapsight(args: &[&str]) -> Output {
    heapsight_in(&repo_root(), args, &[])
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A fresh scratch folder for `name`.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heapsight-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The snapshot folder of `app` (untracked) and of `app` with allocation stacks (tracked).
fn captures() -> Vec<(String, &'static str)> {
    let plain = fixture_snapshots("listener-leak", 20).expect("listener-leak");
    let tracked = fixture_snapshots_tracked("express-route-leak", 20).expect("express-route-leak");
    vec![
        (plain.dir.display().to_string(), "fixtures/listener-leak"),
        (
            tracked.dir.display().to_string(),
            "fixtures/express-route-leak",
        ),
    ]
}

#[test]
fn a_report_reads_back_into_the_type_and_writes_out_identical() {
    for (dir, root) in captures() {
        let written = ok(heapsight(&[
            "analyze", &dir, "--format", "json", "--root", root,
        ]));
        let report = JsonReport::parse(written.as_bytes(), Path::new("report.json"))
            .unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!(report.version, VERSION);
        assert!(!report.findings.is_empty(), "{dir}: a real finding");
        let again = serde_json::to_string_pretty(&report).expect("serializes");
        assert_eq!(
            again,
            written.trim_end(),
            "{dir}: the round trip changed the report"
        );
        let v: Value = serde_json::from_str(&written).expect("JSON");
        assert_eq!(v["format"], "heapsight-report");
        assert_eq!(v["version"], VERSION);
    }
}

#[test]
fn a_saved_report_prints_again_as_the_analysis_printed_it() {
    let tmp = scratch("rerender");
    for (i, (dir, root)) in captures().into_iter().enumerate() {
        let saved = tmp.join(format!("report-{i}.json"));
        let json = ok(heapsight(&[
            "analyze", &dir, "--format", "json", "--root", root,
        ]));
        std::fs::write(&saved, &json).expect("saves the report");
        let saved = saved.display().to_string();
        for format in ["text", "json", "sarif"] {
            let args = |input: &str| {
                heapsight(&[
                    "analyze",
                    input,
                    "--format",
                    format,
                    "--root",
                    root,
                    "--fail-above",
                    "1MB",
                ])
            };
            let (from_snapshots, from_report) = (args(&dir), args(&saved));
            assert_eq!(from_snapshots.status.code(), Some(1), "a finding above 1MB");
            assert_eq!(
                from_report.status.code(),
                Some(1),
                "{format}: the same exit code"
            );
            assert!(!from_report.stdout.is_empty());
            assert_eq!(
                String::from_utf8_lossy(&from_report.stdout),
                String::from_utf8_lossy(&from_snapshots.stdout),
                "{dir} ({format})"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn analyze_without_a_path_takes_the_latest_capture() {
    let t = fixture_snapshots("listener-leak", 20).expect("listener-leak");
    let ws = scratch("latest");
    let capture = ws.join(".heapsight/captures/2026-12-07T00-00-00Z");
    std::fs::create_dir_all(&capture).expect("capture dir");
    for (from, label) in [(&t.a, "A"), (&t.b, "B"), (&t.c, "C")] {
        std::fs::copy(from, capture.join(format!("{label}.heapsnapshot"))).expect("copies");
    }
    std::fs::write(
        capture.join("manifest.json"),
        r#"{"version": 1, "finished_at": "2026-12-07T00:00:00Z", "scripts": []}"#,
    )
    .expect("manifest");
    std::fs::write(
        ws.join(".heapsight/latest"),
        "captures/2026-12-07T00-00-00Z\n",
    )
    .expect("latest");
    let latest = ok(heapsight_in(&ws, &["analyze", "--format", "json"], &[]));
    let named = ok(heapsight_in(
        &ws,
        &[
            "analyze",
            &capture.display().to_string(),
            "--format",
            "json",
        ],
        &[],
    ));
    assert_eq!(latest, named);
    let v: Value = serde_json::from_str(&latest).expect("JSON");
    assert_eq!(v["findings"][0]["kind"], "listener");

    let empty = scratch("no-capture");
    let out = heapsight_in(&empty, &["analyze"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no capture found") && err.contains("heapsight capture"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&ws);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn a_report_of_a_newer_version_is_refused_naming_both_versions() {
    let (dir, root) = captures().remove(0);
    let json = ok(heapsight(&[
        "analyze", &dir, "--format", "json", "--root", root,
    ]));
    let mut v: Value = serde_json::from_str(&json).expect("JSON");
    let newer = VERSION + 1;
    v["version"] = newer.into();
    let tmp = scratch("newer");
    let saved = tmp.join("report.json");
    std::fs::write(&saved, v.to_string()).expect("writes");
    let out = heapsight(&["analyze", &saved.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("version {newer}")) && err.contains(&format!("1 to {VERSION}")),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn no_color_turns_colours_off() {
    let (dir, root) = captures().remove(0);
    let args = ["analyze", dir.as_str(), "--root", root];
    let text = |env: &[(&str, &str)]| ok(heapsight_in(&repo_root(), &args, env));
    assert!(!text(&[]).contains('\x1b'), "not a terminal: no colours");
    assert!(text(&[("CLICOLOR_FORCE", "1")]).contains("\x1b["));
    assert!(!text(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains('\x1b'));
    // An empty NO_COLOR is not set (no-color.org).
    assert!(text(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "")]).contains("\x1b["));
}

fn sarif(dir: &str, root: &str, extra: &[&str]) -> Value {
    let mut args = vec!["analyze", dir, "--format", "sarif", "--root", root];
    args.extend(extra);
    let out = heapsight(&args);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("SARIF")
}

fn results(v: &Value) -> Vec<Value> {
    v["runs"][0]["results"]
        .as_array()
        .expect("results")
        .to_vec()
}

#[test]
fn sarif_levels_follow_fail_above() {
    let t = fixture_snapshots("map-cache", 20).expect("map-cache");
    let dir = t.dir.display().to_string();
    let all = results(&sarif(&dir, "fixtures/map-cache", &["--threshold", "1kB"]));
    assert!(
        all.len() >= 2,
        "findings above and below the limit: {all:#?}"
    );
    assert!(
        all.iter().all(|r| r["level"] == "warning"),
        "without --fail-above nothing fails the run"
    );
    let sizes: Vec<u64> = all
        .iter()
        .map(|r| r["properties"]["retainedBytes"].as_u64().expect("size"))
        .collect();
    // A limit between the largest finding and the smallest.
    let limit = (sizes[0] + sizes[sizes.len() - 1]) / 2;
    let limited = results(&sarif(
        &dir,
        "fixtures/map-cache",
        &["--threshold", "1kB", "--fail-above", &limit.to_string()],
    ));
    let levels: Vec<(&str, u64)> = limited
        .iter()
        .map(|r| {
            (
                r["level"].as_str().expect("level"),
                r["properties"]["retainedBytes"].as_u64().expect("size"),
            )
        })
        .collect();
    assert!(levels.iter().any(|(l, _)| *l == "error"), "{levels:?}");
    assert!(levels.iter().any(|(l, _)| *l == "warning"), "{levels:?}");
    for (level, size) in levels {
        let want = if size > limit { "error" } else { "warning" };
        assert_eq!(level, want, "{size} bytes against {limit}");
    }
}

#[test]
fn sarif_writes_files_outside_the_root_as_absolute_uris() {
    let (dir, _) = captures().remove(0);
    let elsewhere = scratch("elsewhere");
    let v = sarif(&dir, &elsewhere.display().to_string(), &[]);
    let location = &results(&v)[0]["locations"][0]["physicalLocation"]["artifactLocation"];
    let uri = location["uri"].as_str().expect("uri");
    assert!(
        uri.starts_with("file:///") && uri.ends_with("/fixtures/listener-leak/main.js"),
        "{location}"
    );
    assert!(location.get("uriBaseId").is_none(), "{location}");
    // Inside the root: relative, against %SRCROOT%.
    let v = sarif(&dir, "fixtures/listener-leak", &[]);
    let location = &results(&v)[0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(location["uri"], "main.js");
    assert_eq!(location["uriBaseId"], "%SRCROOT%");
    let _ = std::fs::remove_dir_all(&elsewhere);
}
