//! The comparison view people know from DevTools: per class, objects new since the
//! baseline, objects deleted since it, and the count and size deltas (final against
//! baseline). JS objects only (odd ids: embedder ids are not stable between snapshots),
//! by raw class name and V8's own self sizes — what a baseline scan without edges can see.

use std::collections::HashMap;

use heapsight_snapshot::{raw_class_name, BaselineScan, HeapGraph};
use serde::Serialize;

/// One class's change between the baseline and the final snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    // class → (count, size, new)
    let mut finals: HashMap<String, (u64, u64, u64)> = HashMap::new();
    let mut cache: HashMap<(heapsight_snapshot::NodeType, &str), String> = HashMap::new();
    for n in graph.nodes() {
        let id = graph.node_id(n);
        if id & 1 == 0 {
            continue;
        }
        let key = (graph.node_type(n), graph.node_name(n));
        let class = cache
            .entry(key)
            .or_insert_with(|| raw_class_name(key.0, key.1).into_owned());
        let slot = finals.entry(class.clone()).or_default();
        slot.0 += 1;
        slot.1 += graph.self_size(n);
        if id > base.max_js_id {
            slot.2 += 1;
        }
    }
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
