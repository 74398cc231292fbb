//! Retainer paths as a person reads them, on real captures of every fixture app with a
//! planted leak: the readable path starts at the user's own variable naming the holder (the
//! first name of the holder in the fixture's `expected.json`), Node's internals above it
//! folded into one line that says what they are, and the whole path fits in a few lines.
//! The full path stays in the finding, and every hop of it is covered by the readable one.
//! The plain fixtures on every Node major, the library fixtures on `LIBRARY_NODE_MAJORS`.

use heapsight_leaks::{analyze_files, readable_lines, Finding, Options, ReadableStep};
use heapsight_snapshot::Progress;
use heapsight_tests::support::{
    expected, fixture_snapshots, FIXTURE_APPS, LIBRARY_FIXTURE_APPS, LIBRARY_NODE_MAJORS,
};

/// At most this many lines: a fold of the internals, the user's variable, and the few
/// hops from it down to one leaked item.
const MAX_LINES: usize = 7;

fn findings(app: &str, major: u32) -> Vec<Finding> {
    let triple =
        fixture_snapshots(app, major).unwrap_or_else(|e| panic!("{app} on node {major}: {e:#}"));
    analyze_files(
        &triple.a,
        &triple.b,
        &triple.c,
        &Options::default(),
        &Progress::new(),
    )
    .unwrap_or_else(|e| panic!("{app} on node {major}: {e}"))
    .findings
}

/// Checks every planted leak of `app`: its readable paths, and what is wrong with them.
fn check(app: &str, major: u32) -> (String, Vec<String>) {
    let mut wrong = Vec::new();
    let exp = expected(app).unwrap_or_else(|e| panic!("{app}: {e:#}"));
    let findings = findings(app, major);
    let mut shown = String::new();
    for leak in &exp.leaks {
        let f = findings
            .iter()
            .find(|f| f.kind.as_str() == leak.kind)
            .unwrap_or_else(|| panic!("{app}: no {} finding", leak.kind));
        let lines = readable_lines(f);
        let text = lines.join("\n");
        shown += &format!("# {app} ({})\n{text}\n", leak.kind);
        // Every hop of the full path is covered once, in order.
        let covered: Vec<usize> = f
            .readable_path
            .iter()
            .flat_map(ReadableStep::hops)
            .collect();
        if covered != (0..f.retainer_path.len()).collect::<Vec<_>>() {
            wrong.push(format!("{app}: hops covered {covered:?}"));
        }
        if lines.len() > MAX_LINES {
            wrong.push(format!("{app}: {} lines", lines.len()));
        }
        let Some(holder) = &leak.holder else {
            continue;
        };
        // The first line the reader reads after the folded internals names the user's
        // variable: `bus`, or `shutdown` of `shutdown.signal`.
        let variable = holder.split('.').next().unwrap_or(holder);
        let first_shown = f
            .readable_path
            .iter()
            .find(|s| !matches!(s, ReadableStep::Folded { .. }));
        // A variable (the scope's file known), or a property of a module's exports. When the
        // shortest path to the leaked items does not pass the holder (node-schedule's jobs
        // reached through a timer under Node 24), it still starts at a variable: the one
        // nearest the leak.
        let through_holder = f.retainer_path.iter().any(|h| h.id == f.holder.id);
        let names = match first_shown {
            Some(ReadableStep::Variable { name, scope, .. }) => {
                scope.is_some() && (name == variable || !through_holder)
            }
            Some(ReadableStep::Hop { index }) => {
                f.retainer_path[*index].edge.as_deref() == Some(variable)
            }
            _ => false,
        };
        if !names {
            wrong.push(format!(
                "{app}: starts at {first_shown:?}, not `{variable}`"
            ));
        }
    }
    (shown, wrong)
}

/// Every fixture app with a planted leak under node `major`.
fn check_all(major: u32) {
    let (mut shown, mut wrong) = (String::new(), Vec::new());
    // The library fixtures on the majors they are captured on (see `LIBRARY_NODE_MAJORS`).
    let library: &[&str] = if LIBRARY_NODE_MAJORS.contains(&major) {
        LIBRARY_FIXTURE_APPS
    } else {
        &[]
    };
    for app in FIXTURE_APPS.iter().chain(library) {
        let (text, problems) = check(app, major);
        shown += &text;
        wrong.extend(problems);
    }
    println!("{shown}");
    assert!(wrong.is_empty(), "node {major}: {wrong:#?}\n{shown}");
}

#[test]
fn on_node_18() {
    check_all(18);
}

#[test]
fn on_node_20() {
    check_all(20);
}

#[test]
fn on_node_22() {
    check_all(22);
}

#[test]
fn on_node_24() {
    check_all(24);
}

#[test]
fn on_node_26() {
    check_all(26);
}
