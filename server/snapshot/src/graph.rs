//! The compact heap graph: one column per node field, edges in CSR order.
//!
//! Node `i` owns edges `first_edge[i]..first_edge[i + 1]`. Edge targets are node ordinals
//! (not the file's `ordinal × field count`). Type columns hold the canonical codes of
//! [`NodeType`] / [`EdgeType`]. Memory is the columns themselves: about 22 bytes a node
//! and 9 bytes an edge, plus the strings.

use crate::locations::Locations;
use crate::meta::Header;
use crate::scan::Strings;
use crate::trace::{AllocationTraces, TraceFrame, TraceNodeIndex};
use crate::types::{EdgeType, NodeType};

/// Index of a node in the graph (its ordinal in the file's `nodes` array).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIndex(pub u32);

impl NodeIndex {
    /// The synthetic root every snapshot starts with.
    pub const ROOT: NodeIndex = NodeIndex(0);
    /// As a `usize` for indexing.
    pub fn ix(self) -> usize {
        self.0 as usize
    }
}

/// A function position from the `locations` array: 0-based line, UTF-16 column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The closure or object the position belongs to.
    pub node: NodeIndex,
    /// V8's script id (resolve to a URL through the graph, see the `leaks` crate).
    pub script_id: u32,
    /// 0-based line.
    pub line: u32,
    /// 0-based column in UTF-16 code units.
    pub column: u32,
}

/// A column of numbers four bytes each while every value fits (the usual case), eight
/// otherwise: node ids (past 2^32 on long-running processes) and self sizes (a single
/// object past 4 GiB, or an owner's sum after attribution).
#[derive(Debug, Clone)]
pub(crate) enum Wide32 {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Default for Wide32 {
    fn default() -> Self {
        Wide32::Narrow(Vec::new())
    }
}

impl Wide32 {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Wide32::Narrow(Vec::with_capacity(n))
    }
    /// Turns the column into eight bytes a value (values past `u32::MAX` from now on).
    #[cold]
    #[inline(never)]
    fn widen(&mut self) {
        if let Wide32::Narrow(v) = self {
            let mut wide: Vec<u64> = Vec::with_capacity(v.capacity());
            wide.extend(v.iter().map(|&x| x as u64));
            *self = Wide32::Wide(wide);
        }
    }
    #[inline]
    pub(crate) fn push(&mut self, value: u64) {
        match self {
            Wide32::Narrow(v) => match u32::try_from(value) {
                Ok(x) => v.push(x),
                Err(_) => {
                    self.widen();
                    if let Wide32::Wide(v) = self {
                        v.push(value);
                    }
                }
            },
            Wide32::Wide(v) => v.push(value),
        }
    }
    #[inline]
    pub(crate) fn get(&self, i: usize) -> u64 {
        match self {
            Wide32::Narrow(v) => v[i] as u64,
            Wide32::Wide(v) => v[i],
        }
    }
    #[inline]
    pub(crate) fn set(&mut self, i: usize, value: u64) {
        match self {
            Wide32::Narrow(v) => match u32::try_from(value) {
                Ok(x) => v[i] = x,
                Err(_) => {
                    self.widen();
                    if let Wide32::Wide(v) = self {
                        v[i] = value;
                    }
                }
            },
            Wide32::Wide(v) => v[i] = value,
        }
    }
    pub(crate) fn len(&self) -> usize {
        match self {
            Wide32::Narrow(v) => v.len(),
            Wide32::Wide(v) => v.len(),
        }
    }
    /// The sum of all values (the reader checked it fits in 64 bits).
    pub(crate) fn sum(&self) -> u64 {
        match self {
            Wide32::Narrow(v) => v.iter().map(|&x| x as u64).sum(),
            Wide32::Wide(v) => v.iter().sum(),
        }
    }
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Wide32::Narrow(v) => v.capacity() * 4,
            Wide32::Wide(v) => v.capacity() * 8,
        }
    }
}

/// A parsed snapshot: nodes, edges, strings and locations.
#[derive(Debug)]
pub struct HeapGraph {
    pub(crate) header: Header,
    pub(crate) node_type: Vec<u8>,
    pub(crate) node_name: Vec<u32>,
    pub(crate) node_id: Wide32,
    pub(crate) node_self_size: Wide32,
    /// `len() == node_count + 1`.
    pub(crate) first_edge: Vec<u32>,
    /// Empty when the snapshot has no `detachedness` field.
    pub(crate) node_detachedness: Vec<u8>,
    pub(crate) edge_type: Vec<u8>,
    pub(crate) edge_name: Vec<u32>,
    pub(crate) edge_to: Vec<u32>,
    pub(crate) strings: Strings,
    /// Sorted by node, indexed.
    pub(crate) locations: Locations,
    /// Allocation stacks (empty without allocation tracking).
    pub(crate) traces: AllocationTraces,
}

/// One edge, resolved.
#[derive(Debug, Clone, Copy)]
pub struct Edge<'g> {
    /// Position in the edge columns.
    pub index: u32,
    /// Its type.
    pub edge_type: EdgeType,
    /// Its name: a property or variable name, or an element / hidden index.
    pub name: EdgeName<'g>,
    /// The node it points to.
    pub to: NodeIndex,
}

/// An edge's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeName<'g> {
    /// Property, context variable, internal field name.
    Name(&'g str),
    /// Element or hidden edge index.
    Index(u32),
}

impl std::fmt::Display for EdgeName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EdgeName::Name(s) => f.write_str(s),
            EdgeName::Index(i) => write!(f, "[{i}]"),
        }
    }
}

impl HeapGraph {
    /// The resolved header.
    pub fn header(&self) -> &Header {
        &self.header
    }
    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.node_type.len()
    }
    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.edge_type.len()
    }
    /// The string table.
    pub fn strings(&self) -> &Strings {
        &self.strings
    }
    /// All function positions, sorted by node.
    pub fn locations(&self) -> &[Location] {
        self.locations.as_slice()
    }
    /// The position recorded for `node`, if any.
    pub fn location(&self, node: NodeIndex) -> Option<&Location> {
        self.locations.of(node)
    }
    /// Iterates over every node index.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = NodeIndex> {
        (0..self.node_count() as u32).map(NodeIndex)
    }
    /// Node type.
    pub fn node_type(&self, n: NodeIndex) -> NodeType {
        NodeType::from_code(self.node_type[n.ix()])
    }
    /// Node name (constructor name for objects, the value for strings, ...).
    pub fn node_name(&self, n: NodeIndex) -> &str {
        self.strings.get(self.node_name[n.ix()] as usize)
    }
    /// The string index of the node's name (equal names share an index).
    pub fn node_name_index(&self, n: NodeIndex) -> u32 {
        self.node_name[n.ix()]
    }
    /// Node id: odd for JS objects (stable within a process), even for embedder objects.
    pub fn node_id(&self, n: NodeIndex) -> u64 {
        self.node_id.get(n.ix())
    }
    /// Shallow size in bytes.
    pub fn self_size(&self, n: NodeIndex) -> u64 {
        self.node_self_size.get(n.ix())
    }
    /// DevTools' detachedness (0 unknown, 1 attached, 2 detached); 0 when absent.
    pub fn detachedness(&self, n: NodeIndex) -> u8 {
        self.node_detachedness.get(n.ix()).copied().unwrap_or(0)
    }
    /// The range of edge indices `n` owns.
    pub fn edge_range(&self, n: NodeIndex) -> std::ops::Range<usize> {
        self.first_edge[n.ix()] as usize..self.first_edge[n.ix() + 1] as usize
    }
    /// Number of outgoing edges.
    pub fn out_degree(&self, n: NodeIndex) -> usize {
        self.edge_range(n).len()
    }
    /// Edge by index.
    pub fn edge(&self, e: usize) -> Edge<'_> {
        let t = EdgeType::from_code(self.edge_type[e]);
        let raw = self.edge_name[e];
        let name = if t.has_index_name() {
            EdgeName::Index(raw)
        } else {
            EdgeName::Name(self.strings.get(raw as usize))
        };
        Edge {
            index: e as u32,
            edge_type: t,
            name,
            to: NodeIndex(self.edge_to[e]),
        }
    }
    /// The node edge `e` points to (without resolving its name, as [`HeapGraph::edge`] does).
    #[inline]
    pub fn edge_target(&self, e: usize) -> NodeIndex {
        NodeIndex(self.edge_to[e])
    }
    /// Outgoing edges of `n`.
    pub fn edges(&self, n: NodeIndex) -> impl ExactSizeIterator<Item = Edge<'_>> + '_ {
        self.edge_range(n).map(move |e| self.edge(e))
    }
    /// The node an edge comes from (binary search over the CSR offsets).
    pub fn edge_owner(&self, e: usize) -> NodeIndex {
        let at = self.first_edge.partition_point(|&f| f as usize <= e);
        NodeIndex(at.saturating_sub(1) as u32)
    }
    /// Sum of all self sizes.
    pub fn total_self_size(&self) -> u64 {
        self.node_self_size.sum()
    }
    /// Approximate bytes of memory the graph holds.
    pub fn heap_bytes(&self) -> usize {
        self.node_type.capacity()
            + self.node_name.capacity() * 4
            + self.node_id.heap_bytes()
            + self.node_self_size.heap_bytes()
            + self.first_edge.capacity() * 4
            + self.node_detachedness.capacity()
            + self.edge_type.capacity()
            + self.edge_name.capacity() * 4
            + self.edge_to.capacity() * 4
            + self.strings.heap_bytes()
            + self.locations.heap_bytes()
            + self.traces.heap_bytes()
    }
    /// The allocation traces (empty unless the snapshot was taken with allocation
    /// tracking on).
    pub fn allocation_traces(&self) -> &AllocationTraces {
        &self.traces
    }
    /// The allocation call-tree node whose stack allocated `n`; `None` when `n` was not
    /// tracked (allocated before tracking began, or the snapshot has no traces).
    #[inline]
    pub fn trace_node(&self, n: NodeIndex) -> Option<TraceNodeIndex> {
        self.traces.of(n)
    }
    /// The stack that allocated `n`: the allocation site first, then its callers.
    /// `None` when `n` was not tracked.
    pub fn allocation_stack(&self, n: NodeIndex) -> Option<impl Iterator<Item = TraceFrame<'_>>> {
        let t = self.traces.of(n)?;
        Some(self.traces.stack(t, &self.strings))
    }
    /// The stack of an allocation call-tree node (see [`HeapGraph::allocation_stack`]).
    pub fn trace_stack(&self, t: TraceNodeIndex) -> impl Iterator<Item = TraceFrame<'_>> {
        self.traces.stack(t, &self.strings)
    }
    /// The property edge `name` of `n`, if any (first match).
    pub fn child_by_name(&self, n: NodeIndex, name: &str) -> Option<NodeIndex> {
        self.edges(n)
            .find(|e| !e.edge_type.has_index_name() && e.name == EdgeName::Name(name))
            .map(|e| e.to)
    }
}
