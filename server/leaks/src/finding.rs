//! What the leak finder reports: findings in plain data, serializable as the JSON contract.

use serde::{Deserialize, Serialize};

/// The kind of leak, one module each under `kinds/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum LeakKind {
    /// Listeners added to a long-lived EventEmitter or EventTarget and never removed.
    Listener,
    /// A Map, Set, Array or object used as a map that grows without bound.
    Collection,
    /// `setInterval` / `setTimeout` timers never cleared.
    Timer,
    /// Callbacks stored in a long-lived structure, keeping what they capture alive.
    Closure,
    /// Reactions hanging off a promise that never settles.
    Promise,
    /// Anything else above the threshold.
    Other,
}

impl LeakKind {
    /// The name used in messages, codes and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            LeakKind::Listener => "listener",
            LeakKind::Collection => "collection",
            LeakKind::Timer => "timer",
            LeakKind::Closure => "closure",
            LeakKind::Promise => "promise",
            LeakKind::Other => "other",
        }
    }
    /// Every kind.
    pub const ALL: [LeakKind; 6] = [
        LeakKind::Listener,
        LeakKind::Collection,
        LeakKind::Timer,
        LeakKind::Closure,
        LeakKind::Promise,
        LeakKind::Other,
    ];
}

/// A position in a script, as V8 recorded it (0-based line, UTF-16 column).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CodeAnchor {
    /// V8's script id.
    pub script_id: u32,
    /// The script's URL or path, when the graph names it.
    pub url: Option<String>,
    /// 0-based line.
    pub line: u32,
    /// 0-based UTF-16 column.
    pub column: u32,
    /// The function's name, if it has one.
    pub function: Option<String>,
}

/// The long-lived object that keeps the leaked objects alive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    /// Its class (constructor) name.
    pub class: String,
    /// The node id in the final snapshot.
    pub id: u64,
    /// The name it is reachable by: a variable, a property.
    #[serde(default)]
    pub binding: Option<Binding>,
    /// A library structure it belongs to, e.g. `express Router stack`.
    #[serde(default)]
    pub library: Option<String>,
    /// Its distance from the GC roots.
    #[serde(default)]
    pub distance: Option<u32>,
}

/// How a holder is named in the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// `variable` (a captured or module-scope variable), `property` or `global`.
    #[serde(deserialize_with = "static_name::read")]
    pub kind: Word,
    /// The variable or property name.
    pub name: String,
    /// For a property: the class of the object that has it.
    #[serde(default)]
    pub owner: Option<String>,
}

impl Binding {
    /// `bus`, `exports.cache`, `globalThis.registry`.
    pub fn describe(&self) -> String {
        match (self.kind, &self.owner) {
            ("property", Some(owner)) => format!("{owner}.{}", self.name),
            _ => self.name.clone(),
        }
    }
}

/// Items of the holder by when they were allocated, counted in the final snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Growth {
    /// Items allocated before the baseline snapshot (still alive in the final one).
    pub baseline: u64,
    /// Items allocated up to the target snapshot: the baseline's plus those added during the workload.
    pub target: u64,
    /// All items alive in the final snapshot.
    pub r#final: u64,
}

/// One hop of a retainer path, from a GC root down to the holder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathHop {
    /// The node's class name.
    pub class: String,
    /// The node's own name, when it says more than the class (a function or string).
    #[serde(default)]
    pub name: Option<String>,
    /// The node id.
    pub id: u64,
    /// The edge from this node to the next hop (`None` on the last hop).
    #[serde(default)]
    pub edge: Option<String>,
    /// The edge's type (`property`, `context`, `element`, `internal`...).
    #[serde(default, deserialize_with = "static_name::read_option")]
    pub edge_type: Option<Word>,
    /// Distance from the GC roots.
    #[serde(default)]
    pub distance: Option<u32>,
    /// Its retained size.
    pub retained_bytes: u64,
}

/// One leak: a group of objects allocated during the workload, still alive after idle,
/// held by one long-lived object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// What kind of leak.
    pub kind: LeakKind,
    /// The message in the product's voice.
    pub message: String,
    /// Who holds the leaked objects.
    pub holder: Holder,
    /// The event name, for listeners.
    #[serde(default)]
    pub event: Option<String>,
    /// Leaked items (listeners, entries, timers, callbacks) allocated during the workload.
    pub count: u64,
    /// The item noun for `count` (`listeners`, `entries`, ...); empty in reports written
    /// before it was exported.
    #[serde(default, deserialize_with = "static_name::read")]
    pub noun: Word,
    /// The holder's items by allocation time.
    #[serde(default)]
    pub growth: Growth,
    /// Bytes freed if the holder let go of every leaked item (dominators with the group as
    /// one set); `retained_is_lower_bound` says when the exact computation was cut short.
    pub retained_bytes: u64,
    /// Whether `retained_bytes` is only a lower bound.
    #[serde(default)]
    pub retained_is_lower_bound: bool,
    /// The shortest retainer path from a GC root to the holder, then to one leaked item.
    #[serde(default)]
    pub retainer_path: Vec<PathHop>,
    /// `retainer_path` as a person reads it: from the user's variable or property naming the
    /// holder, runs of Node's internals folded into one line (see the `readable` module);
    /// empty in reports written before it.
    #[serde(default)]
    pub readable_path: Vec<crate::readable::ReadableStep>,
    /// The code that made the leaked objects (a closure's position), if known.
    #[serde(default)]
    pub anchor: Option<CodeAnchor>,
    /// For collections held in a variable: the closures whose scope holds it.
    #[serde(default)]
    pub users: Vec<CodeAnchor>,
    /// Variables the leaked closures capture (their context), most common first.
    #[serde(default)]
    pub captured: Vec<String>,
    /// The number of leaked objects in the group (all of them, not only the items).
    #[serde(default)]
    pub objects: u64,
    /// Where the leaked objects were allocated, when the snapshot carries V8's allocation
    /// stacks (`--track-allocations`, or DevTools' allocation instrumentation).
    #[serde(default)]
    pub allocations: Option<Allocations>,
    /// Why the finding sits where it does: the evidence that chose its user line.
    #[serde(default)]
    pub placement: Placement,
    /// With several rounds of the workload: its bytes and items allocated in each round
    /// (see the `rounds` module); empty with one round.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<crate::rounds::RoundFigures>,
    /// Its growth per iteration of the workload, when the rounds and the workload's size
    /// are known; with a memory limit, the projection to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<crate::rounds::GrowthRate>,
}

/// One frame of an allocation stack, as V8's allocation tracker recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StackFrame {
    /// The function's name (empty for an anonymous function).
    pub function: String,
    /// The script's URL or path, when V8 named it.
    pub url: Option<String>,
    /// V8's script id.
    pub script_id: u32,
    /// 0-based line of the function's start (V8's `trace_function_infos` are 1-based).
    pub line: u32,
    /// 0-based UTF-16 column of the function's start.
    pub column: u32,
    /// Whether the frame is in the user's own code: not under `node_modules`, not one of
    /// Node's internals.
    pub user: bool,
}

/// The leaked objects that one call stack allocated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationStack {
    /// Frames from the allocating function outwards (callee first, then its callers).
    pub frames: Vec<StackFrame>,
    /// Leaked objects this stack allocated.
    pub count: u64,
    /// Their self sizes.
    pub bytes: u64,
    /// How many of the finding's items (listeners, entries, timers, callbacks; counted in
    /// the bounded sample the kind looked at) this stack allocated.
    #[serde(default)]
    pub items: u64,
    /// The index in `frames` of the first frame in the user's code, counted from the
    /// allocation site; `None` when no user frame allocated them.
    pub user_frame: Option<usize>,
}

/// The allocation stacks of a finding's leaked objects, aggregated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocations {
    /// The few stacks accounting for most of the leaked bytes: those that allocated the
    /// finding's items first (most items first), then the others, largest first (see the
    /// `stacks` module).
    pub stacks: Vec<AllocationStack>,
    /// Leaked objects with a stack, and their bytes.
    pub tracked_objects: u64,
    /// Bytes of the leaked objects with a stack.
    pub tracked_bytes: u64,
    /// Leaked objects without one (allocated before tracking began, or moved by the GC).
    pub untracked_objects: u64,
    /// Bytes of the leaked objects without a stack.
    pub untracked_bytes: u64,
}

/// The evidence that chose a finding's user line, strongest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlacementEvidence {
    /// The first user frame of the leaked objects' allocation stacks.
    AllocationStack,
    /// A user function stored in the leaked items (a route handler in a router's stack,
    /// a listener, an interceptor).
    UserClosure,
    /// The growing call (`.add`, `.set`, `.push`, `[k] =`) on the holder's user binding.
    GrowingCall,
    /// A call on (or passing) a user binding of the library object, from code that runs per
    /// request: `httpRequests.inc({ path })`, `createLogger({ transports: [shared] })`.
    BindingCall,
    /// The user call that created the library object holding the leak.
    Creator,
    /// The user function nearest the leaked objects on the retainer path.
    RetainerPath,
    /// No user line could be justified: the finding says so instead of guessing.
    #[default]
    None,
}

impl PlacementEvidence {
    /// How the evidence reads in a hover or a report.
    pub fn describe(self) -> &'static str {
        match self {
            PlacementEvidence::AllocationStack => "the first user frame of the allocation stacks",
            PlacementEvidence::UserClosure => "a user function stored in the leaked items",
            PlacementEvidence::GrowingCall => "the call that grows the collection",
            PlacementEvidence::BindingCall => "a per-request call on the structure's user binding",
            PlacementEvidence::Creator => "the user call that created the library object",
            PlacementEvidence::RetainerPath => {
                "the user function nearest the leak on the retainer path"
            }
            PlacementEvidence::None => "no user line could be justified",
        }
    }
}

/// One place the user's line may be: a user function or file, and what to look for there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementCandidate {
    /// The rule that proposes it.
    pub evidence: PlacementEvidence,
    /// The user function to look in (a stack frame, a stored closure, the function nearest
    /// on the path), or any function of the file to look in (bindings, creators).
    pub anchor: CodeAnchor,
    /// For allocation stacks: the name of the function the user code calls there (the next
    /// frame toward the allocation: `use`, `createLogger`); `None` when V8 gives no name.
    #[serde(default)]
    pub callee: Option<String>,
    /// For growing calls and binding calls: the user variable whose calls to look for.
    #[serde(default)]
    pub binding: Option<String>,
    /// For creators: the npm package whose export made the object holding the leak.
    #[serde(default)]
    pub package: Option<String>,
}

/// Where a finding may sit: the heap's candidates, strongest first. Which one the source
/// layer confirmed is known only after it looked (the `ide` crate's placement).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// Where the user's line may be, strongest first.
    #[serde(default)]
    pub candidates: Vec<PlacementCandidate>,
}

/// A word of the leak finder's vocabulary (a binding's kind, an item noun, an edge type):
/// `&'static str` spelled so that serde does not take it for a string borrowed from the
/// input (which would make a finding deserializable only from `'static` bytes); reading
/// goes through `static_name` below.
pub type Word = &'static std::primitive::str;

/// Reading back the words the leak finder writes as `&'static str` (a binding's kind, an
/// item noun, an edge type): a known word is the finder's own constant; any other (a report
/// of a newer heapsight) is interned once for the life of the process, so reading reports
/// again and again does not grow memory.
mod static_name {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};

    use serde::{Deserialize, Deserializer};

    const KNOWN: &[&str] = &[
        "variable",
        "property",
        "global",
        "listeners",
        "subscribers",
        "entries",
        "timers",
        "callbacks",
        "reactions",
        "objects",
        "items",
        "context",
        "element",
        "hidden",
        "internal",
        "shortcut",
        "weak",
    ];

    fn intern(word: String) -> &'static str {
        if let Some(known) = KNOWN.iter().find(|k| **k == word) {
            return known;
        }
        static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
        let mut seen = SEEN
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(interned) = seen.get(word.as_str()) {
            return interned;
        }
        let interned: &'static str = Box::leak(word.into_boxed_str());
        seen.insert(interned);
        interned
    }

    pub fn read<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        String::deserialize(d).map(intern)
    }

    pub fn read_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'static str>, D::Error> {
        Option::<String>::deserialize(d).map(|w| w.map(intern))
    }
}
