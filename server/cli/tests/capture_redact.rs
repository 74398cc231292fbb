//! `heapsight capture --redact` of a fixture app, for real: the snapshots are written without
//! the text the app's requests put in its strings (each request's user agent, `billing-ui/N`),
//! the manifest says `redacted`, and the planted leak is still found. Both ways a snapshot
//! reaches the disk: the inspector's chunks (spawn mode) and the file the process writes
//! itself on a signal (`--pid --signal`), which must not stay behind unredacted.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use heapsight_leaks::{analyze_files, Options};
use heapsight_snapshot::Progress;
use heapsight_tests::support::{expected, repo_root};
use serde_json::Value;

const APP: &str = "abort-signal-leak";
/// A user agent the load sends with every request; the app keeps it in each leaked job.
const SECRET: &[u8] = b"\"billing-ui/";

fn app_file(name: &str) -> PathBuf {
    repo_root().join("fixtures").join(APP).join(name)
}

fn temp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heapsight-redact-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn holds(file: &Path, needle: &[u8]) -> bool {
    let bytes = std::fs::read(file).expect("reads the snapshot");
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// The capture folder holds a redacted triple in which the planted leak is found, and
/// `heapsight analyze` reads the folder (its manifest with `redacted`) as any other.
fn check_capture(out: &Path) {
    let analyze = Command::new(env!("CARGO_BIN_EXE_heapsight"))
        .args(["analyze", "--format", "json"])
        .arg(out)
        .current_dir(repo_root())
        .output()
        .expect("runs heapsight analyze");
    assert!(
        analyze.status.success(),
        "analyze failed: {}",
        String::from_utf8_lossy(&analyze.stderr)
    );
    let report: Value = serde_json::from_slice(&analyze.stdout).expect("a JSON report");
    assert!(
        report["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["kind"] == "listener")),
        "{report}"
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest"))
            .expect("manifest JSON");
    assert_eq!(manifest["redacted"], Value::Bool(true), "{manifest}");
    let [a, b, c] = ["A", "B", "C"].map(|n| out.join(format!("{n}.heapsnapshot")));
    for (file, listed) in [&a, &b, &c]
        .iter()
        .zip(manifest["files"].as_array().expect("files"))
    {
        assert!(
            !holds(file, SECRET),
            "{} holds the user agent",
            file.display()
        );
        let size = std::fs::metadata(file).expect("snapshot").len();
        assert_eq!(listed["bytes"].as_u64(), Some(size), "{}", file.display());
    }
    let report = analyze_files(&a, &b, &c, &Options::default(), &Progress::new())
        .expect("the redacted capture is analyzed");
    for leak in expected(APP).expect("expected.json").leaks {
        let found = report.findings.iter().find(|f| {
            f.kind.as_str() == leak.kind
                && leak
                    .event
                    .as_deref()
                    .is_none_or(|e| f.event.as_deref() == Some(e))
        });
        assert!(
            found.is_some(),
            "no {} finding in {:#?}",
            leak.kind,
            report.findings
        );
    }
}

#[test]
fn a_redacted_capture_has_no_string_text_and_the_same_leak() {
    let out = temp("spawn");
    let load = format!("node {} {{port}} 1000", app_file("load.js").display());
    let run = Command::new(env!("CARGO_BIN_EXE_heapsight"))
        .args([
            "capture",
            "-q",
            "--redact",
            "--ready-line",
            r"ready port=(\d+)",
        ])
        .args(["--load", &load, "--idle", "500ms", "--out"])
        .arg(&out)
        .arg("--")
        .arg("node")
        .arg(app_file("main.js"))
        .current_dir(repo_root())
        .output()
        .expect("runs heapsight capture");
    assert!(
        run.status.success(),
        "capture failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    check_capture(&out);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_redacted_signal_capture_leaves_no_unredacted_file() {
    let (out, written) = (temp("signal-out"), temp("signal-dir"));
    std::fs::create_dir_all(&written).expect("a folder for the process's snapshots");
    let mut node = Command::new("node")
        .arg("--heapsnapshot-signal=SIGUSR2")
        .arg(app_file("main.js"))
        .current_dir(&written)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts node");
    let mut lines = BufReader::new(node.stdout.take().expect("stdout")).lines();
    let port = lines
        .find_map(|l| {
            l.ok()?
                .split_once("ready port=")
                .map(|(_, p)| p.trim().to_owned())
        })
        .expect("the app's ready line");
    let load = format!("node {} {port} 1000", app_file("load.js").display());
    let run = Command::new(env!("CARGO_BIN_EXE_heapsight"))
        .args(["capture", "-q", "--redact", "--pid", &node.id().to_string()])
        .args(["--signal", "SIGUSR2", "--dir"])
        .arg(&written)
        .args(["--load", &load, "--idle", "500ms", "--out"])
        .arg(&out)
        .current_dir(repo_root())
        .output()
        .expect("runs heapsight capture");
    let _ = node.kill();
    let _ = node.wait();
    assert!(
        run.status.success(),
        "capture failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    check_capture(&out);
    let left: Vec<_> = std::fs::read_dir(&written)
        .expect("the process's folder")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&written);
}
