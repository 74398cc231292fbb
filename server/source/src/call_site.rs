//! From V8's function position to the call that registered the function: an inline argument,
//! a handler passed by name, a factory's product, a bound method.

use crate::parsed::{range_of, ParsedFile};
use crate::queries::{matches, queries, Match};
use crate::scope::long_lived;
use crate::site::{CallSite, SiteKind};
use crate::syntax::{
    arguments_of, descendants_of_kind, enclosing_callable, is_function, statement_of, string_value,
    v8_positions,
};
use crate::text::TextRange;
use tree_sitter::Node;

/// How many hops (factories, aliases) we follow before giving up: stops cycles.
const MAX_HOPS: usize = 8;

/// The call site that registered the function V8 places at (`line`, `utf16_column`) (0-based
/// line, UTF-16 column: the `(` of its parameter list, an unparenthesized arrow's parameter, the
/// `async` of an async arrow, a class's constructor `(` or `class` keyword). When no function
/// sits exactly there, the function V8 most likely meant on that line is used.
pub fn call_site_at_function(file: &ParsedFile, line: u32, utf16_column: u32) -> Option<CallSite> {
    let function = function_node_at(file, line, utf16_column)?;
    let found = registration_of(file, function, 0)?;
    build_site(file, found)
}

/// The range of the function V8 places at (`line`, `utf16_column`), if one is there.
pub fn function_at(file: &ParsedFile, line: u32, utf16_column: u32) -> Option<TextRange> {
    function_node_at(file, line, utf16_column).map(range_of)
}

pub(crate) fn function_node_at(
    file: &ParsedFile,
    line: u32,
    utf16_column: u32,
) -> Option<Node<'_>> {
    let root = file.root()?;
    let (line_start, line_end) = file.index().line_range(line)?;
    let offset = file
        .index()
        .offset_utf16(line, utf16_column)
        .unwrap_or(line_end);
    let mut candidates: Vec<(usize, Node<'_>)> = Vec::new();
    for function in all_functions(root) {
        for position in v8_positions(file, function) {
            if (line_start..=line_end).contains(&position) {
                candidates.push((position, function));
            }
        }
    }
    // Exact hit first (innermost wins: a constructor's `(` promotes to its class below);
    // otherwise the first function placed after the column, else the last before it.
    let exact = candidates
        .iter()
        .filter(|(position, _)| *position == offset)
        .map(|(_, function)| *function)
        .min_by_key(|function| function.byte_range().len());
    let chosen = exact
        .or_else(|| {
            candidates
                .iter()
                .filter(|(position, _)| *position > offset)
                .min_by_key(|(position, _)| *position)
                .map(|(_, function)| *function)
        })
        .or_else(|| {
            candidates
                .iter()
                .filter(|(position, _)| *position < offset)
                .max_by_key(|(position, _)| *position)
                .map(|(_, function)| *function)
        })?;
    Some(promote_constructor(file, chosen))
}

fn promote_constructor<'tree>(file: &'tree ParsedFile, function: Node<'tree>) -> Node<'tree> {
    let is_constructor = function.kind() == "method_definition"
        && function
            .child_by_field_name("name")
            .is_some_and(|name| file.node_text(name) == "constructor");
    if !is_constructor {
        return function;
    }
    function
        .parent()
        .and_then(|body| body.parent())
        .filter(|class| matches!(class.kind(), "class" | "class_declaration"))
        .unwrap_or(function)
}

fn all_functions(root: Node<'_>) -> Vec<Node<'_>> {
    descendants_of_kind(
        root,
        &[
            "arrow_function",
            "function_expression",
            "function",
            "function_declaration",
            "generator_function",
            "generator_function_declaration",
            "method_definition",
            "class",
            "class_declaration",
        ],
    )
    .into_iter()
    .filter(|node| is_function(*node))
    .collect()
}

/// A registering call with the argument that carries the function.
pub(crate) struct Registration<'tree> {
    pub call: Node<'tree>,
    pub handler: Node<'tree>,
    pub handler_declaration: Option<Node<'tree>>,
}

fn registration_of<'tree>(
    file: &'tree ParsedFile,
    function: Node<'tree>,
    hops: usize,
) -> Option<Registration<'tree>> {
    if hops > MAX_HOPS {
        return None;
    }
    match function.kind() {
        "function_declaration" | "generator_function_declaration" | "class_declaration" => {
            let name = file.node_text(function.child_by_field_name("name")?);
            let mut found = passed_by_name(file, name, function, hops)?;
            found.handler_declaration.get_or_insert(function);
            Some(found)
        }
        "method_definition" => {
            let name = file.node_text(function.child_by_field_name("name")?);
            // `this.onTick` from inside the class, else `ticker.onTick` from outside it.
            let mut found = passed_by_name(file, &format!("this.{name}"), function, hops)
                .or_else(|| passed_as_member(file, name, function, hops))?;
            found.handler_declaration.get_or_insert(function);
            Some(found)
        }
        _ => climb(file, function, function, hops),
    }
}

/// Walk up from `expression` (which evaluates to the kept function) to the call it is passed to.
fn climb<'tree>(
    file: &'tree ParsedFile,
    function: Node<'tree>,
    expression: Node<'tree>,
    hops: usize,
) -> Option<Registration<'tree>> {
    if hops > MAX_HOPS {
        return None;
    }
    let mut expression = expression;
    loop {
        let parent = expression.parent()?;
        let is_field = |field: &str| {
            parent
                .child_by_field_name(field)
                .is_some_and(|child| child.id() == expression.id())
        };
        match parent.kind() {
            "parenthesized_expression"
            | "as_expression"
            | "satisfies_expression"
            | "non_null_expression"
            | "ternary_expression"
            | "binary_expression" => expression = parent,
            "member_expression" if is_field("object") => {
                // `fn.bind(this)`: the bound copy is what gets registered.
                let property = parent.child_by_field_name("property")?;
                let call = parent
                    .parent()
                    .filter(|call| call.kind() == "call_expression")?;
                if file.node_text(property) != "bind" {
                    return None;
                }
                expression = call;
            }
            "arguments" => {
                let call = parent.parent()?;
                if call.kind() != "call_expression" {
                    return None;
                }
                return Some(Registration {
                    call,
                    handler: expression,
                    handler_declaration: None,
                });
            }
            "variable_declarator" if is_field("value") => {
                let name = parent.child_by_field_name("name")?;
                if name.kind() != "identifier" {
                    return None;
                }
                let declaration = parent
                    .parent()
                    .filter(|statement| {
                        matches!(
                            statement.kind(),
                            "lexical_declaration" | "variable_declaration"
                        )
                    })
                    .unwrap_or(parent);
                let mut found = passed_by_name(file, file.node_text(name), parent, hops)?;
                found.handler_declaration.get_or_insert(declaration);
                return Some(found);
            }
            "assignment_expression" if is_field("right") => {
                let left = parent.child_by_field_name("left")?;
                let mut found = passed_by_name(file, file.node_text(left), parent, hops)?;
                found
                    .handler_declaration
                    .get_or_insert(statement_of(parent).unwrap_or(parent));
                return Some(found);
            }
            "return_statement" => return factory_product(file, function, parent, hops),
            "arrow_function" if is_field("body") => {
                return factory_product(file, function, parent, hops);
            }
            _ => return None,
        }
    }
}

/// `expression` is returned by a factory: find the factory's calls that are passed somewhere,
/// and continue from the first such call.
fn factory_product<'tree>(
    file: &'tree ParsedFile,
    _function: Node<'tree>,
    returning: Node<'tree>,
    hops: usize,
) -> Option<Registration<'tree>> {
    let factory = if returning.kind() == "arrow_function" {
        returning
    } else {
        enclosing_callable(returning)?
    };
    let (name, declaration) = factory_name(file, factory)?;
    let root = file.root()?;
    descendants_of_kind(root, &["call_expression"])
        .into_iter()
        .filter(|call| {
            call.child_by_field_name("function")
                .is_some_and(|callee| file.node_text(callee) == name)
        })
        .find_map(|call| {
            let mut found = climb(file, factory, call, hops + 1)?;
            found.handler_declaration.get_or_insert(declaration);
            Some(found)
        })
}

/// The name a factory function is called by, and its declaration.
fn factory_name<'tree>(
    file: &'tree ParsedFile,
    factory: Node<'tree>,
) -> Option<(String, Node<'tree>)> {
    if let Some(name) = factory.child_by_field_name("name") {
        if factory.kind() != "method_definition" {
            return Some((file.node_text(name).to_owned(), factory));
        }
        return Some((format!("this.{}", file.node_text(name)), factory));
    }
    let mut holder = factory.parent()?;
    while holder.kind() == "parenthesized_expression" {
        holder = holder.parent()?;
    }
    match holder.kind() {
        "variable_declarator" => {
            let name = holder.child_by_field_name("name")?;
            let statement = holder.parent().unwrap_or(holder);
            Some((file.node_text(name).to_owned(), statement))
        }
        "assignment_expression" => {
            let left = holder.child_by_field_name("left")?;
            Some((
                file.node_text(left).to_owned(),
                statement_of(holder).unwrap_or(holder),
            ))
        }
        _ => None,
    }
}

/// The call that `name` (an identifier or `this.method`) is passed to, directly or bound.
fn passed_by_name<'tree>(
    file: &'tree ParsedFile,
    name: &str,
    declared_at: Node<'tree>,
    hops: usize,
) -> Option<Registration<'tree>> {
    passed_where(file, declared_at, hops, |node| file.node_text(node) == name)
}

/// The call that some `object.method` (any object) is passed to: a method handed over from
/// outside its class.
fn passed_as_member<'tree>(
    file: &'tree ParsedFile,
    method: &str,
    declared_at: Node<'tree>,
    hops: usize,
) -> Option<Registration<'tree>> {
    passed_where(file, declared_at, hops, |node| {
        node.kind() == "member_expression"
            && node
                .child_by_field_name("property")
                .is_some_and(|property| file.node_text(property) == method)
    })
}

fn passed_where<'tree>(
    file: &'tree ParsedFile,
    declared_at: Node<'tree>,
    hops: usize,
    is_use: impl Fn(Node<'tree>) -> bool,
) -> Option<Registration<'tree>> {
    let root = file.root()?;
    let uses: Vec<Node<'tree>> = descendants_of_kind(root, &["identifier", "member_expression"])
        .into_iter()
        .filter(|node| is_use(*node) && !declared_at.byte_range().contains(&node.start_byte()))
        .collect();
    let mut found: Vec<Registration<'tree>> = uses
        .into_iter()
        .filter_map(|usage| climb_from_use(file, usage, hops))
        .collect();
    // A known registration (listener, timer) beats a generic call such as `list.forEach(fn)`.
    found.sort_by_key(|registration| {
        let known = classify(file, registration.call)
            .is_some_and(|(kind, _)| kind != SiteKind::Registration);
        (!known, registration.call.start_byte())
    });
    found.into_iter().next()
}

fn climb_from_use<'tree>(
    file: &'tree ParsedFile,
    usage: Node<'tree>,
    hops: usize,
) -> Option<Registration<'tree>> {
    let parent = usage.parent()?;
    match parent.kind() {
        "arguments" => {}
        "member_expression" => {
            let property = parent.child_by_field_name("property")?;
            if file.node_text(property) != "bind" {
                return None;
            }
        }
        _ => return None,
    }
    climb(file, usage, usage, hops + 1)
}

/// The kind of a call and the query match that recognised it.
pub(crate) fn classify<'tree>(
    file: &'tree ParsedFile,
    call: Node<'tree>,
) -> Option<(SiteKind, Match<'tree>)> {
    let queries = queries(file.language())?;
    let find = |query| {
        matches(query, call, file.text())
            .into_iter()
            .find(|each| each.get("call").is_some_and(|node| node.id() == call.id()))
    };
    if let Some(found) = find(&queries.listeners) {
        return Some((SiteKind::Listener, found));
    }
    if let Some(found) = find(&queries.timers) {
        return Some((SiteKind::Timer, found));
    }
    if let Some(found) = find(&queries.collections) {
        return Some((SiteKind::CollectionMutation, found));
    }
    find(&queries.registrations).map(|found| (SiteKind::Registration, found))
}

fn build_site(file: &ParsedFile, found: Registration<'_>) -> Option<CallSite> {
    let (mut kind, captures) = classify(file, found.call)?;
    // A function stored in a collection is a registration with that collection (`queue.push(fn)`).
    if kind == SiteKind::CollectionMutation {
        kind = SiteKind::Registration;
    }
    let mut site = site_from_match(file, kind, &captures)?;
    site.handler = Some(range_of(found.handler));
    site.handler_declaration = found.handler_declaration.map(range_of);
    Some(site)
}

/// A call site from a query match (`@call`, `@callee`, `@receiver`, `@method`).
pub(crate) fn site_from_match(
    file: &ParsedFile,
    kind: SiteKind,
    found: &Match<'_>,
) -> Option<CallSite> {
    let call = found.get("call")?;
    let callee = found.get("callee")?;
    let receiver = found.get("receiver");
    let method = match found.get("method") {
        Some(method) => file.node_text(method).to_owned(),
        None => "[]".to_owned(),
    };
    let event = if kind == SiteKind::Listener {
        arguments_of(call)
            .first()
            .and_then(|first| string_value(file, *first))
    } else {
        None
    };
    let statement = statement_of(call).unwrap_or(call);
    Some(CallSite {
        kind,
        statement: range_of(statement),
        call: range_of(call),
        underline: range_of(callee),
        receiver: receiver.map(|receiver| file.node_text(receiver).to_owned()),
        receiver_long_lived: receiver.and_then(|receiver| long_lived(file, receiver)),
        method,
        event,
        handler: None,
        handler_declaration: None,
        enclosing_function: enclosing_callable(call).map(range_of),
    })
}
