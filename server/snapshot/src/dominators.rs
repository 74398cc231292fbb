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

use std::collections::HashMap;

use crate::essential::{Bits, Essential};
use crate::graph::{HeapGraph, NodeIndex, Wide32};
use crate::prefetch::prefetch;
use crate::progress::Progress;
use crate::retainers::Retainers;
use crate::Result;

const NONE: u32 = u32::MAX;
/// How many vertices (or retainers) ahead the semi-dominator loop asks for what it will
/// read (see [`crate::prefetch`]): far enough for a miss to be served meanwhile, near
/// enough that the line is still cached when it is read.
const AHEAD: usize = 8;

/// The dominator tree before sizes: immediate dominators and the search order.
pub(crate) struct Tree {
    /// Node-space immediate dominators.
    idom: Vec<u32>,
    /// Nodes the search numbered, in preorder (each after its dominator).
    preorder: Vec<u32>,
}

impl Tree {
    /// Sums self sizes up the tree, children before their dominator.
    pub(crate) fn retained_sizes(self, self_sizes: &Wide32) -> Dominators {
        let n = self_sizes.len();
        let mut retained = Retained {
            narrow: vec![0; n],
            big: HashMap::new(),
        };
        for i in 0..n {
            retained.set(i, self_sizes.get(i));
        }
        for &node in self.preorder.iter().skip(1).rev() {
            let dom = self.idom[node as usize] as usize;
            let sum = retained.get(dom) + retained.get(node as usize);
            retained.set(dom, sum);
        }
        let mut order = self.preorder;
        // Leftovers (not in the preorder) hang off the root and dominate nothing: they
        // join the order at its end, after the root.
        if order.len() < n {
            let mut numbered = vec![false; n];
            for &node in &order {
                numbered[node as usize] = true;
            }
            let mut root = retained.get(0);
            for (node, seen) in numbered.iter().enumerate() {
                if !seen {
                    root += self_sizes.get(node);
                    order.push(node as u32);
                }
            }
            retained.set(0, root);
        }
        Dominators {
            idom: self.idom,
            retained,
            order,
        }
    }
}

/// Retained sizes, four bytes a node: the few past 4 GiB (the root and the nodes above most
/// of the heap) are kept aside, exact, where the column holds `u32::MAX`.
#[derive(Debug, Default)]
pub(crate) struct Retained {
    narrow: Vec<u32>,
    big: HashMap<u32, u64>,
}

impl Retained {
    #[inline]
    pub(crate) fn get(&self, i: usize) -> u64 {
        match self.narrow[i] {
            u32::MAX => self
                .big
                .get(&(i as u32))
                .copied()
                .unwrap_or(u32::MAX as u64),
            x => x as u64,
        }
    }
    #[inline]
    fn set(&mut self, i: usize, value: u64) {
        match u32::try_from(value) {
            Ok(x) if x != u32::MAX => self.narrow[i] = x,
            _ => {
                self.narrow[i] = u32::MAX;
                self.big.insert(i as u32, value);
            }
        }
    }
    fn heap_bytes(&self) -> usize {
        self.narrow.capacity() * 4 + self.big.capacity() * 16
    }
}

/// Immediate dominators and retained sizes of every node.
#[derive(Debug, Default)]
pub struct Dominators {
    /// `idom[n]`: the immediate dominator of `n` (the root's is itself).
    pub(crate) idom: Vec<u32>,
    /// Bytes freed if `n` were collected, by node.
    pub(crate) retained: Retained,
    /// Every node once, each after its immediate dominator (the root first).
    pub(crate) order: Vec<u32>,
}

impl Dominators {
    /// Immediate dominator of `n`.
    pub fn idom(&self, n: NodeIndex) -> NodeIndex {
        NodeIndex(self.idom[n.ix()])
    }
    /// Retained size of `n`.
    pub fn retained_size(&self, n: NodeIndex) -> u64 {
        self.retained.get(n.ix())
    }
    /// Every node once, each after its immediate dominator, the root first: the order in
    /// which sums down or up the tree need no children lists.
    pub fn order(&self) -> &[u32] {
        &self.order
    }
    /// Immediate dominators of every node, by node index (the root's is itself).
    pub fn idoms(&self) -> &[u32] {
        &self.idom
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
        self.idom.capacity() * 4 + self.retained.heap_bytes() + self.order.capacity() * 4
    }
}

/// The depth-first numbering over retaining edges from the root: what the dominator
/// computation needs first, and needs no retainer index for, so it runs beside the
/// retainer index's construction.
pub(crate) struct Search {
    /// `dfn[node]`: preorder number, or `NONE`.
    dfn: Vec<u32>,
    /// Nodes by preorder number.
    vertex: Vec<u32>,
    /// Preorder number of each numbered node's DFS parent.
    parent: Vec<u32>,
}

/// Numbers the nodes the root reaches through retaining edges, in DFS preorder.
pub(crate) fn search(graph: &HeapGraph, essential: &Essential) -> Search {
    let n = graph.node_count();
    let mut search = Search {
        dfn: vec![NONE; n],
        vertex: Vec::with_capacity(n),
        parent: Vec::with_capacity(n),
    };
    if n > 0 {
        visit(graph, essential, &mut search, 0, &mut Vec::new());
    }
    search
}

/// Iterative DFS from `start` (numbered as a child of the root) over retaining edges.
fn visit(
    graph: &HeapGraph,
    essential: &Essential,
    search: &mut Search,
    start: u32,
    stack: &mut Vec<(u32, u32)>,
) {
    let Search {
        dfn,
        vertex,
        parent,
    } = search;
    dfn[start as usize] = vertex.len() as u32;
    vertex.push(start);
    parent.push(0);
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
        // The preorder number of a target a few edges on (see `crate::prefetch`).
        if cursor as usize + AHEAD < end as usize {
            let ahead = graph.edge_to[e + AHEAD] as usize;
            prefetch(dfn, ahead);
            prefetch(&graph.first_edge, ahead);
        }
        if !essential.retains(e) {
            continue;
        }
        let to = graph.edge_to[e];
        if dfn[to as usize] == NONE {
            dfn[to as usize] = vertex.len() as u32;
            vertex.push(to);
            parent.push(dfn[node as usize]);
            let first = graph.first_edge[to as usize];
            prefetch(&graph.edge_to, first as usize);
            stack.push((to, first));
        }
    }
}

/// Vertices the semi-dominator loop gathers retainers for at a time: their preorder
/// numbers fit the caches (a few hundred kilobytes), and the gathering pass is long enough
/// for its misses to overlap.
const CHUNK: usize = 1 << 14;
/// How many gathered retainers ahead the loop asks for their forest entries: farther than
/// [`AHEAD`], as nothing else is waited for in between (`finish` on the 10^7-node file:
/// 0.84-0.94 s at 8, 0.80-0.87 s at 16, 0.78-0.83 s at 32, 0.81-1.13 s at 64).
const FOREST_AHEAD: usize = 32;

/// Numbers a chunk gathers at most (4 bytes each) before it ends early, per vertex of
/// [`CHUNK`]: a chunk's buffer stays a few hundred kilobytes.
const NUMBERS_PER_VERTEX: usize = 4;
/// A vertex with more retainers than this (a hidden class held by millions of objects) is
/// not gathered: its list is read where it is, so no buffer ever holds it.
const LONG: usize = 4096;

/// How the semi-dominator loop finds a vertex's retainers.
#[derive(Clone, Copy)]
enum Entry {
    /// Its one retainer is its search parent.
    Parent,
    /// The next this many gathered numbers.
    Gathered(u32),
    /// A long list, read from the retainer index.
    Long,
}

/// The preorder numbers of the retainers of a chunk of vertices, in the order the loop
/// evaluates them (vertices from the last, each vertex's retainers in the index's order).
#[derive(Default)]
struct Gathered {
    /// Per vertex of the chunk, from the last.
    entries: Vec<Entry>,
    numbers: Vec<u32>,
}

/// What the semi-dominator loop reads a vertex's retainers through.
struct Lists<'a> {
    /// Nodes by preorder number.
    vertex: &'a [u32],
    /// Preorder number by node (`NONE`: a leftover).
    dfn: &'a [u32],
    retainers: &'a Retainers,
    /// Vertices numbered from a virtual root edge (empty when there are none).
    virtual_child: &'a Bits,
    /// Whether any vertex was numbered from a virtual root edge.
    orphans: bool,
}

impl Lists<'_> {
    /// The retainers of vertex `w`, as nodes.
    #[inline(always)]
    fn of(&self, w: usize) -> &[u32] {
        self.retainers.of(NodeIndex(self.vertex[w]))
    }
    /// A retainer's preorder number; `None` for a leftover, which cannot lower anyone's
    /// semi-dominator.
    #[inline(always)]
    fn number(&self, pred: u32) -> Option<u32> {
        Some(self.dfn[pred as usize]).filter(|&v| v != NONE)
    }
    /// Whether `w` was numbered from a virtual root edge (its semi-dominator is the root).
    #[inline(always)]
    fn is_virtual_child(&self, w: usize) -> bool {
        self.orphans && self.virtual_child.get(w)
    }
}

impl Gathered {
    /// Gathers for the vertices from `hi - 1` down to `lowest`, or fewer, ending after the
    /// vertex that fills `budget` numbers; returns the last vertex gathered for.
    fn fill(&mut self, hi: usize, lowest: usize, budget: usize, lists: &Lists<'_>) -> usize {
        self.entries.clear();
        self.numbers.clear();
        for w in (lowest..hi).rev() {
            // Two steps of look-ahead: where a later vertex's retainers are listed, then,
            // once that has arrived, the list itself.
            if let Some(far) = w.checked_sub(2 * AHEAD).filter(|&f| f >= lowest) {
                lists.retainers.prefetch_start(lists.vertex[far]);
            }
            if let Some(near) = w.checked_sub(AHEAD).filter(|&f| f >= lowest) {
                lists.retainers.prefetch_list(lists.vertex[near]);
            }
            let preds = lists.of(w);
            if preds.len() == 1 && !lists.is_virtual_child(w) {
                self.entries.push(Entry::Parent);
                continue;
            }
            if preds.len() > LONG {
                self.entries.push(Entry::Long);
                continue;
            }
            let before = self.numbers.len();
            for &pred in preds {
                if let Some(v) = lists.number(pred) {
                    self.numbers.push(v);
                }
            }
            self.entries
                .push(Entry::Gathered((self.numbers.len() - before) as u32));
            if self.numbers.len() >= budget {
                return w;
            }
        }
        lowest
    }
}

/// A vertex of the link/eval forest: its forest ancestor and the smallest
/// semi-dominator on its compressed path. Kept together so one path step is one memory
/// access: the compression is the hottest loop of the whole analysis, and every access
/// in it is random.
#[derive(Clone, Copy)]
struct Link {
    ancestor: u32,
    best: u32,
}

/// Computes the dominator tree from the root's [`search`].
pub(crate) fn finish(
    graph: &HeapGraph,
    essential: &Essential,
    retainers: &Retainers,
    search: Search,
    progress: &Progress,
) -> Result<Tree> {
    finish_in_chunks(graph, essential, retainers, search, progress, CHUNK)
}

/// [`finish`], gathering retainers for `chunk` vertices at a time.
fn finish_in_chunks(
    graph: &HeapGraph,
    essential: &Essential,
    retainers: &Retainers,
    search: Search,
    progress: &Progress,
    chunk: usize,
) -> Result<Tree> {
    let n = graph.node_count();
    if n == 0 {
        return Ok(Tree {
            idom: Vec::new(),
            preorder: Vec::new(),
        });
    }
    let mut search = search;
    // Nodes reached only through a virtual root edge (unreachable from the real root).
    // A bit a vertex (a byte each would be 100 MB at 10^8 nodes, alive at the peak).
    let mut virtual_child = Bits::new(0);
    let reachable = search.vertex.len();
    if reachable < n {
        virtual_child = Bits::new(n);
        let mut stack = Vec::new();
        for u in 0..n as u32 {
            if search.dfn[u as usize] == NONE && retainers.of(NodeIndex(u)).is_empty() {
                let at = search.vertex.len();
                visit(graph, essential, &mut search, u, &mut stack);
                virtual_child.set(at);
            }
        }
    }
    let Search {
        dfn,
        vertex,
        parent,
    } = search;
    // Nodes in preorder; the rest (leftovers) get the root as dominator at the end.
    let numbered = vertex.len();
    progress.check()?;

    // Semi-dominators, in reverse preorder.
    let n = numbered;
    // Whether any vertex was numbered from a virtual root edge (then the bits exist).
    let orphans = n > reachable;
    let mut semi: Vec<u32> = (0..n as u32).collect();
    let mut forest = vec![
        Link {
            ancestor: NONE,
            best: 0
        };
        n
    ];
    let mut path: Vec<u32> = Vec::new();
    // The loop runs over chunks of vertices, each in two passes: the first gathers the
    // preorder numbers of every retainer of the chunk's vertices (reads that depend on
    // nothing the loop writes, so the core overlaps their misses freely), the second
    // evaluates them in order, asking for the forest entries a few retainers ahead.
    let lists = Lists {
        vertex: &vertex,
        dfn: &dfn,
        retainers,
        virtual_child: &virtual_child,
        orphans,
    };
    let mut gathered = Gathered::default();
    let budget = chunk.max(1) * NUMBERS_PER_VERTEX;
    let mut hi = n;
    while hi > 1 {
        let lowest = hi.saturating_sub(chunk.max(1)).max(1);
        let lo = gathered.fill(hi, lowest, budget, &lists);
        if hi >> 20 != lo >> 20 {
            progress.check()?;
        }
        let mut at = 0;
        for (k, w) in (lo..hi).rev().enumerate() {
            // The common case first, before anything else is read for the vertex.
            let count = match gathered.entries[k] {
                Entry::Parent => {
                    // Most heap objects have one retainer: the search reached them through
                    // it, so it is their parent, still unprocessed, and their
                    // semi-dominator.
                    semi[w] = parent[w];
                    forest[w] = Link {
                        ancestor: parent[w],
                        best: parent[w],
                    };
                    continue;
                }
                Entry::Gathered(count) => count as usize,
                Entry::Long => 0,
            };
            let mut s = if lists.is_virtual_child(w) {
                0
            } else {
                semi[w]
            };
            // Numbered before `w`, `v` is not processed yet (reverse preorder): not in the
            // forest, its own semi-dominator. Only later vertices need the forest.
            let mut lower = |v: u32, forest: &mut [Link]| {
                let found = if (v as usize) < w {
                    v
                } else {
                    eval(v, forest, &semi, &mut path)
                };
                if found < s {
                    s = found;
                }
            };
            if let Entry::Long = gathered.entries[k] {
                let preds = lists.of(w);
                for (i, &pred) in preds.iter().enumerate() {
                    // Two steps: a later retainer's preorder number, then, once it has
                    // arrived, its forest entry.
                    if let Some(&far) = preds.get(i + 2 * AHEAD) {
                        prefetch(lists.dfn, far as usize);
                    }
                    if let Some(v) = preds.get(i + AHEAD).and_then(|&p| lists.number(p)) {
                        if v as usize > w {
                            prefetch(&forest, v as usize);
                        }
                    }
                    if let Some(v) = lists.number(pred) {
                        lower(v, &mut forest);
                    }
                }
            }
            let end = at + count;
            for j in at..end {
                if let Some(&later) = gathered.numbers.get(j + FOREST_AHEAD) {
                    if later as usize > lo {
                        prefetch(&forest, later as usize);
                    }
                }
                lower(gathered.numbers[j], &mut forest);
            }
            at = end;
            semi[w] = s;
            // link(parent(w), w)
            forest[w] = Link {
                ancestor: parent[w],
                best: s,
            };
        }
        hi = lo;
    }
    drop(forest);
    drop(path);
    drop(gathered);

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

/// The smallest semi-dominator on the forest path from `v` up to (not including) its
/// tree's root, compressing the path; `semi[v]` for a vertex not yet linked.
#[inline]
fn eval(v: u32, forest: &mut [Link], semi: &[u32], path: &mut Vec<u32>) -> u32 {
    let first = forest[v as usize];
    if first.ancestor == NONE {
        return semi[v as usize];
    }
    // Collect the path whose ancestors are not tree roots, then compress top-down.
    path.clear();
    let mut x = v;
    let mut at = first;
    loop {
        let up = forest[at.ancestor as usize];
        if up.ancestor == NONE {
            break;
        }
        path.push(x);
        x = at.ancestor;
        at = up;
    }
    while let Some(y) = path.pop() {
        let a = forest[y as usize].ancestor;
        let above = forest[a as usize];
        let link = &mut forest[y as usize];
        if above.best < link.best {
            link.best = above.best;
        }
        link.ancestor = above.ancestor;
    }
    forest[v as usize].best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weakmap::WeakMapEdges;

    /// A snapshot of `n` objects with `m` random property edges (some weak), and `hub`
    /// more edges to the last object from the first ones, in V8's layout: what the chunked
    /// loop is checked on.
    fn random_snapshot(n: u32, m: u32, hub: u32, mut seed: u64) -> String {
        let mut next = |below: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as u32
        };
        let mut edges: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n as usize];
        for _ in 0..m {
            let from = next(n);
            let to = 1 + next(n - 1);
            let kind = if next(8) == 0 { 3 } else { 2 };
            edges[from as usize].push((kind, to));
        }
        for from in 0..hub {
            edges[from as usize].push((2, n - 1));
        }
        let nodes: Vec<String> = (0..n)
            .map(|i| {
                let ty = if i == 0 { 9 } else { 3 };
                format!(
                    "{ty},1,{},{},{},0",
                    i * 2 + 1,
                    1 + i % 7,
                    edges[i as usize].len()
                )
            })
            .collect();
        let edges: Vec<String> = edges
            .iter()
            .flatten()
            .map(|(kind, to)| format!("{kind},1,{}", to * 6))
            .collect();
        format!(
            r#"{{"snapshot":{{"meta":{{"node_fields":["type","name","id","self_size","edge_count","trace_node_id"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","weak","internal","hidden","shortcut"],"string_or_number","node"]}},"node_count":{n},"edge_count":{},"trace_function_count":0}},
"nodes":[{}],"edges":[{}],"strings":["","p"]}}"#,
            edges.len(),
            nodes.join(","),
            edges.join(",")
        )
    }

    fn idoms(json: &str, chunk: usize) -> Vec<u32> {
        let progress = Progress::new();
        let graph = crate::read_graph(&json.as_bytes(), &progress).expect("parses");
        let weakmaps = WeakMapEdges::find(&graph);
        let page = crate::essential::page_owned(&graph);
        let (essential, counts) = Essential::compute(&graph, &weakmaps, &page);
        let retainers = Retainers::build(&graph, &essential, counts);
        let found = search(&graph, &essential);
        finish_in_chunks(&graph, &essential, &retainers, found, &progress, chunk)
            .expect("not cancelled")
            .idom
    }

    /// The loop gathers a chunk's retainers before evaluating them (a chunk ends early
    /// once it holds four numbers a vertex; a list past [`LONG`] is read in place): chunks
    /// of any size, down to one vertex, give the tree of a single chunk holding every
    /// vertex.
    #[test]
    fn every_chunk_size_gives_the_same_tree() {
        let hub = LONG as u32 + 100;
        for (case, (n, m, hub)) in [
            (300, 700, 0),
            (2_000, 3_000, 0),
            (5_000, 15_000, 0),
            (6_000, 12_000, hub),
        ]
        .into_iter()
        .enumerate()
        {
            let json = random_snapshot(n, m, hub, 0x9E37_79B9_7F4A_7C15 + case as u64);
            let whole = idoms(&json, n as usize);
            // Unreachable islands and several retainers per node, or the check is weak.
            assert!(whole.iter().any(|&d| d != 0), "case {case}: a deep tree");
            for chunk in [1, 3, 64, 1_000] {
                assert_eq!(idoms(&json, chunk), whole, "case {case}: chunks of {chunk}");
            }
        }
    }
}
