//! A small LSP client over the real `heapsight lsp` process: typed requests and
//! notifications, awaited notifications, and automatic answers to the server's own
//! requests (progress tokens, registrations, configuration, showDocument). For the stress
//! tests: raw bytes, a paused reader (a client that stops reading), the server's pid, and
//! fixture workspaces. Each test file uses a part of it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::request::Request;

/// How long any single wait may take.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A running server and the messages it sent that nobody consumed yet.
pub struct Client {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    backlog: VecDeque<Value>,
    next_id: i64,
    /// Requests the server sent us, in order (method and params).
    pub server_requests: Vec<(String, Value)>,
    /// What `workspace/configuration` answers.
    pub settings: Value,
    /// What it answers for an item whose `scopeUri` is a key here (else `settings`).
    pub folder_settings: std::collections::HashMap<String, Value>,
    /// Every message received, in order (for failure messages).
    pub received: Vec<Value>,
    /// The server's answer to `initialize`.
    pub initialize_result: Value,
    /// While true, the reader thread reads nothing more from the server's stdout.
    paused: Arc<(Mutex<bool>, Condvar)>,
}

impl Client {
    /// Starts `heapsight lsp` in `root` and initializes it with `capabilities` and
    /// `options` as `initializationOptions`.
    pub fn start(root: &Path, capabilities: Value, options: Value) -> Client {
        Client::start_under(&[], root, capabilities, options)
    }

    /// [`Client::start`] with the server run by `wrapper` (a program and its arguments,
    /// e.g. `strace ... -o trace`); `pid` is then the wrapper's.
    pub fn start_under(
        wrapper: &[&str],
        root: &Path,
        capabilities: Value,
        options: Value,
    ) -> Client {
        Client::start_in(wrapper, &[root], capabilities, options)
    }

    /// [`Client::start`] with every one of `roots` a workspace folder (the first is also
    /// the root URI and the server's working directory).
    pub fn start_in(
        wrapper: &[&str],
        roots: &[&Path],
        capabilities: Value,
        options: Value,
    ) -> Client {
        let root = roots[0];
        let server = env!("CARGO_BIN_EXE_heapsight");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(server);
                command
            }
            None => Command::new(server),
        };
        let mut child = command
            .arg("lsp")
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starts heapsight lsp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, incoming) = mpsc::channel();
        let paused = Arc::new((Mutex::new(false), Condvar::new()));
        let gate = paused.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                {
                    let (lock, cv) = &*gate;
                    let mut paused = lock.lock().expect("gate");
                    while *paused {
                        paused = cv.wait(paused).expect("gate");
                    }
                }
                let Some(message) = read_message(&mut reader) else {
                    break;
                };
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        let mut client = Client {
            child,
            stdin,
            incoming,
            backlog: VecDeque::new(),
            next_id: 1,
            server_requests: Vec::new(),
            settings: options.clone(),
            folder_settings: std::collections::HashMap::new(),
            received: Vec::new(),
            initialize_result: Value::Null,
            paused,
        };
        let folders: Vec<Value> = roots
            .iter()
            .map(|r| json!({"uri": uri(r), "name": "ws"}))
            .collect();
        let init = client.request_raw(
            "initialize",
            json!({
                "processId": null,
                "rootUri": uri(root),
                "workspaceFolders": folders,
                "capabilities": capabilities,
                "initializationOptions": options,
            }),
        );
        client.initialize_result = init.expect("initialize succeeds");
        client.notify_raw("initialized", json!({}));
        client
    }

    /// Sends request `R` and waits for its result.
    pub fn request<R: Request>(&mut self, params: R::Params) -> Result<R::Result, Value>
    where
        R::Result: DeserializeOwned,
    {
        let params = serde_json::to_value(params).expect("params serialize");
        self.request_raw(R::METHOD, params)
            .map(|v| serde_json::from_value(v).expect("result deserializes"))
    }

    /// Sends a request with untyped params; `Err` holds the error object.
    pub fn request_raw(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.send_request(method, params);
        let reply = self.wait_for(|m| m.get("id") == Some(&json!(id)) && m.get("method").is_none());
        match reply.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(reply.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    /// Sends a request without waiting; returns its id.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// Waits for the reply to request `id`.
    pub fn reply(&mut self, id: i64) -> Value {
        self.wait_for(|m| m.get("id") == Some(&json!(id)) && m.get("method").is_none())
    }

    /// Sends notification `N`.
    pub fn notify<N: Notification>(&mut self, params: N::Params) {
        let params = serde_json::to_value(params).expect("params serialize");
        self.notify_raw(N::METHOD, params);
    }

    /// Sends `didChange` version `version` of `uri`: a comment line inserted at the top,
    /// so that every finding below moves down a line.
    pub fn insert_line_at_top(&mut self, uri: &str, version: i32) {
        let change = json!({
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "text": format!("// edit {version}\n"),
        });
        self.notify_raw(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}),
        );
    }

    /// Sends a notification with untyped params.
    pub fn notify_raw(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Waits for notification `N` whose params satisfy `accept`.
    pub fn await_notification<N: Notification>(
        &mut self,
        accept: impl Fn(&N::Params) -> bool,
    ) -> N::Params
    where
        N::Params: DeserializeOwned,
    {
        let message = self.wait_for(|m| {
            m.get("method").and_then(Value::as_str) == Some(N::METHOD)
                && m.get("id").is_none()
                && serde_json::from_value::<N::Params>(m["params"].clone())
                    .is_ok_and(|p| accept(&p))
        });
        serde_json::from_value(message["params"].clone()).expect("params deserialize")
    }

    /// Shuts the server down and waits for it to exit; returns its exit status.
    pub fn shutdown(mut self) -> std::process::ExitStatus {
        let reply = self.request_raw("shutdown", Value::Null);
        assert_eq!(reply, Ok(Value::Null));
        self.notify_raw("exit", Value::Null);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes `bytes` to the server's stdin as they are (no framing added).
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).expect("write");
        self.stdin.flush().expect("flush");
    }

    /// A second handle on the server's stdin, for a thread that may block writing to it.
    pub fn stdin_handle(&self) -> std::fs::File {
        let fd = self.stdin.as_fd().try_clone_to_owned().expect("dup stdin");
        std::fs::File::from(fd)
    }

    /// The next id [`Client::send_request`] will use; `skip` ids are reserved for the
    /// caller's own raw requests.
    pub fn reserve_ids(&mut self, skip: i64) -> i64 {
        let first = self.next_id;
        self.next_id += skip;
        first
    }

    /// Stops reading the server's output (after the message being read, if any).
    pub fn pause_reading(&self) {
        *self.paused.0.lock().expect("gate") = true;
    }

    /// Reads the server's output again.
    pub fn resume_reading(&self) {
        *self.paused.0.lock().expect("gate") = false;
        self.paused.1.notify_all();
    }

    /// Waits for the first message (kept ones first) satisfying `accept`; the server's own
    /// requests are answered meanwhile.
    pub fn wait_message(&mut self, accept: impl Fn(&Value) -> bool) -> Value {
        self.wait_for(accept)
    }

    /// Takes in every message that arrives within `wait` (answering the server's own
    /// requests); they stay unconsumed.
    pub fn pump(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while let Ok(message) = self
            .incoming
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.received.push(message.clone());
            if message.get("method").is_some() && message.get("id").is_some() {
                self.answer_server_request(&message);
                continue;
            }
            self.backlog.push_back(message);
        }
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
        self.stdin.flush().expect("flush");
    }

    /// The first message (backlog first) satisfying `accept`; the others are kept.
    fn wait_for(&mut self, accept: impl Fn(&Value) -> bool) -> Value {
        if let Some(at) = self.backlog.iter().position(&accept) {
            return self.backlog.remove(at).expect("present");
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self
                .incoming
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("timed out; unconsumed messages: {:#?}", self.backlog));
            self.received.push(message.clone());
            if message.get("method").is_some() && message.get("id").is_some() {
                self.answer_server_request(&message);
                continue;
            }
            if accept(&message) {
                return message;
            }
            self.backlog.push_back(message);
        }
    }

    fn answer_server_request(&mut self, message: &Value) {
        let method = message["method"].as_str().unwrap_or("").to_string();
        let result = match method.as_str() {
            "workspace/configuration" => {
                let items = message["params"]["items"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let answers: Vec<Value> = items
                    .iter()
                    .map(|item| {
                        let scope = item["scopeUri"].as_str().unwrap_or("");
                        self.folder_settings
                            .get(scope)
                            .unwrap_or(&self.settings)
                            .clone()
                    })
                    .collect();
                json!(answers)
            }
            "window/showDocument" => json!({"success": true}),
            _ => Value::Null,
        };
        self.server_requests.push((
            method,
            message.get("params").cloned().unwrap_or(Value::Null),
        ));
        let id = message["id"].clone();
        self.send(json!({"jsonrpc": "2.0", "id": id, "result": result}));
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            length = n.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

impl Client {
    /// The `heapsight/status` notifications received so far, as `state: message` lines.
    pub fn statuses(&self) -> String {
        self.received
            .iter()
            .filter(|m| m["method"] == "heapsight/status")
            .map(|m| format!("{}: {}", m["params"]["state"], m["params"]["message"]))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A temp folder removed when the test ends.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A copy of fixture `app` in a fresh temp folder, with its A/B/C in `.heapsight/`.
pub fn fixture_workspace(app: &str, name: &str) -> TempDir {
    use heapsight_tests::support::{fixture_dir, fixture_snapshots};
    let root = std::env::temp_dir().join(format!("heapsight-lsp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join(".heapsight")).expect("mkdir");
    for entry in std::fs::read_dir(fixture_dir(app).expect("fixture")).expect("list") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let name = path.file_name().expect("name");
            std::fs::copy(&path, root.join(name)).expect("copy");
        }
    }
    let triple = fixture_snapshots(app, 20).expect("fixture snapshots");
    for (from, label) in [(&triple.a, "A"), (&triple.b, "B"), (&triple.c, "C")] {
        std::fs::copy(from, root.join(format!(".heapsight/{label}.heapsnapshot"))).expect("copy");
    }
    TempDir(std::fs::canonicalize(root).expect("canonical"))
}

/// The server's resident set size in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// The `file:` URI of `path`.
pub fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}
