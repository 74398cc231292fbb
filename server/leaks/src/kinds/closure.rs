//! Callbacks stored in long-lived structures — retry queues, pending-callback arrays,
//! handler maps — each keeping what it captured (often a whole request context) alive.
//!
//! The shape is a collection whose leaked values are mostly functions; the finding points
//! at the function's code and names what its context captures.

use heapsight_snapshot::{NodeIndex, NodeType};

use super::collection::entries;
use super::{common_anchor, growth, owner_of, Classified, Path};
use crate::ctx::Ctx;
use crate::finding::LeakKind;
use crate::group::Group;

/// Recognizes stored-callback leaks.
pub fn recognize(ctx: &Ctx<'_>, group: &Group, path: &Path) -> Option<Classified> {
    let g = &ctx.snap.graph;
    let owner = owner_of(ctx, group.holder, path);
    let class = ctx.class(owner).to_string();
    let stored = ctx.items_of(owner);
    let entries = entries(&class, &stored);
    let leaked: Vec<NodeIndex> = entries
        .iter()
        .filter_map(|e| e.last().copied())
        .filter(|&n| ctx.leaked(n))
        .collect();
    // A library's queue stores records around the callbacks (interceptors, middleware
    // layers, hooks); a user's own collection of objects stays a collection.
    // Keyed structures (a Map, an object used as a map) are caches, even of records that
    // hold functions: only queues (arrays) of records are callback queues.
    // The cheap tests first: the library's walk up reads every retainer of a scope.
    let library = class == "Array"
        && stored.iter().any(|i| i.index.is_some())
        && (super::library_structure(ctx, path, owner).is_some()
            || super::library_structure(ctx, path, group.holder).is_some());
    let functions: Vec<NodeIndex> = leaked
        .iter()
        .copied()
        .filter_map(|n| {
            if g.node_type(n) == NodeType::Closure {
                Some(n)
            } else if library {
                super::callback_of(ctx, n)
            } else {
                None
            }
        })
        .collect();
    if functions.is_empty() || functions.len() * 2 < leaked.len() {
        return None;
    }
    let all: Vec<NodeIndex> = entries.iter().filter_map(|e| e.last().copied()).collect();
    Some(Classified {
        kind: LeakKind::Closure,
        owner,
        event: None,
        count: functions.len() as u64,
        noun: "callbacks",
        growth: growth(ctx, &all),
        anchor: common_anchor(ctx, functions.iter().copied()),
        sample: functions.first().copied(),
        detail: None,
        items: functions.iter().copied().take(2000).collect(),
    })
}

/// Variable names the closures' contexts hold, most common first.
pub fn captured(ctx: &Ctx<'_>, functions: &[NodeIndex]) -> Vec<String> {
    let g = &ctx.snap.graph;
    let mut counts: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for &f in functions.iter().take(1000) {
        let f = ctx.unwrap_function(f);
        let Some(context) = ctx.child(f, "context") else {
            continue;
        };
        for e in g.edges(context) {
            if e.edge_type == heapsight_snapshot::EdgeType::Context {
                if let heapsight_snapshot::EdgeName::Name(name) = e.name {
                    *counts.entry(name.to_string()).or_default() += 1;
                }
            }
        }
    }
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().take(8).map(|(n, _)| n).collect()
}
