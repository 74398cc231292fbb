//! `heapsight.capture` in the background: the folder's configured command runs in a process
//! group of its own, its phases (`> phase: what` lines) go out as work-done progress, its
//! output is kept to a bounded tail for the error message, and when it succeeds the newest
//! capture is loaded. Cancelling (the progress's cancel button) or shutting the server down
//! stops the whole group: SIGINT first, because `heapsight capture` answers it by stopping
//! the app it started (which runs in a group of its own), then SIGTERM, then SIGKILL.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, watch};
use tower_lsp_server::ls_types::{MessageType, NumberOrString};

use crate::folder::Folder;
use crate::loader::{self, Reason, What};
use crate::state::State;

/// Lines of output kept for the error message.
const TAIL_LINES: usize = 200;
/// Bytes of output kept for the error message.
const TAIL_BYTES: usize = 64 * 1024;
/// A longer line is cut to this many bytes.
const LINE_BYTES: usize = 4 * 1024;
/// How long each signal gets before the next, harder one.
const GRACE: Duration = Duration::from_secs(3);

static NEXT_CAPTURE: AtomicU64 = AtomicU64::new(1);

/// A capture the server started, as its folder keeps it.
pub struct Running {
    /// Its work-done progress token (also returned to the command's caller).
    pub token: String,
    cancel: watch::Sender<bool>,
    finished: watch::Receiver<bool>,
}

impl Running {
    /// Asks the capture to stop; it does so in the background.
    pub fn cancel(&self) {
        let _ = self.cancel.send(true);
    }

    /// Stops the capture and waits until its group is gone (or a last SIGKILL was sent).
    pub async fn stop(&self) {
        self.cancel();
        let mut finished = self.finished.clone();
        let _ = tokio::time::timeout(GRACE * 3, raised(&mut finished)).await;
    }
}

/// Resolves once `flag` is true (or its sender is gone).
async fn raised(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|up| *up).await.map(|_| ());
}

/// Why a capture could not start.
pub enum Refused {
    /// No `captureCommand` in the folder's settings.
    NotConfigured,
    /// One is already running in this folder.
    Running,
    /// The program could not be started.
    Spawn(String),
}

/// Starts the folder's configured capture command; returns its progress token at once.
pub fn start(state: &Arc<State>, folder: &Arc<Folder>) -> Result<String, Refused> {
    // Only the user's own settings name the program: never the command's arguments.
    let command = folder.config().capture_command;
    let Some((program, args)) = command.split_first() else {
        return Err(Refused::NotConfigured);
    };
    let Ok(mut slot) = folder.capture.lock() else {
        return Err(Refused::Running);
    };
    if slot.is_some() {
        return Err(Refused::Running);
    }
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(&folder.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| Refused::Spawn(format!("cannot run {program}: {e}")))?;
    let group = Group(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .unwrap_or(0),
    );
    let token = format!(
        "heapsight/capture/{}",
        NEXT_CAPTURE.fetch_add(1, Ordering::Relaxed)
    );
    let (cancel, cancelled) = watch::channel(false);
    let (done, finished) = watch::channel(false);
    *slot = Some(Running {
        token: token.clone(),
        cancel,
        finished,
    });
    drop(slot);
    let (lines, incoming) = mpsc::unbounded_channel();
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pump(out, lines.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump(err, lines));
    }
    let shown = command.join(" ");
    tokio::spawn(run(
        state.clone(),
        folder.clone(),
        Run {
            child,
            group,
            token: token.clone(),
            shown,
            incoming,
            cancelled,
            done,
        },
    ));
    Ok(token)
}

/// Cancels the capture showing progress `token`; whether there was one.
pub fn cancel(state: &State, token: &str) -> bool {
    let mut found = false;
    for folder in state.folders() {
        if let Ok(slot) = folder.capture.lock() {
            if let Some(running) = slot.as_ref().filter(|r| r.token == token) {
                running.cancel();
                found = true;
            }
        }
    }
    found
}

/// Stops every running capture and waits for them (server shutdown).
pub async fn stop_all(state: &State) {
    for folder in state.folders() {
        stop(&folder).await;
    }
}

/// Stops the folder's capture, if any, and waits for it.
pub async fn stop(folder: &Folder) {
    let running = folder.capture.lock().ok().and_then(|slot| {
        slot.as_ref().map(|r| Running {
            token: r.token.clone(),
            cancel: r.cancel.clone(),
            finished: r.finished.clone(),
        })
    });
    if let Some(running) = running {
        running.stop().await;
    }
}

/// The capture's process group; dropping it while armed (the runtime going away with the
/// server) still stops the group.
struct Group(i32);

impl Group {
    fn signal(&self, signal: Signal) {
        if self.0 > 0 {
            let _ = killpg(Pid::from_raw(self.0), signal);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // The leader was reaped or stopped already when `run` disarmed us (0).
        if self.0 > 0 {
            self.signal(Signal::SIGINT);
            std::thread::sleep(Duration::from_millis(500));
            self.signal(Signal::SIGKILL);
        }
    }
}

struct Run {
    child: tokio::process::Child,
    group: Group,
    token: String,
    shown: String,
    incoming: mpsc::UnboundedReceiver<String>,
    cancelled: watch::Receiver<bool>,
    done: watch::Sender<bool>,
}

type Bar =
    tower_lsp_server::OngoingProgress<tower_lsp_server::Unbounded, tower_lsp_server::Cancellable>;

async fn run(state: Arc<State>, folder: Arc<Folder>, mut run: Run) {
    let bar = begin(&state, &run.token, &run.shown).await;
    let mut tail = Tail::default();
    let mut output_open = true;
    let outcome = loop {
        tokio::select! {
            line = run.incoming.recv(), if output_open => match line {
                Some(line) => {
                    if let (Some(bar), Some(phase)) = (&bar, line.strip_prefix("> ")) {
                        bar.report_with_message(phase.to_string(), None).await;
                    }
                    tail.push(line);
                }
                None => output_open = false,
            },
            status = run.child.wait() => break Outcome::Exited(status),
            () = raised(&mut run.cancelled) => {
                stop_group(&mut run.child, &run.group).await;
                break Outcome::Cancelled;
            }
        }
    };
    // The leader is gone: whatever it left in its group goes too.
    run.group.signal(Signal::SIGKILL);
    run.group.0 = 0;
    // The last lines, printed just before it exited.
    while let Ok(Some(line)) =
        tokio::time::timeout(Duration::from_millis(200), run.incoming.recv()).await
    {
        tail.push(line);
    }
    if let Ok(mut slot) = folder.capture.lock() {
        if slot.as_ref().is_some_and(|r| r.token == run.token) {
            *slot = None;
        }
    }
    let _ = run.done.send(true);
    match outcome {
        Outcome::Cancelled => {
            if let Some(bar) = bar {
                bar.finish_with_message("the capture was cancelled").await;
            }
            let status = loader::idle_status(&folder, "the capture was cancelled");
            loader::send_status(&state, &folder, status).await;
        }
        Outcome::Exited(Ok(status)) if status.success() => {
            if let Some(bar) = bar {
                bar.finish_with_message("captured; analyzing").await;
            }
            let _ = loader::load(state, folder, What::Newest, Reason::Requested).await;
        }
        Outcome::Exited(status) => {
            let how = match status {
                Ok(status) => status.to_string(),
                Err(e) => e.to_string(),
            };
            let message = format!("the capture command failed ({how}): {}", tail.text().trim());
            if let Some(bar) = bar {
                bar.finish_with_message(format!("the capture command failed ({how})"))
                    .await;
            }
            state
                .client
                .show_message(MessageType::ERROR, &message)
                .await;
            let mut status = loader::idle_status(&folder, &message);
            if status.state == "idle" {
                status.state = "error".into();
            }
            loader::send_status(&state, &folder, status).await;
        }
    }
}

enum Outcome {
    Exited(std::io::Result<std::process::ExitStatus>),
    Cancelled,
}

async fn begin(state: &State, token: &str, shown: &str) -> Option<Bar> {
    if !state.support().work_done_progress {
        return None;
    }
    let token = NumberOrString::String(token.to_string());
    state
        .client
        .create_work_done_progress(token.clone())
        .await
        .ok()?;
    Some(
        state
            .client
            .progress(token, "heapsight: capture")
            .with_cancel_button()
            .with_message(format!("running {shown}"))
            .begin()
            .await,
    )
}

/// SIGINT, SIGTERM, then SIGKILL to the group, each given [`GRACE`] to end the leader.
async fn stop_group(child: &mut tokio::process::Child, group: &Group) {
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        group.signal(signal);
        if tokio::time::timeout(GRACE, child.wait()).await.is_ok() {
            return;
        }
    }
    group.signal(Signal::SIGKILL);
    let _ = tokio::time::timeout(GRACE, child.wait()).await;
}

/// Sends each line of `reader` (cut to [`LINE_BYTES`]) to `lines`.
async fn pump(mut reader: impl AsyncRead + Unpin, lines: mpsc::UnboundedSender<String>) {
    let mut buf = [0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &byte in &buf[..n] {
            if byte == b'\n' {
                let _ = lines.send(String::from_utf8_lossy(&line).into_owned());
                line.clear();
            } else if line.len() < LINE_BYTES {
                line.push(byte);
            }
        }
    }
    if !line.is_empty() {
        let _ = lines.send(String::from_utf8_lossy(&line).into_owned());
    }
}

/// The last [`TAIL_LINES`] lines of output, at most [`TAIL_BYTES`].
#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    bytes: usize,
}

impl Tail {
    fn push(&mut self, line: String) {
        self.bytes += line.len() + 1;
        self.lines.push_back(line);
        while self.lines.len() > TAIL_LINES || self.bytes > TAIL_BYTES {
            match self.lines.pop_front() {
                Some(old) => self.bytes -= old.len() + 1,
                None => break,
            }
        }
    }

    fn text(&self) -> String {
        let mut out = String::with_capacity(self.bytes);
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines_within_its_bounds() {
        let mut tail = Tail::default();
        for n in 0..1000 {
            tail.push(format!("line {n}"));
        }
        let text = tail.text();
        assert_eq!(
            (
                tail.lines.len(),
                text.lines().next(),
                text.lines().last(),
                text.len() == tail.bytes
            ),
            (TAIL_LINES, Some("line 800"), Some("line 999"), true)
        );
        let mut wide = Tail::default();
        for _ in 0..100 {
            wide.push("x".repeat(LINE_BYTES));
        }
        assert!(wide.bytes <= TAIL_BYTES && wide.lines.len() == TAIL_BYTES / (LINE_BYTES + 1));
    }
}
