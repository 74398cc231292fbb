//! V8's allocation traces: where each object was allocated, when the snapshot was taken
//! with allocation tracking on (`HeapProfiler.startTrackingHeapObjects({trackAllocations:
//! true})`, DevTools' "allocation instrumentation").
//!
//! Three parts of the file make them, each resolved by name from `meta`:
//! - `trace_function_infos`: flat records `function_id, name, script_name, script_id, line,
//!   column`; names are string indexes, line and column 1-based (0 when unknown).
//! - `trace_tree`: nested records `[id, function_info_index, count, size, [children…]]`,
//!   a call tree whose root is `(root)`; read with an explicit parent pointer, not
//!   recursion, so a hostile file may nest it as deep as its bytes allow.
//! - `trace_node_id` of each node: the tree node whose stack allocated it, 0 when the
//!   object was allocated before tracking began (or moved since, see the design notes).
//!
//! Memory: the tree and the functions are small (thousands of entries). The nodes' trace
//! ids are kept only for the nodes that have one: as (node, tree node) pairs while few
//! nodes do, as one column over all nodes once more than half do. An untracked snapshot
//! costs nothing.

use crate::error::{Result, SnapshotError};
use crate::graph::NodeIndex;
use crate::meta::{TraceFunctionLayout, TraceNodeLayout};
use crate::scan::{self, NestedSink, Sink, Strings};
use crate::source::ByteSource;

/// A node of the allocation call tree (its position in the tree, not V8's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TraceNodeIndex(pub u32);

/// A function of `trace_function_infos`, with 0-based positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceFunction {
    name: u32,
    script_name: u32,
    script_id: u32,
    line: u32,
    column: u32,
}

/// A node of `trace_tree`.
#[derive(Debug, Clone, Copy)]
struct TraceNode {
    /// V8's id (what nodes' `trace_node_id` refers to).
    id: u32,
    /// Position of the parent, [`NO_PARENT`] for a root. Always before the node itself.
    parent: u32,
    /// Index into the functions.
    function: u32,
}

const NO_PARENT: u32 = u32::MAX;

/// One frame of an allocation stack: the function's start, as V8's tracker recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceFrame<'g> {
    /// The function's name (empty for an anonymous function).
    pub function: &'g str,
    /// The script's path or URL (`node:internal/…` for Node's own; empty for builtins).
    pub script_name: &'g str,
    /// V8's script id (0 for builtins).
    pub script_id: u32,
    /// 0-based line of the function's start.
    pub line: u32,
    /// 0-based column (UTF-16) of the function's start.
    pub column: u32,
    /// The trace-tree node this frame is.
    pub node: TraceNodeIndex,
}

/// V8's id of a trace node → its position.
#[derive(Debug, Default)]
enum IdIndex {
    /// `slots[id]` = position + 1 (0: no such id): V8 numbers the tree from 1 densely.
    #[default]
    Empty,
    Dense(Vec<u32>),
    /// (id, position) sorted by id, for ids too sparse to index.
    Sorted(Vec<(u32, u32)>),
}

/// Which tree node allocated each node, for the nodes that have one.
#[derive(Debug, Default)]
enum NodeTraces {
    #[default]
    None,
    /// (node ordinal, tree position), by node.
    Sparse(Vec<(u32, u32)>),
    /// Per node: tree position + 1, 0 for untracked.
    Dense(Vec<u32>),
}

/// The allocation call tree, its functions and each node's place in it.
#[derive(Debug, Default)]
pub struct AllocationTraces {
    functions: Vec<TraceFunction>,
    nodes: Vec<TraceNode>,
    ids: IdIndex,
    of_node: NodeTraces,
    tracked: usize,
}

impl AllocationTraces {
    /// Whether the snapshot carries allocation traces (some node has a stack).
    pub fn is_empty(&self) -> bool {
        self.tracked == 0
    }
    /// Nodes with an allocation stack.
    pub fn tracked_nodes(&self) -> usize {
        self.tracked
    }
    /// Nodes of the call tree.
    pub fn tree_len(&self) -> usize {
        self.nodes.len()
    }
    /// Functions of `trace_function_infos`.
    pub fn function_count(&self) -> usize {
        self.functions.len()
    }

    /// The tree node whose stack allocated heap node `n`, if it was tracked.
    #[inline]
    pub fn of(&self, n: NodeIndex) -> Option<TraceNodeIndex> {
        let at = match &self.of_node {
            NodeTraces::None => return None,
            NodeTraces::Dense(v) => v.get(n.ix()).copied()?.checked_sub(1)?,
            NodeTraces::Sparse(v) => {
                let i = v.binary_search_by_key(&n.0, |&(node, _)| node).ok()?;
                v[i].1
            }
        };
        Some(TraceNodeIndex(at))
    }

    /// V8's id of a tree node (as nodes' `trace_node_id` has it).
    pub fn id(&self, t: TraceNodeIndex) -> Option<u32> {
        self.nodes.get(t.0 as usize).map(|n| n.id)
    }

    /// The caller of a tree node; `None` at a root.
    pub fn parent(&self, t: TraceNodeIndex) -> Option<TraceNodeIndex> {
        let p = self.nodes.get(t.0 as usize)?.parent;
        (p != NO_PARENT).then_some(TraceNodeIndex(p))
    }

    /// The frame a tree node stands for.
    pub fn frame<'g>(&self, t: TraceNodeIndex, strings: &'g Strings) -> Option<TraceFrame<'g>> {
        let node = self.nodes.get(t.0 as usize)?;
        let f = self.functions.get(node.function as usize)?;
        Some(TraceFrame {
            function: strings.get(f.name as usize),
            script_name: strings.get(f.script_name as usize),
            script_id: f.script_id,
            line: f.line,
            column: f.column,
            node: t,
        })
    }

    /// The stack of tree node `t`: its own frame (the allocation site), then its callers,
    /// up to but not including the tree's `(root)` (as DevTools shows it).
    pub fn stack<'a, 'g: 'a>(
        &'a self,
        t: TraceNodeIndex,
        strings: &'g Strings,
    ) -> impl Iterator<Item = TraceFrame<'g>> + 'a {
        let mut next = Some(t);
        std::iter::from_fn(move || {
            let here = next?;
            // A root (no parent) is the synthetic `(root)`: the stack ends before it.
            let parent = self.parent(here)?;
            next = Some(parent);
            self.frame(here, strings)
        })
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.functions.capacity() * std::mem::size_of::<TraceFunction>()
            + self.nodes.capacity() * std::mem::size_of::<TraceNode>()
            + match &self.ids {
                IdIndex::Empty => 0,
                IdIndex::Dense(v) => v.capacity() * 4,
                IdIndex::Sorted(v) => v.capacity() * 8,
            }
            + match &self.of_node {
                NodeTraces::None => 0,
                NodeTraces::Sparse(v) => v.capacity() * 8,
                NodeTraces::Dense(v) => v.capacity() * 4,
            }
    }

    /// Puts the parts together and checks them against each other and the strings:
    /// every function index names a function, every name a string, every node's trace id
    /// a tree node. `traced` is (node ordinal, V8 trace node id), by node.
    pub(crate) fn assemble(
        functions: Vec<TraceFunction>,
        tree: TreeSink,
        traced: Vec<(u32, u32)>,
        node_count: usize,
        strings: &Strings,
    ) -> Result<AllocationTraces> {
        let nodes = tree.nodes;
        let string_count = strings.len() as u64;
        for (i, f) in functions.iter().enumerate() {
            for (field, value) in [("name", f.name), ("script_name", f.script_name)] {
                if value as u64 >= string_count {
                    return Err(SnapshotError::BadValue {
                        record: "trace function info",
                        index: i as u64,
                        field,
                        value: value as u64,
                        why: format!("past the {string_count} strings"),
                    });
                }
            }
        }
        for (i, n) in nodes.iter().enumerate() {
            if n.function as usize >= functions.len() {
                return Err(SnapshotError::BadValue {
                    record: "trace_tree node",
                    index: i as u64,
                    field: "function_info_index",
                    value: n.function as u64,
                    why: format!("past the {} trace_function_infos", functions.len()),
                });
            }
        }
        let ids = index_ids(&nodes)?;
        let position = |id: u32| -> Option<u32> {
            match &ids {
                IdIndex::Empty => None,
                IdIndex::Dense(v) => v.get(id as usize).copied()?.checked_sub(1),
                IdIndex::Sorted(v) => v
                    .binary_search_by_key(&id, |&(i, _)| i)
                    .ok()
                    .map(|i| v[i].1),
            }
        };
        let unknown = |node: u32, id: u32| SnapshotError::BadValue {
            record: "node",
            index: node as u64,
            field: "trace_node_id",
            value: id as u64,
            why: format!("not the id of a trace_tree node ({} nodes)", nodes.len()),
        };
        let tracked = traced.len();
        // Pairs cost 8 bytes a tracked node, the column 4 bytes a node.
        let of_node = if tracked == 0 {
            NodeTraces::None
        } else if tracked * 2 > node_count {
            let mut column = vec![0u32; node_count];
            for &(node, id) in &traced {
                let at = position(id).ok_or_else(|| unknown(node, id))?;
                if let Some(slot) = column.get_mut(node as usize) {
                    *slot = at + 1;
                }
            }
            NodeTraces::Dense(column)
        } else {
            let mut pairs = traced;
            for pair in pairs.iter_mut() {
                pair.1 = position(pair.1).ok_or_else(|| unknown(pair.0, pair.1))?;
            }
            NodeTraces::Sparse(pairs)
        };
        Ok(AllocationTraces {
            functions,
            nodes,
            ids,
            of_node,
            tracked,
        })
    }
}

/// V8 numbers the tree's nodes 1, 2, 3…: a direct index when the ids are that dense, a
/// sorted list otherwise. The same id twice is an error.
fn index_ids(nodes: &[TraceNode]) -> Result<IdIndex> {
    let duplicate = |i: usize, id: u32| SnapshotError::BadValue {
        record: "trace_tree node",
        index: i as u64,
        field: "id",
        value: id as u64,
        why: "the id of an earlier trace_tree node".into(),
    };
    let Some(max) = nodes.iter().map(|n| n.id).max() else {
        return Ok(IdIndex::Empty);
    };
    if (max as usize) <= nodes.len().saturating_mul(2) + 1024 {
        let mut slots = vec![0u32; max as usize + 1];
        for (i, n) in nodes.iter().enumerate() {
            let slot = &mut slots[n.id as usize];
            if *slot != 0 {
                return Err(duplicate(i, n.id));
            }
            *slot = i as u32 + 1;
        }
        return Ok(IdIndex::Dense(slots));
    }
    let mut sorted: Vec<(u32, u32)> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id, i as u32))
        .collect();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(duplicate(w[1].1 as usize, w[1].0));
    }
    Ok(IdIndex::Sorted(sorted))
}

/// Reads `trace_function_infos` (from just after its `[`); returns the functions and the
/// offset after the array. `capacity` is already bounded by the bytes left.
pub(crate) fn parse_functions(
    src: &dyn ByteSource,
    value_start: u64,
    layout: &TraceFunctionLayout,
    capacity: usize,
) -> Result<(Vec<TraceFunction>, u64)> {
    let mut sink = FunctionSink {
        layout: layout.clone(),
        record: vec![0; layout.field_count],
        field: 0,
        out: Vec::with_capacity(capacity),
    };
    let end = scan::parse_numbers(
        src,
        value_start,
        "the `trace_function_infos` array",
        &mut sink,
        |_| Ok(()),
    )?;
    if sink.field != 0 {
        return Err(SnapshotError::Meta(format!(
            "the trace_function_infos array does not hold whole records of {} numbers",
            layout.field_count
        )));
    }
    Ok((sink.out, end))
}

struct FunctionSink {
    layout: TraceFunctionLayout,
    record: Vec<u64>,
    field: usize,
    out: Vec<TraceFunction>,
}

impl Sink for FunctionSink {
    fn push(&mut self, v: u64) -> Result<()> {
        if let Some(slot) = self.record.get_mut(self.field) {
            *slot = v;
        }
        self.field += 1;
        if self.field < self.record.len() {
            return Ok(());
        }
        self.field = 0;
        let l = &self.layout;
        let index = self.out.len() as u64;
        let small = |field: &'static str, at: usize| {
            let value = self.record.get(at).copied().unwrap_or(0);
            u32::try_from(value).map_err(|_| SnapshotError::BadValue {
                record: "trace function info",
                index,
                field,
                value,
                why: "out of range".into(),
            })
        };
        let f = TraceFunction {
            name: small("name", l.name_at)?,
            script_name: small("script_name", l.script_name_at)?,
            script_id: small("script_id", l.script_id_at)?,
            // 1-based in the file, 0 when V8 has no position.
            line: small("line", l.line_at)?.saturating_sub(1),
            column: small("column", l.column_at)?.saturating_sub(1),
        };
        self.out.push(f);
        Ok(())
    }
}

/// Reads `trace_tree` (from just after its `[`); returns the tree and the offset after it.
pub(crate) fn parse_tree(
    src: &dyn ByteSource,
    value_start: u64,
    layout: &TraceNodeLayout,
) -> Result<(TreeSink, u64)> {
    // A record takes at least two bytes a field (a digit or `[]`, and a separator): a tree
    // cannot have more records than the bytes left hold, however it nests.
    let min_record = 2 * layout.field_count.max(1) as u64;
    let max_nodes = (src.len().saturating_sub(value_start) / min_record + 1).min(u32::MAX as u64);
    let mut sink = TreeSink {
        layout: layout.clone(),
        nodes: Vec::new(),
        max_nodes: max_nodes as usize,
        parent: NO_PARENT,
        current: NO_PARENT,
        field: 0,
    };
    let end = scan::parse_nested_numbers(src, value_start, "the `trace_tree` array", &mut sink)?;
    if sink.field != 0 {
        return Err(SnapshotError::Meta(format!(
            "the trace_tree array does not hold whole records of {} fields",
            layout.field_count
        )));
    }
    Ok((sink, end))
}

/// Builds the tree from the nested tokens. No stack: the open array's owner is `parent`,
/// and closing it goes back to that owner's own level through its parent pointer (the
/// record continues after its `children` field).
pub(crate) struct TreeSink {
    layout: TraceNodeLayout,
    nodes: Vec<TraceNode>,
    /// More records than this cannot be in the bytes left.
    max_nodes: usize,
    /// Owner of the array being read (`NO_PARENT` at the top level).
    parent: u32,
    /// The record being read at this level.
    current: u32,
    /// Its next field.
    field: usize,
}

impl TreeSink {
    /// An empty tree (no `trace_tree` section).
    pub(crate) fn empty() -> Self {
        TreeSink {
            layout: TraceNodeLayout {
                field_count: 0,
                id_at: 0,
                function_info_at: 0,
                children_at: 0,
            },
            nodes: Vec::new(),
            max_nodes: 0,
            parent: NO_PARENT,
            current: NO_PARENT,
            field: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A record starts at its first field.
    fn begin_record(&mut self, offset: u64) -> Result<()> {
        if self.nodes.len() >= self.max_nodes {
            return Err(SnapshotError::syntax(
                offset,
                "more trace_tree records than the bytes left can hold",
            ));
        }
        let Ok(at) = u32::try_from(self.nodes.len()) else {
            return Err(SnapshotError::syntax(
                offset,
                "more than 2^32 trace_tree nodes",
            ));
        };
        self.nodes.push(TraceNode {
            id: 0,
            parent: self.parent,
            function: 0,
        });
        self.current = at;
        Ok(())
    }

    fn next_field(&mut self) {
        self.field += 1;
        if self.field == self.layout.field_count {
            self.field = 0;
        }
    }
}

impl NestedSink for TreeSink {
    fn open(&mut self, offset: u64) -> Result<()> {
        if self.field != self.layout.children_at {
            return Err(SnapshotError::syntax(
                offset,
                format!(
                    "a nested array in the trace_tree where field {} of a record belongs (children are field {})",
                    self.field, self.layout.children_at
                ),
            ));
        }
        if self.field == 0 {
            self.begin_record(offset)?;
        }
        self.parent = self.current;
        self.current = NO_PARENT;
        self.field = 0;
        Ok(())
    }

    fn close(&mut self, offset: u64) -> Result<()> {
        if self.field != 0 {
            return Err(SnapshotError::syntax(
                offset,
                format!(
                    "a trace_tree record cut short: {} of its {} fields",
                    self.field, self.layout.field_count
                ),
            ));
        }
        // Back to the owner's level, just after its `children` field.
        let owner = self.parent;
        self.current = owner;
        self.parent = self
            .nodes
            .get(owner as usize)
            .map_or(NO_PARENT, |n| n.parent);
        self.field = self.layout.children_at;
        self.next_field();
        Ok(())
    }

    fn number(&mut self, value: u64, offset: u64) -> Result<()> {
        let (children_at, id_at, function_at) = (
            self.layout.children_at,
            self.layout.id_at,
            self.layout.function_info_at,
        );
        if self.field == children_at {
            return Err(SnapshotError::syntax(
                offset,
                "a number where a trace_tree record's children array belongs",
            ));
        }
        if self.field == 0 {
            self.begin_record(offset)?;
        }
        let index = self.current as u64;
        let small = |field: &'static str| {
            u32::try_from(value).map_err(|_| SnapshotError::BadValue {
                record: "trace_tree node",
                index,
                field,
                value,
                why: "out of range".into(),
            })
        };
        if let Some(node) = self.nodes.get_mut(self.current as usize) {
            if self.field == id_at {
                node.id = small("id")?;
            } else if self.field == function_at {
                node.function = small("function_info_index")?;
            }
        }
        self.next_field();
        Ok(())
    }
}
