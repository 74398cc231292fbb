//! Parts of a capture: heaps besides the main thread's, taken at the same phase points (A,
//! B, C) into sub-folders of the capture folder. Each part folder is a capture folder of its
//! own (its snapshots and a `manifest.json` whose `part_of` says which heap it is); the
//! top-level manifest lists every part in `parts`.
//!
//! Two ways to reach a part:
//! - a worker thread (`worker_threads`) through a session multiplexed over its process's
//!   connection ([`WorkerSession`], `NodeWorker`): `threads/<threadId>/`;
//! - another process under the same command (a cluster worker), through its own connection,
//!   handed over by the process selection ([`Parts::add_process`]): `processes/<pid>/`. Its
//!   own worker threads are captured the same way as the target's, into
//!   `processes/<pid>/threads/<threadId>/`, and listed both in the top-level manifest and in
//!   the process part's own.
//!
//! Worker threads are announced from just before snapshot A on (`NodeWorker.enable` with
//! `waitForDebuggerOnStart`), so the warm-up runs untouched. Those alive then are taken with
//! the main thread at A. One started later is held by Node before its first line until told
//! to run; the connections are read all through the workload and the idle period
//! ([`Parts::serve`]) so that it is attached as it starts: its A (its baseline) is taken
//! right then, and it is let run. A worker started once snapshot C has begun is let run and
//! not captured; after C's round no new worker is held any more.
//!
//! A held worker waits for us and for nothing else: neither `NodeWorker.disable`,
//! `NodeWorker.detach` nor closing the connection releases it, and a worker decides to wait
//! when it is created but is announced only once its thread runs. So every way out of a
//! capture ([`Parts::finish`]) stops holding new workers, reads the announcements still
//! coming, and lets every held worker run before a connection closes.
//!
//! A part that ends early keeps what was taken and is listed incomplete with a note; a part
//! that fails is noted and left alone. Only a file that cannot be written stops the capture:
//! the main heap is what the capture is for.
//!
//! Not captured: a worker thread's own workers (nested workers announce themselves in their
//! parent worker's session, which would need `NodeWorker.enable` inside every worker session).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use tokio::sync::watch;

use crate::cdp::{Cdp, Event};
use crate::channel::{self, Channel, WorkerLink, ATTACHED, DETACHED, LAST_WORDS};
use crate::error::{CaptureError, Result};
use crate::heap;
use crate::manifest::{
    self, AllocationTracking, Manifest, Mode, Part, PartKind, PartOrigin, PhaseRecord,
    SnapshotFile, TrackingSince, MANIFEST_FILE, MANIFEST_VERSION,
};
use crate::options::Options;
use crate::output::{self, Registrar};
use crate::report::{human_bytes, Phase, Reporter};
use crate::scripts::{self, Recorded};
use crate::time::rfc3339;

/// How long announcements are read after new workers stopped waiting for us, before a
/// connection may close: a worker created just before is announced once its thread has
/// started, within milliseconds unless the machine is very busy.
const ANNOUNCE_GRACE: Duration = Duration::from_secs(1);

/// What part operations need from the capture. Owns or shares everything, so it can be built
/// while the capture's state is borrowed elsewhere.
pub(crate) struct Env<'o> {
    /// The capture's options.
    pub opts: &'o Options,
    /// Registers the files of the parts for removal if the capture fails.
    pub files: Registrar,
    /// Where progress goes.
    pub reporter: Arc<dyn Reporter>,
    /// The main thread's allocation tracking, when it is on: its worker threads are tracked
    /// too.
    pub tracking: Option<AllocationTracking>,
    /// What happened to parts during the phase, for its summary.
    news: Mutex<Vec<String>>,
}

impl<'o> Env<'o> {
    /// An environment for one phase.
    pub(crate) fn new(
        opts: &'o Options,
        files: Registrar,
        reporter: Arc<dyn Reporter>,
        tracking: Option<AllocationTracking>,
    ) -> Env<'o> {
        Env {
            opts,
            files,
            reporter,
            tracking,
            news: Mutex::new(Vec::new()),
        }
    }

    fn tell(&self, news: String) {
        if let Ok(mut all) = self.news.lock() {
            all.push(news);
        }
    }

    /// `summary`, followed by what happened to parts since the last call, for a phase
    /// summary.
    pub(crate) fn with_news(&self, summary: String) -> String {
        let news = self
            .news
            .lock()
            .map(|mut all| std::mem::take(&mut *all))
            .unwrap_or_default();
        news.into_iter().fold(summary, |text, news| {
            if text.is_empty() {
                news
            } else {
                format!("{text}; {news}")
            }
        })
    }
}

/// The process a heap lives in, as a part's manifest names it.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub mode: Mode,
    pub pid: Option<i64>,
    pub node_version: Option<String>,
    pub command: Vec<String>,
    pub inspector: Option<String>,
    pub workspace: Option<PathBuf>,
}

/// The heaps captured beside the main one.
#[derive(Debug)]
pub(crate) struct Parts {
    /// The target's worker threads, reached through the main connection.
    threads: Threads,
    /// Other processes, each through its own connection.
    processes: Vec<ProcessPart>,
}

impl Default for Parts {
    fn default() -> Parts {
        Parts {
            threads: Threads::new("threads".to_owned(), None),
            processes: Vec::new(),
        }
    }
}

/// One snapshot of a part taken in a round, for the phase summary.
#[derive(Debug)]
struct Taken {
    kind: PartKind,
    folder: String,
    bytes: u64,
}

impl Parts {
    /// Whether any part was registered or attached.
    pub(crate) fn any(&self) -> bool {
        !self.threads.list.is_empty() || !self.processes.is_empty()
    }

    /// Registers another process, connected through `cdp`, to be captured into
    /// `processes/<pid>/`. Its identity is asked and its heap profiler enabled when its
    /// first snapshot is due.
    pub(crate) fn add_process(&mut self, cdp: Cdp, pid: i64, title: String, url: Option<String>) {
        let folder = format!("processes/{pid}");
        let owner = format!("process {pid}");
        self.processes.push(ProcessPart {
            inspector: cdp.url().to_owned(),
            cdp: Some(cdp),
            heap: PartHeap::new(PartKind::Process, folder.clone(), title, url, None),
            pid,
            threads: Threads::new(format!("{folder}/threads"), Some(owner)),
            node_version: None,
            command: Vec::new(),
            started: false,
        });
    }

    /// Just before snapshot A: has every connection announce its worker threads (unless
    /// [`Options::threads`] is off) and readies the other processes.
    pub(crate) async fn start(&mut self, main: Option<&mut Cdp>, env: &Env<'_>) -> Result<()> {
        if env.opts.threads {
            if let Some(cdp) = main {
                self.threads.enable(cdp, env, Phase::SnapshotA).await?;
            }
        }
        for process in &mut self.processes {
            process.start(env, Phase::SnapshotA).await?;
        }
        Ok(())
    }

    /// Takes snapshot `label` of every part (a part without its A takes its A instead), and
    /// says what was taken, for the phase summary: `main thread + 2 worker threads
    /// (threads/1: 2.1 MB, threads/2: 2.0 MB)`. Empty when there is nothing to say.
    pub(crate) async fn snapshot(
        &mut self,
        main: Option<&mut Cdp>,
        label: &str,
        phase: Phase,
        env: &Env<'_>,
    ) -> Result<String> {
        let mut taken = Vec::new();
        if let Some(cdp) = main {
            if self.threads.enabled {
                taken.extend(self.threads.snapshot_round(cdp, label, phase, env).await?);
            }
        }
        for process in &mut self.processes {
            taken.extend(process.snapshot_round(label, phase, env).await?);
        }
        Ok(self.describe(&taken, env))
    }

    fn describe(&self, taken: &[Taken], env: &Env<'_>) -> String {
        let count = |kind| taken.iter().filter(|t| t.kind == kind).count();
        let (threads, processes) = (count(PartKind::Thread), count(PartKind::Process));
        let mut who = "main thread".to_owned();
        if threads > 0 {
            who.push_str(&format!(
                " + {}",
                plural(threads, "worker thread", "worker threads")
            ));
        }
        if processes > 0 {
            who.push_str(&format!(
                " + {}",
                plural(processes, "other process", "other processes")
            ));
        }
        let text = if !taken.is_empty() {
            let list: Vec<String> = taken
                .iter()
                .map(|t| format!("{}: {}", t.folder, human_bytes(t.bytes)))
                .collect();
            format!("{who} ({})", list.join(", "))
        } else if !env.opts.threads {
            "main thread only (worker threads off)".to_owned()
        } else if self.threads.enabled {
            "main thread (no worker thread running)".to_owned()
        } else {
            String::new()
        };
        env.with_news(text)
    }

    /// Reads every connection until `stop` turns true, attaching worker threads as they
    /// start (see the module's documentation). Returns early only on an error of the main
    /// connection or of the disk.
    pub(crate) async fn serve(
        &mut self,
        main: Option<&mut Cdp>,
        env: &Env<'_>,
        phase: Phase,
        stop: watch::Receiver<bool>,
    ) -> Result<()> {
        use futures_util::future::{join_all, BoxFuture};
        let mut hosts: Vec<BoxFuture<'_, Result<()>>> = Vec::new();
        if let Some(cdp) = main {
            if self.threads.enabled {
                hosts.push(Box::pin(self.threads.serve(cdp, env, phase, stop.clone())));
            }
        }
        for process in &mut self.processes {
            hosts.push(Box::pin(process.serve(env, phase, stop.clone())));
        }
        join_all(hosts).await.into_iter().collect()
    }

    /// After C: records every part's scripts; returns a summary for the phase.
    pub(crate) async fn record_scripts(
        &mut self,
        main: Option<&mut Cdp>,
        env: &Env<'_>,
    ) -> Result<String> {
        let mut done = Vec::new();
        if let Some(cdp) = main {
            if self.threads.enabled {
                done.extend(self.threads.record_scripts(cdp, env).await?);
            }
        }
        for process in &mut self.processes {
            done.extend(process.record_scripts(env).await?);
        }
        Ok(env.with_news(done.join(", ")))
    }

    /// Lets go of everything, on success or failure: ends tracking in the worker threads,
    /// lets every held worker run, and closes the other processes' connections. With
    /// `lingering` (the processes keep running after us) workers announced late are waited
    /// for too (see `Threads::finish`). Best effort: a part that is gone cannot be helped.
    pub(crate) async fn finish(&mut self, main: Option<&mut Cdp>, env: &Env<'_>, lingering: bool) {
        if let Some(cdp) = main {
            self.threads.finish(cdp, env, lingering).await;
        }
        for process in &mut self.processes {
            process.finish(env, lingering).await;
        }
    }

    /// Writes every part's manifest (`origin` is the main process) and returns the list
    /// for the top-level manifest.
    pub(crate) fn write_manifests(&self, origin: &Origin, env: &Env<'_>) -> Result<Vec<Part>> {
        let mut listed = Vec::new();
        for thread in &self.threads.list {
            listed.push(thread.heap.write(origin, Vec::new(), env)?);
        }
        for process in &self.processes {
            let own = process.origin(origin);
            let mut threads = Vec::new();
            for thread in &process.threads.list {
                let part = thread.heap.write(&own, Vec::new(), env)?;
                threads.push(part);
            }
            // In the process's own manifest its threads' folders are relative to it.
            let prefix = format!("{}/", process.heap.folder);
            let relative = threads
                .iter()
                .map(|p| Part {
                    folder: p
                        .folder
                        .strip_prefix(&prefix)
                        .unwrap_or(&p.folder)
                        .to_owned(),
                    ..p.clone()
                })
                .collect();
            listed.push(process.heap.write(&own, relative, env)?);
            listed.extend(threads);
        }
        Ok(listed)
    }
}

/// What is known and written of one part.
#[derive(Debug)]
struct PartHeap {
    kind: PartKind,
    /// Relative to the capture folder.
    folder: String,
    title: String,
    url: Option<String>,
    thread_id: Option<u64>,
    started: SystemTime,
    files: Vec<SnapshotFile>,
    phases: Vec<PhaseRecord>,
    /// The phase of its first snapshot: a part that joined during a snapshot phase sits
    /// that phase's round out (B right after its A would measure nothing).
    joined: Option<Phase>,
    scripts: Option<Recorded>,
    tracking: Option<AllocationTracking>,
    notes: Vec<String>,
    /// Not reachable any more: it ended, or failed.
    gone: bool,
}

/// How a snapshot is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    /// Forced collections, then the snapshot.
    Collected,
    /// The heap is held before its first line: queued with the collections, then released.
    Held,
}

impl PartHeap {
    fn new(
        kind: PartKind,
        folder: String,
        title: String,
        url: Option<String>,
        thread_id: Option<u64>,
    ) -> PartHeap {
        PartHeap {
            kind,
            folder,
            title,
            url,
            thread_id,
            started: SystemTime::now(),
            files: Vec::new(),
            phases: Vec::new(),
            joined: None,
            scripts: None,
            tracking: None,
            notes: Vec::new(),
            gone: false,
        }
    }

    fn has(&self, label: &str) -> bool {
        self.files.iter().any(|f| f.label == label)
    }

    fn complete(&self) -> bool {
        ["A", "B", "C"].iter().all(|l| self.has(l))
    }

    /// What to take at the round of `label`: the part's baseline first.
    fn due<'l>(&self, label: &'l str) -> Option<&'l str> {
        let due = if self.has("A") { label } else { "A" };
        (!self.gone && !self.has(due)).then_some(due)
    }

    /// Takes snapshot `label` through `ch` into the part's folder.
    async fn take(
        &mut self,
        ch: &mut impl Channel,
        label: &str,
        phase: Phase,
        ask: Ask,
        env: &Env<'_>,
    ) -> Result<u64> {
        env.files.dir(&self.folder)?;
        let name = format!("{label}.heapsnapshot");
        let path = env.files.file(&format!("{}/{name}", self.folder));
        let (rounds, redact) = (env.opts.gc_rounds, env.opts.redact);
        let (wall, at) = (SystemTime::now(), Instant::now());
        let reporter = &*env.reporter;
        let (detail, bytes) = match ask {
            Ask::Collected => {
                heap::collect_garbage(ch, rounds).await?;
                let bytes = heap::take_snapshot(ch, &path, label, phase, reporter, redact).await?;
                let detail =
                    format!("{rounds} forced GC rounds, then HeapProfiler.takeHeapSnapshot");
                (detail, bytes)
            }
            Ask::Held => {
                let bytes = heap::take_snapshot_and_release(
                    ch, rounds, &path, label, phase, reporter, redact,
                )
                .await?;
                let detail = format!(
                    "as the worker started, before its first line: {rounds} GC rounds and \
                     HeapProfiler.takeHeapSnapshot queued, then Runtime.runIfWaitingForDebugger"
                );
                (detail, bytes)
            }
        };
        self.files.push(SnapshotFile {
            label: label.to_owned(),
            file: name.clone(),
            bytes,
            taken_at: rfc3339(SystemTime::now()),
        });
        self.record(
            phase,
            detail,
            format!("{name}, {}", human_bytes(bytes)),
            wall,
            at,
        );
        self.joined.get_or_insert(phase);
        Ok(bytes)
    }

    fn record(
        &mut self,
        phase: Phase,
        detail: String,
        summary: String,
        wall: SystemTime,
        at: Instant,
    ) {
        self.phases.push(PhaseRecord {
            phase,
            detail,
            summary,
            started_at: rfc3339(wall),
            duration_ms: at.elapsed().as_millis() as u64,
        });
    }

    /// Files a failure of this part: fatal when the disk refused a file, otherwise the part
    /// is gone, with a note saying why (`ended`: the heap is known to have ended).
    fn lost(
        &mut self,
        e: CaptureError,
        ended: bool,
        phase: Phase,
        doing: &str,
        env: &Env<'_>,
    ) -> Result<()> {
        if matches!(e, CaptureError::Write { .. }) {
            return Err(e);
        }
        let note = if ended {
            self.ended_note(phase)
        } else {
            format!("{doing} failed during {phase}: {e}; nothing was taken after that")
        };
        self.gone = true;
        env.reporter.note(&format!("{}: {note}", self.title));
        env.tell(format!("{} lost", self.title));
        self.notes.push(note);
        Ok(())
    }

    /// Records that the heap ended during `phase`.
    fn ended(&mut self, phase: Phase, env: &Env<'_>) {
        if self.gone {
            return;
        }
        self.gone = true;
        if !self.complete() {
            let note = self.ended_note(phase);
            env.reporter.note(&format!("{}: {note}", self.title));
            self.notes.push(note);
        }
        env.tell(format!("{} ended", self.title));
    }

    fn ended_note(&self, phase: Phase) -> String {
        let who = match self.kind {
            PartKind::Thread => "the worker thread",
            PartKind::Process => "the process",
        };
        let taken: Vec<&str> = ["A", "B", "C"]
            .into_iter()
            .filter(|l| self.has(l))
            .collect();
        let missing = ["A", "B", "C"].into_iter().find(|l| !self.has(l));
        let before = missing.map_or_else(String::new, |l| format!(", before snapshot {l}"));
        let kept = match taken.as_slice() {
            [] => "nothing was taken".to_owned(),
            [only] => format!("only {only} was taken"),
            all => format!("{} were taken", all.join(" and ")),
        };
        format!("{who} ended during {phase}{before}: {kept}")
    }

    /// Writes the part's manifest; returns its entry for the parent's `parts`.
    fn write(&self, origin: &Origin, parts: Vec<Part>, env: &Env<'_>) -> Result<Part> {
        env.files.dir(&self.folder)?;
        let scripts = self.scripts.as_ref();
        let script_list = scripts.map(|r| r.scripts.clone()).unwrap_or_default();
        let workspace_scripts = match (&origin.workspace, scripts) {
            (Some(w), Some(r)) => Some(manifest::count_workspace_scripts(&r.scripts, w)),
            _ => None,
        };
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            heapsight: env!("CARGO_PKG_VERSION").to_owned(),
            mode: origin.mode,
            pid: origin.pid,
            node_version: origin.node_version.clone(),
            command: origin.command.clone(),
            inspector: origin.inspector.clone(),
            started_at: rfc3339(self.started),
            finished_at: rfc3339(SystemTime::now()),
            phases: self.phases.clone(),
            files: self.files.clone(),
            scripts: script_list,
            internal_scripts_skipped: scripts.map_or(0, |r| r.skipped),
            allocation_tracking: self.tracking.clone(),
            workspace: origin
                .workspace
                .as_ref()
                .map(|w| w.to_string_lossy().into_owned()),
            workspace_scripts,
            selection: None,
            parts,
            part_of: Some(PartOrigin {
                kind: self.kind,
                title: self.title.clone(),
                thread_id: self.thread_id,
            }),
            // A part is snapshotted at A, the last round (as its B) and C only.
            rounds: Vec::new(),
            iterations: None,
            // The main heap's manifest records the limit; the analysis reads it there.
            memory_limit: None,
            snapshot_memory: Vec::new(),
            redacted: env.opts.redact,
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| CaptureError::Protocol(format!("cannot encode a part's manifest: {e}")))?;
        let path = env.files.file(&format!("{}/{MANIFEST_FILE}", self.folder));
        output::atomic_write(&path, &json)?;
        Ok(Part {
            kind: self.kind,
            folder: self.folder.clone(),
            pid: origin.pid,
            thread_id: self.thread_id,
            title: self.title.clone(),
            url: self.url.clone(),
            complete: self.complete(),
            note: (!self.notes.is_empty()).then(|| self.notes.join("; ")),
        })
    }
}

/// A worker thread and its session.
#[derive(Debug)]
struct ThreadPart {
    link: WorkerLink,
    heap: PartHeap,
    /// Held by Node before its first line, not yet let run.
    held: bool,
}

impl ThreadPart {
    /// Enables its heap profiler (and allocation tracking with the main thread's); both
    /// are answered while the worker is held.
    async fn prepare(&mut self, cdp: &mut Cdp, env: &Env<'_>) -> Result<()> {
        let mut session = self.link.over(cdp);
        session.call("HeapProfiler.enable", json!({})).await?;
        if let Some(main) = &env.tracking {
            session
                .call(
                    "HeapProfiler.startTrackingHeapObjects",
                    json!({ "trackAllocations": true }),
                )
                .await?;
            self.heap.tracking = Some(AllocationTracking {
                since: if self.held {
                    TrackingSince::Start
                } else {
                    TrackingSince::Attach
                },
                // V8 flags are the process's, so its threads run with them too.
                flags: main.flags.clone(),
            });
        }
        Ok(())
    }

    /// Lets a held worker run; best effort.
    async fn release(&mut self, cdp: &mut Cdp) {
        if !self.held || self.link.ended() {
            return;
        }
        release(&mut self.link, cdp).await;
        self.held = false;
    }
}

/// Sends `Runtime.runIfWaitingForDebugger` to a worker (harmless if it already runs) and
/// waits a little for its answer.
async fn release(link: &mut WorkerLink, cdp: &mut Cdp) {
    let mut session = link.over(cdp);
    let _ = tokio::time::timeout(
        LAST_WORDS,
        session.call("Runtime.runIfWaitingForDebugger", json!({})),
    )
    .await;
}

/// The worker threads of one process, announced on its connection.
#[derive(Debug)]
struct Threads {
    /// Where their folders go, relative to the capture folder.
    base: String,
    /// Whose they are, for their titles (`process 4242`); `None` for the target's.
    owner: Option<String>,
    /// `NodeWorker` is enabled on the connection.
    enabled: bool,
    /// When new workers stopped waiting for us at their start.
    holding_stopped: Option<Instant>,
    list: Vec<ThreadPart>,
}

impl Threads {
    fn new(base: String, owner: Option<String>) -> Threads {
        Threads {
            base,
            owner,
            enabled: false,
            holding_stopped: None,
            list: Vec::new(),
        }
    }

    /// `NodeWorker.enable`: the live workers are announced at once (before the answer),
    /// new ones will wait for us at their start. A Node without the domain is noted, and
    /// the capture goes on without threads.
    async fn enable(&mut self, cdp: &mut Cdp, env: &Env<'_>, phase: Phase) -> Result<()> {
        cdp.keep_events(ATTACHED);
        cdp.keep_events(DETACHED);
        // Set first: if the answer never comes, `finish` still lets held workers go.
        self.enabled = true;
        match cdp
            .call(
                "NodeWorker.enable",
                json!({ "waitForDebuggerOnStart": true }),
            )
            .await
        {
            Ok(_) => {}
            Err(e @ CaptureError::Command { .. }) => {
                self.enabled = false;
                let whose = self.owner.as_deref().unwrap_or("the target");
                env.reporter.note(&format!(
                    "the worker threads of {whose} cannot be captured: {e}"
                ));
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        self.handle_pending(cdp, env, phase).await
    }

    /// Handles the announcements buffered on `cdp`, oldest first, until none is left
    /// (attaching one can take a snapshot, during which more arrive).
    async fn handle_pending(&mut self, cdp: &mut Cdp, env: &Env<'_>, phase: Phase) -> Result<()> {
        loop {
            let events = cdp.take_events_named(&[ATTACHED, DETACHED]);
            if events.is_empty() {
                return Ok(());
            }
            // A worker may be announced and gone in one batch: it must not be asked anything
            // (a message to an ended session is dropped, and its answer never comes).
            let gone: Vec<String> = events
                .iter()
                .filter(|e| e.method == DETACHED)
                .filter_map(|e| channel::session_of(e).map(str::to_owned))
                .collect();
            for event in events {
                if event.method == ATTACHED {
                    let ended =
                        channel::session_of(&event).is_some_and(|id| gone.iter().any(|g| g == id));
                    self.attach(cdp, &event, ended, env, phase).await?;
                } else {
                    self.detached(&event, phase, env);
                }
            }
        }
    }

    /// Attaches the worker `event` announces (`ended`: its end is already known).
    async fn attach(
        &mut self,
        cdp: &mut Cdp,
        event: &Event,
        ended: bool,
        env: &Env<'_>,
        phase: Phase,
    ) -> Result<()> {
        let Some(session_id) = channel::session_of(event) else {
            return Ok(());
        };
        if self.list.iter().any(|t| t.link.session_id() == session_id) {
            return Ok(());
        }
        let info = event.params.get("workerInfo");
        let text = |key: &str| {
            info.and_then(|i| i.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let url = Some(text("url"))
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        let held = event
            .params
            .get("waitingForDebugger")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut link = WorkerLink::new(session_id);
        let accepting = matches!(
            phase,
            Phase::SnapshotA | Phase::Workload | Phase::SnapshotB | Phase::Idle
        );
        // Node's own threads (the module loader's hooks thread that tsx and other
        // `--import` loaders start) run none of the user's code.
        let internal = url.as_deref().is_some_and(|u| u.starts_with("node:"));
        if !accepting || internal {
            // Too late to measure anything, or nothing to measure; it must not wait for us.
            if held && !ended {
                release(&mut link, cdp).await;
            }
            return Ok(());
        }
        let (thread_id, name) = parse_worker_title(text("title"));
        let title = worker_title(thread_id, name, url.as_deref(), self.owner.as_deref());
        let folder = match thread_id {
            Some(id) => format!("{}/{id}", self.base),
            None => format!("{}/session-{session_id}", self.base),
        };
        let mut thread = ThreadPart {
            link,
            heap: PartHeap::new(PartKind::Thread, folder, title, url, thread_id),
            held,
        };
        if ended {
            thread.link.set_ended();
            thread.held = false;
            thread.heap.ended(phase, env);
            self.list.push(thread);
            return Ok(());
        }
        // Alive when the threads were enabled: taken with the others at A.
        let now = if held {
            Some(Ask::Held)
        } else if phase != Phase::SnapshotA {
            Some(Ask::Collected)
        } else {
            None
        };
        let prepared = thread.prepare(cdp, env).await;
        let taken = match (prepared, now) {
            (Err(e), _) => Err((e, "enabling its heap profiler")),
            (Ok(()), None) => Ok(None),
            (Ok(()), Some(ask)) => {
                let mut session = thread.link.over(cdp);
                let result = thread.heap.take(&mut session, "A", phase, ask, env).await;
                result.map(Some).map_err(|e| (e, "snapshot A"))
            }
        };
        if now == Some(Ask::Held) && taken.is_ok() {
            thread.held = false;
        }
        // Never leave it held, whatever failed.
        thread.release(cdp).await;
        match taken {
            Ok(Some(bytes)) => {
                let how = if held {
                    "A taken as it started, before its first line"
                } else {
                    "attached after snapshot A: its baseline A was taken when it was attached"
                };
                thread
                    .heap
                    .notes
                    .push(format!("started during {phase}: {how}"));
                env.tell(format!(
                    "{} started: A taken ({})",
                    thread.heap.title,
                    human_bytes(bytes)
                ));
            }
            Ok(None) => {}
            Err((e, doing)) => {
                let ended = thread.link.ended();
                thread.heap.lost(e, ended, phase, doing, env)?;
            }
        }
        self.list.push(thread);
        Ok(())
    }

    fn detached(&mut self, event: &Event, phase: Phase, env: &Env<'_>) {
        let Some(session_id) = channel::session_of(event) else {
            return;
        };
        if let Some(thread) = self
            .list
            .iter_mut()
            .find(|t| t.link.session_id() == session_id)
        {
            thread.link.set_ended();
            thread.held = false;
            thread.heap.ended(phase, env);
        }
    }

    async fn snapshot_round(
        &mut self,
        cdp: &mut Cdp,
        label: &str,
        phase: Phase,
        env: &Env<'_>,
    ) -> Result<Vec<Taken>> {
        self.handle_pending(cdp, env, phase).await?;
        let mut taken = Vec::new();
        for thread in &mut self.list {
            if thread.heap.joined == Some(phase) {
                continue;
            }
            let Some(due) = thread.heap.due(label) else {
                continue;
            };
            let mut session = thread.link.over(cdp);
            match thread
                .heap
                .take(&mut session, due, phase, Ask::Collected, env)
                .await
            {
                Ok(bytes) => taken.push(Taken {
                    kind: PartKind::Thread,
                    folder: thread.heap.folder.clone(),
                    bytes,
                }),
                Err(e) => {
                    let ended = thread.link.ended();
                    let doing = format!("snapshot {due}");
                    thread.heap.lost(e, ended, phase, &doing, env)?;
                }
            }
        }
        // Workers that started meanwhile get their A now rather than at the next round.
        self.handle_pending(cdp, env, phase).await?;
        if label == "C" {
            self.stop_holding(cdp).await?;
        }
        Ok(taken)
    }

    /// Reads `cdp` until `stop` turns true, handling announcements as they come.
    async fn serve(
        &mut self,
        cdp: &mut Cdp,
        env: &Env<'_>,
        phase: Phase,
        mut stop: watch::Receiver<bool>,
    ) -> Result<()> {
        loop {
            self.handle_pending(cdp, env, phase).await?;
            if *stop.borrow() {
                return Ok(());
            }
            let event = tokio::select! {
                biased;
                // A dropped sender stops too.
                _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
                event = cdp.next_event(phase.name(), None) => event?,
            };
            // Announcements are kept for `handle_pending`; the rest is dealt with as usual.
            cdp.absorb(event).await?;
        }
    }

    async fn record_scripts(&mut self, cdp: &mut Cdp, env: &Env<'_>) -> Result<Vec<String>> {
        self.handle_pending(cdp, env, Phase::Scripts).await?;
        let mut done = Vec::new();
        for thread in &mut self.list {
            if thread.heap.gone {
                if thread.heap.complete() && thread.heap.scripts.is_none() {
                    thread
                        .heap
                        .notes
                        .push("it ended before its scripts were recorded".to_owned());
                }
                continue;
            }
            let (wall, at) = (SystemTime::now(), Instant::now());
            let mut session = thread.link.over(cdp);
            match scripts::record(&mut session, env.opts.record_sources).await {
                Ok(recorded) => {
                    let summary = scripts_summary(&recorded);
                    done.push(format!(
                        "{}: {}",
                        thread.heap.folder,
                        plural(recorded.scripts.len(), "user script", "user scripts")
                    ));
                    thread.heap.record(
                        Phase::Scripts,
                        "Debugger.enable in the worker thread, then read every user script's source"
                            .to_owned(),
                        summary,
                        wall,
                        at,
                    );
                    thread.heap.scripts = Some(recorded);
                }
                Err(e) => {
                    let ended = thread.link.ended();
                    thread
                        .heap
                        .lost(e, ended, Phase::Scripts, "recording its scripts", env)?;
                }
            }
        }
        Ok(done)
    }

    /// From now on no new worker waits for us at its start (after C: nothing more is
    /// measured). The connection keeps announcing workers, so that one created just before,
    /// already bound to wait, is still announced and let run.
    async fn stop_holding(&mut self, cdp: &mut Cdp) -> Result<()> {
        if !self.enabled || self.holding_stopped.is_some() {
            return Ok(());
        }
        self.holding_stopped = Some(Instant::now());
        cdp.call(
            "NodeWorker.enable",
            json!({ "waitForDebuggerOnStart": false }),
        )
        .await
        .map(drop)
    }

    /// Ends tracking in the workers and lets every held worker run, those announced but
    /// not attached included. Best effort.
    ///
    /// A worker decides to wait when it is created, but is announced only once its thread
    /// has started, and only to a connection still listening: `NodeWorker.disable` or
    /// closing the connection in between would leave it waiting for ever. So holding is
    /// stopped first, and, when the process outlives the capture (`lingering`),
    /// announcements are read for [`ANNOUNCE_GRACE`] after that, before the connection may
    /// close.
    async fn finish(&mut self, cdp: &mut Cdp, env: &Env<'_>, lingering: bool) {
        if !self.enabled {
            return;
        }
        for thread in &mut self.list {
            if thread.heap.tracking.is_some() && !thread.heap.gone {
                // As for the main thread: ends tracking without a fourth snapshot.
                let mut session = thread.link.over(cdp);
                let _ = tokio::time::timeout(
                    LAST_WORDS,
                    session.call("HeapProfiler.disable", json!({})),
                )
                .await;
            }
        }
        let stopped = tokio::time::timeout(LAST_WORDS, self.stop_holding(cdp)).await;
        if lingering && matches!(stopped, Ok(Ok(()))) {
            let since = self.holding_stopped.unwrap_or_else(Instant::now);
            let deadline = since + ANNOUNCE_GRACE;
            loop {
                // Announced workers are past A: they are let run, not captured.
                if self.handle_pending(cdp, env, Phase::Finish).await.is_err() {
                    break;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match tokio::time::timeout(left, cdp.next_event("the finish", None)).await {
                    Ok(Ok(event)) => {
                        if cdp.absorb(event).await.is_err() {
                            break;
                        }
                    }
                    // Time is up, or the connection is gone (and the workers with it).
                    Ok(Err(_)) | Err(_) => break,
                }
            }
            let _ = self.handle_pending(cdp, env, Phase::Finish).await;
        }
        for thread in &mut self.list {
            thread.release(cdp).await;
        }
        self.enabled = false;
    }
}

/// Another process and its connection.
#[derive(Debug)]
struct ProcessPart {
    /// `None` once closed.
    cdp: Option<Cdp>,
    heap: PartHeap,
    pid: i64,
    threads: Threads,
    node_version: Option<String>,
    command: Vec<String>,
    inspector: String,
    /// Identified, heap profiler and worker announcements enabled.
    started: bool,
}

impl ProcessPart {
    fn origin(&self, main: &Origin) -> Origin {
        Origin {
            mode: main.mode,
            pid: Some(self.pid),
            node_version: self.node_version.clone(),
            command: self.command.clone(),
            inspector: Some(self.inspector.clone()),
            workspace: main.workspace.clone(),
        }
    }

    /// Files an error of this process's connection: the process is gone (with its
    /// threads), unless the disk refused a file. A process still running is let go at once:
    /// nobody reads its connection any more, so none of its workers may wait for us.
    async fn lost(
        &mut self,
        e: CaptureError,
        phase: Phase,
        doing: &str,
        env: &Env<'_>,
    ) -> Result<()> {
        let ended = matches!(
            e,
            CaptureError::Disconnected { .. } | CaptureError::SnapshotIncomplete { .. }
        );
        self.heap.lost(e, ended, phase, doing, env)?;
        for thread in &mut self.threads.list {
            thread.link.set_ended();
            thread.heap.ended(phase, env);
        }
        // Its workers must not wait for us whether or not the capture keeps its process.
        self.finish(env, true).await;
        Ok(())
    }

    /// Asks its Node version and command line, enables its heap profiler and has it
    /// announce its worker threads. Allocates a little, before its A.
    async fn start(&mut self, env: &Env<'_>, phase: Phase) -> Result<()> {
        if self.started || self.heap.gone {
            return Ok(());
        }
        let Some(cdp) = self.cdp.as_mut() else {
            return Ok(());
        };
        self.started = true;
        let identity = async {
            let answer = cdp
                .call(
                    "Runtime.evaluate",
                    json!({
                        "expression": "[process.version, process.argv]",
                        "returnByValue": true,
                        "silent": true,
                    }),
                )
                .await?;
            cdp.call("HeapProfiler.enable", json!({})).await?;
            Ok::<_, CaptureError>(answer)
        };
        match identity.await {
            Ok(answer) => {
                let info = answer.pointer("/result/value");
                self.node_version = info
                    .and_then(|v| v.get(0))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                self.command = info
                    .and_then(|v| v.get(1))
                    .and_then(Value::as_array)
                    .map(|argv| {
                        argv.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
            }
            Err(e) => return self.lost(e, phase, "asking its identity", env).await,
        }
        if env.opts.threads {
            if let Err(e) = self.threads.enable(cdp, env, phase).await {
                return self
                    .lost(e, phase, "enabling its worker threads", env)
                    .await;
            }
        }
        Ok(())
    }

    async fn snapshot_round(
        &mut self,
        label: &str,
        phase: Phase,
        env: &Env<'_>,
    ) -> Result<Vec<Taken>> {
        self.start(env, phase).await?;
        let mut taken = Vec::new();
        let Some(cdp) = self.cdp.as_mut() else {
            return Ok(taken);
        };
        if let Some(due) = self.heap.due(label) {
            if due != label {
                self.heap.notes.push(format!(
                    "registered after snapshot A: its baseline A was taken at {phase}"
                ));
            }
            match self.heap.take(cdp, due, phase, Ask::Collected, env).await {
                Ok(bytes) => taken.push(Taken {
                    kind: PartKind::Process,
                    folder: self.heap.folder.clone(),
                    bytes,
                }),
                Err(e) => {
                    self.lost(e, phase, &format!("snapshot {due}"), env).await?;
                    return Ok(taken);
                }
            }
        }
        if self.threads.enabled && !self.heap.gone {
            match self.threads.snapshot_round(cdp, label, phase, env).await {
                Ok(threads) => taken.extend(threads),
                Err(e) => self.lost(e, phase, "reading its inspector", env).await?,
            }
        }
        Ok(taken)
    }

    async fn serve(
        &mut self,
        env: &Env<'_>,
        phase: Phase,
        stop: watch::Receiver<bool>,
    ) -> Result<()> {
        let Some(cdp) = self.cdp.as_mut().filter(|_| !self.heap.gone) else {
            return Ok(());
        };
        // Read even without threads: a process must never wait on a full socket of ours.
        match self.threads.serve(cdp, env, phase, stop).await {
            Ok(()) => Ok(()),
            Err(e) => self.lost(e, phase, "reading its inspector", env).await,
        }
    }

    async fn record_scripts(&mut self, env: &Env<'_>) -> Result<Vec<String>> {
        let mut done = Vec::new();
        let Some(cdp) = self.cdp.as_mut().filter(|_| !self.heap.gone) else {
            return Ok(done);
        };
        let (wall, at) = (SystemTime::now(), Instant::now());
        match scripts::record(cdp, env.opts.record_sources).await {
            Ok(recorded) => {
                done.push(format!(
                    "{}: {}",
                    self.heap.folder,
                    plural(recorded.scripts.len(), "user script", "user scripts")
                ));
                let summary = scripts_summary(&recorded);
                self.heap.record(
                    Phase::Scripts,
                    "Debugger.enable, then read every user script's source".to_owned(),
                    summary,
                    wall,
                    at,
                );
                self.heap.scripts = Some(recorded);
            }
            Err(e) => {
                self.lost(e, Phase::Scripts, "recording its scripts", env)
                    .await?;
                return Ok(done);
            }
        }
        if self.threads.enabled {
            match self.threads.record_scripts(cdp, env).await {
                Ok(threads) => done.extend(threads),
                Err(e) => {
                    self.lost(e, Phase::Scripts, "reading its inspector", env)
                        .await?
                }
            }
        }
        Ok(done)
    }

    async fn finish(&mut self, env: &Env<'_>, lingering: bool) {
        if let Some(mut cdp) = self.cdp.take() {
            self.threads.finish(&mut cdp, env, lingering).await;
            cdp.close().await;
        }
    }
}

/// `[worker 2] svc` → (2, Some("svc")). Node 18 to 26 title a worker `[worker <threadId>]`,
/// then its `name` option (Node 24 and later name unnamed ones `WorkerThread`, which says
/// nothing); Node's current sources build `<name prefix>Worker <threadId>` instead, read too.
fn parse_worker_title(title: &str) -> (Option<u64>, Option<&str>) {
    fn named(name: &str) -> Option<&str> {
        let name = name.trim();
        (!name.is_empty() && name != "WorkerThread").then_some(name)
    }
    if let Some((id, name)) = title
        .strip_prefix("[worker ")
        .and_then(|rest| rest.split_once(']'))
    {
        if let Ok(id) = id.trim().parse() {
            return (Some(id), named(name));
        }
    }
    if let Some((prefix, id)) = title.rsplit_once("Worker ") {
        if let Ok(id) = id.trim().parse() {
            return (Some(id), named(prefix));
        }
    }
    (None, named(title))
}

/// `worker 2 (render.js)`, `worker 2 "svc" (render.js) of process 4242`; an `eval` worker
/// has no file.
fn worker_title(
    thread_id: Option<u64>,
    name: Option<&str>,
    url: Option<&str>,
    owner: Option<&str>,
) -> String {
    let mut title = match thread_id {
        Some(id) => format!("worker {id}"),
        None => "worker".to_owned(),
    };
    if let Some(name) = name {
        title.push_str(&format!(" \"{name}\""));
    }
    let file = url.map(|u| u.rsplit('/').next().unwrap_or(u));
    title.push_str(&format!(" ({})", file.unwrap_or("eval")));
    if let Some(owner) = owner {
        title.push_str(&format!(" of {owner}"));
    }
    title
}

fn scripts_summary(recorded: &Recorded) -> String {
    format!(
        "{} recorded, {} Node internals skipped",
        plural(recorded.scripts.len(), "user script", "user scripts"),
        recorded.skipped
    )
}

/// `1 worker thread`, `2 worker threads`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_titles() {
        assert_eq!(parse_worker_title("[worker 2] svc"), (Some(2), Some("svc")));
        assert_eq!(
            parse_worker_title("[worker 4] WorkerThread"),
            (Some(4), None)
        );
        assert_eq!(parse_worker_title("[worker 3]"), (Some(3), None));
        assert_eq!(parse_worker_title("odd"), (None, Some("odd")));
        assert_eq!(
            parse_worker_title("[worker x] y"),
            (None, Some("[worker x] y"))
        );
        assert_eq!(parse_worker_title("svc Worker 7"), (Some(7), Some("svc")));
        assert_eq!(parse_worker_title("Worker 7"), (Some(7), None));
        assert_eq!(
            worker_title(Some(2), None, Some("file:///srv/app/render.js"), None),
            "worker 2 (render.js)"
        );
        assert_eq!(
            worker_title(Some(1), Some("svc"), None, Some("process 42")),
            "worker 1 \"svc\" (eval) of process 42"
        );
    }

    #[test]
    fn what_is_due_and_what_an_end_leaves() {
        let mut heap = PartHeap::new(
            PartKind::Thread,
            "threads/1".into(),
            "worker 1 (w.js)".into(),
            None,
            Some(1),
        );
        assert_eq!(heap.due("B"), Some("A"));
        for label in ["A", "B"] {
            heap.files.push(SnapshotFile {
                label: label.into(),
                file: format!("{label}.heapsnapshot"),
                bytes: 1,
                taken_at: String::new(),
            });
        }
        assert_eq!(heap.due("B"), None);
        assert_eq!(heap.due("C"), Some("C"));
        assert!(!heap.complete());
        assert_eq!(
            heap.ended_note(Phase::Idle),
            "the worker thread ended during idle, before snapshot C: A and B were taken"
        );
        heap.gone = true;
        assert_eq!(heap.due("C"), None);
    }
}
