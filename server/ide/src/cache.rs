//! The on-disk cache of analyses, keyed by the identity of their inputs (path, size and
//! modification time of each file) and the options, so reopening the editor shows the
//! findings without parsing the snapshots again.
//!
//! Entries are JSON files under `<snapshot dir>/.cache/`, written through a temporary file
//! and a rename; an unreadable or mismatched entry is treated as absent.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::finding::Finding;
use crate::load::Summary;
use crate::manifest::sha256_hex;

/// The cache folder's name inside the snapshot folder.
pub const CACHE_DIR: &str = ".cache";

/// What one entry holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The full key, compared on read (the file name is only its hash).
    pub key: String,
    /// The findings.
    pub findings: Vec<Finding>,
    /// The comparison's totals.
    pub summary: Summary,
}

/// The key for `files` analyzed with `options` (any text that changes the result).
pub fn key(files: &[PathBuf], options: &str) -> Option<String> {
    // The entry format's version: 2 added the findings' allocation stacks and placement
    // (an entry written before would read back without them).
    let mut key = format!(
        "heapsight {} entries-2 {options}",
        env!("CARGO_PKG_VERSION")
    );
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
    (entry.key == key).then_some(entry)
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
