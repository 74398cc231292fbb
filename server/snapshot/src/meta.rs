//! The `snapshot` header: counts and the `meta` description of record layouts.
//!
//! V8 has changed the layout over the years (Node 14 has no `detachedness`, Node 24 drops
//! `trace_node_id`, Node 20 adds node types), so nothing here assumes an offset: every
//! field and type is looked up by name, and a missing required one is a typed error.
//! The allocation-tracking sections (`trace_function_infos`, `trace_tree`) are described by
//! `meta.trace_function_info_fields` and `meta.trace_node_fields` the same way.

use serde::Deserialize;

use crate::error::{Result, SnapshotError};

/// The header as written in the file.
#[derive(Debug, Deserialize)]
pub(crate) struct RawHeader {
    meta: RawMeta,
    node_count: u64,
    edge_count: u64,
    #[serde(default)]
    trace_function_count: u64,
    #[serde(default)]
    extra_native_bytes: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct RawMeta {
    node_fields: Vec<String>,
    node_types: Vec<serde_json::Value>,
    edge_fields: Vec<String>,
    edge_types: Vec<serde_json::Value>,
    #[serde(default)]
    location_fields: Vec<String>,
    #[serde(default)]
    trace_function_info_fields: Vec<String>,
    #[serde(default)]
    trace_node_fields: Vec<String>,
}

/// Where each field sits in a node record.
#[derive(Debug, Clone)]
pub struct NodeLayout {
    /// Numbers per node record.
    pub field_count: usize,
    pub(crate) type_at: usize,
    pub(crate) name_at: usize,
    pub(crate) id_at: usize,
    pub(crate) self_size_at: usize,
    pub(crate) edge_count_at: usize,
    pub(crate) detachedness_at: Option<usize>,
    /// `trace_node_id`: Node 16–22 always, Node 24+ only when allocation tracking was on.
    pub(crate) trace_node_id_at: Option<usize>,
    /// Type names in the order their numbers refer to.
    pub types: Vec<String>,
}

/// Where each field sits in an edge record.
#[derive(Debug, Clone)]
pub struct EdgeLayout {
    /// Numbers per edge record.
    pub field_count: usize,
    pub(crate) type_at: usize,
    pub(crate) name_at: usize,
    pub(crate) to_at: usize,
    /// Type names in the order their numbers refer to.
    pub types: Vec<String>,
}

/// Where each field sits in a `locations` record.
#[derive(Debug, Clone)]
pub(crate) struct LocationLayout {
    pub(crate) field_count: usize,
    pub(crate) node_at: usize,
    pub(crate) script_at: usize,
    pub(crate) line_at: usize,
    pub(crate) column_at: usize,
}

/// Where each field sits in a `trace_function_infos` record.
#[derive(Debug, Clone)]
pub(crate) struct TraceFunctionLayout {
    pub(crate) field_count: usize,
    pub(crate) name_at: usize,
    pub(crate) script_name_at: usize,
    pub(crate) script_id_at: usize,
    pub(crate) line_at: usize,
    pub(crate) column_at: usize,
}

/// Where each field sits in a `trace_tree` record (`children` is the nested array).
#[derive(Debug, Clone)]
pub(crate) struct TraceNodeLayout {
    pub(crate) field_count: usize,
    pub(crate) id_at: usize,
    pub(crate) function_info_at: usize,
    pub(crate) children_at: usize,
}

/// The header, resolved into layouts the reader can use.
#[derive(Debug, Clone)]
pub struct Header {
    /// Node record layout.
    pub nodes: NodeLayout,
    /// Edge record layout.
    pub edges: EdgeLayout,
    pub(crate) locations: Option<LocationLayout>,
    /// `None` when `meta` does not describe the section (it is then skipped).
    pub(crate) trace_functions: Option<TraceFunctionLayout>,
    /// `None` when `meta` does not describe the section (it is then skipped).
    pub(crate) trace_nodes: Option<TraceNodeLayout>,
    /// Node count the header announces (checked against the array).
    pub node_count: u64,
    /// Edge count the header announces (checked against the array).
    pub edge_count: u64,
    /// Functions in `trace_function_infos` (allocation tracking only). Only a hint: V8
    /// writes it before the section, and functions met while the snapshot is written
    /// (tracking goes on) are in the section but not in the count.
    pub trace_function_count: u64,
    /// Bytes held outside the V8 heap that V8 attributes to the snapshot (Node 24+).
    pub extra_native_bytes: Option<u64>,
}

fn position(fields: &[String], name: &str, what: &str) -> Result<usize> {
    fields
        .iter()
        .position(|f| f == name)
        .ok_or_else(|| SnapshotError::Meta(format!("{what} has no `{name}` field")))
}

fn type_names(types: &[serde_json::Value], what: &str) -> Result<Vec<String>> {
    let first = types
        .first()
        .and_then(|v| v.as_array())
        .ok_or_else(|| SnapshotError::Meta(format!("{what}[0] is not the list of type names")))?;
    first
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| SnapshotError::Meta(format!("{what}[0] holds a non-string")))
        })
        .collect()
}

impl Header {
    /// Parse the JSON text of the `snapshot` object.
    pub(crate) fn parse(json: &[u8], offset: u64) -> Result<Header> {
        let raw: RawHeader = serde_json::from_slice(json).map_err(|e| {
            SnapshotError::Meta(format!("the `snapshot` object (at byte {offset}): {e}"))
        })?;
        Header::resolve(raw)
    }

    fn resolve(raw: RawHeader) -> Result<Header> {
        let m = &raw.meta;
        let nf = &m.node_fields;
        if nf.len() > 64
            || m.edge_fields.len() > 64
            || m.trace_function_info_fields.len() > 64
            || m.trace_node_fields.len() > 64
        {
            return Err(SnapshotError::Meta(
                "implausibly many fields per record".into(),
            ));
        }
        let types = type_names(&m.node_types, "node_types")?;
        let edge_types = type_names(&m.edge_types, "edge_types")?;
        if types.len() > 255 || edge_types.len() > 255 {
            return Err(SnapshotError::Meta(
                "more than 255 node or edge types".into(),
            ));
        }
        let nodes = NodeLayout {
            field_count: nf.len(),
            type_at: position(nf, "type", "node_fields")?,
            name_at: position(nf, "name", "node_fields")?,
            id_at: position(nf, "id", "node_fields")?,
            self_size_at: position(nf, "self_size", "node_fields")?,
            edge_count_at: position(nf, "edge_count", "node_fields")?,
            detachedness_at: nf.iter().position(|f| f == "detachedness"),
            trace_node_id_at: nf.iter().position(|f| f == "trace_node_id"),
            types,
        };
        let ef = &m.edge_fields;
        let edges = EdgeLayout {
            field_count: ef.len(),
            type_at: position(ef, "type", "edge_fields")?,
            name_at: position(ef, "name_or_index", "edge_fields")?,
            to_at: position(ef, "to_node", "edge_fields")?,
            types: edge_types,
        };
        let lf = &m.location_fields;
        let locations = if lf.is_empty() {
            None
        } else {
            Some(LocationLayout {
                field_count: lf.len(),
                node_at: position(lf, "object_index", "location_fields")?,
                script_at: position(lf, "script_id", "location_fields")?,
                line_at: position(lf, "line", "location_fields")?,
                column_at: position(lf, "column", "location_fields")?,
            })
        };
        let tf = &m.trace_function_info_fields;
        let trace_functions = if tf.is_empty() {
            None
        } else {
            let what = "trace_function_info_fields";
            Some(TraceFunctionLayout {
                field_count: tf.len(),
                name_at: position(tf, "name", what)?,
                script_name_at: position(tf, "script_name", what)?,
                script_id_at: position(tf, "script_id", what)?,
                line_at: position(tf, "line", what)?,
                column_at: position(tf, "column", what)?,
            })
        };
        let tn = &m.trace_node_fields;
        let trace_nodes = if tn.is_empty() {
            None
        } else {
            let what = "trace_node_fields";
            Some(TraceNodeLayout {
                field_count: tn.len(),
                id_at: position(tn, "id", what)?,
                function_info_at: position(tn, "function_info_index", what)?,
                children_at: position(tn, "children", what)?,
            })
        };
        Ok(Header {
            nodes,
            edges,
            locations,
            trace_functions,
            trace_nodes,
            node_count: raw.node_count,
            edge_count: raw.edge_count,
            trace_function_count: raw.trace_function_count,
            extra_native_bytes: raw.extra_native_bytes,
        })
    }
}
