//! Shared code of heapsight's fuzz targets: invariant checks on whatever the snapshot
//! reader accepts ([`check_snapshot`], [`check_id_scan`]), the structure-aware snapshot
//! mutator ([`mutate`]), and the checks of the other parsers of outside data: positions
//! ([`check_line_index`]), source maps ([`check_source_map`]), capture manifests
//! ([`check_manifest`]) and JSON reports ([`check_report`]).
//!
//! The checks go beyond "no panic": a snapshot the reader accepts must give indices that
//! stay in range, a dominator tree that leads every node to the root, retained sizes that
//! add up to the heap's total, and an id scan that agrees with the full reader; positions
//! must round-trip; every range handed to an editor must lie inside its text.

mod json_inputs;
pub mod mutate;
mod positions;
mod sourcemaps;

pub use json_inputs::{check_manifest, check_report};
pub use positions::check_line_index;
pub use sourcemaps::check_source_map;

use heapsight_snapshot::{summarize, HeapGraph, IdScan, NodeIndex, Snapshot};

/// Walks every public accessor of a loaded snapshot and checks its invariants.
pub fn check_snapshot(snap: &Snapshot) {
    let g = &snap.graph;
    let n = g.node_count();
    for node in g.nodes() {
        assert!(node.ix() < n);
        let _ = (g.node_type(node), g.node_name(node), g.node_id(node));
        let _ = (g.detachedness(node), g.location(node), snap.distance(node));
        for e in g.edges(node) {
            assert!(e.to.ix() < n, "edge {} points past the nodes", e.index);
            let _ = (e.edge_type, e.name);
            let _ = snap.retains(e.index as usize);
            assert_eq!(g.edge_owner(e.index as usize), node);
        }
        for &r in snap.retainers(node) {
            assert!(
                (r as usize) < n,
                "retainer {r} of {} out of range",
                node.ix()
            );
        }
        // The idom chain reaches the root within n steps (no cycles).
        let mut x = node;
        let mut steps = 0;
        while x != NodeIndex::ROOT {
            let up = snap.idom(x);
            assert!(up.ix() < n, "idom of {} out of range", x.ix());
            assert_ne!(up, x, "node {} is its own dominator", x.ix());
            x = up;
            steps += 1;
            assert!(steps <= n, "idom chain from {} loops", node.ix());
        }
        assert!(snap.dominators().dominates(NodeIndex::ROOT, node));
    }
    // Sizes only move between nodes and add up the tree: when the total fits in u64,
    // the root retains all of it and no node retains less than itself.
    let total = g
        .nodes()
        .try_fold(0u64, |acc, x| acc.checked_add(g.self_size(x)));
    if let (Some(total), true) = (total, n > 0) {
        assert_eq!(g.total_self_size(), total);
        assert_eq!(
            snap.retained_size(NodeIndex::ROOT),
            total,
            "root retains all"
        );
        for node in g.nodes() {
            assert!(snap.retained_size(node) >= g.self_size(node));
        }
    }
    let children = snap.dominator_children();
    for node in g.nodes() {
        for &c in children.children(node) {
            assert_eq!(snap.idom(NodeIndex(c)), node);
        }
    }
    for row in summarize(snap) {
        assert!(row.count > 0, "empty summary row {}", row.name);
    }
    let _ = snap.heap_bytes();
}

/// The id-only scan and the full reader, both accepting the same bytes, must agree.
pub fn check_id_scan(scan: &IdScan, graph: &HeapGraph) {
    assert_eq!(
        scan.node_count,
        graph.node_count() as u64,
        "node counts differ"
    );
    let ids: Vec<u64> = graph.nodes().map(|n| graph.node_id(n)).collect();
    let max_odd = ids
        .iter()
        .copied()
        .filter(|id| id & 1 == 1)
        .max()
        .unwrap_or(0);
    let max_any = ids.iter().copied().max().unwrap_or(0);
    assert_eq!(scan.max_js_id, max_odd, "largest odd id differs");
    assert_eq!(scan.max_id, max_any, "largest id differs");
}
