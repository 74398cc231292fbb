//! Reactions hanging off a promise that never settles: every `.then` / `await` on it adds
//! a reaction that keeps its handler and what the handler captures alive.
//!
//! Shape: Promise --internal `reactions_or_result`--> `system / PromiseReaction`, a list
//! linked newest first through a hidden edge to the next reaction; other hidden edges hold
//! the handlers and the derived promise. Slot numbers moved between V8 versions (the next
//! reaction is slot 0 on Node 20, slot 1 on Node 24), so edges are told apart by their
//! targets. Each reaction is dominated by the newer one, so the group is the head of the
//! list under the pending promise.

use heapsight_snapshot::{EdgeType, NodeIndex, NodeType};

use super::{common_anchor, growth, owner_of, Classified, Path};
use crate::ctx::Ctx;
use crate::finding::LeakKind;
use crate::group::Group;

const REACTION: &str = "system / PromiseReaction";

/// Recognizes pending-promise leaks.
pub fn recognize(ctx: &Ctx<'_>, group: &Group, path: &Path) -> Option<Classified> {
    let g = &ctx.snap.graph;
    let owner = owner_of(ctx, group.holder, path);
    if ctx.class(owner) != "Promise" {
        return None;
    }
    let mut reactions: Vec<NodeIndex> = Vec::new();
    let mut cur = ctx
        .child(owner, "reactions_or_result")
        .filter(|&r| g.node_name(r) == REACTION);
    while let Some(r) = cur {
        if reactions.len() > 50_000_000 {
            break;
        }
        reactions.push(r);
        cur = hidden_targets(ctx, r).find(|&n| g.node_name(n) == REACTION && n != r);
    }
    let leaked: Vec<NodeIndex> = reactions
        .iter()
        .copied()
        .filter(|&r| ctx.leaked(r))
        .collect();
    if leaked.is_empty() {
        return None;
    }
    let handlers: Vec<NodeIndex> = leaked
        .iter()
        .filter_map(|&r| hidden_targets(ctx, r).find(|&n| g.node_type(n) == NodeType::Closure))
        .collect();
    Some(Classified {
        kind: LeakKind::Promise,
        owner,
        event: None,
        count: leaked.len() as u64,
        noun: "reactions",
        growth: growth(ctx, &reactions),
        anchor: common_anchor(ctx, handlers.iter().copied()),
        sample: leaked.first().copied(),
        detail: None,
        items: handlers.into_iter().take(2000).collect(),
    })
}

/// The targets of a reaction's hidden slots, in slot order.
fn hidden_targets<'c>(ctx: &'c Ctx<'_>, n: NodeIndex) -> impl Iterator<Item = NodeIndex> + 'c {
    ctx.snap
        .graph
        .edges(n)
        .filter(|e| e.edge_type == EdgeType::Hidden)
        .map(|e| e.to)
}
