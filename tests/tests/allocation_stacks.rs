//! Allocation stacks from real Node processes, end to end: small scripts (written here into
//! `target/alloc-stacks/`) turn on V8's allocation tracking through an in-process
//! `node:inspector` session and write snapshots with `v8.writeHeapSnapshot()`.
//!
//! - The reader gives a known object the stack of the script's named functions, at their
//!   0-based lines and columns, on Node 20 (seven node fields always) and Node 24 and 26
//!   (six fields untracked, seven with `trace_node_id` once tracking is on).
//! - The leak finder puts the stacks on a finding: an array grown by a user function through
//!   a dependency's helper has a top stack whose first user frame is the user function, and
//!   the hover shows it and the JSON contract carries it.

use std::path::{Path, PathBuf};
use std::process::Command;

use heapsight_leaks::{analyze_files, LeakKind, Options};
use heapsight_snapshot::{open_source, read_graph, HeapGraph, NodeType, Progress};
use heapsight_tests::support::{node_binary, repo_root};

/// Writes `untracked.heapsnapshot`, then `tracked.heapsnapshot` with 500 `Marker`s that
/// `makeMarker` allocates, called by `fill`.
const TRACKED_JS: &str = r#"'use strict';
// Writes untracked.heapsnapshot, then starts V8's allocation tracking on an in-process
// inspector session and writes tracked.heapsnapshot. Usage: node tracked.js OUT_DIR
const inspector = require('node:inspector');
const path = require('node:path');
const v8 = require('node:v8');

class Marker {
  constructor(i) {
    this.i = i;
  }
}

const kept = [];

function makeMarker(i) {
  return new Marker(i);
}

function fill(n) {
  for (let i = 0; i < n; i++) kept.push(makeMarker(i));
}

const session = new inspector.Session();
session.connect();
const post = (method, params) =>
  new Promise((resolve, reject) =>
    session.post(method, params || {}, (err, res) => (err ? reject(err) : resolve(res))));

(async () => {
  const out = process.argv[2];
  v8.writeHeapSnapshot(path.join(out, 'untracked.heapsnapshot'));
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startTrackingHeapObjects', { trackAllocations: true });
  fill(500);
  v8.writeHeapSnapshot(path.join(out, 'tracked.heapsnapshot'));
  await post('HeapProfiler.disable');
  session.disconnect();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
"#;

/// A/B/C of a leak, tracked from the start: `handleRequest` grows `registry` with records
/// that a dependency's helper (`recordkit`'s `buildRecord`) allocates.
const LEAKY_JS: &str = r#"'use strict';
// Allocation-tracked A/B/C of a leak. Usage: node --expose-gc leaky.js OUT_DIR
const inspector = require('node:inspector');
const path = require('node:path');
const v8 = require('node:v8');
const { buildRecord } = require('recordkit');

const session = new inspector.Session();
session.connect();
const post = (method, params) =>
  new Promise((resolve, reject) =>
    session.post(method, params || {}, (err, res) => (err ? reject(err) : resolve(res))));

const registry = [];

function handleRequest(i) {
  registry.push(buildRecord(i));
}

(async () => {
  const out = process.argv[2];
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startTrackingHeapObjects', { trackAllocations: true });
  for (let i = 0; i < 200; i++) handleRequest(i);
  global.gc();
  v8.writeHeapSnapshot(path.join(out, 'A.heapsnapshot'));
  for (let i = 200; i < 20200; i++) handleRequest(i);
  v8.writeHeapSnapshot(path.join(out, 'B.heapsnapshot'));
  global.gc();
  v8.writeHeapSnapshot(path.join(out, 'C.heapsnapshot'));
  await post('HeapProfiler.disable');
  session.disconnect();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
"#;

const RECORDKIT_JS: &str = r#"'use strict';
// A dependency's helper: the records are allocated here, below the user's function.
function buildRecord(i) {
  return { id: i, payload: 'x'.repeat(64) + i, tags: [i, i + 1] };
}
module.exports = { buildRecord };
"#;

/// A fresh `target/alloc-stacks/<name>/`.
fn workdir(name: &str) -> PathBuf {
    let dir = repo_root().join("target").join("alloc-stacks").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove the old work folder");
    }
    std::fs::create_dir_all(&dir).expect("create the work folder");
    dir
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create folder");
    }
    std::fs::write(path, text).expect("write script");
}

/// Runs `node <flags> <script> <out>` under Node `major` in `dir`.
fn run_node(major: u32, dir: &Path, flags: &[&str], script: &str, out: &Path) {
    let node = node_binary(major).unwrap_or_else(|e| panic!("node {major}: {e:#}"));
    let status = Command::new(&node)
        .args(flags)
        .arg(script)
        .arg(out)
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| panic!("running {}: {e}", node.display()));
    assert!(status.success(), "node {major} {script}: {status}");
}

fn graph(path: &Path) -> HeapGraph {
    let src = open_source(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_graph(&src, &Progress::new()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The 0-based line of the first line of `script` containing `needle`, and the 0-based
/// column of the `(` after it (where V8 places a function).
fn position(script: &str, needle: &str) -> (u32, u32) {
    script
        .lines()
        .enumerate()
        .find_map(|(i, line)| {
            let at = line.find(needle)?;
            let paren = line[at..].find('(')? + at;
            Some((i as u32, paren as u32))
        })
        .unwrap_or_else(|| panic!("no `{needle}` in the script"))
}

#[test]
fn a_known_object_has_the_scripts_stack_on_node_20_24_and_26() {
    let make_marker = position(TRACKED_JS, "function makeMarker(");
    let fill = position(TRACKED_JS, "function fill(");
    for major in [20, 24, 26] {
        let dir = workdir(&format!("tracked-node{major}"));
        write(&dir.join("tracked.js"), TRACKED_JS);
        run_node(major, &dir, &[], "tracked.js", &dir);

        let untracked = graph(&dir.join("untracked.heapsnapshot"));
        let fields = untracked.header().nodes.field_count;
        // Node 24 dropped `trace_node_id` unless tracking is on.
        assert_eq!(fields, if major >= 24 { 6 } else { 7 }, "node {major}");
        assert!(untracked.allocation_traces().is_empty(), "node {major}");

        let tracked = graph(&dir.join("tracked.heapsnapshot"));
        let traces = tracked.allocation_traces();
        assert_eq!(tracked.header().nodes.field_count, 7, "node {major}");
        assert!(!traces.is_empty(), "node {major}: no tracked node");
        eprintln!(
            "node {major}: untracked {fields} node fields; tracked 7 fields, {} nodes, {} tracked, {} function infos, {} trace tree nodes",
            tracked.node_count(),
            traces.tracked_nodes(),
            traces.function_count(),
            traces.tree_len()
        );
        let markers: Vec<_> = tracked
            .nodes()
            .filter(|&n| {
                tracked.node_type(n) == NodeType::Object && tracked.node_name(n) == "Marker"
            })
            .collect();
        assert_eq!(markers.len(), 500, "node {major}");
        let script = dir.join("tracked.js");
        let script = script.to_str().expect("utf-8 path");
        for &m in &markers {
            let frames: Vec<_> = tracked
                .allocation_stack(m)
                .unwrap_or_else(|| panic!("node {major}: a Marker without a stack"))
                .collect();
            assert!(frames.len() >= 2, "node {major}: {frames:?}");
            let top: Vec<_> = frames[..2]
                .iter()
                .map(|f| (f.function, f.script_name, (f.line, f.column)))
                .collect();
            assert_eq!(
                top,
                [("makeMarker", script, make_marker), ("fill", script, fill)],
                "node {major}"
            );
            assert_eq!(frames[0].script_id, frames[1].script_id);
        }
        // Objects made before tracking began have none.
        let untracked_share = tracked
            .nodes()
            .filter(|&n| tracked.trace_node(n).is_none())
            .count();
        assert!(untracked_share > tracked.node_count() / 2, "node {major}");
    }
}

#[test]
fn a_leaks_top_stack_names_the_user_function() {
    let handle_request = position(LEAKY_JS, "function handleRequest(");
    for major in [20, 24] {
        let dir = workdir(&format!("leaky-node{major}"));
        write(&dir.join("leaky.js"), LEAKY_JS);
        write(&dir.join("node_modules/recordkit/index.js"), RECORDKIT_JS);
        // The flags that keep stacks whole while tracking (see the design notes). Node 22+
        // optimizes with Maglev too, which inlines on its own: without
        // `--no-maglev-inlining`, Node 24 attributed half the records to `handleRequest`
        // with `buildRecord`'s frame gone.
        run_node(
            major,
            &dir,
            &[
                "--expose-gc",
                "--no-compact",
                "--no-turbo-inlining",
                "--no-maglev-inlining",
            ],
            "leaky.js",
            &dir,
        );
        let options = Options {
            threshold: 100_000,
            kinds: Vec::new(),
            memory: None,
        };
        let report = analyze_files(
            &dir.join("A.heapsnapshot"),
            &dir.join("B.heapsnapshot"),
            &dir.join("C.heapsnapshot"),
            &options,
            &Progress::new(),
        )
        .unwrap_or_else(|e| panic!("node {major}: {e}"));
        let finding = report
            .findings
            .iter()
            .find(|f| f.kind == LeakKind::Collection)
            .unwrap_or_else(|| panic!("node {major}: no collection finding"));
        let allocations = finding
            .allocations
            .as_ref()
            .unwrap_or_else(|| panic!("node {major}: no allocation stacks"));
        let top = allocations.stacks.first().expect("a top stack");
        let at = top.user_frame.expect("a user frame");
        let user = &top.frames[at];
        assert_eq!(user.function, "handleRequest", "node {major}: {top:?}");
        assert_eq!((user.line, user.column), handle_request, "node {major}");
        assert!(user.url.as_deref().is_some_and(|u| u.ends_with("leaky.js")));
        // The helper that allocated the records is a dependency's, so not the user frame.
        assert_eq!(top.frames[0].function, "buildRecord", "node {major}");
        assert!(!top.frames[0].user);
        assert!(top.items > 0, "node {major}: the records are the items");
        assert!(top.count > 0 && top.bytes > 0);
        assert!(allocations.tracked_bytes >= top.bytes);
        // Tracked from the first line: (nearly) every leaked byte has a stack.
        assert!(
            allocations.untracked_bytes * 10 < allocations.tracked_bytes,
            "node {major}: {} untracked of {} tracked bytes",
            allocations.untracked_bytes,
            allocations.tracked_bytes
        );
        eprintln!(
            "node {major}: {} stacks, top {} objects {} bytes, user frame {at}",
            allocations.stacks.len(),
            top.count,
            top.bytes
        );

        // The JSON contract reads back into the ide's findings with the stacks, and the
        // hover shows the user frame and the dependency below it.
        let json = serde_json::to_value(finding).expect("serializes");
        let back: heapsight_ide::Finding = serde_json::from_value(json).expect("reads back");
        assert_eq!(back.allocations.as_ref(), Some(allocations));
        assert_eq!(back.placement, finding.placement);
        let hover = heapsight_ide::finding_markdown(&back, false);
        assert!(
            hover.contains(&format!(
                "**`handleRequest`** (leaky.js:{})",
                handle_request.0 + 1
            )),
            "{hover}"
        );
        assert!(hover.contains("`buildRecord` (index.js:"), "{hover}");
    }
}
