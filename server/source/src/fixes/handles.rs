//! Fixes for registrations undone through the value the registering call returns: an rxjs
//! `subject.subscribe(fn)` returns the `Subscription` whose `unsubscribe()` ends it, an axios
//! `api.interceptors.request.use(fn)` returns the id that `api.interceptors.request.eject(id)`
//! takes. The rule is the same for every such method: when the call's value is dropped (the
//! call is a statement of its own), keep it in a variable and undo the registration with it
//! where the registering scope's life ends (`cleanup::find_cleanup`: a `close` handler, a
//! `finally`, a returned cleanup, a `dispose()` method). When no such place is found, or the
//! value is already used (assigned, returned, awaited, passed on), nothing is offered: the
//! undo must never run right after the registration, and a value the code already keeps is
//! the code's to release.

use super::cleanup::find_cleanup;
use super::listener::reachable_from_methods;
use super::style::{indent_at, unique_name, Style};
use super::{Fix, FixKind, SiteNodes};
use crate::parsed::ParsedFile;
use crate::site::CallSite;
use crate::syntax::arguments_of;
use crate::text::TextEdit;
use tree_sitter::Node;

/// How a kept handle undoes its registration.
#[derive(Clone, Copy)]
enum Undo {
    /// A method of the handle itself: `subscription.unsubscribe()`.
    OnHandle(&'static str),
    /// A method of the registering call's receiver, given the handle:
    /// `api.interceptors.request.eject(interceptor)`.
    OnReceiver(&'static str),
}

/// A registering method whose return value undoes the registration. Only the API facts and
/// the words differ between entries; [`handle_fixes`] treats them all alike.
struct Releasable {
    /// The method called: `subscribe`, `use`.
    method: &'static str,
    /// The property names the receiver's member chain must end with (`interceptors.request`
    /// is `["interceptors", "request"]`); any receiver when empty.
    receiver_ends_with: &'static [&'static [&'static str]],
    /// The name given to the kept handle (made unique in the file).
    handle: &'static str,
    /// How the handle undoes the registration.
    undo: Undo,
    /// What the fix title says it does, before where: "Unsubscribe when `res` closes".
    title: &'static str,
}

/// The methods that return their own undo handle.
///
/// | call | returns | undo | title |
/// | --- | --- | --- | --- |
/// | `x.subscribe(...)` (rxjs `Observable`/`Subject`, any receiver) | a `Subscription` | `subscription.unsubscribe()` | Unsubscribe … |
/// | `x.interceptors.request.use(...)`, `x.interceptors.response.use(...)` (axios) | the interceptor's id | `x.interceptors.request.eject(interceptor)` | Eject the interceptor … |
const RELEASABLE: &[Releasable] = &[
    Releasable {
        method: "subscribe",
        receiver_ends_with: &[],
        handle: "subscription",
        undo: Undo::OnHandle("unsubscribe"),
        title: "Unsubscribe",
    },
    Releasable {
        method: "use",
        receiver_ends_with: &[&["interceptors", "request"], &["interceptors", "response"]],
        handle: "interceptor",
        undo: Undo::OnReceiver("eject"),
        title: "Eject the interceptor",
    },
];

/// Keep the handle the registering call returns and undo the registration with it where the
/// registering scope's life ends.
pub(super) fn handle_fixes(file: &ParsedFile, site: &CallSite, nodes: &SiteNodes<'_>) -> Vec<Fix> {
    release_at_cleanup(file, site, nodes).into_iter().collect()
}

fn release_at_cleanup(file: &ParsedFile, site: &CallSite, nodes: &SiteNodes<'_>) -> Option<Fix> {
    let receiver = nodes
        .call
        .child_by_field_name("function")
        .filter(|callee| callee.kind() == "member_expression")?
        .child_by_field_name("object")?;
    let entry = RELEASABLE.iter().find(|entry| {
        entry.method == site.method
            && (entry.receiver_ends_with.is_empty()
                || entry
                    .receiver_ends_with
                    .iter()
                    .any(|names| chain_ends_with(file, receiver, names)))
    })?;
    // The value must be dropped: the call is the whole statement. Anything else (a
    // declaration, an assignment, `return`, `await`, an argument) already uses it.
    let dropped = nodes
        .call
        .parent()
        .is_some_and(|parent| parent.id() == nodes.statement.id())
        && nodes.statement.kind() == "expression_statement";
    if !dropped || arguments_of(nodes.call).is_empty() {
        return None;
    }
    // A receiver the undo reads must be visible where it runs: a `finally` cannot see a local
    // of its `try` block.
    let uses: Vec<Node<'_>> = match entry.undo {
        Undo::OnReceiver(_) => vec![receiver],
        Undo::OnHandle(_) => Vec::new(),
    };
    let plan = find_cleanup(file, nodes.statement, &uses)?;
    if plan.via_this && matches!(entry.undo, Undo::OnReceiver(_)) {
        // The undo runs in another method: the receiver must be reachable from there too.
        if !reachable_from_methods(file, receiver) {
            return None;
        }
    }
    let style = Style::of(file);
    let name = unique_name(file, entry.handle);
    let hoisted = !plan.via_this && plan.anchor.id() != nodes.statement.id();
    let (handle, mut edits) = if plan.via_this {
        let handle = format!("this.{name}");
        let keep = TextEdit::insert(nodes.call.start_byte(), format!("{handle} = "));
        (handle, vec![keep])
    } else if hoisted {
        // Declared before the anchor (the `try`), so the cleanup point sees it.
        let declare = TextEdit::insert(
            plan.anchor.start_byte(),
            format!(
                "let {name}{}\n{}",
                style.end(),
                indent_at(file, plan.anchor.start_byte())
            ),
        );
        let keep = TextEdit::insert(nodes.call.start_byte(), format!("{name} = "));
        (name.clone(), vec![declare, keep])
    } else {
        let keep = TextEdit::insert(nodes.call.start_byte(), format!("const {name} = "));
        (name.clone(), vec![keep])
    };
    // A handle kept in a `let` before the `try` or on `this` may not be set yet when the
    // cleanup runs (the `try` threw first, `dispose()` came before the registration).
    let maybe_unset = hoisted || plan.via_this;
    let undo = match entry.undo {
        Undo::OnHandle(method) => {
            let access = if maybe_unset { "?." } else { "." };
            format!("{handle}{access}{method}()")
        }
        Undo::OnReceiver(method) => {
            format!("{}.{method}({handle})", file.node_text(receiver))
        }
    };
    edits.push(plan.point.edit(&style, &undo));
    Some(Fix {
        title: format!("{} {}", entry.title, plan.point.describe()),
        kind: FixKind::ReleaseHandle,
        edits,
        preferred: false,
    })
}

/// Whether the member chain `node` ends with the property names `names`:
/// `api.interceptors.request` ends with `["interceptors", "request"]`.
fn chain_ends_with(file: &ParsedFile, node: Node<'_>, names: &[&str]) -> bool {
    let mut current = node;
    for (at, name) in names.iter().enumerate().rev() {
        if current.kind() != "member_expression" {
            return false;
        }
        let matches_name = current
            .child_by_field_name("property")
            .is_some_and(|property| file.node_text(property) == *name);
        if !matches_name {
            return false;
        }
        if at > 0 {
            match current.child_by_field_name("object") {
                Some(object) => current = object,
                None => return false,
            }
        }
    }
    true
}
