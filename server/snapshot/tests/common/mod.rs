//! A generator of small V8-format snapshots for tests: build a graph in code, write it as
//! the JSON V8 would, in the layout of a chosen Node version.

#![allow(dead_code, missing_docs)]

use std::fmt::Write;

/// Which `meta` layout to write.
#[derive(Clone, Copy, Debug)]
pub enum Layout {
    /// Node 14: 6 fields, no `detachedness`, no `location_fields` order changes.
    Node14,
    /// Node 16–22: 7 fields.
    Node20,
    /// Node 24+: 6 fields, no `trace_node_id`.
    Node24,
    /// Node 24+ with allocation tracking on: `trace_node_id` is back (7 fields).
    Node24Tracked,
}

pub const NODE_TYPES: [&str; 15] = [
    "hidden",
    "array",
    "string",
    "object",
    "code",
    "closure",
    "regexp",
    "number",
    "native",
    "synthetic",
    "concatenated string",
    "sliced string",
    "symbol",
    "bigint",
    "object shape",
];
pub const EDGE_TYPES: [&str; 7] = [
    "context", "element", "property", "internal", "hidden", "shortcut", "weak",
];

pub fn nt(name: &str) -> u32 {
    NODE_TYPES
        .iter()
        .position(|t| *t == name)
        .expect("node type") as u32
}
pub fn et(name: &str) -> u32 {
    EDGE_TYPES
        .iter()
        .position(|t| *t == name)
        .expect("edge type") as u32
}

#[derive(Clone, Debug)]
pub struct GenNode {
    pub ty: u32,
    pub name: String,
    pub id: u64,
    pub self_size: u64,
    pub edges: Vec<(u32, String, u32)>,
    /// `trace_node_id` (0: untracked).
    pub trace: u64,
}

/// One `trace_function_infos` record as V8 writes it (line and column 1-based).
#[derive(Clone, Debug)]
pub struct TraceFn {
    pub name: String,
    pub script: String,
    pub script_id: u64,
    pub line: u64,
    pub column: u64,
}

/// A graph under construction. Node 0 is the root.
#[derive(Default, Clone, Debug)]
pub struct Gen {
    pub nodes: Vec<GenNode>,
    pub locations: Vec<[u64; 4]>,
    /// `trace_function_infos`.
    pub trace_functions: Vec<TraceFn>,
    /// The `trace_tree` array's contents, as text (empty: `[]`).
    pub trace_tree: String,
}

impl Gen {
    /// Starts with a synthetic root.
    pub fn new() -> Self {
        let mut g = Gen::default();
        g.node("synthetic", "", 0);
        g
    }
    /// Adds a node; returns its ordinal.
    pub fn node(&mut self, ty: &str, name: &str, self_size: u64) -> u32 {
        let i = self.nodes.len() as u32;
        self.nodes.push(GenNode {
            ty: nt(ty),
            name: name.to_string(),
            id: 2 * i as u64 + 1,
            self_size,
            edges: Vec::new(),
            trace: 0,
        });
        i
    }
    /// Adds an edge; `name` is a property name, or an index for element/hidden edges.
    pub fn edge(&mut self, from: u32, ty: &str, name: &str, to: u32) {
        self.nodes[from as usize]
            .edges
            .push((et(ty), name.to_string(), to));
    }

    /// The JSON text, as V8 writes it (one record per line).
    pub fn to_json(&self, layout: Layout) -> String {
        let mut strings: Vec<String> = vec!["<dummy>".into()];
        let mut index = std::collections::HashMap::new();
        let mut intern = |s: &str, strings: &mut Vec<String>| -> u64 {
            *index.entry(s.to_string()).or_insert_with(|| {
                strings.push(s.to_string());
                strings.len() as u64 - 1
            })
        };
        let fields: &[&str] = match layout {
            Layout::Node14 => &[
                "type",
                "name",
                "id",
                "self_size",
                "edge_count",
                "trace_node_id",
            ],
            Layout::Node20 => &[
                "type",
                "name",
                "id",
                "self_size",
                "edge_count",
                "trace_node_id",
                "detachedness",
            ],
            Layout::Node24 => &[
                "type",
                "name",
                "id",
                "self_size",
                "edge_count",
                "detachedness",
            ],
            Layout::Node24Tracked => &[
                "type",
                "name",
                "id",
                "self_size",
                "edge_count",
                "trace_node_id",
                "detachedness",
            ],
        };
        let nf = fields.len() as u64;
        let mut nodes = String::new();
        let mut edges = String::new();
        let mut edge_count = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            let name = intern(&n.name, &mut strings);
            let mut rec = vec![n.ty as u64, name, n.id, n.self_size, n.edges.len() as u64];
            match layout {
                Layout::Node14 => rec.push(n.trace),
                Layout::Node20 | Layout::Node24Tracked => rec.extend([n.trace, 0]),
                Layout::Node24 => rec.push(0),
            }
            let sep = if i == 0 { "" } else { ",\n" };
            let _ = write!(nodes, "{sep}{}", join(&rec));
            for (ty, ename, to) in &n.edges {
                let name_or_index = if *ty == et("element") || *ty == et("hidden") {
                    ename.parse::<u64>().unwrap_or(0)
                } else {
                    intern(ename, &mut strings)
                };
                let sep = if edge_count == 0 { "" } else { ",\n" };
                let _ = write!(
                    edges,
                    "{sep}{}",
                    join(&[*ty as u64, name_or_index, *to as u64 * nf])
                );
                edge_count += 1;
            }
        }
        let mut locs = String::new();
        for (i, l) in self.locations.iter().enumerate() {
            let sep = if i == 0 { "" } else { ",\n" };
            let _ = write!(locs, "{sep}{},{},{},{}", l[0] * nf, l[1], l[2], l[3]);
        }
        let mut functions = String::new();
        for (i, f) in self.trace_functions.iter().enumerate() {
            let sep = if i == 0 { "" } else { ",\n" };
            let name = intern(&f.name, &mut strings);
            let script = intern(&f.script, &mut strings);
            let _ = write!(
                functions,
                "{sep}{}",
                join(&[i as u64 + 1, name, script, f.script_id, f.line, f.column])
            );
        }
        let strs: Vec<String> = strings
            .iter()
            .map(|s| serde_json::to_string(s).unwrap_or_default())
            .collect();
        let q = |v: &[&str]| {
            v.iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            "{{\"snapshot\":{{\"meta\":{{\"node_fields\":[{}],\"node_types\":[[{}],\"string\",\"number\",\"number\",\"number\",\"number\",\"number\"],\"edge_fields\":[\"type\",\"name_or_index\",\"to_node\"],\"edge_types\":[[{}],\"string_or_number\",\"node\"],\"trace_function_info_fields\":[\"function_id\",\"name\",\"script_name\",\"script_id\",\"line\",\"column\"],\"trace_node_fields\":[\"id\",\"function_info_index\",\"count\",\"size\",\"children\"],\"sample_fields\":[\"timestamp_us\",\"last_assigned_id\"],\"location_fields\":[\"object_index\",\"script_id\",\"line\",\"column\"]}},\"node_count\":{},\"edge_count\":{},\"trace_function_count\":{}}},\n\"nodes\":[{}],\n\"edges\":[{}],\n\"trace_function_infos\":[{}],\n\"trace_tree\":[{}],\n\"samples\":[],\n\"locations\":[{}],\n\"strings\":[{}]}}",
            q(fields),
            q(&NODE_TYPES),
            q(&EDGE_TYPES),
            self.nodes.len(),
            edge_count,
            self.trace_functions.len(),
            nodes,
            edges,
            functions,
            self.trace_tree,
            locs,
            strs.join(",\n")
        )
    }
}

fn join(v: &[u64]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// A small deterministic random number generator (xorshift), so tests need no crate.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
