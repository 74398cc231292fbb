//! Where a registering scope's life really ends: a `finally`, a `close`/`finish`/`end` handler
//! of the request, response or socket, a returned cleanup or `dispose` method, a new `close`
//! handler on a response or socket in scope; or, failing those, a disposer the function returns.
//! Never "right after the registration": that would undo it at once.

use super::style::{indent_at, Style};
use crate::parsed::ParsedFile;
use crate::queries::{matches, queries};
use crate::scope::{resolve, Binding};
use crate::syntax::{
    arguments_of, descendants_of_kind, enclosing_callable, is_callable, string_value,
};
use crate::text::{TextEdit, TextRange};
use tree_sitter::Node;

/// Events after which a request, response or socket is finished with.
const END_EVENTS: &[&str] = &["close", "finish", "end"];
/// Objects that end with the request they belong to, most reliable first.
const REQUEST_SCOPED: &[&str] = &[
    "res",
    "response",
    "reply",
    "socket",
    "ws",
    "stream",
    "connection",
    "conn",
    "req",
    "request",
];
/// Methods that end an object's life.
const DISPOSE_METHODS: &[&str] = &[
    "dispose",
    "close",
    "stop",
    "destroy",
    "unsubscribe",
    "cleanup",
];

/// A place where undoing code runs when the registering scope is done.
pub(crate) enum CleanupPoint {
    /// Append to an existing block (a `finally`, a close handler, a returned cleanup).
    InBlock {
        offset: usize,
        /// End of the replaced text: past `offset` only for an empty block's inner whitespace.
        end: usize,
        indent: String,
        /// What follows the new line: the closing brace's own line, for an empty block.
        suffix: String,
        what: String,
    },
    /// Register a new `close` handler on `object` right after the registering statement.
    NewCloseHandler {
        object: String,
        offset: usize,
        indent: String,
    },
}

/// A cleanup point with the statement before which new declarations go (so the cleanup code
/// can see them).
pub(crate) struct CleanupPlan<'tree> {
    pub point: CleanupPoint,
    pub anchor: Node<'tree>,
    /// The cleanup runs in another method of the class: what it needs must be kept on `this`.
    pub via_this: bool,
}

impl CleanupPoint {
    /// The edit that runs `code` (one statement, no terminator) at this point.
    pub fn edit(&self, style: &Style, code: &str) -> TextEdit {
        let end = style.end();
        match self {
            CleanupPoint::InBlock {
                offset,
                end: replaced_end,
                indent,
                suffix,
                ..
            } => TextEdit::replace(
                TextRange::new(*offset, *replaced_end),
                format!("\n{indent}{code}{end}{suffix}"),
            ),
            CleanupPoint::NewCloseHandler {
                object,
                offset,
                indent,
            } => TextEdit::insert(
                *offset,
                format!(
                    "\n{indent}{object}.on({}, () => {code}){end}",
                    style.string("close")
                ),
            ),
        }
    }

    /// Words for a fix title: "in `finally`", "when `res` closes".
    pub fn describe(&self) -> String {
        match self {
            CleanupPoint::InBlock { what, .. } => what.clone(),
            CleanupPoint::NewCloseHandler { object, .. } => format!("when `{object}` closes"),
        }
    }
}

/// The cleanup point for the scope registering at `statement`. `uses` are the nodes of the code
/// that will be hoisted before the anchor: a point that would move them away from a local they
/// read is skipped.
pub(crate) fn find_cleanup<'tree>(
    file: &'tree ParsedFile,
    statement: Node<'tree>,
    uses: &[Node<'tree>],
) -> Option<CleanupPlan<'tree>> {
    let function = enclosing_callable(statement)?;
    finally_point(file, statement, function, uses)
        .or_else(|| close_handler_point(file, statement, function))
        .or_else(|| returned_cleanup_point(file, statement, function))
        .or_else(|| dispose_method_point(file, statement, function))
        .or_else(|| new_close_handler_point(file, statement))
}

fn finally_point<'tree>(
    file: &'tree ParsedFile,
    statement: Node<'tree>,
    function: Node<'tree>,
    uses: &[Node<'tree>],
) -> Option<CleanupPlan<'tree>> {
    let mut current = statement.parent();
    while let Some(node) = current {
        if node.id() == function.id() {
            return None;
        }
        if node.kind() == "try_statement"
            && node
                .child_by_field_name("body")
                .is_some_and(|body| body.byte_range().contains(&statement.start_byte()))
        {
            if let Some(block) = node
                .child_by_field_name("finalizer")
                .and_then(|finalizer| finalizer.child_by_field_name("body"))
            {
                if reads_local_inside(file, uses, node) {
                    return None;
                }
                return Some(CleanupPlan {
                    point: append_to_block(file, block, "in `finally`")?,
                    anchor: node,
                    via_this: false,
                });
            }
        }
        current = node.parent();
    }
    None
}

/// True when some identifier in `uses` refers to a local declared inside `region`.
fn reads_local_inside(file: &ParsedFile, uses: &[Node<'_>], region: Node<'_>) -> bool {
    uses.iter().any(|used| {
        descendants_of_kind(*used, &["identifier"])
            .into_iter()
            .any(
                |identifier| match resolve(file, file.node_text(identifier), identifier) {
                    Binding::Local(declaration) => {
                        region.byte_range().contains(&declaration.start_byte())
                            && !used.byte_range().contains(&declaration.start_byte())
                    }
                    _ => false,
                },
            )
    })
}

fn close_handler_point<'tree>(
    file: &'tree ParsedFile,
    statement: Node<'tree>,
    function: Node<'tree>,
) -> Option<CleanupPlan<'tree>> {
    let queries = queries(file.language())?;
    let scope = statement.parent()?;
    matches(&queries.listeners, function, file.text())
        .into_iter()
        .filter_map(|found| {
            let call = found.get("call")?;
            if !scope.byte_range().contains(&call.start_byte())
                || statement.byte_range().contains(&call.start_byte())
                || enclosing_callable(call).map(|owner| owner.id()) != Some(function.id())
            {
                return None;
            }
            let arguments = arguments_of(call);
            let event = string_value(file, *arguments.first()?)?;
            if !END_EVENTS.contains(&event.as_str()) {
                return None;
            }
            let handler = *arguments.get(1)?;
            let body = handler.child_by_field_name("body")?;
            if !is_callable(handler) || body.kind() != "statement_block" {
                return None;
            }
            let receiver = file.node_text(found.get("receiver")?);
            append_to_block(file, body, &format!("when `{receiver}` emits `{event}`"))
        })
        .next()
        .map(|point| CleanupPlan {
            point,
            anchor: statement,
            via_this: false,
        })
}

fn returned_cleanup_point<'tree>(
    file: &'tree ParsedFile,
    statement: Node<'tree>,
    function: Node<'tree>,
) -> Option<CleanupPlan<'tree>> {
    let scope = statement.parent()?;
    let body = function.child_by_field_name("body")?;
    descendants_of_kind(body, &["return_statement"])
        .into_iter()
        .filter(|returned| {
            enclosing_callable(*returned).map(|owner| owner.id()) == Some(function.id())
        })
        .filter(|returned| scope.byte_range().contains(&returned.start_byte()))
        .find_map(|returned| {
            let value = returned.named_child(0)?;
            if is_callable(value) {
                let block = value.child_by_field_name("body")?;
                return (block.kind() == "statement_block")
                    .then(|| append_to_block(file, block, "in the returned cleanup"))
                    .flatten();
            }
            if value.kind() != "object" {
                return None;
            }
            let mut cursor = value.walk();
            let members: Vec<Node<'_>> = value.named_children(&mut cursor).collect();
            members.into_iter().find_map(|member| {
                let (name, method) = match member.kind() {
                    "method_definition" => (member.child_by_field_name("name")?, member),
                    "pair" => (
                        member.child_by_field_name("key")?,
                        member
                            .child_by_field_name("value")
                            .filter(|value| is_callable(*value))?,
                    ),
                    _ => return None,
                };
                let name = file.node_text(name);
                if !DISPOSE_METHODS.contains(&name) {
                    return None;
                }
                let block = method.child_by_field_name("body")?;
                (block.kind() == "statement_block")
                    .then(|| append_to_block(file, block, &format!("in the returned `{name}()`")))
                    .flatten()
            })
        })
        .map(|point| CleanupPlan {
            point,
            anchor: statement,
            via_this: false,
        })
}

/// A registration in a class method, when the class has a `dispose`/`close`/`stop` method.
fn dispose_method_point<'tree>(
    file: &'tree ParsedFile,
    statement: Node<'tree>,
    function: Node<'tree>,
) -> Option<CleanupPlan<'tree>> {
    if function.kind() != "method_definition" {
        return None;
    }
    let class_body = function
        .parent()
        .filter(|body| body.kind() == "class_body")?;
    let mut cursor = class_body.walk();
    let members: Vec<Node<'tree>> = class_body.named_children(&mut cursor).collect();
    let (name, body) = members.into_iter().find_map(|member| {
        if member.kind() != "method_definition" || member.id() == function.id() {
            return None;
        }
        let name = file.node_text(member.child_by_field_name("name")?);
        let body = member.child_by_field_name("body")?;
        (DISPOSE_METHODS.contains(&name) && body.kind() == "statement_block")
            .then_some((name, body))
    })?;
    Some(CleanupPlan {
        point: append_to_block(file, body, &format!("in `{name}()`"))?,
        anchor: statement,
        via_this: true,
    })
}

fn new_close_handler_point<'tree>(
    file: &'tree ParsedFile,
    statement: Node<'tree>,
) -> Option<CleanupPlan<'tree>> {
    let object = REQUEST_SCOPED.iter().find(|name| {
        matches!(
            resolve(file, name, statement),
            Binding::Parameter | Binding::Local(_)
        )
    })?;
    Some(CleanupPlan {
        point: CleanupPoint::NewCloseHandler {
            object: (*object).to_owned(),
            offset: statement.end_byte(),
            indent: indent_at(file, statement.start_byte()),
        },
        anchor: statement,
        via_this: false,
    })
}

/// Append a statement at the end of `block` (a `statement_block`).
fn append_to_block(file: &ParsedFile, block: Node<'_>, what: &str) -> Option<CleanupPoint> {
    let mut cursor = block.walk();
    let last = block.named_children(&mut cursor).last();
    let style = Style::of(file);
    let point = match last {
        Some(last) => CleanupPoint::InBlock {
            offset: last.end_byte(),
            end: last.end_byte(),
            indent: indent_at(file, last.start_byte()),
            suffix: String::new(),
            what: what.to_owned(),
        },
        None => {
            // An empty block: the new line goes after `{`, one step deeper than the block's
            // line, and `}` gets a line of its own.
            let block_indent = indent_at(file, block.start_byte());
            CleanupPoint::InBlock {
                offset: block.start_byte() + 1,
                end: block
                    .end_byte()
                    .saturating_sub(1)
                    .max(block.start_byte() + 1),
                indent: format!("{block_indent}{}", style.unit),
                suffix: format!("\n{block_indent}"),
                what: what.to_owned(),
            }
        }
    };
    Some(point)
}

/// Where a function can return a disposer: after the last statement of its body, when the
/// registering statement sits directly in that body and the function returns nothing else.
pub(crate) fn disposer_point<'tree>(
    file: &'tree ParsedFile,
    statement: Node<'tree>,
) -> Option<(usize, String)> {
    let function = enclosing_callable(statement)?;
    let body = function.child_by_field_name("body")?;
    if body.kind() != "statement_block" || statement.parent()?.id() != body.id() {
        return None;
    }
    let is_constructor_or_generator = function.kind().contains("generator")
        || function
            .child_by_field_name("name")
            .is_some_and(|name| file.node_text(name) == "constructor");
    if is_constructor_or_generator {
        return None;
    }
    let returns_value = descendants_of_kind(body, &["return_statement"])
        .into_iter()
        .filter(|returned| {
            enclosing_callable(*returned).map(|owner| owner.id()) == Some(function.id())
        })
        .any(|returned| returned.named_child_count() > 0);
    if returns_value {
        return None;
    }
    let mut cursor = body.walk();
    let last = body
        .named_children(&mut cursor)
        .filter(|child| child.kind() != "comment")
        .last()?;
    Some((last.end_byte(), indent_at(file, last.start_byte())))
}
