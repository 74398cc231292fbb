//! The on-disk cache of analyses, keyed by the identity of their inputs (path, size and
//! modification time of each file) and the options, so reopening the editor shows the
//! findings without parsing the snapshots again.
//!
//! Entries are JSON files under `<snapshot dir>/.cache/`, written through a temporary file
//! and a rename; an unreadable or mismatched entry is treated as absent. An entry holds a
//! [`JsonReport`] of one heap (findings not placed yet), and its key names the report's
//! format version and the analysis version, so a heapsight whose analysis or format
//! changed never reads an entry an older one wrote.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::json_report::{self, JsonReport};
use crate::manifest::sha256_hex;

/// The cache folder's name inside the snapshot folder.
pub const CACHE_DIR: &str = ".cache";

/// The version of the leak finder's results for the same snapshots and options. Bump it
/// whenever a change makes the analysis give other findings, fields or figures for the same
/// input (a new leak kind, a changed grouping, placement candidates, a new field), even
/// within one release: the cache key carries it, so no stale entry is read after an upgrade.
pub const ANALYSIS_VERSION: u32 = 4;

/// What one entry holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The full key, compared on read (the file name is only its hash).
    pub key: String,
    /// One heap's analysis: its `snapshots` and its findings, not placed.
    pub report: JsonReport,
}

/// What every key starts with: heapsight's version, [`ANALYSIS_VERSION`] and the report's
/// format and version.
pub fn versions() -> String {
    format!(
        "heapsight {} analysis-{ANALYSIS_VERSION} {}-{}",
        env!("CARGO_PKG_VERSION"),
        json_report::FORMAT,
        json_report::VERSION
    )
}

/// The key for `files` analyzed with `options` (any text that changes the result).
pub fn key(files: &[PathBuf], options: &str) -> Option<String> {
    let mut key = format!("{} {options}", versions());
    for file in files {
        let meta = std::fs::metadata(file).ok()?;
        let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        let path = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
        key.push_str(&format!(
            "\n{} {} {}.{:09}",
            path.display(),
            meta.len(),
            mtime.as_secs(),
            mtime.subsec_nanos()
        ));
    }
    Some(key)
}

fn entry_path(dir: &Path, key: &str) -> PathBuf {
    let hash = sha256_hex(key);
    dir.join(format!("analysis-{}.json", &hash[..16]))
}

/// The entry for `key` in `dir`, if there is a valid one.
pub fn read(dir: &Path, key: &str) -> Option<Entry> {
    let bytes = std::fs::read(entry_path(dir, key)).ok()?;
    let entry: Entry = serde_json::from_slice(&bytes).ok()?;
    let current =
        entry.report.format == json_report::FORMAT && entry.report.version == json_report::VERSION;
    (entry.key == key && current).then_some(entry)
}

/// Stores `entry` in `dir`; failures only cost a later re-analysis, so they are returned
/// for logging, not raised.
pub fn write(dir: &Path, entry: &Entry) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = entry_path(dir, &entry.key);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let json = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_another_analysis_or_format_version_are_not_read() {
        let dir = std::env::temp_dir().join(format!("heapsight-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let file = dir.join("C.heapsnapshot");
        std::fs::write(&file, "{}").expect("file");
        let key = key(&[file], "threshold 1").expect("key");
        assert!(key.starts_with(&versions()));
        assert!(key.contains(&format!("analysis-{ANALYSIS_VERSION}")));
        assert!(key.contains(&format!("{}-{}", json_report::FORMAT, json_report::VERSION)));
        let entry = Entry {
            key: key.clone(),
            report: JsonReport::new(),
        };
        write(&dir, &entry).expect("writes");
        assert!(read(&dir, &key).is_some());
        // The same key holding a report of another format version (a hand-edited or
        // colliding entry) is not read either.
        let mut old = entry.clone();
        old.report.version = json_report::VERSION - 1;
        write(&dir, &old).expect("writes");
        assert!(read(&dir, &key).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
