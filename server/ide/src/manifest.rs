//! The parts of a capture's `manifest.json` this crate reads: each script's URL, hash and
//! source text at capture time; the captured process (command, pid, workspace, how many of
//! its scripts are the workspace's own); the other heaps captured beside it (`parts`) and,
//! in a part's own manifest, which heap it is (`part_of`); with several rounds of the
//! workload, each round's snapshot file and the workload's size per round; the memory limit
//! of the captured process's cgroup, when it had one. The capture crate owns the
//! format; every field here is optional and unknown fields are ignored, so either side can
//! grow. The words said about these facts are `heapsight-wording`'s, shared with the
//! capture crate.

use std::collections::HashMap;
use std::path::Path;

use heapsight_wording::CapturedProcess;
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

/// What this crate reads of a capture's `manifest.json`.
#[derive(Debug, Clone, Default)]
pub struct CaptureManifest {
    /// The scripts as captured.
    pub scripts: CapturedScripts,
    /// How many scripts the manifest lists.
    pub script_count: usize,
    /// The command line as given, else the target's `process.argv`.
    pub command: Vec<String>,
    /// The command line of the process taken among those under the command, when the
    /// capture chose one (the taken candidate of the manifest's `selection`).
    pub taken: Option<Vec<String>>,
    /// The captured process.
    pub pid: Option<i64>,
    /// The user's project as the capture saw it.
    pub workspace: Option<String>,
    /// How many scripts are the workspace's own files; `Some(0)`: none, not the service.
    pub workspace_scripts: Option<u64>,
    /// The other heaps captured beside this one.
    pub parts: Vec<PartRecord>,
    /// In a part's own manifest: which heap of the parent capture it is.
    pub part_of: Option<PartOf>,
    /// With several rounds of the workload: each round's snapshot file, relative to the
    /// capture folder, in order (the last is also `B.heapsnapshot`). Empty with one round.
    pub rounds: Vec<String>,
    /// The workload's size per round, as the user stated it.
    pub iterations: Option<u64>,
    /// The captured process's memory limit, when its cgroup set one.
    pub memory_limit: Option<MemoryLimit>,
}

/// A memory limit the captured process ran under, as the capture recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MemoryLimit {
    /// In bytes.
    pub bytes: u64,
    /// Where the capture read it: `cgroup v1 /docker/abc`.
    #[serde(default)]
    pub source: String,
}

/// In a part's own manifest: which heap of the parent capture it describes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PartOf {
    /// Thread or process.
    pub kind: PartKind,
    /// Its title in the parent capture.
    pub title: String,
    /// The worker's `threadId`, for a thread.
    #[serde(default)]
    pub thread_id: Option<u64>,
}

/// A heap captured beside the main one, as the parent manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PartRecord {
    /// Thread or process.
    pub kind: PartKind,
    /// Its sub-folder, relative to the capture folder.
    pub folder: String,
    /// Its process id.
    #[serde(default)]
    pub pid: Option<i64>,
    /// The worker's `threadId`, for a thread.
    #[serde(default)]
    pub thread_id: Option<u64>,
    /// How people name it: `worker 1 (render.js)`, `cluster worker 2 (pid 4242)`.
    pub title: String,
    /// Whether A, B and C were all taken.
    #[serde(default)]
    pub complete: bool,
    /// Why it is incomplete, or anything else a person should know.
    #[serde(default)]
    pub note: Option<String>,
}

/// What a part of a capture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartKind {
    /// A `worker_threads` worker of the captured process.
    Thread,
    /// Another process under the same command.
    Process,
}

#[derive(Deserialize)]
struct ManifestFile {
    #[serde(default)]
    finished_at: Option<String>,
    #[serde(default)]
    scripts: Vec<ScriptRecord>,
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    pid: Option<i64>,
    #[serde(default)]
    workspace: Option<String>,
    #[serde(default)]
    workspace_scripts: Option<u64>,
    #[serde(default)]
    selection: Option<SelectionRecord>,
    #[serde(default)]
    parts: Vec<PartRecord>,
    #[serde(default)]
    part_of: Option<PartOf>,
    #[serde(default)]
    rounds: Vec<RoundRecord>,
    #[serde(default)]
    iterations: Option<u64>,
    #[serde(default)]
    memory_limit: Option<MemoryLimit>,
}

#[derive(Deserialize)]
struct RoundRecord {
    file: String,
}

#[derive(Deserialize)]
struct SelectionRecord {
    #[serde(default)]
    candidates: Vec<CandidateRecord>,
}

#[derive(Deserialize)]
struct CandidateRecord {
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    taken: bool,
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

impl CaptureManifest {
    /// Reads `<capture>/manifest.json`.
    pub fn read(capture: &Path) -> Result<CaptureManifest, IdeError> {
        let path = capture.join(MANIFEST_FILE);
        let bytes = std::fs::read(&path).map_err(IdeError::io(&path))?;
        CaptureManifest::from_json(&bytes, &path)
    }

    /// Parses the bytes of a `manifest.json`; `path` names the file in errors.
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<CaptureManifest, IdeError> {
        let manifest: ManifestFile = serde_json::from_slice(bytes).map_err(|e| IdeError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let taken = manifest
            .selection
            .and_then(|s| s.candidates.into_iter().find(|c| c.taken))
            .map(|c| c.command);
        Ok(CaptureManifest {
            script_count: manifest.scripts.len(),
            scripts: CapturedScripts::from_records(manifest.scripts, manifest.finished_at),
            command: manifest.command,
            taken,
            pid: manifest.pid,
            workspace: manifest.workspace,
            workspace_scripts: manifest.workspace_scripts,
            parts: manifest.parts,
            part_of: manifest.part_of,
            rounds: manifest.rounds.into_iter().map(|r| r.file).collect(),
            iterations: manifest.iterations,
            memory_limit: manifest.memory_limit,
        })
    }

    /// The captured process, as the shared wording takes it.
    pub fn process(&self) -> CapturedProcess<'_> {
        CapturedProcess {
            command: &self.command,
            taken: self.taken.as_deref(),
            pid: self.pid,
            workspace: self.workspace.as_deref(),
            scripts: self.script_count,
            workspace_scripts: self.workspace_scripts,
        }
    }

    /// The warning for a capture of a process that ran none of the workspace's code (a
    /// wrapper such as npm, not the service); `None` when it ran some, or when unknown.
    pub fn not_the_service(&self) -> Option<String> {
        // A worker thread running none of the workspace's files (the thread of a loader's
        // hooks, as tsx starts; a library's pool) says nothing of which process was taken:
        // the process's main heap does.
        if self
            .part_of
            .as_ref()
            .is_some_and(|p| p.kind == PartKind::Thread)
        {
            return None;
        }
        self.process().not_the_service()
    }
}

impl CapturedScripts {
    /// Reads the scripts of `<capture>/manifest.json`.
    pub fn read(capture: &Path) -> Result<CapturedScripts, IdeError> {
        CaptureManifest::read(capture).map(|m| m.scripts)
    }

    /// Parses the scripts of a `manifest.json`'s bytes; `path` names the file in errors.
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<CapturedScripts, IdeError> {
        CaptureManifest::from_json(bytes, path).map(|m| m.scripts)
    }

    fn from_records(scripts: Vec<ScriptRecord>, finished_at: Option<String>) -> CapturedScripts {
        let mut by_url = HashMap::new();
        for script in scripts {
            let record = CapturedScript {
                sha256: script.sha256,
                source: script.source,
            };
            if let Some(path) = script.path {
                by_url.insert(path, record.clone());
            }
            by_url.insert(script.url, record);
        }
        CapturedScripts {
            by_url,
            finished_at,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(part_of: &str) -> CaptureManifest {
        let text = format!(
            r#"{{"command": ["npx", "tsx", "main.ts"], "pid": 42, "workspace": "/srv/app",
                "workspace_scripts": 0, "scripts": [{{"url": "file:///srv/app/node_modules/esbuild/lib/main.js", "sha256": "00"}}]
                {part_of}}}"#
        );
        CaptureManifest::from_json(text.as_bytes(), Path::new("manifest.json")).expect("a manifest")
    }

    #[test]
    fn only_a_process_is_called_the_wrong_one() {
        // The process's main heap, running none of the workspace's files: the wrong process.
        let main = manifest("");
        assert!(main
            .not_the_service()
            .is_some_and(|w| w.contains("not your service")));
        // A worker thread of the right process running a loader's code only: no warning.
        let thread = manifest(
            r#", "part_of": {"kind": "thread", "title": "worker 2 (main.js)", "thread_id": 2}"#,
        );
        assert_eq!(thread.not_the_service(), None);
        // Another process under the command is judged like the main one.
        let process = manifest(r#", "part_of": {"kind": "process", "title": "main.js (pid 42)"}"#);
        assert!(process.not_the_service().is_some());
    }
}
