//! The leak finder on hostile final snapshots made by the snapshot crate's generator: a leak
//! that is one list two million links long, and a holder with two million new elements. The
//! finder must answer (bounded retainer paths, no recursion, modest memory) with sizes that
//! match the ones computed here.

#![allow(clippy::unwrap_used)]

#[path = "../../snapshot/tests/bulk/mod.rs"]
mod bulk;

use bulk::{peak_rss_growth, serial, Bulk};
use heapsight_leaks::{find, Finding, Options};
use heapsight_snapshot::{Progress, Snapshot};

const MIB: u64 = 1 << 20;

/// Runs the finder on `json` with no threshold; checks its peak memory against the file's
/// size (the graph is built before, outside the measure).
fn findings_of(json: &[u8], max_a: u64, max_b: u64) -> Vec<Finding> {
    let snap = Snapshot::from_bytes(json, &Progress::new()).expect("loads");
    let options = Options {
        threshold: 0,
        kinds: Vec::new(),
        memory: None,
    };
    let (findings, growth) = peak_rss_growth(|| find(&snap, max_a, max_b, &options));
    if let Some(growth) = growth {
        eprintln!(
            "finder: {} MiB snapshot text, peak growth {} MiB",
            json.len() as u64 / MIB,
            growth / MIB
        );
        assert!(
            growth <= 2 * json.len() as u64 + 64 * MIB,
            "the finder grew the heap {} MiB on a {} MiB snapshot",
            growth / MIB,
            json.len() as u64 / MIB
        );
    }
    findings
}

fn link_size(i: u64) -> u64 {
    16 + (i % 3) * 8
}

#[test]
fn a_leak_that_is_one_list_two_million_links_long() {
    let _serial = serial();
    // Links 1..=OLD existed at A; OLD+1..=NEW were made between A and B; the rest after B.
    const OLD: u64 = 1_000_000;
    const NEW: u64 = 2_000_000;
    const LEN: u64 = 3_000_000;
    let mut b = Bulk::new();
    let next = b.string("next");
    b.edge("element", 1, 1);
    for i in 1..=LEN {
        b.node("object", "Link", 2 * i + 1, link_size(i));
        if i < LEN {
            b.edge("property", next, i + 1);
        }
    }
    let json = b.to_json();
    drop(b);
    let (max_a, max_b) = (2 * OLD + 1, 2 * NEW + 1);
    let findings = findings_of(&json, max_a, max_b);
    let top = findings.first().expect("the list is a finding");
    eprintln!(
        "{} findings; top: {:?} holder {:?} count {} retained {} path {} hops",
        findings.len(),
        top.kind,
        top.holder.id,
        top.count,
        top.retained_bytes,
        top.retainer_path.len()
    );
    // The last old link holds the first new one, which holds the rest of the list.
    assert_eq!(top.holder.id, 2 * OLD + 1, "held by the last old link");
    let held: u64 = (OLD + 1..=LEN).map(link_size).sum();
    assert_eq!(top.retained_bytes, held);
    assert!(
        top.retainer_path.len() <= 64,
        "a retainer path a user can read, not a million hops: {}",
        top.retainer_path.len()
    );
}

#[test]
fn a_holder_with_two_million_new_elements() {
    let _serial = serial();
    const ITEMS: u32 = 2_000_000;
    let mut b = Bulk::new();
    b.edge("element", 1, 1);
    let items_name = b.string("items");
    let elements = b.string("elements");
    // Store (old) -items-> Array (old) -elements-> backing store (old) -[i]-> Item (new).
    b.node("object", "Store", 3, 32);
    b.edge("property", items_name, 2);
    b.node("object", "Array", 5, 32);
    b.edge("internal", elements, 3);
    b.node("array", "(object elements)", 7, 16 + 8 * u64::from(ITEMS));
    for i in 0..ITEMS {
        b.edge("element", i, 4 + u64::from(i));
    }
    for i in 0..ITEMS {
        b.node("object", "Item", 101 + 2 * u64::from(i), 24);
    }
    let json = b.to_json();
    drop(b);
    let findings = findings_of(&json, 99, 101 + 2 * u64::from(ITEMS));
    let top = findings.first().expect("the items are a finding");
    eprintln!(
        "{} findings; top: {:?} holder {:?} count {} retained {} path {} hops",
        findings.len(),
        top.kind,
        top.holder,
        top.count,
        top.retained_bytes,
        top.retainer_path.len()
    );
    assert_eq!(top.kind.as_str(), "collection");
    assert_eq!(top.count, u64::from(ITEMS), "every item is counted");
    assert_eq!(top.holder.id, 5, "held by the array");
    let binding = top.holder.binding.as_ref().expect("named in code");
    assert_eq!(
        (binding.name.as_str(), binding.owner.as_deref()),
        ("items", Some("Store"))
    );
    // The backing store is old: the new items' own bytes are what the leak holds.
    assert_eq!(top.retained_bytes, 24 * u64::from(ITEMS));
}
