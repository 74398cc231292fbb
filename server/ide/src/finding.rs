//! A finding as this crate keeps it: the leak finder's own [`heapsight_leaks::Finding`]
//! (one type, serializable both ways) and the heap it comes from. The same type is read from
//! the leak finder, from a saved JSON report and from the on-disk cache.

use std::ops::{Deref, DerefMut};

use heapsight_leaks::LeakKind;
use serde::{Deserialize, Serialize};

pub use heapsight_leaks::{Binding, CodeAnchor as Anchor, Growth, Holder, PathHop as Hop};

/// One leak, naming its heap.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// The leak finder's finding; its fields read through `Deref`.
    #[serde(flatten)]
    pub leak: heapsight_leaks::Finding,
    /// The heap it comes from, by title (`main thread`, `worker 1 (render.js)`); none in
    /// reports written before a capture could hold several heaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap: Option<String>,
}

impl Deref for Finding {
    type Target = heapsight_leaks::Finding;
    fn deref(&self) -> &heapsight_leaks::Finding {
        &self.leak
    }
}

impl DerefMut for Finding {
    fn deref_mut(&mut self) -> &mut heapsight_leaks::Finding {
        &mut self.leak
    }
}

impl From<&heapsight_leaks::Finding> for Finding {
    fn from(f: &heapsight_leaks::Finding) -> Finding {
        Finding {
            leak: f.clone(),
            heap: None,
        }
    }
}

/// [`LeakKind`] by its JSON name, with an error that lists the names (settings).
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
        self.leak.kind
    }

    /// The item noun (`listeners`, `entries`, ...), singular for one; reports written
    /// before the noun was exported get the kind's usual noun.
    pub fn noun(&self) -> String {
        let plural = if self.leak.noun.is_empty() {
            match self.kind() {
                LeakKind::Listener => "listeners",
                LeakKind::Collection => "entries",
                LeakKind::Timer => "timers",
                LeakKind::Closure => "callbacks",
                LeakKind::Promise => "reactions",
                LeakKind::Other => "objects",
            }
        } else {
            self.leak.noun
        };
        if self.count != 1 {
            return plural.to_string();
        }
        plural
            .strip_suffix("ies")
            .map(|s| format!("{s}y"))
            .or_else(|| plural.strip_suffix('s').map(str::to_string))
            .unwrap_or_else(|| plural.to_string())
    }
}
