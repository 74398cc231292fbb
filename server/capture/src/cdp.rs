//! A small Chrome DevTools Protocol client over one WebSocket, made for a sequential
//! conversation: send a command, read messages until its answer, and hand the events that
//! arrive meanwhile either to the caller (heap snapshot chunks, streamed as they come) or
//! to a buffer of the event kinds asked for (script announcements).

use std::collections::HashSet;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::error::{CaptureError, Result};
use crate::inspector::{self, WsEndpoint};

/// One protocol event.
#[derive(Debug, Clone)]
pub struct Event {
    /// `Domain.event`.
    pub method: String,
    /// Its parameters (`null` if none).
    pub params: Value,
}

/// What [`Cdp::next_for`] read.
#[derive(Debug)]
pub enum Step {
    /// An event that arrived before the answer.
    Event(Event),
    /// The answer's `result`.
    Done(Value),
}

/// One protocol message, decoded: the same shape whether it came over a WebSocket or
/// inside `NodeWorker.receivedMessageFromWorker`.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// It has a `method`.
    Event(Event),
    /// It answers command `id`: its `result`, or its error's code and message.
    Answer {
        id: Option<u64>,
        outcome: std::result::Result<Value, (i64, String)>,
    },
}

impl Incoming {
    pub(crate) fn decode(mut value: Value) -> Incoming {
        if let Some(method) = value.get("method").and_then(Value::as_str) {
            let method = method.to_owned();
            let params = value
                .get_mut("params")
                .map(Value::take)
                .unwrap_or(Value::Null);
            return Incoming::Event(Event { method, params });
        }
        let id = value.get("id").and_then(Value::as_u64);
        let outcome = match value.get("error") {
            Some(err) => Err((
                err.get("code").and_then(Value::as_i64).unwrap_or(0),
                err.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message")
                    .to_owned(),
            )),
            None => Ok(value
                .get_mut("result")
                .map(Value::take)
                .unwrap_or(Value::Null)),
        };
        Incoming::Answer { id, outcome }
    }

    /// What a caller waiting for the answer to command `id` (sent as `method`) gets: an
    /// event, or that answer; `None` for the answer to another command.
    pub(crate) fn step_for(self, id: u64, method: &str) -> Option<Result<Step>> {
        match self {
            Incoming::Event(event) => Some(Ok(Step::Event(event))),
            Incoming::Answer {
                id: Some(got),
                outcome,
            } if got == id => {
                Some(
                    outcome
                        .map(Step::Done)
                        .map_err(|(code, message)| CaptureError::Command {
                            method: method.to_owned(),
                            code,
                            message,
                        }),
                )
            }
            Incoming::Answer { .. } => None,
        }
    }
}

/// A connected protocol session.
pub struct Cdp {
    ws: WebSocketStream<TcpStream>,
    next_id: u64,
    keep: HashSet<String>,
    kept: Vec<Event>,
    /// Every worker thread announced is told to run, whoever is reading (see
    /// [`Cdp::release_workers`]).
    release_workers: bool,
    timeout: Duration,
    url: String,
}

impl std::fmt::Debug for Cdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cdp")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Messages larger than this are refused; a script source or a snapshot chunk is far
/// smaller (V8 sends snapshots in chunks of about 100 KB).
const MAX_MESSAGE: usize = 1 << 30;

impl Cdp {
    /// Opens the WebSocket at `ep`, refusing addresses off this machine unless
    /// `allow_remote` (see [`inspector::connect`]). `timeout` bounds the connection and,
    /// later, the wait for each message.
    pub async fn connect(ep: &WsEndpoint, allow_remote: bool, timeout: Duration) -> Result<Cdp> {
        let addr = ep.authority();
        let url = ep.url();
        let connect = async {
            let (tcp, peer) = inspector::connect(&ep.host, ep.port, allow_remote).await?;
            let handshake_url = format!("ws://{peer}{}", ep.path);
            // Chunks are many and small; do not let Nagle hold our small commands back.
            let _ = tcp.set_nodelay(true);
            let config = WebSocketConfig::default()
                .max_message_size(Some(MAX_MESSAGE))
                .max_frame_size(Some(MAX_MESSAGE));
            let (ws, _response) = tokio_tungstenite::client_async_with_config(
                handshake_url.as_str(),
                tcp,
                Some(config),
            )
            .await
            .map_err(|e| {
                CaptureError::Protocol(format!(
                    "WebSocket handshake with {url} failed: {e} (is another debugger \
                             attached, or is the target id stale?)"
                ))
            })?;
            Ok::<_, CaptureError>(ws)
        };
        let ws =
            tokio::time::timeout(timeout, connect)
                .await
                .map_err(|_| CaptureError::Timeout {
                    what: format!("the inspector at {addr} to accept a WebSocket"),
                    after: timeout,
                })??;
        Ok(Cdp {
            ws,
            next_id: 1,
            keep: HashSet::new(),
            kept: Vec::new(),
            release_workers: false,
            timeout,
            url,
        })
    }

    /// The WebSocket URL this session is connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sets how long to wait for any one message before giving up.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Buffers events named `method` that arrive while waiting for answers.
    pub fn keep_events(&mut self, method: &str) {
        self.keep.insert(method.to_owned());
    }

    /// While on, each `NodeWorker.attachedToWorker` heard, while waiting for an answer or
    /// in [`Cdp::drain_events`], is answered with `Runtime.runIfWaitingForDebugger`: a
    /// `node` started with `--inspect-brk` holds every worker thread it starts, and one
    /// announced while another command's answer was awaited must not stay held.
    pub fn release_workers(&mut self, on: bool) {
        self.release_workers = on;
    }

    /// Takes the buffered events.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.kept)
    }

    /// Sends a command and returns its id without waiting for the answer.
    pub async fn send(&mut self, method: &str, params: Value) -> Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let text = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws
            .send(Message::text(text))
            .await
            .map_err(|e| disconnected(method, &e))?;
        Ok(id)
    }

    /// Sends a command and waits for its answer, keeping or dropping the events that come
    /// first.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.send(method, params).await?;
        loop {
            match self.next_for(id, method).await? {
                Step::Done(v) => return Ok(v),
                Step::Event(e) => self.absorb(e).await?,
            }
        }
    }

    /// Reads the next event, or the answer to command `id` (sent as `method`).
    pub async fn next_for(&mut self, id: u64, method: &str) -> Result<Step> {
        loop {
            let value = self.receive(method, Some(self.timeout)).await?;
            // `None`: the late answer of a command sent without waiting (see `absorb`).
            if let Some(step) = Incoming::decode(value).step_for(id, method) {
                return step;
            }
        }
    }

    /// Reads until the next event, skipping answers (nobody waits for one: ids start at 1,
    /// and commands sent without waiting are answered late). Waits at most `timeout` for
    /// each message, or forever when `None`. Cancel-safe: an event is either returned or
    /// still unread, so it can race a stop signal in a `select!`.
    pub(crate) async fn next_event(
        &mut self,
        during: &str,
        timeout: Option<Duration>,
    ) -> Result<Event> {
        loop {
            let value = self.receive(during, timeout).await?;
            if let Incoming::Event(event) = Incoming::decode(value) {
                return Ok(event);
            }
        }
    }

    /// How long one message may take (see [`Cdp::set_timeout`]).
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The events buffered so far, oldest first.
    pub(crate) fn kept_events(&self) -> &[Event] {
        &self.kept
    }

    /// Takes the buffered events named one of `methods`, in arrival order, and leaves the
    /// others buffered.
    pub(crate) fn take_events_named(&mut self, methods: &[&str]) -> Vec<Event> {
        let (taken, left) = std::mem::take(&mut self.kept)
            .into_iter()
            .partition(|e| methods.contains(&e.method.as_str()));
        self.kept = left;
        taken
    }

    /// The next message as JSON. Pings are answered by the WebSocket layer.
    async fn receive(&mut self, during: &str, timeout: Option<Duration>) -> Result<Value> {
        loop {
            let next = self.ws.next();
            let msg =
                match timeout {
                    Some(after) => tokio::time::timeout(after, next).await.map_err(|_| {
                        CaptureError::Timeout {
                            what: format!("the inspector to answer {during}"),
                            after,
                        }
                    })?,
                    None => next.await,
                };
            let text = match msg {
                None => {
                    return Err(CaptureError::Disconnected {
                        during: during.to_owned(),
                    })
                }
                Some(Err(e)) => return Err(disconnected(during, &e)),
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Binary(b))) => match String::from_utf8(b.to_vec()) {
                    Ok(t) => t.into(),
                    Err(_) => {
                        return Err(CaptureError::Protocol(
                            "a binary message that is not UTF-8".into(),
                        ))
                    }
                },
                Some(Ok(Message::Close(_))) => {
                    return Err(CaptureError::Disconnected {
                        during: during.to_owned(),
                    })
                }
                Some(Ok(_)) => continue,
            };
            return serde_json::from_str(text.as_str())
                .map_err(|e| CaptureError::Protocol(format!("a message that is not JSON ({e})")));
        }
    }

    /// Deals with an event nobody is waiting for: buffers it if asked, and resumes the
    /// target if a `debugger;` statement paused it (we only ever read scripts).
    pub async fn absorb(&mut self, event: Event) -> Result<()> {
        if event.method == "Debugger.paused" {
            self.send("Debugger.resume", json!({})).await?;
        }
        if self.release_workers && event.method == "NodeWorker.attachedToWorker" {
            // Node reports `waitingForDebugger` by our `NodeWorker.enable` flag, not by
            // `--inspect-brk`'s hold: every worker announced is told to run (a no-op for
            // one that runs).
            if let Some(session) = event.params.get("sessionId").and_then(Value::as_str) {
                let run = json!({ "id": 1, "method": "Runtime.runIfWaitingForDebugger" });
                let message = json!({ "sessionId": session, "message": run.to_string() });
                self.send("NodeWorker.sendMessageToWorker", message).await?;
            }
        }
        if self.keep.contains(&event.method) {
            self.kept.push(event);
        }
        Ok(())
    }

    /// Reads and absorbs events until the connection fails, so that a target waiting on
    /// its inspector (paused, held workers, or with events queued) goes on while we wait for
    /// something else, e.g. its ready line. Never returns `Ok`; meant for a `select!` arm.
    pub async fn drain_events(&mut self) -> Result<()> {
        const DURING: &str = "the wait for the target";
        loop {
            let value = match self.receive(DURING, None).await {
                Ok(value) => value,
                // A message that is not JSON is skipped here: nobody waits for it.
                Err(CaptureError::Protocol(_)) => continue,
                Err(e) => return Err(e),
            };
            if let Incoming::Event(event) = Incoming::decode(value) {
                self.absorb(event).await?;
            }
        }
    }

    /// Closes the WebSocket politely; errors are irrelevant at this point.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
    }
}

fn disconnected(method: &str, e: &tokio_tungstenite::tungstenite::Error) -> CaptureError {
    use tokio_tungstenite::tungstenite::Error as E;
    match e {
        E::ConnectionClosed | E::AlreadyClosed | E::Io(_) | E::Protocol(_) => {
            CaptureError::Disconnected {
                during: method.to_owned(),
            }
        }
        other => CaptureError::Protocol(format!("{other} (during {method})")),
    }
}
