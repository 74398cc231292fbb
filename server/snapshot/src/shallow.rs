//! Self sizes as DevTools attributes them (`calculateShallowSizes`).
//!
//! V8 reports an object's internals — its properties and elements backing stores, hidden
//! system objects, external string data — as separate nodes. DevTools moves each such
//! node's size onto the one object that owns it, when exactly one does, so an `Array`'s
//! self size includes its elements and the Summary view is not dominated by `(array)`
//! and `(system)` rows. We do the same so every figure matches what users see in DevTools.
//! Sizes only move between nodes, so totals are unchanged.

use crate::graph::{HeapGraph, NodeIndex};
use crate::types::{EdgeType, NodeType};

const UNVISITED: u32 = u32::MAX;
const MULTIPLE: u32 = u32::MAX - 1;

/// Whether the root has a child that is a user root (a non-synthetic node, or a
/// browser's `(Document DOM trees)`); DevTools only attributes sizes then.
pub(crate) fn has_user_roots(graph: &HeapGraph) -> bool {
    graph.node_count() > 0
        && graph.edges(NodeIndex::ROOT).any(|e| {
            graph.node_type(e.to) != NodeType::Synthetic
                || graph.node_name(e.to) == "(Document DOM trees)"
        })
}

/// Each node's single owner (or a marker for none / several); `None` when DevTools
/// would not attribute sizes at all. Reads the graph only, so it can run beside other work.
pub(crate) fn owners(graph: &HeapGraph) -> Option<Vec<u32>> {
    if !has_user_roots(graph) {
        return None;
    }
    let n = graph.node_count();
    let mut owner = vec![UNVISITED; n];
    let mut work: Vec<u32> = Vec::with_capacity(n);
    for (i, slot) in owner.iter_mut().enumerate() {
        let t = NodeType::from_code(graph.node_type[i]);
        let internal = t == NodeType::Hidden
            || t == NodeType::Array
            || (t == NodeType::Native
                && graph.strings.get(graph.node_name[i] as usize) == "system / ExternalStringData");
        if !internal {
            *slot = i as u32;
            work.push(i as u32);
        }
    }
    let weak = EdgeType::Weak as u8;
    while let Some(src) = work.pop() {
        let src_owner = owner[src as usize];
        for e in graph.edge_range(NodeIndex(src)) {
            if graph.edge_type[e] == weak {
                continue;
            }
            let t = graph.edge_to[e];
            let current = owner[t as usize];
            if current == UNVISITED {
                owner[t as usize] = src_owner;
                work.push(t);
            } else if current != t && current != src_owner && current != MULTIPLE {
                owner[t as usize] = MULTIPLE;
                work.push(t);
            }
        }
    }
    Some(owner)
}

/// Moves each owned node's self size onto its owner.
pub(crate) fn apply(graph: &mut HeapGraph, owner: &[u32]) {
    for (i, &o) in owner.iter().enumerate() {
        if o == UNVISITED || o == MULTIPLE || o as usize == i {
            continue;
        }
        if o == NodeIndex::ROOT.0
            || NodeType::from_code(graph.node_type[o as usize]) == NodeType::Synthetic
        {
            continue;
        }
        let sizes = &mut graph.node_self_size;
        let size = sizes.get(i);
        sizes.set(i, 0);
        // Cannot overflow: the reader checked that all self sizes add up within 64 bits.
        sizes.set(o as usize, sizes.get(o as usize) + size);
    }
}
