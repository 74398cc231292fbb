//! Where a finding's leaked objects were allocated, from V8's allocation stacks (snapshots
//! taken with allocation tracking on; `None` otherwise).
//!
//! The leaked objects are the members' dominator subtrees, filtered by the leaked predicate
//! (the same set `Group::objects` counts). Each tracked object is counted, with its self
//! size, under its allocation-tree node: one node is one stack. Objects without a stack
//! (allocated before tracking began, or moved by the GC since; see the design notes) are
//! totalled apart, so the share of leaked bytes with no stack can be shown.
//!
//! Which stacks are kept, in which order: the stacks that allocated the group's *items* (the
//! listeners, entries, timers, callbacks the finding counts) come first, by how many items
//! each allocated, then the others by bytes. The items' stack says where the things the
//! message counts were made (the registering call of a listener, the line that stores an
//! entry); the bytes they hold (captured scopes, payloads) are often allocated elsewhere,
//! by code that is not the leak. Stacks are kept in that order until at most
//! [`MAX_STACKS`] are kept and they cover 90% of the tracked bytes; item stacks are never
//! dropped for the bytes rule, only for the count.

use std::collections::HashMap;

use heapsight_snapshot::{NodeIndex, TraceNodeIndex};

use crate::ctx::Ctx;
use crate::finding::{AllocationStack, Allocations, StackFrame};
use crate::group::Group;

/// Stacks kept per finding.
pub const MAX_STACKS: usize = 5;

/// Frames kept per stack, from the allocation site (V8's tracker records at most 64).
pub const MAX_FRAMES: usize = 64;

/// Stacks are added until they cover this share of the tracked bytes (percent).
const COVER_PERCENT: u64 = 90;

#[derive(Default, Clone, Copy)]
struct Tally {
    count: u64,
    bytes: u64,
    items: u64,
}

/// The allocation stacks of `group`'s leaked objects; `items` are the classified items
/// (a bounded sample). `None` when the snapshot has no allocation traces.
pub fn allocations(ctx: &Ctx<'_>, group: &Group, items: &[NodeIndex]) -> Option<Allocations> {
    let g = &ctx.snap.graph;
    if g.allocation_traces().is_empty() {
        return None;
    }
    let mut out = Allocations::default();
    let mut by_stack: HashMap<TraceNodeIndex, Tally> = HashMap::new();
    for &member in &group.members {
        for n in ctx.subtree(member) {
            if !ctx.leaked(n) {
                continue;
            }
            let size = g.self_size(n);
            match g.trace_node(n) {
                Some(t) => {
                    let tally = by_stack.entry(t).or_default();
                    tally.count += 1;
                    tally.bytes = tally.bytes.saturating_add(size);
                    out.tracked_objects += 1;
                    out.tracked_bytes = out.tracked_bytes.saturating_add(size);
                }
                None => {
                    out.untracked_objects += 1;
                    out.untracked_bytes = out.untracked_bytes.saturating_add(size);
                }
            }
        }
    }
    let mut seen_items = std::collections::HashSet::new();
    for &item in items {
        if !ctx.leaked(item) || !seen_items.insert(item) {
            continue;
        }
        if let Some(t) = g.trace_node(item) {
            // An item outside the members' subtrees (held twice) still names its stack.
            by_stack.entry(t).or_default().items += 1;
        }
    }
    let mut ranked: Vec<(TraceNodeIndex, Tally)> = by_stack.into_iter().collect();
    ranked.sort_by(|(ta, a), (tb, b)| {
        b.items
            .cmp(&a.items)
            .then(b.bytes.cmp(&a.bytes))
            .then(b.count.cmp(&a.count))
            .then(ta.cmp(tb))
    });
    let goal =
        out.tracked_bytes / 100 * COVER_PERCENT + out.tracked_bytes % 100 * COVER_PERCENT / 100;
    let mut covered = 0u64;
    for (t, tally) in ranked {
        if out.stacks.len() == MAX_STACKS || (tally.items == 0 && covered >= goal) {
            break;
        }
        covered = covered.saturating_add(tally.bytes);
        out.stacks.push(stack(ctx, t, tally));
    }
    Some(out)
}

fn stack(ctx: &Ctx<'_>, t: TraceNodeIndex, tally: Tally) -> AllocationStack {
    let g = &ctx.snap.graph;
    let frames: Vec<StackFrame> = g
        .trace_stack(t)
        .take(MAX_FRAMES)
        .map(|f| StackFrame {
            function: f.function.to_string(),
            url: (!f.script_name.is_empty()).then(|| f.script_name.to_string()),
            script_id: f.script_id,
            line: f.line,
            column: f.column,
            user: Ctx::is_user_url(f.script_name),
        })
        .collect();
    let user_frame = frames.iter().position(|f| f.user);
    AllocationStack {
        frames,
        count: tally.count,
        bytes: tally.bytes,
        items: tally.items,
        user_frame,
    }
}

/// A stack as shown to a user: user frames one by one, runs of another origin folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameRun<'a> {
    /// A frame shown as is: the user's code, or a lone frame of a library or of Node.
    Frame(&'a StackFrame),
    /// Consecutive frames of one npm package, or of Node and V8 (`Node internals`).
    Folded {
        /// How many frames.
        frames: usize,
        /// The package's name, or `Node internals`.
        origin: String,
    },
}

/// Where a frame's code comes from: `None` for the user's code, the npm package for a
/// dependency, `Node internals` for Node's (`node:…`) and V8's (no script) functions.
pub fn frame_origin(frame: &StackFrame) -> Option<String> {
    if frame.user {
        return None;
    }
    Some(
        frame
            .url
            .as_deref()
            .and_then(crate::ctx::package_of)
            .unwrap_or_else(|| "Node internals".to_string()),
    )
}

/// `frames` with each run of two or more consecutive non-user frames of one origin folded
/// into one entry ("… 4 frames in express").
pub fn fold_frames(frames: &[StackFrame]) -> Vec<FrameRun<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < frames.len() {
        let origin = frame_origin(&frames[i]);
        let mut end = i + 1;
        if origin.is_some() {
            while end < frames.len() && frame_origin(&frames[end]) == origin {
                end += 1;
            }
        }
        match origin {
            Some(origin) if end - i > 1 => out.push(FrameRun::Folded {
                frames: end - i,
                origin,
            }),
            _ => out.push(FrameRun::Frame(&frames[i])),
        }
        i = end;
    }
    out
}

/// The last segment of a script's path or URL (`server.js` of `/srv/app/server.js`), for
/// display; the whole text when it has no `/`.
pub fn file_name(url: &str) -> &str {
    let trimmed = url.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}
