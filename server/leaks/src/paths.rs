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
    let g = &snap.graph;
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
        let Some((_, r)) = best else { break };
        let r = NodeIndex(r);
        if snap.distance(r) == UNREACHABLE {
            break;
        }
        let edge = g
            .edge_range(r)
            .filter(|&e| g.edge_target(e) == cur && snap.retains(e))
            .min_by_key(|&e| edge_preference(g.edge(e).edge_type));
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
