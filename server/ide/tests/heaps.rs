//! The editor layer on capture folders that hold several heaps, assembled from real
//! fixture triples: every complete heap is loaded (then from the cache, heap by heap), an
//! incomplete one is listed with its note, each finding names its heap and gets an id no
//! other heap's finding has, and the report and hover say which heap a leak is in. A
//! manifest that says the process ran none of the workspace's code gives its warning.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use heapsight_ide::{
    inputs, load, Analysis, Config, HeapStatus, LoadOptions, Progress, Source, WarningCode,
};
use heapsight_tests::captures::{write_capture, HeapSpec, Part, PartKind, PartSpec};

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn thread(id: u64, app: &'static str, labels: &'static [&'static str]) -> PartSpec {
    let complete = labels.len() == 3;
    PartSpec {
        part: Part {
            kind: PartKind::Thread,
            folder: format!("threads/{id}"),
            pid: None,
            thread_id: Some(id),
            title: format!("worker {id} (main.js)"),
            url: None,
            complete,
            note: (!complete).then(|| "ended before C".to_owned()),
        },
        heap: HeapSpec {
            labels,
            ..HeapSpec::of(app)
        },
    }
}

/// A capture and what loading it must give.
struct Case {
    name: &'static str,
    main: HeapSpec,
    parts: Vec<PartSpec>,
    /// `title: status findings` per heap.
    heaps: &'static [&'static str],
    /// `id-shape heap` per finding, ids with their node id as `<id>`.
    findings: &'static [&'static str],
    /// Warning codes.
    warnings: &'static [WarningCode],
    /// Lines the report must hold, in order.
    report: &'static [&'static str],
}

fn check(case: Case) {
    let name = case.name;
    let dir = TempDir(
        std::env::temp_dir().join(format!("heapsight-ide-heaps-{name}-{}", std::process::id())),
    );
    let capture = dir.0.join("capture");
    write_capture(&capture, &case.main, &case.parts).unwrap();
    let input = inputs::from_paths(std::slice::from_ref(&capture)).unwrap();
    let options = LoadOptions {
        min_retained_bytes: 1_000_000,
        kinds: Vec::new(),
        cache_dir: Some(dir.0.join("cache")),
        limit: None,
        memory: None,
    };
    let first = load(&input, &options, &Progress::new()).unwrap();
    let again = load(&input, &options, &Progress::new()).unwrap();
    assert_eq!(
        (first.source, again.source),
        (Source::Analyzed, Source::Cache),
        "{name}: every heap is cached"
    );
    for loaded in [&first, &again] {
        let heaps: Vec<String> = loaded
            .heaps
            .iter()
            .map(|h| {
                let status = match h.report.status {
                    HeapStatus::Analyzed => "analyzed",
                    HeapStatus::Incomplete => "incomplete",
                    HeapStatus::Failed => "failed",
                };
                format!("{}: {status} {}", h.report.title, h.report.findings)
            })
            .collect();
        assert_eq!(heaps, case.heaps, "{name}");
        let codes: Vec<WarningCode> = loaded.warnings.iter().map(|w| w.code).collect();
        assert_eq!(codes, case.warnings, "{name}");
    }

    let root = dir.0.clone();
    let analysis = Analysis::new(Arc::new(first), &root, &Config::default());
    let ids = regex_lite::Regex::new(r"-\d+").unwrap();
    let mut findings: Vec<String> = analysis
        .findings()
        .map(|(id, f)| {
            format!(
                "{} {}",
                ids.replace(&id, "-<id>"),
                f.heap.as_deref().unwrap_or("?")
            )
        })
        .collect();
    findings.sort();
    assert_eq!(findings, case.findings, "{name}");
    let report = analysis.report_markdown();
    let mut lines = report.lines();
    for want in case.report {
        assert!(
            lines.any(|l| l.starts_with(want)),
            "{name}: `{want}` (in this order) in\n{report}"
        );
    }
}

#[test]
fn every_heap_is_loaded_and_named() {
    let cases = vec![
        Case {
            name: "two-leaks",
            // The same app in two heaps: holders may have the same node id, ids must differ.
            main: HeapSpec::of("listener-leak"),
            parts: vec![
                thread(1, "listener-leak", &["A", "B", "C"]),
                thread(2, "closure-leak", &["A", "B"]),
            ],
            heaps: &[
                "main thread: analyzed 1",
                "worker 1 (main.js): analyzed 1",
                "worker 2 (main.js): incomplete 0",
            ],
            findings: &[
                "listener-<id> main thread",
                "listener-<id>-h1 worker 1 (main.js)",
            ],
            warnings: &[],
            report: &[
                "# heapsight report",
                "Looked at main thread (pid ",
                "## 1. listener leak at ",
                "Heap: **",
                "## 2. listener leak at ",
                "Heap: **",
            ],
        },
        Case {
            name: "npm",
            main: HeapSpec {
                workspace_scripts: Some(0),
                command: vec!["npm start".to_owned()],
                ..HeapSpec::of("healthy-listeners")
            },
            parts: Vec::new(),
            heaps: &["main thread: analyzed 0"],
            findings: &[],
            warnings: &[WarningCode::NotTheService],
            report: &[
                "# heapsight report",
                "> **Warning:** the captured process is npm (pid ",
                "No leaks above the threshold in these snapshots: read the warning above.",
            ],
        },
    ];
    for case in cases {
        check(case);
    }
}

#[test]
fn a_part_folder_that_links_out_of_the_capture_is_not_read() {
    let dir = TempDir(
        std::env::temp_dir().join(format!("heapsight-ide-heaps-link-{}", std::process::id())),
    );
    let capture = dir.0.join("capture");
    let main = HeapSpec::of("healthy-listeners");
    write_capture(
        &capture,
        &main,
        &[thread(1, "listener-leak", &["A", "B", "C"])],
    )
    .unwrap();
    // The part's files move out; a link named as the part leads to them.
    let outside = dir.0.join("outside");
    std::fs::rename(capture.join("threads/1"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, capture.join("threads/1")).unwrap();
    let input = inputs::from_paths(std::slice::from_ref(&capture)).unwrap();
    let options = LoadOptions {
        min_retained_bytes: 1_000_000,
        ..LoadOptions::default()
    };
    let loaded = load(&input, &options, &Progress::new()).unwrap();
    let part = &loaded.heaps[1].report;
    assert_eq!(
        (part.status, part.note.as_deref()),
        (
            HeapStatus::Failed,
            Some("its folder `threads/1` leads outside the capture")
        )
    );
    assert_eq!(loaded.findings.len(), 0, "the healthy main heap's only");
    assert_eq!(
        loaded.warnings.iter().map(|w| w.text()).collect::<Vec<_>>(),
        ["worker 1 (main.js): not analyzed: its folder `threads/1` leads outside the capture"]
    );
}
