//! Name resolution good enough for receivers and handlers: which declaration a name refers to,
//! and whether that binding outlives the call that uses it.

use crate::parsed::ParsedFile;
use crate::syntax::{descendants_of_kind, enclosing_callable, is_callable, root_of_chain};
use tree_sitter::Node;

/// Names that refer to process-wide objects when nothing local shadows them.
const GLOBALS: &[&str] = &[
    "process",
    "globalThis",
    "global",
    "window",
    "self",
    "document",
    "console",
    "module",
    "exports",
];

/// What a name refers to at some point of the file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Binding<'tree> {
    /// Declared at module scope (or imported): the declaring node.
    Module(Node<'tree>),
    /// Declared inside a function or block: the declaring node.
    Local(Node<'tree>),
    /// A parameter of an enclosing function.
    Parameter,
    /// A well-known global (`process`, `globalThis`).
    Global,
    /// Not found.
    Unresolved,
}

/// Resolve `name` as seen from `at`.
pub(crate) fn resolve<'tree>(file: &ParsedFile, name: &str, at: Node<'tree>) -> Binding<'tree> {
    let mut current = Some(at);
    while let Some(scope) = current {
        if is_callable(scope) && declares_parameter(file, scope, name) {
            return Binding::Parameter;
        }
        if let Some(declaration) = declared_in(file, scope, name) {
            return if scope.kind() == "program" {
                Binding::Module(declaration)
            } else {
                Binding::Local(declaration)
            };
        }
        current = scope.parent();
    }
    if GLOBALS.contains(&name) {
        Binding::Global
    } else {
        Binding::Unresolved
    }
}

/// Whether the object `receiver` evaluates to outlives the function using it.
pub(crate) fn long_lived(file: &ParsedFile, receiver: Node<'_>) -> Option<bool> {
    let root = root_of_chain(receiver)?;
    if root.kind() == "this" {
        return singleton_this(file, root);
    }
    match resolve(file, file.node_text(root), root) {
        Binding::Module(_) | Binding::Global => Some(true),
        Binding::Parameter => Some(false),
        Binding::Local(declaration) => {
            // `const b = bus;` aliases a long-lived object; anything else made here is local.
            let value = declaration.child_by_field_name("value");
            match value.map(|value| (value.kind(), value)) {
                Some(("identifier" | "member_expression", value))
                    if value.id() != receiver.id() =>
                {
                    long_lived(file, value)
                        .filter(|lives| *lives)
                        .or(Some(false))
                }
                _ => Some(false),
            }
        }
        Binding::Unresolved => None,
    }
}

/// `this` inside a class's method is long-lived when the class is instantiated once at module
/// scope (a singleton), short-lived when it is instantiated inside functions.
fn singleton_this(file: &ParsedFile, this: Node<'_>) -> Option<bool> {
    let mut current = this.parent();
    let mut class = None;
    while let Some(each) = current {
        match each.kind() {
            "class" | "class_declaration" => {
                class = Some(each);
                break;
            }
            "function_expression" | "function_declaration" | "function" => return None,
            _ => {}
        }
        current = each.parent();
    }
    let name = file.node_text(class?.child_by_field_name("name")?);
    let root = file.root()?;
    let constructions: Vec<Node<'_>> = descendants_of_kind(root, &["new_expression"])
        .into_iter()
        .filter(|new| {
            new.child_by_field_name("constructor")
                .is_some_and(|constructor| file.node_text(constructor) == name)
        })
        .collect();
    if constructions.is_empty() {
        return None;
    }
    Some(
        constructions
            .iter()
            .all(|new| enclosing_callable(*new).is_none()),
    )
}

fn declares_parameter(file: &ParsedFile, function: Node<'_>, name: &str) -> bool {
    let parameters = function
        .child_by_field_name("parameters")
        .or_else(|| function.child_by_field_name("parameter"));
    parameters.is_some_and(|parameters| binds_name(file, parameters, name))
}

/// True when a binding pattern (identifier, destructuring, parameter list) introduces `name`.
fn binds_name(file: &ParsedFile, pattern: Node<'_>, name: &str) -> bool {
    descendants_of_kind(
        pattern,
        &["identifier", "shorthand_property_identifier_pattern"],
    )
    .into_iter()
    .any(|identifier| {
        file.node_text(identifier) == name && !inside_default_value(identifier, pattern)
    })
}

fn inside_default_value(identifier: Node<'_>, pattern: Node<'_>) -> bool {
    let mut current = identifier;
    while let Some(parent) = current.parent() {
        if parent.id() == pattern.id() {
            return false;
        }
        let is_value = |field: &str| {
            parent
                .child_by_field_name(field)
                .is_some_and(|value| value.id() == current.id())
        };
        if matches!(
            parent.kind(),
            "assignment_pattern" | "object_assignment_pattern"
        ) && is_value("right")
        {
            return true;
        }
        if parent.kind() == "pair_pattern" && is_value("key") {
            return true;
        }
        if parent.kind().contains("type_annotation") {
            return true;
        }
        current = parent;
    }
    false
}

/// The declaration of `name` directly in `scope` (a block, the program, a `for` or `catch`).
fn declared_in<'tree>(file: &ParsedFile, scope: Node<'tree>, name: &str) -> Option<Node<'tree>> {
    match scope.kind() {
        "program" | "statement_block" | "class_body" | "switch_case" | "switch_default" => {}
        "for_statement" | "for_in_statement" => {
            let header = scope
                .child_by_field_name("initializer")
                .or_else(|| scope.child_by_field_name("left"))?;
            return binds_name(file, header, name).then_some(header);
        }
        "catch_clause" => {
            let parameter = scope.child_by_field_name("parameter")?;
            return binds_name(file, parameter, name).then_some(scope);
        }
        _ => return None,
    }
    let mut cursor = scope.walk();
    let children: Vec<Node<'tree>> = scope.named_children(&mut cursor).collect();
    children
        .into_iter()
        .find_map(|statement| declaration_in_statement(file, statement, name))
}

fn declaration_in_statement<'tree>(
    file: &ParsedFile,
    statement: Node<'tree>,
    name: &str,
) -> Option<Node<'tree>> {
    match statement.kind() {
        "lexical_declaration" | "variable_declaration" => {
            let mut cursor = statement.walk();
            let declarators: Vec<Node<'tree>> = statement.named_children(&mut cursor).collect();
            declarators.into_iter().find(|declarator| {
                declarator.kind() == "variable_declarator"
                    && declarator
                        .child_by_field_name("name")
                        .is_some_and(|pattern| binds_name(file, pattern, name))
            })
        }
        "function_declaration"
        | "generator_function_declaration"
        | "class_declaration"
        | "abstract_class_declaration" => statement
            .child_by_field_name("name")
            .filter(|declared| file.node_text(*declared) == name)
            .map(|_| statement),
        "import_statement" => {
            let clause = statement
                .named_child(0)
                .filter(|clause| clause.kind() == "import_clause")?;
            binds_name(file, clause, name).then_some(statement)
        }
        "export_statement" => {
            let declaration = statement.child_by_field_name("declaration")?;
            declaration_in_statement(file, declaration, name)
        }
        _ => None,
    }
}
