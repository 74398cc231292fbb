//! Listener fixes: remove the handler when the registering scope ends, use `once`, pass an
//! `AbortSignal`, or return a disposer.

use super::cleanup::{disposer_point, find_cleanup, CleanupPlan};
use super::style::{handler_name, indent_at, unique_name, Style};
use super::{Fix, FixKind, SiteNodes};
use crate::parsed::ParsedFile;
use crate::scope::{resolve, Binding};
use crate::site::CallSite;
use crate::syntax::arguments_of;
use crate::syntax::root_of_chain;
use crate::text::TextEdit;
use tree_sitter::Node;

pub(super) fn listener_fixes(
    file: &ParsedFile,
    site: &CallSite,
    nodes: &SiteNodes<'_>,
) -> Vec<Fix> {
    let mut found = Vec::new();
    let (Some(receiver), Some(handler)) = (site.receiver.as_deref(), nodes.handler) else {
        return found;
    };
    let style = Style::of(file);
    let arguments = arguments_of(nodes.call);
    let Some(event_argument) = arguments.first() else {
        return found;
    };
    let event_text = file.node_text(*event_argument);
    let event_label = site.event.clone().unwrap_or_else(|| event_text.to_owned());
    let is_event_target = site.method == "addEventListener";
    let is_once = matches!(site.method.as_str(), "once" | "prependOnceListener");
    let name = if handler.kind() == "identifier" {
        file.node_text(handler).to_owned()
    } else {
        unique_name(file, &handler_name(site.event.as_deref()))
    };
    let remover = if is_event_target {
        "removeEventListener"
    } else if file.text().contains(&format!("{receiver}.off(")) {
        "off"
    } else {
        "removeListener"
    };
    let removal = format!("{receiver}.{remover}({event_text}, {name})");
    let plan = find_cleanup(file, nodes.statement, &[handler]);

    if is_event_target {
        if let Some(fix) = abort_signal(file, &style, nodes, &arguments, &event_label) {
            found.push(fix);
        }
    }
    if let Some(plan) = plan.as_ref().filter(|plan| plan.via_this) {
        // The cleanup is another method: the handler is kept on `this`, and the emitter must
        // be reachable from there too.
        let reachable = nodes
            .call
            .child_by_field_name("function")
            .and_then(|callee| callee.child_by_field_name("object"))
            .is_some_and(|object| reachable_from_methods(file, object));
        if reachable && handler.kind() != "identifier" {
            let kept = format!("this.{name}");
            let removal = format!("{receiver}.{remover}({event_text}, {kept})");
            let removal = Removal {
                declare: &kept,
                reference: &kept,
                code: &removal,
                event_label: &event_label,
            };
            found.push(remove_at(
                file,
                &style,
                nodes.statement,
                handler,
                plan,
                removal,
            ));
        }
    } else if let Some(plan) = &plan {
        let declare = format!("const {name}");
        let removal = Removal {
            declare: &declare,
            reference: &name,
            code: &removal,
            event_label: &event_label,
        };
        found.push(remove_at(
            file,
            &style,
            nodes.statement,
            handler,
            plan,
            removal,
        ));
    } else if let Some((offset, indent)) = disposer_point(file, nodes.statement) {
        let declare = format!("const {name}");
        let mut edits = hoist(
            file,
            &style,
            nodes.statement,
            nodes.statement,
            handler,
            &declare,
            &name,
        );
        edits.push(TextEdit::insert(
            offset,
            format!("\n{indent}return () => {removal}{}", style.end()),
        ));
        found.push(Fix {
            title: format!("Return a disposer that removes the `{event_label}` listener"),
            kind: FixKind::ReturnDisposer,
            edits,
            preferred: false,
        });
    }
    if !is_once {
        if let Some(fix) = use_once(file, site, nodes, &arguments, &event_label) {
            found.push(fix);
        }
    }
    found
}

/// A listener removal: how the handler is named when hoisted, and the removing statement.
struct Removal<'a> {
    /// `const onData` or `this.onData`.
    declare: &'a str,
    /// `onData` or `this.onData`.
    reference: &'a str,
    /// `bus.removeListener('data', onData)`.
    code: &'a str,
    event_label: &'a str,
}

/// Hoist the handler (when inline) and remove it at the plan's cleanup point.
fn remove_at(
    file: &ParsedFile,
    style: &Style,
    statement: Node<'_>,
    handler: Node<'_>,
    plan: &CleanupPlan<'_>,
    removal: Removal<'_>,
) -> Fix {
    let mut edits = hoist(
        file,
        style,
        plan.anchor,
        statement,
        handler,
        removal.declare,
        removal.reference,
    );
    edits.push(plan.point.edit(style, removal.code));
    Fix {
        title: format!(
            "Remove the `{}` listener {}",
            removal.event_label,
            plan.point.describe()
        ),
        kind: FixKind::RemoveListener,
        edits,
        preferred: false,
    }
}

/// Name an inline handler before `anchor` (`declare` is `const onData` or `this.onData`), and
/// pass `reference` instead.
pub(super) fn hoist(
    file: &ParsedFile,
    style: &Style,
    anchor: Node<'_>,
    statement: Node<'_>,
    handler: Node<'_>,
    declare: &str,
    reference: &str,
) -> Vec<TextEdit> {
    if handler.kind() == "identifier" {
        return Vec::new();
    }
    let anchor_indent = indent_at(file, anchor.start_byte());
    let statement_indent = indent_at(file, statement.start_byte());
    let extra = statement_indent
        .strip_prefix(anchor_indent.as_str())
        .map_or(0, str::len);
    let text = file.node_text(handler);
    let mut lines = text.split('\n');
    let mut moved = lines.next().unwrap_or("").to_owned();
    for line in lines {
        // Moved out of `extra` levels of nesting: drop that much leading whitespace.
        let shallower = match line.get(..extra) {
            Some(lead) if lead.trim().is_empty() => &line[extra..],
            _ => line,
        };
        moved.push('\n');
        moved.push_str(shallower);
    }
    vec![
        TextEdit::insert(
            anchor.start_byte(),
            format!("{declare} = {moved}{}\n{anchor_indent}", style.end()),
        ),
        TextEdit::replace(crate::parsed::range_of(handler), reference),
    ]
}

fn use_once(
    file: &ParsedFile,
    site: &CallSite,
    nodes: &SiteNodes<'_>,
    arguments: &[Node<'_>],
    event_label: &str,
) -> Option<Fix> {
    // An event that fires once in the emitter's life (an abort, a close, the process's
    // exit) keeps a `once` listener exactly as long as an `on` one: no fix for the leak.
    if site.event.as_deref().is_some_and(fires_once_per_life) {
        return None;
    }
    let title = format!("Listen to `{event_label}` only once");
    let edits = match site.method.as_str() {
        "on" | "addListener" | "prependListener" => {
            let property = nodes
                .call
                .child_by_field_name("function")?
                .child_by_field_name("property")?;
            let once = if site.method == "prependListener" {
                "prependOnceListener"
            } else {
                "once"
            };
            vec![TextEdit::replace(crate::parsed::range_of(property), once)]
        }
        "addEventListener" if arguments.len() == 2 => {
            vec![TextEdit::insert(
                arguments[1].end_byte(),
                ", { once: true }",
            )]
        }
        _ => return None,
    };
    let _ = file;
    Some(Fix {
        title,
        kind: FixKind::Once,
        edits,
        preferred: false,
    })
}

/// Events that end their emitter's life: listeners for them wait until the end either way.
fn fires_once_per_life(event: &str) -> bool {
    matches!(
        event,
        "abort"
            | "close"
            | "end"
            | "finish"
            | "exit"
            | "beforeExit"
            | "disconnect"
            | "SIGINT"
            | "SIGTERM"
            | "SIGHUP"
            | "SIGUSR2"
    )
}

/// `target.addEventListener(type, fn, { signal })` with an `AbortController` aborted at the
/// cleanup point (or by a returned disposer).
fn abort_signal(
    file: &ParsedFile,
    style: &Style,
    nodes: &SiteNodes<'_>,
    arguments: &[Node<'_>],
    event_label: &str,
) -> Option<Fix> {
    let plan = find_cleanup(file, nodes.statement, &[]);
    let via_this = plan.as_ref().is_some_and(|plan| plan.via_this);
    let controller = if via_this {
        format!("this.{}", unique_name(file, "listenerController"))
    } else {
        unique_name(file, "listenerController")
    };
    let declare_controller = if via_this {
        controller.clone()
    } else {
        format!("const {controller}")
    };
    let signal_option = format!("signal: {controller}.signal");
    let option_edit = match arguments.get(2) {
        None => TextEdit::insert(
            arguments.get(1)?.end_byte(),
            format!(", {{ {signal_option} }}"),
        ),
        Some(options) if options.kind() == "object" => {
            if options.named_child_count() == 0 {
                TextEdit::replace(
                    crate::parsed::range_of(*options),
                    format!("{{ {signal_option} }}"),
                )
            } else {
                TextEdit::insert(options.start_byte() + 1, format!(" {signal_option},"))
            }
        }
        Some(_) => return None,
    };
    let abort = format!("{controller}.abort()");
    let declare = |anchor: Node<'_>| {
        TextEdit::insert(
            anchor.start_byte(),
            format!(
                "{declare_controller} = new AbortController(){}\n{}",
                style.end(),
                indent_at(file, anchor.start_byte())
            ),
        )
    };
    let (edits, title) = match plan {
        Some(plan) => (
            vec![
                declare(plan.anchor),
                option_edit,
                plan.point.edit(style, &abort),
            ],
            format!(
                "Pass an `AbortSignal` and abort it {} (removes the `{event_label}` listener)",
                plan.point.describe()
            ),
        ),
        None => {
            let (offset, indent) = disposer_point(file, nodes.statement)?;
            (
                vec![
                    declare(nodes.statement),
                    option_edit,
                    TextEdit::insert(offset, format!("\n{indent}return () => {abort}{}", style.end())),
                ],
                format!("Pass an `AbortSignal` and return a disposer that aborts it (removes the `{event_label}` listener)"),
            )
        }
    };
    Some(Fix {
        title,
        kind: FixKind::AbortSignal,
        edits,
        preferred: false,
    })
}

/// True when `object` can be named from any method of its class: `this...`, or a module-scope
/// or global binding.
pub(super) fn reachable_from_methods(file: &ParsedFile, object: Node<'_>) -> bool {
    match root_of_chain(object) {
        Some(root) if root.kind() == "this" => true,
        Some(root) => matches!(
            resolve(file, file.node_text(root), root),
            Binding::Module(_) | Binding::Global
        ),
        None => false,
    }
}
