//! Leaks held inside real npm packages (an express router, axios interceptors, a session
//! store, a metric's labels, a logger's transport...) land on the user's line that feeds them:
//! every leaky fixture of `LIBRARY_FIXTURE_APPS` is found with its kind, in its file, on one of
//! the lines its `expected.json` accepts, with at least the retained size measured for that
//! Node version; nothing else is reported, and every healthy twin stays clean. Checked on
//! plain snapshots under the majors of `support::LIBRARY_NODE_MAJORS`, one per layout that
//! placement reads (no allocation stacks: the graph and the syntax tree decide), and on
//! snapshots with allocation stacks (half the load: tracking is slow) under Node 20, and for
//! the leaky apps under Node 24 too (whose node fields differ when tracking is on).
//!
//! Each run prints its recall and precision at the user's line, per fixture.

use std::sync::Arc;

use heapsight_ide::{load, Analysis, Config, Input, LoadOptions, Progress};
use heapsight_tests::support::{
    expected, fixture_dir, fixture_snapshots, fixture_snapshots_tracked, Triple,
    LIBRARY_FIXTURE_APPS,
};

/// One fixture's outcome: leaks expected, found on an accepted line, findings reported.
#[derive(Debug, Default, Clone)]
struct Score {
    expected: usize,
    found: usize,
    reported: usize,
    /// What placed each found leak.
    evidence: Vec<String>,
}

/// `kind file:line` and retained bytes of every finding of a triple, placed in the app.
/// A finding as placed: kind, file, line, retained bytes, message, what chose the line,
/// whether it carries allocation stacks, and whether its holder is a library's structure.
type Placed = (String, String, u32, u64, String, String, bool, bool);

fn placed(app: &str, triple: &Triple) -> Vec<Placed> {
    let input = Input::Snapshots {
        a: triple.a.clone(),
        b: triple.b.clone(),
        c: triple.c.clone(),
        capture: None,
    };
    let options = LoadOptions {
        min_retained_bytes: 1_000_000,
        kinds: Vec::new(),
        cache_dir: None,
        limit: None,
        memory: None,
    };
    let what = format!("{app} on node {}", triple.node_major);
    let loaded = Arc::new(
        load(&input, &options, &Progress::new()).unwrap_or_else(|e| panic!("{what}: {e}")),
    );
    let root = fixture_dir(app).unwrap_or_else(|e| panic!("{what}: {e:#}"));
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let analysis = Analysis::workspace_only(loaded.clone(), &root, &Config::default());
    loaded
        .findings
        .iter()
        .zip(analysis.place_all())
        .map(|(finding, located)| {
            let (file, line, evidence) =
                located.map_or((String::from("<no user line>"), 0, String::new()), |l| {
                    let file = l.path.strip_prefix(&root).unwrap_or(&l.path);
                    (
                        file.display().to_string(),
                        l.start.0 + 1,
                        format!("{:?}", l.evidence),
                    )
                });
            (
                finding.kind().as_str().to_string(),
                file,
                line,
                finding.retained_bytes,
                finding.message.clone(),
                evidence,
                finding.allocations.is_some(),
                finding.holder.library.is_some(),
            )
        })
        .collect()
}

/// Checks `app` on `triple` (made with allocation tracking when `tracked`); `scale` shrinks
/// the size minimum for a lighter load.
fn check(app: &str, triple: &Triple, tracked: bool, scale: f64) -> Score {
    let exp = expected(app).unwrap_or_else(|e| panic!("{app}: {e:#}"));
    let what = format!(
        "{app} on node {}{}",
        triple.node_major,
        if tracked { " (tracked)" } else { "" }
    );
    let got = placed(app, triple);
    let mut score = Score {
        expected: exp.leaks.len(),
        found: 0,
        reported: got.len(),
        evidence: Vec::new(),
    };
    for leak in &exp.leaks {
        let accepted = leak.accepted();
        let hit = got.iter().find(|(kind, file, line, ..)| {
            *kind == leak.kind && accepted.iter().any(|(f, l)| f == file && l == line)
        });
        let (_, _, _, retained, message, evidence, stacks, library) = hit.unwrap_or_else(|| {
            panic!(
                "{what}: no {} finding on {accepted:?}; got {got:#?}",
                leak.kind
            )
        });
        let min = (leak.min_retained_on(triple.node_major) as f64 * scale) as u64;
        assert!(
            *retained >= min,
            "{what}: {} retains {retained} bytes, at least {min} were measured",
            leak.kind
        );
        // The structure is a library's exactly when the leak says so: the user's own Map
        // reached through express's Layers is not "express's".
        assert_eq!(
            *library,
            leak.package.is_some(),
            "{what}: library attribution in {message:?}"
        );
        // With allocation tracking, every leak carries its stacks.
        assert_eq!(
            *stacks, tracked,
            "{what}: allocation stacks exactly when tracked"
        );
        score.found += 1;
        score.evidence.push(evidence.clone());
    }
    assert_eq!(
        score.reported, score.found,
        "{what}: findings beyond the planted leaks: {got:#?}"
    );
    score
}

fn check_all(major: u32, tracked: bool) {
    let mut table = String::new();
    let (mut e, mut f, mut r) = (0, 0, 0);
    // Allocation tracking is slow: the healthy twins are checked tracked on Node 20 only.
    let apps = LIBRARY_FIXTURE_APPS
        .iter()
        .filter(|app| !tracked || major == 20 || app.ends_with("-leak"));
    for app in apps {
        let what = format!("{app} on node {major}");
        let (triple, scale) = if tracked {
            let plain =
                fixture_snapshots(app, major).unwrap_or_else(|err| panic!("{what}: {err:#}"));
            let t = fixture_snapshots_tracked(app, major)
                .unwrap_or_else(|err| panic!("{what}: {err:#}"));
            assert!(
                t.info.allocation_tracking.is_some(),
                "{what}: the tracked triple records its tracking"
            );
            // The tracked load is lighter: the size minimum shrinks with it.
            let scale = t.info.load.requests as f64 / plain.info.load.requests.max(1) as f64;
            (t, scale.min(1.0))
        } else {
            (
                fixture_snapshots(app, major).unwrap_or_else(|err| panic!("{what}: {err:#}")),
                1.0,
            )
        };
        let s = check(app, &triple, tracked, scale);
        table += &format!(
            "{app:32} expected {} found {} reported {} placed by {}\n",
            s.expected,
            s.found,
            s.reported,
            s.evidence.join(", ")
        );
        e += s.expected;
        f += s.found;
        r += s.reported;
    }
    eprintln!(
        "library leaks on node {major}{}: recall {f}/{e}, precision {f}/{r}\n{table}",
        if tracked {
            " with allocation stacks"
        } else {
            ""
        }
    );
    assert!(e >= 10, "at least ten library leaks are planted");
}

#[test]
fn library_leaks_on_node_20() {
    check_all(20, false);
}

#[test]
fn library_leaks_on_node_26() {
    check_all(26, false);
}

#[test]
fn library_leaks_with_allocation_stacks_on_node_20() {
    check_all(20, true);
}

#[test]
fn library_leaks_with_allocation_stacks_on_node_24() {
    check_all(24, true);
}
