//! The regression gate, `heapsight analyze … --baseline old.json`, through the real binary
//! on real captures of the fixture apps: an unchanged leak passes, a new one fails, one
//! captured under a bigger load fails as grown, one whose line moved still matches, a gone
//! one is listed; SARIF carries `partialFingerprints` and `baselineState`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use heapsight_tests::support::{
    copy_fixture, fixture_snapshots, node_binary, repo_root, snapshots_of, Triple,
};
use serde_json::Value;

fn heapsight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heapsight"))
        .args(args)
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .output()
        .expect("runs heapsight")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh scratch folder for `name`, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("heapsight-baseline-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn triple(app: &str) -> Triple {
    fixture_snapshots(app, 20).unwrap_or_else(|e| panic!("{app}: {e:#}"))
}

/// The JSON report of the capture in `dir` with `root` as workspace, saved at `to`.
fn save_report(dir: &Path, root: &Path, to: &Path) -> Value {
    let out = heapsight(&[
        "analyze",
        &dir.display().to_string(),
        "--root",
        &root.display().to_string(),
        "--threshold",
        "100kB",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(to, &out.stdout).expect("saves the report");
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// `heapsight analyze dir --baseline baseline` in `format`, with `extra` arguments.
fn gate(dir: &Path, root: &Path, baseline: &Path, format: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "analyze".to_owned(),
        dir.display().to_string(),
        "--root".to_owned(),
        root.display().to_string(),
        "--threshold".to_owned(),
        "100kB".to_owned(),
        "--comparison".to_owned(),
        "0".to_owned(),
        "--format".to_owned(),
        format.to_owned(),
        "--baseline".to_owned(),
        baseline.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    heapsight(&args)
}

fn sarif_results(out: &Output) -> Vec<Value> {
    let v: Value = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
    v["runs"][0]["results"]
        .as_array()
        .cloned()
        .expect("results")
}

fn leak_root() -> PathBuf {
    repo_root().join("fixtures/listener-leak")
}

#[test]
fn the_same_capture_twice_is_unchanged_and_passes() {
    let tmp = Scratch::new("unchanged");
    let t = triple("listener-leak");
    let saved = tmp.0.join("old.json");
    let report = save_report(&t.dir, &leak_root(), &saved);
    let finding = &report["findings"][0];
    assert_eq!(finding["call_site_text"], "bus.on('data',(quote)=>{");
    let fingerprint = finding["fingerprint"].as_str().expect("a fingerprint");
    assert_eq!(fingerprint.len(), 16);

    let text = gate(&t.dir, &leak_root(), &saved, "text", &[]);
    assert_eq!(text.status.code(), Some(0), "{}", stdout(&text));
    let printed = stdout(&text);
    assert!(
        printed.contains("0 new, 0 grown, 1 unchanged, 0 shrunk, 0 gone"),
        "{printed}"
    );
    assert!(printed.contains("unchanged (7."), "{printed}");

    let json = gate(&t.dir, &leak_root(), &saved, "json", &[]);
    assert_eq!(json.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(v["baseline"]["matched_by"], "fingerprint");
    assert_eq!(v["baseline"]["unchanged"][0]["fingerprint"], fingerprint);
    assert_eq!(v["baseline"]["unchanged"][0]["finding"], 0);

    let sarif = gate(&t.dir, &leak_root(), &saved, "sarif", &[]);
    assert_eq!(sarif.status.code(), Some(0));
    let results = sarif_results(&sarif);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["baselineState"], "unchanged");
    assert_eq!(results[0]["level"], "warning");
    assert_eq!(
        results[0]["partialFingerprints"]["heapsightFinding/v1"],
        fingerprint
    );
}

#[test]
fn a_report_without_fingerprints_is_matched_by_message() {
    let tmp = Scratch::new("old-format");
    let t = triple("listener-leak");
    let mut report = save_report(&t.dir, &leak_root(), &tmp.0.join("new.json"));
    for f in report["findings"].as_array_mut().expect("findings") {
        let f = f.as_object_mut().expect("a finding");
        assert!(f.remove("fingerprint").is_some());
        assert!(f.remove("call_site_text").is_some());
    }
    let saved = tmp.0.join("old.json");
    std::fs::write(&saved, report.to_string()).expect("saves");
    let out = gate(&t.dir, &leak_root(), &saved, "text", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let printed = stdout(&out);
    assert!(printed.contains("1 unchanged"), "{printed}");
    assert!(printed.contains("matched by kind, holder and message"));
}

#[test]
fn a_leak_the_healthy_twin_lacks_is_new_and_fails() {
    let tmp = Scratch::new("new");
    let healthy = triple("healthy-listeners");
    let saved = tmp.0.join("healthy.json");
    let report = save_report(
        &healthy.dir,
        &repo_root().join("fixtures/healthy-listeners"),
        &saved,
    );
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(0));
    let leaky = triple("listener-leak");

    let text = gate(&leaky.dir, &leak_root(), &saved, "text", &[]);
    assert_eq!(text.status.code(), Some(1), "{}", stdout(&text));
    let printed = stdout(&text);
    assert!(
        printed.contains("new: main.js:40:3: listener: listener on long-lived emitter `bus`"),
        "{printed}"
    );
    assert!(printed.contains("(fails the run)"));

    let sarif = gate(&leaky.dir, &leak_root(), &saved, "sarif", &[]);
    assert_eq!(sarif.status.code(), Some(1));
    let results = sarif_results(&sarif);
    assert_eq!(results[0]["baselineState"], "new");
    assert_eq!(results[0]["level"], "error");

    // A report saved with its comparison prints and exits again as compared.
    let compared = tmp.0.join("compared.json");
    let json = gate(&leaky.dir, &leak_root(), &saved, "json", &[]);
    assert_eq!(json.status.code(), Some(1));
    std::fs::write(&compared, &json.stdout).expect("saves the compared report");
    let again = heapsight(&[
        "analyze",
        &compared.display().to_string(),
        "--root",
        &leak_root().display().to_string(),
        "--comparison",
        "0",
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(stdout(&again), printed);

    // `--fail-above` narrows what the gate considers: the new 7.8 MB leak is under 100MB.
    let narrowed = gate(
        &leaky.dir,
        &leak_root(),
        &saved,
        "text",
        &["--fail-above", "100MB"],
    );
    assert_eq!(narrowed.status.code(), Some(0), "{}", stdout(&narrowed));
    assert!(stdout(&narrowed).contains("1 new"));

    // The other way round the leak is gone: listed, and absent in SARIF, passing.
    let leak_report = tmp.0.join("leaky.json");
    save_report(&leaky.dir, &leak_root(), &leak_report);
    let healthy_root = repo_root().join("fixtures/healthy-listeners");
    let gone = gate(&healthy.dir, &healthy_root, &leak_report, "text", &[]);
    assert_eq!(gone.status.code(), Some(0));
    assert!(stdout(&gone).contains("gone (was 7."), "{}", stdout(&gone));
    let sarif = gate(&healthy.dir, &healthy_root, &leak_report, "sarif", &[]);
    let results = sarif_results(&sarif);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["baselineState"], "absent");
    assert_eq!(results[0]["level"], "note");
    assert!(results[0]["partialFingerprints"]["heapsightFinding/v1"].is_string());
}

/// The listener-leak app captured with a quarter of its load (the driver's
/// `--requests-fraction`), into `out`.
fn capture_quarter_load(out: &Path) -> PathBuf {
    let node = node_binary(20).expect("node 20");
    let status = Command::new(node)
        .arg("--expose-gc")
        .arg(repo_root().join("tests/support/take-snapshots.js"))
        .arg(leak_root())
        .arg(out)
        .args(["--requests-fraction", "0.25"])
        .current_dir(repo_root())
        .env_remove("PORT")
        .env_remove("NODE_OPTIONS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("runs the snapshot driver");
    assert!(status.success(), "the driver failed");
    out.to_path_buf()
}

#[test]
fn the_same_leak_under_four_times_the_load_grew_and_fails() {
    let tmp = Scratch::new("grown");
    let small = capture_quarter_load(&tmp.0.join("quarter"));
    let saved = tmp.0.join("quarter.json");
    let before = save_report(&small, &leak_root(), &saved);
    let full = triple("listener-leak");
    let now = save_report(&full.dir, &leak_root(), &tmp.0.join("full.json"));
    assert_eq!(
        before["findings"][0]["fingerprint"], now["findings"][0]["fingerprint"],
        "one leak, one identity at two loads"
    );

    let text = gate(&full.dir, &leak_root(), &saved, "text", &[]);
    assert_eq!(text.status.code(), Some(1), "{}", stdout(&text));
    let printed = stdout(&text);
    assert!(printed.contains("1 grown"), "{printed}");
    let grew = printed
        .lines()
        .find(|l| l.trim_start().starts_with("grew from "))
        .unwrap_or_else(|| panic!("a `grew from` line: {printed}"));
    assert!(
        grew.contains("MB to 7.") && grew.contains("%): main.js:40:3"),
        "{grew}"
    );

    let sarif = gate(&full.dir, &leak_root(), &saved, "sarif", &[]);
    let results = sarif_results(&sarif);
    assert_eq!(results[0]["baselineState"], "updated");
    assert_eq!(results[0]["properties"]["baseline"], "grown");
    assert_eq!(results[0]["level"], "error");

    // A tolerance above the growth lets it pass; the same capture the other way round shrank.
    let tolerant = gate(
        &full.dir,
        &leak_root(),
        &saved,
        "text",
        &["--tolerance", "1000%"],
    );
    assert_eq!(tolerant.status.code(), Some(0), "{}", stdout(&tolerant));
    let full_report = tmp.0.join("full.json");
    let shrunk = gate(&small, &leak_root(), &full_report, "text", &[]);
    assert_eq!(shrunk.status.code(), Some(0));
    assert!(
        stdout(&shrunk).contains("shrank from 7."),
        "{}",
        stdout(&shrunk)
    );
}

#[test]
fn a_leak_whose_line_moved_still_matches() {
    let tmp = Scratch::new("moved");
    let saved = tmp.0.join("old.json");
    let before = save_report(&triple("listener-leak").dir, &leak_root(), &saved);
    assert_eq!(before["findings"][0]["line"], 40);

    let app = copy_fixture("listener-leak", &tmp.0).expect("copies the app");
    let main = app.join("main.js");
    let text = std::fs::read_to_string(&main).expect("reads main.js");
    let moved = format!("// Added above the leak:\n// three lines\n\n{text}");
    std::fs::write(&main, moved).expect("writes main.js");
    let again = snapshots_of(&app, &tmp.0.join("snapshots"), 20).expect("captures the copy");

    let json = gate(&again.dir, &app, &saved, "json", &[]);
    assert_eq!(json.status.code(), Some(0), "{}", stdout(&json));
    let v: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(
        v["findings"][0]["line"], 43,
        "the leak moved down three lines"
    );
    assert_eq!(
        v["findings"][0]["fingerprint"],
        before["findings"][0]["fingerprint"]
    );
    assert_eq!(v["baseline"]["unchanged"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["baseline"]["new"].as_array().map(Vec::len), Some(0));
    assert_eq!(v["baseline"]["gone"].as_array().map(Vec::len), Some(0));
    eprintln!(
        "two captures of the same load: {} and {} bytes",
        before["findings"][0]["retained_bytes"], v["findings"][0]["retained_bytes"]
    );
}
