//! The leak finder on real captures of every fixture app, under every supported Node
//! version: each planted leak is found with the right kind, in the right file, at the
//! line of its registering statement where V8's function position already is on it, with at
//! least the retained size measured when the fixture was written; nothing else is reported
//! (the healthy control's look-alikes included).

use heapsight_leaks::{analyze_files, LeakError, LeakKind, Options, TripleProblem};
use heapsight_snapshot::Progress;
use heapsight_tests::support::{expected, fixture_snapshots, FIXTURE_APPS};

fn kind_name(k: LeakKind) -> &'static str {
    k.as_str()
}

/// Analyzes `app` under node `major` and checks it against its expected.json.
fn check(app: &str, major: u32) -> (usize, usize, usize) {
    let triple =
        fixture_snapshots(app, major).unwrap_or_else(|e| panic!("{app} on node {major}: {e:#}"));
    let report = analyze_files(
        &triple.a,
        &triple.b,
        &triple.c,
        &Options::default(),
        &Progress::new(),
    )
    .unwrap_or_else(|e| panic!("{app} on node {major}: {e}"));
    let exp = expected(app).unwrap_or_else(|e| panic!("{app}: {e:#}"));
    let what = format!("{app} on node {major}");
    let mut found = 0;
    for leak in &exp.leaks {
        let hit = report
            .findings
            .iter()
            .find(|f| kind_name(f.kind) == leak.kind);
        let f = hit.unwrap_or_else(|| {
            panic!("{what}: no {} finding in {:#?}", leak.kind, report.findings)
        });
        let anchor = f
            .anchor
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: finding without code anchor"));
        let url = anchor.url.as_deref().unwrap_or("");
        // The heap knows the JavaScript that ran; the source layer maps it to TypeScript.
        let (file, line) = match &leak.compiled {
            Some(compiled) => (compiled.file.as_str(), compiled.line),
            None => (leak.file.as_str(), leak.line),
        };
        assert!(
            url.ends_with(&format!("{app}/{file}")),
            "{what}: finding in {url}, expected {file}"
        );
        // V8 places a function at its parameter list; for handlers written inline in the
        // registering call that is the call's own line. Collections are placed on their
        // growing call by the source layer.
        if matches!(
            f.kind,
            LeakKind::Listener | LeakKind::Timer | LeakKind::Closure
        ) {
            assert_eq!(
                anchor.line + 1,
                line,
                "{what}: line of the {} finding",
                leak.kind
            );
        }
        assert!(
            f.retained_bytes >= leak.min_retained_bytes,
            "{what}: {} retains {} bytes, at least {} were measured",
            leak.kind,
            f.retained_bytes,
            leak.min_retained_bytes
        );
        assert!(
            !f.retained_is_lower_bound,
            "{what}: the retained size is exact"
        );
        assert!(f.count >= 500, "{what}: {} leaked items counted", f.count);
        assert!(!f.retainer_path.is_empty(), "{what}: a retainer path");
        assert!(
            f.growth.target > f.growth.baseline,
            "{what}: the holder grew during the load"
        );
        found += 1;
    }
    let extra = report.findings.len() - found;
    assert_eq!(
        extra,
        0,
        "{what}: unexpected findings {:#?}",
        &report.findings[found.min(report.findings.len())..]
    );
    (exp.leaks.len(), found, report.findings.len())
}

fn check_all(major: u32) {
    let (mut expected_total, mut found_total, mut reported_total) = (0, 0, 0);
    for app in FIXTURE_APPS {
        let (e, f, r) = check(app, major);
        expected_total += e;
        found_total += f;
        reported_total += r;
    }
    // Recall and precision over every fixture.
    assert_eq!(found_total, expected_total, "recall on node {major}");
    assert_eq!(reported_total, found_total, "precision on node {major}");
    assert!(
        expected_total >= 4,
        "the fixtures plant at least four leaks"
    );
}

#[test]
fn fixtures_on_node_18() {
    check_all(18);
}

#[test]
fn fixtures_on_node_20() {
    check_all(20);
}

#[test]
fn fixtures_on_node_22() {
    check_all(22);
}

#[test]
fn fixtures_on_node_24() {
    check_all(24);
}

#[test]
fn fixtures_on_node_26() {
    check_all(26);
}

#[test]
fn listener_finding_names_the_emitter_and_event() {
    let t = fixture_snapshots("listener-leak", 20).expect("triple");
    let report =
        analyze_files(&t.a, &t.b, &t.c, &Options::default(), &Progress::new()).expect("analyzes");
    let f = &report.findings[0];
    assert_eq!(f.event.as_deref(), Some("data"));
    // The load sends 2,000 requests, every tenth a publish: 1,800 sessions subscribe.
    assert_eq!(f.count, 1800, "each listener counted once");
    assert_eq!(f.holder.class, "EventEmitter");
    assert_eq!(
        f.holder.binding.as_ref().map(|b| b.name.as_str()),
        Some("bus")
    );
    assert!(
        f.message
            .starts_with("listener on long-lived emitter `bus` ('data') retains "),
        "{}",
        f.message
    );
    assert!(
        f.captured.contains(&"session".to_string()),
        "the closures capture the session: {:?}",
        f.captured
    );
    assert!(
        report.comparison.iter().any(|d| d.new > 0),
        "a comparison view"
    );
}

#[test]
fn snapshots_out_of_order_are_refused() {
    let t = fixture_snapshots("listener-leak", 20).expect("triple");
    let err = analyze_files(&t.c, &t.b, &t.a, &Options::default(), &Progress::new())
        .expect_err("refused");
    assert!(
        matches!(err, LeakError::Triple(TripleProblem::Order(_))),
        "{err}"
    );
    assert!(err.to_string().contains("not in order"), "{err}");
}

#[test]
fn snapshots_of_two_processes_are_refused() {
    let one = fixture_snapshots("listener-leak", 20).expect("triple");
    let other = fixture_snapshots("listener-leak", 22).expect("triple");
    let err = analyze_files(
        &one.a,
        &one.b,
        &other.c,
        &Options::default(),
        &Progress::new(),
    )
    .expect_err("refused");
    assert!(
        matches!(
            err,
            LeakError::Triple(TripleProblem::DifferentProcess { .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("not from the same process"),
        "{err}"
    );
}

#[test]
fn threshold_and_kinds_filter() {
    let t = fixture_snapshots("closure-leak", 20).expect("triple");
    let high = Options {
        threshold: 1_000_000_000,
        kinds: Vec::new(),
        memory: None,
    };
    let report = analyze_files(&t.a, &t.b, &t.c, &high, &Progress::new()).expect("analyzes");
    assert!(report.findings.is_empty(), "nothing retains a gigabyte");
    let timers_only = Options {
        threshold: 1_000_000,
        kinds: vec![LeakKind::Timer],
        memory: None,
    };
    let report = analyze_files(&t.a, &t.b, &t.c, &timers_only, &Progress::new()).expect("analyzes");
    assert!(
        report.findings.is_empty(),
        "the closure leak is not a timer"
    );
}

/// The healthy LRU is full since start-up and the load replaces every entry: seen from the
/// final snapshot alone it holds megabytes of new entries, like a growing cache. The
/// baseline's class totals are what clear it.
#[test]
fn churned_bounded_cache_is_told_from_a_growing_one() {
    let t = fixture_snapshots("healthy-caches", 20).expect("triple");
    let report =
        analyze_files(&t.a, &t.b, &t.c, &Options::default(), &Progress::new()).expect("analyzes");
    assert!(report.findings.is_empty(), "{:#?}", report.findings);

    let base = heapsight_snapshot::scan_file_max_js_id(&t.a, &Progress::new()).expect("A");
    let target = heapsight_snapshot::scan_file_max_js_id(&t.b, &Progress::new()).expect("B");
    let source = heapsight_snapshot::open_source(&t.c).expect("C");
    let graph = heapsight_snapshot::read_graph(&source, &Progress::new()).expect("C parses");
    let snap = heapsight_snapshot::Snapshot::from_graph(graph, &Progress::new()).expect("C");
    let without_baseline =
        heapsight_leaks::find(&snap, base.max_js_id, target.max_js_id, &Options::default());
    let lru = without_baseline
        .iter()
        .find(|f| f.kind == LeakKind::Collection)
        .unwrap_or_else(|| {
            panic!("the final snapshot alone shows the churned LRU: {without_baseline:#?}")
        });
    assert_eq!(
        lru.holder.binding.as_ref().map(|b| b.name.as_str()),
        Some("pageCache")
    );
    assert!(lru.retained_bytes > 1_000_000, "{}", lru.retained_bytes);
}
