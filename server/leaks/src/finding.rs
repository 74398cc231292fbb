//! What the leak finder reports: findings in plain data, serializable as the JSON contract.

use serde::Serialize;

/// The kind of leak, one module each under `kinds/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
pub struct Holder {
    /// Its class (constructor) name.
    pub class: String,
    /// The node id in the final snapshot.
    pub id: u64,
    /// The name it is reachable by: a variable, a property.
    pub binding: Option<Binding>,
    /// A library structure it belongs to, e.g. `express Router stack`.
    pub library: Option<String>,
    /// Its distance from the GC roots.
    pub distance: Option<u32>,
}

/// How a holder is named in the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binding {
    /// `variable` (a captured or module-scope variable), `property` or `global`.
    pub kind: &'static str,
    /// The variable or property name.
    pub name: String,
    /// For a property: the class of the object that has it.
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Growth {
    /// Items allocated before the baseline snapshot (still alive in the final one).
    pub baseline: u64,
    /// Items allocated up to the target snapshot: the baseline's plus those added during the workload.
    pub target: u64,
    /// All items alive in the final snapshot.
    pub r#final: u64,
}

/// One hop of a retainer path, from a GC root down to the holder.
#[derive(Debug, Clone, Serialize)]
pub struct PathHop {
    /// The node's class name.
    pub class: String,
    /// The node's own name, when it says more than the class (a function or string).
    pub name: Option<String>,
    /// The node id.
    pub id: u64,
    /// The edge from this node to the next hop (`None` on the last hop).
    pub edge: Option<String>,
    /// The edge's type (`property`, `context`, `element`, `internal`...).
    pub edge_type: Option<&'static str>,
    /// Distance from the GC roots.
    pub distance: Option<u32>,
    /// Its retained size.
    pub retained_bytes: u64,
}

/// One leak: a group of objects allocated during the workload, still alive after idle,
/// held by one long-lived object.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What kind of leak.
    pub kind: LeakKind,
    /// The message in the product's voice.
    pub message: String,
    /// Who holds the leaked objects.
    pub holder: Holder,
    /// The event name, for listeners.
    pub event: Option<String>,
    /// Leaked items (listeners, entries, timers, callbacks) allocated during the workload.
    pub count: u64,
    /// The item noun for `count` (`listeners`, `entries`, ...).
    pub noun: &'static str,
    /// The holder's items by allocation time.
    pub growth: Growth,
    /// Bytes freed if the holder let go of every leaked item (dominators with the group as
    /// one set); `retained_is_lower_bound` says when the exact computation was cut short.
    pub retained_bytes: u64,
    /// Whether `retained_bytes` is only a lower bound.
    pub retained_is_lower_bound: bool,
    /// The shortest retainer path from a GC root to the holder, then to one leaked item.
    pub retainer_path: Vec<PathHop>,
    /// The code that made the leaked objects (a closure's position), if known.
    pub anchor: Option<CodeAnchor>,
    /// For collections held in a variable: the closures whose scope holds it.
    pub users: Vec<CodeAnchor>,
    /// Variables the leaked closures capture (their context), most common first.
    pub captured: Vec<String>,
    /// The number of leaked objects in the group (all of them, not only the items).
    pub objects: u64,
}
