//! Leak kinds: each module recognizes one retainer shape around a group's holder.
//!
//! `classify` tries them from the most specific shape to the least: timers (Node's timer
//! lists), listeners (`_events` of an EventEmitter), promises, collections and callback
//! queues, then `other`. Shared helpers — finding the JS container of a structure, its
//! items, the name it is bound to — live here.

pub mod closure;
pub mod collection;
pub mod listener;
pub mod other;
pub mod promise;
pub mod timer;

use std::collections::HashMap;

use heapsight_snapshot::{EdgeName, EdgeType, NodeIndex, NodeType};

use crate::ctx::Ctx;
use crate::finding::{Binding, CodeAnchor, Growth, LeakKind};
use crate::group::Group;

/// What a kind recognized about a group.
#[derive(Debug, Clone)]
pub struct Classified {
    /// The kind.
    pub kind: LeakKind,
    /// The long-lived JS object the user knows (the emitter, the Map, the array).
    pub owner: NodeIndex,
    /// The event name, for listeners.
    pub event: Option<String>,
    /// Leaked items (listeners, entries, timers, callbacks).
    pub count: u64,
    /// What the items are called.
    pub noun: &'static str,
    /// The owner's items by allocation time.
    pub growth: Growth,
    /// The code that made the items.
    pub anchor: Option<CodeAnchor>,
    /// One leaked item, to end the retainer path with.
    pub sample: Option<NodeIndex>,
    /// For timers: `setInterval` or `setTimeout`.
    pub detail: Option<&'static str>,
    /// Leaked items (a bounded sample), where user code is looked for when the structure
    /// belongs to a library.
    pub items: Vec<NodeIndex>,
}

/// The path from the roots to the holder, as (node, edge into the next node).
pub type Path = [(NodeIndex, Option<usize>)];

/// Classifies a group; always succeeds (`other` last). When nothing recognizes the holder
/// itself but one of its collections holds the leaked items (an `Ajv`'s `_cache` Map, an
/// axios `InterceptorManager`'s `handlers`), the collection is classified instead.
pub fn classify(ctx: &Ctx<'_>, group: &Group, path: &Path) -> Classified {
    let first = classify_at(ctx, group, path);
    if first.kind != LeakKind::Other && meaningful_holder(ctx, group.holder) {
        return first;
    }
    if !meaningful_holder(ctx, group.holder) {
        if let Some(found) = shared_container(ctx, group) {
            return found;
        }
    }
    let owner = owner_of(ctx, group.holder, path);
    let Some((edge, child)) = leaking_child(ctx, owner) else {
        return first;
    };
    let mut down: Vec<(NodeIndex, Option<usize>)> = path.to_vec();
    if down.last().map(|&(n, _)| n) != Some(owner) {
        down = crate::paths::path_to(ctx, owner);
    }
    if let Some(last) = down.last_mut() {
        last.1 = Some(edge);
    }
    down.push((child, None));
    let inner = Group {
        holder: child,
        ..group.clone()
    };
    let second = classify_at(ctx, &inner, &down);
    if second.kind == LeakKind::Other {
        first
    } else {
        second
    }
}

fn classify_at(ctx: &Ctx<'_>, group: &Group, path: &Path) -> Classified {
    timer::recognize(ctx, group, path)
        .or_else(|| listener::recognize(ctx, group, path))
        .or_else(|| promise::recognize(ctx, group, path))
        .or_else(|| closure::recognize(ctx, group, path))
        .or_else(|| collection::recognize(ctx, group, path))
        .unwrap_or_else(|| other::recognize(ctx, group, path))
}

/// Whether `n` is a V8 backing store rather than a JS value (elements, property arrays,
/// hash tables).
pub fn is_store(ctx: &Ctx<'_>, n: NodeIndex) -> bool {
    let g = &ctx.snap.graph;
    matches!(g.node_type(n), NodeType::Array | NodeType::Hidden)
}

/// The JS object a structure belongs to: the holder, or the nearest JS object above it on
/// the path when the holder is a backing store.
pub fn owner_of(ctx: &Ctx<'_>, holder: NodeIndex, path: &Path) -> NodeIndex {
    if !is_store(ctx, holder) {
        return holder;
    }
    path.iter()
        .rev()
        .map(|&(n, _)| n)
        .find(|&n| !is_store(ctx, n) && n != NodeIndex::ROOT)
        .unwrap_or(holder)
}

/// One stored value of a container: how it is stored and what.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// The slot: an element index, a table index, or `None` for named properties.
    pub index: Option<u32>,
    /// The value.
    pub node: NodeIndex,
}

/// Values stored in `owner`: its elements, its hash-table entries, its dictionary
/// properties — following its backing stores one or two levels down.
pub fn items(ctx: &Ctx<'_>, owner: NodeIndex) -> Vec<Item> {
    let g = &ctx.snap.graph;
    let mut out = Vec::new();
    let mut stores = vec![(owner, 0u8)];
    let mut seen = std::collections::HashSet::new();
    let mut values = std::collections::HashSet::new();
    while let Some((n, depth)) = stores.pop() {
        if !seen.insert(n.0) {
            continue;
        }
        for e in g.edges(n) {
            if e.edge_type == EdgeType::Weak || e.to == n {
                continue;
            }
            let name = match e.name {
                EdgeName::Name(s) => s,
                EdgeName::Index(_) => "",
            };
            if matches!(name, "map" | "__proto__" | "constructor" | "prototype") {
                continue;
            }
            if is_store(ctx, e.to)
                && depth < 2
                && matches!(e.edge_type, EdgeType::Internal | EdgeType::Hidden)
            {
                stores.push((e.to, depth + 1));
                continue;
            }
            let index = match (e.edge_type, e.name) {
                (EdgeType::Element | EdgeType::Hidden, EdgeName::Index(i)) => Some(i),
                (EdgeType::Internal, EdgeName::Name(s)) => match s.parse::<u32>() {
                    Ok(i) => Some(i),
                    Err(_) => continue,
                },
                (EdgeType::Property, _) => None,
                _ => continue,
            };
            // V8 reports an array's elements both from the array and from its backing
            // store: each value counts once.
            if values.insert(e.to.0) {
                out.push(Item { index, node: e.to });
            }
        }
    }
    out
}

/// Counts items by allocation era.
pub fn growth(ctx: &Ctx<'_>, items: &[NodeIndex]) -> Growth {
    let mut by_era = [0u64; 3];
    for &n in items {
        by_era[ctx.era(n) as usize] += 1;
    }
    Growth {
        baseline: by_era[0],
        target: by_era[0] + by_era[1],
        r#final: by_era[0] + by_era[1] + by_era[2],
    }
}

/// The most common position of the user's own functions among `items` and the functions
/// they hold directly (a library's record whose handler is the user's callback).
pub fn user_anchor(ctx: &Ctx<'_>, items: &[NodeIndex]) -> Option<CodeAnchor> {
    let g = &ctx.snap.graph;
    let mut counts: HashMap<(u32, u32, u32), (u64, NodeIndex)> = HashMap::new();
    let mut consider = |f: NodeIndex| {
        let f = ctx.unwrap_function(f);
        if !ctx.is_user_function(f) {
            return;
        }
        if let Some(loc) = g.location(f) {
            counts
                .entry((loc.script_id, loc.line, loc.column))
                .or_insert((0, f))
                .0 += 1;
        }
    };
    for &item in items.iter().take(2000) {
        consider(item);
        for e in g.edges(item) {
            if matches!(e.edge_type, EdgeType::Property | EdgeType::Element) {
                consider(e.to);
            }
        }
    }
    let (_, (_, best)) = counts
        .into_iter()
        .max_by_key(|(k, (c, _))| (*c, std::cmp::Reverse(*k)))?;
    ctx.anchor(best)
}

/// The most common code position among functions.
pub fn common_anchor(
    ctx: &Ctx<'_>,
    functions: impl Iterator<Item = NodeIndex>,
) -> Option<CodeAnchor> {
    let mut counts: HashMap<(u32, u32, u32), (u64, NodeIndex)> = HashMap::new();
    for f in functions {
        let f = ctx.unwrap_function(f);
        if let Some(loc) = ctx.snap.graph.location(f) {
            let slot = counts
                .entry((loc.script_id, loc.line, loc.column))
                .or_insert((0, f));
            slot.0 += 1;
        }
    }
    let (_, (_, best)) = counts
        .into_iter()
        .max_by_key(|(k, (c, _))| (*c, std::cmp::Reverse(*k)))?;
    ctx.anchor(best)
}

/// The name `target` is reachable by on `path`: the variable or property on the edge
/// into it, looking one level up through backing stores and array slots.
pub fn binding(ctx: &Ctx<'_>, path: &Path, target: NodeIndex) -> Option<Binding> {
    let g = &ctx.snap.graph;
    let at = path.iter().position(|&(n, _)| n == target)?;
    let mut i = at;
    while i > 0 {
        let (from, edge) = path[i - 1];
        let edge = g.edge(edge?);
        match (edge.edge_type, edge.name) {
            (EdgeType::Context, EdgeName::Name(name)) => {
                return Some(Binding {
                    kind: "variable",
                    name: name.to_string(),
                    owner: None,
                })
            }
            (EdgeType::Property | EdgeType::Shortcut, EdgeName::Name(name)) => {
                let owner = ctx.class(from);
                let global = owner == "global"
                    || owner == "Window"
                    || g.node_name(from).starts_with("global");
                // `shutdown.signal` rather than `AbortController.#signal` when the object
                // holding the property is itself named by a variable.
                let owner_name = if global {
                    None
                } else {
                    match binding(ctx, path, from) {
                        Some(b) if b.kind != "property" => Some(b.name),
                        _ => Some(owner.into_owned()),
                    }
                };
                return Some(Binding {
                    kind: if global { "global" } else { "property" },
                    name: name.trim_start_matches('#').to_string(),
                    owner: owner_name,
                });
            }
            _ if is_store(ctx, from) => i -= 1,
            _ => return None,
        }
    }
    None
}

/// A library structure holding leaked items: the npm package and how to name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryStructure {
    /// The npm package whose code made the structure (`express`, `@scope/name`).
    pub package: String,
    /// `express Layer`, `axios InterceptorManager handlers`: the library object owning the
    /// structure and the property leading down to it.
    pub label: String,
}

/// The library object owning the structure (the owner or one of the few objects above it on
/// the path), unless the walk up meets the user's own code first (a user closure or its
/// scope): then the structure is the user's.
pub fn library_structure(ctx: &Ctx<'_>, path: &Path, owner: NodeIndex) -> Option<LibraryStructure> {
    let g = &ctx.snap.graph;
    // A plain object, Map or array with no constructor of its own: a library's module
    // variable may name it.
    if ctx.library_of(owner).is_none() && g.location(owner).is_none() {
        if let Some(found) = library_variable(ctx, owner) {
            return Some(found);
        }
    }
    let at = path.iter().position(|&(n, _)| n == owner)?;
    for back in 0..=3usize {
        let i = at.checked_sub(back)?;
        let (node, edge) = path[i];
        if ctx.is_user_function(node) {
            return None;
        }
        // A module-level variable of a library (`scheduledJobs` in node-schedule): the
        // context of that library's functions holds it.
        if ctx.class(node) == "system / Context" {
            let package = ctx
                .snap
                .retainers(node)
                .iter()
                .find_map(|&f| ctx.library_of(NodeIndex(f)));
            if let (Some(package), Some(EdgeName::Name(var))) =
                (package, edge.map(|e| g.edge(e).name))
            {
                return Some(LibraryStructure {
                    label: format!("{package} {var}"),
                    package,
                });
            }
        }
        if let Some(package) = ctx.library_of(node) {
            let class = ctx.class(node);
            let label = match (back, edge.map(|e| g.edge(e).name)) {
                (0, _) => format!("{package} {class}"),
                (_, Some(EdgeName::Name(prop))) => format!("{package} {class} {prop}"),
                _ => format!("{package} {class}"),
            };
            return Some(LibraryStructure { package, label });
        }
    }
    None
}

/// The property of `owner` that is a collection holding the most leaked items, with the
/// edge to it, when `owner`'s own items are not leaked.
fn leaking_child(ctx: &Ctx<'_>, owner: NodeIndex) -> Option<(usize, NodeIndex)> {
    let g = &ctx.snap.graph;
    let mut best: Option<(usize, usize, NodeIndex)> = None;
    for e in g.edge_range(owner) {
        let edge = g.edge(e);
        if !matches!(edge.edge_type, EdgeType::Property | EdgeType::Internal) {
            continue;
        }
        if matches!(
            edge.name,
            EdgeName::Name("map" | "__proto__" | "constructor" | "prototype")
        ) {
            continue;
        }
        let child = edge.to;
        if !matches!(g.node_type(child), NodeType::Object) || ctx.leaked(child) {
            continue;
        }
        let leaked = items(ctx, child)
            .iter()
            .filter(|i| ctx.leaked(i.node))
            .count();
        if leaked > best.map_or(0, |b| b.0) {
            best = Some((leaked, e, child));
        }
    }
    best.map(|(_, e, child)| (e, child))
}

/// The callback a stored item stands for: the item itself when it is a function, or the
/// function a small record holds (`{ fulfilled, rejected }` of an interceptor, `{ fn, context }`
/// of an eventemitter3 listener, an express Layer's `handle`).
pub fn callback_of(ctx: &Ctx<'_>, item: NodeIndex) -> Option<NodeIndex> {
    let g = &ctx.snap.graph;
    match g.node_type(item) {
        NodeType::Closure => return Some(item),
        NodeType::Object => {}
        _ => return None,
    }
    let mut first = None;
    for e in g.edges(item) {
        if e.edge_type != EdgeType::Property || g.node_type(e.to) != NodeType::Closure {
            continue;
        }
        let EdgeName::Name(name) = e.name else {
            continue;
        };
        if matches!(name, "constructor" | "__proto__") {
            continue;
        }
        if matches!(
            name,
            "fn" | "listener" | "callback" | "handler" | "handle" | "fulfilled" | "next"
        ) {
            return Some(e.to);
        }
        first.get_or_insert(e.to);
    }
    first
}

/// Whether a group's holder is a structure a user can know: not the root, a synthetic or
/// system node, or the global object (which only dominate what several paths reach).
fn meaningful_holder(ctx: &Ctx<'_>, holder: NodeIndex) -> bool {
    let g = &ctx.snap.graph;
    if holder == NodeIndex::ROOT {
        return false;
    }
    match g.node_type(holder) {
        NodeType::Synthetic => false,
        NodeType::Hidden => !ctx.class(holder).starts_with("(system"),
        _ => !matches!(&*ctx.class(holder), "global" | "Window" | "(system)"),
    }
}

/// For leaked objects held from several places (so that only the root dominates them): the
/// container that retains most of the members (a library's registry object, a queue),
/// classified as if it held them all.
fn shared_container(ctx: &Ctx<'_>, group: &Group) -> Option<Classified> {
    let g = &ctx.snap.graph;
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for &m in group.members.iter().take(2000) {
        let mut seen = std::collections::HashSet::new();
        for &r in ctx.snap.retainers(m) {
            let mut r = NodeIndex(r);
            // A backing store stands for the object that owns it.
            for _ in 0..2 {
                if !is_store(ctx, r) {
                    break;
                }
                match ctx.snap.retainers(r).first() {
                    Some(&up) => r = NodeIndex(up),
                    None => break,
                }
            }
            if r == NodeIndex::ROOT || ctx.leaked(r) || is_store(ctx, r) {
                continue;
            }
            if g.node_type(r) != NodeType::Object || !seen.insert(r.0) {
                continue;
            }
            *counts.entry(r.0).or_default() += 1;
        }
    }
    let (&best, &n) = counts
        .iter()
        .max_by_key(|(k, c)| (**c, std::cmp::Reverse(**k)))?;
    if n * 4 < group.members.len().min(2000) {
        return None;
    }
    let container = NodeIndex(best);
    let path = crate::paths::path_to(ctx, container);
    let inner = Group {
        holder: container,
        ..group.clone()
    };
    let found = classify_at(ctx, &inner, &path);
    (found.kind != LeakKind::Other).then_some(found)
}

/// A module-level variable of a library naming `n` (`scheduledJobs` of node-schedule),
/// whatever the shortest path to `n` crosses: a context of that library's functions holds it.
fn library_variable(ctx: &Ctx<'_>, n: NodeIndex) -> Option<LibraryStructure> {
    let g = &ctx.snap.graph;
    ctx.snap.retainers(n).iter().find_map(|&r| {
        let r = NodeIndex(r);
        if ctx.class(r) != "system / Context" {
            return None;
        }
        let var = g.edges(r).find_map(|e| match (e.edge_type, e.name) {
            (EdgeType::Context, EdgeName::Name(name)) if e.to == n => Some(name),
            _ => None,
        })?;
        let package = ctx
            .snap
            .retainers(r)
            .iter()
            .find_map(|&f| ctx.library_of(NodeIndex(f)))?;
        Some(LibraryStructure {
            label: format!("{package} {var}"),
            package,
        })
    })
}
