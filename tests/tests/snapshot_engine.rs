//! The snapshot engine on real snapshots of every supported Node version, checked against
//! Chrome DevTools' own engine (npm `heap-snapshot-toolkit`) on the same files: counts,
//! total size, every Summary row (count, self size, retained size, distance), and the
//! retained sizes of the 100 largest objects must agree exactly.

use std::collections::HashMap;

use heapsight_snapshot::{
    scan_file_max_js_id, summarize, NodeIndex, Progress, Snapshot, UNREACHABLE,
};
use heapsight_tests::support::{devtools_summary, fixture_snapshots, NODE_MAJORS};

const APPS: &[&str] = &["listener-leak", "map-cache"];

/// DevTools prints unreachable distances as -5.
fn devtools_distance(d: u32) -> i64 {
    if d == UNREACHABLE {
        -5
    } else {
        d as i64
    }
}

fn check(app: &str, major: u32) {
    let triple =
        fixture_snapshots(app, major).unwrap_or_else(|e| panic!("{app} on node {major}: {e:#}"));
    let snap = Snapshot::open(&triple.c, &Progress::new())
        .unwrap_or_else(|e| panic!("{}: {e}", triple.c.display()));
    let peer = devtools_summary(&triple.c)
        .unwrap_or_else(|e| panic!("devtools on {}: {e:#}", triple.c.display()));
    let what = format!("{app} on node {major} ({})", triple.node_version);
    let g = &snap.graph;

    assert_eq!(g.node_count() as u64, peer.node_count, "{what}: nodes");
    assert_eq!(g.edge_count() as u64, peer.edge_count, "{what}: edges");
    let total = snap.retained_size(NodeIndex::ROOT) + g.header().extra_native_bytes.unwrap_or(0);
    assert_eq!(total, peer.total_size, "{what}: total size");
    assert_eq!(
        g.total_self_size() + g.header().extra_native_bytes.unwrap_or(0),
        peer.total_size,
        "{what}: sizes only move"
    );

    let ours: HashMap<String, _> = summarize(&snap)
        .into_iter()
        .map(|c| {
            let key = match c.location {
                Some((s, l, col)) => format!("{s},{l},{col},{}", c.name),
                None => format!(",{}", c.name),
            };
            (key, c)
        })
        .collect();
    assert_eq!(
        ours.len(),
        peer.classes.len(),
        "{what}: number of Summary rows"
    );
    for theirs in &peer.classes {
        let mine = ours
            .get(&theirs.key)
            .unwrap_or_else(|| panic!("{what}: no row for class {:?}", theirs.key));
        let row = (
            mine.count,
            mine.self_size,
            mine.retained_size,
            devtools_distance(mine.distance),
        );
        let expected = (
            theirs.count,
            theirs.self_size,
            theirs.retained_size,
            theirs.distance,
        );
        assert_eq!(
            row, expected,
            "{what}: class {:?} (count, self, retained, distance)",
            theirs.key
        );
    }

    let by_id: HashMap<u64, NodeIndex> = g.nodes().map(|n| (g.node_id(n), n)).collect();
    assert!(
        peer.top_retained.len() >= 50,
        "{what}: the peer lists the top objects"
    );
    for node in &peer.top_retained {
        let n = by_id[&node.id];
        assert_eq!(
            (
                snap.retained_size(n),
                g.self_size(n),
                devtools_distance(snap.distance(n))
            ),
            (node.retained_size, node.self_size, node.distance),
            "{what}: object @{} {:?} (retained, self, distance)",
            node.id,
            node.name
        );
    }

    // The id-only scan agrees with the graph, and ids grow from A to C within one process.
    let max_odd = g
        .nodes()
        .map(|n| g.node_id(n))
        .filter(|id| id % 2 == 1)
        .max()
        .unwrap_or(0);
    let scan_c = scan_file_max_js_id(&triple.c, &Progress::new()).expect("scan C");
    assert_eq!(scan_c.max_js_id, max_odd, "{what}: id scan of C");
    let scan_a = scan_file_max_js_id(&triple.a, &Progress::new()).expect("scan A");
    let scan_b = scan_file_max_js_id(&triple.b, &Progress::new()).expect("scan B");
    assert!(
        scan_a.max_js_id < scan_b.max_js_id && scan_b.max_js_id < scan_c.max_js_id,
        "{what}: ids grow"
    );

    // The layout is resolved from meta: Node 24 drops trace_node_id.
    let fields = g.header().nodes.field_count;
    assert_eq!(
        fields,
        if major >= 24 { 6 } else { 7 },
        "{what}: node fields"
    );
    assert!(!g.locations().is_empty(), "{what}: function locations");
}

#[test]
fn agrees_with_devtools_on_node_18() {
    for app in APPS {
        check(app, 18);
    }
}

#[test]
fn agrees_with_devtools_on_node_20() {
    for app in APPS {
        check(app, 20);
    }
}

#[test]
fn agrees_with_devtools_on_node_22() {
    for app in APPS {
        check(app, 22);
    }
}

#[test]
fn agrees_with_devtools_on_node_24() {
    for app in APPS {
        check(app, 24);
    }
}

#[test]
fn agrees_with_devtools_on_node_26() {
    for app in APPS {
        check(app, 26);
    }
}

#[test]
fn every_supported_major_is_covered() {
    assert_eq!(NODE_MAJORS, &[18, 20, 22, 24, 26]);
}

/// The id-only scan (field boundaries by `memchr`, digits of the id field only) agrees with
/// the full parse on every snapshot of every fixture, in the 7-field (Node 20) and 6-field
/// (Node 24) layouts.
#[test]
fn id_scan_agrees_with_the_full_parse() {
    for major in [20, 24] {
        for app in heapsight_tests::support::FIXTURE_APPS {
            let t = fixture_snapshots(app, major).expect("triple");
            for file in [&t.a, &t.b, &t.c] {
                let scan =
                    heapsight_snapshot::scan_file_max_js_id(file, &Progress::new()).expect("scans");
                let source = heapsight_snapshot::open_source(file).expect("opens");
                let g = heapsight_snapshot::read_graph(&source, &Progress::new()).expect("parses");
                let ids: Vec<u64> = g.nodes().map(|n| g.node_id(n)).collect();
                let max_odd = ids.iter().copied().filter(|id| id & 1 == 1).max();
                let what = format!("{app} on node {major}: {}", file.display());
                assert_eq!(Some(scan.max_js_id), max_odd, "{what}");
                assert_eq!(Some(scan.max_id), ids.iter().copied().max(), "{what}");
                assert_eq!(scan.node_count, ids.len() as u64, "{what}");
            }
        }
    }
}
