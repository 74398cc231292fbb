//! `heapsight capture` on every fixture app, for real: the target started under the
//! machine's node with the inspector, its own load script as the workload. The triple must
//! parse, ids must grow from A to C, the manifest must list the app's entry script with its
//! path and source, and the leak finder must find each planted leak in the capture.

use std::process::Command;

use heapsight_leaks::{analyze_files, Options};
use heapsight_snapshot::{scan_file_max_js_id, Progress, Snapshot};
use heapsight_tests::support::{expected, repo_root, FIXTURE_APPS};
use serde_json::Value;

fn capture(app: &str) -> std::path::PathBuf {
    let root = repo_root();
    let out = std::env::temp_dir().join(format!("heapsight-capture-{app}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let main = ["main.js", "main.mjs"]
        .iter()
        .map(|m| root.join("fixtures").join(app).join(m))
        .find(|p| p.exists())
        .expect("fixture entry point");
    let load = format!(
        "node {} {{port}} 1000",
        root.join("fixtures").join(app).join("load.js").display()
    );
    let status = Command::new(env!("CARGO_BIN_EXE_heapsight"))
        .args([
            "capture",
            "-q",
            "--ready-line",
            r"ready port=(\d+)",
            "--load",
            &load,
            "--idle",
            "500ms",
        ])
        .arg("--out")
        .arg(&out)
        .arg("--")
        .arg("node")
        .arg(&main)
        .current_dir(&root)
        .output()
        .expect("runs heapsight capture");
    assert!(
        status.status.success(),
        "{app}: capture failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}

#[test]
fn every_fixture_app_is_captured_and_its_leak_found() {
    for app in FIXTURE_APPS {
        let dir = capture(app);
        let [a, b, c] = ["A", "B", "C"].map(|n| dir.join(format!("{n}.heapsnapshot")));
        let ids: Vec<u64> = [&a, &b, &c]
            .iter()
            .map(|p| {
                scan_file_max_js_id(p, &Progress::new())
                    .unwrap_or_else(|e| panic!("{app}: {e}"))
                    .max_js_id
            })
            .collect();
        assert!(
            ids[0] < ids[1] && ids[1] < ids[2],
            "{app}: ids grow {ids:?}"
        );
        Snapshot::open(&c, &Progress::new()).unwrap_or_else(|e| panic!("{app}: C parses: {e}"));

        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
                .expect("manifest JSON");
        let scripts = manifest["scripts"].as_array().expect("scripts");
        let entry = scripts
            .iter()
            .find(|s| {
                s["url"]
                    .as_str()
                    .is_some_and(|u| u.contains(&format!("fixtures/{app}/main.")))
            })
            .unwrap_or_else(|| panic!("{app}: the manifest lists the entry script: {scripts:#?}"));
        assert!(
            entry["source"]
                .as_str()
                .is_some_and(|s| s.contains("heapsight-fixture ready")),
            "{app}: its source"
        );
        assert_eq!(
            entry["sha256"].as_str().map(str::len),
            Some(64),
            "{app}: its hash"
        );

        // At 1,000 requests the leaks are about half their default size.
        let options = Options {
            threshold: 500_000,
            kinds: Vec::new(),
            memory: None,
        };
        let report = analyze_files(&a, &b, &c, &options, &Progress::new())
            .unwrap_or_else(|e| panic!("{app}: {e}"));
        let exp = expected(app).expect("expected.json");
        for leak in &exp.leaks {
            assert!(
                report.findings.iter().any(|f| f.kind.as_str() == leak.kind),
                "{app}: the {} leak is found in the capture: {:#?}",
                leak.kind,
                report.findings
            );
        }
        if exp.leaks.is_empty() {
            assert!(
                report.findings.is_empty(),
                "{app}: a control has no findings: {:#?}",
                report.findings
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
