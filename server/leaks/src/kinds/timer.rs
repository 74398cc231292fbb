//! Timers never cleared: `setInterval` (and long `setTimeout`) objects kept by Node's timer
//! lists, and the callbacks and state they hold.
//!
//! Shape: `TimersList` --`_idleNext`/`_idlePrev`--> `Timeout` --`_onTimeout`--> closure. The
//! list is circular and doubly linked, so every `Timeout` is dominated by the list itself:
//! the group's holder is the `TimersList` (or the timer list's owner) and its members are
//! the leaked `Timeout`s.

use heapsight_snapshot::NodeIndex;

use super::{common_anchor, growth, Classified, Path};
use crate::ctx::Ctx;
use crate::finding::LeakKind;
use crate::group::Group;

/// Recognizes timer leaks.
pub fn recognize(ctx: &Ctx<'_>, group: &Group, _path: &Path) -> Option<Classified> {
    let g = &ctx.snap.graph;
    let timeouts: Vec<NodeIndex> = group
        .members
        .iter()
        .copied()
        .filter(|&m| ctx.class(m) == "Timeout")
        .collect();
    if timeouts.len() * 2 < group.members.len() || timeouts.is_empty() {
        return None;
    }
    // Every Timeout on the same list, leaked or not, for the growth figures.
    let list = timeouts.first().and_then(|&t| find_list(ctx, t));
    let all: Vec<NodeIndex> = match list {
        Some(list) => list_members(ctx, list),
        None => timeouts.clone(),
    };
    let callbacks = timeouts.iter().filter_map(|&t| ctx.child(t, "_onTimeout"));
    // `_repeat` is null (an oddball) for setTimeout and a number (often a small integer,
    // which V8 does not store as an object) for setInterval.
    let repeats = timeouts
        .iter()
        .filter(|&&t| {
            ctx.child(t, "_repeat")
                .is_none_or(|r| g.node_name(r) != "system / Oddball")
        })
        .count();
    let detail = if repeats * 2 >= timeouts.len() {
        "setInterval"
    } else {
        "setTimeout"
    };
    // Name the list the timers hang on, even when several roots reach it and the group's
    // holder is higher up.
    let owner = list.unwrap_or(group.holder);
    Some(Classified {
        kind: LeakKind::Timer,
        owner,
        event: None,
        count: timeouts.len() as u64,
        noun: if detail == "setInterval" {
            "intervals"
        } else {
            "timeouts"
        },
        growth: growth(ctx, &all),
        anchor: common_anchor(ctx, callbacks),
        sample: timeouts.first().copied(),
        detail: Some(detail),
        items: timeouts.iter().copied().take(2000).collect(),
    })
}

/// The `TimersList` a Timeout is linked into.
fn find_list(ctx: &Ctx<'_>, timeout: NodeIndex) -> Option<NodeIndex> {
    let mut cur = ctx.child(timeout, "_idleNext");
    let mut steps = 0u32;
    while let Some(n) = cur {
        if ctx.class(n) == "TimersList" {
            return Some(n);
        }
        if n == timeout || steps > 10_000_000 {
            return None;
        }
        steps += 1;
        cur = ctx.child(n, "_idleNext");
    }
    None
}

/// The Timeouts linked into a timer list (following `_idleNext`, bounded).
fn list_members(ctx: &Ctx<'_>, list: NodeIndex) -> Vec<NodeIndex> {
    let mut out = Vec::new();
    let mut cur = ctx.child(list, "_idleNext");
    while let Some(t) = cur {
        if t == list || out.len() > 10_000_000 {
            break;
        }
        out.push(t);
        cur = ctx.child(t, "_idleNext");
    }
    out
}
