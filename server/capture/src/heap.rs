//! Taking one heap snapshot over the inspector: forced garbage collection, then
//! `HeapProfiler.takeHeapSnapshot` with its chunks written to `<name>.partial` as they
//! arrive (a snapshot is never held whole in memory), checked for a complete JSON ending,
//! and renamed into place.

use std::path::Path;

use serde_json::{json, Value};
use tokio::io::{AsyncWriteExt, BufWriter};

use crate::cdp::{Cdp, Step};
use crate::error::{CaptureError, Result};
use crate::output::partial_of;
use crate::report::{Phase, Reporter, SnapshotProgress};

/// How often (in bytes written) the reporter hears of progress.
const REPORT_EVERY: u64 = 1 << 20;

/// Runs `rounds` full garbage collections.
pub(crate) async fn collect_garbage(cdp: &mut Cdp, rounds: u32) -> Result<()> {
    for _ in 0..rounds {
        cdp.call("HeapProfiler.collectGarbage", json!({})).await?;
    }
    Ok(())
}

/// Takes a snapshot into `path` (through `path.partial`) and returns its size in bytes.
pub(crate) async fn take_snapshot(
    cdp: &mut Cdp,
    path: &Path,
    label: &str,
    phase: Phase,
    reporter: &dyn Reporter,
) -> Result<u64> {
    let partial = partial_of(path);
    let result = stream_to(cdp, &partial, label, phase, reporter).await;
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
    cdp: &mut Cdp,
    partial: &Path,
    label: &str,
    phase: Phase,
    reporter: &dyn Reporter,
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
    let method = "HeapProfiler.takeHeapSnapshot";
    let id = cdp.send(method, json!({ "reportProgress": true })).await?;
    loop {
        let step = match cdp.next_for(id, method).await {
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
                out.write_all(chunk.as_bytes()).await.map_err(write_err)?;
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
            Step::Event(ev) => cdp.absorb(ev).await?,
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
    Ok(bytes)
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
