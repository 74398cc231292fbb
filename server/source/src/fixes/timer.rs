//! Timer fixes: keep the handle and clear it when the registering scope ends, or where the
//! object holding the handle is removed from its collection.

use super::cleanup::{disposer_point, find_cleanup};
use super::listener::reachable_from_methods;
use super::style::{indent_at, unique_name, Style};
use super::{Fix, FixKind, SiteNodes};
use crate::parsed::ParsedFile;
use crate::site::CallSite;
use crate::syntax::{
    arguments_of, descendants_of_kind, enclosing_callable, root_of_chain, statement_of,
};
use crate::text::TextEdit;
use tree_sitter::Node;

pub(super) fn timer_fixes(file: &ParsedFile, site: &CallSite, nodes: &SiteNodes<'_>) -> Vec<Fix> {
    let clear = match site.method.as_str() {
        "setInterval" => "clearInterval",
        "setTimeout" => "clearTimeout",
        "setImmediate" => "clearImmediate",
        _ => return Vec::new(),
    };
    let what = match site.method.as_str() {
        "setInterval" => "interval",
        "setTimeout" => "timeout",
        _ => "immediate",
    };
    let style = Style::of(file);
    let Some(handle) = Handle::of(file, nodes.call) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if let Handle::Member { text, holder } = &handle {
        if let Some(fix) = clear_on_removal(file, &style, nodes, clear, what, text, *holder) {
            found.push(fix);
        }
    }
    let plan = find_cleanup(file, nodes.statement, &[]);
    let via_this = plan.as_ref().is_some_and(|plan| plan.via_this);
    let name = match (&handle, via_this) {
        (Handle::Dropped, true) => format!("this.{}", handle.name(file, what)),
        _ => handle.name(file, what),
    };
    let clear_code = format!("{clear}({name})");
    if let Some(plan) = plan {
        // A cleanup in another method reaches the handle only through `this` or the module.
        let reachable = match &handle {
            Handle::Dropped => true,
            Handle::Variable { .. } => !via_this,
            Handle::Member { holder, .. } => !via_this || reachable_from_methods(file, *holder),
        };
        let kept = if reachable {
            keep_handle(file, &style, &handle, nodes, plan.anchor, &name, via_this)
        } else {
            None
        };
        if let Some(mut edits) = kept {
            edits.push(plan.point.edit(&style, &clear_code));
            found.push(Fix {
                title: format!("Clear the {what} {}", plan.point.describe()),
                kind: FixKind::ClearTimer,
                edits,
                preferred: false,
            });
        }
    } else if let Some((offset, indent)) = disposer_point(file, nodes.statement) {
        if let Some(mut edits) =
            keep_handle(file, &style, &handle, nodes, nodes.statement, &name, false)
        {
            edits.push(TextEdit::insert(
                offset,
                format!("\n{indent}return () => {clear_code}{}", style.end()),
            ));
            found.push(Fix {
                title: format!("Return a disposer that clears the {what}"),
                kind: FixKind::ReturnDisposer,
                edits,
                preferred: false,
            });
        }
    }
    found
}

/// Where the timer's handle is kept.
enum Handle<'tree> {
    /// Not kept: `setInterval(...)` as a statement.
    Dropped,
    /// In a variable: `const ticker = setInterval(...)`.
    Variable {
        name: String,
        declaration: Node<'tree>,
    },
    /// On an object: `session.heartbeat = setInterval(...)`.
    Member { text: String, holder: Node<'tree> },
}

impl<'tree> Handle<'tree> {
    fn of(file: &ParsedFile, call: Node<'tree>) -> Option<Handle<'tree>> {
        let parent = call.parent()?;
        match parent.kind() {
            "expression_statement" => Some(Handle::Dropped),
            "variable_declarator" => {
                let name = parent.child_by_field_name("name")?;
                (name.kind() == "identifier").then(|| Handle::Variable {
                    name: file.node_text(name).to_owned(),
                    declaration: parent,
                })
            }
            "assignment_expression" => {
                let left = parent.child_by_field_name("left")?;
                match left.kind() {
                    "identifier" => Some(Handle::Variable {
                        name: file.node_text(left).to_owned(),
                        declaration: parent,
                    }),
                    "member_expression" => Some(Handle::Member {
                        text: file.node_text(left).to_owned(),
                        holder: left.child_by_field_name("object")?,
                    }),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn name(&self, file: &ParsedFile, what: &str) -> String {
        match self {
            Handle::Dropped => unique_name(file, what),
            Handle::Variable { name, .. } => name.clone(),
            Handle::Member { text, .. } => text.clone(),
        }
    }
}

/// The edits that keep the handle visible at a cleanup point whose declarations go before `anchor`.
fn keep_handle(
    file: &ParsedFile,
    style: &Style,
    handle: &Handle<'_>,
    nodes: &SiteNodes<'_>,
    anchor: Node<'_>,
    name: &str,
    via_this: bool,
) -> Option<Vec<TextEdit>> {
    let hoisted = anchor.id() != nodes.statement.id();
    match handle {
        Handle::Dropped if via_this => Some(vec![TextEdit::insert(
            nodes.call.start_byte(),
            format!("{name} = "),
        )]),
        Handle::Dropped if !hoisted => Some(vec![TextEdit::insert(
            nodes.call.start_byte(),
            format!("const {name} = "),
        )]),
        Handle::Dropped => Some(vec![
            TextEdit::insert(
                anchor.start_byte(),
                format!(
                    "let {name}{}\n{}",
                    style.end(),
                    indent_at(file, anchor.start_byte())
                ),
            ),
            TextEdit::insert(nodes.call.start_byte(), format!("{name} = ")),
        ]),
        // A variable declared inside the anchored region is not visible at the cleanup point.
        Handle::Variable { declaration, .. } => {
            (!hoisted || !anchor.byte_range().contains(&declaration.start_byte())).then(Vec::new)
        }
        Handle::Member { .. } => Some(Vec::new()),
    }
}

/// `session.heartbeat = setInterval(...)` where `session` is stored with `sessions.set(id, session)`:
/// clear the timer where the session is taken out again (`sessions.delete(id)`), reading it
/// through the variable that function got from `sessions.get(...)`.
fn clear_on_removal(
    file: &ParsedFile,
    style: &Style,
    nodes: &SiteNodes<'_>,
    clear: &str,
    what: &str,
    handle_text: &str,
    holder: Node<'_>,
) -> Option<Fix> {
    let holder_root = root_of_chain(holder).filter(|root| root.kind() == "identifier")?;
    let holder_name = file.node_text(holder_root);
    let function = enclosing_callable(nodes.call)?;
    let root = file.root()?;
    let calls = descendants_of_kind(root, &["call_expression"]);
    let method_of = |call: &Node<'_>| {
        call.child_by_field_name("function")
            .filter(|callee| callee.kind() == "member_expression")
            .and_then(|callee| {
                Some((
                    file.node_text(callee.child_by_field_name("object")?)
                        .to_owned(),
                    file.node_text(callee.child_by_field_name("property")?)
                        .to_owned(),
                ))
            })
    };
    let collection = calls
        .iter()
        .filter(|call| function.byte_range().contains(&call.start_byte()))
        .find_map(|call| {
            let (object, method) = method_of(call)?;
            let stores_holder = arguments_of(*call)
                .iter()
                .any(|argument| file.node_text(*argument) == holder_name);
            (matches!(method.as_str(), "set" | "add" | "push") && stores_holder).then_some(object)
        })?;
    let removal = calls.iter().find(|call| {
        !function.byte_range().contains(&call.start_byte())
            && method_of(call)
                .is_some_and(|(object, method)| object == collection && method == "delete")
    })?;
    let removal_statement = statement_of(*removal)?;
    let remover = enclosing_callable(*removal)?;
    // The variable that holds the entry in the removing function: `const x = <collection>.get(...)`.
    let getter = format!("{collection}.get(");
    let entry = descendants_of_kind(remover, &["variable_declarator"])
        .into_iter()
        .filter(|declarator| declarator.start_byte() < removal_statement.start_byte())
        .find(|declarator| {
            declarator
                .child_by_field_name("value")
                .is_some_and(|value| file.node_text(value).starts_with(&getter))
        })?;
    let entry_name = file.node_text(entry.child_by_field_name("name")?);
    if entry.child_by_field_name("name")?.kind() != "identifier" {
        return None;
    }
    let holder_rest = handle_text.get(holder_root.end_byte() - holder.start_byte()..)?;
    let indent = indent_at(file, removal_statement.start_byte());
    let edit = TextEdit::insert(
        removal_statement.start_byte(),
        format!(
            "{clear}({entry_name}{holder_rest}){}\n{indent}",
            style.end()
        ),
    );
    Some(Fix {
        title: format!("Clear the {what} where `{holder_name}` is removed from `{collection}`"),
        kind: FixKind::ClearTimer,
        edits: vec![edit],
        preferred: false,
    })
}
