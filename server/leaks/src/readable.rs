//! Retainer paths as a person reads them: the full path (kept in the finding's
//! `retainer_path`) starts at a GC root and often walks ten hops through Node's own
//! structures (a timer list, a server's listeners, the module cache) before the user's
//! variable. The readable path starts where the user's objects start — the variable or
//! property of the user's code that names the holder — and folds each run of internal hops
//! into one line that says what they are, named from the kinds of hops met (general rules,
//! no hard-coded path).
//!
//! Deciding what each hop is needs the graph ([`readable_path`]); folding is plain data
//! ([`fold`]) so it is tested on constructed paths.

use heapsight_snapshot::{EdgeName, EdgeType, NodeIndex, NodeType};
use serde::{Deserialize, Serialize};

use crate::ctx::Ctx;
use crate::finding::{CodeAnchor, Finding, PathHop};
use crate::message::format_bytes;
use crate::stacks::file_name;

/// One line of a readable retainer path. Indices are into the finding's full
/// `retainer_path`, so every line can be expanded into the hops it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum ReadableStep {
    /// A run of internal hops shown as one line: `hops` hops from `first`, going through
    /// what `through` names, in the order met ("Node's timer lists", "a Server 'request'
    /// handler"; "Node's internals" or "V8's internals" when no hop names a kind).
    Folded {
        /// The first hop of the run.
        first: usize,
        /// How many hops the run holds.
        hops: usize,
        /// What the run goes through.
        through: Vec<String>,
    },
    /// The user's variable the path enters the user's objects by: hop `first` is the scope
    /// (a context) holding the variable `name`, hop `first + 1` the object it names.
    Variable {
        /// The scope's hop.
        first: usize,
        /// The variable's name.
        name: String,
        /// Whether the variable is declared at the top of its module (not inside a function).
        module_level: bool,
        /// A function of the user's code whose scope holds the variable: its script names
        /// the file (V8 records no position for variables, so its line is the function's).
        scope: Option<CodeAnchor>,
    },
    /// One hop of the full path, shown as it is.
    Hop {
        /// The hop.
        index: usize,
    },
}

impl ReadableStep {
    /// The indices of the full path's hops this line stands for.
    pub fn hops(&self) -> std::ops::Range<usize> {
        match *self {
            ReadableStep::Folded { first, hops, .. } => first..first + hops,
            ReadableStep::Variable { first, .. } => first..first + 2,
            ReadableStep::Hop { index } => index..index + 1,
        }
    }
}

/// "Node's timer lists and a Server 'request' handler": what a folded run goes through, as
/// plain text.
pub fn through_text(through: &[String]) -> String {
    match through {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// What a folded line says: "10 hops from the GC root through Node's timer lists".
pub fn folded_text(first: usize, hops: usize, through: &[String]) -> String {
    let s = if hops == 1 { "" } else { "s" };
    let from = if first == 0 { " from the GC root" } else { "" };
    match through_text(through) {
        t if t.is_empty() => format!("{hops} hop{s}{from}"),
        t => format!("{hops} hop{s}{from} through {t}"),
    }
}

/// Where a variable lives: "module-level variable of main.js", or for a function's
/// variable the closure that captures it, "captured by handler (server.js:12)". V8 records
/// no position for a variable: a line is a function's.
pub fn variable_scope_text(module_level: bool, scope: Option<&CodeAnchor>) -> String {
    let file = scope.and_then(|a| a.url.as_deref()).map(file_name);
    match (module_level, scope, file) {
        (true, _, Some(file)) => format!("module-level variable of {file}"),
        (true, _, None) => "module-level variable".into(),
        (false, Some(a), Some(file)) => match a.function.as_deref() {
            Some(f) => format!("captured by {f} ({file}:{})", a.line + 1),
            None => format!("captured by the function at {file}:{}", a.line + 1),
        },
        (false, _, _) => "a function's variable".into(),
    }
}

/// The readable path of `f` as plain text lines (the command line's form): a folded run
/// as `… 10 hops from the GC root through …`, a hop as `class "name" @id d=distance (size)
/// --edge-type edge-->`. Without a readable path (a report written before it), the full path.
pub fn readable_lines(f: &Finding) -> Vec<String> {
    let hop_line = |hop: &PathHop, lead: String| {
        let name = hop
            .name
            .as_ref()
            .map(|n| format!(" {n:?}"))
            .unwrap_or_default();
        let edge = match (&hop.edge, hop.edge_type) {
            (Some(e), Some(t)) => format!(" --{t} {e}-->"),
            _ => String::new(),
        };
        let d = hop.distance.map(|d| format!(" d={d}")).unwrap_or_default();
        format!(
            "{lead}{}{name} @{}{d} ({}){edge}",
            hop.class,
            hop.id,
            format_bytes(hop.retained_bytes)
        )
    };
    if f.readable_path.is_empty() {
        return f
            .retainer_path
            .iter()
            .map(|h| hop_line(h, String::new()))
            .collect();
    }
    f.readable_path
        .iter()
        .filter_map(|step| match step {
            ReadableStep::Folded {
                first,
                hops,
                through,
            } => Some(format!("… {}", folded_text(*first, *hops, through))),
            ReadableStep::Variable {
                first,
                name,
                module_level,
                scope,
            } => {
                let hop = f.retainer_path.get(first + 1)?;
                let lead = format!(
                    "{name} ({}): ",
                    variable_scope_text(*module_level, scope.as_ref())
                );
                Some(hop_line(hop, lead))
            }
            ReadableStep::Hop { index } => f
                .retainer_path
                .get(*index)
                .map(|h| hop_line(h, String::new())),
        })
        .collect()
}

/// What one hop is, for folding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HopKind {
    /// Node's or V8's own structure: the reader has no name in their code for it.
    pub internal: bool,
    /// What a run through it is called.
    pub label: Label,
}

/// The name of what an internal hop belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Label {
    /// A kind the reader knows ("Node's timer lists", "the module cache").
    Named(String),
    /// Code or objects of Node's own scripts.
    Node,
    /// An npm package's code or objects (named together: "objects of express and router").
    Package(String),
    /// V8's hidden, system and code objects.
    V8,
    /// Nothing to say (the hop is covered by a neighbour's label, or is the user's).
    Quiet,
}

impl HopKind {
    fn user() -> Self {
        HopKind {
            internal: false,
            label: Label::Quiet,
        }
    }
    fn internal(label: Label) -> Self {
        HopKind {
            internal: true,
            label,
        }
    }
}

/// Where the user's part of the path begins, and how it is entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Start {
    /// The first hop shown unfolded.
    pub at: usize,
    /// When hop `at` is the scope holding the user's variable: the variable's step.
    pub variable: Option<ReadableStep>,
}

/// Folds a path of `kinds` that the reader should start reading at `start`: everything
/// before the start in one line (one hop is shown as it is), then the rest hop by hop with
/// each run of two or more internal hops folded.
pub(crate) fn fold(kinds: &[HopKind], start: Start) -> Vec<ReadableStep> {
    let mut out = Vec::new();
    let at = start.at.min(kinds.len());
    match at {
        0 => {}
        1 => out.push(ReadableStep::Hop { index: 0 }),
        _ => out.push(folded(kinds, 0, at)),
    }
    let mut i = at;
    if let Some(variable) = start.variable.filter(|_| at + 1 < kinds.len()) {
        i = variable.hops().end;
        out.push(variable);
    }
    while i < kinds.len() {
        let mut end = i;
        while end < kinds.len() && kinds[end].internal {
            end += 1;
        }
        if end - i >= 2 {
            out.push(folded(kinds, i, end));
            i = end;
        } else {
            out.push(ReadableStep::Hop { index: i });
            i += 1;
        }
    }
    out
}

/// `kinds[from..to]` as one folded line, named from the kinds met.
fn folded(kinds: &[HopKind], from: usize, to: usize) -> ReadableStep {
    let run = &kinds[from..to];
    let mut through: Vec<String> = Vec::new();
    for kind in run {
        if let Label::Named(name) = &kind.label {
            if !through.contains(name) {
                through.push(name.clone());
            }
        }
    }
    let mut packages: Vec<&str> = Vec::new();
    for kind in run {
        if let Label::Package(package) = &kind.label {
            if !packages.contains(&package.as_str()) {
                packages.push(package);
            }
        }
    }
    if !packages.is_empty() {
        let packages: Vec<String> = packages.into_iter().map(str::to_string).collect();
        through.push(format!("objects of {}", through_text(&packages)));
    }
    if through.is_empty() {
        if run.iter().any(|k| k.label == Label::Node) {
            through.push("Node's internals".into());
        } else if run.iter().any(|k| k.label == Label::V8) {
            through.push("V8's internals".into());
        }
    }
    ReadableStep::Folded {
        first: from,
        hops: to - from,
        through,
    }
}

/// What the module cache's hops are called.
const MODULE_CACHE: &str = "the module cache";

/// How far up from the holder the walk for its name goes (`shutdown.signal`,
/// `billingApi.interceptors.request.handlers`).
const NAME_DEPTH: usize = 6;

/// The readable form of `path` (root first, each element with the edge leaving it), whose
/// user-meaningful holder is `owner`.
pub(crate) fn readable_path(
    ctx: &Ctx<'_>,
    path: &[(NodeIndex, Option<usize>)],
    owner: NodeIndex,
) -> Vec<ReadableStep> {
    let plain: Vec<HopKind> = (0..path.len()).map(|i| hop_kind(ctx, path, i)).collect();
    // The listeners of Node's own emitters (a server's `request` handler): the emitter
    // names the run; its `_events` record, the listener array and the listener function
    // are part of it. Only above the start: below it, an emitter of Node's class is the
    // user's own (`const bus = new EventEmitter()`) and its listeners are the leak.
    let g = &ctx.snap.graph;
    let mut labeled = plain.clone();
    for i in 0..path.len() {
        let Some(label) = node_emitter_handler(ctx, path, i) else {
            continue;
        };
        labeled[i] = HopKind::internal(Label::Named(label));
        for (kind, &(n, _)) in labeled.iter_mut().zip(path).skip(i + 1).take(3) {
            *kind = HopKind::internal(Label::Quiet);
            if g.node_type(n) == NodeType::Closure {
                break;
            }
        }
    }
    let start = start(ctx, path, &labeled, owner);
    let at = start.at.min(path.len());
    let kinds: Vec<HopKind> = labeled[..at].iter().chain(&plain[at..]).cloned().collect();
    fold(&kinds, start)
}

/// Where the user's part begins: the variable or global property naming `owner` (walking up
/// the property chain that names it), else `owner` itself, else the first hop after the
/// leading internals.
fn start(
    ctx: &Ctx<'_>,
    path: &[(NodeIndex, Option<usize>)],
    kinds: &[HopKind],
    owner: NodeIndex,
) -> Start {
    let g = &ctx.snap.graph;
    let Some(holder) = path.iter().position(|&(n, _)| n == owner) else {
        // The path reaches the leak another way than through the holder: from the variable
        // nearest the leak in a scope that is not Node's, else after the leading internals.
        let variable = (1..path.len()).rev().find_map(|i| {
            let (context, edge) = path[i - 1];
            match g.edge(edge?) {
                e if e.edge_type == EdgeType::Context && !kinds[i - 1].internal => match e.name {
                    EdgeName::Name(name) => Some(variable(ctx, i - 1, context, name)),
                    EdgeName::Index(_) => None,
                },
                _ => None,
            }
        });
        if let Some(step) = variable {
            return Start {
                at: step.hops().start,
                variable: Some(step),
            };
        }
        let at = kinds
            .iter()
            .position(|k| !k.internal)
            .filter(|&i| i > 0)
            .unwrap_or(path.len().saturating_sub(1));
        return Start { at, variable: None };
    };
    let mut at = holder;
    for _ in 0..NAME_DEPTH {
        let Some(&(from, Some(edge))) = at.checked_sub(1).and_then(|i| path.get(i)) else {
            break;
        };
        let edge = g.edge(edge);
        match (edge.edge_type, edge.name) {
            // A variable of Node's own scope (`timerListMap`) names nothing the reader wrote.
            (EdgeType::Context, EdgeName::Name(_)) if kinds[at - 1].internal => break,
            (EdgeType::Context, EdgeName::Name(name)) => {
                return Start {
                    at: at - 1,
                    variable: Some(variable(ctx, at - 1, from, name)),
                };
            }
            // The objects on the user's property chain (`shutdown.signal`) are named by it,
            // whatever class made them; the global object and the module cache end it.
            (EdgeType::Property | EdgeType::Shortcut, EdgeName::Name(_))
                if kinds[at - 1].label != Label::Named(MODULE_CACHE.into()) =>
            {
                // `global.registry`: the global object is shown, the walk ends there.
                let class = ctx.class(from);
                if class == "global" || class == "Window" || g.node_name(from).starts_with("global")
                {
                    return Start {
                        at: at - 1,
                        variable: None,
                    };
                }
                at -= 1;
            }
            // A backing store or an array slot on the way to the named object.
            (EdgeType::Internal | EdgeType::Element, _) if crate::kinds::is_store(ctx, from) => {
                at -= 1;
            }
            _ => break,
        }
    }
    Start { at, variable: None }
}

/// The step of the variable `name` of `context`, hop `first` of the path.
fn variable(ctx: &Ctx<'_>, first: usize, context: NodeIndex, name: &str) -> ReadableStep {
    ReadableStep::Variable {
        first,
        name: name.to_string(),
        module_level: module_level(ctx, context),
        scope: scope_function(ctx, context),
    }
}

/// Whether `context` is a module's top scope: the scope around it is no function's (a
/// native or script context, or none).
fn module_level(ctx: &Ctx<'_>, context: NodeIndex) -> bool {
    let g = &ctx.snap.graph;
    match ctx.child(context, "previous") {
        None => true,
        Some(outer) => {
            let name = g.node_name(outer);
            name.contains("NativeContext") || name.contains("ScriptContext")
        }
    }
}

/// A function whose scope is `context` (of the closures pointing to it, the user's own
/// first, then by position): the scope's file, and for a function's variable its place.
fn scope_function(ctx: &Ctx<'_>, context: NodeIndex) -> Option<CodeAnchor> {
    let g = &ctx.snap.graph;
    ctx.snap
        .retainers(context)
        .iter()
        .map(|&r| NodeIndex(r))
        .filter(|&r| g.node_type(r) == NodeType::Closure)
        .filter_map(|r| ctx.anchor(r))
        .min_by_key(|a| {
            let user = a.url.as_deref().is_some_and(Ctx::is_user_url);
            (!user, a.line, a.column)
        })
}

/// The script of `n`'s code: a function's own, an object's constructor's.
fn script_of(ctx: &Ctx<'_>, n: NodeIndex) -> Option<String> {
    let loc = ctx.snap.graph.location(n)?;
    ctx.script_url(loc.script_id, n)
}

/// Whether a script is one of Node's own (`node:internal/timers`, `internal/...`).
fn is_node_url(url: &str) -> bool {
    url.starts_with("node:") || url.starts_with("internal/")
}

/// Hop `i` of `path`, by general rules: Node's timer lists, the module cache, native
/// contexts, Node's own scripts' functions and objects (and the scopes of those functions),
/// V8's hidden, code and synthetic nodes. Anything else is the user's (or a library's,
/// which the reader can name).
fn hop_kind(ctx: &Ctx<'_>, path: &[(NodeIndex, Option<usize>)], i: usize) -> HopKind {
    let g = &ctx.snap.graph;
    let (n, edge) = path[i];
    let class = ctx.class(n);
    let name = g.node_name(n);
    let edge = edge.map(|e| g.edge(e));
    let edge_name = match edge.map(|e| e.name) {
        Some(EdgeName::Name(s)) => s,
        _ => "",
    };
    // The GC roots and the global object: every path starts there.
    if i == 0 || class == "global" || class == "Window" {
        return HopKind::internal(Label::Quiet);
    }
    // Node's timer lists: the lists and their timers' links, and the tables of lists
    // (what Node's timers module keeps in `timerListMap` and `timerListQueue`).
    let timer_table =
        |name: &str| matches!(name, "timerListMap" | "timerListQueue" | "immediateQueue");
    let entered_by = i
        .checked_sub(1)
        .and_then(|p| path[p].1)
        .map(|e| g.edge(e).name);
    if class == "TimersList"
        || (class == "Timeout" && matches!(edge_name, "_idleNext" | "_idlePrev"))
        || timer_table(edge_name)
        || matches!(entered_by, Some(EdgeName::Name(name)) if timer_table(name))
    {
        return HopKind::internal(Label::Named("Node's timer lists".into()));
    }
    if class == "Module"
        || (edge_name == "_cache" && script_of(ctx, n).is_some_and(|u| is_node_url(&u)))
    {
        return HopKind::internal(Label::Named(MODULE_CACHE.into()));
    }
    if name.contains("NativeContext") {
        return HopKind::internal(Label::Named("a native context".into()));
    }
    match g.node_type(n) {
        NodeType::Code | NodeType::Synthetic => return HopKind::internal(Label::V8),
        NodeType::Hidden if class != "system / Context" => return HopKind::internal(Label::V8),
        _ => {}
    }
    // A scope: Node's when the function before it on the path is.
    if class == "system / Context" {
        let of_node_function = i
            .checked_sub(1)
            .and_then(|p| path.get(p))
            .is_some_and(|&(f, _)| {
                g.node_type(f) == NodeType::Closure
                    && script_of(ctx, f).is_some_and(|u| is_node_url(&u))
            });
        return if of_node_function {
            HopKind::internal(Label::Node)
        } else {
            HopKind::user()
        };
    }
    // A bound function is its target's: a `native_bind` of Node's (a timer's bound
    // `_onTimeout`) has no script of its own.
    if g.node_type(n) == NodeType::Closure && ctx.child(n, "bound_function").is_some() {
        let target = ctx.unwrap_function(n);
        if script_of(ctx, target).is_none_or(|u| is_node_url(&u)) {
            return HopKind::internal(Label::Node);
        }
        return HopKind::user();
    }
    if script_of(ctx, n).is_some_and(|u| is_node_url(&u)) {
        return HopKind::internal(Label::Node);
    }
    // A package's object is the reader's to name (not folded below the start), but a run
    // above the start that goes through it says so.
    match ctx.library_of(n) {
        Some(package) => HopKind {
            internal: false,
            label: Label::Package(package),
        },
        None => HopKind::user(),
    }
}

/// When hop `i` is one of Node's own emitters (an `http.Server`, a socket) leading through
/// its `_events` to a listener: "a Server 'request' handler".
fn node_emitter_handler(
    ctx: &Ctx<'_>,
    path: &[(NodeIndex, Option<usize>)],
    i: usize,
) -> Option<String> {
    let g = &ctx.snap.graph;
    let (n, edge) = path[i];
    let edge = g.edge(edge?);
    if !matches!(edge.name, EdgeName::Name("_events")) {
        return None;
    }
    if !script_of(ctx, n).is_some_and(|u| is_node_url(&u)) {
        return None;
    }
    let (_, Some(event)) = *path.get(i + 1)? else {
        return None;
    };
    let event = match g.edge(event).name {
        EdgeName::Name(s) => s,
        EdgeName::Index(_) => return None,
    };
    let class = ctx.class(n);
    let article = if class.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    Some(format!("{article} {class} '{event}' handler"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(label: &str) -> HopKind {
        HopKind::internal(Label::Named(label.into()))
    }

    /// The listener fixture's path: the global object, `clearInterval` and its scope,
    /// the timer lists, a bound `_onTimeout`, the server, its `_events` and the user's
    /// request handler, then the handler's scope holding `bus`, the emitter, its listeners.
    #[test]
    fn internal_runs_fold_into_one_line_named_from_what_they_are() {
        let timers = "Node's timer lists";
        let handler = "a Server 'request' handler";
        let kinds = vec![
            HopKind::internal(Label::Quiet), // global
            HopKind::internal(Label::Node),  // clearInterval
            HopKind::internal(Label::Node),  // its context
            node(timers),                    // timerListMap
            node(timers),                    // TimersList
            node(timers),                    // Timeout
            HopKind::internal(Label::Node),  // native_bind
            node(handler),                   // Server
            HopKind::internal(Label::Quiet), // {request, ...}
            HopKind::internal(Label::Quiet), // the handler
            HopKind::user(),                 // its context: `bus`
            HopKind::user(),                 // EventEmitter
            HopKind::user(),                 // {data}
            HopKind::user(),                 // Array
            HopKind::user(),                 // the listener
        ];
        let variable = ReadableStep::Variable {
            first: 10,
            name: "bus".into(),
            module_level: true,
            scope: None,
        };
        let steps = fold(
            &kinds,
            Start {
                at: 10,
                variable: Some(variable.clone()),
            },
        );
        assert_eq!(
            steps,
            vec![
                ReadableStep::Folded {
                    first: 0,
                    hops: 10,
                    through: vec![timers.into(), handler.into()],
                },
                variable,
                ReadableStep::Hop { index: 12 },
                ReadableStep::Hop { index: 13 },
                ReadableStep::Hop { index: 14 },
            ]
        );
        // Every hop is covered once, in order.
        let covered: Vec<usize> = steps.iter().flat_map(ReadableStep::hops).collect();
        assert_eq!(covered, (0..15).collect::<Vec<_>>());
        assert_eq!(
            through_text(&[timers.into(), handler.into()]),
            "Node's timer lists and a Server 'request' handler"
        );
    }

    #[test]
    fn generic_internals_are_named_only_when_nothing_more_precise_is_met() {
        let kinds = vec![
            HopKind::internal(Label::Quiet),
            HopKind::internal(Label::V8),
            HopKind::internal(Label::Node),
            HopKind::user(),
            HopKind::internal(Label::V8),
            HopKind::internal(Label::V8),
            HopKind::user(),
            HopKind::internal(Label::V8),
            HopKind::user(),
        ];
        let steps = fold(
            &kinds,
            Start {
                at: 3,
                variable: None,
            },
        );
        assert_eq!(
            steps,
            vec![
                ReadableStep::Folded {
                    first: 0,
                    hops: 3,
                    through: vec!["Node's internals".into()],
                },
                ReadableStep::Hop { index: 3 },
                ReadableStep::Folded {
                    first: 4,
                    hops: 2,
                    through: vec!["V8's internals".into()],
                },
                ReadableStep::Hop { index: 6 },
                // One internal hop alone is shown as it is.
                ReadableStep::Hop { index: 7 },
                ReadableStep::Hop { index: 8 },
            ]
        );
    }

    #[test]
    fn a_single_hop_before_the_start_is_shown_and_a_variable_at_the_end_is_a_hop() {
        let kinds = vec![HopKind::internal(Label::Quiet), HopKind::user()];
        let variable = ReadableStep::Variable {
            first: 1,
            name: "x".into(),
            module_level: false,
            scope: None,
        };
        assert_eq!(
            fold(
                &kinds,
                Start {
                    at: 1,
                    variable: Some(variable)
                }
            ),
            vec![
                ReadableStep::Hop { index: 0 },
                ReadableStep::Hop { index: 1 }
            ]
        );
        assert_eq!(
            fold(
                &[],
                Start {
                    at: 3,
                    variable: None
                }
            ),
            vec![]
        );
    }
}
