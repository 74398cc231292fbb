//! Attached / detached state of embedder (native) objects, spread as DevTools does
//! (`propagateDOMState`), and the `Detached ` prefix it gives detached objects' names.
//!
//! V8 records a state for the embedder objects that know it (DOM nodes in a browser,
//! some of Node's binding objects). Attached spreads to native children; detached spreads
//! to native children not already attached. JS objects stop the spread: each entry point
//! into embedder code knows its own state. Snapshots without a `detachedness` field
//! (Node 14) are left alone.

use std::collections::HashMap;

use crate::graph::{HeapGraph, NodeIndex};
use crate::types::{EdgeType, NodeType};

const ATTACHED: u8 = 1;
const DETACHED: u8 = 2;

/// Spreads states and renames detached native nodes, in place.
pub(crate) fn propagate(graph: &mut HeapGraph) {
    if graph.node_detachedness.is_empty() {
        return;
    }
    let n = graph.node_count();
    let mut visited = vec![false; n];
    let mut attached: Vec<u32> = Vec::new();
    let mut detached: Vec<u32> = Vec::new();
    let mut renamed: HashMap<u32, u32> = HashMap::new();

    let mut process = |g: &mut HeapGraph,
                       node: u32,
                       state: u8,
                       attached: &mut Vec<u32>,
                       detached: &mut Vec<u32>| {
        let i = node as usize;
        if visited[i] {
            return;
        }
        visited[i] = true;
        if NodeType::from_code(g.node_type[i]) != NodeType::Native {
            return;
        }
        g.node_detachedness[i] = state;
        if state == ATTACHED {
            attached.push(node);
        } else if state == DETACHED {
            let old = g.node_name[i];
            let new = *renamed.entry(old).or_insert_with(|| {
                let name = format!("Detached {}", g.strings.get(old as usize));
                g.strings.push(&name)
            });
            g.node_name[i] = new;
            detached.push(node);
        }
    };
    for i in 0..n as u32 {
        let state = graph.node_detachedness[i as usize];
        if state != 0 {
            process(graph, i, state, &mut attached, &mut detached);
        }
    }
    let spreads = |t: u8| t != EdgeType::Hidden as u8 && t != EdgeType::Weak as u8;
    while let Some(parent) = attached.pop() {
        for e in graph.edge_range(NodeIndex(parent)) {
            if spreads(graph.edge_type[e]) {
                let to = graph.edge_to[e];
                process(graph, to, ATTACHED, &mut attached, &mut detached);
            }
        }
    }
    while let Some(parent) = detached.pop() {
        if graph.node_detachedness[parent as usize] == ATTACHED {
            continue;
        }
        for e in graph.edge_range(NodeIndex(parent)) {
            if spreads(graph.edge_type[e]) {
                let to = graph.edge_to[e];
                process(graph, to, DETACHED, &mut attached, &mut detached);
            }
        }
    }
}
