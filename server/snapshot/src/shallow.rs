//! Self sizes as DevTools attributes them (`calculateShallowSizes`).
//!
//! V8 reports an object's internals — its properties and elements backing stores, hidden
//! system objects, external string data — as separate nodes. DevTools moves each such
//! node's size onto the one object that owns it, when exactly one does, so an `Array`'s
//! self size includes its elements and the Summary view is not dominated by `(array)`
//! and `(system)` rows. We do the same so every figure matches what users see in DevTools.
//! Sizes only move between nodes, so totals are unchanged.

use crate::graph::{HeapGraph, NodeIndex, Wide32};
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
///
/// DevTools pushes every object on one stack before it starts; owners only ever move up
/// (unvisited, one owner, several), so the result does not depend on the order, and this
/// spreads from one object at a time: the stack holds one spread, not a column of nodes.
pub(crate) fn owners(graph: &HeapGraph) -> Option<Vec<u32>> {
    if !has_user_roots(graph) {
        return None;
    }
    let n = graph.node_count();
    let mut owner = vec![UNVISITED; n];
    for (i, slot) in owner.iter_mut().enumerate() {
        if !is_internal(graph, i) {
            *slot = i as u32;
        }
    }
    let weak = EdgeType::Weak as u8;
    let mut work: Vec<u32> = Vec::new();
    for start in 0..n as u32 {
        if owner[start as usize] != start {
            continue;
        }
        work.push(start);
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
    }
    Some(owner)
}

/// Whether node `i` is one of an object's internals (a backing store, a hidden system
/// object, external string data), whose size DevTools moves onto its single owner.
fn is_internal(graph: &HeapGraph, i: usize) -> bool {
    let t = NodeType::from_code(graph.node_type[i]);
    t == NodeType::Hidden
        || t == NodeType::Array
        || (t == NodeType::Native
            && graph.strings.get(graph.node_name[i] as usize) == "system / ExternalStringData")
}

/// Moves each owned node's self size onto its owner, in `sizes` (the graph's own self
/// sizes, taken out of it while other work reads the rest).
pub(crate) fn apply(graph: &HeapGraph, sizes: &mut Wide32, owner: &[u32]) {
    for (i, &o) in owner.iter().enumerate() {
        if o == UNVISITED || o == MULTIPLE || o as usize == i {
            continue;
        }
        if o == NodeIndex::ROOT.0
            || NodeType::from_code(graph.node_type[o as usize]) == NodeType::Synthetic
        {
            continue;
        }
        let size = sizes.get(i);
        sizes.set(i, 0);
        // Cannot overflow: the reader checked that all self sizes add up within 64 bits.
        sizes.set(o as usize, sizes.get(o as usize) + size);
    }
}
