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
    // Count leaked objects under each group's members (for the report).
    for n in g.nodes() {
        if ctx.leaked(n) {
            // Climb to the leak root: the first ancestor whose dominator is not leaked.
            let mut x = n;
            let mut steps = 0;
            while ctx.leaked(snap.idom(x)) && steps < 64 {
                x = snap.idom(x);
                steps += 1;
            }
            *leaked_count.entry(snap.idom(x).0).or_default() += 1;
        }
    }
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
    for group in &mut out {
        let (extra, cut) = jointly_held(ctx, group.holder, &group.members);
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

/// Bytes of the holder's other dominator children that only members reach.
fn jointly_held(ctx: &Ctx<'_>, holder: NodeIndex, members: &[NodeIndex]) -> (u64, bool) {
    let snap = ctx.snap;
    let g = &snap.graph;
    let children = snap.dominator_children_of(holder);
    let member_set: std::collections::HashSet<u32> = members.iter().map(|m| m.0).collect();
    let others: Vec<u32> = children
        .iter()
        .copied()
        .filter(|c| !member_set.contains(c))
        .collect();
    if others.is_empty() {
        return (0, false);
    }
    if ctx.subtree_size(holder) > SEARCH_LIMIT {
        return (0, true);
    }
    let mut seen: std::collections::HashSet<u32> = std::collections::HashSet::new();
    let mut stack = vec![holder.0];
    seen.insert(holder.0);
    while let Some(x) = stack.pop() {
        for e in g.edge_range(NodeIndex(x)) {
            if !snap.retains(e) {
                continue;
            }
            let t = g.edge(e).to;
            if member_set.contains(&t.0) || !ctx.dominates(holder, t) || !seen.insert(t.0) {
                continue;
            }
            stack.push(t.0);
        }
    }
    let extra = others
        .iter()
        .filter(|c| !seen.contains(c))
        .map(|&c| snap.retained_size(NodeIndex(c)))
        .sum();
    (extra, false)
}
