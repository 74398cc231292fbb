//! Listeners added to a long-lived EventEmitter and never removed.
//!
//! Shape: emitter --`_events`--> null-prototype object --`<event>`--> the listener, or an
//! array of listeners (its elements store holds them). `once` wraps a listener in a bound
//! `onceWrapper`; the user's function is its state's `listener`. `process` is an
//! EventEmitter too. The holder is the events object or the array; the finding names the
//! emitter and the event.

use heapsight_snapshot::{EdgeName, NodeIndex, NodeType};

use super::{binding, common_anchor, growth, items, Classified, Path};
use crate::ctx::Ctx;
use crate::finding::LeakKind;
use crate::group::Group;

/// Recognizes listener leaks.
pub fn recognize(ctx: &Ctx<'_>, group: &Group, path: &Path) -> Option<Classified> {
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
    let listeners: Vec<NodeIndex> = if g.node_type(slot) == NodeType::Closure {
        vec![slot]
    } else {
        items(ctx, slot)
            .into_iter()
            .map(|i| i.node)
            .filter(|&n| g.node_type(n) == NodeType::Closure)
            .collect()
    };
    let leaked: Vec<NodeIndex> = listeners
        .iter()
        .copied()
        .filter(|&n| ctx.leaked(n))
        .collect();
    if leaked.is_empty() {
        return None;
    }
    let _ = binding(ctx, path, emitter);
    Some(Classified {
        kind: LeakKind::Listener,
        owner: emitter,
        event: Some(event),
        count: leaked.len() as u64,
        noun: "listeners",
        growth: growth(ctx, &listeners),
        anchor: common_anchor(ctx, leaked.iter().copied()),
        sample: leaked.first().copied(),
        detail: None,
        items: leaked.iter().copied().take(2000).collect(),
    })
}
