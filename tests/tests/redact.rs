//! `heapsight redact` on real captures of the fixture apps: the redacted triple gives the
//! same findings as the original, field for field (kind, holder, retained bytes, counts,
//! retainer paths, placement, allocation stacks), while a text the app built from its
//! requests (a client's user agent, an account id, the session secret) is in the original
//! snapshots and in none of the redacted ones. Also: the redactor gives the same bytes
//! whatever the chunking on a real snapshot, as the inspector's chunks cut it anywhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use heapsight_leaks::{analyze_files, Finding, Options};
use heapsight_redact::Redactor;
use heapsight_snapshot::Progress;
use heapsight_tests::support::{
    fixture_snapshots, fixture_snapshots_tracked, heapsight_binary, Triple,
};

/// Apps, each with a text its requests put in the heap (as a JavaScript string's contents):
/// express-session-leak is a library leak whose store is keyed by session id (property
/// names, kept by design) and holds the app's session secret as a string.
const APPS: &[(&str, &str)] = &[
    ("abort-signal-leak", "billing-ui/"),
    ("express-session-leak", "catalog-demo-secret"),
    ("closure-leak", "shop-backend/"),
    ("listener-leak", "load/"),
    ("express-seen-map-leak", "load/"),
];

fn findings(a: &Path, b: &Path, c: &Path) -> Vec<Finding> {
    analyze_files(a, b, c, &Options::default(), &Progress::new())
        .unwrap_or_else(|e| panic!("{}: {e}", c.display()))
        .findings
}

/// `heapsight redact` of the triple's folder into a fresh folder.
fn redact_folder(triple: &Triple, tag: &str) -> PathBuf {
    let out = std::env::temp_dir().join(format!(
        "heapsight-redact-{}-{tag}-{}",
        triple.app,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&out);
    let bin = heapsight_binary().expect("the heapsight binary");
    let run = Command::new(bin)
        .arg("redact")
        .arg(&triple.dir)
        .arg(&out)
        .output()
        .expect("runs heapsight redact");
    assert!(
        run.status.success(),
        "{}: redact failed: {}",
        triple.app,
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

/// Whether the snapshot's string table holds a string starting with `text`.
fn holds_string(snapshot: &Path, text: &str) -> bool {
    let bytes = std::fs::read(snapshot).expect("reads the snapshot");
    let needle = format!("\"{text}");
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn check_same_findings(triple: &Triple, secret: &str, tag: &str) {
    let app = &triple.app;
    let before = findings(&triple.a, &triple.b, &triple.c);
    assert!(!before.is_empty(), "{app}: the original has findings");
    assert!(
        holds_string(&triple.c, secret),
        "{app}: `{secret}` is in the original C"
    );
    let out = redact_folder(triple, tag);
    let [a, b, c] = ["A", "B", "C"].map(|n| out.join(format!("{n}.heapsnapshot")));
    for f in [&a, &b, &c] {
        assert!(
            !holds_string(f, secret),
            "{app}: `{secret}` is still in {}",
            f.display()
        );
    }
    let after = findings(&a, &b, &c);
    assert_eq!(after.len(), before.len(), "{app}: number of findings");
    for (x, y) in before.iter().zip(&after) {
        // The whole finding, as the JSON report writes it.
        let (x, y) = (
            serde_json::to_value(x).expect("serializes"),
            serde_json::to_value(y).expect("serializes"),
        );
        assert_eq!(x, y, "{app}: a finding changed");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn redacted_captures_give_the_same_findings_without_the_strings() {
    for &(app, secret) in APPS {
        let triple = fixture_snapshots(app, 20).unwrap_or_else(|e| panic!("{app}: {e:#}"));
        check_same_findings(&triple, secret, "node20");
    }
    // The other Nodes (from 22, a function reaches its Script through `script` rather than
    // `script_or_debug_info`).
    for major in [18, 22, 24, 26] {
        for &(app, secret) in &APPS[..2] {
            let triple = fixture_snapshots(app, major).unwrap_or_else(|e| panic!("{app}: {e:#}"));
            check_same_findings(&triple, secret, &format!("node{major}"));
        }
    }
}

/// With allocation tracking, the stacks' function and script names are kept.
#[test]
fn redacted_tracked_captures_keep_allocation_stacks() {
    let (app, secret) = APPS[0];
    let triple = fixture_snapshots_tracked(app, 20).unwrap_or_else(|e| panic!("{app}: {e:#}"));
    check_same_findings(&triple, secret, "tracked");
}

/// The inspector's chunks end anywhere: inside a number, a string, an escape.
#[test]
fn any_chunking_of_a_real_snapshot_gives_the_same_bytes() {
    let triple = fixture_snapshots("express-session-leak", 20).expect("fixture snapshots");
    let input = std::fs::read(&triple.c).expect("reads C");
    let redact = |sizes: &[usize]| {
        let mut r = Redactor::new();
        let mut out = Vec::with_capacity(input.len());
        let (mut at, mut k) = (0, 0);
        while at < input.len() {
            let n = sizes[k % sizes.len()].min(input.len() - at);
            r.feed(&input[at..at + n], &mut out).expect("redacts");
            at += n;
            k += 1;
        }
        let stats = r.finish().expect("a complete snapshot");
        assert!(stats.redacted > 0 && stats.redacted < stats.strings);
        out
    };
    let whole = redact(&[usize::MAX]);
    assert_eq!(redact(&[1]), whole, "byte by byte");
    assert_eq!(redact(&[7, 1, 3, 65_536, 2]), whole, "mixed chunks");
}
