//! Child processes we start — the target, warm-up and load commands — each in its own
//! process group, with their output drained line by line (a full pipe would stall them),
//! kept as a short tail for error messages and passed to the [`Reporter`].
//!
//! [`Reporter`]: crate::Reporter

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{CaptureError, Result};
use crate::report::{OutputSource, Reporter};

/// Lines of output kept for error messages.
const TAIL_LINES: usize = 20;
/// Longest line kept or reported; longer ones are cut.
const MAX_LINE: usize = 4096;

/// The last lines a process printed.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    lines: Mutex<VecDeque<String>>,
}

impl Tail {
    fn push(&self, line: &str) {
        if let Ok(mut lines) = self.lines.lock() {
            if lines.len() == TAIL_LINES {
                lines.pop_front();
            }
            lines.push_back(line.to_owned());
        }
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Called with every line of one stream; returns whether the line is worth showing and
/// keeping for error messages.
pub(crate) type LineHook = Box<dyn FnMut(&str) -> bool + Send>;

/// What to start.
pub(crate) struct Spec {
    pub program: String,
    pub args: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub source: OutputSource,
    pub on_stdout: Option<LineHook>,
    pub on_stderr: Option<LineHook>,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exit {
    /// Exit code 0.
    pub success: bool,
    /// `exit code 1`, `killed by SIGKILL`.
    pub words: String,
}

/// A started process and its group.
pub(crate) struct Child {
    pid: i32,
    exit: watch::Receiver<Option<Exit>>,
    tail: Arc<Tail>,
    pumps: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Child {
    pub(crate) fn spawn(spec: Spec, reporter: Arc<dyn Reporter>) -> Result<Child> {
        let mut cmd = tokio::process::Command::new(&spec.program);
        cmd.args(&spec.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: we can stop it with everything it started, and a Ctrl-C in
            // the terminal reaches us first, so we clean up before it goes.
            .process_group(0)
            .kill_on_drop(true);
        if let Some(cwd) = &spec.cwd {
            cmd.current_dir(cwd);
        }
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|source| CaptureError::Spawn {
            program: spec.program.clone(),
            source,
        })?;
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        let tail = Arc::new(Tail::default());
        let mut pumps = Vec::new();
        if let Some(out) = child.stdout.take() {
            pumps.push(pump(
                out,
                spec.source,
                tail.clone(),
                reporter.clone(),
                spec.on_stdout,
            ));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(pump(
                err,
                spec.source,
                tail.clone(),
                reporter,
                spec.on_stderr,
            ));
        }
        let (tx, exit) = watch::channel(None);
        tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(s) => Exit {
                    success: s.success(),
                    words: status_words(s),
                },
                Err(e) => Exit {
                    success: false,
                    words: format!("unknown status: {e}"),
                },
            };
            let _ = tx.send(Some(status));
        });
        Ok(Child {
            pid,
            exit,
            tail,
            pumps,
        })
    }

    pub(crate) fn pid(&self) -> i32 {
        self.pid
    }

    /// How it ended, if it has.
    pub(crate) fn exit_status(&self) -> Option<Exit> {
        self.exit.borrow().clone()
    }

    /// Waits for the process to exit.
    pub(crate) async fn exited(&self) -> Exit {
        let mut rx = self.exit.clone();
        let unknown = || Exit {
            success: false,
            words: "unknown status".to_owned(),
        };
        let exit = match rx.wait_for(Option::is_some).await {
            Ok(s) => s.clone().unwrap_or_else(unknown),
            Err(_) => unknown(),
        };
        exit
    }

    /// Waits up to `limit` for the process to exit.
    pub(crate) async fn exited_within(&self, limit: Duration) -> Option<Exit> {
        tokio::time::timeout(limit, self.exited()).await.ok()
    }

    /// Its last lines of output, after giving the pipes a moment to drain.
    pub(crate) async fn final_output(&mut self) -> Vec<String> {
        let pumps = std::mem::take(&mut self.pumps);
        let _ = tokio::time::timeout(Duration::from_millis(300), async {
            for p in pumps {
                let _ = p.await;
            }
        })
        .await;
        self.tail.lines()
    }

    /// Sends `signal` to the whole process group.
    pub(crate) fn signal(&self, signal: Signal) {
        if self.pid > 0 {
            let _ = killpg(Pid::from_raw(self.pid), signal);
        }
    }

    /// SIGTERM to the group, then SIGKILL if it has not exited after `grace`.
    pub(crate) async fn stop(&self, grace: Duration) {
        if self.exit_status().is_some() {
            // The leader is gone; take down anything it left in its group.
            self.signal(Signal::SIGKILL);
            return;
        }
        self.signal(Signal::SIGTERM);
        if self.exited_within(grace).await.is_none() {
            self.signal(Signal::SIGKILL);
            let _ = self.exited_within(Duration::from_secs(2)).await;
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.exit.borrow().is_none() {
            self.signal(Signal::SIGKILL);
        }
    }
}

fn pump<R>(
    reader: R,
    source: OutputSource,
    tail: Arc<Tail>,
    reporter: Arc<dyn Reporter>,
    mut hook: Option<LineHook>,
) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut reader = BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let end = buf.len().min(MAX_LINE);
            let text = String::from_utf8_lossy(&buf[..end]);
            let line = text.trim_end_matches(['\n', '\r']);
            if hook.as_mut().is_none_or(|hook| hook(line)) {
                tail.push(line);
                reporter.output_line(source, line);
            }
        }
    })
}

/// `exit code 1`, `killed by SIGKILL`.
pub(crate) fn status_words(s: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = s.code() {
        format!("exit code {code}")
    } else if let Some(sig) = s.signal() {
        match Signal::try_from(sig) {
            Ok(sig) => format!("killed by {}", sig.as_str()),
            Err(_) => format!("killed by signal {sig}"),
        }
    } else {
        "unknown status".to_owned()
    }
}

/// Quotes `s` for a POSIX shell command line.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-=:,+@%".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/usr/bin/node"), "/usr/bin/node");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
