//! Reading a whole snapshot into a [`HeapGraph`].
//!
//! Two threads: the calling thread parses `nodes`, then `strings` (found from the end), then
//! the sections between `edges` and `strings` (`locations`, the allocation traces; found
//! from `strings` back); a second thread finds the `edges` array on its own (a `memchr`
//! pass over `nodes`, which is far cheaper than parsing it) and parses it meanwhile, then
//! checks that the sections the first thread read start where `edges` ends (or reads them
//! itself). Edges are ~60% of the bytes, so the split is close to even. Every
//! preallocation is bounded by the bytes the file really has, never by a count the header
//! claims alone.
//!
//! Allocation tracking (see [`crate::trace`]) adds a `trace_node_id` per node, kept only
//! where it is not 0, and two sections after `edges` (read as above).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Result, SnapshotError};
use crate::graph::{HeapGraph, Location, NodeIndex, Wide32};
use crate::locations::Locations;
use crate::meta::{EdgeLayout, Header, LocationLayout, NodeLayout};
use crate::progress::{Phase, Progress};
use crate::scan::{self, push_records, Key, RecordSink, Sink, Strings};
use crate::source::ByteSource;
use crate::trace::{self, AllocationTraces, TraceFunction, TreeSink};
use crate::types::{EdgeType, NodeType};

/// Capacity for `claimed` records of `fields` numbers each, when at most `bytes` bytes
/// remain: each number takes at least two bytes (a digit and a separator).
fn bounded_capacity(claimed: u64, fields: usize, bytes: u64) -> usize {
    let possible = bytes / (2 * fields.max(1) as u64);
    claimed.min(possible).min(usize::MAX as u64) as usize
}

#[derive(Clone, Copy)]
enum NodeField {
    Type,
    Name,
    Id,
    SelfSize,
    EdgeCount,
    Detachedness,
    TraceNodeId,
    Ignored,
}

struct NodeSink {
    fields: Vec<NodeField>,
    /// Where each field sits in a record (for whole records, see `push_many`).
    at: NodeFieldsAt,
    /// The self sizes so far: every size shown later is a sum over some nodes, so their
    /// total is checked once, as the nodes are read (an error in `nodes` is reported
    /// before any in the sections after it).
    total_self_size: u64,
    field: usize,
    ordinal: u64,
    type_map: Vec<u8>,
    node_type: Vec<u8>,
    node_name: Vec<u32>,
    node_id: Wide32,
    node_self_size: Wide32,
    edge_count: Vec<u32>,
    detachedness: Vec<u8>,
    /// (node ordinal, V8 trace node id) of the nodes whose id is not 0: none at all
    /// without allocation tracking, so an untracked snapshot pays one compare a node.
    traced: Vec<(u32, u32)>,
}

impl NodeSink {
    fn new(layout: &NodeLayout, capacity: usize) -> Self {
        let mut fields = vec![NodeField::Ignored; layout.field_count];
        fields[layout.type_at] = NodeField::Type;
        fields[layout.name_at] = NodeField::Name;
        fields[layout.id_at] = NodeField::Id;
        fields[layout.self_size_at] = NodeField::SelfSize;
        fields[layout.edge_count_at] = NodeField::EdgeCount;
        if let Some(d) = layout.detachedness_at {
            fields[d] = NodeField::Detachedness;
        }
        if let Some(t) = layout.trace_node_id_at {
            fields[t] = NodeField::TraceNodeId;
        }
        let type_map = layout
            .types
            .iter()
            .map(|t| NodeType::from_name(t) as u8)
            .collect();
        NodeSink {
            total_self_size: 0,
            fields,
            at: NodeFieldsAt {
                ty: layout.type_at,
                name: layout.name_at,
                id: layout.id_at,
                self_size: layout.self_size_at,
                edge_count: layout.edge_count_at,
                detachedness: layout.detachedness_at,
                trace_node_id: layout.trace_node_id_at,
            },
            field: 0,
            ordinal: 0,
            type_map,
            node_type: Vec::with_capacity(capacity),
            node_name: Vec::with_capacity(capacity),
            node_id: Wide32::with_capacity(capacity),
            node_self_size: Wide32::with_capacity(capacity),
            // One more for the prefix sum's final total.
            edge_count: Vec::with_capacity(capacity + 1),
            detachedness: if layout.detachedness_at.is_some() {
                Vec::with_capacity(capacity)
            } else {
                Vec::new()
            },
            traced: Vec::new(),
        }
    }

    fn bad(&self, field: &'static str, value: u64, why: impl Into<String>) -> SnapshotError {
        SnapshotError::BadValue {
            record: "node",
            index: self.ordinal,
            field,
            value,
            why: why.into(),
        }
    }
}

/// The positions of a node record's fields.
struct NodeFieldsAt {
    ty: usize,
    name: usize,
    id: usize,
    self_size: usize,
    edge_count: usize,
    detachedness: Option<usize>,
    trace_node_id: Option<usize>,
}

impl NodeSink {
    #[inline(always)]
    fn add_self_size(&mut self, size: u64) -> Result<()> {
        match self.total_self_size.checked_add(size) {
            Some(total) => {
                self.total_self_size = total;
                Ok(())
            }
            None => Err(self.bad("self_size", size, "the self sizes add up past 2^64 bytes")),
        }
    }

    /// A node allocated while tracking was on (the ordinal is the current record's).
    #[cold]
    #[inline(never)]
    fn push_trace(&mut self, id: u64) -> Result<()> {
        let Ok(id) = u32::try_from(id) else {
            return Err(self.bad("trace_node_id", id, "past any trace node id"));
        };
        self.traced.push((self.ordinal as u32, id));
        Ok(())
    }

    /// One whole record: the same checks as field by field, in the same order, without
    /// deciding per number which field it is.
    #[inline(always)]
    fn push_record(&mut self, r: &[u64]) -> Result<()> {
        let at = &self.at;
        let (ty, name, edges) = (r[at.ty], r[at.name], r[at.edge_count]);
        let Some(&t) = self.type_map.get(ty as usize) else {
            return Err(self.bad(
                "type",
                ty,
                format!("but meta lists {} node types", self.type_map.len()),
            ));
        };
        let Ok(name) = u32::try_from(name) else {
            return Err(self.bad("name", name, "past any string index"));
        };
        let Ok(edges) = u32::try_from(edges) else {
            return Err(self.bad("edge_count", edges, "more edges than a snapshot can hold"));
        };
        let (id, size) = (r[at.id], r[at.self_size]);
        let detachedness = at.detachedness.map(|d| r[d].min(255) as u8);
        let trace = at.trace_node_id.map_or(0, |t| r[t]);
        self.add_self_size(size)?;
        if trace != 0 {
            self.push_trace(trace)?;
        }
        self.node_type.push(t);
        self.node_name.push(name);
        self.node_id.push(id);
        self.node_self_size.push(size);
        self.edge_count.push(edges);
        if let Some(d) = detachedness {
            self.detachedness.push(d);
        }
        self.ordinal += 1;
        Ok(())
    }
}

impl Sink for NodeSink {
    #[inline(always)]
    fn push_many(&mut self, values: &[u64]) -> Result<()> {
        push_records(
            self,
            values,
            |s| s.field,
            |s| s.fields.len(),
            Self::push_record,
        )
    }

    #[inline(always)]
    fn push(&mut self, v: u64) -> Result<()> {
        match self.fields[self.field] {
            NodeField::Type => match self.type_map.get(v as usize) {
                Some(&t) => self.node_type.push(t),
                None => {
                    return Err(self.bad(
                        "type",
                        v,
                        format!("but meta lists {} node types", self.type_map.len()),
                    ))
                }
            },
            NodeField::Name => match u32::try_from(v) {
                Ok(x) => self.node_name.push(x),
                Err(_) => return Err(self.bad("name", v, "past any string index")),
            },
            NodeField::Id => self.node_id.push(v),
            NodeField::SelfSize => {
                self.add_self_size(v)?;
                self.node_self_size.push(v);
            }
            NodeField::EdgeCount => match u32::try_from(v) {
                Ok(x) => self.edge_count.push(x),
                Err(_) => {
                    return Err(self.bad("edge_count", v, "more edges than a snapshot can hold"))
                }
            },
            NodeField::Detachedness => self.detachedness.push(v.min(255) as u8),
            NodeField::TraceNodeId => {
                if v != 0 {
                    self.push_trace(v)?;
                }
            }
            NodeField::Ignored => {}
        }
        self.field += 1;
        if self.field == self.fields.len() {
            self.field = 0;
            self.ordinal += 1;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum EdgeField {
    Type,
    Name,
    To,
    Ignored,
}

struct EdgeSink {
    fields: Vec<EdgeField>,
    /// Where the type, name and target sit in a record.
    at: [usize; 3],
    field: usize,
    ordinal: u64,
    type_map: Vec<u8>,
    node_fields: u64,
    node_count: u64,
    edge_type: Vec<u8>,
    edge_name: Vec<u32>,
    edge_to: Vec<u32>,
}

impl EdgeSink {
    fn new(layout: &EdgeLayout, node_fields: usize, node_count: u64, capacity: usize) -> Self {
        let mut fields = vec![EdgeField::Ignored; layout.field_count];
        fields[layout.type_at] = EdgeField::Type;
        fields[layout.name_at] = EdgeField::Name;
        fields[layout.to_at] = EdgeField::To;
        let type_map = layout
            .types
            .iter()
            .map(|t| EdgeType::from_name(t) as u8)
            .collect();
        EdgeSink {
            fields,
            at: [layout.type_at, layout.name_at, layout.to_at],
            field: 0,
            ordinal: 0,
            type_map,
            node_fields: node_fields as u64,
            node_count,
            edge_type: Vec::with_capacity(capacity),
            edge_name: Vec::with_capacity(capacity),
            edge_to: Vec::with_capacity(capacity),
        }
    }

    fn bad(&self, field: &'static str, value: u64, why: impl Into<String>) -> SnapshotError {
        SnapshotError::BadValue {
            record: "edge",
            index: self.ordinal,
            field,
            value,
            why: why.into(),
        }
    }
}

impl EdgeSink {
    /// One whole record, checked as field by field.
    #[inline(always)]
    fn push_record(&mut self, r: &[u64]) -> Result<()> {
        let (ty, name, to) = (r[self.at[0]], r[self.at[1]], r[self.at[2]]);
        let Some(&t) = self.type_map.get(ty as usize) else {
            return Err(self.bad(
                "type",
                ty,
                format!("but meta lists {} edge types", self.type_map.len()),
            ));
        };
        let Ok(name) = u32::try_from(name) else {
            return Err(self.bad("name_or_index", name, "past any string or element index"));
        };
        let (ordinal, rest) = split_node_index(to, self.node_fields);
        if rest != 0 {
            return Err(self.bad(
                "to_node",
                to,
                format!("not a multiple of the {} node fields", self.node_fields),
            ));
        }
        if ordinal >= self.node_count {
            return Err(self.bad(
                "to_node",
                to,
                format!("past the nodes array ({} nodes)", self.node_count),
            ));
        }
        self.edge_type.push(t);
        self.edge_name.push(name);
        self.edge_to.push(ordinal as u32);
        self.ordinal += 1;
        Ok(())
    }
}

impl Sink for EdgeSink {
    #[inline(always)]
    fn push_many(&mut self, values: &[u64]) -> Result<()> {
        push_records(
            self,
            values,
            |s| s.field,
            |s| s.fields.len(),
            Self::push_record,
        )
    }

    #[inline(always)]
    fn push(&mut self, v: u64) -> Result<()> {
        match self.fields[self.field] {
            EdgeField::Type => match self.type_map.get(v as usize) {
                Some(&t) => self.edge_type.push(t),
                None => {
                    return Err(self.bad(
                        "type",
                        v,
                        format!("but meta lists {} edge types", self.type_map.len()),
                    ))
                }
            },
            EdgeField::Name => match u32::try_from(v) {
                Ok(x) => self.edge_name.push(x),
                Err(_) => {
                    return Err(self.bad("name_or_index", v, "past any string or element index"))
                }
            },
            EdgeField::To => {
                let (ordinal, rest) = split_node_index(v, self.node_fields);
                if rest != 0 {
                    return Err(self.bad(
                        "to_node",
                        v,
                        format!("not a multiple of the {} node fields", self.node_fields),
                    ));
                }
                if ordinal >= self.node_count {
                    return Err(self.bad(
                        "to_node",
                        v,
                        format!("past the nodes array ({} nodes)", self.node_count),
                    ));
                }
                self.edge_to.push(ordinal as u32);
            }
            EdgeField::Ignored => {}
        }
        self.field += 1;
        if self.field == self.fields.len() {
            self.field = 0;
            self.ordinal += 1;
        }
        Ok(())
    }
}

/// `index / fields` and `index % fields`. Every snapshot has 6 or 7 node fields, and a
/// division by a constant is a multiplication, where one by a variable costs tens of cycles
/// on each of tens of millions of edges.
#[inline(always)]
fn split_node_index(index: u64, fields: u64) -> (u64, u64) {
    match fields {
        6 => (index / 6, index % 6),
        7 => (index / 7, index % 7),
        _ => (index / fields, index % fields),
    }
}

struct LocationSink {
    layout: LocationLayout,
    record: [u64; 8],
    field: usize,
    node_fields: u64,
    node_count: u64,
    out: Vec<Location>,
}

impl Sink for LocationSink {
    fn push(&mut self, v: u64) -> Result<()> {
        if let Some(slot) = self.record.get_mut(self.field) {
            *slot = v;
        }
        self.field += 1;
        if self.field < self.layout.field_count {
            return Ok(());
        }
        self.field = 0;
        let r = &self.record;
        let l = &self.layout;
        let get = |at: usize| r.get(at).copied().unwrap_or(0);
        let object = get(l.node_at);
        let bad = |field: &'static str, value: u64, why: &str| SnapshotError::BadValue {
            record: "location",
            index: self.out.len() as u64,
            field,
            value,
            why: why.into(),
        };
        if object % self.node_fields != 0 || object / self.node_fields >= self.node_count {
            return Err(bad("object_index", object, "not the index of a node"));
        }
        let small = |field: &'static str, at: usize| {
            u32::try_from(get(at)).map_err(|_| bad(field, get(at), "out of range"))
        };
        self.out.push(Location {
            node: NodeIndex((object / self.node_fields) as u32),
            script_id: small("script_id", l.script_at)?,
            line: small("line", l.line_at)?,
            column: small("column", l.column_at)?,
        });
        Ok(())
    }
}

/// Reads a whole snapshot from `src`.
pub fn read_graph(src: &dyn ByteSource, progress: &Progress) -> Result<HeapGraph> {
    progress.start(Phase::Header, src.len());
    progress.step("parse");
    let (header, h_end) = read_header(src)?;
    if header.node_count > u32::MAX as u64 - 1 || header.edge_count > u32::MAX as u64 - 1 {
        return Err(SnapshotError::Meta(format!(
            "{} nodes and {} edges: more than this reader supports (2^32 each)",
            header.node_count, header.edge_count
        )));
    }
    let nodes_key = expect_key(src, h_end, "nodes")?;
    progress.start(Phase::Parsing, src.len() - nodes_key.value_start);
    let len = src.len();

    // Set when one side fails, so the other stops at its next block instead of
    // parsing the rest of a file whose result is already an error.
    let abort = AtomicBool::new(false);
    let advance = |b: u64| -> Result<()> {
        progress.advance(b)?;
        if abort.load(Ordering::Relaxed) {
            return Err(SnapshotError::Cancelled);
        }
        Ok(())
    };
    let (send_count, string_count) = std::sync::mpsc::channel::<u64>();
    // Where the node thread found the first section after `edges`, once it has read them.
    let (send_tail_at, tail_at) = std::sync::mpsc::channel::<u64>();
    let (node_part, edges) = std::thread::scope(|s| {
        let header = &header;
        let edge_job = s.spawn(|| -> Result<(EdgeSink, Option<Tail>, bool)> {
            // The string count arrives from the other thread once it has read `strings`.
            let string_count = string_count;
            let tail_at = tail_at;
            let r = (|| {
                let nodes_end =
                    scan::skip_number_array(src, nodes_key.value_start, "the `nodes` array")?;
                let edges_key = expect_key(src, nodes_end, "edges")?;
                let cap = bounded_capacity(
                    header.edge_count,
                    header.edges.field_count,
                    len - edges_key.value_start,
                );
                let mut sink = EdgeSink::new(
                    &header.edges,
                    header.nodes.field_count,
                    header.node_count,
                    cap,
                );
                let edges_end = scan::parse_numbers(
                    src,
                    edges_key.value_start,
                    "the `edges` array",
                    &mut sink,
                    advance,
                )?;
                // The sections after `edges` are the other thread's when it has read
                // them from the first one's key and that key is where `edges` ends.
                let read_there = match tail_at.try_recv() {
                    Ok(at) => {
                        matches!(scan::read_key(src, edges_end), Ok(Some(k)) if k.value_start == at)
                    }
                    Err(_) => false,
                };
                let tail = if read_there {
                    None
                } else {
                    Some(read_tail(src, header, edges_end, progress)?)
                };
                // Check the edge names here, beside the other thread's work. Without a
                // count (the other side failed, or found no `strings` from the end) the
                // check happens after both.
                let checked = match string_count.recv() {
                    Ok(count) => {
                        check_edge_names(&sink, count)?;
                        true
                    }
                    Err(_) => false,
                };
                Ok((sink, tail, checked))
            })();
            if r.is_err() {
                abort.store(true, Ordering::Relaxed);
            }
            r
        });
        let node_part = (|| -> Result<NodePart> {
            // Owned here so it is dropped when this side ends, however it ends: the edge
            // thread waiting for the count then stops waiting.
            let send_count = send_count;
            let send_tail_at = send_tail_at;
            let cap = bounded_capacity(
                header.node_count,
                header.nodes.field_count,
                len - nodes_key.value_start,
            );
            let mut sink = NodeSink::new(&header.nodes, cap);
            let nodes_end = scan::parse_numbers(
                src,
                nodes_key.value_start,
                "the `nodes` array",
                &mut sink,
                advance,
            )?;
            if sink.field != 0 {
                return Err(SnapshotError::Meta(format!(
                    "the nodes array does not hold whole records of {} numbers",
                    header.nodes.field_count
                )));
            }
            // `strings` is last: found from the end, it is read while the other thread
            // is still on `edges` (the key's place is checked against its forward walk).
            let Some(key) = scan::find_last_key(src, "strings", nodes_end, || advance(0))? else {
                return Ok(NodePart {
                    nodes: sink,
                    strings: None,
                    tail: None,
                });
            };
            progress.check()?;
            let strings = scan::parse_strings(src, key.value_start)?;
            let count = strings.len() as u64;
            let _ = send_count.send(count);
            check_node_names(&sink, count)?;
            // Then the sections between `edges` and `strings` (positions, allocation
            // traces: seconds at 10^8 nodes), from the first one V8 writes, found from
            // `strings` back, while the other thread is still on `edges`. It takes them if
            // `edges` ends at that key and they are ready; anything amiss here (a hostile
            // file, a snapshot without that key) leaves them to its forward walk, whose
            // errors come in the file's order.
            let first = scan::find_last_key_in(
                src,
                "trace_function_infos",
                nodes_end..key.value_start,
                || advance(0),
            );
            let tail = first.ok().flatten().and_then(|first| {
                let at = first.value_start;
                let tail = read_tail_from(src, header, at, Some(first), progress).ok()?;
                let _ = send_tail_at.send(at);
                Some(tail)
            });
            Ok(NodePart {
                nodes: sink,
                strings: Some((key.value_start, strings)),
                tail,
            })
        })();
        if node_part.is_err() {
            abort.store(true, Ordering::Relaxed);
        }
        let edges = edge_job.join().unwrap_or_else(|_| {
            Err(SnapshotError::Meta(
                "the edge reader thread panicked".into(),
            ))
        });
        (node_part, edges)
    });
    // Report the error that caused the other side to stop, not its `Cancelled`.
    let (
        NodePart {
            nodes,
            strings: from_end,
            tail: tail_from_end,
        },
        (edges, tail, edges_checked),
    ) = match (node_part, edges) {
        (Ok(n), Ok(e)) => (n, e),
        (Err(SnapshotError::Cancelled), Err(e)) if !progress.is_cancelled() => return Err(e),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    // The edge thread reads the sections itself unless it took the node thread's.
    let Some(tail) = tail.or(tail_from_end) else {
        return Err(SnapshotError::Meta(
            "the sections after `edges` were read by neither thread".into(),
        ));
    };
    // The forward walk decides where `strings` is; what was read from the end counts
    // only if it was there.
    let strings = match from_end {
        Some((at, strings)) if at == tail.strings_at => strings,
        _ => {
            let strings = scan::parse_strings(src, tail.strings_at)?;
            check_node_names(&nodes, strings.len() as u64)?;
            check_edge_names(&edges, strings.len() as u64)?;
            strings
        }
    };
    if !edges_checked {
        check_edge_names(&edges, strings.len() as u64)?;
    }
    let rest = Rest {
        locations: tail.locations,
        trace_functions: tail.trace_functions,
        trace_tree: tail.trace_tree,
        strings,
    };
    progress.start(Phase::Validating, 0);
    progress.step("validate");
    let graph = assemble(header, nodes, edges, rest);
    progress.end_step();
    graph
}

/// What the node thread read: `nodes`, then `strings` (where its `[` ends, and the
/// strings) and the sections between `edges` and `strings` when it found them.
struct NodePart {
    nodes: NodeSink,
    strings: Option<(u64, Strings)>,
    tail: Option<Tail>,
}

struct Rest {
    locations: Vec<Location>,
    trace_functions: Vec<TraceFunction>,
    trace_tree: TreeSink,
    strings: Strings,
}

fn past_strings(
    record: &'static str,
    field: &'static str,
    index: usize,
    value: u32,
    count: u64,
) -> SnapshotError {
    SnapshotError::BadValue {
        record,
        index: index as u64,
        field,
        value: value as u64,
        why: format!("past the {count} strings"),
    }
}

/// Every node name must be a string index.
fn check_node_names(nodes: &NodeSink, count: u64) -> Result<()> {
    match nodes.node_name.iter().position(|&n| n as u64 >= count) {
        Some(i) => Err(past_strings("node", "name", i, nodes.node_name[i], count)),
        None => Ok(()),
    }
}

/// Every edge name that is not an index must be a string index.
fn check_edge_names(edges: &EdgeSink, count: u64) -> Result<()> {
    let bad = edges
        .edge_type
        .iter()
        .zip(&edges.edge_name)
        .position(|(&t, &n)| !EdgeType::from_code(t).has_index_name() && n as u64 >= count);
    match bad {
        Some(i) => Err(past_strings(
            "edge",
            "name_or_index",
            i,
            edges.edge_name[i],
            count,
        )),
        None => Ok(()),
    }
}

/// Reads and resolves the `snapshot` header; returns it and the offset just after it.
pub(crate) fn read_header(src: &dyn ByteSource) -> Result<(Header, u64)> {
    let (h_start, h_end) = scan::find_header(src)?;
    let mut json = vec![0u8; (h_end - h_start) as usize];
    let n = src.read_at(&mut json, h_start)?;
    json.truncate(n);
    Ok((Header::parse(&json, h_start)?, h_end))
}

pub(crate) fn expect_key(src: &dyn ByteSource, pos: u64, name: &str) -> Result<Key> {
    match scan::read_key(src, pos)? {
        Some(k) if k.name == name => Ok(k),
        Some(k) => Err(SnapshotError::syntax(
            k.value_start,
            format!("expected the `{name}` array, found `{}`", k.name),
        )),
        None => Err(SnapshotError::Meta(format!(
            "the snapshot has no `{name}` array"
        ))),
    }
}

/// What follows `edges`: the allocation-tracking arrays and `locations` (parsed),
/// `samples` (skipped) and the place of `strings`, which V8 always writes last.
struct Tail {
    locations: Vec<Location>,
    trace_functions: Vec<TraceFunction>,
    trace_tree: TreeSink,
    /// Offset just after the `strings` array's `[`.
    strings_at: u64,
}

/// Walks the keys after `edges` up to `strings`, parsing `locations` and the allocation
/// traces on the way.
fn read_tail(
    src: &dyn ByteSource,
    header: &Header,
    edges_end: u64,
    progress: &Progress,
) -> Result<Tail> {
    read_tail_from(src, header, edges_end, None, progress)
}

/// [`read_tail`] starting at `first`, a key already read (its place is the caller's to
/// check), or at the key after `pos`.
fn read_tail_from(
    src: &dyn ByteSource,
    header: &Header,
    mut pos: u64,
    mut first: Option<Key>,
    progress: &Progress,
) -> Result<Tail> {
    let mut locations = Vec::new();
    let mut trace_functions = Vec::new();
    let mut trace_tree = TreeSink::empty();
    loop {
        progress.check()?;
        let key = match first.take() {
            Some(key) => key,
            None => match scan::read_key(src, pos)? {
                Some(key) => key,
                None => {
                    return Err(SnapshotError::Meta(
                        "the snapshot has no `strings` array".into(),
                    ))
                }
            },
        };
        match key.name.as_str() {
            "strings" => {
                return Ok(Tail {
                    locations,
                    trace_functions,
                    trace_tree,
                    strings_at: key.value_start,
                })
            }
            "trace_function_infos" => {
                let Some(layout) = &header.trace_functions else {
                    pos = scan::skip_number_array(
                        src,
                        key.value_start,
                        "the `trace_function_infos` array",
                    )?;
                    continue;
                };
                // The header's count is a hint (functions met while V8 writes are
                // not in it); the bytes left bound it.
                let cap = bounded_capacity(
                    header.trace_function_count,
                    layout.field_count,
                    src.len() - key.value_start,
                )
                .min(1 << 20);
                let (functions, end) = trace::parse_functions(src, key.value_start, layout, cap)?;
                trace_functions = functions;
                pos = end;
            }
            "trace_tree" => {
                let Some(layout) = &header.trace_nodes else {
                    pos = scan::skip_number_array(src, key.value_start, "the `trace_tree` array")?;
                    continue;
                };
                let (tree, end) = trace::parse_tree(src, key.value_start, layout)?;
                trace_tree = tree;
                pos = end;
            }
            "locations" => {
                let Some(layout) = header.locations.clone() else {
                    pos = scan::skip_number_array(src, key.value_start, "the `locations` array")?;
                    continue;
                };
                let remaining = src.len() - key.value_start;
                let mut sink = LocationSink {
                    record: [0; 8],
                    field: 0,
                    node_fields: header.nodes.field_count as u64,
                    node_count: header.node_count,
                    out: Vec::with_capacity(
                        bounded_capacity(header.node_count, layout.field_count, remaining)
                            .min(1 << 20),
                    ),
                    layout,
                };
                pos = scan::parse_numbers(
                    src,
                    key.value_start,
                    "the `locations` array",
                    &mut sink,
                    |_| Ok(()),
                )?;
                if sink.field != 0 {
                    return Err(SnapshotError::Meta(
                        "the locations array does not hold whole records".into(),
                    ));
                }
                locations = sink.out;
            }
            "nodes" | "edges" => {
                return Err(SnapshotError::syntax(
                    key.value_start,
                    format!("a second `{}` array", key.name),
                ));
            }
            _ => pos = scan::skip_number_array(src, key.value_start, "a tracing array")?,
        }
    }
}

fn assemble(header: Header, nodes: NodeSink, edges: EdgeSink, rest: Rest) -> Result<HeapGraph> {
    // Every size shown later (retained sizes, class totals) is a sum over some of the
    // nodes: the sink checked the sum of all of them as it read them.
    let node_count = nodes.node_type.len() as u64;
    if node_count != header.node_count {
        return Err(SnapshotError::CountMismatch {
            what: "node_count",
            expected: header.node_count,
            actual: node_count,
        });
    }
    if edges.field != 0 {
        return Err(SnapshotError::Meta(format!(
            "the edges array does not hold whole records of {} numbers",
            header.edges.field_count
        )));
    }
    let edge_count = edges.edge_type.len() as u64;
    if edge_count != header.edge_count {
        return Err(SnapshotError::CountMismatch {
            what: "edge_count",
            expected: header.edge_count,
            actual: edge_count,
        });
    }
    // Edge counts become CSR offsets in place.
    let mut first_edge = nodes.edge_count;
    let mut sum: u64 = 0;
    for c in first_edge.iter_mut() {
        let here = sum;
        sum += *c as u64;
        *c = here.min(u32::MAX as u64) as u32;
    }
    if sum != edge_count {
        return Err(SnapshotError::CountMismatch {
            what: "edges owned by nodes (sum of edge_count)",
            expected: sum,
            actual: edge_count,
        });
    }
    first_edge.push(sum as u32);
    let locations = Locations::new(rest.locations, node_count as usize);
    let traces =
        if nodes.traced.is_empty() && rest.trace_functions.is_empty() && rest.trace_tree.is_empty()
        {
            AllocationTraces::default()
        } else {
            AllocationTraces::assemble(
                rest.trace_functions,
                rest.trace_tree,
                nodes.traced,
                node_count as usize,
                &rest.strings,
            )?
        };
    Ok(HeapGraph {
        header,
        node_type: nodes.node_type,
        node_name: nodes.node_name,
        node_id: nodes.node_id,
        node_self_size: nodes.node_self_size,
        first_edge,
        node_detachedness: nodes.detachedness,
        edge_type: edges.edge_type,
        edge_name: edges.edge_name,
        edge_to: edges.edge_to,
        strings: rest.strings,
        locations,
        traces,
    })
}

/// The largest odd node id (JS objects) in a snapshot, reading only the header and the
/// `nodes` array: what the 3-snapshot diff needs of the baseline and target.
pub fn scan_max_js_id(src: &dyn ByteSource, progress: &Progress) -> Result<IdScan> {
    progress.start(Phase::Header, src.len());
    let (header, h_end) = read_header(src)?;
    let key = expect_key(src, h_end, "nodes")?;
    progress.start(Phase::Parsing, src.len() - key.value_start);
    let fields = header.nodes.field_count;
    let id_at = header.nodes.id_at;
    let mut count = 0u64;
    let mut max_odd = 0u64;
    let mut max_any = 0u64;
    let mut sink = RecordSink::new(
        |r: &[u64]| {
            let id = r[id_at];
            if id & 1 == 1 && id > max_odd {
                max_odd = id;
            }
            max_any = max_any.max(id);
            count += 1;
            Ok(())
        },
        fields,
        &[id_at],
    );
    scan::parse_numbers(src, key.value_start, "the `nodes` array", &mut sink, |b| {
        progress.advance(b)
    })?;
    if sink.partial() {
        return Err(SnapshotError::Meta(format!(
            "the nodes array does not hold whole records of {fields} numbers"
        )));
    }
    drop(sink);
    if count != header.node_count {
        return Err(SnapshotError::CountMismatch {
            what: "node_count",
            expected: header.node_count,
            actual: count,
        });
    }
    Ok(IdScan {
        max_js_id: max_odd,
        max_id: max_any,
        node_count: count,
    })
}

/// What an id-only scan learns of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdScan {
    /// Largest odd id (JS heap objects), 0 if none.
    pub max_js_id: u64,
    /// Largest id of any kind.
    pub max_id: u64,
    /// Nodes in the snapshot.
    pub node_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Root → a function (with a position) and an object; allocation traces; a `samples`
    /// section to skip.
    const TRACKED: &str = concat!(
        r#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"#,
        r#""node_types":[["hidden","object","closure"],"string","number","number","number","number","number"],"#,
        r#""edge_fields":["type","name_or_index","to_node"],"edge_types":[["element","property"],"string_or_number","node"],"#,
        r#""trace_function_info_fields":["function_id","name","script_name","script_id","line","column"],"#,
        r#""trace_node_fields":["id","function_info_index","count","size","children"],"#,
        r#""sample_fields":["timestamp_us","last_assigned_id"],"#,
        r#""location_fields":["object_index","script_id","line","column"]},"#,
        r#""node_count":3,"edge_count":2,"trace_function_count":2},"#,
        "\n\"nodes\":[0,1,1,0,2,0,0\n,2,2,3,32,0,2,0\n,1,3,5,16,0,0,0],",
        "\n\"edges\":[1,2,7\n,1,3,14],",
        "\n\"trace_function_infos\":[1,4,5,7,10,3\n,2,2,5,7,20,5],",
        "\n\"trace_tree\":[1,0,0,0,[2,1,1,32,[]]],",
        "\n\"samples\":[10,1],",
        "\n\"locations\":[7,7,20,5],",
        "\n\"strings\":[\"\",\"(root)\",\"handler\",\"Thing\",\"main\",\"/app/main.js\"]}"
    );

    /// The sections after `edges` are the same read forward from where `edges` ends (the
    /// edge thread) or from their first key found from `strings` back (the node thread):
    /// which thread reads them depends on timing, so both ways are checked here.
    #[test]
    fn the_tail_reads_the_same_from_either_end() {
        let src: &[u8] = TRACKED.as_bytes();
        let (header, h_end) = read_header(&src).expect("header");
        let nodes = expect_key(&src, h_end, "nodes").expect("nodes");
        let nodes_end = scan::skip_number_array(&src, nodes.value_start, "nodes").expect("skip");
        let edges = expect_key(&src, nodes_end, "edges").expect("edges");
        let edges_end = scan::skip_number_array(&src, edges.value_start, "edges").expect("skip");
        let strings = scan::find_last_key(&src, "strings", nodes_end, || Ok(()))
            .expect("search")
            .expect("strings");
        let first = scan::find_last_key_in(
            &src,
            "trace_function_infos",
            nodes_end..strings.value_start,
            || Ok(()),
        )
        .expect("search")
        .expect("the first section's key");
        let progress = Progress::new();
        let forward = read_tail(&src, &header, edges_end, &progress).expect("forward");
        let at = first.value_start;
        assert_eq!(
            scan::read_key(&src, edges_end)
                .expect("key")
                .map(|k| k.value_start),
            Some(at),
            "the edge thread's check finds the same key"
        );
        let backward = read_tail_from(&src, &header, at, Some(first), &progress).expect("back");
        assert_eq!(forward.locations, backward.locations);
        assert_eq!(forward.locations.len(), 1);
        assert_eq!(forward.trace_functions.len(), 2);
        assert_eq!(
            forward.trace_functions.len(),
            backward.trace_functions.len()
        );
        assert_eq!(forward.strings_at, backward.strings_at);
        assert_eq!(forward.strings_at, strings.value_start);
        // And the whole read agrees, whichever thread took them.
        let graph = read_graph(&src, &progress).expect("graph");
        assert_eq!(graph.locations(), &forward.locations[..]);
        assert!(graph.allocation_stack(NodeIndex(1)).is_some());
    }
}
