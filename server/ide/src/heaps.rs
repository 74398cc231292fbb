//! Which heaps a capture holds, and what became of each: the main heap, and every part the
//! manifest lists (a worker thread's heap, another process's), each a capture folder of its
//! own with its own snapshots and manifest. A heap has its title as people name it (the
//! capture's `Part::title`, or the main heap's from `heapsight-wording`), its snapshots or
//! why they are not analyzed, and its own manifest's scripts, so a worker's findings are
//! placed in the worker's own files.
//!
//! An incomplete part (a thread that ended before C, or started during the load) is listed
//! with its note and not analyzed: the 3-snapshot technique compares a baseline taken after
//! warm-up, a target after the load and a final after idle; without B, or with an A taken
//! in the middle of the load, objects the load did not leak would be reported as leaks.
//!
//! Also here: the warnings a capture earns (its process ran none of the workspace's code; a
//! heap could not be analyzed), and the one sentence that says which heaps were looked at.

use std::collections::HashSet;

use heapsight_leaks::{Limit, RoundInputs};
use heapsight_wording::MAIN_THREAD;
use serde::{Deserialize, Serialize};

use crate::inputs::{self, Input};
use crate::manifest::{CaptureManifest, CapturedScripts, MemoryLimit, PartKind, PartRecord};

/// What a heap is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeapKind {
    /// The captured process's main thread.
    Main,
    /// A `worker_threads` worker.
    Thread,
    /// Another process under the same command (a cluster worker, a second service).
    Process,
}

impl From<PartKind> for HeapKind {
    fn from(kind: PartKind) -> HeapKind {
        match kind {
            PartKind::Thread => HeapKind::Thread,
            PartKind::Process => HeapKind::Process,
        }
    }
}

/// Whether a heap was analyzed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeapStatus {
    /// Its three snapshots were compared.
    Analyzed,
    /// The capture did not take all three snapshots of it.
    Incomplete,
    /// Its folder or snapshots could not be read or compared.
    Failed,
}

/// Why a heap is not analyzed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnalyzed {
    /// [`HeapStatus::Incomplete`] or [`HeapStatus::Failed`].
    pub status: HeapStatus,
    /// What a person should know.
    pub note: String,
}

/// One heap of a capture, before analysis.
#[derive(Debug, Clone)]
pub struct Heap {
    /// How people name it: `main thread`, `worker 1 (render.js)`.
    pub title: String,
    /// What it is.
    pub kind: HeapKind,
    /// Its process id.
    pub pid: Option<i64>,
    /// The worker's `threadId`, for a thread.
    pub thread_id: Option<u64>,
    /// Its sub-folder, relative to the capture folder (none for the main heap).
    pub folder: Option<String>,
    /// Its snapshots, or why they are not analyzed.
    pub plan: Result<Input, NotAnalyzed>,
    /// Its own manifest's scripts (empty without a manifest).
    pub scripts: CapturedScripts,
    /// Its own manifest's warning that the process is not the user's service.
    pub not_the_service: Option<String>,
    /// The snapshots of the workload's earlier rounds, its size per round and the memory
    /// limit the capture recorded, when its manifest lists several rounds (the last round's
    /// snapshot is the plan's B); none otherwise. The leak finder takes them beside the
    /// triple.
    pub rounds: RoundInputs,
}

/// The heaps of one input: the main heap first, then the parts in the manifest's order.
#[derive(Debug, Clone)]
pub struct Heaps {
    /// Every heap; titles are unique.
    pub heaps: Vec<Heap>,
    /// Whether a manifest described them (a capture folder, not three bare snapshots).
    pub from_manifest: bool,
}

/// What became of one heap: an entry of the JSON report's `heaps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapReport {
    /// As [`Heap::title`]; findings name their heap by it.
    pub title: String,
    /// What it is.
    pub kind: HeapKind,
    /// Its process id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    /// The worker's `threadId`, for a thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<u64>,
    /// Its sub-folder of the capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Whether it was analyzed.
    pub status: HeapStatus,
    /// Why not, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Its findings (above the threshold, of the kinds asked for).
    #[serde(default)]
    pub findings: usize,
    /// JS objects of its C allocated between its A and B.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaked_objects: Option<u64>,
    /// Their self sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaked_bytes: Option<u64>,
}

/// Something a person must read before the findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// What kind of warning.
    pub code: WarningCode,
    /// The heap it is about, when the capture holds several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap: Option<String>,
    /// The sentence.
    pub message: String,
}

/// What a [`Warning`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningCode {
    /// The captured process ran none of the workspace's code: a wrapper, not the service.
    NotTheService,
    /// A heap the capture took completely could not be analyzed.
    HeapNotAnalyzed,
    /// A warning of a newer heapsight.
    #[serde(other)]
    Other,
}

impl WarningCode {
    /// The code as JSON and SARIF spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::NotTheService => "not-the-service",
            WarningCode::HeapNotAnalyzed => "heap-not-analyzed",
            WarningCode::Other => "other",
        }
    }
}

impl Warning {
    /// The warning as one line: the heap's title first when it names one.
    pub fn text(&self) -> String {
        match &self.heap {
            Some(heap) => format!("{heap}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

impl Heaps {
    /// The heaps of `input`: for a capture folder, its main heap and every part its
    /// manifest lists; for three snapshots without a manifest, one heap; for a report, none
    /// (a report lists its own).
    pub fn of(input: &Input) -> Heaps {
        let capture = match input {
            Input::Report(_) => {
                return Heaps {
                    heaps: Vec::new(),
                    from_manifest: false,
                }
            }
            Input::Snapshots { capture, .. } => capture,
        };
        let manifest = capture
            .as_deref()
            .and_then(|dir| CaptureManifest::read(dir).ok());
        let Some((dir, manifest)) = capture.as_deref().zip(manifest) else {
            return Heaps {
                heaps: vec![Heap {
                    title: MAIN_THREAD.to_owned(),
                    kind: HeapKind::Main,
                    pid: None,
                    thread_id: None,
                    folder: None,
                    plan: Ok(input.clone()),
                    scripts: CapturedScripts::default(),
                    not_the_service: None,
                    rounds: RoundInputs::default(),
                }],
                from_manifest: false,
            };
        };
        let process_parts = manifest.parts.iter().any(|p| p.kind == PartKind::Process);
        let (title, kind, thread_id) = match &manifest.part_of {
            // A part's folder analyzed on its own is still that part.
            Some(of) => (of.title.clone(), HeapKind::from(of.kind), of.thread_id),
            None => (
                manifest.process().main_heap_title(process_parts),
                HeapKind::Main,
                None,
            ),
        };
        let rounds = round_inputs(dir, &manifest, input);
        let mut heaps = vec![Heap {
            title,
            kind,
            pid: manifest.pid,
            thread_id,
            folder: None,
            plan: Ok(input.clone()),
            not_the_service: manifest.not_the_service(),
            scripts: manifest.scripts,
            rounds,
        }];
        heaps.extend(manifest.parts.iter().map(|part| Heap::part(dir, part)));
        // Titles name heaps in findings: two alike get their folders added.
        let mut seen = HashSet::new();
        for heap in &mut heaps {
            if !seen.insert(heap.title.clone()) {
                heap.title = format!("{} [{}]", heap.title, heap.folder.as_deref().unwrap_or("."));
                seen.insert(heap.title.clone());
            }
        }
        Heaps {
            heaps,
            from_manifest: true,
        }
    }

    /// The warnings the manifests give: each heap whose process ran none of the workspace's
    /// code. A part's names its heap; the main heap's does when there are parts.
    pub fn warnings(&self) -> Vec<Warning> {
        let several = self.heaps.len() > 1;
        self.heaps
            .iter()
            .enumerate()
            .filter_map(|(i, heap)| {
                Some(Warning {
                    code: WarningCode::NotTheService,
                    heap: (several || i > 0).then(|| heap.title.clone()),
                    message: heap.not_the_service.clone()?,
                })
            })
            .collect()
    }
}

/// The earlier rounds of the capture in `dir` whose manifest is `manifest`, when `input`
/// analyzes its own `B.heapsnapshot` (the last round): three files named on the command
/// line are a plain triple. A round file the manifest names outside the folder, or a
/// missing one, makes it a plain triple too.
fn round_inputs(dir: &std::path::Path, manifest: &CaptureManifest, input: &Input) -> RoundInputs {
    let Input::Snapshots { b, .. } = input else {
        return RoundInputs::default();
    };
    let own_b = dir.join("B.heapsnapshot");
    let Some((_, earlier)) = manifest.rounds.split_last() else {
        return RoundInputs::default();
    };
    let usable = |f: &String| inputs::names_inside(f) && !f.contains('/') && dir.join(f).is_file();
    if *b != own_b || !earlier.iter().all(usable) {
        return RoundInputs::default();
    }
    RoundInputs {
        earlier: earlier.iter().map(|f| dir.join(f)).collect(),
        iterations: manifest.iterations,
        limit: manifest.memory_limit.as_ref().map(recorded_limit),
    }
}

/// The limit a capture recorded, saying whose it is: a projection to a limit the user did
/// not give must name it.
fn recorded_limit(limit: &MemoryLimit) -> Limit {
    Limit {
        bytes: limit.bytes,
        source: format!(
            "the container's ({}), recorded by the capture",
            limit.source
        ),
    }
}

impl Heap {
    /// The part `record` of the capture in `dir`, read from its own folder.
    fn part(dir: &std::path::Path, record: &PartRecord) -> Heap {
        let mut heap = Heap {
            title: record.title.clone(),
            kind: HeapKind::from(record.kind),
            pid: record.pid,
            thread_id: record.thread_id,
            folder: Some(record.folder.clone()),
            plan: Err(NotAnalyzed {
                status: HeapStatus::Incomplete,
                note: record
                    .note
                    .clone()
                    .unwrap_or_else(|| "not all of A, B and C were taken".to_owned()),
            }),
            scripts: CapturedScripts::default(),
            not_the_service: None,
            // A part is snapshotted at A, the last round and C: one round.
            rounds: RoundInputs::default(),
        };
        if !record.complete {
            return heap;
        }
        let failed = |note: String| {
            Err(NotAnalyzed {
                status: HeapStatus::Failed,
                note,
            })
        };
        // The folder is data: it may only name a folder inside the capture.
        if !inputs::names_inside(&record.folder) {
            heap.plan = failed(format!(
                "its folder `{}` is not inside the capture",
                record.folder
            ));
            return heap;
        }
        let folder = dir.join(&record.folder);
        // Nor through a link that leads out of it.
        let resolved = std::fs::canonicalize(&folder).ok();
        let capture = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        if resolved.as_ref().is_some_and(|f| !f.starts_with(&capture)) {
            heap.plan = failed(format!(
                "its folder `{}` leads outside the capture",
                record.folder
            ));
            return heap;
        }
        heap.plan = match CaptureManifest::read(&folder) {
            Ok(manifest) => {
                heap.not_the_service = manifest.not_the_service();
                heap.scripts = manifest.scripts;
                inputs::capture_input(&folder).or_else(|e| failed(e.to_string()))
            }
            Err(e) => failed(e.to_string()),
        };
        heap
    }

    /// Its report: analyzed, with `findings` and the comparison's totals.
    pub fn analyzed(
        &self,
        findings: usize,
        leaked_objects: Option<u64>,
        leaked_bytes: Option<u64>,
    ) -> HeapReport {
        HeapReport {
            status: HeapStatus::Analyzed,
            note: None,
            findings,
            leaked_objects,
            leaked_bytes,
            ..self.listed()
        }
    }

    /// Its report when it is not analyzed: as planned, or because analyzing it failed with
    /// `error`; then also the warning that says so.
    pub fn not_analyzed(&self, error: Option<String>) -> (HeapReport, Option<Warning>) {
        let why = match (&self.plan, error) {
            (_, Some(note)) => NotAnalyzed {
                status: HeapStatus::Failed,
                note,
            },
            (Err(why), None) => why.clone(),
            (Ok(_), None) => NotAnalyzed {
                status: HeapStatus::Failed,
                note: "not analyzed".to_owned(),
            },
        };
        let warning = (why.status == HeapStatus::Failed).then(|| Warning {
            code: WarningCode::HeapNotAnalyzed,
            heap: Some(self.title.clone()),
            message: format!("not analyzed: {}", why.note),
        });
        let report = HeapReport {
            status: why.status,
            note: Some(why.note),
            ..self.listed()
        };
        (report, warning)
    }

    fn listed(&self) -> HeapReport {
        HeapReport {
            title: self.title.clone(),
            kind: self.kind,
            pid: self.pid,
            thread_id: self.thread_id,
            folder: self.folder.clone(),
            status: HeapStatus::Analyzed,
            note: None,
            findings: 0,
            leaked_objects: None,
            leaked_bytes: None,
        }
    }
}

impl HeapReport {
    /// Its title, with the pid for the main heap when the title does not carry it:
    /// `main thread (pid 1234)`.
    pub fn name(&self) -> String {
        match self.pid {
            Some(pid) if self.kind == HeapKind::Main && !self.title.contains("(pid ") => {
                format!("{} (pid {pid})", self.title)
            }
            _ => self.title.clone(),
        }
    }
}

/// What to say when no finding is above the threshold, in lower case; `warned`: after the
/// capture's warnings, which then decide what that is worth.
pub fn no_findings(warned: bool) -> &'static str {
    if warned {
        "no leaks above the threshold in these snapshots: read the warning above"
    } else {
        "no leaks above the threshold"
    }
}

/// Which heaps were looked at and what each gave, in one sentence starting in lower case:
/// `looked at main thread (pid 1234): no findings; worker 1 (render.js): 1 finding; not
/// analyzed: worker 2 (render.js), incomplete (ended before C)`.
pub fn looked_at(heaps: &[HeapReport]) -> String {
    let analyzed: Vec<String> = heaps
        .iter()
        .filter(|h| h.status == HeapStatus::Analyzed)
        .map(|h| {
            let found = match h.findings {
                0 => "no findings".to_owned(),
                1 => "1 finding".to_owned(),
                n => format!("{n} findings"),
            };
            format!("{}: {found}", h.name())
        })
        .collect();
    let skipped: Vec<String> = heaps
        .iter()
        .filter(|h| h.status != HeapStatus::Analyzed)
        .map(|h| {
            let status = match h.status {
                HeapStatus::Incomplete => "incomplete",
                _ => "failed",
            };
            match &h.note {
                Some(note) => format!("{}, {status} ({note})", h.name()),
                None => format!("{}, {status}", h.name()),
            }
        })
        .collect();
    let mut out = String::new();
    if !analyzed.is_empty() {
        out = format!("looked at {}", analyzed.join("; "));
    }
    if !skipped.is_empty() {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(&format!("not analyzed: {}", skipped.join("; ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(title: &str, kind: HeapKind, status: HeapStatus, findings: usize) -> HeapReport {
        HeapReport {
            title: title.to_owned(),
            kind,
            pid: Some(1234),
            thread_id: None,
            folder: None,
            status,
            note: (status != HeapStatus::Analyzed).then(|| "ended before C".to_owned()),
            findings,
            leaked_objects: None,
            leaked_bytes: None,
        }
    }

    #[test]
    fn the_looked_at_sentence() {
        let heaps = [
            report("main thread", HeapKind::Main, HeapStatus::Analyzed, 0),
            report(
                "worker 1 (render.js)",
                HeapKind::Thread,
                HeapStatus::Analyzed,
                1,
            ),
            report(
                "worker 2 (render.js)",
                HeapKind::Thread,
                HeapStatus::Incomplete,
                0,
            ),
        ];
        assert_eq!(
            looked_at(&heaps),
            "looked at main thread (pid 1234): no findings; worker 1 (render.js): 1 finding; \
             not analyzed: worker 2 (render.js), incomplete (ended before C)"
        );
        assert_eq!(
            looked_at(&heaps[..1]),
            "looked at main thread (pid 1234): no findings"
        );
    }

    #[test]
    fn warning_codes_read_back_and_unknown_ones_are_kept() {
        let w: Vec<Warning> = serde_json::from_str(
            r#"[{"code":"not-the-service","message":"m"},{"code":"from-the-future","heap":"h","message":"n"}]"#,
        )
        .unwrap_or_default();
        assert_eq!(
            w.iter()
                .map(|w| format!("{} {}", w.code.as_str(), w.text()))
                .collect::<Vec<_>>(),
            ["not-the-service m", "other h: n"]
        );
    }
}
