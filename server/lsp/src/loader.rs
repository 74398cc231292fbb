//! Loading a workspace folder's analysis in the background: discovery, the cache, the leak
//! finder on a blocking thread (every heap of a capture, one after another), `window/workDoneProgress`
//! with percent and phase, cancellation, then the join to files, diagnostics for every
//! affected file, the capture's warnings as `window/showMessage` and a `heapsight/status`.
//! Requests keep answering from the previous analysis until the new one is complete.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use heapsight_ide::{cache, inputs, Analysis, IdeError, Input, LoadOptions, Progress, Source};
use heapsight_snapshot::MemoryBudget;
use tower_lsp_server::ls_types::{MessageType, NumberOrString};

use crate::folder::Folder;
use crate::publish;
use crate::state::State;
use crate::status::{Status, StatusNotification};

/// A running load.
pub struct Job {
    /// Its progress and cancel flag.
    pub progress: Arc<Progress>,
    /// Its work-done progress token, when the client shows one.
    pub token: Option<String>,
    /// The identity of the files it loads.
    identity: Option<String>,
    id: u64,
}

/// What to load.
#[derive(Debug, Clone)]
pub enum What {
    /// The newest thing under the snapshot folder.
    Newest,
    /// These inputs.
    Input(Input),
}

/// Why a load runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Start-up, a command or a settings change: always load.
    Requested,
    /// The snapshot folder changed: load only if what is there changed, quietly if empty.
    Watch,
}

static NEXT_JOB: AtomicU64 = AtomicU64::new(1);

/// Loads `what` for `folder`, cancelling its running load; resolves with the status it
/// ended in.
pub async fn load(
    state: Arc<State>,
    folder: Arc<Folder>,
    what: What,
    reason: Reason,
) -> Result<Status, String> {
    load_with(state, folder, what, reason, Arc::new(Progress::new())).await
}

/// Starts [`load`] in the background (a notification or a finished capture does not wait).
pub fn spawn_load(state: &Arc<State>, folder: &Arc<Folder>, what: What, reason: Reason) {
    tokio::spawn(load(state.clone(), folder.clone(), what, reason));
}

/// The local copy of the capture at `url` (downloaded into the cache unless it is there).
async fn fetch_remote(url: &str) -> Result<PathBuf, String> {
    let location = heapsight_store::Location::parse(url).map_err(|e| e.to_string())?;
    let store = heapsight_store::open(&location).map_err(|e| e.to_string())?;
    let fetched = heapsight_store::fetch(store, &location, &heapsight_store::cache_root())
        .await
        .map_err(|e| format!("cannot fetch {url}: {e}"))?;
    Ok(fetched.dir)
}

/// [`load`] with the caller's progress, which the caller may cancel at any point.
pub async fn load_with(
    state: Arc<State>,
    folder: Arc<Folder>,
    what: What,
    reason: Reason,
    progress: Arc<Progress>,
) -> Result<Status, String> {
    let snapshot_dir = match folder.remote_snapshots() {
        None => folder.snapshot_dir(),
        Some(url) => match fetch_remote(&url).await {
            Ok(dir) => dir,
            Err(e) => {
                let status = idle_status(&folder, &e);
                send_status(&state, &folder, status.clone()).await;
                return Ok(status);
            }
        },
    };
    let input = match what {
        What::Input(input) => input,
        What::Newest => match tokio::task::spawn_blocking({
            let dir = snapshot_dir.clone();
            move || inputs::discover(&dir)
        })
        .await
        {
            Ok(Ok(input)) => input,
            Ok(Err(e)) if reason == Reason::Watch => return Err(e.to_string()),
            Ok(Err(e)) => {
                let status = idle_status(&folder, &e.to_string());
                send_status(&state, &folder, status.clone()).await;
                return Ok(status);
            }
            Err(e) => return Err(e.to_string()),
        },
    };
    let identity = cache::key(&input.files(), "");
    if reason == Reason::Watch && identity.is_some() {
        let loaded = folder.loaded_key.lock().ok().and_then(|k| k.clone());
        let running = folder
            .job
            .lock()
            .ok()
            .and_then(|j| j.as_ref().and_then(|j| j.identity.clone()));
        if loaded == identity || running == identity {
            return Err("unchanged".into());
        }
    }

    if progress.is_cancelled() {
        let status = idle_status(&folder, "the analysis was cancelled");
        send_status(&state, &folder, status.clone()).await;
        return Ok(status);
    }
    let id = NEXT_JOB.fetch_add(1, Ordering::Relaxed);
    let token = state
        .support()
        .work_done_progress
        .then(|| format!("heapsight/analyze/{id}"));
    if let Ok(mut job) = folder.job.lock() {
        if let Some(previous) = job.take() {
            previous.progress.cancel();
        }
        *job = Some(Job {
            progress: progress.clone(),
            token: token.clone(),
            identity: identity.clone(),
            id,
        });
    }
    let analyzing = Status::new(
        "analyzing",
        folder.analysis().map_or(0, |a| a.finding_count()),
        folder.analysis().map_or(0, |a| a.retained_bytes()),
        format!("analyzing {}", input.describe()),
    );
    send_status(&state, &folder, analyzing).await;
    let bar = match &token {
        Some(token) => begin_progress(&state, token, &input).await,
        None => None,
    };

    let config = folder.config();
    let options = LoadOptions {
        min_retained_bytes: config.min_retained_bytes,
        kinds: config.leak_kinds(),
        cache_dir: Some(snapshot_dir.join(cache::CACHE_DIR)),
        limit: config.limit,
        // The memory left now: a heap too large for it is refused with the figures instead
        // of the editor's server being ended by the kernel.
        memory: heapsight_capture::headroom::own_budget().map(|b| MemoryBudget {
            available: b.available,
            words: b.words,
        }),
    };
    let mut task = tokio::task::spawn_blocking({
        let (input, progress) = (input.clone(), progress.clone());
        move || heapsight_ide::load(&input, &options, &progress)
    });
    let result = loop {
        tokio::select! {
            done = &mut task => break done.map_err(|e| e.to_string()),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                if let Some(bar) = &bar {
                    let (percent, phase) = heapsight_ide::progress::describe(&progress);
                    bar.report_with_message(phase, percent, None).await;
                }
            }
        }
    };
    let outcome = match result {
        Ok(Ok(loaded)) if !progress.is_cancelled() => {
            if let Some(bar) = &bar {
                let (percent, phase) = heapsight_ide::progress::MAPPING;
                bar.report_with_message(phase, percent, None).await;
            }
            let source = loaded.source;
            let root = folder.root.clone();
            let joined = tokio::task::spawn_blocking(move || {
                // A snapshot naming a file outside the workspace does not get it read.
                Analysis::workspace_only(Arc::new(loaded), &root, &config)
            })
            .await
            .map_err(|e| e.to_string());
            match joined {
                Ok(analysis) => Ok((analysis, source)),
                Err(e) => Err(e),
            }
        }
        Ok(Ok(_)) | Ok(Err(IdeError::Cancelled)) => Err(String::new()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e),
    };
    let current = folder
        .job
        .lock()
        .ok()
        .is_some_and(|job| job.as_ref().is_some_and(|j| j.id == id));
    if current {
        if let Ok(mut job) = folder.job.lock() {
            *job = None;
        }
    }
    let status = match outcome {
        Ok((analysis, source)) if current => {
            let analysis = Arc::new(analysis);
            folder.set_analysis(Some(analysis.clone()));
            if let Ok(mut key) = folder.loaded_key.lock() {
                *key = identity;
            }
            let status = ready_status(&analysis, source);
            state
                .client
                .log_message(MessageType::INFO, &status.message)
                .await;
            // A capture of the wrong process must not read as a clean bill of health.
            for warning in &analysis.loaded().warnings {
                state
                    .client
                    .show_message(
                        MessageType::WARNING,
                        format!("heapsight: {}", warning.text()),
                    )
                    .await;
            }
            publish_folder(&state, &folder).await;
            if state.support().code_lens_refresh {
                let _ = state.client.code_lens_refresh().await;
            }
            status
        }
        Ok(_) => idle_status(&folder, "a newer analysis replaced this one"),
        Err(message) if message.is_empty() => idle_status(&folder, "the analysis was cancelled"),
        Err(message) => {
            let message = format!(
                "heapsight could not analyze {}: {message}",
                input.describe()
            );
            state
                .client
                .show_message(MessageType::ERROR, &message)
                .await;
            Status::new(
                "error",
                folder.analysis().map_or(0, |a| a.finding_count()),
                folder.analysis().map_or(0, |a| a.retained_bytes()),
                message,
            )
        }
    };
    if let Some(bar) = bar {
        bar.finish_with_message(status.message.clone()).await;
    }
    send_status(&state, &folder, status.clone()).await;
    if status.state == "error" {
        Err(status.message)
    } else {
        Ok(status)
    }
}

/// Cancels the running load whose progress token is `token` (every load for `None`).
pub fn cancel(state: &State, token: Option<&str>) -> bool {
    let mut found = false;
    for folder in state.folders() {
        found |= cancel_folder(&folder, token);
    }
    found
}

/// Cancels `folder`'s running load if its progress token is `token` (any for `None`).
pub fn cancel_folder(folder: &Folder, token: Option<&str>) -> bool {
    let Ok(job) = folder.job.lock() else {
        return false;
    };
    match job.as_ref() {
        Some(j) if token.is_none() || j.token.as_deref() == token => {
            j.progress.cancel();
            true
        }
        _ => false,
    }
}

/// Publishes the diagnostics of every file of `folder` with findings, and of the files it
/// published before (to clear them: a removed folder's files are cleared this way).
pub async fn publish_folder(state: &Arc<State>, folder: &Folder) {
    let mut files = folder
        .analysis()
        .map(|a| a.files_with_findings())
        .unwrap_or_default();
    if let Ok(published) = state.published.lock() {
        for path in published.iter() {
            if path.starts_with(&folder.root) && !files.contains(path) {
                files.push(path.clone());
            }
        }
    }
    publish::publish_files(state, files).await;
}

type Bar =
    tower_lsp_server::OngoingProgress<tower_lsp_server::Bounded, tower_lsp_server::Cancellable>;

async fn begin_progress(state: &State, token: &str, input: &Input) -> Option<Bar> {
    let token = NumberOrString::String(token.to_string());
    state
        .client
        .create_work_done_progress(token.clone())
        .await
        .ok()?;
    Some(
        state
            .client
            .progress(token, "heapsight")
            .with_percentage(0)
            .with_cancel_button()
            .with_message(format!("analyzing {}", input.describe()))
            .begin()
            .await,
    )
}

fn ready_status(analysis: &Analysis, source: Source) -> Status {
    let count = analysis.finding_count();
    let bytes = analysis.retained_bytes();
    let how = match source {
        Source::Analyzed => "analyzed",
        Source::Cache => "loaded from the cache",
        Source::Report => "read from the report",
    };
    let found = match count {
        // The capture's warnings lead the message (below).
        0 => heapsight_ide::heaps::no_findings(false).to_string(),
        1 => format!("1 leak retaining {}", heapsight_ide::format_bytes(bytes)),
        n => format!("{n} leaks retaining {}", heapsight_ide::format_bytes(bytes)),
    };
    let loaded = analysis.loaded();
    let mut message = format!("{found} ({how}: {})", loaded.input.describe());
    if loaded.several_heaps() {
        message = format!(
            "{message}; {}",
            heapsight_ide::heaps::looked_at(&loaded.heap_reports())
        );
    }
    if !loaded.warnings.is_empty() {
        let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.text()).collect();
        message = format!("warning: {} — {message}", warnings.join("; "));
    }
    Status::new("ready", count, bytes, message)
}

/// `folder`'s status with `message`: `ready` with its analysis, else `idle`.
pub fn idle_status(folder: &Folder, message: &str) -> Status {
    match folder.analysis() {
        Some(a) => Status::new(
            "ready",
            a.finding_count(),
            a.retained_bytes(),
            message.to_string(),
        ),
        None => Status::new("idle", 0, 0, message.to_string()),
    }
}

/// Records `folder`'s `status` and sends `heapsight/status`: the first folder's status at
/// the top level, every folder's in `folders`.
pub async fn send_status(state: &State, folder: &Folder, status: Status) {
    if let Ok(mut slot) = folder.status.lock() {
        *slot = Some(status);
    }
    send_statuses(state).await;
}

/// Sends `heapsight/status` from every folder's last status.
pub async fn send_statuses(state: &State) {
    let folders = state.folders();
    let entries: Vec<_> = folders
        .iter()
        .map(|f| {
            let status = f
                .status
                .lock()
                .ok()
                .and_then(|s| s.clone())
                .unwrap_or_else(|| idle_status(f, "not analyzed yet"));
            status.for_folder(f.name())
        })
        .collect();
    let mut top = match entries.first() {
        Some(first) => Status::new(
            &first.state,
            first.findings,
            first.retained_bytes,
            first.message.clone(),
        ),
        None => Status::new("idle", 0, 0, "no workspace folder".to_string()),
    };
    // One folder's entry would repeat the top level: old clients see the same status.
    if entries.len() > 1 {
        top.folders = entries;
    }
    state
        .client
        .send_notification::<StatusNotification>(top)
        .await;
}
