//! The user's settings, in the shape editors send them (`heapsight.*`, camelCase keys).
//!
//! Unknown keys are ignored and missing ones take their defaults, so a partial or older
//! configuration still works; a value of the wrong type is an error for the whole object.

use std::path::PathBuf;

use heapsight_leaks::LeakKind;
use serde::{Deserialize, Serialize};

use crate::finding::LeakKindName;

/// heapsight's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Config {
    /// Where captures and snapshots live, relative to the workspace root (`.heapsight`).
    pub snapshot_dir: PathBuf,
    /// The command `heapsight.capture` runs, program first (empty: not configured).
    pub capture_command: Vec<String>,
    /// Retained sizes that make a finding a warning or an error.
    pub thresholds: Thresholds,
    /// Findings retaining less are not reported.
    pub min_retained_bytes: u64,
    /// Script path prefixes as captured → as in this workspace (a container's `/app` → `.`).
    pub path_mappings: Vec<PathMapping>,
    /// Kinds to report; all when empty.
    pub kinds: Vec<LeakKindName>,
}

/// Severity thresholds, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Thresholds {
    /// At least this much retained: a warning (below: information).
    pub warning_bytes: u64,
    /// At least this much retained: an error.
    pub error_bytes: u64,
}

/// One path prefix rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathMapping {
    /// The prefix as the snapshot names scripts (`/app`).
    pub from: String,
    /// The local prefix; relative paths are relative to the workspace root.
    pub to: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            snapshot_dir: PathBuf::from(".heapsight"),
            capture_command: Vec::new(),
            thresholds: Thresholds::default(),
            min_retained_bytes: 1_000_000,
            path_mappings: Vec::new(),
            kinds: Vec::new(),
        }
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warning_bytes: 1_000_000,
            error_bytes: 10_000_000,
        }
    }
}

impl Config {
    /// The kinds to report, as the leak finder takes them.
    pub fn leak_kinds(&self) -> Vec<LeakKind> {
        self.kinds.iter().map(|k| k.0).collect()
    }

    /// Whether findings of `kind` are reported.
    pub fn reports(&self, kind: LeakKind) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k.0 == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_settings_take_defaults() {
        let json = r#"{"snapshotDir": "snaps", "thresholds": {"errorBytes": 5}, "kinds": ["listener"], "extra": 1}"#;
        let config: Config = serde_json::from_str(json).unwrap_or_default();
        assert_eq!(config.snapshot_dir, PathBuf::from("snaps"));
        assert_eq!(config.thresholds.error_bytes, 5);
        assert_eq!(config.thresholds.warning_bytes, 1_000_000);
        assert_eq!(config.leak_kinds(), vec![LeakKind::Listener]);
        assert!(serde_json::from_str::<Config>(r#"{"kinds": ["nope"]}"#).is_err());
    }
}
