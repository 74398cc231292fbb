//! A generator of large or hostile snapshots for tests: nodes and edges are kept in flat
//! columns and written straight to V8's JSON (Node 24 layout, six node fields), so a
//! three-million-node graph costs tens of megabytes, not a `String` per node. Strings are
//! kept as JSON literals, so a test can write escapes (lone surrogates) a Rust string cannot
//! hold, and the header's counts can be made to lie.
//!
//! Shared with `server/leaks` (its tests and `paths.rs`'s) through `#[path]`.

#![allow(dead_code, missing_docs)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Numbers per node record: type, name, id, self_size, edge_count, detachedness.
pub const NODE_FIELDS: u64 = 6;

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

fn code(types: &[&str], name: &str) -> u8 {
    types
        .iter()
        .position(|t| *t == name)
        .unwrap_or_else(|| panic!("unknown type {name}")) as u8
}

/// A snapshot under construction. Node 0 is the root; an edge belongs to the node added
/// last, so a node's edges are added right after it (their targets may come later).
#[derive(Default)]
pub struct Bulk {
    node_type: Vec<u8>,
    node_name: Vec<u32>,
    node_id: Vec<u64>,
    node_size: Vec<u64>,
    edge_count: Vec<u32>,
    edge_type: Vec<u8>,
    edge_name: Vec<u32>,
    /// Target ordinals; `u64` so a test can point past any node.
    edge_to: Vec<u64>,
    /// JSON literals, quotes included.
    strings: Vec<String>,
    string_index: HashMap<String, u32>,
    /// Header counts to write instead of the true ones.
    pub node_count_claim: Option<u64>,
    pub edge_count_claim: Option<u64>,
}

impl Bulk {
    /// A snapshot holding only a synthetic root (id 1).
    pub fn new() -> Bulk {
        let mut b = Bulk::default();
        b.string("<dummy>");
        b.node("synthetic", "", 1, 0);
        b
    }

    /// The index of string `s` (added once).
    pub fn string(&mut self, s: &str) -> u32 {
        let literal = serde_json::to_string(s).expect("a string serializes");
        self.raw_string(&literal)
    }

    /// The index of a string given as its JSON literal, quotes included, written verbatim.
    pub fn raw_string(&mut self, literal: &str) -> u32 {
        if let Some(&i) = self.string_index.get(literal) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(literal.to_owned());
        self.string_index.insert(literal.to_owned(), i);
        i
    }

    /// Adds a node named by string `name`; returns its ordinal.
    pub fn node(&mut self, ty: &str, name: &str, id: u64, self_size: u64) -> u32 {
        let name = self.string(name);
        self.node_named(ty, name, id, self_size)
    }

    /// Adds a node whose name is string index `name`.
    pub fn node_named(&mut self, ty: &str, name: u32, id: u64, self_size: u64) -> u32 {
        let ordinal = self.node_type.len() as u32;
        self.node_type.push(code(&NODE_TYPES, ty));
        self.node_name.push(name);
        self.node_id.push(id);
        self.node_size.push(self_size);
        self.edge_count.push(0);
        ordinal
    }

    /// Adds an edge from the last node: `name_or_index` is a string index for named edge
    /// types, the index itself for `element` and `hidden`.
    pub fn edge(&mut self, ty: &str, name_or_index: u32, to: u64) {
        let last = self.edge_count.len() - 1;
        self.edge_count[last] += 1;
        self.edge_type.push(code(&EDGE_TYPES, ty));
        self.edge_name.push(name_or_index);
        self.edge_to.push(to);
    }

    pub fn node_count(&self) -> usize {
        self.node_type.len()
    }

    pub fn edge_count(&self) -> usize {
        self.edge_type.len()
    }

    /// The snapshot as V8 would write it.
    pub fn to_json(&self) -> Vec<u8> {
        let numbers = self.node_count() * 6 + self.edge_count() * 3;
        let mut out = Vec::with_capacity(numbers * 8 + 4096);
        let quote = |v: &[&str]| {
            v.iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        out.extend_from_slice(
            format!(
                "{{\"snapshot\":{{\"meta\":{{\"node_fields\":[\"type\",\"name\",\"id\",\"self_size\",\"edge_count\",\"detachedness\"],\
                 \"node_types\":[[{}],\"string\",\"number\",\"number\",\"number\",\"number\"],\
                 \"edge_fields\":[\"type\",\"name_or_index\",\"to_node\"],\
                 \"edge_types\":[[{}],\"string_or_number\",\"node\"],\
                 \"location_fields\":[\"object_index\",\"script_id\",\"line\",\"column\"]}},\
                 \"node_count\":{},\"edge_count\":{},\"trace_function_count\":0}},\n\"nodes\":[",
                quote(&NODE_TYPES),
                quote(&EDGE_TYPES),
                self.node_count_claim.unwrap_or(self.node_count() as u64),
                self.edge_count_claim.unwrap_or(self.edge_count() as u64),
            )
            .as_bytes(),
        );
        for i in 0..self.node_count() {
            if i > 0 {
                out.extend_from_slice(b",\n");
            }
            let record = [
                u64::from(self.node_type[i]),
                u64::from(self.node_name[i]),
                self.node_id[i],
                self.node_size[i],
                u64::from(self.edge_count[i]),
                0,
            ];
            write_numbers(&mut out, &record);
        }
        out.extend_from_slice(b"],\n\"edges\":[");
        for e in 0..self.edge_count() {
            if e > 0 {
                out.extend_from_slice(b",\n");
            }
            let record = [
                u64::from(self.edge_type[e]),
                u64::from(self.edge_name[e]),
                self.edge_to[e].wrapping_mul(NODE_FIELDS),
            ];
            write_numbers(&mut out, &record);
        }
        out.extend_from_slice(b"],\n\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[],\n\"locations\":[],\n\"strings\":[");
        for (i, s) in self.strings.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",\n");
            }
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(b"]}\n");
        out
    }

    /// Writes the snapshot to a new temporary file, removed when the guard drops.
    pub fn write_temp(&self, name: &str) -> TempFile {
        let file = TempFile::new(name);
        std::fs::write(&file.path, self.to_json()).expect("writes the snapshot");
        file
    }
}

/// Writes `values` comma-separated, without the formatting machinery (tens of millions of
/// numbers per test).
fn write_numbers(out: &mut Vec<u8>, values: &[u64]) {
    for (i, &v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut v = v;
        loop {
            at -= 1;
            digits[at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        out.extend_from_slice(&digits[at..]);
    }
}

/// A file under the temporary directory, removed on drop.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    pub fn new(name: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "heapsight-adversarial-{}-{name}",
            std::process::id()
        ));
        TempFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Peak memory of this process while `f` runs: the kernel's high-water mark is reset first
/// (`/proc/self/clear_refs`), so the figure is `f`'s own, as long as nothing else in the
/// process runs meanwhile (callers hold [`serial`]). `None` where `/proc` cannot say.
pub fn peak_rss_growth<T>(f: impl FnOnce() -> T) -> (T, Option<u64>) {
    let before = reset_peak();
    let out = f();
    let peak = status_kib("VmHWM:");
    let growth = match (before, peak) {
        (Some(before), Some(peak)) => Some(peak.saturating_sub(before) * 1024),
        _ => None,
    };
    (out, growth)
}

/// Resets the peak RSS to the current RSS; returns the current RSS in KiB.
fn reset_peak() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_kib("VmRSS:")
}

fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// One test at a time: the peak-memory figures are per process.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
