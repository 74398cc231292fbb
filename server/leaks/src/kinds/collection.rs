//! Collections that grow without bound: a Map, Set, Array or plain object used as a map,
//! held from module scope, a singleton or a global.
//!
//! Shape: the collection --`table` (Map, Set) | `elements` (Array) | `properties`
//! (dictionary object)--> backing store --> entries. The store is reallocated as it grows,
//! so it is usually the leak root and the collection object itself is the holder.
//! Map tables hold entries as (key, value, chain) slots, Sets as (key, chain): entries are
//! counted by slot, not by value.

use std::collections::HashSet;

use heapsight_snapshot::{NodeIndex, NodeType};

use super::{common_anchor, growth, owner_of, Classified, Item, Path};
use crate::ctx::Ctx;
use crate::finding::LeakKind;
use crate::group::Group;

/// Recognizes collection leaks.
pub fn recognize(ctx: &Ctx<'_>, group: &Group, path: &Path) -> Option<Classified> {
    let owner = owner_of(ctx, group.holder, path);
    let class = ctx.class(owner).to_string();
    let all = ctx.items_of(owner);
    if all.is_empty() {
        return None;
    }
    // An object used as a map: its named properties are the entries (its dictionary store
    // also lists the keys).
    let named: Vec<Item>;
    let stored: &[Item] = if !matches!(class.as_str(), "Map" | "Set" | "Array")
        && all.iter().any(|i| i.index.is_none())
    {
        named = all.iter().filter(|i| i.index.is_none()).copied().collect();
        &named
    } else {
        &all
    };
    let entries = entries(&class, stored);
    let leaked: Vec<&Vec<NodeIndex>> = entries
        .iter()
        .filter(|e| e.iter().any(|&n| ctx.leaked(n)))
        .collect();
    if leaked.is_empty() {
        return None;
    }
    let representative: Vec<NodeIndex> = entries.iter().filter_map(|e| e.last().copied()).collect();
    let noun = match class.as_str() {
        "Map" | "Set" => "entries",
        "Array" => "elements",
        _ => "properties",
    };
    let sample = leaked.first().and_then(|e| e.last().copied());
    Some(Classified {
        kind: LeakKind::Collection,
        owner,
        event: None,
        count: leaked.len() as u64,
        noun,
        growth: growth(ctx, &representative),
        anchor: constructor_anchor(ctx, leaked.iter().filter_map(|e| e.last().copied())),
        sample,
        detail: None,
        items: leaked
            .iter()
            .filter_map(|e| e.last().copied())
            .take(2000)
            .collect(),
    })
}

/// Groups stored values into entries: Map slots in threes, Set slots in twos (counted from
/// the first slot seen), anything else one value per entry.
pub fn entries(class: &str, stored: &[Item]) -> Vec<Vec<NodeIndex>> {
    let width = match class {
        "Map" => 3,
        "Set" => 2,
        _ => 1,
    };
    if width == 1 {
        return stored.iter().map(|i| vec![i.node]).collect();
    }
    let base = stored.iter().filter_map(|i| i.index).min().unwrap_or(0);
    // Sorted by slot (stably: a slot's values keep their order), then cut where the slot
    // changes: a large cache has hundreds of thousands of values, and a tree of them cost
    // more than the rest of its classification.
    let mut slots: Vec<(u32, NodeIndex)> = stored
        .iter()
        .filter_map(|i| Some(((i.index? - base) / width, i.node)))
        .collect();
    slots.sort_by_key(|&(slot, _)| slot);
    slots
        .chunk_by(|a, b| a.0 == b.0)
        .map(|entry| entry.iter().map(|&(_, node)| node).collect())
        .collect()
}

/// Where the values were made, when they are objects of a user class (the constructor's
/// position) or functions.
fn constructor_anchor(
    ctx: &Ctx<'_>,
    values: impl Iterator<Item = NodeIndex>,
) -> Option<crate::finding::CodeAnchor> {
    let g = &ctx.snap.graph;
    let mut seen = HashSet::new();
    let located = values.filter(|&v| {
        matches!(g.node_type(v), NodeType::Object | NodeType::Closure)
            && g.location(v).is_some()
            && seen.insert(v.0)
    });
    common_anchor(ctx, located)
}
