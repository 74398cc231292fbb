//! The user's settings, in the shape editors send them (`heapsight.*`, camelCase keys).
//!
//! Unknown keys are ignored and missing ones take their defaults, so a partial or older
//! configuration still works; a value of the wrong type is an error for the whole object.

use std::path::PathBuf;

use heapsight_leaks::LeakKind;
use serde::{Deserialize, Deserializer, Serialize};

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
    /// The memory limit findings' growth is projected to (`"512MiB"`, or a number of
    /// bytes); unset or `""`: the limit the capture recorded, if any.
    #[serde(
        deserialize_with = "optional_size",
        skip_serializing_if = "Option::is_none"
    )]
    pub limit: Option<u64>,
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
            limit: None,
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

/// Parses `1MB`, `500kB`, `2.5MiB`, `1048576`: the one reading of a size, for the command
/// line's options and the editor's settings alike.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 10MB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use B, kB, MB, GB, KiB, MiB, GiB)"
            ))
        }
    };
    Ok((value * mult).round() as u64)
}

/// A size setting: a string [`parse_size`] reads, or a number of bytes; `""` is unset (an
/// editor's default for a text setting).
fn optional_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Bytes(u64),
        Text(String),
    }
    match Option::<Written>::deserialize(d)? {
        None => Ok(None),
        Some(Written::Bytes(bytes)) => Ok(Some(bytes)),
        Some(Written::Text(text)) if text.trim().is_empty() => Ok(None),
        Some(Written::Text(text)) => parse_size(&text)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("limit: {e}"))),
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
        assert_eq!(config.limit, None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("1.5 kB"), Ok(1500));
        assert_eq!(parse_size("2MiB"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn the_limit_setting_is_a_size() {
        let limit = |json: &str| serde_json::from_str::<Config>(json).map(|c| c.limit);
        assert_eq!(limit(r#"{"limit": "512MiB"}"#).ok(), Some(Some(512 << 20)));
        assert_eq!(limit(r#"{"limit": 1000}"#).ok(), Some(Some(1000)));
        assert_eq!(limit(r#"{"limit": ""}"#).ok(), Some(None));
        assert_eq!(limit(r#"{"limit": null}"#).ok(), Some(None));
        let bad = limit(r#"{"limit": "5 parsecs"}"#).expect_err("a bad size");
        assert!(
            bad.to_string()
                .contains("limit: unknown size unit `parsecs`"),
            "{bad}"
        );
        assert!(limit(r#"{"limit": true}"#).is_err());
        let back = serde_json::to_string(&Config {
            limit: Some(7),
            ..Config::default()
        })
        .expect("encode");
        assert_eq!(limit(&back).ok(), Some(Some(7)));
    }
}
