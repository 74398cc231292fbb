//! Allocation traces (`trace_function_infos`, `trace_tree`, `trace_node_id`): read into the
//! graph on every layout that has them, answered as stacks, and every malformed part is a
//! typed error naming the section or record, never a panic.

mod common;

use common::{Gen, Layout, TraceFn};
use heapsight_snapshot::{NodeIndex, Progress, Snapshot, SnapshotError, TraceFrame};

fn fun(name: &str, script: &str, script_id: u64, line: u64, column: u64) -> TraceFn {
    TraceFn {
        name: name.into(),
        script: script.into(),
        script_id,
        line,
        column,
    }
}

/// Root → `a` (makeThing ← main), `b` (push ← main), `c` untracked.
fn tracked() -> (Gen, [u32; 3]) {
    let mut g = Gen::new();
    let a = g.node("object", "Thing", 100);
    let b = g.node("array", "", 16);
    let c = g.node("object", "Old", 8);
    g.edge(0, "element", "1", a);
    g.edge(0, "element", "2", b);
    g.edge(0, "element", "3", c);
    g.nodes[a as usize].trace = 3;
    g.nodes[b as usize].trace = 4;
    g.trace_functions = vec![
        fun("(root)", "", 0, 0, 0),
        fun("main", "/app/main.js", 5, 10, 3),
        fun("makeThing", "/app/main.js", 5, 20, 5),
        fun("push", "", 0, 0, 0),
    ];
    g.trace_tree = "1,0,0,0,[2,1,0,0,[3,2,5,100,[],4,3,1,16,[]]]".into();
    (g, [a, b, c])
}

fn load(text: &str) -> Result<Snapshot, SnapshotError> {
    Snapshot::from_bytes(text.as_bytes(), &Progress::new())
}

/// A frame as (function, script, script id, line, column).
type Frame = (String, String, u32, u32, u32);

fn stack(snap: &Snapshot, n: u32) -> Option<Vec<Frame>> {
    let frames = snap.graph.allocation_stack(NodeIndex(n))?;
    Some(
        frames
            .map(|f: TraceFrame<'_>| {
                (
                    f.function.to_string(),
                    f.script_name.to_string(),
                    f.script_id,
                    f.line,
                    f.column,
                )
            })
            .collect(),
    )
}

fn check(text: &str, fragments: &[&str]) {
    match load(text) {
        Ok(_) => panic!("expected an error containing {fragments:?}"),
        Err(e) => {
            let msg = e.to_string();
            for f in fragments {
                assert!(msg.contains(f), "error `{msg}` lacks `{f}`");
            }
        }
    }
}

#[test]
fn stacks_on_the_layouts_that_carry_them() {
    let (g, [a, b, c]) = tracked();
    for layout in [Layout::Node14, Layout::Node20, Layout::Node24Tracked] {
        let snap = load(&g.to_json(layout)).unwrap_or_else(|e| panic!("{layout:?}: {e}"));
        let traces = snap.graph.allocation_traces();
        assert!(!traces.is_empty(), "{layout:?}");
        assert_eq!(traces.tracked_nodes(), 2);
        assert_eq!(traces.tree_len(), 4);
        assert_eq!(traces.function_count(), 4);
        // 1-based in the file, 0-based here; the tree's `(root)` is not a frame.
        let main = ("main".to_string(), "/app/main.js".to_string(), 5, 9, 2);
        assert_eq!(
            stack(&snap, a),
            Some(vec![
                ("makeThing".into(), "/app/main.js".into(), 5, 19, 4),
                main.clone()
            ]),
            "{layout:?}"
        );
        assert_eq!(
            stack(&snap, b),
            Some(vec![("push".into(), String::new(), 0, 0, 0), main])
        );
        assert_eq!(stack(&snap, c), None);
        let t = snap.graph.trace_node(NodeIndex(a)).expect("a is tracked");
        assert_eq!(traces.id(t), Some(3));
        assert_eq!(traces.parent(t).and_then(|p| traces.id(p)), Some(2));
        assert_eq!(snap.graph.trace_node(NodeIndex(c)), None);
    }
}

#[test]
fn no_traces_without_tracking() {
    let (g, [a, ..]) = tracked();
    // Node 24 without tracking has no `trace_node_id` field: the sections alone give no
    // node a stack.
    let snap = load(&g.to_json(Layout::Node24)).expect("loads");
    assert!(snap.graph.allocation_traces().is_empty());
    assert_eq!(stack(&snap, a), None);
    let mut plain = Gen::new();
    let x = plain.node("object", "X", 1);
    plain.edge(0, "element", "1", x);
    let snap = load(&plain.to_json(Layout::Node20)).expect("loads");
    assert!(snap.graph.allocation_traces().is_empty());
    assert_eq!(snap.graph.trace_node(NodeIndex(x)), None);
}

#[test]
fn most_nodes_tracked_and_sparse_tree_ids() {
    // More than half the nodes tracked (one column for all), and tree ids far apart (a
    // sorted index instead of a direct one).
    let mut g = Gen::new();
    g.trace_functions = vec![fun("(root)", "", 0, 0, 0), fun("f", "/a.js", 1, 2, 3)];
    g.trace_tree = "1,0,0,0,[4000000000,1,0,0,[]]".into();
    for i in 1..=50u32 {
        let n = g.node("object", "O", 4);
        g.edge(0, "element", &i.to_string(), n);
        g.nodes[n as usize].trace = 4_000_000_000;
    }
    let snap = load(&g.to_json(Layout::Node20)).expect("loads");
    assert_eq!(snap.graph.allocation_traces().tracked_nodes(), 50);
    for n in 1..=50 {
        assert_eq!(
            stack(&snap, n),
            Some(vec![("f".into(), "/a.js".into(), 1, 1, 2)])
        );
    }
    assert_eq!(stack(&snap, 0), None);
}

#[test]
fn records_laid_out_by_meta() {
    // Fields in another order (children first): resolved by name.
    let (g, [a, ..]) = tracked();
    let text = g
        .to_json(Layout::Node20)
        .replace(
            r#""trace_node_fields":["id","function_info_index","count","size","children"]"#,
            r#""trace_node_fields":["children","size","count","function_info_index","id"]"#,
        )
        .replace(
            "1,0,0,0,[2,1,0,0,[3,2,5,100,[],4,3,1,16,[]]]",
            "[[[],100,5,2,3,[],16,1,3,4],0,0,1,2],0,0,0,1",
        );
    let snap = load(&text).expect("loads");
    assert_eq!(stack(&snap, a).map(|s| s.len()), Some(2));
    assert_eq!(stack(&snap, a).unwrap_or_default()[0].0, "makeThing");
}

#[test]
fn every_truncation_inside_the_trace_sections_is_an_error() {
    let (g, _) = tracked();
    let text = g.to_json(Layout::Node20);
    let from = text.find("\"trace_function_infos\"").expect("section");
    let to = text.find("\"samples\"").expect("section");
    for cut in from..to {
        match load(&text[..cut]) {
            Ok(_) => panic!("a file cut at {cut} loaded"),
            Err(SnapshotError::Truncated { .. } | SnapshotError::Syntax { .. }) => {}
            Err(e) => panic!("cut at {cut}: unexpected error {e}"),
        }
    }
}

#[test]
fn truncated_trace_tree_names_its_section() {
    let (g, _) = tracked();
    let text = g.to_json(Layout::Node20);
    let at = text.find("[3,2,5").expect("tree");
    check(&text[..at + 4], &["truncated", "trace_tree"]);
    let at = text.find("\"trace_function_infos\":[").expect("infos") + 26;
    check(&text[..at], &["truncated", "trace_function_infos"]);
}

fn with_tree(tree: &str) -> String {
    let (g, _) = tracked();
    g.to_json(Layout::Node20)
        .replace("1,0,0,0,[2,1,0,0,[3,2,5,100,[],4,3,1,16,[]]]", tree)
}

#[test]
fn malformed_trace_trees() {
    // A function index past the functions.
    check(
        &with_tree("1,0,0,0,[2,1,0,0,[3,9,5,100,[],4,3,1,16,[]]]"),
        &[
            "trace_tree node 2",
            "function_info_index",
            "9",
            "past the 4",
        ],
    );
    // A node's trace id that no tree node has.
    check(
        &with_tree("1,0,0,0,[2,1,0,0,[3,2,5,100,[],5,3,1,16,[]]]"),
        &["node 2", "trace_node_id", "value 4", "trace_tree"],
    );
    // The same id twice.
    check(
        &with_tree("1,0,0,0,[2,1,0,0,[3,2,5,100,[],3,3,1,16,[]]]"),
        &["trace_tree node 3", "field `id`", "earlier"],
    );
    // A number where the children array belongs, and an array where a number does.
    check(&with_tree("1,0,0,0,7"), &["children array belongs"]);
    check(&with_tree("1,0,[0],0,[]"), &["nested array", "field 2"]);
    // A record cut short inside a children array, and at the top level.
    check(&with_tree("1,0,0,0,[2,1,0]"), &["cut short"]);
    check(
        &with_tree("1,0,0,0,[],2,1"),
        &["whole records", "trace_tree"],
    );
    // Not numbers, not integers, negative, past 32 bits, stray commas.
    check(&with_tree("1,0,0,0,[\"x\"]"), &["unexpected", "trace_tree"]);
    check(&with_tree("1,0,0.5,0,[]"), &["fractional", "trace_tree"]);
    check(&with_tree("1,-1,0,0,[]"), &["negative", "trace_tree"]);
    check(
        &with_tree("4294967296,0,0,0,[]"),
        &["trace_tree node 0", "`id`"],
    );
    check(&with_tree("1,0,0,0,[],"), &["trailing"]);
    check(&with_tree("1,,0,0,0,[]"), &["unexpected `,`"]);
    check(&with_tree("1,0,0,0[]"), &["expected `,`"]);
    check(&with_tree("1,0,0,0,[]7"), &["expected `,`"]);
    check(&with_tree("1,0,0,0,[]]"), &["expected `,` or `}`"]);
}

#[test]
fn malformed_function_infos_and_node_ids() {
    let (g, _) = tracked();
    let text = g.to_json(Layout::Node20);
    // A name past the strings.
    let start = text.find("\"trace_function_infos\":[").expect("infos") + 24;
    let end = start + text[start..].find(']').expect("end");
    let records: Vec<&str> = text[start..end].split(",\n").collect();
    let mut fields: Vec<String> = records[2].split(',').map(str::to_string).collect();
    fields[1] = "99999".into();
    let broken = format!(
        "{}{}{}",
        &text[..start],
        [records[0], records[1], &fields.join(","), records[3]].join(",\n"),
        &text[end..]
    );
    check(
        &broken,
        &["trace function info 2", "`name`", "99999", "strings"],
    );
    // Not whole records.
    let cut = format!("{}{},7{}", &text[..start], &text[start..end], &text[end..]);
    check(&cut, &["trace_function_infos", "whole records"]);
    // A line past 32 bits.
    fields[1] = "1".into();
    fields[4] = "4294967296".into();
    let broken = format!(
        "{}{}{}",
        &text[..start],
        [records[0], records[1], &fields.join(","), records[3]].join(",\n"),
        &text[end..]
    );
    check(
        &broken,
        &["trace function info 2", "`line`", "out of range"],
    );
    // A node's trace id past 32 bits.
    let mut big = g.clone();
    big.nodes[1].trace = 1 << 40;
    check(
        &big.to_json(Layout::Node20),
        &["node 1", "trace_node_id", "past any trace node id"],
    );
    // Trace ids with no trace tree at all.
    let mut orphan = g.clone();
    orphan.trace_tree.clear();
    check(
        &orphan.to_json(Layout::Node20),
        &["node 1", "trace_node_id", "(0 nodes)"],
    );
    // A meta that describes the sections without a field the reader needs.
    let no_name = text.replace(
        r#""trace_function_info_fields":["function_id","name","#,
        r#""trace_function_info_fields":["function_id","nom","#,
    );
    check(&no_name, &["trace_function_info_fields", "`name`"]);
    let no_children = text.replace(r#""size","children"]"#, r#""size","kids"]"#);
    check(&no_children, &["trace_node_fields", "`children`"]);
}

#[test]
fn sections_meta_does_not_describe_are_skipped() {
    // Without the fields in meta the sections cannot be read: skipped, as before, and the
    // nodes' trace ids are then an error only if some node has one.
    let mut g = Gen::new();
    let x = g.node("object", "X", 1);
    g.edge(0, "element", "1", x);
    g.trace_functions = vec![fun("(root)", "", 0, 0, 0)];
    g.trace_tree = "1,0,0,0,[]".into();
    let text = g
        .to_json(Layout::Node20)
        .replace(
            r#""trace_function_info_fields":["function_id","name","script_name","script_id","line","column"],"#,
            "",
        )
        .replace(
            r#""trace_node_fields":["id","function_info_index","count","size","children"],"#,
            "",
        );
    let snap = load(&text).expect("loads");
    assert!(snap.graph.allocation_traces().is_empty());
}

#[test]
fn a_deep_tree_is_walked_without_recursion() {
    // 200,000 nested calls: parsed and walked on a 256 KiB stack.
    const DEPTH: usize = 200_000;
    let mut g = Gen::new();
    let x = g.node("object", "Deep", 1);
    g.edge(0, "element", "1", x);
    g.nodes[x as usize].trace = DEPTH as u64;
    g.trace_functions = vec![fun("(root)", "", 0, 0, 0), fun("r", "/r.js", 1, 1, 1)];
    let mut tree = String::with_capacity(DEPTH * 16);
    for id in 1..=DEPTH {
        let f = usize::from(id > 1);
        tree.push_str(&format!("{id},{f},0,0,["));
    }
    tree.push_str(&"]".repeat(DEPTH));
    g.trace_tree = tree;
    let text = g.to_json(Layout::Node20);
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let snap = load(&text).expect("loads");
            let frames = snap
                .graph
                .allocation_stack(NodeIndex(x))
                .map(Iterator::count);
            (snap.graph.allocation_traces().tree_len(), frames)
        })
        .expect("thread");
    let (len, frames) = handle.join().expect("no stack overflow");
    assert_eq!(len, DEPTH);
    assert_eq!(frames, Some(DEPTH - 1));
}
