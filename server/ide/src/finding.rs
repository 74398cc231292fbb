//! Findings as this crate keeps them: owned, serializable both ways, so one type reads the
//! leak finder's results, `heapsight analyze --format json` reports and the on-disk cache.

use heapsight_leaks::LeakKind;
use serde::{Deserialize, Serialize};

/// A position V8 recorded: script URL, 0-based line, 0-based UTF-16 column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// V8's script id.
    #[serde(default)]
    pub script_id: u32,
    /// The script's URL or path.
    pub url: Option<String>,
    /// 0-based line.
    pub line: u32,
    /// 0-based UTF-16 column.
    pub column: u32,
    /// The function's name.
    #[serde(default)]
    pub function: Option<String>,
}

/// How the holder is named in code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// `variable`, `property` or `global`.
    pub kind: String,
    /// The variable or property name.
    pub name: String,
    /// For a property: the class (or variable) of the object that has it.
    #[serde(default)]
    pub owner: Option<String>,
}

impl Binding {
    /// `bus`, `router.stack`.
    pub fn describe(&self) -> String {
        match (self.kind.as_str(), &self.owner) {
            ("property", Some(owner)) => format!("{owner}.{}", self.name),
            _ => self.name.clone(),
        }
    }
}

/// The long-lived object keeping the leaked objects alive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    /// Its class name.
    pub class: String,
    /// Its node id in the final snapshot.
    pub id: u64,
    /// The name it is reachable by.
    #[serde(default)]
    pub binding: Option<Binding>,
    /// The library structure it belongs to (`tiny-router Router stack`).
    #[serde(default)]
    pub library: Option<String>,
    /// Distance from the GC roots.
    #[serde(default)]
    pub distance: Option<u32>,
}

/// The holder's items by allocation time.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Growth {
    /// Allocated before A.
    pub baseline: u64,
    /// Allocated up to B.
    pub target: u64,
    /// Alive in C.
    pub r#final: u64,
}

/// One hop of the retainer path from a GC root.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hop {
    /// Class name.
    pub class: String,
    /// Own name, when it says more than the class.
    #[serde(default)]
    pub name: Option<String>,
    /// Node id.
    pub id: u64,
    /// The edge to the next hop.
    #[serde(default)]
    pub edge: Option<String>,
    /// That edge's type.
    #[serde(default)]
    pub edge_type: Option<String>,
    /// Distance from the GC roots.
    #[serde(default)]
    pub distance: Option<u32>,
    /// Retained size.
    pub retained_bytes: u64,
}

/// One leak.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// What kind.
    pub kind: LeakKindName,
    /// The leak finder's message.
    pub message: String,
    /// Who holds the leaked objects.
    pub holder: Holder,
    /// The event, for listeners.
    #[serde(default)]
    pub event: Option<String>,
    /// Leaked items added during the load.
    pub count: u64,
    /// The noun for `count`; reports written before it was exported get the kind's usual noun.
    #[serde(default)]
    pub noun: Option<String>,
    /// The holder's items by allocation time.
    #[serde(default)]
    pub growth: Growth,
    /// Bytes the holder would free.
    pub retained_bytes: u64,
    /// Whether `retained_bytes` is a lower bound.
    #[serde(default)]
    pub retained_is_lower_bound: bool,
    /// Retainer path from a GC root through the holder to one leaked item.
    #[serde(default)]
    pub retainer_path: Vec<Hop>,
    /// The code that made the leaked objects.
    #[serde(default)]
    pub anchor: Option<Anchor>,
    /// For collections held in a variable: the functions whose scope holds it.
    #[serde(default)]
    pub users: Vec<Anchor>,
    /// Variables the leaked closures capture.
    #[serde(default)]
    pub captured: Vec<String>,
    /// Leaked objects in the group.
    #[serde(default)]
    pub objects: u64,
    /// Where the leaked objects were allocated, when the snapshot carries allocation
    /// stacks (the leak finder's own type; reports written before it have none).
    #[serde(default)]
    pub allocations: Option<heapsight_leaks::Allocations>,
    /// Why the finding sits on its line (the leak finder's own type).
    #[serde(default)]
    pub placement: heapsight_leaks::Placement,
    /// The heap it comes from, by title (`main thread`, `worker 1 (render.js)`); none in
    /// reports written before a capture could hold several heaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap: Option<String>,
}

/// [`LeakKind`] by its JSON name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LeakKindName(pub LeakKind);

impl TryFrom<String> for LeakKindName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        parse_kind(&s).map(LeakKindName)
    }
}

impl From<LeakKindName> for String {
    fn from(k: LeakKindName) -> String {
        k.0.as_str().to_string()
    }
}

/// `listener` → [`LeakKind::Listener`].
pub fn parse_kind(s: &str) -> Result<LeakKind, String> {
    LeakKind::ALL
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("unknown leak kind `{s}`"))
}

impl Finding {
    /// The kind.
    pub fn kind(&self) -> LeakKind {
        self.kind.0
    }

    /// The item noun (`listeners`, `entries`, ...), singular for one.
    pub fn noun(&self) -> String {
        let plural = self.noun.clone().unwrap_or_else(|| {
            match self.kind() {
                LeakKind::Listener => "listeners",
                LeakKind::Collection => "entries",
                LeakKind::Timer => "timers",
                LeakKind::Closure => "callbacks",
                LeakKind::Promise => "reactions",
                LeakKind::Other => "objects",
            }
            .to_string()
        });
        if self.count != 1 {
            return plural;
        }
        plural
            .strip_suffix("ies")
            .map(|s| format!("{s}y"))
            .or_else(|| plural.strip_suffix('s').map(str::to_string))
            .unwrap_or(plural)
    }
}

impl From<&heapsight_leaks::CodeAnchor> for Anchor {
    fn from(a: &heapsight_leaks::CodeAnchor) -> Anchor {
        Anchor {
            script_id: a.script_id,
            url: a.url.clone(),
            line: a.line,
            column: a.column,
            function: a.function.clone(),
        }
    }
}

impl From<&heapsight_leaks::Finding> for Finding {
    fn from(f: &heapsight_leaks::Finding) -> Finding {
        Finding {
            kind: LeakKindName(f.kind),
            message: f.message.clone(),
            holder: Holder {
                class: f.holder.class.clone(),
                id: f.holder.id,
                binding: f.holder.binding.as_ref().map(|b| Binding {
                    kind: b.kind.to_string(),
                    name: b.name.clone(),
                    owner: b.owner.clone(),
                }),
                library: f.holder.library.clone(),
                distance: f.holder.distance,
            },
            event: f.event.clone(),
            count: f.count,
            noun: Some(f.noun.to_string()),
            growth: Growth {
                baseline: f.growth.baseline,
                target: f.growth.target,
                r#final: f.growth.r#final,
            },
            retained_bytes: f.retained_bytes,
            retained_is_lower_bound: f.retained_is_lower_bound,
            retainer_path: f
                .retainer_path
                .iter()
                .map(|h| Hop {
                    class: h.class.clone(),
                    name: h.name.clone(),
                    id: h.id,
                    edge: h.edge.clone(),
                    edge_type: h.edge_type.map(str::to_string),
                    distance: h.distance,
                    retained_bytes: h.retained_bytes,
                })
                .collect(),
            anchor: f.anchor.as_ref().map(Anchor::from),
            users: f.users.iter().map(Anchor::from).collect(),
            captured: f.captured.clone(),
            objects: f.objects,
            allocations: f.allocations.clone(),
            placement: f.placement.clone(),
            heap: None,
        }
    }
}
