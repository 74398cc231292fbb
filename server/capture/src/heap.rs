//! Taking one heap snapshot over the inspector: forced garbage collection, then
//! `HeapProfiler.takeHeapSnapshot` with its chunks written to `<name>.partial` as they
//! arrive (a snapshot is never held whole in memory; with `redact`, each chunk passes
//! through `heapsight-redact` first, so no string's text reaches the disk), checked for a
//! complete JSON ending, and renamed into place. Any [`Channel`] will do: the main thread, a worker thread through
//! its parent, another process.
//!
//! A worker thread held before its first line (`waitingForDebugger`) is a special case. Since
//! V8 12 (Node 22) both `collectGarbage` and `takeHeapSnapshot` run as tasks of the heap's
//! own event loop, which a held worker does not turn: asked there, they answer only once it
//! runs (Node 18 and 20 take the snapshot at once and only hold the collection). So its
//! baseline is asked for in one go ([`take_snapshot_and_release`]): the collections and the
//! snapshot are queued, then `Runtime.runIfWaitingForDebugger` lets the worker start; they run
//! on its first turn of the event loop, before its script is loaded (the script comes in a
//! message of the parent's, handled after those tasks), so the baseline holds none of it.

use std::path::Path;

use serde_json::{json, Value};
use tokio::io::{AsyncWriteExt, BufWriter};

use crate::cdp::Step;
use crate::channel::Channel;
use crate::error::{CaptureError, Result};
use crate::output::partial_of;
use crate::report::{Phase, Reporter, SnapshotProgress};

/// How often (in bytes written) the reporter hears of progress.
const REPORT_EVERY: u64 = 1 << 20;

/// Runs `rounds` full garbage collections.
pub(crate) async fn collect_garbage(ch: &mut impl Channel, rounds: u32) -> Result<()> {
    for _ in 0..rounds {
        ch.call("HeapProfiler.collectGarbage", json!({})).await?;
    }
    Ok(())
}

/// Takes a snapshot into `path` (through `path.partial`), redacted when `redact`, and
/// returns the file's size in bytes.
pub(crate) async fn take_snapshot(
    ch: &mut impl Channel,
    path: &Path,
    label: &str,
    phase: Phase,
    reporter: &dyn Reporter,
    redact: bool,
) -> Result<u64> {
    snapshot_into(ch, path, label, phase, reporter, None, redact).await
}

/// For a worker thread held before its first line: queues `gc_rounds` collections and the
/// snapshot, lets the worker run (`Runtime.runIfWaitingForDebugger`), then streams the
/// snapshot into `path` as [`take_snapshot`] does. The worker is let run even when the
/// snapshot then fails; only an error before anything was sent leaves it held (the caller
/// must then let it run).
pub(crate) async fn take_snapshot_and_release(
    ch: &mut impl Channel,
    gc_rounds: u32,
    path: &Path,
    label: &str,
    phase: Phase,
    reporter: &dyn Reporter,
    redact: bool,
) -> Result<u64> {
    snapshot_into(ch, path, label, phase, reporter, Some(gc_rounds), redact).await
}

/// `held`: the heap waits for the debugger; queue this many collections before the snapshot
/// and release the heap after asking for it.
async fn snapshot_into(
    ch: &mut impl Channel,
    path: &Path,
    label: &str,
    phase: Phase,
    reporter: &dyn Reporter,
    held: Option<u32>,
    redact: bool,
) -> Result<u64> {
    let partial = partial_of(path);
    let result = stream_to(ch, &partial, label, phase, reporter, held, redact).await;
    match result {
        Ok(bytes) => {
            tokio::fs::rename(&partial, path)
                .await
                .map_err(|source| CaptureError::Write {
                    path: path.to_owned(),
                    source,
                })?;
            Ok(bytes)
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            Err(e)
        }
    }
}

async fn stream_to(
    ch: &mut impl Channel,
    partial: &Path,
    label: &str,
    phase: Phase,
    reporter: &dyn Reporter,
    held: Option<u32>,
    redact: bool,
) -> Result<u64> {
    let write_err = |source| CaptureError::Write {
        path: partial.to_owned(),
        source,
    };
    let file = tokio::fs::File::create(partial).await.map_err(write_err)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut end = JsonEnd::default();
    let mut bytes = 0u64;
    let mut reported = 0u64;
    let mut redactor = redact.then(heapsight_redact::Redactor::new);
    let mut redacted = Vec::new();
    let redact_err = |source| CaptureError::Redact {
        label: label.to_owned(),
        source,
    };
    let method = "HeapProfiler.takeHeapSnapshot";
    for _ in 0..held.unwrap_or(0) {
        // Answered once the heap runs; the answers are skipped as late ones.
        ch.send("HeapProfiler.collectGarbage", json!({})).await?;
    }
    let id = ch.send(method, json!({ "reportProgress": true })).await?;
    if held.is_some() {
        ch.send("Runtime.runIfWaitingForDebugger", json!({}))
            .await?;
    }
    loop {
        let step = match ch.next_for(id, method).await {
            Ok(step) => step,
            Err(e @ (CaptureError::Disconnected { .. } | CaptureError::Timeout { .. })) => {
                return Err(CaptureError::SnapshotIncomplete {
                    label: label.to_owned(),
                    bytes,
                    reason: e.to_string(),
                })
            }
            Err(e) => return Err(e),
        };
        match step {
            Step::Done(_) => break,
            Step::Event(ev) if ev.method == "HeapProfiler.addHeapSnapshotChunk" => {
                let Some(chunk) = ev.params.get("chunk").and_then(Value::as_str) else {
                    return Err(CaptureError::Protocol(
                        "addHeapSnapshotChunk without a chunk".into(),
                    ));
                };
                match &mut redactor {
                    Some(r) => {
                        redacted.clear();
                        r.feed(chunk.as_bytes(), &mut redacted)
                            .map_err(redact_err)?;
                        out.write_all(&redacted).await.map_err(write_err)?;
                    }
                    None => out.write_all(chunk.as_bytes()).await.map_err(write_err)?,
                }
                end.feed(chunk.as_bytes());
                bytes += chunk.len() as u64;
                if bytes - reported >= REPORT_EVERY {
                    reported = bytes;
                    reporter.snapshot_progress(phase, SnapshotProgress::Writing { bytes });
                }
            }
            Step::Event(ev) if ev.method == "HeapProfiler.reportHeapSnapshotProgress" => {
                let done = ev.params.get("done").and_then(Value::as_u64).unwrap_or(0);
                let total = ev.params.get("total").and_then(Value::as_u64).unwrap_or(0);
                reporter.snapshot_progress(phase, SnapshotProgress::Walking { done, total });
            }
            Step::Event(ev) => ch.absorb(ev).await?,
        }
    }
    out.flush().await.map_err(write_err)?;
    let file = out.into_inner();
    file.sync_all().await.map_err(write_err)?;
    drop(file);
    reporter.snapshot_progress(phase, SnapshotProgress::Writing { bytes });
    if !end.is_complete() {
        return Err(CaptureError::SnapshotIncomplete {
            label: label.to_owned(),
            bytes,
            reason: "the inspector reported it finished, but the JSON does not end with `]}`"
                .into(),
        });
    }
    match redactor {
        // Redacted text can be shorter (an escape becomes one character): the file's size.
        Some(r) => Ok(r.finish().map_err(redact_err)?.bytes_out),
        None => Ok(bytes),
    }
}

/// The last two non-whitespace bytes seen: a complete snapshot ends with `]}` (the
/// `strings` array, then the top-level object).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct JsonEnd {
    last: [u8; 2],
}

impl JsonEnd {
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().filter(|b| !b.is_ascii_whitespace()) {
            self.last = [self.last[1], b];
        }
    }

    pub(crate) fn is_complete(&self) -> bool {
        &self.last == b"]}"
    }
}

#[cfg(test)]
mod tests {
    use super::JsonEnd;

    #[test]
    fn json_end() {
        let mut e = JsonEnd::default();
        e.feed(b"{\"snapshot\":{},\"strings\":[\"a\"");
        assert!(!e.is_complete());
        e.feed(b"]");
        e.feed(b"}\n");
        assert!(e.is_complete());
        e.feed(b",");
        assert!(!e.is_complete());
    }
}
