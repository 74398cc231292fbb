//! The reverse index of retaining edges.
//!
//! For every node, the nodes that hold a retaining edge to it (see [`crate::essential`]
//! for which edges retain) — a reverse CSR the dominator algorithm walks, and retainer
//! paths are read from.

use crate::essential::Essential;
use crate::graph::{HeapGraph, NodeIndex};

/// How many edges ahead the build asks for the entry it will count down.
const AHEAD: usize = 8;
/// For each node, the nodes holding a retaining edge to it (one entry per edge).
#[derive(Debug, Default)]
pub struct Retainers {
    first: Vec<u32>,
    from: Vec<u32>,
}

impl Retainers {
    /// Builds the index from the retaining-edge counts (`counts[t]` edges into `t`, from
    /// [`Essential::compute`]) in one more pass over the edges. The counts become ends
    /// (inclusive sums), and each is counted back down to its node's start as the edges,
    /// walked from the last, are placed: no second column of cursors, and each node's
    /// retainers in ascending order.
    pub(crate) fn build(graph: &HeapGraph, essential: &Essential, counts: Vec<u32>) -> Retainers {
        let n = graph.node_count();
        let mut first = counts;
        for i in 1..=n {
            first[i] += first[i - 1];
        }
        let total = first[n] as usize;
        let mut from_col = vec![0u32; total];
        for from in (0..n as u32).rev() {
            for e in graph.edge_range(NodeIndex(from)).rev() {
                // The end of a target a few edges on, about to be counted down.
                if let Some(&ahead) = e.checked_sub(AHEAD).and_then(|a| graph.edge_to.get(a)) {
                    crate::prefetch::prefetch(&first, ahead as usize);
                }
                if essential.retains(e) {
                    let t = graph.edge_to[e] as usize;
                    first[t] -= 1;
                    from_col[first[t] as usize] = from;
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

    /// Starts loading where `n`'s retainers are listed (see [`crate::prefetch`]).
    #[inline(always)]
    pub(crate) fn prefetch_start(&self, n: u32) {
        crate::prefetch::prefetch(&self.first, n as usize);
    }

    /// Starts loading `n`'s first retainers, once its start is known (see
    /// [`Retainers::prefetch_start`]).
    #[inline(always)]
    pub(crate) fn prefetch_list(&self, n: u32) {
        if let Some(&at) = self.first.get(n as usize) {
            crate::prefetch::prefetch(&self.from, at as usize);
        }
    }

    /// Approximate bytes held.
    pub fn heap_bytes(&self) -> usize {
        (self.first.capacity() + self.from.capacity()) * 4
    }
}
