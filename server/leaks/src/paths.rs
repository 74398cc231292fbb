//! Retainer paths shown to users: from a GC root down to an object, the way DevTools'
//! Retainers pane reads — each step the retainer closest to the roots, skipping V8's
//! internal noise (feedback cells, descriptor arrays, property cells, compiled code).

use heapsight_snapshot::{EdgeName, EdgeType, NodeIndex, NodeType, UNREACHABLE};

use crate::ctx::Ctx;
use crate::finding::PathHop;

const MAX_HOPS: usize = 48;
/// Steps of the walk, links of lists included.
const MAX_STEPS: usize = 10_000_000;

/// The path from the roots to `target`, root first.
pub fn path_to(ctx: &Ctx<'_>, target: NodeIndex) -> Vec<(NodeIndex, Option<usize>)> {
    let snap = ctx.snap;
    // Walk up: each step to the retainer with the smallest distance.
    let mut chain: Vec<(NodeIndex, Option<usize>)> = vec![(target, None)];
    let mut cur = target;
    let mut seen = std::collections::HashSet::new();
    seen.insert(cur.0);
    // Links of a list skipped on the way count too, up to a bound that no real list meets.
    let mut steps = 0usize;
    while chain.len() < MAX_HOPS && steps < MAX_STEPS {
        let d = snap.distance(cur);
        if cur == NodeIndex::ROOT || d <= 1 {
            break;
        }
        // A shared object can have millions of retainers: the noise and cycle checks (string
        // compares, a hash lookup) run only for a retainer that would be the best so far.
        let mut best: Option<(u32, u32)> = None;
        for &r in snap.retainers(cur) {
            let key = (snap.distance(NodeIndex(r)), r);
            if best.is_none_or(|b| key < b) && !seen.contains(&r) && !is_noise(ctx, NodeIndex(r)) {
                best = Some(key);
            }
        }
        let Some((distance, first)) = best else { break };
        if distance == UNREACHABLE {
            break;
        }
        let (r, edge) = preferred_retainer(ctx, cur, distance, NodeIndex(first), &seen);
        seen.insert(r.0);
        steps += 1;
        if continues_a_list(ctx, &chain, r, edge) {
            // A linked list (EventTarget's `Listener`s, a queue's nodes): the path keeps its
            // first two links and the newest, so that a list thousands long before the
            // leaked items neither ends the walk nor fills the path.
            if let Some(last) = chain.last_mut() {
                *last = (r, edge);
            }
        } else {
            chain.push((r, edge));
        }
        cur = r;
    }
    chain.reverse();
    chain
}

/// How many retainers tied at the smallest distance are weighed by their edge.
const MAX_TIED: usize = 64;
/// A retainer with more edges than this is not searched for its edge's kind.
const MAX_EDGES_WEIGHED: usize = 4096;

/// Of the retainers of `cur` at `distance` (`first` the lowest-numbered), the one whose edge
/// reads best (a variable or a property before an element, an internal slot or a bound
/// function's `bound_this`), with that edge. Ties are common (a module's variable and a
/// library's bound callback both one hop below the same closure), and the snapshot's node
/// order, which differs from run to run, must not decide whether the path names the variable.
fn preferred_retainer(
    ctx: &Ctx<'_>,
    cur: NodeIndex,
    distance: u32,
    first: NodeIndex,
    seen: &std::collections::HashSet<u32>,
) -> (NodeIndex, Option<usize>) {
    let snap = ctx.snap;
    let g = &snap.graph;
    let edge_to = |r: NodeIndex| {
        g.edge_range(r)
            .filter(|&e| g.edge_target(e) == cur && snap.retains(e))
            .min_by_key(|&e| edge_preference(g.edge(e).edge_type))
    };
    let preference = |r: NodeIndex, edge: Option<usize>| {
        if g.edge_range(r).len() > MAX_EDGES_WEIGHED {
            return u8::MAX;
        }
        edge.map_or(u8::MAX, |e| edge_preference(g.edge(e).edge_type))
    };
    let first_edge = edge_to(first);
    let mut best = (preference(first, first_edge), first, first_edge);
    let tied = snap
        .retainers(cur)
        .iter()
        .map(|&r| NodeIndex(r))
        .filter(|&r| r != first && snap.distance(r) == distance)
        .filter(|&r| g.edge_range(r).len() <= MAX_EDGES_WEIGHED)
        .filter(|r| !seen.contains(&r.0) && !is_noise(ctx, *r))
        .take(MAX_TIED);
    for r in tied {
        if best.0 == 0 {
            break;
        }
        let edge = edge_to(r);
        let candidate = (preference(r, edge), r, edge);
        if (candidate.0, candidate.1 .0) < (best.0, best.1 .0) {
            best = candidate;
        }
    }
    (best.1, best.2)
}

/// Whether stepping up to `r` through `edge` goes on a run of links of one class through
/// one edge name (`Listener --next--> Listener --next--> Listener`).
fn continues_a_list(
    ctx: &Ctx<'_>,
    chain: &[(NodeIndex, Option<usize>)],
    r: NodeIndex,
    edge: Option<usize>,
) -> bool {
    let g = &ctx.snap.graph;
    let [.., (before, Some(e0)), (last, Some(e1))] = chain else {
        return false;
    };
    let Some(e) = edge else { return false };
    let name = g.node_name(r);
    g.node_type(r) == NodeType::Object
        && g.node_name(*last) == name
        && g.node_name(*before) == name
        && g.edge(e).name == g.edge(*e1).name
        && g.edge(*e1).name == g.edge(*e0).name
}

fn edge_preference(t: EdgeType) -> u8 {
    match t {
        EdgeType::Property | EdgeType::Context => 0,
        EdgeType::Element => 1,
        EdgeType::Internal => 2,
        _ => 3,
    }
}

fn is_noise(ctx: &Ctx<'_>, n: NodeIndex) -> bool {
    let g = &ctx.snap.graph;
    let name = g.node_name(n);
    g.node_type(n) == NodeType::Code
        || name == "(map descriptors)"
        || name == "system / PropertyCell"
        || name.contains("FeedbackCell")
}

/// The path as report hops.
pub fn hops(ctx: &Ctx<'_>, path: &[(NodeIndex, Option<usize>)]) -> Vec<PathHop> {
    let snap = ctx.snap;
    let g = &snap.graph;
    path.iter()
        .map(|&(n, edge)| {
            // Each element holds the edge leaving it toward the next.
            let edge = edge.map(|e| g.edge(e));
            let class = ctx.label(n);
            let name = g.node_name(n);
            let name = (!name.is_empty()
                && name != class
                && name.len() <= 80
                && g.node_type(n) != NodeType::Hidden)
                .then(|| name.to_string());
            let d = snap.distance(n);
            PathHop {
                class,
                name,
                id: g.node_id(n),
                edge: edge.map(|e| match e.name {
                    EdgeName::Name(s) => s.to_string(),
                    EdgeName::Index(i) => format!("[{i}]"),
                }),
                edge_type: edge.map(|e| e.edge_type.as_str()),
                distance: (d != UNREACHABLE).then_some(d),
                retained_bytes: snap.retained_size(n),
            }
        })
        .collect()
}

/// The snapshot crate's generator of snapshot files, for graphs made to order.
#[cfg(test)]
#[path = "../../snapshot/tests/bulk/mod.rs"]
#[allow(clippy::unwrap_used)]
mod bulk;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::bulk::Bulk;
    use super::*;
    use heapsight_snapshot::{Progress, Snapshot};

    /// One object reached at the same distance from a module scope's variable and from a
    /// bound function's `bound_this`: the `ws` package's server, held by the user's `wss`
    /// and by the 'listening' callback it binds on the HTTP server. Whichever of the two the
    /// snapshot numbers first, the path goes through the variable.
    #[test]
    fn a_tie_in_distance_goes_through_the_variable_whatever_the_node_order() {
        for bound_first in [true, false] {
            let mut b = Bulk::new();
            let (bound_this, wss, events) =
                (b.string("bound_this"), b.string("wss"), b.string("_events"));
            let (bound, scope) = if bound_first { (2, 3) } else { (3, 2) };
            b.edge("element", 1, 1);
            b.node("synthetic", "(GC roots)", 3, 0);
            b.edge("element", 1, bound);
            b.edge("element", 2, scope);
            for ordinal in [2, 3] {
                if ordinal == bound {
                    b.node("closure", "bound onListening", 5 + 2 * ordinal, 32);
                    b.edge("internal", bound_this, 4);
                } else {
                    b.node("object", "system / Context", 5 + 2 * ordinal, 40);
                    b.edge("context", wss, 4);
                }
            }
            b.node("object", "WebSocketServer", 21, 64);
            b.edge("property", events, 5);
            b.node("object", "Object", 23, 32);
            let snap = Snapshot::from_bytes(&b.to_json(), &Progress::new()).expect("loads");
            let ctx = Ctx::new(&snap, 0, u64::MAX);
            let path = path_to(&ctx, NodeIndex(5));
            let names: Vec<&str> = path.iter().map(|&(n, _)| snap.graph.node_name(n)).collect();
            assert_eq!(
                names,
                [
                    "(GC roots)",
                    "system / Context",
                    "WebSocketServer",
                    "Object"
                ],
                "bound function numbered first: {bound_first}"
            );
            let (_, into_holder) = path[1];
            let edge = snap.graph.edge(into_holder.unwrap());
            assert_eq!(
                (edge.edge_type, edge.name),
                (EdgeType::Context, EdgeName::Name("wss"))
            );
        }
    }
}
