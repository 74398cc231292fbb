//! Bad input gets a typed error that says what and where — never a panic, never a
//! huge allocation. Each case starts from a valid generated snapshot and breaks one thing.

mod common;

use common::{Gen, Layout};
use heapsight_snapshot::{read_graph, scan_max_js_id, Progress, Snapshot, SnapshotError};

fn valid() -> String {
    let mut g = Gen::new();
    let a = g.node("object", "Alpha", 10);
    let b = g.node("string", "héllo \u{1F600}", 20);
    let c = g.node("closure", "fn", 30);
    g.edge(0, "element", "1", a);
    g.edge(a, "property", "s", b);
    g.edge(a, "internal", "f", c);
    g.edge(c, "weak", "back", a);
    g.locations.push([c as u64, 7, 2, 14]);
    g.to_json(Layout::Node20)
}

fn load(text: &str) -> Result<Snapshot, SnapshotError> {
    Snapshot::from_bytes(text.as_bytes(), &Progress::new())
}

/// One check per case: the error's message must contain every fragment.
fn check(text: &str, fragments: &[&str]) {
    match load(text) {
        Ok(_) => panic!("expected an error containing {fragments:?}"),
        Err(e) => {
            let msg = e.to_string();
            for f in fragments {
                assert!(msg.contains(f), "error `{msg}` lacks `{f}`");
            }
        }
    }
}

#[test]
fn the_valid_base_loads() {
    let snap = load(&valid()).expect("valid snapshot loads");
    assert_eq!(snap.graph.node_count(), 4);
    assert_eq!(snap.graph.edge_count(), 4);
    assert_eq!(
        snap.graph.node_name(heapsight_snapshot::NodeIndex(2)),
        "héllo \u{1F600}"
    );
    let loc = snap
        .graph
        .location(heapsight_snapshot::NodeIndex(3))
        .expect("closure has a location");
    assert_eq!((loc.script_id, loc.line, loc.column), (7, 2, 14));
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let text = valid();
    for cut in 0..text.len() {
        if !text.is_char_boundary(cut) {
            continue;
        }
        let r = load(&text[..cut]);
        assert!(
            r.is_err(),
            "a snapshot cut at byte {cut} of {} must not load",
            text.len()
        );
        let r = scan_max_js_id(&&text.as_bytes()[..cut], &Progress::new());
        // The id scan needs only the nodes; cuts after them may succeed, but never panic.
        let nodes_close = text.find("],\n\"edges\"").unwrap_or(0);
        if cut <= nodes_close {
            assert!(
                r.is_err(),
                "id scan of a cut at {cut} (before the edges) must fail"
            );
        }
    }
}

#[test]
fn truncated_names_the_section() {
    let text = valid();
    let cut = text.find("\"edges\"").expect("has edges") + 12;
    check(&text[..cut], &["truncated", "edges"]);
    check("", &["truncated", "empty"]);
}

#[test]
fn not_json() {
    check(
        "\u{0}\u{1}binary garbage",
        &["malformed snapshot at byte 0", "expected `{`"],
    );
    check("{\"nodes\":[]}", &["expected the `snapshot` key first"]);
    let text = valid().replacen("\"nodes\":[", "\"nodes\":[x", 1);
    check(&text, &["unexpected `x` in a number array"]);
}

#[test]
fn missing_meta_field() {
    let text = valid().replacen("\"edge_count\",", "", 1);
    check(
        &text,
        &["unusable snapshot header", "no `edge_count` field"],
    );
    let text = valid().replacen("\"meta\":{", "\"metaa\":{", 1);
    check(&text, &["unusable snapshot header", "meta"]);
}

#[test]
fn edge_past_the_nodes_array() {
    // The last edge (weak, from the closure) points at node 1; point it at node 400.
    let text = valid();
    let edges_close = text
        .find("],\n\"trace_function_infos\"")
        .expect("edges end");
    let last = text[..edges_close].rfind("\n6,").expect("weak edge");
    let broken = format!("{}\n6,0,2800{}", &text[..last], &text[edges_close..]);
    check(
        &broken,
        &["edge 3", "to_node", "2800", "past the nodes array"],
    );
    let misaligned = format!("{}\n6,0,8{}", &text[..last], &text[edges_close..]);
    check(&misaligned, &["not a multiple of the 7 node fields"]);
}

#[test]
fn string_index_out_of_range() {
    // Node 1's name is string 2 ("Alpha"); make it 9999.
    let text = valid();
    let nodes_at = text.find("\"nodes\":[").expect("nodes");
    let rec = text[nodes_at..].find("\n3,").expect("object record") + nodes_at;
    let broken = format!("{}\n3,9999{}", &text[..rec], &text[rec + 4..]);
    check(&broken, &["node 1", "`name`", "9999", "past the"]);
}

#[test]
fn counts_that_lie() {
    let text = valid().replacen("\"node_count\":4", "\"node_count\":5", 1);
    // An edge may still be in range for 5 nodes, so the mismatch is caught at the end.
    check(&text, &["node_count", "says 5", "holds 4"]);
    let text = valid().replacen("\"edge_count\":4", "\"edge_count\":4000000000000", 1);
    check(&text, &["edges"]);
    let text = valid().replacen("\"node_count\":4", "\"node_count\":99999999999", 1);
    check(&text, &["more than this reader supports"]);
}

#[test]
fn numbers_too_large_or_not_integers() {
    let text = valid().replacen("\"nodes\":[9,", "\"nodes\":[123456789012345678901,", 1);
    check(&text, &["number too large"]);
    let text = valid().replacen("\"nodes\":[9,", "\"nodes\":[-9,", 1);
    check(&text, &["negative number"]);
    let text = valid().replacen("\"nodes\":[9,", "\"nodes\":[9.5,", 1);
    check(&text, &["fractional number"]);
    let text = valid().replacen("\"nodes\":[9,", "\"nodes\":[9,,", 1);
    check(&text, &["unexpected `,`"]);
}

#[test]
fn self_size_past_32_bits_is_kept() {
    let mut g = Gen::new();
    let a = g.node("native", "Huge", 6_000_000_000);
    g.edge(0, "element", "1", a);
    let snap = load(&g.to_json(Layout::Node24)).expect("loads");
    assert_eq!(
        snap.retained_size(heapsight_snapshot::NodeIndex::ROOT),
        6_000_000_000
    );
}

#[test]
fn lone_surrogates_and_escapes_decode_leniently() {
    let text = valid().replacen("\"<dummy>\"", "\"a\\ud800b\\udc00c\\u00e9\\n\\\"\"", 1);
    let graph = read_graph(&text.as_bytes(), &Progress::new()).expect("loads");
    assert_eq!(graph.strings().get(0), "a\u{FFFD}b\u{FFFD}cé\n\"");
    let bad = valid().replacen("\"<dummy>\"", "\"\\q\"", 1);
    check(&bad, &["invalid escape"]);
}

#[test]
fn layouts_of_every_node_version_load_alike() {
    let mut g = Gen::new();
    let a = g.node("object", "A", 10);
    let b = g.node("object", "B", 5);
    g.edge(0, "element", "1", a);
    g.edge(a, "property", "b", b);
    for layout in [Layout::Node14, Layout::Node20, Layout::Node24] {
        let snap = load(&g.to_json(layout)).unwrap_or_else(|e| panic!("{layout:?}: {e}"));
        assert_eq!(
            snap.retained_size(heapsight_snapshot::NodeIndex(a)),
            15,
            "{layout:?}"
        );
        assert_eq!(
            snap.graph.header().nodes.field_count,
            if matches!(layout, Layout::Node20) {
                7
            } else {
                6
            }
        );
    }
}

#[test]
fn whitespace_anywhere_and_no_newlines() {
    let text = valid();
    let compact: String = text.replace(",\n", ",");
    load(&compact).expect("no newlines is fine");
    let spaced = text.replace(',', " ,\t").replace('[', "[ \r\n");
    // The header's JSON tolerates this too; strings gained spaces only between items.
    load(&spaced).expect("extra white space is fine");
}

#[test]
fn id_scan_finds_the_largest_odd_id() {
    let mut g = Gen::new();
    let a = g.node("object", "A", 1);
    let b = g.node("native", "B", 1);
    g.nodes[a as usize].id = 41;
    g.nodes[b as usize].id = 1000;
    let scan =
        scan_max_js_id(&g.to_json(Layout::Node24).as_bytes(), &Progress::new()).expect("scans");
    assert_eq!(scan.max_js_id, 41);
    assert_eq!(scan.max_id, 1000);
    assert_eq!(scan.node_count, 3);
}

#[test]
fn cancellation_stops_the_reader() {
    let p = Progress::new();
    p.cancel();
    let err = Snapshot::from_bytes(valid().as_bytes(), &p).expect_err("cancelled");
    assert!(matches!(err, SnapshotError::Cancelled), "{err}");
}

#[test]
fn missing_file_names_the_path() {
    let err = Snapshot::open(
        std::path::Path::new("/nonexistent/x.heapsnapshot"),
        &Progress::new(),
    )
    .expect_err("fails");
    assert!(
        err.to_string().contains("/nonexistent/x.heapsnapshot"),
        "{err}"
    );
}

/// Inputs the fuzzers found (kept under `fuzz/regressions/`): each must give a typed error,
/// and, in this debug-checked test build, no overflow panic.
#[test]
fn fuzz_regressions_are_errors() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut checked = 0;
    for name in [
        "snapshot-1.bin",
        "snapshot-2.bin",
        "snapshot-3.bin",
        "snapshot-4.bin",
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let err = Snapshot::from_bytes(&bytes, &Progress::new()).expect_err(name);
        assert!(
            err.to_string().contains("add up past 2^64"),
            "{name}: {err}"
        );
        checked += 1;
    }
    let bytes = std::fs::read(dir.join("baseline_scan-1.bin")).expect("baseline_scan-1.bin");
    // It overflowed the class totals before its own syntax error was reached.
    let err = heapsight_snapshot::scan_baseline(&bytes.as_slice(), &Progress::new())
        .expect_err("an error");
    assert!(
        matches!(
            err,
            heapsight_snapshot::SnapshotError::Syntax { .. }
                | heapsight_snapshot::SnapshotError::BadValue { .. }
        ),
        "{err}"
    );
    // A single huge id in a tiny file must not make the id set huge: it loads fine.
    let bytes = std::fs::read(dir.join("baseline_scan-2.bin")).expect("baseline_scan-2.bin");
    let _ = heapsight_snapshot::scan_baseline(&bytes.as_slice(), &Progress::new());
    assert_eq!(checked, 4);
}
