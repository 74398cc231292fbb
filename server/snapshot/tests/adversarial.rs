//! Hostile snapshots made by a generator (`bulk`): shapes and sizes that break naive graph
//! code — a list three million long, a node with three million edges, every node a root,
//! cycles held only by weak edges — and inputs that lie: counts, edges past the nodes,
//! numbers past 2^53, lone surrogates, empty and 10 GB sparse files, an allocation trace tree
//! nested three million deep or opened fifty million times. Each case checks the
//! answer (dominators, retained sizes and distances against values computed here) or the
//! typed error, and bounds time or peak memory.

#![allow(clippy::unwrap_used)]

mod bulk;
mod common;

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use bulk::{peak_rss_growth, serial, Bulk, TempFile, NODE_FIELDS};
use heapsight_snapshot::{
    scan_baseline, scan_file_baseline, scan_file_max_js_id, scan_max_js_id, summarize, NodeIndex,
    Progress, Snapshot, SnapshotError, UNREACHABLE,
};

const MIB: u64 = 1 << 20;

/// Opens `file` and checks its peak memory: at most `per_byte` times the file's size (the
/// graph and its indices are a few bytes per byte of JSON), plus 64 MiB of slack for the
/// reader's buffers and the test harness.
fn open_bounded(file: &Path, per_byte: u64) -> Snapshot {
    let size = std::fs::metadata(file).unwrap().len();
    let (snap, growth) = peak_rss_growth(|| Snapshot::open(file, &Progress::new()));
    let snap = snap.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    if let Some(growth) = growth {
        eprintln!(
            "{}: {} MiB file, peak growth {} MiB",
            file.display(),
            size / MIB,
            growth / MIB
        );
        assert!(
            growth <= per_byte * size + 64 * MIB,
            "peak memory grew {} MiB for a {} MiB file",
            growth / MIB,
            size / MIB
        );
    }
    snap
}

fn link_size(i: u64) -> u64 {
    8 + (i % 7) * 8
}

#[test]
fn three_million_long_list_on_a_small_stack() {
    let _serial = serial();
    const LEN: u32 = 3_000_000;
    let mut b = Bulk::new();
    let next = b.string("next");
    b.edge("element", 1, 1);
    for i in 1..=LEN {
        b.node("object", "Link", 2 * u64::from(i) + 1, link_size(i.into()));
        if i < LEN {
            b.edge("property", next, u64::from(i) + 1);
        }
    }
    let file = b.write_temp("list.heapsnapshot");
    drop(b);
    // Retained size of link k: the sizes of k and every link after it.
    let mut suffix = vec![0u64; LEN as usize + 2];
    for i in (1..=LEN as usize).rev() {
        suffix[i] = suffix[i + 1] + link_size(i as u64);
    }
    let path = file.path().to_owned();
    // Every walk (dominators, retained sizes, the Summary's class retained sizes, the
    // dominator tree's children) runs on a 256 KiB stack: recursion would overflow it.
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let snap = open_bounded(&path, 8);
            let rows = summarize(&snap);
            let children = snap.dominator_children();
            let probes: Vec<(u32, u64, u32, NodeIndex, Vec<u32>)> = [1, 2, LEN / 2, LEN - 1, LEN]
                .into_iter()
                .map(|k| {
                    let n = NodeIndex(k);
                    (
                        k,
                        snap.retained_size(n),
                        snap.distance(n),
                        snap.idom(n),
                        children.children(n).to_vec(),
                    )
                })
                .collect();
            let link = rows
                .into_iter()
                .find(|r| r.name == "Link")
                .expect("a Link row");
            (probes, link, snap.retained_size(NodeIndex::ROOT))
        })
        .unwrap();
    let (probes, link, root_retained) = handle.join().expect("no stack overflow");
    for (k, retained, distance, idom, children) in probes {
        assert_eq!(retained, suffix[k as usize], "retained size of link {k}");
        assert_eq!(distance, k, "distance of link {k}");
        assert_eq!(idom, NodeIndex(k - 1), "idom of link {k}");
        let expected: Vec<u32> = if k < LEN { vec![k + 1] } else { vec![] };
        assert_eq!(children, expected, "dominator-tree children of link {k}");
    }
    assert_eq!(link.count, u64::from(LEN));
    assert_eq!(link.self_size, suffix[1]);
    assert_eq!(
        link.retained_size, suffix[1],
        "the class retains the list once"
    );
    assert_eq!(link.distance, 1);
    assert_eq!(root_retained, suffix[1]);
}

#[test]
fn a_node_with_three_million_edges() {
    let _serial = serial();
    const EDGES: u32 = 3_000_000;
    const LEAVES: u32 = 1_000_000;
    let mut b = Bulk::new();
    b.edge("element", 1, 1);
    let hub = b.node("object", "Hub", 3, 100);
    // Every leaf is held three times over by the hub: duplicate edges, one retainer.
    for j in 0..EDGES {
        b.edge("element", j, 2 + u64::from(j % LEAVES));
    }
    for leaf in 0..LEAVES {
        b.node(
            "object",
            "Leaf",
            5 + 2 * u64::from(leaf),
            1 + u64::from(leaf % 3),
        );
    }
    let file = b.write_temp("hub.heapsnapshot");
    drop(b);
    let snap = open_bounded(file.path(), 8);
    assert_eq!(snap.graph.out_degree(NodeIndex(hub)), EDGES as usize);
    let leaves_total: u64 = (0..u64::from(LEAVES)).map(|l| 1 + l % 3).sum();
    assert_eq!(snap.retained_size(NodeIndex(hub)), 100 + leaves_total);
    for leaf in [2, 3, 4, LEAVES / 2, LEAVES + 1] {
        let n = NodeIndex(leaf);
        assert_eq!(snap.idom(n), NodeIndex(hub), "idom of leaf {leaf}");
        assert_eq!(snap.distance(n), 2);
        assert_eq!(snap.retained_size(n), 1 + u64::from(leaf - 2) % 3);
        let retainers = snap.retainers(n);
        assert!(
            !retainers.is_empty() && retainers.iter().all(|&r| r == hub),
            "leaf {leaf} is retained by the hub alone: {retainers:?}"
        );
    }
    let rows = summarize(&snap);
    let leaf_row = rows.iter().find(|r| r.name == "Leaf").expect("a Leaf row");
    assert_eq!(
        (leaf_row.count, leaf_row.self_size),
        (u64::from(LEAVES), leaves_total)
    );
}

#[test]
fn every_node_a_root() {
    let _serial = serial();
    const N: u32 = 1_000_000;
    let mut b = Bulk::new();
    for i in 1..=N {
        b.edge("element", i, u64::from(i));
    }
    let peer = b.string("peer");
    for i in 1..=N {
        b.node(
            "object",
            "Rooted",
            2 * u64::from(i) + 1,
            u64::from(i % 10) + 1,
        );
        // Cross links among them change nothing: the root holds each directly.
        b.edge("property", peer, u64::from((i * 7919) % N) + 1);
    }
    let file = b.write_temp("roots.heapsnapshot");
    drop(b);
    let snap = open_bounded(file.path(), 8);
    let mut total = 0;
    for i in 1..=N {
        let n = NodeIndex(i);
        assert_eq!(snap.idom(n), NodeIndex::ROOT, "idom of {i}");
        assert_eq!(snap.distance(n), 1, "distance of {i}");
        assert_eq!(
            snap.retained_size(n),
            u64::from(i % 10) + 1,
            "retained size of {i}"
        );
        total += u64::from(i % 10) + 1;
    }
    assert_eq!(snap.retained_size(NodeIndex::ROOT), total);
}

#[test]
fn cycles_held_only_by_weak_edges() {
    let _serial = serial();
    // Ring A: the root holds its first node; the rest of the ring only by weak edges.
    // Ring B: no strong edge reaches it at all.
    const RING_A: u32 = 1_000_000;
    const RING_B: u32 = 500_000;
    let mut b = Bulk::new();
    b.edge("element", 1, 1);
    let weak = b.string("weak");
    for (first, len) in [(1, RING_A), (1 + RING_A, RING_B)] {
        for k in 0..len {
            let i = first + k;
            b.node(
                "object",
                "Ringed",
                2 * u64::from(i) + 1,
                10 + u64::from(i % 3),
            );
            let next = first + (k + 1) % len;
            b.edge("weak", weak, u64::from(next));
        }
    }
    let file = b.write_temp("weak-rings.heapsnapshot");
    drop(b);
    let snap = open_bounded(file.path(), 8);
    let size = |i: u32| 10 + u64::from(i % 3);
    // Weak edges retain nothing: every node retains itself alone, and the nodes no strong
    // edge reaches are orphans the root dominates (as DevTools treats them); no search
    // follows a weak edge, so they have no distance.
    assert_eq!(snap.distance(NodeIndex(1)), 1);
    assert_eq!(snap.retained_size(NodeIndex(1)), size(1));
    for i in [
        2,
        3,
        RING_A / 2,
        RING_A,
        RING_A + 1,
        RING_A + 2,
        RING_A + RING_B,
    ] {
        let n = NodeIndex(i);
        assert_eq!(snap.idom(n), NodeIndex::ROOT, "idom of {i}");
        assert_eq!(snap.retained_size(n), size(i), "retained size of {i}");
        assert_eq!(snap.distance(n), UNREACHABLE, "distance of {i}");
        assert!(
            snap.retainers(n).is_empty(),
            "no retaining edge reaches {i}"
        );
    }
    let total: u64 = (1..=RING_A + RING_B).map(size).sum();
    assert_eq!(snap.retained_size(NodeIndex::ROOT), total);
}

/// A valid wide snapshot whose last edge points at `to` instead of a node.
fn wide_with_last_edge_to(to: u64) -> Vec<u8> {
    const EDGES: u32 = 2_000_000;
    let mut b = Bulk::new();
    b.edge("element", 1, 1);
    b.node("array", "", 3, 16);
    for j in 0..EDGES {
        let target = if j == EDGES - 1 { to } else { 2 };
        b.edge("element", j, target);
    }
    b.node("object", "Leaf", 5, 8);
    b.to_json()
}

#[test]
fn an_edge_past_the_nodes_after_two_million_good_ones() {
    let _serial = serial();
    // One past the last node, then a target past 2^53 (aligned, so only its range is wrong).
    let huge = (1u64 << 60) + 7;
    for (to, value) in [(3, 3 * NODE_FIELDS), (huge, huge * NODE_FIELDS)] {
        let json = wide_with_last_edge_to(to);
        let err = Snapshot::from_bytes(&json, &Progress::new()).expect_err("refused");
        match &err {
            SnapshotError::BadValue {
                record: "edge",
                index,
                field: "to_node",
                value: got,
                ..
            } => {
                // The first edge is the root's; the bad one is the hub's last.
                assert_eq!(*index, 2_000_000, "{err}");
                assert_eq!(*got, value, "the exact value, past 2^53: {err}");
            }
            other => panic!("expected a to_node error, got {other}"),
        }
        assert!(
            err.to_string().contains("past the nodes array (3 nodes)"),
            "{err}"
        );
    }
    // A target whose record value needs 20 digits is a number too large, not a wrap.
    let json = String::from_utf8(wide_with_last_edge_to(3)).unwrap();
    let at = json.rfind(",18]").expect("the last edge's target");
    let json = format!(
        "{}{}{}",
        &json[..at + 1],
        "18446744073709551616",
        &json[at + 3..]
    );
    let err = Snapshot::from_bytes(json.as_bytes(), &Progress::new()).expect_err("refused");
    assert!(err.to_string().contains("number too large"), "{err}");
}

#[test]
fn node_count_smaller_than_the_nodes() {
    let _serial = serial();
    const N: u32 = 1_000_000;
    let mut b = Bulk::new();
    let next = b.string("next");
    b.edge("element", 1, 1);
    for i in 1..=N {
        b.node("object", "Item", 2 * u64::from(i) + 1, 8);
        // No edge reaches the last node, so only the count can give the lie away.
        if i + 1 < N {
            b.edge("property", next, u64::from(i) + 1);
        }
    }
    b.node_count_claim = Some(u64::from(N));
    let json = b.to_json();
    let expect_mismatch = |err: SnapshotError| match err {
        SnapshotError::CountMismatch {
            what: "node_count",
            expected,
            actual,
        } => assert_eq!((expected, actual), (u64::from(N), u64::from(N) + 1)),
        other => panic!("expected a node_count mismatch, got {other}"),
    };
    expect_mismatch(Snapshot::from_bytes(&json, &Progress::new()).expect_err("refused"));
    expect_mismatch(scan_max_js_id(&json.as_slice(), &Progress::new()).expect_err("refused"));
    expect_mismatch(scan_baseline(&json.as_slice(), &Progress::new()).expect_err("refused"));
}

#[test]
fn counts_claiming_four_billion_in_a_small_file_allocate_nothing_for_them() {
    let _serial = serial();
    let most = u64::from(u32::MAX) - 1;
    for (nodes, edges) in [
        (Some(most), None),
        (None, Some(most)),
        (Some(most), Some(most)),
    ] {
        let mut b = Bulk::new();
        b.edge("element", 1, 1);
        b.node("object", "A", 3, 8);
        b.node_count_claim = nodes;
        b.edge_count_claim = edges;
        let json = b.to_json();
        let (result, growth) = peak_rss_growth(|| Snapshot::from_bytes(&json, &Progress::new()));
        let err = result.expect_err("refused");
        assert!(
            matches!(err, SnapshotError::CountMismatch { expected, .. } if expected == most),
            "{err}"
        );
        if let Some(growth) = growth {
            assert!(
                growth < 32 * MIB,
                "a {}-byte file claiming {most} records grew the heap {} MiB",
                json.len(),
                growth / MIB
            );
        }
        assert!(scan_max_js_id(&json.as_slice(), &Progress::new()).is_err() || nodes.is_none());
    }
}

#[test]
fn ids_and_sizes_past_2_pow_53_are_exact() {
    let _serial = serial();
    let p53 = 1u64 << 53;
    // Adjacent odd ids f64 cannot tell apart, one past 2^63, and the largest 19-digit one.
    let ids = [p53 + 1, p53 + 3, (1 << 63) + 1, 9_999_999_999_999_999_999];
    // Self sizes past 32 and 53 bits that still add up below 2^64.
    let sizes = [p53 + 1, p53 + 3, 1 << 40, 5_000_000_000];
    let mut b = Bulk::new();
    for i in 1..=4 {
        b.edge("element", i, u64::from(i));
    }
    for (id, size) in ids.iter().zip(sizes) {
        b.node("native", "Big", *id, size);
    }
    let json = b.to_json();
    let snap = Snapshot::from_bytes(&json, &Progress::new()).expect("loads");
    for (i, (id, size)) in ids.iter().zip(sizes).enumerate() {
        let n = NodeIndex(i as u32 + 1);
        assert_eq!(snap.graph.node_id(n), *id, "id of node {}", i + 1);
        assert_eq!(
            snap.retained_size(n),
            size,
            "retained size of node {}",
            i + 1
        );
    }
    let total: u64 = sizes.iter().sum();
    assert_eq!(snap.retained_size(NodeIndex::ROOT), total);
    let row = summarize(&snap)
        .into_iter()
        .find(|r| r.name == "Big")
        .expect("row");
    assert_eq!(
        (row.count, row.self_size, row.retained_size),
        (4, total, total)
    );
    let scan = scan_max_js_id(&json.as_slice(), &Progress::new()).expect("scans");
    assert_eq!(scan.max_js_id, 9_999_999_999_999_999_999);
    let base = scan_baseline(&json.as_slice(), &Progress::new()).expect("scans");
    assert_eq!(base.max_js_id, 9_999_999_999_999_999_999);
    // The id set only covers ids the file's size can justify; past that it cannot tell.
    assert_eq!(base.js_ids.contains(p53 + 1), None);
    let big = base
        .classes
        .iter()
        .find(|c| c.name == "Big")
        .expect("class");
    assert_eq!((big.count, big.self_size), (4, total));

    // 2^64 needs 20 digits: a typed error, in the full reader and both scans.
    let json = String::from_utf8(json).unwrap().replacen(
        &format!(",{},", ids[3]),
        ",18446744073709551616,",
        1,
    );
    for err in [
        Snapshot::from_bytes(json.as_bytes(), &Progress::new()).expect_err("refused"),
        scan_max_js_id(&json.as_bytes(), &Progress::new()).expect_err("refused"),
        scan_baseline(&json.as_bytes(), &Progress::new()).expect_err("refused"),
    ] {
        assert!(err.to_string().contains("number too large"), "{err}");
    }
}

#[test]
fn lone_surrogates_and_raw_bad_bytes_in_names_decode_to_replacement_characters() {
    let _serial = serial();
    // (JSON literal as written, name as read). Escapes are decoded leniently: a surrogate
    // without its partner is U+FFFD; raw bytes that are not UTF-8 are U+FFFD as in
    // `String::from_utf8_lossy`.
    let cases: [(&[u8], &str); 7] = [
        (b"\"\\ud800\"", "\u{FFFD}"),
        (b"\"\\ud800\\ud800x\"", "\u{FFFD}\u{FFFD}x"),
        (b"\"\\udc00\\ud800\"", "\u{FFFD}\u{FFFD}"),
        (b"\"\\ud83d\\ude00\"", "\u{1F600}"),
        (b"\"\\udbff\\u0041\"", "\u{FFFD}A"),
        (b"\"a\xed\xa0\x80b\"", "a\u{FFFD}\u{FFFD}\u{FFFD}b"),
        (b"\"\xff\xfe\"", "\u{FFFD}\u{FFFD}"),
    ];
    let mut b = Bulk::new();
    let mut literals = Vec::new();
    for (i, (literal, _)) in cases.iter().enumerate() {
        // The generator keeps literals as `String`: smuggle raw bytes through a marker.
        let marker = format!("\"@{i}@\"");
        let name = b.raw_string(&marker);
        literals.push((marker, *literal));
        b.edge("element", i as u32 + 1, i as u64 + 1);
        let _ = name;
    }
    for i in 0..cases.len() {
        let name = b.raw_string(&format!("\"@{i}@\""));
        b.node_named("object", name, 2 * i as u64 + 3, 8);
    }
    let mut json = b.to_json();
    for (marker, literal) in &literals {
        let at = find(&json, marker.as_bytes()).expect("marker");
        json.splice(at..at + marker.len(), literal.iter().copied());
    }
    let snap = Snapshot::from_bytes(&json, &Progress::new()).expect("loads");
    for (i, (_, expected)) in cases.iter().enumerate() {
        assert_eq!(
            snap.graph.node_name(NodeIndex(i as u32 + 1)),
            *expected,
            "case {i}"
        );
    }
    // The names reach the Summary's class names and the baseline's, unchanged.
    let rows = summarize(&snap);
    let base = scan_baseline(&json.as_slice(), &Progress::new()).expect("scans");
    for (_, expected) in &cases {
        assert!(
            rows.iter().any(|r| r.name == *expected),
            "Summary row {expected:?}"
        );
        assert!(
            base.classes.iter().any(|c| c.name == *expected),
            "baseline class {expected:?}"
        );
    }
    // A `\u` escape cut short is an error, not a guess.
    let at = find(&json, b"\"\\ud800\"").expect("case 0");
    let mut cut = json.clone();
    cut.splice(at..at + 8, b"\"\\ud8\"".iter().copied());
    let err = Snapshot::from_bytes(&cut, &Progress::new()).expect_err("refused");
    assert!(err.to_string().contains("escape"), "{err}");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One of the reader's entry points on a fixed file: its error, if any.
type EntryPoint<'a> = Box<dyn Fn() -> Option<SnapshotError> + 'a>;

/// The three file entry points on `path`, each timed: every one must answer within
/// `limit`. Their errors' messages, `None` for one that accepted the file.
fn entry_points_within(path: &Path, limit: Duration) -> [Option<String>; 3] {
    let progress = Progress::new();
    let runs: [(&str, EntryPoint); 3] = [
        (
            "Snapshot::open",
            Box::new(|| Snapshot::open(path, &progress).err()),
        ),
        (
            "scan_file_max_js_id",
            Box::new(|| scan_file_max_js_id(path, &progress).err()),
        ),
        (
            "scan_file_baseline",
            Box::new(|| scan_file_baseline(path, &progress).err()),
        ),
    ];
    runs.map(|(name, run)| {
        let t0 = Instant::now();
        let err = run();
        let took = t0.elapsed();
        eprintln!("{name} on {}: {took:?}: {err:?}", path.display());
        assert!(
            took < limit,
            "{name} took {took:?} on {} (limit {limit:?}): it read the file",
            path.display()
        );
        err.map(|e| e.to_string())
    })
}

/// Like [`entry_points_within`], each of them refusing the file.
fn all_refuse_within(path: &Path, limit: Duration) -> Vec<String> {
    entry_points_within(path, limit)
        .into_iter()
        .map(|m| m.unwrap_or_else(|| panic!("{} was accepted", path.display())))
        .collect()
}

#[test]
fn an_empty_file_is_refused_by_every_entry_point() {
    let _serial = serial();
    let file = TempFile::new("empty.heapsnapshot");
    File::create(&file.path).unwrap();
    for msg in all_refuse_within(file.path(), Duration::from_secs(2)) {
        assert!(msg.contains("truncated") && msg.contains("empty"), "{msg}");
    }
}

/// A 10 GiB file that is `prefix` followed by a hole: it takes no disk and reads as zeros.
fn sparse(name: &str, prefix: &[u8]) -> TempFile {
    let file = TempFile::new(name);
    let mut f = File::create(&file.path).unwrap();
    f.write_all(prefix).unwrap();
    f.set_len(10 << 30).unwrap();
    file
}

/// The valid start of a snapshot with `nodes_body` as its nodes array's content.
fn header_then(body: &str) -> Vec<u8> {
    let mut b = Bulk::new();
    b.edge("element", 1, 1);
    b.node("object", "A", 3, 8);
    let json = String::from_utf8(b.to_json()).unwrap();
    let nodes = json.find("\"nodes\":[").unwrap() + "\"nodes\":[".len();
    format!("{}{body}", &json[..nodes]).into_bytes()
}

#[test]
fn a_ten_gigabyte_sparse_file_is_refused_fast() {
    let _serial = serial();
    let limit = Duration::from_secs(2);
    // All zeros: refused at byte 0.
    let zeros = sparse("zeros.heapsnapshot", b"");
    for msg in all_refuse_within(zeros.path(), limit) {
        assert!(msg.contains("malformed snapshot at byte 0"), "{msg}");
    }
    // A valid header, then zeros where the numbers should be.
    let in_nodes = sparse("in-nodes.heapsnapshot", &header_then(""));
    for msg in all_refuse_within(in_nodes.path(), limit) {
        assert!(msg.contains("malformed snapshot at byte"), "{msg}");
        assert!(msg.contains("byte 0x00"), "{msg}");
    }
    // Whole nodes, then zeros where the edges should be.
    let in_edges = sparse(
        "in-edges.heapsnapshot",
        &header_then("9,0,1,0,1,0,3,1,3,8,0,0],\n\"edges\":[1,1,6"),
    );
    // The id scan reads only the nodes, which are whole: it answers, and fast.
    let [open, id_scan, baseline] = entry_points_within(in_edges.path(), limit);
    assert_eq!(id_scan, None, "the id scan needs only the nodes");
    for msg in [open, baseline] {
        let msg = msg.expect("refused");
        assert!(msg.contains("unexpected byte 0x00 in"), "{msg}");
    }
}

#[test]
fn a_name_index_far_past_the_strings_costs_the_baseline_scan_nothing() {
    let _serial = serial();
    // An object named by string 100,000,000 of a file holding three: the baseline scan
    // totals objects by name index, and must not size its table by what the file claims.
    let mut b = Bulk::new();
    b.edge("element", 1, 1);
    b.node_named("object", 100_000_000, 3, 8);
    let json = b.to_json();
    let (result, growth) = peak_rss_growth(|| scan_baseline(&json.as_slice(), &Progress::new()));
    let err = result.expect_err("refused");
    assert!(
        matches!(
            err,
            SnapshotError::BadValue {
                record: "node",
                field: "name",
                value: 100_000_000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("past the 2 strings"), "{err}");
    if let Some(growth) = growth {
        assert!(
            growth < 32 * MIB,
            "a {}-byte file grew the heap {} MiB",
            json.len(),
            growth / MIB
        );
    }
    let err = Snapshot::from_bytes(&json, &Progress::new()).expect_err("refused");
    assert!(err.to_string().contains("past the 2 strings"), "{err}");
}

/// A graph of one tracked object whose allocation stack is `depth` calls deep.
fn deep_trace(depth: u64) -> String {
    let mut g = common::Gen::new();
    let x = g.node("object", "Deep", 8);
    g.edge(0, "element", "1", x);
    g.nodes[x as usize].trace = depth;
    let f = |name: &str| common::TraceFn {
        name: name.into(),
        script: "/deep.js".into(),
        script_id: 1,
        line: 1,
        column: 1,
    };
    g.trace_functions = vec![f("(root)"), f("recurse")];
    let mut tree = String::with_capacity(depth as usize * 20);
    for id in 1..=depth {
        let function = u64::from(id > 1);
        tree.push_str(&format!("{id},{function},0,0,["));
    }
    tree.extend(std::iter::repeat_n(']', depth as usize));
    g.trace_tree = tree;
    g.to_json(common::Layout::Node20)
}

#[test]
fn a_trace_tree_three_million_deep_on_a_small_stack() {
    let _serial = serial();
    const DEPTH: u64 = 3_000_000;
    let file = bulk::TempFile::new("deep-trace.heapsnapshot");
    std::fs::write(file.path(), deep_trace(DEPTH)).unwrap();
    let path = file.path().to_owned();
    // Parsed with a parent pointer and walked with an iterator: no recursion.
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let started = Instant::now();
            let snap = open_bounded(&path, 4);
            let traces = snap.graph.allocation_traces();
            let frames = snap
                .graph
                .allocation_stack(NodeIndex(1))
                .map(|s| s.filter(|f| f.function == "recurse").count());
            (traces.tree_len(), frames, started.elapsed())
        })
        .unwrap();
    let (len, frames, took) = handle.join().expect("no stack overflow");
    assert_eq!(len, DEPTH as usize);
    assert_eq!(frames, Some(DEPTH as usize - 1));
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn fifty_million_opening_brackets_in_the_trace_tree_are_refused_in_bounded_memory() {
    let _serial = serial();
    // `children` first: every `[` starts a record. The records a file can hold are bounded
    // by its bytes, so the flood stops there instead of costing 12 bytes a byte.
    let head = deep_trace(1).replace(
        r#""trace_node_fields":["id","function_info_index","count","size","children"]"#,
        r#""trace_node_fields":["children","id","function_info_index","count","size"]"#,
    );
    let at = head.find("\"trace_tree\":[").unwrap() + "\"trace_tree\":[".len();
    let file = bulk::TempFile::new("bracket-flood.heapsnapshot");
    {
        let mut out = std::io::BufWriter::new(File::create(file.path()).unwrap());
        out.write_all(&head.as_bytes()[..at]).unwrap();
        let chunk = vec![b'['; 1 << 20];
        for _ in 0..50 {
            out.write_all(&chunk).unwrap();
        }
        out.flush().unwrap();
    }
    let size = std::fs::metadata(file.path()).unwrap().len();
    let (result, growth) = peak_rss_growth(|| Snapshot::open(file.path(), &Progress::new()));
    match result {
        Err(SnapshotError::Syntax { what, .. }) => {
            assert!(what.contains("bytes left"), "{what}")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a bracket flood loaded"),
    }
    if let Some(growth) = growth {
        eprintln!(
            "bracket flood: {} MiB file, peak growth {} MiB",
            size / MIB,
            growth / MIB
        );
        assert!(growth <= 3 * size + 64 * MIB, "grew {} MiB", growth / MIB);
    }
}
