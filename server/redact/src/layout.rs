//! The snapshot header's meta, reduced to what redaction needs: where a record's type and
//! string index sit in `nodes`, `edges` and `trace_function_infos`, and which node and edge
//! types name a string. Every position is resolved by name, as the header declares it.

use serde_json::Value;

use crate::error::RedactError;

/// The record layouts of one snapshot.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) nodes: Records,
    pub(crate) edges: Records,
    /// `None` when the header has no `trace_function_info_fields` (Node without allocation
    /// tracking support): the section is then passed through without being read.
    pub(crate) trace_function_infos: Option<Records>,
}

/// Where one record's fields of interest are.
#[derive(Debug, Clone)]
pub(crate) struct Records {
    /// Fields per record.
    pub(crate) fields: usize,
    /// The field holding the record's type, when the records have one.
    pub(crate) type_field: Option<usize>,
    /// What each type value means for the record's string field.
    pub(crate) types: Vec<NameUse>,
    /// The fields holding string indices.
    pub(crate) string_fields: Vec<usize>,
    /// What a string field means for a type value beyond `types`.
    pub(crate) unknown_type: NameUse,
}

/// What the string a record names is to the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameUse {
    /// A name the analysis reads (a class, a function, a property, a variable, a script).
    Keep,
    /// The contents of a JavaScript string: replaced unless also kept.
    Content,
    /// Not a string index at all (an element's or hidden edge's number).
    NotAString,
}

/// Node types whose name is the string's own text. Not `concatenated string` and `sliced
/// string`: V8 names those `(concatenated string)` and `(sliced string)` (Node 18 to 26), and
/// their text is in the `string` nodes they point to (`first`, `second`, `parent`), which are
/// redacted; the analysis shows those labels in retainer paths.
const STRING_NODE_TYPES: [&str; 1] = ["string"];
/// Edge types whose `name_or_index` is a number, not a string index.
const INDEX_EDGE_TYPES: [&str; 2] = ["element", "hidden"];

impl Layout {
    /// Reads the layouts from the `snapshot` value (`{"meta": …, "node_count": …}`).
    pub(crate) fn from_header(bytes: &[u8]) -> Result<Layout, RedactError> {
        let header: Value = serde_json::from_slice(bytes).map_err(|e| RedactError::Header {
            reason: e.to_string(),
        })?;
        let meta = header.get("meta").ok_or_else(|| invalid("no `meta`"))?;
        let node_fields = names(meta, "node_fields")?;
        let edge_fields = names(meta, "edge_fields")?;
        let node_types = type_names(meta, "node_types")?;
        let edge_types = type_names(meta, "edge_types")?;
        let nodes = Records {
            fields: node_fields.len(),
            type_field: Some(position(&node_fields, "type", "node_fields")?),
            types: node_types
                .iter()
                .map(|t| {
                    if STRING_NODE_TYPES.contains(&t.as_str()) {
                        NameUse::Content
                    } else {
                        NameUse::Keep
                    }
                })
                .collect(),
            string_fields: vec![position(&node_fields, "name", "node_fields")?],
            // A type V8 may add later is kept: keeping a string never changes a finding.
            unknown_type: NameUse::Keep,
        };
        let edges = Records {
            fields: edge_fields.len(),
            type_field: Some(position(&edge_fields, "type", "edge_fields")?),
            types: edge_types
                .iter()
                .map(|t| {
                    if INDEX_EDGE_TYPES.contains(&t.as_str()) {
                        NameUse::NotAString
                    } else {
                        NameUse::Keep
                    }
                })
                .collect(),
            string_fields: vec![position(&edge_fields, "name_or_index", "edge_fields")?],
            // Its field may be a number or a string index; keeping is harmless either way.
            unknown_type: NameUse::Keep,
        };
        let trace_function_infos = match meta.get("trace_function_info_fields") {
            None => None,
            Some(_) => {
                let fields = names(meta, "trace_function_info_fields")?;
                Some(Records {
                    fields: fields.len(),
                    type_field: None,
                    types: Vec::new(),
                    string_fields: ["name", "script_name"]
                        .iter()
                        .filter_map(|n| fields.iter().position(|f| f == n))
                        .collect(),
                    unknown_type: NameUse::Keep,
                })
            }
        };
        for records in [Some(&nodes), Some(&edges), trace_function_infos.as_ref()]
            .into_iter()
            .flatten()
        {
            if records.fields == 0 {
                return Err(invalid("a record with no fields"));
            }
        }
        Ok(Layout {
            nodes,
            edges,
            trace_function_infos,
        })
    }
}

impl Records {
    /// What the string field of a record of type `type_value` is.
    pub(crate) fn name_use(&self, type_value: u64) -> NameUse {
        if self.type_field.is_none() {
            return NameUse::Keep;
        }
        usize::try_from(type_value)
            .ok()
            .and_then(|t| self.types.get(t))
            .copied()
            .unwrap_or(self.unknown_type)
    }
}

fn invalid(reason: &str) -> RedactError {
    RedactError::Header {
        reason: reason.to_owned(),
    }
}

/// An array of field names, such as `meta.node_fields`.
fn names(meta: &Value, key: &str) -> Result<Vec<String>, RedactError> {
    let list = meta
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(&format!("no `{key}` list")))?;
    list.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid(&format!("`{key}` holds a non-string")))
        })
        .collect()
}

/// The type enum: the first entry of `meta.node_types` / `meta.edge_types`.
fn type_names(meta: &Value, key: &str) -> Result<Vec<String>, RedactError> {
    let first = meta
        .get(key)
        .and_then(Value::as_array)
        .and_then(|l| l.first())
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(&format!("`{key}` does not start with the list of types")))?;
    Ok(first
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect())
}

fn position(fields: &[String], name: &str, list: &str) -> Result<usize, RedactError> {
    fields
        .iter()
        .position(|f| f == name)
        .ok_or_else(|| invalid(&format!("`{list}` has no `{name}`")))
}
