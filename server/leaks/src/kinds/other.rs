//! Anything else above the threshold: reported with its holder and retainer path, and the
//! code that made its objects when they have a constructor position.

use heapsight_snapshot::{NodeIndex, NodeType};

use super::{common_anchor, growth, owner_of, Classified, Path};
use crate::ctx::Ctx;
use crate::finding::LeakKind;
use crate::group::Group;

/// The fallback classification.
pub fn recognize(ctx: &Ctx<'_>, group: &Group, path: &Path) -> Classified {
    let g = &ctx.snap.graph;
    let owner = owner_of(ctx, group.holder, path);
    let located: Vec<NodeIndex> = group
        .members
        .iter()
        .copied()
        .filter(|&m| {
            matches!(g.node_type(m), NodeType::Object | NodeType::Closure)
                && g.location(m).is_some()
        })
        .collect();
    Classified {
        kind: LeakKind::Other,
        owner,
        event: None,
        count: group.members.len() as u64,
        noun: "objects",
        growth: growth(ctx, &group.members),
        anchor: common_anchor(ctx, located.into_iter()),
        sample: group.members.first().copied(),
        detail: None,
        items: group.members.iter().copied().take(2000).collect(),
    }
}
