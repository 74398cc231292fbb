//! The comparison view people know from DevTools: per class, objects new since the
//! baseline, objects deleted since it, and the count and size deltas (final against
//! baseline). JS objects only (odd ids: embedder ids are not stable between snapshots),
//! by raw class name and V8's own self sizes — what a baseline scan without edges can see.

use std::collections::HashMap;

use heapsight_snapshot::{raw_class_name, BaselineScan, HeapGraph, NodeType};
use serde::Serialize;

/// One class's change between the baseline and the final snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ClassDelta {
    /// The class name.
    pub name: String,
    /// Objects allocated after the baseline and alive in the final snapshot.
    pub new: u64,
    /// Objects of the baseline gone from the final snapshot.
    pub deleted: u64,
    /// Final count minus baseline count.
    pub count_delta: i64,
    /// Final self size minus baseline self size, in bytes.
    pub size_delta: i64,
}

/// Compares the final snapshot's raw graph with the baseline scan.
pub fn compare(graph: &HeapGraph, base: &BaselineScan) -> Vec<ClassDelta> {
    // Rows by class; a node finds its row through its name's string index (objects) or
    // its type (everything else), so strings are hashed once per distinct name.
    let mut rows: Vec<(String, u64, u64, u64)> = Vec::new();
    let mut row_of_class: HashMap<String, u32> = HashMap::new();
    let mut by_name: HashMap<u32, u32> = HashMap::new();
    let mut by_type: HashMap<NodeType, u32> = HashMap::new();
    let mut row_for =
        |class: std::borrow::Cow<'_, str>, rows: &mut Vec<(String, u64, u64, u64)>| -> u32 {
            if let Some(&r) = row_of_class.get(class.as_ref()) {
                return r;
            }
            rows.push((class.to_string(), 0, 0, 0));
            let r = rows.len() as u32 - 1;
            row_of_class.insert(class.into_owned(), r);
            r
        };
    for n in graph.nodes() {
        let id = graph.node_id(n);
        if id & 1 == 0 {
            continue;
        }
        let ty = graph.node_type(n);
        let row = if matches!(ty, NodeType::Object | NodeType::Native) {
            let s = graph.node_name_index(n);
            match by_name.get(&s) {
                Some(&r) => r,
                None => {
                    let r = row_for(raw_class_name(ty, graph.node_name(n)), &mut rows);
                    by_name.insert(s, r);
                    r
                }
            }
        } else {
            match by_type.get(&ty) {
                Some(&r) => r,
                None => {
                    let r = row_for(raw_class_name(ty, ""), &mut rows);
                    by_type.insert(ty, r);
                    r
                }
            }
        };
        let slot = &mut rows[row as usize];
        slot.1 += 1;
        slot.2 += graph.self_size(n);
        if id > base.max_js_id {
            slot.3 += 1;
        }
    }
    let finals: HashMap<String, (u64, u64, u64)> = rows
        .into_iter()
        .map(|(c, a, b, d)| (c, (a, b, d)))
        .collect();
    let baseline: HashMap<&str, (u64, u64)> = base
        .classes
        .iter()
        .map(|c| (c.name.as_str(), (c.count, c.self_size)))
        .collect();
    let mut names: Vec<&str> = finals.keys().map(String::as_str).collect();
    names.extend(
        baseline
            .keys()
            .copied()
            .filter(|k| !finals.contains_key(*k)),
    );
    let mut out: Vec<ClassDelta> = names
        .into_iter()
        .map(|name| {
            let (count, size, new) = finals.get(name).copied().unwrap_or_default();
            let (count_a, size_a) = baseline.get(name).copied().unwrap_or_default();
            let survivors = count - new;
            ClassDelta {
                name: name.to_string(),
                new,
                deleted: count_a.saturating_sub(survivors),
                count_delta: count as i64 - count_a as i64,
                size_delta: size as i64 - size_a as i64,
            }
        })
        .filter(|d| d.new != 0 || d.deleted != 0)
        .collect();
    out.sort_by(|a, b| {
        b.size_delta
            .abs()
            .cmp(&a.size_delta.abs())
            .then(a.name.cmp(&b.name))
    });
    out
}
