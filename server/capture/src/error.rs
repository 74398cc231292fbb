//! The typed error of every capture operation, with messages written for the person who
//! ran the command: what failed, where, and what to do about it.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can stop a capture.
///
/// Messages say what failed and what to do; an underlying OS error is the error's
/// `source()`, not repeated in the message (print the chain, e.g. anyhow's `{:#}`).
/// Variants that concern a process we started carry the last lines it printed, since those
/// usually say why it stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The inspector address is not on this machine and `allow_remote` was not set.
    #[error(
        "refusing to connect to the inspector at {addr}: it is not a loopback address. \
         The inspector port runs any JavaScript it is sent, so heapsight only talks to \
         127.0.0.1, ::1 or localhost; forward the port over SSH \
         (`ssh -L 9229:127.0.0.1:9229 host`) or pass --allow-remote if you accept the risk"
    )]
    RemoteRefused {
        /// The host and port that were refused.
        addr: String,
    },
    /// An inspector address or URL that could not be understood.
    #[error("invalid inspector address `{input}`: {reason}")]
    BadAddress {
        /// What was given.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Nothing accepted a connection at the inspector's address.
    #[error(
        "cannot reach the inspector at {addr} (is the process running with --inspect, and on \
         this port?)"
    )]
    Unreachable {
        /// The host and port tried.
        addr: String,
        /// The connection error.
        #[source]
        source: io::Error,
    },
    /// The inspector answered but lists no target to attach to.
    #[error("the inspector at {addr} lists no Node.js target to attach to")]
    NoTarget {
        /// The host and port asked.
        addr: String,
    },
    /// The inspector sent something that does not follow the protocol.
    #[error("inspector protocol error: {0}")]
    Protocol(String),
    /// An inspector command returned an error.
    #[error("inspector command {method} failed: {message} (code {code})")]
    Command {
        /// The CDP method.
        method: String,
        /// The error code.
        code: i64,
        /// The error message.
        message: String,
    },
    /// The WebSocket closed while we were waiting for an answer.
    #[error("the inspector connection closed during {during}")]
    Disconnected {
        /// What we were doing.
        during: String,
    },
    /// Something we waited for did not happen in time.
    #[error("timed out after {} waiting for {what}", crate::time::human(*.after))]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long we waited.
        after: Duration,
    },
    /// The target never printed its ready line.
    #[error("timed out after {} waiting for a line matching `{pattern}` on the target's stdout{}", crate::time::human(*.after), crate::error::tail(.output))]
    NotReady {
        /// The ready-line pattern.
        pattern: String,
        /// How long we waited.
        after: Duration,
        /// Its last lines of output.
        output: Vec<String>,
    },
    /// The target or a helper command could not be started.
    #[error("cannot start `{program}`")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The process being captured exited before the capture finished.
    #[error("the target process exited ({status}) during {during}{}", crate::error::tail(.output))]
    TargetExited {
        /// Exit code or signal, in words.
        status: String,
        /// The phase it died in.
        during: String,
        /// Its last lines of output (stdout and stderr interleaved).
        output: Vec<String>,
    },
    /// Node could not open its inspector port.
    #[error("the target's inspector could not listen: {line}{}", crate::error::tail(.output))]
    InspectorPortBusy {
        /// Node's message.
        line: String,
        /// Its last lines of output.
        output: Vec<String>,
    },
    /// A helper command (warm-up or load) failed.
    #[error("the {role} command `{command}` failed ({status}){}", crate::error::tail(.output))]
    CommandFailed {
        /// `warm-up` or `load`.
        role: &'static str,
        /// The command line.
        command: String,
        /// Exit code or signal, in words.
        status: String,
        /// Its last lines of output.
        output: Vec<String>,
    },
    /// Snapshot `label` could not be redacted (`--redact`): nothing of it is kept.
    #[error("cannot redact snapshot {label}: {source}")]
    Redact {
        /// `A`, `B`, `C`, …
        label: String,
        /// What the redactor found.
        #[source]
        source: heapsight_redact::RedactError,
    },
    /// Writing or moving an output file failed.
    #[error("cannot write {}{}", .path.display(), crate::error::io_hint(.source))]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Reading something we need failed.
    #[error("cannot read {}", .path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A heap snapshot stopped before its end.
    #[error(
        "heap snapshot {label} stopped after {bytes} bytes: {reason}; the partial file was removed"
    )]
    SnapshotIncomplete {
        /// `A`, `B` or `C`.
        label: String,
        /// Bytes received before it stopped.
        bytes: u64,
        /// Why we consider it stopped.
        reason: String,
    },
    /// The process to signal does not exist or cannot be signalled.
    #[error("cannot signal process {pid}: {reason}")]
    NoSuchProcess {
        /// The pid.
        pid: i32,
        /// The OS's reason.
        reason: String,
    },
    /// The process does not handle the snapshot signal, so sending it would kill it.
    #[error(
        "process {pid} does not handle {signal}: sending it would terminate the process \
         instead of writing a heap snapshot. Start node with --heapsnapshot-signal={signal} \
         (or NODE_OPTIONS=--heapsnapshot-signal={signal})"
    )]
    SignalNotHandled {
        /// The pid.
        pid: i32,
        /// The signal name.
        signal: String,
    },
    /// `--pid` without `--signal`: the process cannot be captured safely, and nothing was
    /// sent to it.
    #[error("refusing to capture process {pid}: {reason}")]
    Refused {
        /// The pid.
        pid: i32,
        /// Why, in words.
        reason: String,
    },
    /// The inspector reached after `SIGUSR1` belongs to another process.
    #[error(
        "the inspector at {addr} is not process {pid}'s (it reports {reported}): another Node \
         process holds that port; nothing was captured"
    )]
    NotThisProcess {
        /// The pid asked for.
        pid: i32,
        /// Where the inspector answered.
        addr: String,
        /// What it said its pid is.
        reported: String,
    },
    /// Taking the snapshot would likely push the process over its memory limit.
    #[error(
        "refusing to take snapshot {label} of process {pid}: it would need about {} more \
         memory ({estimate_basis}), and only {} is left ({budget}). The snapshot could get the \
         process killed for lack of memory; pass --force to take it anyway",
        crate::report::human_bytes(*.estimate),
        crate::report::human_bytes(*.available)
    )]
    NoHeadroom {
        /// The snapshot, `A`, `B`, `C`, `B2`.
        label: String,
        /// The pid.
        pid: i64,
        /// The estimated extra memory of the snapshot, in bytes.
        estimate: u64,
        /// How the estimate was made, with its figures.
        estimate_basis: String,
        /// The memory left before the limit, in bytes.
        available: u64,
        /// The limit and use it comes from, in words.
        budget: String,
    },
    /// The options contradict each other or name something invalid.
    #[error("{0}")]
    Config(String),
    /// The capture was cancelled (Ctrl-C).
    #[error("interrupted; partial files were removed")]
    Interrupted,
}

/// A `Result` whose error is [`CaptureError`].
pub type Result<T, E = CaptureError> = std::result::Result<T, E>;

/// Formats the last lines of a process's output for an error message.
pub(crate) fn tail(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut s = String::from("; its last output:");
    for line in lines {
        s.push_str("\n    ");
        s.push_str(line);
    }
    s
}

/// Adds a plain-words hint to the I/O errors people meet while writing large files.
pub(crate) fn io_hint(e: &io::Error) -> &'static str {
    if e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(nix::libc::ENOSPC) {
        " (the disk is full: free some space or pass another output folder)"
    } else if e.kind() == io::ErrorKind::QuotaExceeded {
        " (disk quota exceeded)"
    } else {
        ""
    }
}
