//! `manifest.json`: what was captured, from which process, how, and the exact code that
//! ran. Heap snapshots cut strings at 1024 characters and name scripts only by URL, so the
//! manifest's script sources are the only exact record of the code behind the heaps; the
//! source layer uses them to place findings after the files on disk have changed.

use std::path::{Path, PathBuf};

use heapsight_wording::CapturedProcess;
use serde::{Deserialize, Serialize};

use crate::error::{CaptureError, Result};
use crate::report::Phase;

/// The manifest's format version; bumped when a field changes meaning.
pub const MANIFEST_VERSION: u32 = 1;

/// The file name of the manifest inside a capture folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// How the snapshots were taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// heapsight started the target with the inspector on.
    Spawn,
    /// heapsight attached to a running inspector.
    Attach,
    /// The process wrote its own snapshots on a signal (`--heapsnapshot-signal`).
    Signal,
    /// heapsight opened the inspector of a running process with `SIGUSR1` (`--pid` without
    /// `--signal`), and closed it at the end.
    Pid,
}

/// A capture's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// The heapsight version that wrote it.
    pub heapsight: String,
    /// How the snapshots were taken.
    pub mode: Mode,
    /// The captured process.
    pub pid: Option<i64>,
    /// `process.version` of the target, e.g. `v20.11.1`.
    pub node_version: Option<String>,
    /// The command line: as given when we started it, else the target's `process.argv`.
    pub command: Vec<String>,
    /// The inspector URL used, if any.
    pub inspector: Option<String>,
    /// When the capture began (RFC 3339, UTC).
    pub started_at: String,
    /// When the last file was written (RFC 3339, UTC).
    pub finished_at: String,
    /// Every phase, in order.
    pub phases: Vec<PhaseRecord>,
    /// The snapshots, A then B then C.
    pub files: Vec<SnapshotFile>,
    /// User scripts loaded in the target (empty in signal mode: no inspector to ask).
    pub scripts: Vec<Script>,
    /// Scripts left out because they are Node's own (`node:`) or have no URL.
    pub internal_scripts_skipped: u64,
    /// Allocation tracking, when it was on (absent in manifests written without it, and in
    /// those of heapsight versions before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_tracking: Option<AllocationTracking>,
    /// The user's project as the capture saw it (absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// How many of [`Manifest::scripts`] are the workspace's own files (under
    /// [`Manifest::workspace`], outside `node_modules`). `Some(0)` means the captured
    /// process ran none of the user's code: a wrapper such as npm, not the service. Absent
    /// when unknown (signal mode, older manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_scripts: Option<u64>,
    /// How the captured process was chosen among the Node processes under the command
    /// (spawn mode; absent when there was nothing to choose).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Selection>,
    /// The other heaps captured beside this one (worker threads of the target, other
    /// processes of the same command). Each is a complete capture folder of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
    /// In a part's own manifest: which heap of the parent capture it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_of: Option<PartOrigin>,
    /// With several rounds of the workload (`--rounds N`, N > 1): the snapshot after each,
    /// in order. The last round's file is also `B.heapsnapshot` (a hard link), so that
    /// [`Manifest::files`] keeps naming A, B and C for every reader of a triple. Empty with
    /// one round, and in manifests written before rounds existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<RoundRecord>,
    /// The workload's size per round as the user stated it (`--iterations`), for growth
    /// rates per iteration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
    /// The memory limit of the captured process's cgroup (a container's, a systemd
    /// unit's), when it has one: the default limit of the analysis's projection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<MemoryLimit>,
    /// The memory headroom check of each snapshot of the main heap: the estimate it was
    /// checked with and the peak the process then reached (empty where the process's memory
    /// could not be read: signal mode, an inspector of another PID namespace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshot_memory: Vec<SnapshotMemory>,
    /// The snapshots' string contents were replaced (`--redact`, or `heapsight redact` of a
    /// capture folder): they hold no text of the target's strings, only names.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}

/// One snapshot's memory: what it was estimated to add, what was left, what it added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMemory {
    /// `A`, `B`, `B1`, `C`.
    pub label: String,
    /// V8's used heap after the forced collections (`Runtime.getHeapUsage`).
    pub heap_used_bytes: u64,
    /// The process's RSS before the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
    /// What the snapshot was estimated to add (an estimate, see the README).
    pub estimate_bytes: u64,
    /// What was left before the limit (cgroup limit less use, or the machine's available
    /// memory, the lower).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_bytes: Option<u64>,
    /// Where `available_bytes` comes from, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<String>,
    /// Taken with `--force` although the estimate exceeded what was left.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
    /// The process's peak RSS during the snapshot (`VmHWM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// Measured: the peak RSS during the snapshot less the RSS before it (only when the peak
    /// could be reset before the snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_extra_bytes: Option<u64>,
}

/// A memory limit the captured process runs under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryLimit {
    /// The limit in bytes.
    pub bytes: u64,
    /// Where it was read, in words: `cgroup v1 /docker/abc`.
    pub source: String,
}

/// The snapshot after one round of the workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundRecord {
    /// 1-based.
    pub round: u32,
    /// `B1`, `B2`, …
    pub label: String,
    /// The file name, relative to the capture folder (`B1.heapsnapshot`).
    pub file: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was complete (RFC 3339, UTC).
    pub taken_at: String,
}

/// What a part of a capture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartKind {
    /// A `worker_threads` worker of the captured process.
    Thread,
    /// Another process under the same command (a cluster worker, a second service).
    Process,
}

/// A heap captured beside the main one, in its own sub-folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Thread or process.
    pub kind: PartKind,
    /// The sub-folder, relative to the capture folder (`threads/1`, `processes/4242`); it
    /// holds its own `manifest.json` and snapshots.
    pub folder: String,
    /// Its process id.
    pub pid: Option<i64>,
    /// The worker's `threadId`, for a thread.
    pub thread_id: Option<u64>,
    /// How people name it: `worker 1 (render.js)`, `cluster worker 2 (pid 4242)`.
    pub title: String,
    /// The worker's script URL, or the process's main script.
    pub url: Option<String>,
    /// Whether A, B and C were all taken (a thread that started during the load has an
    /// A taken when it started; one that ended before C has no C).
    pub complete: bool,
    /// Why it is incomplete, or anything else a person should know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Which heap of a parent capture a part's manifest describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartOrigin {
    /// Thread or process.
    pub kind: PartKind,
    /// As [`Part::title`].
    pub title: String,
    /// The worker's `threadId`, for a thread.
    pub thread_id: Option<u64>,
}

/// How the captured process was chosen under a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// One sentence: which was taken and why.
    pub summary: String,
    /// Every Node process seen under the command, in the order they appeared.
    pub candidates: Vec<Candidate>,
}

/// A Node process seen under the captured command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Its pid.
    pub pid: i64,
    /// Its parent's pid.
    pub ppid: Option<i64>,
    /// Its `process.argv`: the node binary, the main script, its arguments.
    pub command: Vec<String>,
    /// Its `process.execArgv`: Node's own flags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exec_argv: Vec<String>,
    /// What it is.
    pub role: CandidateRole,
    /// Whether it was captured (as the main heap or as a part).
    pub taken: bool,
    /// Why it was taken or let go.
    pub why: String,
}

/// What a Node process under the command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CandidateRole {
    /// Runs the user's code.
    Service,
    /// A package manager or launcher (npm, npx, yarn, pnpm, tsx's CLI, nodemon, a
    /// `node --watch` parent): none of the workspace's code.
    Wrapper,
    /// A `cluster` primary that forked workers.
    ClusterPrimary,
    /// A `cluster` worker.
    ClusterWorker,
}

/// How allocation tracking ran during a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationTracking {
    /// From when objects carry an allocation stack: objects allocated earlier have
    /// `trace_node_id` 0.
    pub since: TrackingSince,
    /// The V8 flags heapsight gave the target for it (`--no-compact`,
    /// `--no-turbo-inlining`): empty when it could not pass them (attached, or started
    /// through a wrapper).
    #[serde(default)]
    pub flags: Vec<String>,
}

/// From when allocations were tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrackingSince {
    /// From the app's first line: the target was started paused, and resumed once tracking
    /// was on.
    Start,
    /// From the moment heapsight attached: start-up allocations have no stack.
    Attach,
}

/// One phase's timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// Which phase.
    pub phase: Phase,
    /// What it set out to do.
    pub detail: String,
    /// What it did.
    pub summary: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

/// One snapshot file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// `A`, `B` or `C`.
    pub label: String,
    /// The file name, relative to the capture folder.
    pub file: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was complete (RFC 3339, UTC).
    pub taken_at: String,
}

/// One script the target loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    /// V8's script id (what snapshot `locations` refer to), a decimal string.
    pub id: String,
    /// The URL V8 reports: `file:///...` for files on disk.
    pub url: String,
    /// The file path, when the URL names a local file.
    pub path: Option<String>,
    /// SHA-256 of the source (UTF-8), lowercase hex.
    pub sha256: String,
    /// V8's own hash of the source, as `Debugger.scriptParsed` reports it.
    pub v8_hash: String,
    /// Whether it is an ES module.
    pub is_module: bool,
    /// The source text, absent when sources were not recorded.
    pub source: Option<String>,
}

impl Manifest {
    /// Reads the manifest of the capture in `dir`.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = std::fs::read(&path).map_err(|source| CaptureError::Read {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| CaptureError::Read {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// The path of snapshot `label` (`A`, `B`, `C`) in the capture folder `dir`.
    pub fn snapshot_path(&self, dir: &Path, label: &str) -> Option<PathBuf> {
        self.files
            .iter()
            .find(|f| f.label == label)
            .map(|f| dir.join(&f.file))
    }
}

impl Manifest {
    /// The plain warning for a capture whose process ran none of the workspace's code:
    /// `None` when it did, or when that is unknown. One wording for the capture, the CLI and
    /// the editor: `heapsight-wording`'s, which the editor layer's manifest reader calls too.
    pub fn not_the_service(&self) -> Option<String> {
        self.process().not_the_service()
    }

    /// The captured process as the shared wording takes it: the taken candidate's command
    /// line when the capture chose among several processes.
    pub fn process(&self) -> CapturedProcess<'_> {
        CapturedProcess {
            command: &self.command,
            taken: self
                .selection
                .as_ref()
                .and_then(|s| s.candidates.iter().find(|c| c.taken))
                .map(|c| c.command.as_slice()),
            pid: self.pid,
            workspace: self.workspace.as_deref(),
            scripts: self.scripts.len(),
            workspace_scripts: self.workspace_scripts,
        }
    }
}

/// How people call a Node process, from its command line (one definition for the capture
/// and the analysis layers).
pub use heapsight_wording::process_name;

/// Whether a script URL names a file of `workspace` that is the user's own: under it, and
/// not inside a `node_modules` folder.
pub fn is_workspace_file(url: &str, workspace: &Path) -> bool {
    let Some(path) = url_to_path(url) else {
        return false;
    };
    Path::new(&path)
        .strip_prefix(workspace)
        .is_ok_and(|rest| !rest.components().any(|c| c.as_os_str() == "node_modules"))
}

/// How many of `scripts` are the workspace's own files ([`is_workspace_file`]).
pub fn count_workspace_scripts(scripts: &[Script], workspace: &Path) -> u64 {
    scripts
        .iter()
        .filter(|s| is_workspace_file(&s.url, workspace))
        .count() as u64
}

/// The local path a script URL names: `file:///a/b.js` → `/a/b.js`, `/a/b.js` as is.
pub fn url_to_path(url: &str) -> Option<String> {
    if let Some(rest) = url.strip_prefix("file://") {
        // `file:///p` has an empty host; `file://localhost/p` is the same file.
        let rest = rest.strip_prefix("localhost").unwrap_or(rest);
        if !rest.starts_with('/') {
            return None;
        }
        return Some(percent_decode(rest));
    }
    url.starts_with('/').then(|| url.to_owned())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a script URL is the user's (or a dependency's) code rather than Node's own.
pub(crate) fn is_user_script(url: &str) -> bool {
    if url.is_empty() || url.starts_with("node:") {
        return false;
    }
    // Absolute paths and URLs with a scheme; old Node versions name internals with bare
    // relative names (`events.js`, `internal/...`).
    url.starts_with('/') || url.contains("://") || url.as_bytes().get(1) == Some(&b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_to_paths() {
        assert_eq!(
            url_to_path("file:///srv/app/main.js").as_deref(),
            Some("/srv/app/main.js")
        );
        assert_eq!(
            url_to_path("file:///a%20b/c.mjs").as_deref(),
            Some("/a b/c.mjs")
        );
        assert_eq!(
            url_to_path("file://localhost/x.js").as_deref(),
            Some("/x.js")
        );
        assert_eq!(
            url_to_path("/srv/app/main.js").as_deref(),
            Some("/srv/app/main.js")
        );
        assert_eq!(url_to_path("node:events"), None);
        assert_eq!(url_to_path("file://host/x.js"), None);
        assert_eq!(
            url_to_path("file:///bad%zz%4").as_deref(),
            Some("/bad%zz%4")
        );
    }

    #[test]
    fn allocation_tracking_is_optional_and_round_trips() {
        let old = r#"{"version":1,"heapsight":"0.1.0","mode":"spawn","pid":1,
            "node_version":"v20.0.0","command":["node","a.js"],"inspector":null,
            "started_at":"x","finished_at":"y","phases":[],"files":[],"scripts":[],
            "internal_scripts_skipped":0}"#;
        let mut m: Manifest = serde_json::from_str(old).expect("an old manifest reads");
        assert_eq!(m.allocation_tracking, None);
        let text = serde_json::to_string(&m).expect("encode");
        assert!(!text.contains("allocation_tracking"), "{text}");
        m.allocation_tracking = Some(AllocationTracking {
            since: TrackingSince::Start,
            flags: vec!["--no-compact".into()],
        });
        let text = serde_json::to_string(&m).expect("encode");
        assert!(
            text.contains(r#""allocation_tracking":{"since":"start","flags":["--no-compact"]}"#),
            "{text}"
        );
        let back: Manifest = serde_json::from_str(&text).expect("decode");
        assert_eq!(back, m);
    }

    #[test]
    fn rounds_are_written_only_when_there_are_several() {
        let old = r#"{"version":1,"heapsight":"0.1.0","mode":"spawn","pid":1,
            "node_version":"v20.0.0","command":["node","a.js"],"inspector":null,
            "started_at":"x","finished_at":"y","phases":[],"files":[],"scripts":[],
            "internal_scripts_skipped":0}"#;
        let mut m: Manifest = serde_json::from_str(old).expect("an old manifest reads");
        assert!(m.rounds.is_empty() && m.iterations.is_none());
        let text = serde_json::to_string(&m).expect("encode");
        assert!(
            !text.contains("rounds") && !text.contains("iterations"),
            "{text}"
        );
        m.iterations = Some(500);
        m.rounds = vec![RoundRecord {
            round: 1,
            label: "B1".into(),
            file: "B1.heapsnapshot".into(),
            bytes: 10,
            taken_at: "t".into(),
        }];
        let text = serde_json::to_string(&m).expect("encode");
        assert!(
            text.contains(r#""rounds":[{"round":1,"label":"B1","file":"B1.heapsnapshot","bytes":10,"taken_at":"t"}],"iterations":500"#),
            "{text}"
        );
        let back: Manifest = serde_json::from_str(&text).expect("decode");
        assert_eq!(back, m);
    }

    #[test]
    fn the_memory_limit_is_written_only_when_there_is_one() {
        let old = r#"{"version":1,"heapsight":"0.1.0","mode":"spawn","pid":1,
            "node_version":"v20.0.0","command":["node","a.js"],"inspector":null,
            "started_at":"x","finished_at":"y","phases":[],"files":[],"scripts":[],
            "internal_scripts_skipped":0}"#;
        let mut m: Manifest = serde_json::from_str(old).expect("an old manifest reads");
        assert_eq!(m.memory_limit, None);
        let text = serde_json::to_string(&m).expect("encode");
        assert!(!text.contains("memory_limit"), "{text}");
        m.memory_limit = Some(MemoryLimit {
            bytes: 256 << 20,
            source: "cgroup v1 /docker/abc".into(),
        });
        let text = serde_json::to_string(&m).expect("encode");
        assert!(
            text.contains(r#""memory_limit":{"bytes":268435456,"source":"cgroup v1 /docker/abc"}"#),
            "{text}"
        );
        let back: Manifest = serde_json::from_str(&text).expect("decode");
        assert_eq!(back, m);
    }

    #[test]
    fn workspace_files() {
        let ws = Path::new("/srv/app");
        assert!(is_workspace_file("file:///srv/app/server.js", ws));
        assert!(is_workspace_file("file:///srv/app/src/render.ts", ws));
        assert!(!is_workspace_file(
            "file:///srv/app/node_modules/tsx/dist/cli.mjs",
            ws
        ));
        assert!(!is_workspace_file("file:///srv/application/x.js", ws));
        assert!(!is_workspace_file(
            "file:///usr/lib/node_modules/npm/bin/npm-cli.js",
            ws
        ));
        assert!(!is_workspace_file("node:events", ws));
    }

    #[test]
    fn the_not_the_service_warning_names_the_process() {
        let mut m: Manifest = serde_json::from_str(
            r#"{"version":1,"heapsight":"0.1.0","mode":"spawn","pid":7,
            "node_version":"v20.0.0","command":["npm","start"],"inspector":null,
            "started_at":"x","finished_at":"y","phases":[],"files":[],"scripts":[],
            "internal_scripts_skipped":0,"workspace":"/srv/app","workspace_scripts":0}"#,
        )
        .expect("a manifest");
        m.selection = Some(Selection {
            summary: String::new(),
            candidates: vec![Candidate {
                pid: 7,
                ppid: None,
                command: vec![
                    "/usr/bin/node".into(),
                    "/usr/lib/node_modules/npm/bin/npm-cli.js".into(),
                    "start".into(),
                ],
                exec_argv: Vec::new(),
                role: CandidateRole::Wrapper,
                taken: true,
                why: String::new(),
            }],
        });
        let warning = m.not_the_service().expect("a warning");
        assert!(
            warning.starts_with("the captured process is npm (pid 7), not your service"),
            "{warning}"
        );
        m.workspace_scripts = Some(2);
        assert_eq!(m.not_the_service(), None);
        m.workspace_scripts = None;
        assert_eq!(m.not_the_service(), None);
    }

    #[test]
    fn user_scripts() {
        assert!(is_user_script("file:///srv/app/main.js"));
        assert!(is_user_script("/srv/app/main.js"));
        assert!(!is_user_script("node:internal/main/run_main_module"));
        assert!(!is_user_script("internal/bootstrap/node.js"));
        assert!(!is_user_script("events.js"));
        assert!(!is_user_script(""));
    }
}
