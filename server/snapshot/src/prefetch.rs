//! A hint to the CPU to start loading a column's entry before it is read: the dominator
//! search, the distances' BFS, the page-owned search and the retainer index read their
//! columns in an order the hardware cannot guess (each node's retainers, their preorder
//! numbers, their forest links, the targets' distances), and on a heap of gigabytes every
//! such read misses the caches. Asking for a few of them ahead lets their misses overlap.
//! A hint changes no result; off x86-64 it does nothing.

use std::collections::VecDeque;

use crate::graph::{HeapGraph, NodeIndex};

/// Starts loading `column[i]` into the caches (nothing when `i` is out of bounds).
#[inline(always)]
pub(crate) fn prefetch<T>(column: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(entry) = column.get(i) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch reads nothing the program sees and cannot fault; the address
        // is that of an element in bounds.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((entry as *const T).cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (column, i);
}

/// For a search over `graph` that takes nodes from the front of `queue`: asks for what the
/// nodes a few places down will read. Eight places down, where its edges start; four, its
/// edges (targets and types); two, each of its first targets' own entry, which `target`
/// asks for (a distance, a bit of a set).
#[inline(always)]
pub(crate) fn queue_ahead(graph: &HeapGraph, queue: &VecDeque<u32>, target: impl Fn(usize)) {
    if let Some(&far) = queue.get(8) {
        prefetch(&graph.first_edge, far as usize);
    }
    if let Some(&mid) = queue.get(4) {
        if let Some(&at) = graph.first_edge.get(mid as usize) {
            prefetch(&graph.edge_to, at as usize);
            prefetch(&graph.edge_type, at as usize);
        }
    }
    if let Some(&near) = queue.get(2) {
        let range = graph.edge_range(NodeIndex(near));
        for e in range.start..range.end.min(range.start + 8) {
            target(graph.edge_to[e] as usize);
        }
    }
}
