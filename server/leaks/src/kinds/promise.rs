//! Reactions hanging off a promise that never settles: every `.then` / `await` on it adds
//! a reaction that keeps its callback and captured state alive.

use heapsight_snapshot::NodeIndex;

use super::{common_anchor, growth, owner_of, Classified, Path};
use crate::ctx::Ctx;
use crate::finding::LeakKind;
use crate::group::Group;

/// Recognizes pending-promise leaks.
pub fn recognize(ctx: &Ctx<'_>, group: &Group, path: &Path) -> Option<Classified> {
    let owner = owner_of(ctx, group.holder, path);
    if ctx.class(owner) != "Promise" {
        return None;
    }
    let reactions: Vec<NodeIndex> = group.members.clone();
    let handlers = reactions.iter().flat_map(|&r| {
        ["fulfill_handler", "reject_handler"]
            .into_iter()
            .filter_map(move |h| ctx.child(r, h))
    });
    Some(Classified {
        kind: LeakKind::Promise,
        owner,
        event: None,
        count: reactions.len() as u64,
        noun: "reactions",
        growth: growth(ctx, &reactions),
        anchor: common_anchor(ctx, handlers),
        sample: reactions.first().copied(),
        detail: None,
        items: reactions.iter().copied().take(2000).collect(),
    })
}
