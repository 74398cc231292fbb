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
        flags: vec![0; g.node_count()],
    };
    for group in &mut out {
        let needed = min_bytes.saturating_sub(group.retained);
        let (extra, cut) = jointly_held(ctx, group, needed, &mut scratch);
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

/// Reusable per-node flags for the searches (cleared after each): one byte per node, so
/// a step of the search makes one random access for all three questions.
struct Scratch {
    flags: Vec<u8>,
}

const MEMBER: u8 = 1;
const SEEN: u8 = 2;
const OTHER: u8 = 4;

/// Bytes of the holder's other dominator children that only members reach. When even all
/// of them together stay under `needed` bytes the group cannot reach the threshold, and
/// the search (a walk of the holder's dominator subtree) is skipped: 0. The search stops
/// as soon as it has reached every other child: then none is held by the members alone.
fn jointly_held(ctx: &Ctx<'_>, group: &Group, needed: u64, scratch: &mut Scratch) -> (u64, bool) {
    let (holder, members) = (group.holder, &group.members);
    let snap = ctx.snap;
    let g = &snap.graph;
    let flags = &mut scratch.flags;
    for m in members {
        flags[m.ix()] |= MEMBER;
    }
    let others: Vec<u32> = ctx
        .dominated_children(holder)
        .map(|c| c.0)
        .filter(|&c| flags[c as usize] & MEMBER == 0)
        .collect();
    let at_most: u64 = others
        .iter()
        .map(|&c| snap.retained_size(NodeIndex(c)))
        .sum();
    let result = if others.is_empty() || at_most < needed {
        (0, false)
    } else if ctx.subtree_size(holder) > SEARCH_LIMIT {
        (0, true)
    } else {
        for &c in &others {
            flags[c as usize] |= OTHER;
        }
        let mut unseen = others.len();
        let mut visited = vec![holder.0];
        flags[holder.ix()] |= SEEN;
        let mut head = 0;
        'search: while head < visited.len() {
            let x = visited[head];
            head += 1;
            for e in g.edge_range(NodeIndex(x)) {
                if !snap.retains(e) {
                    continue;
                }
                let t = g.edge_target(e);
                let f = flags[t.ix()];
                if f & (MEMBER | SEEN) != 0 || !ctx.dominates(holder, t) {
                    continue;
                }
                flags[t.ix()] = f | SEEN;
                visited.push(t.0);
                if f & OTHER != 0 {
                    unseen -= 1;
                    if unseen == 0 {
                        break 'search;
                    }
                }
            }
        }
        let extra = others
            .iter()
            .filter(|&&c| flags[c as usize] & SEEN == 0)
            .map(|&c| snap.retained_size(NodeIndex(c)))
            .sum();
        for v in visited {
            flags[v as usize] &= !SEEN;
        }
        for &c in &others {
            flags[c as usize] &= !OTHER;
        }
        (extra, false)
    };
    for m in members {
        flags[m.ix()] &= !MEMBER;
    }
    result
}
