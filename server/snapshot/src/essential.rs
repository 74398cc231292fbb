//! Which edges retain, decided once per edge into a bitmap.
//!
//! DevTools' rules (`computeIsEssentialEdge`), which the dominator tree, retained sizes
//! and retainer paths all follow. An edge does not retain when it is
//! - weak;
//! - a WeakMap table's edge to a value (the key's edge retains it, see [`crate::weakmap`]);
//! - a self edge;
//! - leaving a node other than the root and either a shortcut (shortcuts mean "user
//!   global" only from the root), or going from a node outside the page-owned set into it.
//!
//! The page-owned set is everything reachable without weak edges from the root's shortcut
//! targets — the global objects of the JS contexts. Edges from system structures (handles,
//! caches) into it do not count, so user objects are dominated through user paths.

use std::collections::VecDeque;

use crate::graph::{HeapGraph, NodeIndex};
use crate::prefetch;
use crate::types::{EdgeType, NodeType};
use crate::weakmap::WeakMapEdges;

/// A fixed-size bit set.
#[derive(Debug, Default, Clone)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    pub(crate) fn new(len: usize) -> Self {
        Bits(vec![0; len.div_ceil(64)])
    }
    #[inline(always)]
    pub(crate) fn get(&self, i: usize) -> bool {
        self.0[i >> 6] >> (i & 63) & 1 == 1
    }
    #[inline(always)]
    pub(crate) fn set(&mut self, i: usize) {
        self.0[i >> 6] |= 1 << (i & 63);
    }
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.capacity() * 8
    }
}

/// The retaining-edge bitmap.
#[derive(Debug, Default)]
pub struct Essential {
    edges: Bits,
}

impl Essential {
    /// Whether edge `e` retains its target.
    #[inline(always)]
    pub fn retains(&self, e: usize) -> bool {
        self.edges.get(e)
    }
    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.edges.heap_bytes()
    }

    /// Decides every edge of `graph`, and counts each node's retaining edges in (the
    /// first pass of the retainer index), in two halves on two threads.
    pub(crate) fn compute(
        graph: &HeapGraph,
        weakmaps: &WeakMapEdges,
        page: &Bits,
    ) -> (Essential, Vec<u32>) {
        let n = graph.node_count();
        // Split where half the edges are behind.
        let half = graph.edge_count() / 2;
        let split = graph
            .first_edge
            .partition_point(|&f| (f as usize) < half)
            .min(n) as u32;
        let (mut low, high) = std::thread::scope(|s| {
            let high = s.spawn(|| decide(graph, weakmaps, page, split..n as u32));
            let low = decide(graph, weakmaps, page, 0..split);
            (low, high.join())
        });
        let high = high.unwrap_or_else(|_| decide(graph, weakmaps, page, split..n as u32));
        for (a, b) in low.0 .0.iter_mut().zip(&high.0 .0) {
            *a |= b;
        }
        for (a, b) in low.1.iter_mut().zip(&high.1) {
            *a += b;
        }
        (Essential { edges: low.0 }, low.1)
    }
}

/// Decides the edges of nodes in `range`: the bits (over all edges) and in-degree counts
/// (over all nodes, one more slot for the prefix sum's total).
fn decide(
    graph: &HeapGraph,
    weakmaps: &WeakMapEdges,
    page: &Bits,
    range: std::ops::Range<u32>,
) -> (Bits, Vec<u32>) {
    let mut edges = Bits::new(graph.edge_count());
    let mut counts = vec![0u32; graph.node_count() + 1];
    let (weak, shortcut, internal) = (
        EdgeType::Weak as u8,
        EdgeType::Shortcut as u8,
        EdgeType::Internal as u8,
    );
    for from in range {
        let from_page = page.get(from as usize);
        let from_id = graph.node_id.get(from as usize);
        for e in graph.edge_range(NodeIndex(from)) {
            let t = graph.edge_type[e];
            let to = graph.edge_to[e];
            if t == weak || to == from {
                continue;
            }
            if t == internal {
                if let Some((_, table)) = weakmaps.get(graph.edge_name[e]) {
                    if table == from_id {
                        continue;
                    }
                }
            }
            if from != NodeIndex::ROOT.0 && (t == shortcut || (!from_page && page.get(to as usize)))
            {
                continue;
            }
            edges.set(e);
            counts[to as usize] += 1;
        }
    }
    (edges, counts)
}

/// Nodes reachable without weak edges from the root's shortcut targets (and a browser's
/// `(Document DOM trees)` root).
pub(crate) fn page_owned(graph: &HeapGraph) -> Bits {
    let mut page = Bits::new(graph.node_count());
    if graph.node_count() == 0 {
        return page;
    }
    // A set, so any order finds it: first in, first out, so that the nodes a few places
    // down the queue are known and their edges asked for ahead (see `crate::prefetch`).
    let mut queue: VecDeque<u32> = VecDeque::with_capacity(graph.node_count().min(1 << 20));
    for e in graph.edges(NodeIndex::ROOT) {
        let seed = match e.edge_type {
            EdgeType::Shortcut => true,
            EdgeType::Element => {
                graph.node_type(e.to) == NodeType::Synthetic
                    && graph.node_name(e.to) == "(Document DOM trees)"
            }
            _ => false,
        };
        if seed && !page.get(e.to.ix()) {
            page.set(e.to.ix());
            queue.push_back(e.to.0);
        }
    }
    let weak = EdgeType::Weak as u8;
    while let Some(n) = queue.pop_front() {
        prefetch::queue_ahead(graph, &queue, |t| prefetch::prefetch(&page.0, t >> 6));
        for e in graph.edge_range(NodeIndex(n)) {
            let to = graph.edge_to[e] as usize;
            if graph.edge_type[e] != weak && !page.get(to) {
                page.set(to);
                queue.push_back(to as u32);
            }
        }
    }
    page
}
