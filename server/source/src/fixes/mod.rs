//! Quick fixes for a call site: pure functions from a parsed file and a site to text edits.
//! Every fix is applied and re-parsed before it is offered: one that adds a syntax error is
//! dropped.

mod cleanup;
mod collection;
mod handles;
mod listener;
mod style;
mod timer;

use crate::parsed::ParsedFile;
use crate::site::{CallSite, SiteKind};
use crate::syntax::{is_statement, statement_of};
use crate::text::{apply_edits, TextEdit, TextRange};
use tree_sitter::Node;

/// What a fix does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FixKind {
    /// Name the handler and remove it at the end of the registering scope's life.
    RemoveListener,
    /// Register with `once` instead of `on`.
    Once,
    /// Pass `{ signal }` from an `AbortController` aborted at the cleanup point.
    AbortSignal,
    /// Keep the timer's handle and clear it at the cleanup point.
    ClearTimer,
    /// Delete the entry at the cleanup point.
    DeleteEntry,
    /// Bound the collection: evict the oldest entry past a size.
    BoundCache,
    /// Use a `WeakMap`/`WeakSet`: entries die with their object keys.
    WeakMap,
    /// Return a function that undoes the registration, for the caller to call.
    ReturnDisposer,
    /// Keep the handle the registering call returns and undo the registration with it at
    /// the end of the registering scope's life (`subscription.unsubscribe()`,
    /// `api.interceptors.request.eject(interceptor)`).
    ReleaseHandle,
}

/// A quick fix: a title and the edits that make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// What the editor shows.
    pub title: String,
    /// What it does.
    pub kind: FixKind,
    /// Non-overlapping edits on the file's current text.
    pub edits: Vec<TextEdit>,
    /// The one to offer first (at most one per list; never a `once` rewrite, which changes behaviour).
    pub preferred: bool,
}

/// The syntax nodes of a site, found again in the file from its ranges.
pub(crate) struct SiteNodes<'tree> {
    pub statement: Node<'tree>,
    pub call: Node<'tree>,
    pub handler: Option<Node<'tree>>,
}

/// The fixes that apply to `site` in `file`, preferred first. Each one re-parses without new
/// errors and keeps the surrounding indentation and quote style.
pub fn fixes(file: &ParsedFile, site: &CallSite) -> Vec<Fix> {
    let Some(nodes) = site_nodes(file, site) else {
        return Vec::new();
    };
    let candidates = match site.kind {
        SiteKind::Listener => listener::listener_fixes(file, site, &nodes),
        SiteKind::Timer => timer::timer_fixes(file, site, &nodes),
        SiteKind::CollectionMutation => collection::collection_fixes(file, site, &nodes),
        SiteKind::Registration => match site.method.as_str() {
            // A function kept in a queue or map is bounded like any collection entry.
            "push" | "unshift" | "set" | "add" => collection::collection_fixes(file, site, &nodes),
            // A call whose value undoes it (`subscribe`, `interceptors.request.use`).
            _ => handles::handle_fixes(file, site, &nodes),
        },
        SiteKind::Call => handles::handle_fixes(file, site, &nodes),
    };
    let before = file.error_count();
    let mut kept: Vec<Fix> = candidates
        .into_iter()
        .filter(|fix| keeps_parsing(file, &fix.edits, before))
        .collect();
    // `once` changes when the handler runs: it is offered, never preferred.
    if let Some(first) = kept.iter_mut().find(|fix| fix.kind != FixKind::Once) {
        first.preferred = true;
    }
    kept
}

fn keeps_parsing(file: &ParsedFile, edits: &[TextEdit], errors_before: usize) -> bool {
    if edits.is_empty() {
        return false;
    }
    let Some(text) = apply_edits(file.text(), edits) else {
        return false;
    };
    ParsedFile::parse(text, file.language()).error_count() <= errors_before
}

fn site_nodes<'tree>(file: &'tree ParsedFile, site: &CallSite) -> Option<SiteNodes<'tree>> {
    let call = node_at(file, site.call, |node| {
        matches!(node.kind(), "call_expression" | "assignment_expression")
    })?;
    let statement = node_at(file, site.statement, is_statement).or_else(|| statement_of(call))?;
    let handler = site
        .handler
        .and_then(|range| node_at(file, range, |_| true));
    Some(SiteNodes {
        statement,
        call,
        handler,
    })
}

/// The innermost node spanning exactly `range` that `wanted` accepts.
fn node_at(
    file: &ParsedFile,
    range: TextRange,
    wanted: impl Fn(Node<'_>) -> bool,
) -> Option<Node<'_>> {
    let root = file.root()?;
    let mut node = Some(root.descendant_for_byte_range(range.start, range.end)?);
    while let Some(each) = node {
        if each.start_byte() != range.start || each.end_byte() != range.end {
            return None;
        }
        if wanted(each) {
            return Some(each);
        }
        node = each.parent();
    }
    None
}
