//! Distances from the GC roots, computed as DevTools does (`calculateDistances`).
//!
//! A breadth-first search that starts from the user roots (the root's children that are
//! not synthetic: the global objects) at distance 1, then continues from the root itself
//! for everything only system roots reach, offset by [`SYSTEM_DISTANCE`] so those nodes
//! sort after every user-reachable one. Weak edges are never followed, nor a few internal
//! links that would make everything look close (a native context's `sloppy_function_map`,
//! the key slots of `(map descriptors)`). A WeakMap value counts as reached only once both
//! its key and its table are: its distance is the later of the two, plus one.
//! Nodes no search reaches get [`UNREACHABLE`].

use std::collections::{HashSet, VecDeque};

use crate::graph::{HeapGraph, NodeIndex};
use crate::prefetch;
use crate::types::{EdgeType, NodeType};
use crate::weakmap::WeakMapEdges;

/// Added to distances of nodes that only system roots reach.
pub const SYSTEM_DISTANCE: u32 = 100_000_000;
/// Distance of a node no root reaches.
pub const UNREACHABLE: u32 = u32::MAX;

/// Computes every node's distance.
pub(crate) fn compute(graph: &HeapGraph, weakmaps: &WeakMapEdges) -> Vec<u32> {
    let n = graph.node_count();
    let mut dist = vec![UNREACHABLE; n];
    if n == 0 {
        return dist;
    }
    // A ring of the frontier only: a queue of every node reached would be one more
    // four-byte column at the analysis's peak.
    let mut queue: VecDeque<u32> = VecDeque::with_capacity(n.min(1 << 20));
    for e in graph.edges(NodeIndex::ROOT) {
        let user_root = graph.node_type(e.to) != NodeType::Synthetic
            || graph.node_name(e.to) == "(Document DOM trees)";
        if user_root && dist[e.to.ix()] == UNREACHABLE {
            dist[e.to.ix()] = 1;
            queue.push_back(e.to.0);
        }
    }
    let mut bfs = Bfs {
        graph,
        weakmaps,
        pending_pairs: HashSet::new(),
        sloppy_function_map: find_string(graph, "sloppy_function_map"),
        native_context: find_string(graph, "system / NativeContext"),
        map_descriptors: find_string(graph, "(map descriptors)"),
    };
    let user_roots = !queue.is_empty();
    bfs.run(&mut dist, &mut queue);
    dist[0] = if user_roots { SYSTEM_DISTANCE } else { 0 };
    queue.clear();
    queue.push_back(0);
    bfs.run(&mut dist, &mut queue);
    dist
}

fn find_string(graph: &HeapGraph, s: &str) -> Option<u32> {
    (0..graph.strings.len())
        .find(|&i| graph.strings.get(i) == s)
        .map(|i| i as u32)
}

struct Bfs<'g> {
    graph: &'g HeapGraph,
    weakmaps: &'g WeakMapEdges,
    pending_pairs: HashSet<u32>,
    sloppy_function_map: Option<u32>,
    native_context: Option<u32>,
    map_descriptors: Option<u32>,
}

impl Bfs<'_> {
    fn run(&mut self, dist: &mut [u32], queue: &mut VecDeque<u32>) {
        let g = self.graph;
        while let Some(node) = queue.pop_front() {
            prefetch::queue_ahead(g, queue, |t| prefetch::prefetch(dist, t));
            let d = dist[node as usize].saturating_add(1);
            for e in g.edge_range(NodeIndex(node)) {
                if g.edge_type[e] == EdgeType::Weak as u8 {
                    continue;
                }
                let to = g.edge_to[e];
                if dist[to as usize] != UNREACHABLE || !self.follows(node, e) {
                    continue;
                }
                dist[to as usize] = d;
                queue.push_back(to);
            }
        }
    }

    /// DevTools' JS distance filter, consulted only for not-yet-reached targets.
    fn follows(&mut self, from: u32, e: usize) -> bool {
        let g = self.graph;
        let from_type = NodeType::from_code(g.node_type[from as usize]);
        let from_name = Some(g.node_name[from as usize]);
        let edge_type = EdgeType::from_code(g.edge_type[e]);
        let name = g.edge_name[e];
        if from_type == NodeType::Hidden
            && !edge_type.has_index_name()
            && Some(name) == self.sloppy_function_map
            && from_name == self.native_context
        {
            return false;
        }
        if from_type == NodeType::Array && from_name == self.map_descriptors {
            let k = if edge_type.has_index_name() {
                Some(name as u64)
            } else {
                leading_int(g.strings.get(name as usize))
            };
            if let Some(k) = k {
                if k >= 2 && k % 3 == 1 {
                    return false;
                }
            }
        }
        if edge_type == EdgeType::Internal {
            if let Some((pair, _)) = self.weakmaps.get(name) {
                // The first of the pair's two edges to arrive waits for the second.
                if self.pending_pairs.remove(&pair) {
                    return true;
                }
                self.pending_pairs.insert(pair);
                return false;
            }
        }
        true
    }
}

/// `parseInt` of a property name: its leading decimal digits, if any.
fn leading_int(s: &str) -> Option<u64> {
    let t = s.trim_start();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    t[..digits].parse().ok()
}
