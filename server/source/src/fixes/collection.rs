//! Collection fixes: bound the collection (evict the oldest), delete the entry when the
//! registering scope ends, or hold entries weakly when the keys are objects.

use super::cleanup::find_cleanup;
use super::style::{indent_at, Style};
use super::{Fix, FixKind, SiteNodes};
use crate::collections::collection_sites;
use crate::parsed::ParsedFile;
use crate::scope::{resolve, Binding};
use crate::site::CallSite;
use crate::syntax::{arguments_of, descendants_of_kind};
use crate::text::{TextEdit, TextRange};
use tree_sitter::Node;

/// How many entries the size-bound fix keeps.
const BOUND: usize = 100;
/// Reads that a `WeakMap`/`WeakSet` does not support.
const STRONG_ONLY: &[&str] = &[
    "size", "keys", "values", "entries", "forEach", "clear", "length",
];
/// Parameter names that conventionally hold objects (requests, sockets, sessions).
const OBJECT_NAMES: &[&str] = &[
    "req",
    "request",
    "res",
    "response",
    "socket",
    "ws",
    "ctx",
    "context",
    "session",
    "user",
    "client",
    "conn",
    "connection",
    "job",
    "target",
    "element",
    "el",
    "node",
    "owner",
    "key",
];

/// The shape of a collection, from its declaration or, failing that, the growing method.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Map,
    Set,
    Array,
}

pub(super) fn collection_fixes(
    file: &ParsedFile,
    site: &CallSite,
    nodes: &SiteNodes<'_>,
) -> Vec<Fix> {
    let Some(receiver) = site.receiver.as_deref() else {
        return Vec::new();
    };
    let style = Style::of(file);
    let declaration = collection_sites(file, receiver).declaration;
    let declared = declaration.map_or("", |range| file.range_text(range));
    if declared.contains("new WeakMap") || declared.contains("new WeakSet") {
        return Vec::new();
    }
    let shape = if declared.contains("new Map") {
        Shape::Map
    } else if declared.contains("new Set") {
        Shape::Set
    } else if declared.contains('[') || declared.contains("new Array") {
        Shape::Array
    } else {
        match site.method.as_str() {
            "set" => Shape::Map,
            "add" => Shape::Set,
            "push" | "unshift" => Shape::Array,
            _ => return Vec::new(),
        }
    };
    let mut found = Vec::new();
    // Object keys: a weak collection fixes the leak without changing what the code reads.
    if let Some(range) = declaration {
        found.extend(weak(file, site, nodes, receiver, shape, range));
    }
    if shape == Shape::Set {
        found.extend(delete_entry(file, &style, site, nodes, receiver));
    }
    found.extend(bound(file, &style, site, nodes, receiver, shape));
    if shape != Shape::Set {
        found.extend(delete_entry(file, &style, site, nodes, receiver));
    }
    found
}

fn bound(
    file: &ParsedFile,
    style: &Style,
    site: &CallSite,
    nodes: &SiteNodes<'_>,
    receiver: &str,
    shape: Shape,
) -> Option<Fix> {
    if nodes.statement.kind() != "expression_statement" {
        return None;
    }
    let evict = match (shape, site.method.as_str()) {
        (Shape::Map, _) => format!(
            "if ({receiver}.size > {BOUND}) {receiver}.delete({receiver}.keys().next().value)"
        ),
        (Shape::Set, _) => format!(
            "if ({receiver}.size > {BOUND}) {receiver}.delete({receiver}.values().next().value)"
        ),
        (Shape::Array, "push") => format!("if ({receiver}.length > {BOUND}) {receiver}.shift()"),
        (Shape::Array, "unshift") => format!("if ({receiver}.length > {BOUND}) {receiver}.pop()"),
        _ => return None,
    };
    let indent = indent_at(file, nodes.statement.start_byte());
    Some(Fix {
        title: format!("Bound `{receiver}` to {BOUND} entries, evicting the oldest"),
        kind: FixKind::BoundCache,
        edits: vec![TextEdit::insert(
            nodes.statement.end_byte(),
            format!("\n{indent}{evict}{}", style.end()),
        )],
        preferred: false,
    })
}

fn delete_entry(
    file: &ParsedFile,
    style: &Style,
    site: &CallSite,
    nodes: &SiteNodes<'_>,
    receiver: &str,
) -> Option<Fix> {
    if !matches!(site.method.as_str(), "set" | "add") {
        return None;
    }
    let key = *arguments_of(nodes.call).first()?;
    if !matches!(key.kind(), "identifier" | "member_expression") {
        return None;
    }
    // The key is a local: a cleanup in another method could not name it.
    let plan = find_cleanup(file, nodes.statement, &[key]).filter(|plan| !plan.via_this)?;
    let code = format!("{receiver}.delete({})", file.node_text(key));
    Some(Fix {
        title: format!(
            "Delete the entry from `{receiver}` {}",
            plan.point.describe()
        ),
        kind: FixKind::DeleteEntry,
        edits: vec![plan.point.edit(style, &code)],
        preferred: false,
    })
}

fn weak(
    file: &ParsedFile,
    site: &CallSite,
    nodes: &SiteNodes<'_>,
    receiver: &str,
    shape: Shape,
    declaration: TextRange,
) -> Option<Fix> {
    let (strong, weak) = match (shape, site.method.as_str()) {
        (Shape::Map, "set") => ("Map", "WeakMap"),
        (Shape::Set, "add") => ("Set", "WeakSet"),
        _ => return None,
    };
    let key = *arguments_of(nodes.call).first()?;
    if !is_object_key(file, key) || iterated(file, receiver) {
        return None;
    }
    let root = file.root()?;
    let constructor = descendants_of_kind(root, &["new_expression"])
        .into_iter()
        .filter(|new| declaration.contains_range(crate::parsed::range_of(*new)))
        .find_map(|new| {
            new.child_by_field_name("constructor")
                .filter(|constructor| file.node_text(*constructor) == strong)
        })?;
    Some(Fix {
        title: format!("Use a `{weak}`: entries go away with their keys"),
        kind: FixKind::WeakMap,
        edits: vec![TextEdit::replace(
            crate::parsed::range_of(constructor),
            weak,
        )],
        preferred: false,
    })
}

/// A key that is an object: a `this`, an object/array/`new` literal, or a variable or parameter
/// that holds one (by its initializer, or by the conventional names of request-scoped objects).
fn is_object_key(file: &ParsedFile, key: Node<'_>) -> bool {
    match key.kind() {
        "this" | "object" | "array" | "new_expression" => true,
        "identifier" => {
            let name = file.node_text(key);
            match resolve(file, name, key) {
                Binding::Parameter => OBJECT_NAMES.contains(&name),
                Binding::Local(declaration) | Binding::Module(declaration) => {
                    declaration
                        .child_by_field_name("value")
                        .is_some_and(|value| {
                            matches!(value.kind(), "object" | "array" | "new_expression")
                        })
                        || (declaration.child_by_field_name("value").is_none()
                            && OBJECT_NAMES.contains(&name))
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// True when the file reads the collection in ways a weak collection cannot serve.
fn iterated(file: &ParsedFile, receiver: &str) -> bool {
    let Some(root) = file.root() else {
        return true;
    };
    let members = descendants_of_kind(root, &["member_expression"]);
    let reads_strong_only = members.iter().any(|member| {
        member
            .child_by_field_name("object")
            .is_some_and(|object| file.node_text(object) == receiver)
            && member
                .child_by_field_name("property")
                .is_some_and(|property| STRONG_ONLY.contains(&file.node_text(property)))
    });
    let loops_or_spreads = descendants_of_kind(root, &["for_in_statement", "spread_element"])
        .into_iter()
        .any(|node| {
            let target = node
                .child_by_field_name("right")
                .or_else(|| node.named_child(0));
            target.is_some_and(|target| file.node_text(target) == receiver)
        });
    let passed_whole = descendants_of_kind(root, &["arguments"])
        .into_iter()
        .flat_map(|arguments| {
            let mut cursor = arguments.walk();
            arguments.named_children(&mut cursor).collect::<Vec<_>>()
        })
        .any(|argument| file.node_text(argument) == receiver);
    reads_strong_only || loops_or_spreads || passed_whole
}
