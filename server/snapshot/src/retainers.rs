//! The reverse index of retaining edges.
//!
//! For every node, the nodes that hold a retaining edge to it (see [`crate::essential`]
//! for which edges retain) — a reverse CSR the dominator algorithm walks, and retainer
//! paths are read from.

use crate::essential::Essential;
use crate::graph::{HeapGraph, NodeIndex};
/// For each node, the nodes holding a retaining edge to it (one entry per edge).
#[derive(Debug, Default)]
pub struct Retainers {
    first: Vec<u32>,
    from: Vec<u32>,
}

impl Retainers {
    /// Builds the index from the retaining-edge counts (`counts[t + 1]` edges into `t`,
    /// from [`Essential::compute`]) in one more pass over the edges.
    pub(crate) fn build(graph: &HeapGraph, essential: &Essential, counts: Vec<u32>) -> Retainers {
        let n = graph.node_count();
        let mut first = counts;
        for i in 0..n {
            first[i + 1] += first[i];
        }
        let total = first[n] as usize;
        let mut from_col = vec![0u32; total];
        // `cursor[t]` is where the next retainer of `t` goes; reuse `first` shifted by one.
        let mut cursor: Vec<u32> = first[..n].to_vec();
        for from in 0..n as u32 {
            for e in graph.edge_range(NodeIndex(from)) {
                if essential.retains(e) {
                    let t = graph.edge_to[e] as usize;
                    from_col[cursor[t] as usize] = from;
                    cursor[t] += 1;
                }
            }
        }
        Retainers {
            first,
            from: from_col,
        }
    }

    /// The nodes retaining `n` (with repeats when one holds several edges to it).
    pub fn of(&self, n: NodeIndex) -> &[u32] {
        match (self.first.get(n.ix()), self.first.get(n.ix() + 1)) {
            (Some(&a), Some(&b)) => &self.from[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Approximate bytes held.
    pub fn heap_bytes(&self) -> usize {
        (self.first.capacity() + self.from.capacity()) * 4
    }
}
