//! A finding's allocation stacks on a generated tracked snapshot: the stack that allocated
//! the items comes first even when another holds more bytes, the first user frame skips a
//! dependency's frames, and objects without a stack are totalled apart. Without traces a
//! finding has none.

#[path = "../../snapshot/tests/common/mod.rs"]
mod common;

use common::{Gen, Layout, TraceFn};
use heapsight_leaks::{find, Finding, Options};
use heapsight_snapshot::{Progress, Snapshot};

fn fun(name: &str, script: &str, line: u64) -> TraceFn {
    TraceFn {
        name: name.into(),
        script: script.into(),
        script_id: 1,
        line,
        column: 1,
    }
}

/// A `Store` (old) holding 60 new `Item`s (allocated by a dependency's `makeItem` called
/// from the user's `handle`); 50 hold a 1,000-byte payload `makePayload` made, 10 a
/// 500-byte one made before tracking began.
fn store(tracked: bool) -> String {
    let mut g = Gen::new();
    let store = g.node("object", "Store", 64);
    g.edge(0, "element", "1", store);
    for i in 0..60 {
        let item = g.node("object", "Item", 40);
        g.edge(store, "property", &format!("k{i}"), item);
        let payload = g.node(
            "string",
            &format!("payload {i}"),
            if i < 50 { 1000 } else { 500 },
        );
        g.edge(item, "property", "payload", payload);
        if tracked {
            g.nodes[item as usize].trace = 3;
            if i < 50 {
                g.nodes[payload as usize].trace = 4;
            }
        }
    }
    if tracked {
        g.trace_functions = vec![
            fun("(root)", "", 0),
            fun("handle", "/app/server.js", 5),
            fun("makeItem", "/app/node_modules/lib/index.js", 2),
            fun("makePayload", "/app/server.js", 9),
        ];
        g.trace_tree = "1,0,0,0,[2,1,0,0,[3,2,60,2400,[],4,3,50,50000,[]]]".into();
    }
    g.to_json(Layout::Node20)
}

fn store_finding(json: &str) -> Finding {
    let snap = Snapshot::from_bytes(json.as_bytes(), &Progress::new()).expect("loads");
    let options = Options {
        threshold: 0,
        kinds: Vec::new(),
        memory: None,
    };
    // The store (id 3) is old; everything after it is new.
    find(&snap, 3, u64::MAX, &options)
        .into_iter()
        .find(|f| f.holder.class == "Store")
        .expect("a finding held by the store")
}

#[test]
fn the_items_stack_first_then_bytes_and_the_untracked_apart() {
    let f = store_finding(&store(true));
    let a = f.allocations.expect("allocation stacks");
    assert_eq!(a.stacks.len(), 2, "{a:#?}");
    let (items, payloads) = (&a.stacks[0], &a.stacks[1]);
    // The items' stack leads although the payloads' holds twenty times the bytes.
    assert_eq!(items.frames[0].function, "makeItem");
    assert!(!items.frames[0].user);
    assert_eq!(items.user_frame, Some(1));
    assert_eq!(items.frames[1].function, "handle");
    assert_eq!((items.frames[1].line, items.frames[1].column), (4, 0));
    assert_eq!((items.count, items.bytes, items.items), (60, 2400, 60));
    assert_eq!(payloads.frames[0].function, "makePayload");
    assert_eq!(payloads.user_frame, Some(0));
    assert_eq!(
        (payloads.count, payloads.bytes, payloads.items),
        (50, 50_000, 0)
    );
    assert_eq!((a.tracked_objects, a.tracked_bytes), (110, 52_400));
    assert_eq!((a.untracked_objects, a.untracked_bytes), (10, 5_000));
}

#[test]
fn no_traces_no_allocations() {
    assert_eq!(store_finding(&store(false)).allocations, None);
}
