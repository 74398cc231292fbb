//! How much memory analyzing a snapshot takes, known before it is read: from the header's
//! node and edge counts and the size of the `strings` section (found from the file's end),
//! so that a snapshot too large for the memory left is refused with the figure it needs
//! instead of ending in the kernel's OOM killer halfway through.
//!
//! The estimate is the peak of [`crate::Snapshot::from_graph`], which comes while the
//! semi-dominators are computed: every column alive at that moment, counted by what it
//! holds (see the constants). Checked against the measured peak RSS by `bench/scale.js`
//! (which prints both); the refusal is tested on real snapshots in a real memory cgroup by
//! `server/cli/tests/memory_check.rs`.

use std::path::Path;

use crate::reader::read_header;
use crate::scan::find_last_key;
use crate::source::ByteSource;
use crate::{Result, SnapshotError};

/// Bytes a node holds at the peak: the graph's columns (type 1, name 4, id 4, self size 4,
/// first edge 4, detachedness 1), the retainer index's offsets (4), the depth-first search
/// (preorder number, vertex, parent: 12), the semi-dominators and the link/eval forest (12),
/// the distances (4), and 4 for the queues and bitmaps beside them.
const BYTES_PER_NODE: u64 = 18 + 4 + 12 + 12 + 4 + 4;
/// Bytes an edge holds at the peak, in eighths: the graph's columns (type 1, name 4,
/// target 4), the retaining-edge bitmap (1/8) and the retainer index (4).
const EIGHTHS_PER_EDGE: u64 = (1 + 4 + 4 + 4) * 8 + 1;
/// Bytes of memory per byte of the `strings` section, in quarters: the text once, plus an
/// eight-byte offset per string (strings average over 32 bytes of JSON on real heaps).
const QUARTERS_PER_STRING_BYTE: u64 = 5;
/// The process itself: code, stacks, the reader's blocks.
const FIXED_BYTES: u64 = 32 << 20;
/// How far from the end the `strings` key is looked for: the check must answer at once,
/// also for a hostile file (10 GiB of zeros) that has no such key.
const STRINGS_SEARCH: u64 = 512 << 20;

/// What analyzing one snapshot needs, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryNeed {
    /// Nodes the header declares.
    pub nodes: u64,
    /// Edges the header declares.
    pub edges: u64,
    /// Bytes of the `strings` section.
    pub strings_bytes: u64,
    /// Estimated peak bytes of the analysis.
    pub bytes: u64,
}

/// The memory left to this process, and where the figure comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryBudget {
    /// Bytes that can still be used.
    pub available: u64,
    /// In words: `no cgroup limit; the machine has 6.1 GB available`.
    pub words: String,
}

impl MemoryNeed {
    /// The need of a graph of `nodes`, `edges` and a `strings` section of `strings_bytes`.
    pub fn of(nodes: u64, edges: u64, strings_bytes: u64) -> MemoryNeed {
        let bytes = FIXED_BYTES
            .saturating_add(nodes.saturating_mul(BYTES_PER_NODE))
            .saturating_add(edges.saturating_mul(EIGHTHS_PER_EDGE) / 8)
            .saturating_add(strings_bytes.saturating_mul(QUARTERS_PER_STRING_BYTE) / 4);
        MemoryNeed {
            nodes,
            edges,
            strings_bytes,
            bytes,
        }
    }

    /// The same need with `per_node` more bytes a node: what a caller keeps beside the
    /// analysis (the leak finder's columns over the final snapshot).
    pub fn with_per_node(self, per_node: u64) -> MemoryNeed {
        MemoryNeed {
            bytes: self
                .bytes
                .saturating_add(self.nodes.saturating_mul(per_node)),
            ..self
        }
    }

    /// `Ok` when the need fits `budget`; otherwise the refusal, with both figures.
    pub fn check(&self, budget: &MemoryBudget) -> Result<()> {
        if self.bytes <= budget.available {
            return Ok(());
        }
        Err(SnapshotError::NotEnoughMemory {
            needed: self.bytes,
            available: budget.available,
            nodes: self.nodes,
            edges: self.edges,
            budget: budget.words.clone(),
        })
    }
}

/// The memory analyzing the snapshot in `src` needs. Reads the header and looks for the
/// `strings` key in the last 512 MiB; past that, the section is taken to be what was
/// searched or an eighth of the file, the larger (strings are about a tenth of real
/// snapshots), and a file with no such key at all is refused by the parse anyway.
pub fn memory_needed(src: &dyn ByteSource) -> Result<MemoryNeed> {
    let (header, header_end) = read_header(src)?;
    let len = src.len();
    let not_before = header_end.max(len.saturating_sub(STRINGS_SEARCH));
    let strings_bytes = match find_last_key(src, "strings", not_before, || Ok(()))? {
        Some(key) => len.saturating_sub(key.value_start),
        None => (len - not_before).max(len / 8),
    };
    Ok(MemoryNeed::of(
        header.node_count,
        header.edge_count,
        strings_bytes,
    ))
}

/// [`memory_needed`] of the file at `path`.
pub fn file_memory_needed(path: &Path) -> Result<MemoryNeed> {
    let src = crate::open_source(path)?;
    memory_needed(&src)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(available: u64) -> MemoryBudget {
        MemoryBudget {
            available,
            words: "test".into(),
        }
    }

    #[test]
    fn the_need_grows_with_nodes_edges_and_strings() {
        let base = MemoryNeed::of(1_000, 3_000, 10_000).bytes;
        assert_eq!(
            MemoryNeed::of(2_000, 3_000, 10_000).bytes - base,
            1_000 * BYTES_PER_NODE
        );
        assert_eq!(
            MemoryNeed::of(1_000, 3_008, 10_000).bytes - base,
            EIGHTHS_PER_EDGE
        );
        assert_eq!(MemoryNeed::of(1_000, 3_000, 10_004).bytes - base, 5);
        assert_eq!(
            MemoryNeed::of(1_000, 3_000, 10_000).with_per_node(8).bytes - base,
            8_000
        );
    }

    #[test]
    fn a_need_past_the_budget_is_refused_with_both_figures() {
        let need = MemoryNeed::of(100_000_000, 300_000_000, 900_000_000);
        assert!(need.check(&budget(need.bytes)).is_ok());
        let err = need
            .check(&budget(need.bytes - 1))
            .expect_err("one byte short is refused");
        let text = err.to_string();
        assert!(
            text.contains(&format!("{} MB", need.bytes / 1_000_000)) && text.contains("test"),
            "{text}"
        );
        assert!(matches!(err, SnapshotError::NotEnoughMemory { .. }));
    }

    #[test]
    fn counts_past_u64_saturate() {
        assert_eq!(MemoryNeed::of(u64::MAX, u64::MAX, u64::MAX).bytes, u64::MAX);
    }

    #[test]
    fn the_strings_section_is_measured_from_the_end() {
        let json = br#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id"],"node_types":[["hidden","object"],"string","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["element","property"],"string_or_number","node"]},"node_count":2,"edge_count":1,"trace_function_count":0},
"nodes":[0,0,1,0,1,0,1,1,3,10,0,0],"edges":[1,1,6],"strings":["","abc"]}"#;
        let need = memory_needed(&json.as_slice()).expect("reads the header");
        assert_eq!((need.nodes, need.edges), (2, 1));
        // From just inside the array to the end of the file.
        assert_eq!(need.strings_bytes, br#""","abc"]}"#.len() as u64);
    }
}
