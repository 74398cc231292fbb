//! Listeners added to a long-lived EventEmitter and never removed.
//!
//! Shape: emitter --`_events`--> null-prototype object --`<event>`--> the listener, or an
//! array of listeners (its elements store holds them). `once` wraps a listener in a bound
//! `onceWrapper`; the user's function is its state's `listener`. `process` is an
//! EventEmitter too. The holder is the events object or the array; the finding names the
//! emitter and the event.

use heapsight_snapshot::{EdgeName, NodeIndex, NodeType};

use super::{common_anchor, growth, items, Classified, Path};
use crate::ctx::Ctx;
use crate::finding::LeakKind;
use crate::group::Group;

/// Recognizes listener leaks.
pub fn recognize(ctx: &Ctx<'_>, group: &Group, path: &Path) -> Option<Classified> {
    if let Some(found) = emitter(ctx, group, path)
        .or_else(|| event_target(ctx, path))
        .or_else(|| subscribers(ctx, group, path))
    {
        return Some(found);
    }
    // When several routes lead to the listeners (a warning object that references the
    // emitter, say), the holder sits above the emitter: look along a leaked member's own
    // path instead.
    let mut members = group.members.clone();
    members.sort_by_key(|&m| std::cmp::Reverse(ctx.snap.retained_size(m)));
    members.iter().take(8).find_map(|&m| {
        // The emitter itself may be what was made during the load (a lazily created
        // AbortSignal): then the listeners hang below the member.
        if let Some(events) = ctx.child(m, "<symbol kEvents>") {
            return target_lists(ctx, m, events);
        }
        let down = crate::paths::path_to(ctx, m);
        emitter(ctx, group, &down).or_else(|| event_target(ctx, &down))
    })
}

/// EventTarget / AbortSignal: target --`<symbol kEvents>`--> Map, whose table pairs each
/// event name with the head of a doubly linked list of `Listener` objects (`next`), each
/// holding the user's function as `callback` (and `listener`).
fn event_target(ctx: &Ctx<'_>, path: &Path) -> Option<Classified> {
    let g = &ctx.snap.graph;
    let at = path.iter().rposition(|&(_, e)| {
        e.is_some_and(|e| matches!(g.edge(e).name, EdgeName::Name("<symbol kEvents>")))
    })?;
    target_lists(ctx, path[at].0, path.get(at + 1)?.0)
}

/// The listener lists of an EventTarget whose `kEvents` Map is `map`.
fn target_lists(ctx: &Ctx<'_>, target: NodeIndex, map: NodeIndex) -> Option<Classified> {
    let g = &ctx.snap.graph;
    let stored = items(ctx, map);
    let entries = super::collection::entries("Map", &stored);
    // The event whose list holds the most leaked listeners.
    let mut best: Option<(String, Vec<NodeIndex>, Vec<NodeIndex>)> = None;
    for entry in entries {
        let (Some(&key), Some(&head)) = (entry.first(), entry.get(1)) else {
            continue;
        };
        if !g.node_type(key).is_string() {
            continue;
        }
        let mut all = Vec::new();
        let mut cur = ctx.child(head, "next");
        while let Some(l) = cur {
            if l == head || all.len() > 50_000_000 || ctx.class(l) != "Listener" {
                break;
            }
            all.push(l);
            cur = ctx.child(l, "next");
        }
        let leaked: Vec<NodeIndex> = all.iter().copied().filter(|&l| ctx.leaked(l)).collect();
        if leaked.len() > best.as_ref().map_or(0, |b| b.1.len()) {
            best = Some((g.node_name(key).to_string(), leaked, all));
        }
    }
    let (event, leaked, all) = best?;
    let callbacks: Vec<NodeIndex> = leaked
        .iter()
        .filter_map(|&l| {
            ctx.child(l, "callback")
                .or_else(|| ctx.child(l, "listener"))
        })
        .collect();
    Some(Classified {
        kind: LeakKind::Listener,
        owner: target,
        event: Some(event),
        count: leaked.len() as u64,
        noun: "listeners",
        growth: growth(ctx, &all),
        anchor: common_anchor(ctx, callbacks.iter().copied()),
        sample: leaked.first().copied(),
        detail: Some("EventTarget"),
        items: callbacks.into_iter().take(2000).collect(),
    })
}

/// EventEmitter: `emitter._events[event]`.
fn emitter(ctx: &Ctx<'_>, group: &Group, path: &Path) -> Option<Classified> {
    let g = &ctx.snap.graph;
    // The `_events` edge nearest the holder (the path may cross other emitters, such as
    // the HTTP server, on its way down).
    let events_at = path.iter().rposition(|&(_, e)| {
        e.is_some_and(|e| matches!(g.edge(e).name, EdgeName::Name("_events")))
    })?;
    let emitter = path[events_at].0;
    let events = path.get(events_at + 1)?.0;
    // The event: the property leading from the events object toward the holder, or, when
    // the holder is the events object, the property holding most members.
    let event = match path.get(events_at + 1).and_then(|&(_, e)| e) {
        Some(e) if path.len() > events_at + 2 => match g.edge(e).name {
            EdgeName::Name(s) => s.to_string(),
            EdgeName::Index(_) => return None,
        },
        _ => g
            .edges(events)
            .filter(|e| group.members.contains(&e.to))
            .find_map(|e| match e.name {
                EdgeName::Name(s) => Some(s.to_string()),
                EdgeName::Index(_) => None,
            })?,
    };
    let slot = ctx.child(events, &event)?;
    // Node's EventEmitter stores the functions; eventemitter3 stores `{ fn, context, once }`
    // records (one, or an array of them).
    let listeners: Vec<NodeIndex> =
        if g.node_type(slot) == NodeType::Closure || ctx.child(slot, "fn").is_some() {
            vec![slot]
        } else {
            items(ctx, slot)
                .into_iter()
                .map(|i| i.node)
                .filter(|&n| super::callback_of(ctx, n).is_some())
                .collect()
        };
    let leaked: Vec<NodeIndex> = listeners
        .iter()
        .copied()
        .filter(|&n| ctx.leaked(n))
        .collect();
    let callbacks: Vec<NodeIndex> = leaked
        .iter()
        .filter_map(|&n| super::callback_of(ctx, n))
        .collect();
    if leaked.is_empty() {
        return None;
    }
    Some(Classified {
        kind: LeakKind::Listener,
        owner: emitter,
        event: Some(event),
        count: leaked.len() as u64,
        noun: "listeners",
        growth: growth(ctx, &listeners),
        anchor: common_anchor(ctx, callbacks.iter().copied()),
        sample: leaked.first().copied(),
        detail: None,
        items: callbacks.iter().copied().take(2000).collect(),
    })
}

/// Property names under which emitter-like objects keep their subscribers: an rxjs
/// `Subject`'s `observers`, other libraries' listener and handler lists.
const SUBSCRIBER_LISTS: [&str; 5] = [
    "observers",
    "currentObservers",
    "subscribers",
    "listeners",
    "_listeners",
];

/// A subject or signal keeping subscribers in a list: `subject.observers` (rxjs), each
/// subscriber leading (through a few objects) to the user's callback.
fn subscribers(ctx: &Ctx<'_>, group: &Group, path: &Path) -> Option<Classified> {
    let owner = super::owner_of(ctx, group.holder, path);
    // The list is the owner's property, or the owner is the list and its parent has it.
    let (subject, list) = SUBSCRIBER_LISTS
        .iter()
        .find_map(|name| Some((owner, ctx.child(owner, name)?)))
        .or_else(|| {
            let at = path.iter().position(|&(n, _)| n == owner)?;
            let (parent, edge) = path.get(at.checked_sub(1)?)?;
            let name = match ctx.snap.graph.edge((*edge)?).name {
                EdgeName::Name(name) => name,
                EdgeName::Index(_) => return None,
            };
            SUBSCRIBER_LISTS.contains(&name).then_some((*parent, owner))
        })?;
    if super::library_structure(ctx, path, subject).is_none() && ctx.library_of(subject).is_none() {
        return None;
    }
    let all: Vec<NodeIndex> = items(ctx, list).into_iter().map(|i| i.node).collect();
    let leaked: Vec<NodeIndex> = all.iter().copied().filter(|&n| ctx.leaked(n)).collect();
    if leaked.is_empty() || leaked.len() * 2 < group.members.len().min(all.len()) {
        return None;
    }
    Some(Classified {
        kind: LeakKind::Listener,
        owner: subject,
        event: None,
        count: leaked.len() as u64,
        noun: "subscribers",
        growth: growth(ctx, &all),
        anchor: None,
        sample: leaked.first().copied(),
        detail: Some("subscribers"),
        items: leaked.into_iter().take(2000).collect(),
    })
}
