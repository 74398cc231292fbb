//! The parts of a capture's `manifest.json` this crate reads: each script's URL, hash and
//! source text at capture time (the capture crate owns the format; unknown fields are
//! ignored so either side can grow).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::IdeError;
use crate::inputs::MANIFEST_FILE;

/// The scripts a capture recorded, by URL.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CapturedScripts {
    by_url: HashMap<String, CapturedScript>,
    /// When the capture finished (RFC 3339), if known.
    pub finished_at: Option<String>,
}

/// One script as it was when captured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapturedScript {
    /// SHA-256 of the source, lowercase hex.
    pub sha256: String,
    /// The source text, when recorded.
    pub source: Option<String>,
}

#[derive(Deserialize)]
struct ManifestFile {
    #[serde(default)]
    finished_at: Option<String>,
    #[serde(default)]
    scripts: Vec<ScriptRecord>,
}

#[derive(Deserialize)]
struct ScriptRecord {
    url: String,
    #[serde(default)]
    path: Option<String>,
    sha256: String,
    #[serde(default)]
    source: Option<String>,
}

impl CapturedScripts {
    /// Reads `<capture>/manifest.json`.
    pub fn read(capture: &Path) -> Result<CapturedScripts, IdeError> {
        let path = capture.join(MANIFEST_FILE);
        let bytes = std::fs::read(&path).map_err(IdeError::io(&path))?;
        CapturedScripts::from_json(&bytes, &path)
    }

    /// Parses the bytes of a `manifest.json`; `path` names the file in errors.
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<CapturedScripts, IdeError> {
        let manifest: ManifestFile = serde_json::from_slice(bytes).map_err(|e| IdeError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut by_url = HashMap::new();
        for script in manifest.scripts {
            let record = CapturedScript {
                sha256: script.sha256,
                source: script.source,
            };
            if let Some(path) = script.path {
                by_url.insert(path, record.clone());
            }
            by_url.insert(script.url, record);
        }
        Ok(CapturedScripts {
            by_url,
            finished_at: manifest.finished_at,
        })
    }

    /// The script V8 named `url` (a `file://` URL or a path).
    pub fn get(&self, url: &str) -> Option<&CapturedScript> {
        self.by_url.get(url)
    }
}

impl CapturedScript {
    /// Whether `text` is exactly the captured source.
    pub fn matches(&self, text: &str) -> bool {
        sha256_hex(text) == self.sha256
    }
}

/// SHA-256 of `text` as lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
