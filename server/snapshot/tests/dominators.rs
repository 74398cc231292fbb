//! The dominator tree and retained sizes against a slow, obviously correct reference on
//! random graphs with weak and shortcut edges, unreachable islands and cycles; and a
//! million-long linked list to prove nothing recurses.

mod common;

use common::{Gen, Layout, Rng};
use heapsight_snapshot::{NodeIndex, Progress, Snapshot};

/// Reference dominators, from DevTools' rules stated declaratively (not its algorithm):
/// - an edge retains unless weak, a self edge, or (from a non-root node) a shortcut or an
///   edge from outside the page-owned set (reachable from the root's shortcut targets
///   without weak edges) into it;
/// - G' = retaining edges plus root → each orphan (a node unreachable from the root that
///   has no retaining edge at all);
/// - in G', d dominates n iff n is unreachable once d is removed;
/// - nodes G' does not reach (leftovers) have the root as dominator and dominate nothing.
fn reference(g: &Gen) -> (Vec<u32>, Vec<u64>) {
    let n = g.nodes.len();
    let (weak, shortcut) = (common::et("weak"), common::et("shortcut"));
    let mut page = vec![false; n];
    let mut stack: Vec<usize> = g.nodes[0]
        .edges
        .iter()
        .filter(|e| e.0 == shortcut)
        .map(|e| e.2 as usize)
        .collect();
    for &s in &stack {
        page[s] = true;
    }
    while let Some(x) = stack.pop() {
        for (ty, _, to) in &g.nodes[x].edges {
            if *ty != weak && !page[*to as usize] {
                page[*to as usize] = true;
                stack.push(*to as usize);
            }
        }
    }
    let retains = |from: usize, ty: u32, to: usize| {
        ty != weak && from != to && (from == 0 || (ty != shortcut && (page[from] || !page[to])))
    };
    let has_retainer: Vec<bool> = (0..n)
        .map(|t| {
            (0..n).any(|f| {
                g.nodes[f]
                    .edges
                    .iter()
                    .any(|(ty, _, to)| *to as usize == t && retains(f, *ty, t))
            })
        })
        .collect();
    let reach = |removed: Option<usize>, extra_roots: &[usize]| -> Vec<bool> {
        let mut seen = vec![false; n];
        let mut stack = vec![0usize];
        stack.extend(extra_roots.iter().copied().filter(|&r| Some(r) != removed));
        for &s in &stack {
            seen[s] = true;
        }
        while let Some(x) = stack.pop() {
            for (ty, _, to) in &g.nodes[x].edges {
                let to = *to as usize;
                if retains(x, *ty, to) && Some(to) != removed && !seen[to] {
                    seen[to] = true;
                    stack.push(to);
                }
            }
        }
        seen
    };
    let from_root = reach(None, &[]);
    let orphans: Vec<usize> = (1..n)
        .filter(|&u| !from_root[u] && !has_retainer[u])
        .collect();
    let in_g = reach(None, &orphans);
    let mut dominated_by: Vec<Vec<bool>> = Vec::with_capacity(n);
    for d in 0..n {
        let without = reach(Some(d), &orphans);
        dominated_by.push(
            (0..n)
                .map(|x| x == d || (in_g[x] && (d == 0 || !without[x])))
                .collect(),
        );
    }
    let mut idom = vec![0u32; n];
    for x in 1..n {
        if !in_g[x] {
            continue;
        }
        let doms: Vec<usize> = (0..n).filter(|&d| d != x && dominated_by[d][x]).collect();
        let best = doms
            .iter()
            .copied()
            .find(|&c| doms.iter().all(|&d| dominated_by[d][c]));
        idom[x] = best.unwrap_or(0) as u32;
    }
    let total: u64 = g.nodes.iter().map(|n| n.self_size).sum();
    let retained = (0..n)
        .map(|d| {
            if d == 0 {
                total
            } else {
                (0..n)
                    .filter(|&x| dominated_by[d][x])
                    .map(|x| g.nodes[x].self_size)
                    .sum()
            }
        })
        .collect();
    (idom, retained)
}

fn random_graph(rng: &mut Rng, n: u32) -> Gen {
    let mut g = Gen::new();
    for i in 1..n {
        let ty = if rng.below(10) == 0 {
            "closure"
        } else {
            "object"
        };
        g.node(ty, &format!("N{}", i % 5), 1 + rng.below(100));
    }
    let kinds = [
        "property", "property", "element", "internal", "context", "weak", "shortcut", "hidden",
    ];
    let m = n * 2 + rng.below(n as u64 * 2) as u32;
    for _ in 0..m {
        let from = rng.below(n as u64) as u32;
        let to = 1 + rng.below(n as u64 - 1) as u32;
        let kind = kinds[rng.below(kinds.len() as u64) as usize];
        let name = if kind == "element" || kind == "hidden" {
            "3".to_string()
        } else {
            format!("p{}", rng.below(4))
        };
        g.edge(from, kind, &name, to);
    }
    g
}

#[test]
fn matches_reference_on_random_graphs() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for case in 0..300 {
        let n = 2 + rng.below(40) as u32;
        let g = random_graph(&mut rng, n);
        let json = g.to_json(Layout::Node20);
        let snap = Snapshot::from_bytes(json.as_bytes(), &Progress::new()).expect("parses");
        let (idom, retained) = reference(&g);
        for x in 0..n {
            let got = snap.idom(NodeIndex(x)).0;
            assert_eq!(got, idom[x as usize], "case {case}: idom of {x} in {g:?}");
            assert_eq!(
                snap.retained_size(NodeIndex(x)),
                retained[x as usize],
                "case {case}: retained size of {x}"
            );
        }
        let total: u64 = g.nodes.iter().map(|n| n.self_size).sum();
        assert_eq!(
            snap.retained_size(NodeIndex::ROOT),
            total,
            "case {case}: the root retains everything"
        );
    }
}

#[test]
fn weak_edges_do_not_retain_and_shortcuts_only_from_root() {
    let mut g = Gen::new();
    let a = g.node("object", "A", 10);
    let b = g.node("object", "B", 20);
    let c = g.node("object", "C", 40);
    g.edge(0, "shortcut", "global", a);
    g.edge(a, "property", "b", b);
    g.edge(a, "weak", "c", c);
    g.edge(b, "shortcut", "c", c);
    g.edge(0, "element", "1", c);
    let snap = Snapshot::from_bytes(g.to_json(Layout::Node24).as_bytes(), &Progress::new())
        .expect("parses");
    assert_eq!(
        snap.retained_size(NodeIndex(a)),
        30,
        "A keeps B, not C (weak)"
    );
    assert_eq!(
        snap.idom(NodeIndex(c)),
        NodeIndex::ROOT,
        "B's shortcut does not retain C"
    );
    assert_eq!(
        snap.retainers(NodeIndex(c)),
        &[0],
        "only the root's element edge retains C"
    );
}

/// A WeakMap entry's value is retained by its key's edge, not the table's (an ephemeron),
/// and is as far from the roots as the later of the two plus one; a string of the same
/// form used as a property name changes nothing.
#[test]
fn a_weakmap_value_is_held_by_its_key() {
    let mut g = Gen::new();
    let table = g.node("array", "(WeakMap table)", 8);
    let key = g.node("object", "Key", 10);
    let value = g.node("object", "Value", 100);
    let other = g.node("object", "Other", 1);
    let table_id = g.nodes[table as usize].id;
    let pair = |n: u32| {
        format!(
            "{n} / part of key (Key @3) -> value (Value @5) pair in WeakMap (table @{table_id})"
        )
    };
    g.edge(0, "element", "1", table);
    g.edge(0, "element", "2", other);
    g.edge(other, "property", "k", key);
    g.edge(table, "internal", &pair(1), value);
    g.edge(key, "internal", &pair(2), value);
    // The same text as a property name: only internal edges are WeakMap edges.
    g.edge(0, "property", &pair(7), other);
    let snap = Snapshot::from_bytes(g.to_json(Layout::Node24).as_bytes(), &Progress::new())
        .expect("parses");
    assert_eq!(
        snap.idom(NodeIndex(value)),
        NodeIndex(key),
        "the key's edge retains the value"
    );
    assert_eq!(snap.retained_size(NodeIndex(key)), 110);
    assert_eq!(
        snap.retained_size(NodeIndex(table)),
        8,
        "the table holds no value"
    );
    assert_eq!(snap.retainers(NodeIndex(value)), &[key]);
    // Key at 2 (root → other → key), table at 1: the value at the later plus one.
    assert_eq!(snap.distance(NodeIndex(key)), 2);
    assert_eq!(snap.distance(NodeIndex(value)), 3);
}

#[test]
fn million_long_linked_list_does_not_overflow_the_stack() {
    const LEN: u32 = 1_000_000;
    let mut g = Gen::new();
    let mut prev = 0;
    for i in 0..LEN {
        let n = g.node("object", "Link", 16);
        g.edge(
            prev,
            if i == 0 { "element" } else { "property" },
            if i == 0 { "1" } else { "next" },
            n,
        );
        prev = n;
    }
    let json = g.to_json(Layout::Node20);
    // Run on a thread with a small stack: recursion anywhere would overflow it.
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            Snapshot::from_bytes(json.as_bytes(), &Progress::new()).map(|s| {
                (
                    s.retained_size(NodeIndex(1)),
                    s.distance(NodeIndex(LEN)),
                    s.idom(NodeIndex(LEN)),
                )
            })
        })
        .expect("thread starts");
    let (retained, distance, idom) = handle.join().expect("no stack overflow").expect("parses");
    assert_eq!(retained, 16 * LEN as u64);
    assert_eq!(idom, NodeIndex(LEN - 1));
    assert_eq!(distance, LEN, "the first link is a user root at distance 1");
}

/// Self sizes are kept in four bytes while they fit: a size past 4 GiB in the file, and an
/// owner whose attributed size passes 4 GiB, take the eight-byte path and stay exact.
#[test]
fn self_sizes_past_four_gib_stay_exact() {
    let big = u64::from(u32::MAX) + 10;
    let mut g = Gen::new();
    let global = g.node("object", "global", 8);
    let holder = g.node("object", "Holder", 16);
    let huge = g.node("string", "huge", big);
    let store = g.node("array", "(object elements)", u64::from(u32::MAX) - 4);
    g.edge(0, "shortcut", "global", global);
    g.edge(global, "property", "holder", holder);
    g.edge(holder, "property", "s", huge);
    g.edge(holder, "internal", "elements", store);
    let json = g.to_json(Layout::Node20);
    let snap = Snapshot::from_bytes(json.as_bytes(), &Progress::new()).expect("reads");
    let g = &snap.graph;
    // The backing store's size moves onto its owner, past 2^32.
    assert_eq!(g.self_size(NodeIndex(holder)), 16 + u64::from(u32::MAX) - 4);
    assert_eq!(g.self_size(NodeIndex(store)), 0);
    assert_eq!(g.self_size(NodeIndex(huge)), big);
    let total = 8 + 16 + big + u64::from(u32::MAX) - 4;
    assert_eq!(g.total_self_size(), total);
    assert_eq!(snap.retained_size(NodeIndex::ROOT), total);
    assert_eq!(snap.retained_size(NodeIndex(holder)), total - 8);
}
