//! A snapshot too large for the memory left is refused before it is read, with the figure
//! it needs and where the available figure comes from: `heapsight stats` and `analyze` run
//! inside a real v1 memory cgroup whose limit is just under the estimate (refused, exit 2,
//! nothing read), then with `--force` (the estimate is on the safe side: the real peak fits),
//! then under a limit above the estimate (accepted). The library path the language server
//! takes (`Options::memory`) is checked on the same triple, and the language server itself,
//! over stdio in such a cgroup, says why and keeps answering.

mod lsp_client;

use std::path::Path;
use std::process::{Command, Output};

use heapsight_leaks::{analyze_files, Options};
use heapsight_lsp::StatusNotification;
use heapsight_snapshot::{MemoryBudget, Progress, SnapshotError};
use heapsight_tests::cgroup::{TempCgroup, Version};
use heapsight_tests::support::{fixture_snapshots, heapsight_binary, Triple};
use lsp_client::{fixture_workspace, Client};
use serde_json::json;

fn triple() -> Triple {
    fixture_snapshots("listener-leak", 20).expect("the fixture's triple")
}

/// `heapsight ARGS` started inside `cgroup`.
fn heapsight_in(cgroup: &TempCgroup, args: &[&str]) -> Output {
    let bin = heapsight_binary().expect("the heapsight binary");
    let wrapper = cgroup.exec_inside();
    Command::new(&wrapper[0])
        .args(&wrapper[1..])
        .arg(bin)
        .args(args)
        .output()
        .expect("runs heapsight")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn a_snapshot_needing_more_than_the_cgroup_leaves_is_refused_with_the_figures() {
    let t = triple();
    // `stats` builds the snapshot's analysis; `analyze` the leak finder's columns beside it.
    let stats_need = heapsight_snapshot::file_memory_needed(&t.c)
        .expect("the estimate")
        .with_per_node(heapsight_snapshot::ClassNames::BYTES_PER_NODE);
    let analyze_need = heapsight_leaks::memory_needed(&t.c).expect("the estimate");
    assert!(analyze_need.bytes > stats_need.bytes);
    let cgroup = match TempCgroup::create(Version::V1, stats_need.bytes) {
        Ok(c) => c,
        Err(why) => panic!("no v1 memory cgroup on this machine ({why}): CI runs as root"),
    };
    let stats = ["stats", path(&t.c)];
    let analyze = [
        "analyze",
        path(&t.a),
        path(&t.b),
        path(&t.c),
        "--format",
        "json",
    ];
    for (args, need) in [(&stats[..], stats_need), (&analyze[..], analyze_need)] {
        // A megabyte under the estimate (the real peak is well under it).
        cgroup
            .write(
                "memory.limit_in_bytes",
                &(need.bytes - (1 << 20)).to_string(),
            )
            .expect("set the limit");
        let run = heapsight_in(&cgroup, args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("needs about")
                && stderr.contains("MB available")
                && stderr.contains(&format!("cgroup v1 {}", cgroup.path))
                && stderr.contains("--force"),
            "{args:?}: {stderr}"
        );
        assert!(run.stdout.is_empty(), "{args:?}: no report");

        // Forced, it runs: the real peak is under the estimate.
        let forced = heapsight_in(&cgroup, &[args, &["--force"]].concat());
        assert!(
            forced.status.success(),
            "{args:?} --force: {}",
            String::from_utf8_lossy(&forced.stderr)
        );
        assert!(
            !forced.stdout.is_empty(),
            "{args:?} --force prints its report"
        );
    }
    // Room for it: no refusal.
    cgroup
        .write(
            "memory.limit_in_bytes",
            &(analyze_need.bytes * 2).to_string(),
        )
        .expect("raise the limit");
    for args in [&stats[..], &analyze[..]] {
        let run = heapsight_in(&cgroup, args);
        assert!(
            run.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
}

#[test]
fn the_library_refuses_before_reading_when_a_budget_is_short() {
    let t = triple();
    let need = heapsight_leaks::memory_needed(&t.c).expect("the estimate");
    let with_budget = |available: u64| Options {
        memory: Some(MemoryBudget {
            available,
            words: "the test's budget".into(),
        }),
        ..Options::default()
    };
    let short = analyze_files(
        &t.a,
        &t.b,
        &t.c,
        &with_budget(need.bytes - 1),
        &Progress::new(),
    );
    match short {
        Err(heapsight_leaks::LeakError::Snapshot {
            path,
            source:
                SnapshotError::NotEnoughMemory {
                    needed,
                    available,
                    nodes,
                    ..
                },
        }) => {
            assert_eq!(path, t.c);
            assert_eq!((needed, available), (need.bytes, need.bytes - 1));
            assert_eq!(nodes, need.nodes);
        }
        other => panic!(
            "expected a refusal for memory, got {:?}",
            other.map(|r| r.findings.len())
        ),
    }
    let enough = analyze_files(&t.a, &t.b, &t.c, &with_budget(need.bytes), &Progress::new())
        .expect("analyzes within its budget");
    assert!(!enough.findings.is_empty(), "the listener leak is found");
}

#[test]
fn the_language_server_says_why_and_keeps_answering() {
    let t = triple();
    let need = heapsight_leaks::memory_needed(&t.c).expect("the estimate");
    let cgroup = match TempCgroup::create(Version::V1, need.bytes - (1 << 20)) {
        Ok(c) => c,
        Err(why) => panic!("no v1 memory cgroup on this machine ({why}): CI runs as root"),
    };
    let workspace = fixture_workspace("listener-leak", "memory-check");
    let wrapper = cgroup.exec_inside();
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let mut client = Client::start_under(&wrapper, &workspace.0, json!({}), json!({}));
    let status = client.await_notification::<StatusNotification>(|s| s.state != "analyzing");
    assert_eq!(status.state, "error", "{}", client.statuses());
    assert!(
        status.message.contains("needs about")
            && status
                .message
                .contains(&format!("cgroup v1 {}", cgroup.path)),
        "{}",
        status.message
    );
    // Still up, and answering: there is no report to show, and it says so.
    let report = client.request_raw(
        "workspace/executeCommand",
        json!({"command": "heapsight.showReport"}),
    );
    let answer = report.expect_err("no analysis to report");
    assert_eq!(answer["message"], "no analysis loaded yet", "{answer}");
    assert!(client.is_running());
    assert!(client.shutdown().success());
}
