//! Checks that A, B and C are three snapshots of one process, in order, and describes them.
//!
//! Node ids only compare within one process: new objects get larger ids than any before.
//! So the largest JS ids must grow from A to B to C, and — the check that catches a final
//! snapshot from another run of the same program, whose start-up ids are the same — every
//! JS object of C older than A's largest id must have been in A, as the same object (a
//! sample of ids is compared by type and name).

use std::path::Path;

use heapsight_snapshot::{
    identity_hash, BaselineScan, HeapGraph, IdScan, IdentitySample, NodeType,
};
use serde::Serialize;

/// What was compared.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SnapshotsInfo {
    /// The baseline file.
    pub baseline: String,
    /// The target file.
    pub target: String,
    /// The final file.
    pub r#final: String,
    /// Largest JS object id of each.
    pub max_ids: [u64; 3],
    /// Nodes of each.
    pub node_counts: [u64; 3],
    /// JS objects of the final snapshot allocated between the baseline and the target.
    pub leaked_objects: u64,
    /// Their self sizes.
    pub leaked_bytes: u64,
}

/// Why three snapshots cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TripleProblem {
    /// The ids do not grow from A to B to C.
    #[error("the snapshots are not in order: {0} (give them as baseline, target, final: A after warm-up, B after the workload, C after idle)")]
    Order(String),
    /// C holds old objects A never had: another process.
    #[error("the final snapshot is not from the same process as the baseline: {missing} of {old} sampled objects older than the baseline's newest are not the baseline's objects (node ids only compare within one process; take all three snapshots from one run)")]
    DifferentProcess {
        /// Sampled old objects of C missing from A or different there.
        missing: u64,
        /// Sampled old objects of C.
        old: u64,
    },
}

/// Checks the triple; describes it when it is usable.
/// V8's own objects that change type or name at the same id within one process: bytecode
/// flushed to `UncompiledData` in place, elements arrays whose kind changes, descriptor and
/// weak arrays reused. Measured on ajv-compile-leak under Node 18: 435 of 472 identity
/// changes between A and C were `BytecodeArray` → `UncompiledDataWithoutPreparseData`, the
/// rest `(object elements)` and weak arrays; none was a JavaScript object, closure or
/// string. Only those tell two processes apart.
fn mutates_in_place(ty: NodeType) -> bool {
    matches!(
        ty,
        NodeType::Code | NodeType::Array | NodeType::Hidden | NodeType::ObjectShape
    )
}

pub fn check(
    a: &Path,
    b: &Path,
    c: &Path,
    base: &BaselineScan,
    target: &IdScan,
    graph: &HeapGraph,
) -> Result<SnapshotsInfo, TripleProblem> {
    let (max_a, max_b) = (base.max_js_id, target.max_js_id);
    let mut max_c = 0;
    let mut old = 0u64;
    let mut missing = 0u64;
    let mut leaked_objects = 0;
    let mut leaked_bytes = 0;
    for n in graph.nodes() {
        let id = graph.node_id(n);
        if id & 1 == 0 {
            continue;
        }
        max_c = max_c.max(id);
        if id <= max_a {
            if IdentitySample::covers(id) && !mutates_in_place(graph.node_type(n)) {
                old += 1;
                let same = base.identities.get(id)
                    == Some(identity_hash(graph.node_type(n), graph.node_name(n)));
                if !same {
                    missing += 1;
                }
            } else if base.js_ids.contains(id) == Some(false) {
                // Outside the sample, an old id the baseline never had is just as telling.
                old += 1;
                missing += 1;
            }
        } else if id <= max_b {
            leaked_objects += 1;
            leaked_bytes += graph.self_size(n);
        }
    }
    if max_a >= max_b {
        return Err(TripleProblem::Order(format!(
            "the baseline's newest object (@{max_a}) is not older than the target's (@{max_b})"
        )));
    }
    if max_b > max_c {
        return Err(TripleProblem::Order(format!(
            "the target's newest object (@{max_b}) is newer than the final snapshot's (@{max_c})"
        )));
    }
    // In one process `missing` is 0; allow a sliver for objects V8 reports differently.
    if missing > 16 && missing * 100 > old {
        return Err(TripleProblem::DifferentProcess { missing, old });
    }
    Ok(SnapshotsInfo {
        baseline: a.display().to_string(),
        target: b.display().to_string(),
        r#final: c.display().to_string(),
        max_ids: [max_a, max_b, max_c],
        node_counts: [
            base.node_count,
            target.node_count,
            graph.node_count() as u64,
        ],
        leaked_objects,
        leaked_bytes,
    })
}
