//! The dominator tree and retained sizes.
//!
//! Semi-NCA (Georgiadis' variant of Lengauer–Tarjan): semi-dominators with the simple
//! path-compressing link/eval forest, then each immediate dominator as the nearest common
//! ancestor walk `idom(w) = idom(parent(w))…` until it is at or above `semi(w)`. Every
//! step is iterative — depth-first search with an explicit stack and path compression
//! with an explicit path — because a linked list a million nodes long is an ordinary heap.
//!
//! Only retaining edges count (see [`crate::essential`]). Nodes the root does not reach
//! through them are handled as DevTools does, so sizes add up the same way: a node with
//! no retaining edge at all (an orphan) is searched from as if the root pointed at it;
//! anything still unreached (held only by other unreachable nodes, in cycles) gets the
//! root as its dominator and dominates nothing.

use crate::essential::Essential;
use crate::graph::{HeapGraph, NodeIndex};
use crate::progress::Progress;
use crate::retainers::Retainers;
use crate::Result;

const NONE: u32 = u32::MAX;

/// The dominator tree before sizes: immediate dominators and the search order.
pub(crate) struct Tree {
    /// Node-space immediate dominators.
    idom: Vec<u32>,
    /// Nodes the search numbered, in preorder (each after its dominator).
    preorder: Vec<u32>,
}

impl Tree {
    /// Sums self sizes up the tree, children before their dominator.
    pub(crate) fn retained_sizes(self, self_sizes: &[u64]) -> Dominators {
        let mut retained = self_sizes.to_vec();
        for &node in self.preorder.iter().skip(1).rev() {
            let dom = self.idom[node as usize] as usize;
            retained[dom] += retained[node as usize];
        }
        // Leftovers (not in the preorder) hang off the root and dominate nothing.
        if self.preorder.len() < self_sizes.len() {
            let mut numbered = vec![false; self_sizes.len()];
            for &node in &self.preorder {
                numbered[node as usize] = true;
            }
            for (node, seen) in numbered.iter().enumerate() {
                if !seen {
                    retained[0] += self_sizes[node];
                }
            }
        }
        Dominators {
            idom: self.idom,
            retained,
        }
    }
}

/// Immediate dominators and retained sizes of every node.
#[derive(Debug, Default)]
pub struct Dominators {
    /// `idom[n]`: the immediate dominator of `n` (the root's is itself).
    pub(crate) idom: Vec<u32>,
    /// `retained[n]`: bytes freed if `n` were collected.
    pub(crate) retained: Vec<u64>,
}

impl Dominators {
    /// Immediate dominator of `n`.
    pub fn idom(&self, n: NodeIndex) -> NodeIndex {
        NodeIndex(self.idom[n.ix()])
    }
    /// Retained size of `n`.
    pub fn retained_size(&self, n: NodeIndex) -> u64 {
        self.retained[n.ix()]
    }
    /// Whether `a` dominates `b` (every node dominates itself). Walks up from `b`.
    pub fn dominates(&self, a: NodeIndex, b: NodeIndex) -> bool {
        let mut x = b.0;
        loop {
            if x == a.0 {
                return true;
            }
            let up = self.idom[x as usize];
            if up == x {
                return false;
            }
            x = up;
        }
    }
    /// Approximate bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.idom.capacity() * 4 + self.retained.capacity() * 8
    }
}

/// Computes the dominator tree.
pub(crate) fn compute(
    graph: &HeapGraph,
    essential: &Essential,
    retainers: &Retainers,
    progress: &Progress,
) -> Result<Tree> {
    let n = graph.node_count();
    if n == 0 {
        return Ok(Tree {
            idom: Vec::new(),
            preorder: Vec::new(),
        });
    }
    // Preorder numbering by iterative DFS over retaining edges.
    let mut dfn = vec![NONE; n];
    let mut vertex: Vec<u32> = Vec::with_capacity(n);
    let mut parent: Vec<u32> = Vec::with_capacity(n);
    // Nodes reached only through a virtual root edge (unreachable from the real root).
    let mut virtual_child = vec![false; 0];
    let mut stack: Vec<(u32, u32)> = Vec::new();
    let mut visit = |start: u32,
                     start_parent: u32,
                     dfn: &mut Vec<u32>,
                     vertex: &mut Vec<u32>,
                     parent: &mut Vec<u32>| {
        dfn[start as usize] = vertex.len() as u32;
        vertex.push(start);
        parent.push(start_parent);
        stack.push((start, graph.first_edge[start as usize]));
        while let Some(top) = stack.last_mut() {
            let (node, cursor) = *top;
            let end = graph.first_edge[node as usize + 1];
            if cursor >= end {
                stack.pop();
                continue;
            }
            top.1 = cursor + 1;
            let e = cursor as usize;
            if !essential.retains(e) {
                continue;
            }
            let to = graph.edge_to[e];
            if dfn[to as usize] == NONE {
                dfn[to as usize] = vertex.len() as u32;
                vertex.push(to);
                parent.push(dfn[node as usize]);
                stack.push((to, graph.first_edge[to as usize]));
            }
        }
    };
    visit(0, 0, &mut dfn, &mut vertex, &mut parent);
    let reachable = vertex.len();
    if reachable < n {
        virtual_child = vec![false; n];
        for u in 0..n as u32 {
            if dfn[u as usize] == NONE && retainers.of(NodeIndex(u)).is_empty() {
                let at = vertex.len();
                visit(u, 0, &mut dfn, &mut vertex, &mut parent);
                virtual_child[at] = true;
            }
        }
    }
    // Nodes in preorder; the rest (leftovers) get the root as dominator at the end.
    let numbered = vertex.len();
    progress.check()?;

    // Semi-dominators, in reverse preorder.
    let n = numbered;
    let mut semi: Vec<u32> = (0..n as u32).collect();
    let mut label: Vec<u32> = (0..n as u32).collect();
    let mut ancestor = vec![NONE; n];
    let mut path: Vec<u32> = Vec::new();
    for w in (1..n).rev() {
        if w % (1 << 20) == 0 {
            progress.check()?;
        }
        if virtual_child.get(w).copied().unwrap_or(false) {
            semi[w] = 0;
        }
        let node = vertex[w];
        let preds = retainers.of(NodeIndex(node));
        if preds.len() == 1 && !virtual_child.get(w).copied().unwrap_or(false) {
            // Most heap objects have one retainer: the search reached them through it, so
            // it is their parent, still unprocessed, and their semi-dominator.
            semi[w] = parent[w];
            ancestor[w] = parent[w];
            continue;
        }
        for &pred in preds {
            let v = dfn[pred as usize];
            if v == NONE {
                // A leftover: it cannot lower anyone's semi-dominator.
                continue;
            }
            let u = eval(v, &mut ancestor, &mut label, &semi, &mut path);
            if semi[u as usize] < semi[w] {
                semi[w] = semi[u as usize];
            }
        }
        // link(parent(w), w)
        ancestor[w] = parent[w];
    }
    drop(ancestor);
    drop(label);
    drop(path);

    // Immediate dominators by NCA: `parent` becomes `idom` in place (in preorder space).
    let mut idom_pre = parent;
    for w in 1..n {
        let mut d = idom_pre[w];
        while d > semi[w] {
            d = idom_pre[d as usize];
        }
        idom_pre[w] = d;
    }
    drop(semi);

    // To node space; `dfn` is rewritten into the idom column (leftovers: the root).
    let mut idom = dfn;
    for slot in idom.iter_mut() {
        if *slot == NONE {
            *slot = 0;
        }
    }
    for w in 0..n {
        idom[vertex[w] as usize] = vertex[idom_pre[w] as usize];
    }
    Ok(Tree {
        idom,
        preorder: vertex,
    })
}

/// Returns the vertex with the smallest semi-dominator on the forest path from `v` up to
/// (not including) its tree's root, compressing the path.
#[inline]
fn eval(v: u32, ancestor: &mut [u32], label: &mut [u32], semi: &[u32], path: &mut Vec<u32>) -> u32 {
    if ancestor[v as usize] == NONE {
        return v;
    }
    // Collect the path whose ancestors are not tree roots, then compress top-down.
    path.clear();
    let mut x = v;
    while ancestor[ancestor[x as usize] as usize] != NONE {
        path.push(x);
        x = ancestor[x as usize];
    }
    while let Some(y) = path.pop() {
        let a = ancestor[y as usize];
        if semi[label[a as usize] as usize] < semi[label[y as usize] as usize] {
            label[y as usize] = label[a as usize];
        }
        ancestor[y as usize] = ancestor[a as usize];
    }
    label[v as usize]
}
