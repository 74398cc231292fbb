//! The fixture apps and the machinery that snapshots them: each `expected.json` points at the
//! lines it names, and a real triple made under the machine's Node 20 has the shape the parser
//! expects and leaks (or does not) as the app says.

use std::fs::{self, File};
use std::io::Read;

use heapsight_tests::support::{self, FIXTURE_APPS, LAUNCH_FORM_APPS, LIBRARY_FIXTURE_APPS};

#[test]
fn fixture_apps_are_all_listed() {
    let mut on_disk: Vec<String> = fs::read_dir(support::fixtures_dir())
        .expect("read fixtures/")
        .map(|entry| entry.expect("dir entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with(['_', '.']) && name != "node_modules")
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FIXTURE_APPS
        .iter()
        .chain(LIBRARY_FIXTURE_APPS)
        .chain(LAUNCH_FORM_APPS)
        .map(|s| (*s).to_owned())
        .collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "fixtures/ and support::FIXTURE_APPS + LIBRARY_FIXTURE_APPS + LAUNCH_FORM_APPS disagree"
    );
}

#[test]
fn expected_json_lines_hold_their_code() {
    // The launch-form apps have an expected.json when they have code of their own (not the
    // one whose `npm start` runs only a package).
    let launch = LAUNCH_FORM_APPS.iter().filter(|app| {
        support::fixture_dir(app)
            .map(|dir| dir.join("expected.json").is_file())
            .unwrap_or(false)
    });
    for app in FIXTURE_APPS
        .iter()
        .chain(LIBRARY_FIXTURE_APPS)
        .chain(launch)
    {
        let expected = support::expected(app).expect("expected.json");
        let dir = support::fixture_dir(app).expect("fixture dir");
        let places = expected
            .leaks
            .iter()
            .map(|l| (&l.file, l.line, &l.code))
            .chain(
                expected
                    .leaks
                    .iter()
                    .flat_map(|l| l.accept.iter().map(|a| (&a.file, a.line, &a.code))),
            )
            .chain(
                expected
                    .lookalikes
                    .iter()
                    .map(|l| (&l.file, l.line, &l.code)),
            );
        for (file, line, code) in places {
            let text = fs::read_to_string(dir.join(file)).expect("fixture source");
            let at = usize::try_from(line).expect("line fits usize");
            let got = text.lines().nth(at.saturating_sub(1)).unwrap_or("");
            assert!(
                line >= 1 && got.contains(code.as_str()),
                "{app}/{file}:{line} should contain {code:?} but is {got:?}"
            );
        }
        let healthy = app.starts_with("healthy-") || app.ends_with("-healthy");
        assert_eq!(
            expected.leaks.is_empty(),
            healthy,
            "{app}: controls and only controls have no leaks"
        );
    }
}

#[test]
fn listener_leak_triple_on_node20() {
    let triple = support::fixture_snapshots("listener-leak", 20).expect("snapshot triple");
    assert!(
        triple.node_version.starts_with("v20."),
        "{}",
        triple.node_version
    );
    for file in [&triple.a, &triple.b, &triple.c] {
        let mut head = [0u8; 20];
        File::open(file)
            .and_then(|mut f| f.read_exact(&mut head))
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(&head, br#"{"snapshot":{"meta":"#, "{}", file.display());
    }
    let labels: Vec<&str> = triple
        .info
        .snapshots
        .iter()
        .map(|s| s.label.as_str())
        .collect();
    assert_eq!(labels, ["A", "B", "C"]);
    // Reusing the cache gives the same files.
    let again = support::fixture_snapshots("listener-leak", 20).expect("cached triple");
    assert_eq!(again.info.pid, triple.info.pid);
}

/// Heap growth from A to C, as the driver measured it (`heapUsed` after gc): a few MB for every
/// leaky app, well under one for the controls. Counts from V8, not from our parser, so this
/// checks the fixtures themselves.
#[test]
fn fixtures_leak_as_their_expected_json_says() {
    const LEAKY_MIN: u64 = 5_000_000;
    const HEALTHY_MAX: u64 = 2_000_000;
    let mut report = Vec::new();
    for app in FIXTURE_APPS {
        let triple = support::fixture_snapshots(app, 20).expect("snapshot triple");
        let used = |label: &str| {
            triple
                .info
                .snapshots
                .iter()
                .find(|s| s.label == label)
                .map_or(0, |s| s.heap_used)
        };
        let growth = used("C").saturating_sub(used("A"));
        let leaky = !support::expected(app)
            .expect("expected.json")
            .leaks
            .is_empty();
        report.push(format!("{app}: {growth} bytes"));
        if leaky {
            assert!(
                growth >= LEAKY_MIN,
                "{app} should leak at least {LEAKY_MIN} bytes, grew {growth}"
            );
        } else {
            assert!(
                growth <= HEALTHY_MAX,
                "{app} should not leak, grew {growth}"
            );
        }
    }
    eprintln!("{}", report.join("\n"));
}

/// DevTools' engine (the peer the parser is cross-checked against) reads a fixture snapshot and
/// sees the leak: the `bus` EventEmitter retains megabytes. Needs `bash tests/setup.sh`.
#[test]
fn devtools_sees_the_listener_leak() {
    let triple = support::fixture_snapshots("listener-leak", 20).expect("snapshot triple");
    let summary = support::devtools_summary(&triple.c).expect("devtools summary");
    assert!(summary.node_count > 10_000 && summary.edge_count > summary.node_count);
    let class_self: u64 = summary.classes.iter().map(|c| c.self_size).sum();
    assert!(
        class_self <= summary.total_size,
        "{class_self} > {}",
        summary.total_size
    );
    let bus = summary
        .top_retained
        .iter()
        .find(|n| n.name == "EventEmitter")
        .expect("an EventEmitter among the top retainers");
    assert!(bus.retained_size > 5_000_000, "{bus:?}");
}
