//! heapsight's snapshot engine: read V8 `.heapsnapshot` files of any size, fast, into a
//! compact graph, and compute what leak analysis needs of it — GC-root distances, the
//! dominator tree and retained sizes — with the rules Chrome DevTools uses.
//!
//! This crate knows nothing of source code, editors or leaks: it takes bytes and answers
//! questions about one heap.
//!
//! - [`read_graph`] / [`Snapshot::open`]: parse (two threads, a hand-written digit scanner,
//!   no JSON tree of the number arrays), with every layout detail resolved from `meta`.
//! - [`scan_max_js_id`]: the largest JS object id of a snapshot without building a graph,
//!   all the 3-snapshot diff needs of the baseline and target.
//! - [`memory_needed`]: what analyzing a snapshot will take, from its header, before it is
//!   read; [`MemoryNeed::check`] refuses it against the memory left.
//! - [`Snapshot`]: the graph plus retainers, distances, dominators and retained sizes.
//! - [`HeapGraph::allocation_stack`]: where an object was allocated, when the snapshot was
//!   taken with allocation tracking on.
//!
//! Errors are typed ([`SnapshotError`]) and say where in the file the problem is; no input
//! makes the reader panic or allocate more than the file's own size justifies.

mod baseline;
mod distances;
mod dom_state;
mod dominators;
mod error;
mod essential;
mod graph;
mod locations;
mod meta;
mod need;
mod prefetch;
mod progress;
mod reader;
mod retainers;
mod scan;
mod shallow;
mod source;
mod summary;
mod trace;
mod types;
mod weakmap;

use std::fs::File;
use std::path::Path;

pub use baseline::{
    identity_hash, scan_baseline, BaselineScan, ClassCount, IdentitySample, JsIdSet,
    IDENTITY_SAMPLE,
};
pub use distances::{SYSTEM_DISTANCE, UNREACHABLE};
pub use dominators::Dominators;
pub use error::{Result, SnapshotError};
pub use essential::Essential;
pub use graph::{Edge, EdgeName, HeapGraph, Location, NodeIndex};
pub use meta::{EdgeLayout, Header, NodeLayout};
pub use need::{file_memory_needed, memory_needed, MemoryBudget, MemoryNeed};
pub use progress::{Phase, Progress};
pub use reader::{read_graph, scan_max_js_id, IdScan};
pub use retainers::Retainers;
pub use scan::Strings;
pub use source::{ByteSource, FileSource};
pub use summary::{
    raw_class_name, summarize, summarize_filtered, summarize_with, ClassNames, ClassSummary,
    DominatorChildren,
};
pub use trace::{AllocationTraces, TraceFrame, TraceNodeIndex};
pub use types::{EdgeType, NodeType};

/// Opens `path` as a byte source, with the path in any error.
pub fn open_source(path: &Path) -> Result<FileSource> {
    let io = |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    FileSource::new(file).map_err(io)
}

/// Scans the baseline snapshot at `path` (see [`scan_baseline`]).
pub fn scan_file_baseline(path: &Path, progress: &Progress) -> Result<BaselineScan> {
    let src = open_source(path)?;
    scan_baseline(&src, progress).map_err(|e| with_path(e, path))
}

/// The largest JS object id in the snapshot at `path`.
pub fn scan_file_max_js_id(path: &Path, progress: &Progress) -> Result<IdScan> {
    let src = open_source(path)?;
    scan_max_js_id(&src, progress).map_err(|e| with_path(e, path))
}

fn with_path(e: SnapshotError, path: &Path) -> SnapshotError {
    match e {
        SnapshotError::Io { source, .. } => SnapshotError::Io {
            path: path.to_owned(),
            source,
        },
        other => other,
    }
}

/// A parsed snapshot with its derived indices: retainers, distances, dominators.
#[derive(Debug)]
pub struct Snapshot {
    /// The parsed graph.
    pub graph: HeapGraph,
    essential: Essential,
    retainers: Retainers,
    distances: Vec<u32>,
    dominators: Dominators,
}

impl Snapshot {
    /// Reads and analyzes the snapshot at `path`.
    pub fn open(path: &Path, progress: &Progress) -> Result<Snapshot> {
        let src = open_source(path)?;
        let graph = read_graph(&src, progress).map_err(|e| with_path(e, path))?;
        Snapshot::from_graph(graph, progress)
    }

    /// Reads and analyzes a snapshot held in memory.
    pub fn from_bytes(bytes: &[u8], progress: &Progress) -> Result<Snapshot> {
        let graph = read_graph(&bytes, progress)?;
        Snapshot::from_graph(graph, progress)
    }

    /// Computes retainers, distances, dominators and retained sizes of a parsed graph.
    ///
    /// Self sizes are first attributed as DevTools does (see the `shallow` module): an
    /// object's internal backing stores count toward the object itself; and detached
    /// embedder objects are named `Detached …` as in DevTools (the `dom_state` module).
    pub fn from_graph(graph: HeapGraph, progress: &Progress) -> Result<Snapshot> {
        Snapshot::from_graph_with(graph, progress, |_| ()).map(|(snap, ())| snap)
    }

    /// Like [`Snapshot::from_graph`], running `side` on the graph (with V8's own self
    /// sizes, before attribution) on a second thread while retaining edges are decided.
    pub fn from_graph_with<T: Send>(
        mut graph: HeapGraph,
        progress: &Progress,
        side: impl FnOnce(&HeapGraph) -> T + Send,
    ) -> Result<(Snapshot, T)> {
        progress.start(Phase::Retainers, 0);
        progress.step("detachedness");
        dom_state::propagate(&mut graph);
        progress.step("retaining edges");
        // The side computation runs through the whole phase; the retaining edges are
        // decided as soon as the page-owned set and the WeakMap edges are known.
        let (side_result, weakmaps, essential, counts) = std::thread::scope(|s| {
            let side = s.spawn(|| side(&graph));
            let page = s.spawn(|| essential::page_owned(&graph));
            let weakmaps = weakmap::WeakMapEdges::find(&graph);
            let page = page
                .join()
                .unwrap_or_else(|_| essential::page_owned(&graph));
            let (essential, counts) = Essential::compute(&graph, &weakmaps, &page);
            (side.join(), weakmaps, essential, counts)
        });
        let side_result =
            side_result.map_err(|_| SnapshotError::Meta("a side computation panicked".into()))?;
        // Two lanes for two cores, balanced on real heaps and at 10^8 nodes: the depth-first
        // numbering, then the semi-dominators; beside them the retainer index (handed over
        // as soon as it is built), the owners self sizes are attributed to, and the
        // distances. The self sizes leave the graph for the second lane to move (nothing
        // before the retained sums reads them); the owners are found with a small stack,
        // so beside the semi-dominators' peak the second lane holds one four-byte column
        // (owners, then distances) and the distances' frontier.
        progress.start(Phase::Dominators, 0);
        progress.step("retainers, dominators | distances, self sizes");
        let mut self_sizes = std::mem::take(&mut graph.node_self_size);
        let (tree, lane) = std::thread::scope(|s| {
            let (send, receive) = std::sync::mpsc::sync_channel(1);
            let graph = &graph;
            let (essential, weakmaps, self_sizes) = (&essential, &weakmaps, &mut self_sizes);
            let lane = s.spawn(move || {
                // The receiver only goes when the main lane has failed.
                let _ = send.send(Retainers::build(graph, essential, counts));
                if let Some(owners) = shallow::owners(graph) {
                    shallow::apply(graph, self_sizes, &owners);
                }
                distances::compute(graph, weakmaps)
            });
            let search = dominators::search(graph, essential);
            let tree = match receive.recv() {
                Ok(retainers) => dominators::finish(graph, essential, &retainers, search, progress)
                    .map(|tree| (tree, retainers)),
                Err(_) => Err(SnapshotError::Meta(
                    "the retainer index's thread panicked".into(),
                )),
            };
            (tree, lane.join())
        });
        let distances =
            lane.map_err(|_| SnapshotError::Meta("the distances' thread panicked".into()))?;
        graph.node_self_size = self_sizes;
        let (tree, retainers) = tree?;
        drop(weakmaps);
        progress.start(Phase::RetainedSizes, 0);
        progress.step("retained sizes");
        let dominators = tree.retained_sizes(&graph.node_self_size);
        progress.end_step();
        progress.start(Phase::Done, 0);
        Ok((
            Snapshot {
                graph,
                essential,
                retainers,
                distances,
                dominators,
            },
            side_result,
        ))
    }

    /// Whether edge `e` retains its target (DevTools' essential-edge rules).
    pub fn retains(&self, e: usize) -> bool {
        self.essential.retains(e)
    }

    /// Nodes holding a retaining edge to `n`.
    pub fn retainers(&self, n: NodeIndex) -> &[u32] {
        self.retainers.of(n)
    }
    /// Distance from the GC roots (see [`SYSTEM_DISTANCE`], [`UNREACHABLE`]).
    pub fn distance(&self, n: NodeIndex) -> u32 {
        self.distances[n.ix()]
    }
    /// The dominator tree.
    pub fn dominators(&self) -> &Dominators {
        &self.dominators
    }
    /// Immediate dominator of `n`.
    pub fn idom(&self, n: NodeIndex) -> NodeIndex {
        self.dominators.idom(n)
    }
    /// Bytes freed if `n` were collected.
    pub fn retained_size(&self, n: NodeIndex) -> u64 {
        self.dominators.retained_size(n)
    }
    /// Children lists of the dominator tree.
    pub fn dominator_children(&self) -> DominatorChildren {
        DominatorChildren::build(&self.dominators.idom)
    }
    /// Approximate bytes held by the graph and its indices.
    pub fn heap_bytes(&self) -> usize {
        self.graph.heap_bytes()
            + self.essential.heap_bytes()
            + self.retainers.heap_bytes()
            + self.distances.capacity() * 4
            + self.dominators.heap_bytes()
    }
}
