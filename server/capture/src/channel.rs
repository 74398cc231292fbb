//! One heap's inspector conversation, whichever way it travels: a process's own WebSocket
//! ([`Cdp`]), or a worker thread's session carried inside its parent's
//! ([`WorkerSession`]). Taking a snapshot ([`heap`](crate::heap)) and reading scripts
//! ([`scripts`](crate::scripts)) are written once against [`Channel`], so the main thread,
//! a worker thread and another process are captured by the same code.
//!
//! Node's `NodeWorker` domain, as every Node from 18 to 26 speaks it: after
//! `NodeWorker.enable` the parent session hears `NodeWorker.attachedToWorker {sessionId,
//! workerInfo, waitingForDebugger}` for each worker thread (at once for the live ones,
//! before the answer to `enable`); a command goes to a worker as a JSON string in
//! `NodeWorker.sendMessageToWorker {sessionId, message}`, and everything the worker says
//! comes back as `NodeWorker.receivedMessageFromWorker {sessionId, message}`;
//! `NodeWorker.detachedFromWorker {sessionId}` says it ended. The session id is a counter
//! of the parent session, not the worker's `threadId`. A message sent to a session that
//! has ended is accepted and dropped without an answer, so a worker session stops at its
//! `detachedFromWorker` rather than waiting for an answer that cannot come.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cdp::{Cdp, Event, Incoming, Step};
use crate::error::{CaptureError, Result};

/// `NodeWorker.attachedToWorker`.
pub(crate) const ATTACHED: &str = "NodeWorker.attachedToWorker";
/// `NodeWorker.detachedFromWorker`.
pub(crate) const DETACHED: &str = "NodeWorker.detachedFromWorker";
/// `NodeWorker.receivedMessageFromWorker`.
const RECEIVED: &str = "NodeWorker.receivedMessageFromWorker";

/// A protocol conversation with one heap: commands out, answers and events back.
pub(crate) trait Channel {
    /// Sends a command without waiting; returns its id.
    async fn send(&mut self, method: &str, params: Value) -> Result<u64>;

    /// Reads the next event of this heap, or the answer to command `id` (sent as `method`).
    async fn next_for(&mut self, id: u64, method: &str) -> Result<Step>;

    /// Deals with an event nobody waits for: buffers it if asked, and lets a heap stopped
    /// by a `debugger;` statement go on (we only ever read).
    async fn absorb(&mut self, event: Event) -> Result<()>;

    /// Buffers the events named `method` that arrive while waiting for answers.
    fn keep_events(&mut self, method: &str);

    /// Takes the buffered events named `method`, leaving the others.
    fn take_events_named(&mut self, method: &str) -> Vec<Event>;

    /// Sends a command and waits for its answer, absorbing the events that come first.
    async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.send(method, params).await?;
        loop {
            match self.next_for(id, method).await? {
                Step::Done(v) => return Ok(v),
                Step::Event(e) => self.absorb(e).await?,
            }
        }
    }
}

impl Channel for Cdp {
    async fn send(&mut self, method: &str, params: Value) -> Result<u64> {
        Cdp::send(self, method, params).await
    }

    async fn next_for(&mut self, id: u64, method: &str) -> Result<Step> {
        Cdp::next_for(self, id, method).await
    }

    async fn absorb(&mut self, event: Event) -> Result<()> {
        Cdp::absorb(self, event).await
    }

    fn keep_events(&mut self, method: &str) {
        Cdp::keep_events(self, method);
    }

    fn take_events_named(&mut self, method: &str) -> Vec<Event> {
        Cdp::take_events_named(self, &[method])
    }

    async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        Cdp::call(self, method, params).await
    }
}

/// What lasts of one worker thread's session between conversations: its id, the next
/// command id, whether it ended, and the events kept for the caller.
#[derive(Debug)]
pub(crate) struct WorkerLink {
    session_id: String,
    next_id: u64,
    ended: bool,
    keep: HashSet<String>,
    kept: Vec<Event>,
}

impl WorkerLink {
    /// The session announced as `session_id` by `NodeWorker.attachedToWorker`.
    pub(crate) fn new(session_id: &str) -> WorkerLink {
        WorkerLink {
            session_id: session_id.to_owned(),
            next_id: 1,
            ended: false,
            keep: HashSet::new(),
            kept: Vec::new(),
        }
    }

    /// The parent session's id for this worker.
    pub(crate) fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Whether the worker is known to have ended (`NodeWorker.detachedFromWorker`).
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    /// Records that the worker ended.
    pub(crate) fn set_ended(&mut self) {
        self.ended = true;
    }

    /// The session, carried by `parent` (the connection that announced it).
    pub(crate) fn over<'a>(&'a mut self, parent: &'a mut Cdp) -> WorkerSession<'a> {
        WorkerSession { parent, link: self }
    }
}

/// Whether `event` is the parent's announcement that session `session_id` ended.
pub(crate) fn is_detach_of(event: &Event, session_id: &str) -> bool {
    event.method == DETACHED && session_of(event) == Some(session_id)
}

/// The `sessionId` of a `NodeWorker` event.
pub(crate) fn session_of(event: &Event) -> Option<&str> {
    event.params.get("sessionId").and_then(Value::as_str)
}

/// A worker thread's session, multiplexed over its parent's connection.
pub(crate) struct WorkerSession<'a> {
    parent: &'a mut Cdp,
    link: &'a mut WorkerLink,
}

impl WorkerSession<'_> {
    fn ended_error(&self, method: &str) -> CaptureError {
        CaptureError::Disconnected {
            during: format!("{method} (the worker thread ended)"),
        }
    }

    /// Notices an end announced while another conversation was reading the parent.
    fn check_ended(&mut self) {
        let session_id = self.link.session_id.as_str();
        if !self.link.ended
            && self
                .parent
                .kept_events()
                .iter()
                .any(|e| is_detach_of(e, session_id))
        {
            self.link.ended = true;
        }
    }
}

impl Channel for WorkerSession<'_> {
    async fn send(&mut self, method: &str, params: Value) -> Result<u64> {
        self.check_ended();
        if self.link.ended {
            return Err(self.ended_error(method));
        }
        let id = self.link.next_id;
        self.link.next_id += 1;
        let message = json!({ "id": id, "method": method, "params": params }).to_string();
        // The parent's answer (an empty result) is skipped like any late answer.
        self.parent
            .send(
                "NodeWorker.sendMessageToWorker",
                json!({ "sessionId": self.link.session_id, "message": message }),
            )
            .await?;
        Ok(id)
    }

    async fn next_for(&mut self, id: u64, method: &str) -> Result<Step> {
        // The parent's socket also carries other workers' messages, so its own per-message
        // timeout would never fire for a silent worker: the limit is kept here, counted
        // from this worker's last message.
        let limit = self.parent.timeout();
        let mut deadline = Instant::now() + limit;
        loop {
            if self.link.ended {
                return Err(self.ended_error(method));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let event = match self.parent.next_event(method, Some(left)).await {
                Err(CaptureError::Timeout { .. }) => {
                    return Err(CaptureError::Timeout {
                        what: format!("a worker thread to answer {method}"),
                        after: limit,
                    })
                }
                other => other?,
            };
            let ours = session_of(&event) == Some(self.link.session_id.as_str());
            match event.method.as_str() {
                RECEIVED if ours => {
                    deadline = Instant::now() + limit;
                    // `None`: a late answer to a command sent without waiting.
                    if let Some(step) = decode_worker_message(&event)?.step_for(id, method) {
                        return step;
                    }
                }
                // Another worker's late answers and events: nobody waits for them.
                RECEIVED => {}
                _ => {
                    if ours && event.method == DETACHED {
                        self.link.ended = true;
                    }
                    // Kept on the parent (attach and detach announcements) for its owner.
                    self.parent.absorb(event).await?;
                }
            }
        }
    }

    async fn absorb(&mut self, event: Event) -> Result<()> {
        if event.method == "Debugger.paused" {
            self.send("Debugger.resume", json!({})).await?;
        }
        if self.link.keep.contains(&event.method) {
            self.link.kept.push(event);
        }
        Ok(())
    }

    fn keep_events(&mut self, method: &str) {
        self.link.keep.insert(method.to_owned());
    }

    fn take_events_named(&mut self, method: &str) -> Vec<Event> {
        let (taken, left) = std::mem::take(&mut self.link.kept)
            .into_iter()
            .partition(|e| e.method == method);
        self.link.kept = left;
        taken
    }
}

/// The protocol message inside a `receivedMessageFromWorker`.
fn decode_worker_message(event: &Event) -> Result<Incoming> {
    let text = event
        .params
        .get("message")
        .and_then(Value::as_str)
        .ok_or_else(|| CaptureError::Protocol(format!("{RECEIVED} without a message string")))?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        CaptureError::Protocol(format!("a worker thread's message that is not JSON ({e})"))
    })?;
    Ok(Incoming::decode(value))
}

/// How long a best-effort message at the end of a capture may take.
pub(crate) const LAST_WORDS: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    fn event(method: &str, params: Value) -> Event {
        Event {
            method: method.to_owned(),
            params,
        }
    }

    /// A message from worker session 1.
    fn received(message: &str) -> Event {
        event(RECEIVED, json!({ "sessionId": "1", "message": message }))
    }

    #[test]
    fn worker_messages_decode_like_direct_ones() {
        match decode_worker_message(&received(r#"{"id":3,"result":{"x":1}}"#)) {
            Ok(Incoming::Answer {
                id: Some(3),
                outcome: Ok(v),
            }) => assert_eq!(v, json!({"x": 1})),
            other => panic!("{other:?}"),
        }
        let failed = received(r#"{"id":4,"error":{"code":-32601,"message":"no"}}"#);
        assert!(matches!(
            decode_worker_message(&failed),
            Ok(Incoming::Answer {
                id: Some(4),
                outcome: Err((-32601, _))
            })
        ));
        let chunk = received(r#"{"method":"HeapProfiler.addHeapSnapshotChunk","params":{}}"#);
        match decode_worker_message(&chunk) {
            Ok(Incoming::Event(e)) => assert_eq!(e.method, "HeapProfiler.addHeapSnapshotChunk"),
            other => panic!("{other:?}"),
        }
        assert!(decode_worker_message(&received("{")).is_err());
        assert!(decode_worker_message(&event(RECEIVED, json!({"sessionId": "1"}))).is_err());
    }

    #[test]
    fn detach_announcements() {
        let gone = event(DETACHED, json!({"sessionId": "2"}));
        assert!(is_detach_of(&gone, "2"));
        assert!(!is_detach_of(&gone, "1"));
        assert!(!is_detach_of(
            &event(ATTACHED, json!({"sessionId": "2"})),
            "2"
        ));
    }
}
