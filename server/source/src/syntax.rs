//! Small questions about tree-sitter nodes shared by the finders and the fixes: is this a
//! function, where does V8 place it, which statement holds it, what does a string literal say.

use crate::parsed::ParsedFile;
use tree_sitter::Node;

/// True for every node kind that makes a function object (classes included).
pub(crate) fn is_function(node: Node<'_>) -> bool {
    // The `class` and `function` keywords are anonymous nodes with the same kind names.
    node.is_named()
        && matches!(
            node.kind(),
            "arrow_function"
                | "function_expression"
                | "function"
                | "function_declaration"
                | "generator_function"
                | "generator_function_declaration"
                | "method_definition"
                | "class"
                | "class_declaration"
        )
}

/// True for function kinds with their own body scope (not classes).
pub(crate) fn is_callable(node: Node<'_>) -> bool {
    is_function(node) && !matches!(node.kind(), "class" | "class_declaration")
}

/// The byte offsets V8 may give as this function's position.
pub(crate) fn v8_positions(file: &ParsedFile, node: Node<'_>) -> Vec<usize> {
    let mut positions = Vec::new();
    match node.kind() {
        "class" | "class_declaration" => {
            if let Some(keyword) = child_of_kind(node, "class") {
                positions.push(keyword.start_byte());
            }
            positions.push(node.start_byte());
            if let Some(constructor) = constructor_of(file, node) {
                if let Some(parameters) = constructor.child_by_field_name("parameters") {
                    positions.push(parameters.start_byte());
                }
            }
        }
        "arrow_function" => {
            if child_of_kind(node, "async").is_some() {
                positions.push(node.start_byte());
            }
            if let Some(parameters) = node
                .child_by_field_name("parameters")
                .or_else(|| node.child_by_field_name("parameter"))
            {
                positions.push(parameters.start_byte());
            }
        }
        _ => {
            if let Some(parameters) = node.child_by_field_name("parameters") {
                positions.push(parameters.start_byte());
            }
        }
    }
    positions
}

/// The `constructor` method of a class node.
pub(crate) fn constructor_of<'tree>(file: &ParsedFile, class: Node<'tree>) -> Option<Node<'tree>> {
    let body = class.child_by_field_name("body")?;
    let mut cursor = body.walk();
    let found = body.named_children(&mut cursor).find(|member| {
        member.kind() == "method_definition"
            && member
                .child_by_field_name("name")
                .is_some_and(|name| file.node_text(name) == "constructor")
    });
    found
}

/// First direct child of `kind` (named or not).
pub(crate) fn child_of_kind<'tree>(node: Node<'tree>, kind: &str) -> Option<Node<'tree>> {
    let mut cursor = node.walk();
    let found = node
        .children(&mut cursor)
        .find(|child| child.kind() == kind);
    found
}

/// The nearest ancestor (or self) that is a statement.
pub(crate) fn statement_of(node: Node<'_>) -> Option<Node<'_>> {
    let mut current = Some(node);
    while let Some(each) = current {
        if is_statement(each) {
            return Some(each);
        }
        current = each.parent();
    }
    None
}

/// True for statement and declaration nodes.
pub(crate) fn is_statement(node: Node<'_>) -> bool {
    let kind = node.kind();
    (kind.ends_with("_statement") && kind != "export_statement")
        || matches!(
            kind,
            "lexical_declaration"
                | "variable_declaration"
                | "function_declaration"
                | "class_declaration"
                | "generator_function_declaration"
        )
}

/// The nearest function strictly enclosing `node`.
pub(crate) fn enclosing_callable(node: Node<'_>) -> Option<Node<'_>> {
    let mut current = node.parent();
    while let Some(each) = current {
        if is_callable(each) {
            return Some(each);
        }
        current = each.parent();
    }
    None
}

/// The value of a string literal, or the raw text between a template's backticks.
pub(crate) fn string_value(file: &ParsedFile, node: Node<'_>) -> Option<String> {
    match node.kind() {
        "string" | "template_string" => {
            let text = file.node_text(node);
            let inner = text.get(1..text.len().saturating_sub(1))?;
            Some(inner.to_owned())
        }
        _ => None,
    }
}

/// The named arguments of a call (comments skipped).
pub(crate) fn arguments_of(call: Node<'_>) -> Vec<Node<'_>> {
    let Some(arguments) = call.child_by_field_name("arguments") else {
        return Vec::new();
    };
    let mut cursor = arguments.walk();
    let found = arguments
        .named_children(&mut cursor)
        .filter(|argument| argument.kind() != "comment")
        .collect();
    found
}

/// The identifier at the root of a member chain: `shutdown` of `shutdown.signal`, `this` of
/// `this.bus`; `None` when the chain starts with a call or another expression.
pub(crate) fn root_of_chain(node: Node<'_>) -> Option<Node<'_>> {
    let mut current = node;
    loop {
        match current.kind() {
            "identifier" | "this" => return Some(current),
            "member_expression" | "subscript_expression" => {
                current = current.child_by_field_name("object")?;
            }
            "parenthesized_expression" | "non_null_expression" => {
                current = current.named_child(0)?;
            }
            _ => return None,
        }
    }
}

/// All nodes of `kind` under `node`, in source order.
pub(crate) fn descendants_of_kind<'tree>(node: Node<'tree>, kinds: &[&str]) -> Vec<Node<'tree>> {
    let mut found = Vec::new();
    let mut cursor = node.walk();
    let mut descend = true;
    loop {
        let current = cursor.node();
        if descend {
            if kinds.contains(&current.kind()) {
                found.push(current);
            }
            if cursor.goto_first_child() {
                continue;
            }
        }
        if current.id() == node.id() {
            return found;
        }
        if cursor.goto_next_sibling() {
            descend = true;
        } else if cursor.goto_parent() {
            descend = false;
            if cursor.node().id() == node.id() {
                return found;
            }
        } else {
            return found;
        }
    }
}
