//! The test driver's tracked mode (`take-snapshots.js --track-allocations`, through
//! `fixture_snapshots_tracked`): a triple of `fixtures/listener-leak` made with allocation
//! tracking has the trace sections and allocation stacks on the leaked objects, on Node 20 and
//! on a recent major, and the driver ran node with the V8 flags that keep stacks whole.

use std::path::Path;

use heapsight_tests::support::{fixture_snapshots_tracked, TRACKING_V8_FLAGS};
use serde_json::Value;

/// The sizes of the trace sections, and how many objects allocated between A and B (odd id
/// above A's largest, up to B's) are still in C, and how many of them have a stack.
struct Traces {
    function_infos: usize,
    tree_len: usize,
    leaked: usize,
    leaked_with_stack: usize,
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read snapshot");
    serde_json::from_str(&text).expect("the snapshot is JSON")
}

/// The largest odd (JS object) id of a snapshot.
fn max_js_id(snapshot: &Value) -> u64 {
    let fields = snapshot["snapshot"]["meta"]["node_fields"]
        .as_array()
        .expect("node_fields");
    let id_at = fields.iter().position(|f| f == "id").expect("id");
    snapshot["nodes"]
        .as_array()
        .expect("nodes")
        .chunks(fields.len())
        .filter_map(|n| n[id_at].as_u64())
        .filter(|id| id % 2 == 1)
        .max()
        .unwrap_or(0)
}

fn traces(a: &Path, b: &Path, c: &Path) -> Traces {
    let (max_a, max_b) = (max_js_id(&read(a)), max_js_id(&read(b)));
    let c = read(c);
    let meta = &c["snapshot"]["meta"];
    let fields = meta["node_fields"].as_array().expect("node_fields");
    let at = |name: &str| fields.iter().position(|f| f == name).expect(name);
    let (id_at, trace_at) = (at("id"), at("trace_node_id"));
    let (mut leaked, mut leaked_with_stack) = (0, 0);
    for n in c["nodes"].as_array().expect("nodes").chunks(fields.len()) {
        let id = n[id_at].as_u64().unwrap_or(0);
        if id % 2 == 1 && id > max_a && id <= max_b {
            leaked += 1;
            if n[trace_at].as_u64().unwrap_or(0) != 0 {
                leaked_with_stack += 1;
            }
        }
    }
    let info_fields = meta["trace_function_info_fields"]
        .as_array()
        .map_or(1, Vec::len);
    Traces {
        function_infos: c["trace_function_infos"].as_array().map_or(0, Vec::len) / info_fields,
        tree_len: c["trace_tree"].as_array().map_or(0, Vec::len),
        leaked,
        leaked_with_stack,
    }
}

fn check(node_major: u32) {
    let triple = fixture_snapshots_tracked("listener-leak", node_major)
        .unwrap_or_else(|e| panic!("a tracked triple under Node {node_major}: {e:#}"));
    let tracking = triple
        .info
        .allocation_tracking
        .as_ref()
        .expect("driver-info.json records the tracking");
    assert_eq!(tracking.since, "start");
    assert_eq!(tracking.snapshots_via, "v8.writeHeapSnapshot");
    // Node 18 to 26 all have both flags.
    assert_eq!(tracking.flags, TRACKING_V8_FLAGS, "Node {node_major}");
    let t = traces(&triple.a, &triple.b, &triple.c);
    assert!(
        t.function_infos > 0 && t.tree_len > 0,
        "Node {node_major}: trace sections"
    );
    assert!(t.leaked > 100, "Node {node_major}: {} leaked", t.leaked);
    // The leaked objects were allocated under tracking; a few may lose their stack.
    assert!(
        t.leaked_with_stack * 10 >= t.leaked * 9,
        "Node {node_major}: {} of {} leaked objects have a stack",
        t.leaked_with_stack,
        t.leaked
    );
}

#[test]
fn a_tracked_triple_has_allocation_stacks_on_node_20() {
    check(20);
}

#[test]
fn a_tracked_triple_has_allocation_stacks_on_node_24() {
    check(24);
}
