//! From the leaked set to groups: leaked objects held by the same long-lived object.
//!
//! A *leak root* is a leaked object whose immediate dominator is not leaked: the top of a
//! leaked dominator subtree. Its dominator — the holder — is the long-lived object through
//! which every path to it passes. Leak roots with the same holder form a group.
//!
//! A group's size is what would be freed if the holder let go of every member at once:
//! dominators with the group as one node. That is the members' own retained sizes plus
//! the holder's other dominator children that only members reach (closures made in one
//! call share one context, which no single closure dominates). Those are found by a search
//! from the holder that never enters a member, inside the holder's dominator subtree.

use std::collections::HashMap;

use heapsight_snapshot::{NodeIndex, NodeType};

use crate::ctx::Ctx;

/// Leaked objects under one holder.
#[derive(Debug, Clone)]
pub struct Group {
    /// The non-leaked immediate dominator of every member.
    pub holder: NodeIndex,
    /// The leak roots it dominates directly.
    pub members: Vec<NodeIndex>,
    /// Bytes freed if the holder dropped every member.
    pub retained: u64,
    /// Whether the search behind `retained` was cut short (then it is a lower bound).
    pub lower_bound: bool,
    /// Leaked objects in the members' subtrees.
    pub objects: u64,
}

/// Groups measured exactly; smaller ones are below any useful threshold by then.
const MAX_GROUPS: usize = 64;

/// Nodes the search from a holder may visit before it settles for a lower bound.
const SEARCH_LIMIT: u32 = 4_000_000;

/// Groups every leak root by holder; returns groups by retained size, largest first,
/// keeping those with at least `min_bytes` by the members' own retained sizes.
pub fn groups(ctx: &Ctx<'_>, min_bytes: u64) -> Vec<Group> {
    let snap = ctx.snap;
    let g = &snap.graph;
    let mut by_holder: HashMap<u32, Vec<NodeIndex>> = HashMap::new();
    let mut leaked_count: HashMap<u32, u64> = HashMap::new();
    for n in g.nodes() {
        if !ctx.leaked(n) || is_noise(ctx, n) {
            continue;
        }
        let dom = snap.idom(n);
        if ctx.leaked(dom) {
            continue;
        }
        by_holder.entry(dom.0).or_default().push(n);
    }
    // Count leaked objects under each holder: in dominator-tree preorder a node's
    // dominator comes first, so each leaked node inherits its dominator's holder.
    let mut holder_of = vec![u32::MAX; g.node_count()];
    for n in ctx.preorder() {
        if !ctx.leaked(n) {
            continue;
        }
        let dom = snap.idom(n);
        let holder = if ctx.leaked(dom) {
            holder_of[dom.ix()]
        } else {
            dom.0
        };
        holder_of[n.ix()] = holder;
        if holder != u32::MAX {
            *leaked_count.entry(holder).or_default() += 1;
        }
    }
    drop(holder_of);
    let mut out: Vec<Group> = by_holder
        .into_iter()
        .filter_map(|(holder, members)| {
            let own: u64 = members.iter().map(|&m| snap.retained_size(m)).sum();
            (own >= min_bytes / 16).then(|| Group {
                holder: NodeIndex(holder),
                retained: own,
                lower_bound: false,
                objects: leaked_count.get(&holder).copied().unwrap_or(0),
                members,
            })
        })
        .collect();
    // The joint search is for the groups that can matter: the largest by own size.
    out.sort_by(|a, b| b.retained.cmp(&a.retained).then(a.holder.cmp(&b.holder)));
    out.truncate(MAX_GROUPS);
    let mut scratch = Scratch {
        seen: vec![false; g.node_count()],
        member: vec![false; g.node_count()],
    };
    for group in &mut out {
        let (extra, cut) = jointly_held(ctx, group.holder, &group.members, &mut scratch);
        group.retained += extra;
        group.lower_bound = cut;
    }
    out.retain(|gr| gr.retained >= min_bytes);
    out.sort_by(|a, b| b.retained.cmp(&a.retained).then(a.holder.cmp(&b.holder)));
    out
}

/// V8 internals that are never the subject of a leak by themselves.
fn is_noise(ctx: &Ctx<'_>, n: NodeIndex) -> bool {
    let g = &ctx.snap.graph;
    match g.node_type(n) {
        NodeType::Code | NodeType::ObjectShape | NodeType::Synthetic => true,
        NodeType::Hidden => {
            let name = g.node_name(n);
            name.starts_with("system / Map")
                || name.contains("FeedbackVector")
                || name.contains("FeedbackCell")
        }
        _ => false,
    }
}

/// Reusable per-node flags for the searches (cleared after each).
struct Scratch {
    seen: Vec<bool>,
    member: Vec<bool>,
}

/// Bytes of the holder's other dominator children that only members reach.
fn jointly_held(
    ctx: &Ctx<'_>,
    holder: NodeIndex,
    members: &[NodeIndex],
    scratch: &mut Scratch,
) -> (u64, bool) {
    let snap = ctx.snap;
    let g = &snap.graph;
    for m in members {
        scratch.member[m.ix()] = true;
    }
    let others: Vec<u32> = ctx
        .dominated_children(holder)
        .map(|c| c.0)
        .filter(|&c| !scratch.member[c as usize])
        .collect();
    let result = if others.is_empty() {
        (0, false)
    } else if ctx.subtree_size(holder) > SEARCH_LIMIT {
        (0, true)
    } else {
        let mut visited = vec![holder.0];
        scratch.seen[holder.ix()] = true;
        let mut head = 0;
        while head < visited.len() {
            let x = visited[head];
            head += 1;
            for e in g.edge_range(NodeIndex(x)) {
                if !snap.retains(e) {
                    continue;
                }
                let t = g.edge_target(e);
                if scratch.member[t.ix()] || scratch.seen[t.ix()] || !ctx.dominates(holder, t) {
                    continue;
                }
                scratch.seen[t.ix()] = true;
                visited.push(t.0);
            }
        }
        let extra = others
            .iter()
            .filter(|&&c| !scratch.seen[c as usize])
            .map(|&c| snap.retained_size(NodeIndex(c)))
            .sum();
        for v in visited {
            scratch.seen[v as usize] = false;
        }
        (extra, false)
    };
    for m in members {
        scratch.member[m.ix()] = false;
    }
    result
}
