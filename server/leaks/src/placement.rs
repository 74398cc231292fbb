//! Where in the user's code a finding belongs: the graph's evidence, strongest first.
//!
//! A leak held inside a library (an express router, axios interceptors, a session store, a
//! metric's label map) must still land on the user's line that feeds it. The heap cannot see
//! lines, only functions and bindings, so this module lists *candidates* — each a user function
//! or file to look in and what to look for there — and the source layer (through `ide`) takes
//! the first one it can find in the code. The rules are general; no package is named here:
//!
//! 1. **Allocation stacks** (when the snapshot has them): the first user frame of the stacks
//!    that allocated the leaked items, with the function it called next. A stack whose next
//!    frame is in the holder's own package (or whose holder is the user's own) is strong; one
//!    that reaches the holder only through other code (a response sent through express ends
//!    up saving a session) is weak and comes after the creator.
//! 2. **User closures** inside the leaked items (a route handler in a router's stack, an
//!    interceptor's callback), searched a few levels down.
//! 3. **Growing calls** on the holder's user binding, for the user's own collections:
//!    `.add/.set/.push/[k]=`, never the constructor of what the collection stores.
//! 4. **Calls on a user binding** of the library object (or one just above it) made from code
//!    that runs per request: `httpRequests.inc(...)`, `createLogger({ transports: [t] })`.
//! 5. **The creator**: the user's call into the holder's package (`session({...})`).
//! 6. **The retainer path**: the user function nearest the leaked objects on it.
//!
//! When none resolves, the finding says that no user line could be justified.

use std::collections::HashMap;

use heapsight_snapshot::{EdgeName, EdgeType, NodeIndex};

use crate::ctx::{package_of, Ctx};
use crate::finding::{Allocations, CodeAnchor, PlacementCandidate, PlacementEvidence};
use crate::kinds::{is_store, Path};

/// How deep below a leaked item user closures are looked for (Layer → route → stack →
/// Layer → handle is four).
const CLOSURE_DEPTH: u8 = 4;

/// Leaked items searched for user closures.
const ITEMS_SEARCHED: usize = 500;

/// JS objects above the owner whose user bindings still count as the holder's.
const BINDING_REACH: usize = 5;

/// What the finder knows about a group when placing it.
pub struct Evidence<'a> {
    /// The leaked items (listeners, entries, records).
    pub items: &'a [NodeIndex],
    /// The JS object the user knows.
    pub owner: NodeIndex,
    /// The path from the roots to the owner.
    pub owner_path: &'a Path,
    /// The user's own variable naming the owner, when it is the user's collection.
    pub own_binding: Option<&'a str>,
    /// A function of the file declaring that variable.
    pub own_binding_user: Option<&'a CodeAnchor>,
    /// Whether the items are the user's functions (listeners, callbacks, timers' handlers),
    /// whose registering call V8's position finds directly.
    pub user_function_items: Option<&'a CodeAnchor>,
    /// The npm package of the library structure holding the items.
    pub package: Option<&'a str>,
    /// The allocation stacks, when the snapshot has them.
    pub allocations: Option<&'a Allocations>,
}

/// The candidates for a finding's user line, strongest first.
pub fn candidates(ctx: &Ctx<'_>, e: &Evidence<'_>) -> Vec<PlacementCandidate> {
    let mut out: Vec<PlacementCandidate> = Vec::new();
    let mut push = |c: PlacementCandidate| {
        if !out.contains(&c) {
            out.push(c);
        }
    };
    let (strong, weak) = stack_candidates(e);
    if let (Some(binding), Some(user)) = (e.own_binding, e.own_binding_user) {
        push(PlacementCandidate {
            evidence: PlacementEvidence::GrowingCall,
            anchor: user.clone(),
            callee: None,
            binding: Some(binding.to_string()),
            package: None,
        });
    }
    if let Some(anchor) = e.user_function_items {
        push(PlacementCandidate::at(
            PlacementEvidence::UserClosure,
            anchor.clone(),
        ));
    }
    strong.into_iter().for_each(&mut push);
    if e.own_binding.is_none() {
        if let Some(anchor) = deep_user_closure(ctx, e.items) {
            push(PlacementCandidate::at(
                PlacementEvidence::UserClosure,
                anchor,
            ));
        }
        if let Some((binding, anchor)) = binding_above(ctx, e.owner_path, e.owner) {
            push(PlacementCandidate {
                evidence: PlacementEvidence::BindingCall,
                anchor,
                callee: None,
                binding: Some(binding),
                package: None,
            });
        }
    }
    let nearest = nearest_user_function(ctx, e.owner_path);
    let scope = nearest_user_scope(ctx, e.owner_path);
    if let Some(package) = e.package {
        // The file to look in: the nearest user binding or function on the path; the
        // binding, when there is one, prefers the call that initializes it.
        let (binding, anchor) = match &scope {
            Some((binding, anchor)) => (binding.clone(), Some(anchor.clone())),
            None => (None, nearest.clone()),
        };
        if let Some(anchor) = anchor {
            push(PlacementCandidate {
                evidence: PlacementEvidence::Creator,
                anchor,
                callee: None,
                binding,
                package: Some(package.to_string()),
            });
        }
    }
    weak.into_iter().for_each(&mut push);
    if let Some(anchor) = nearest {
        push(PlacementCandidate::at(
            PlacementEvidence::RetainerPath,
            anchor,
        ));
    }
    out
}

impl PlacementCandidate {
    fn at(evidence: PlacementEvidence, anchor: CodeAnchor) -> Self {
        PlacementCandidate {
            evidence,
            anchor,
            callee: None,
            binding: None,
            package: None,
        }
    }
}

/// Candidates from the allocation stacks' first user frames: (strong, weak).
fn stack_candidates(e: &Evidence<'_>) -> (Vec<PlacementCandidate>, Vec<PlacementCandidate>) {
    let (mut strong, mut weak) = (Vec::new(), Vec::new());
    let Some(allocations) = e.allocations else {
        return (strong, weak);
    };
    // Only the stacks that allocated the items the finding counts say where they were
    // registered or stored; the bytes they keep (payloads, scopes) are made elsewhere.
    for stack in allocations.stacks.iter().filter(|s| s.items > 0) {
        let Some(at) = stack.user_frame else { continue };
        let at = feeding_frame(&stack.frames, at, e.package);
        let Some(frame) = stack.frames.get(at) else {
            continue;
        };
        let next = at.checked_sub(1).and_then(|i| stack.frames.get(i));
        let callee = next.and_then(|f| called_name(&f.function));
        let next_package = next.and_then(|f| f.url.as_deref()).and_then(package_of);
        // The user called into the structure's own package, or the structure is the user's.
        let direct = match e.package {
            None => true,
            Some(package) => next.is_none() || next_package.as_deref() == Some(package),
        };
        let candidate = PlacementCandidate {
            evidence: PlacementEvidence::AllocationStack,
            anchor: CodeAnchor {
                script_id: frame.script_id,
                url: frame.url.clone(),
                line: frame.line,
                column: frame.column,
                function: (!frame.function.is_empty()).then(|| frame.function.clone()),
            },
            callee,
            binding: None,
            package: None,
        };
        if direct {
            strong.push(candidate);
        } else {
            weak.push(candidate);
        }
    }
    (strong, weak)
}

/// The user frame that feeds the structure: `at`, unless the library holding the structure
/// called it back (a memoizer running the user's function, a router running a handler):
/// then the next user frame outside that library run, which made the call into it.
fn feeding_frame(
    frames: &[crate::finding::StackFrame],
    mut at: usize,
    package: Option<&str>,
) -> usize {
    let Some(package) = package else { return at };
    loop {
        let Some(next_user) = (at + 1..frames.len()).find(|&i| frames[i].user) else {
            return at;
        };
        let called_back = frames[at + 1..next_user]
            .iter()
            .any(|f| f.url.as_deref().and_then(package_of).as_deref() == Some(package));
        if !called_back {
            return at;
        }
        at = next_user;
    }
}

/// The name a call site would use for a frame's function: `use` for V8's `InterceptorManager.use`
/// or `use`; none for `Router.<computed>` (a method assigned under a computed key) or an
/// anonymous function.
fn called_name(function: &str) -> Option<String> {
    let last = function.rsplit('.').next().unwrap_or(function).trim();
    (!last.is_empty() && !last.contains('<') && !last.contains(' ')).then(|| last.to_string())
}

/// Where `f` is, when it is a function of the user's own code.
fn user_function(ctx: &Ctx<'_>, f: NodeIndex) -> Option<CodeAnchor> {
    ctx.is_user_function(f).then(|| ctx.anchor(f)).flatten()
}

/// The most common user function reached from the leaked items through leaked objects, up
/// to [`CLOSURE_DEPTH`] edges down: a route handler inside a router's Layer, an interceptor
/// record's callback.
fn deep_user_closure(ctx: &Ctx<'_>, items: &[NodeIndex]) -> Option<CodeAnchor> {
    let g = &ctx.snap.graph;
    let mut counts: HashMap<(u32, u32, u32), (u64, CodeAnchor)> = HashMap::new();
    for &item in items.iter().take(ITEMS_SEARCHED) {
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![(item, 0u8)];
        let mut found_here: Option<CodeAnchor> = None;
        while let Some((n, depth)) = stack.pop() {
            if !seen.insert(n.0) {
                continue;
            }
            let f = ctx.unwrap_function(n);
            if let Some(anchor) = user_function(ctx, f) {
                // The shallowest user function of this item stands for it.
                found_here = Some(anchor);
                break;
            }
            if depth >= CLOSURE_DEPTH || (n != item && !ctx.leaked(n) && !is_store(ctx, n)) {
                continue;
            }
            for e in g.edges(n) {
                if e.edge_type == EdgeType::Weak {
                    continue;
                }
                if let EdgeName::Name(name) = e.name {
                    if matches!(
                        name,
                        "map" | "__proto__" | "constructor" | "prototype" | "shared"
                    ) {
                        continue;
                    }
                }
                stack.push((e.to, depth + 1));
            }
        }
        if let Some(anchor) = found_here {
            let key = (anchor.script_id, anchor.line, anchor.column);
            counts.entry(key).or_insert((0, anchor)).0 += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(k, (c, _))| (*c, std::cmp::Reverse(*k)))
        .map(|(_, (_, anchor))| anchor)
}

/// A variable of the user's code that names the owner or one of the few JS objects above it
/// on the path (`httpRequests` for a Counter's label map, `sharedTransport` for a transport's
/// listeners), with a function of the file that declares it.
fn binding_above(ctx: &Ctx<'_>, path: &Path, owner: NodeIndex) -> Option<(String, CodeAnchor)> {
    let at = path.iter().position(|&(n, _)| n == owner)?;
    let mut objects = 0;
    for i in (0..=at).rev() {
        let node = path[i].0;
        if node == NodeIndex::ROOT {
            break;
        }
        if is_store(ctx, node) {
            continue;
        }
        if let Some(found) = user_variable(ctx, node) {
            return Some(found);
        }
        objects += 1;
        if objects >= BINDING_REACH {
            break;
        }
    }
    None
}

/// A user variable holding `n`: a context that holds it under a name, used by a user closure.
fn user_variable(ctx: &Ctx<'_>, n: NodeIndex) -> Option<(String, CodeAnchor)> {
    let g = &ctx.snap.graph;
    for &r in ctx.snap.retainers(n) {
        let r = NodeIndex(r);
        let Some(name) = g.edges(r).find_map(|e| match (e.edge_type, e.name) {
            (EdgeType::Context, EdgeName::Name(name)) if e.to == n => Some(name),
            _ => None,
        }) else {
            continue;
        };
        if let Some(anchor) = context_user(ctx, r) {
            return Some((name.to_string(), anchor));
        }
    }
    None
}

/// A user closure whose scope is `context`.
fn context_user(ctx: &Ctx<'_>, context: NodeIndex) -> Option<CodeAnchor> {
    let mut users: Vec<CodeAnchor> = ctx
        .snap
        .retainers(context)
        .iter()
        .filter_map(|&f| user_function(ctx, NodeIndex(f)))
        .collect();
    users.sort_by_key(|a| (a.script_id, a.line, a.column));
    users.into_iter().next()
}

/// The user variable or function nearest the owner on the path from the roots: a node a user
/// variable names (with that name), a user closure, or a user function's scope.
fn nearest_user_scope(ctx: &Ctx<'_>, path: &Path) -> Option<(Option<String>, CodeAnchor)> {
    path.iter().rev().find_map(|&(n, _)| {
        if n == NodeIndex::ROOT {
            return None;
        }
        if let Some((name, anchor)) = user_variable(ctx, n) {
            return Some((Some(name), anchor));
        }
        user_function(ctx, n)
            .or_else(|| {
                (ctx.class(n) == "system / Context")
                    .then(|| context_user(ctx, n))
                    .flatten()
            })
            .map(|anchor| (None, anchor))
    })
}

/// The user function nearest the owner on the path from the roots: a user closure on it, or
/// the user function whose scope (context) is on it.
fn nearest_user_function(ctx: &Ctx<'_>, path: &Path) -> Option<CodeAnchor> {
    path.iter().rev().find_map(|&(n, _)| {
        user_function(ctx, n).or_else(|| {
            (ctx.class(n) == "system / Context")
                .then(|| context_user(ctx, n))
                .flatten()
        })
    })
}
