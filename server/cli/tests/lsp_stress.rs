//! `heapsight lsp` under abuse, over real stdio, on a copy of the `listener-leak` fixture
//! with its real capture: thousands of seeded random messages (bad JSON, lying
//! `Content-Length`, missing, extra and mistyped fields, unknown methods, huge ids, requests
//! on unopened documents, positions past the end, non-file URIs, paths outside the
//! workspace, commands that try to run a program), a `didChange` storm racing a running
//! analysis, a `$/cancelRequest` storm, and a client that stops reading the server's output
//! (its memory must stay bounded). After each, the server must still answer a real hover on
//! the leak correctly. The seed of each random run is in its failure message.
#![allow(clippy::unwrap_used)]

mod lsp_client;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use heapsight_lsp::StatusNotification;
use lsp_client::{fixture_workspace, rss_kib, uri, Client};
use serde_json::{json, Value};
use tower_lsp_server::ls_types::notification::PublishDiagnostics;

/// splitmix64: small, seeded, good enough to pick cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn capabilities() -> Value {
    json!({
        "window": {"workDoneProgress": true, "showDocument": {"support": true}},
        "workspace": {"configuration": true, "didChangeWatchedFiles": {"dynamicRegistration": false}},
    })
}

fn frame(body: &str) -> Vec<u8> {
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// Where the leak of `listener-leak` is (0-based line of `bus.on('data', ...)`).
const LEAK_LINE: u32 = 39;

/// A hover on the leak answers with its retainer path: the server is up and correct.
fn check_hover_on_the_leak(client: &mut Client, main: &Path, line: u32, context: &str) {
    let hover = client
        .request_raw(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri(main)}, "position": {"line": line, "character": 3}}),
        )
        .unwrap_or_else(|e| panic!("{context}: hover failed: {e}"));
    let text = hover["contents"]["value"].as_str().unwrap_or_default();
    assert!(
        text.contains("Retainer path, Node's internals folded")
            && text.contains("Captured by the leaked closures: `session`"),
        "{context}: wrong hover: {hover}"
    );
}

/// What the server owes for one message.
#[derive(Debug, Clone, PartialEq)]
enum Owed {
    /// Nothing (a notification, a response, or a message swallowed by a lying length).
    Nothing,
    /// Exactly one reply with this id, of any kind.
    Reply(Value),
    /// Exactly one error reply with this id and code.
    Error(Value, i64),
    /// At least one error reply with a `null` id (the message could not be read).
    NullError,
}

/// The fuzz phase's world: a workspace file that is never opened, a scratch file that is,
/// and a canary outside the workspace whose contents must never come back.
struct World {
    root: String,
    canary_path: String,
    marker: String,
}

/// One random message and what the server owes for it.
fn random_message(rng: &mut Rng, world: &World, id: i64) -> (Vec<u8>, Owed) {
    let case = rng.below(30);
    random_case(case, rng, world, id)
}

/// Message kind `case` of [`random_message`].
fn random_case(case: u64, rng: &mut Rng, world: &World, id: i64) -> (Vec<u8>, Owed) {
    let root = &world.root;
    let uris = [
        format!("file://{root}/main.js"),
        format!("file://{root}/load.js"),
        format!("file://{root}/nope.js"),
        format!("file://{root}/scratch.js"),
        format!("file://{root}/../outside.js"),
        format!("file://{}", world.canary_path),
        "file:///etc/passwd".to_string(),
        "untitled:Untitled-1".to_string(),
        "http://example.com/a.js".to_string(),
        "urn:isbn:0451450523".to_string(),
        "not a uri".to_string(),
        String::new(),
    ];
    let some_uri = rng.pick(&uris).clone();
    let big = [0u64, 1, 39, 40, 1 << 20, u64::from(u32::MAX)];
    let position = json!({"line": *rng.pick(&big), "character": *rng.pick(&big)});
    let bad_positions = [
        json!({"line": -1, "character": 0}),
        json!({"line": 1.5, "character": 0}),
        json!({"line": "3", "character": 0}),
        json!({"line": 4_294_967_296_u64, "character": 0}),
        json!(null),
        json!([]),
    ];
    let marker = &world.marker;
    let inject = [
        json!(["sh", "-c", format!("touch {marker}")]),
        json!([format!("; touch {marker}")]),
        json!({"command": ["sh", "-c", format!("touch {marker}")]}),
        json!([["sh", "-c", format!("touch {marker}")]]),
        json!(format!("$(touch {marker})")),
    ];
    let text = |rng: &mut Rng| -> String {
        let pieces = ["bus.on('x', () => {});\n", "\n", "é😀\n", "\r\n", "{", "'"];
        (0..rng.below(6)).map(|_| *rng.pick(&pieces)).collect()
    };
    let request = |method: &str, params: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
    };
    let notification = |method: &str, params: Value| {
        json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string()
    };
    let owed = Owed::Reply(json!(id));
    match case {
        0 => (
            frame(&request(
                "textDocument/hover",
                json!({"textDocument": {"uri": some_uri}, "position": position}),
            )),
            owed,
        ),
        1 => (
            frame(&request(
                "textDocument/hover",
                json!({"textDocument": {"uri": some_uri}, "position": rng.pick(&bad_positions)}),
            )),
            owed,
        ),
        2 => (
            frame(&request(
                "textDocument/codeLens",
                json!({"textDocument": {"uri": some_uri}}),
            )),
            owed,
        ),
        3 => (
            frame(&request(
                "textDocument/codeAction",
                json!({
                    "textDocument": {"uri": some_uri},
                    "range": {"start": position, "end": {"line": 0, "character": 0}},
                    "context": {"diagnostics": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}, "message": "x", "data": {"finding": *rng.pick(&["listener-1", "", "../../etc/passwd"])}}]},
                }),
            )),
            owed,
        ),
        4 => {
            let command = *rng.pick(&[
                "heapsight.capture",
                "heapsight.showReport",
                "heapsight.nope",
                "sh",
                "rm -rf /",
                "",
            ]);
            let arguments = rng.pick(&inject).clone();
            (
                frame(&request(
                    "workspace/executeCommand",
                    json!({"command": command, "arguments": arguments}),
                )),
                owed,
            )
        }
        // Opening main.js with other text would move the leak: every other URI.
        5 => (
            frame(&notification(
                "textDocument/didOpen",
                json!({"textDocument": {"uri": *rng.pick(&uris[1..]), "languageId": "javascript", "version": rng.below(1000), "text": text(rng)}}),
            )),
            Owed::Nothing,
        ),
        6 => (
            frame(&notification(
                "textDocument/didChange",
                json!({
                    "textDocument": {"uri": *rng.pick(&[uris[3].as_str(), uris[2].as_str(), uris[5].as_str()]), "version": rng.below(1 << 31)},
                    "contentChanges": [
                        {"range": {"start": position, "end": {"line": *rng.pick(&big), "character": 0}}, "text": text(rng)},
                        {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "rangeLength": 999, "text": text(rng)},
                    ],
                }),
            )),
            Owed::Nothing,
        ),
        7 => (
            frame(&notification(
                rng.pick::<&str>(&[
                    "textDocument/didClose",
                    "textDocument/didSave",
                    "$/cancelRequest",
                    "$/setTrace",
                    "workspace/didChangeWatchedFiles",
                ]),
                json!({"textDocument": {"uri": some_uri}, "id": *rng.pick(&[json!(id - 1), json!(u64::MAX), json!("x"), json!(null)]), "changes": [{"uri": some_uri, "type": 7}]}),
            )),
            Owed::Nothing,
        ),
        // Unknown methods: requests are refused, notifications ignored.
        8 => (
            frame(&request(rng.pick::<&str>(&["foo/bar", "$/heapsight/nope", ""]), json!({}))),
            Owed::Error(json!(id), -32601),
        ),
        9 => (
            frame(&notification(rng.pick::<&str>(&["foo/bar", "$/heapsight/nope"]), json!([1]))),
            Owed::Nothing,
        ),
        // Ids: the largest i64, negative, a string are ids; past i64, a float, an object
        // are not.
        10 => {
            let weird = rng.pick(&[
                json!(i64::MAX),
                json!(-id),
                json!(format!("s-{id}")),
                json!("9".repeat(300)),
            ])
            .clone();
            let body = json!({"jsonrpc": "2.0", "id": weird, "method": "textDocument/codeLens", "params": {"textDocument": {"uri": uris[0]}}});
            (frame(&body.to_string()), Owed::Reply(weird.clone()))
        }
        11 => {
            let bad_id = rng.pick(&["100000000000000000000000", "1.5", "{\"a\":1}", "true", "[1]"]);
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":{bad_id},"method":"textDocument/hover","params":{{}}}}"#
            );
            (frame(&body), Owed::NullError)
        }
        // Missing and mistyped fields of the message itself.
        12 => {
            let body = match rng.below(4) {
                0 => json!({"id": id, "method": "textDocument/hover", "params": {}}),
                1 => json!({"jsonrpc": "1.0", "id": id, "method": "textDocument/hover"}),
                2 => json!({"jsonrpc": "2.0", "id": id, "method": 17}),
                _ => json!({"jsonrpc": 2, "id": id, "method": "x"}),
            };
            (frame(&body.to_string()), Owed::Error(json!(id), -32600))
        }
        13 => {
            let body = json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/hover", "params": {"textDocument": {"uri": uris[0]}, "position": {"line": 0, "character": 0}}, "extra": [1, 2], "more": null});
            (frame(&body.to_string()), owed)
        }
        // Wrong param types get invalid-params errors.
        14 => (
            frame(&request(
                rng.pick::<&str>(&[
                    "textDocument/hover",
                    "textDocument/codeLens",
                    "textDocument/codeAction",
                ]),
                rng.pick(&[json!("string"), json!(42), json!([]), json!({"textDocument": 5})])
                    .clone(),
            )),
            Owed::Error(json!(id), -32602),
        ),
        // Bytes that are not a message.
        15 => {
            let garbage: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
            let body = rng.pick(&[
                "{\"jsonrpc\":\"2.0\",\"id\":",
                "not json at all",
                "[]",
                "null",
                "\"text\"",
                "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":\u{7f}}",
            ]);
            let mut out = if rng.below(2) == 0 {
                frame(body)
            } else {
                let mut f = format!("Content-Length: {}\r\n\r\n", garbage.len()).into_bytes();
                f.extend(&garbage);
                f
            };
            if rng.below(4) == 0 {
                // Bytes before the header.
                out.splice(0..0, b"\r\nxyz ".iter().copied());
            }
            (out, Owed::NullError)
        }
        16 => {
            let header = rng.pick(&[
                "Content-Length: abc\r\n\r\n",
                "Content-Length: -5\r\n\r\n",
                "Content-Length: 99999999999999999999999\r\n\r\n",
                "Content-Type: text/plain; charset=latin1\r\nContent-Length: 2\r\n\r\n{}",
                "X: y\r\n\r\n",
            ]);
            (header.as_bytes().to_vec(), Owed::NullError)
        }
        // A length too short: the body is cut; the rest is garbage before the next header.
        17 => {
            let body = request("textDocument/codeLens", json!({"textDocument": {"uri": uris[0]}}));
            let short = 1 + rng.below(10) as usize;
            let mut out = format!("Content-Length: {}\r\n\r\n", body.len() - short).into_bytes();
            out.extend(body.as_bytes());
            (out, Owed::NullError)
        }
        // Client responses to requests the server never made.
        18 => (
            frame(
                &json!({"jsonrpc": "2.0", "id": *rng.pick(&[json!(77_777), json!("zz"), json!(null)]), "result": [1]})
                    .to_string(),
            ),
            Owed::Nothing,
        ),
        19 => (
            frame(&request(
                "initialize",
                json!({"processId": null, "rootUri": "file:///", "capabilities": {}}),
            )),
            owed,
        ),
        20 => (
            frame(&request(
                "workspace/executeCommand",
                json!({"command": "heapsight.showReport", "arguments": [*rng.pick(&["nope", "../../etc/passwd"])]}),
            )),
            owed,
        ),
        // Well-formed requests in between.
        _ => (
            frame(&request(
                "textDocument/hover",
                json!({"textDocument": {"uri": uris[0]}, "position": {"line": LEAK_LINE, "character": rng.below(60)}}),
            )),
            owed,
        ),
    }
}

/// A length too long swallows the start of whatever follows: here a notification that
/// owes nothing.
fn too_long(rng: &mut Rng, body: &str) -> Vec<u8> {
    let extra = 1 + rng.below(40) as usize;
    let mut out = format!("Content-Length: {}\r\n\r\n{body}", body.len() + extra).into_bytes();
    let pad = json!({"jsonrpc": "2.0", "method": "$/heapsight/pad", "params": "x".repeat(60)});
    out.extend(frame(&pad.to_string()));
    out
}

/// Replies (messages with an id and no method) by id.
fn replies(client: &Client) -> HashMap<String, Vec<Value>> {
    let mut by_id: HashMap<String, Vec<Value>> = HashMap::new();
    for m in &client.received {
        if m.get("method").is_none() {
            if let Some(id) = m.get("id") {
                by_id.entry(id.to_string()).or_default().push(m.clone());
            }
        }
    }
    by_id
}

#[test]
fn thousands_of_random_and_malformed_messages_then_a_correct_answer() {
    let workspace = fixture_workspace("listener-leak", "stress-fuzz");
    let root = workspace.0.clone();
    let main = root.join("main.js");
    let outside = std::env::temp_dir().join(format!("heapsight-canary-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&outside);
    std::fs::create_dir_all(&outside).unwrap();
    let canary = outside.join("secret.js");
    let token = format!("CANARY-{}-7d1f", std::process::id());
    std::fs::write(
        &canary,
        format!("// {token}\nbus.on('data', () => {{}});\n"),
    )
    .unwrap();
    let marker = outside.join("command-ran");
    let world = World {
        root: root.display().to_string(),
        canary_path: canary.display().to_string(),
        marker: marker.display().to_string(),
    };

    let mut client = Client::start(&root, capabilities(), json!({}));
    client.await_notification::<StatusNotification>(|s| s.state == "ready" && s.findings == 1);
    client.notify_raw(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": format!("file://{}/scratch.js", world.root), "languageId": "javascript", "version": 1, "text": "let a = 1;\n"}}),
    );

    let seed = std::env::var("HEAPSIGHT_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0001_u64);
    let mut rng = Rng(seed);
    const MESSAGES: usize = 4000;
    let base = client.reserve_ids(MESSAGES as i64 + 1);
    let mut owed = Vec::new();
    let mut sent = Vec::new();
    let mut bytes_sent = 0usize;
    let started = Instant::now();
    for n in 0..MESSAGES {
        let id = base + n as i64;
        let (bytes, what) = if rng.below(25) == 0 {
            let body = json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/codeLens", "params": {"textDocument": {"uri": uri(&main)}}});
            (too_long(&mut rng, &body.to_string()), Owed::NullError)
        } else {
            random_message(&mut rng, &world, id)
        };
        bytes_sent += bytes.len();
        client.send_bytes(&bytes);
        sent.push(bytes);
        owed.push(what);
    }
    // Everything is read and answered before this, in order of arrival.
    check_hover_on_the_leak(&mut client, &main, LEAK_LINE, &format!("seed {seed:#x}"));
    let mut must_reply: Vec<(Value, Option<i64>)> = Vec::new();
    let mut null_errors_owed = 0;
    for what in &owed {
        match what {
            Owed::Reply(id) => must_reply.push((id.clone(), None)),
            Owed::Error(id, code) => must_reply.push((id.clone(), Some(*code))),
            Owed::NullError => null_errors_owed += 1,
            Owed::Nothing => {}
        }
    }
    // Replies may come out of order (four requests run at once): wait for all of them, or
    // a minute, then say which are missing.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut by_id = replies(&client);
    while Instant::now() < deadline
        && must_reply
            .iter()
            .any(|(id, _)| !by_id.contains_key(&id.to_string()))
    {
        client.pump(Duration::from_millis(200));
        by_id = replies(&client);
    }
    let elapsed = started.elapsed();
    let mut wrong = Vec::new();
    let mut seen = HashSet::new();
    for (id, code) in &must_reply {
        let got = by_id.get(&id.to_string()).cloned().unwrap_or_default();
        // The same id may be owed twice (a string id drawn twice): count per id.
        let times = must_reply.iter().filter(|(i, _)| i == id).count();
        if !seen.insert(id.to_string()) {
            continue;
        }
        if got.len() != times {
            let sent = id
                .as_i64()
                .and_then(|i| usize::try_from(i - base).ok())
                .and_then(|n| sent.get(n))
                .map(|b| String::from_utf8_lossy(b).into_owned());
            wrong.push(format!(
                "id {id}: {} replies, {times} owed; sent: {sent:?}",
                got.len()
            ));
        }
        if let Some(code) = code {
            if got.iter().any(|r| r["error"]["code"] != json!(code)) {
                wrong.push(format!("id {id}: wanted error {code}, got {got:?}"));
            }
        }
    }
    let null_errors = by_id.get("null").map_or(0, Vec::len);
    assert!(
        wrong.is_empty(),
        "seed {seed:#x}: {}",
        wrong[..wrong.len().min(20)].join("\n")
    );
    assert!(
        null_errors >= null_errors_owed,
        "seed {seed:#x}: {null_errors} errors for unreadable messages, {null_errors_owed} owed"
    );
    let everything = serde_json::to_string(&client.received).unwrap();
    assert!(
        !everything.contains(&token),
        "seed {seed:#x}: the canary outside the workspace came back"
    );
    assert!(
        !marker.exists(),
        "seed {seed:#x}: a command from a message ran a program"
    );
    // Diagnostics are still right: the leak on its line for a freshly opened main.js.
    let text = std::fs::read_to_string(&main).unwrap();
    client.notify_raw(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri(&main), "languageId": "javascript", "version": 9000, "text": text}}),
    );
    let wanted = uri(&main);
    let published = client.await_notification::<PublishDiagnostics>(|p| {
        p.uri.as_str() == wanted && p.version == Some(9000)
    });
    assert_eq!(
        published
            .diagnostics
            .iter()
            .map(|d| d.range.start.line)
            .collect::<Vec<_>>(),
        vec![LEAK_LINE]
    );
    eprintln!(
        "fuzz: seed {seed:#x}, {MESSAGES} messages ({bytes_sent} bytes), {} replies owed, \
         {null_errors} errors for unreadable messages ({null_errors_owed} owed), {:.1} s",
        must_reply.len(),
        elapsed.as_secs_f64()
    );
    assert!(client.shutdown().success());
    let _ = std::fs::remove_dir_all(&outside);
}

/// A document of `lines`, as the server should have it.
fn joined(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn an_edit_storm_during_an_analysis_ends_with_diagnostics_for_the_last_version() {
    let workspace = fixture_workspace("listener-leak", "stress-edits");
    let root = workspace.0.clone();
    let main = root.join("main.js");
    let mut client = Client::start(&root, capabilities(), json!({}));
    client.await_notification::<StatusNotification>(|s| s.state == "ready" && s.findings == 1);
    let original = std::fs::read_to_string(&main).unwrap();
    let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
    let leak_line = |lines: &[String]| {
        lines
            .iter()
            .position(|l| l.contains("bus.on('data'"))
            .unwrap() as u32
    };
    let main_uri = uri(&main);
    client.notify_raw(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": main_uri, "languageId": "javascript", "version": 1, "text": original}}),
    );
    // Where the leak is in every version sent.
    let mut expected: HashMap<i64, u32> = HashMap::from([(1, leak_line(&lines))]);
    // No cache: the analysis reads the three snapshots again, which takes a while.
    std::fs::remove_dir_all(root.join(".heapsight/.cache")).unwrap();
    let analyze = client.send_request(
        "workspace/executeCommand",
        json!({"command": "heapsight.analyze"}),
    );
    client.await_notification::<StatusNotification>(|s| s.state == "analyzing");
    let seed = 0x5EED_0002_u64;
    let mut rng = Rng(seed);
    let mut version = 1;
    let mut edits_during = 0;
    let mut sent = 0;
    // Edits until the analysis has answered, and at least 300.
    loop {
        let done = client
            .received
            .iter()
            .any(|m| m.get("method").is_none() && m["id"] == json!(analyze));
        if done && sent >= 300 {
            break;
        }
        if !done {
            edits_during += 1;
        }
        version += 1;
        let mut changes = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let ours: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].starts_with("// storm"))
                .collect();
            if !ours.is_empty() && rng.below(3) == 0 {
                let at = *rng.pick(&ours);
                lines.remove(at);
                changes.push(json!({"range": {"start": {"line": at, "character": 0}, "end": {"line": at + 1, "character": 0}}, "text": ""}));
            } else {
                let at = rng.below(lines.len() as u64 + 1) as usize;
                let line = format!("// storm {version} é😀");
                changes.push(json!({"range": {"start": {"line": at, "character": 0}, "end": {"line": at, "character": 0}}, "text": format!("{line}\n")}));
                lines.insert(at, line);
            }
        }
        if rng.below(20) == 0 {
            changes = vec![json!({"text": joined(&lines)})];
        }
        expected.insert(version, leak_line(&lines));
        client.notify_raw(
            "textDocument/didChange",
            json!({"textDocument": {"uri": main_uri, "version": version}, "contentChanges": changes}),
        );
        sent += 1;
        // Let the reader see the analysis' reply now and then.
        if sent % 50 == 0 {
            let _ = client.request_raw(
                "textDocument/codeLens",
                json!({"textDocument": {"uri": main_uri}}),
            );
        }
    }
    let reply = client.reply(analyze);
    assert_eq!(reply["result"]["state"], json!("ready"), "{reply}");
    let last = version;
    let published = client.await_notification::<PublishDiagnostics>(|p| {
        p.uri.as_str() == main_uri && p.version == Some(last as i32)
    });
    assert_eq!(
        published
            .diagnostics
            .iter()
            .map(|d| d.range.start.line)
            .collect::<Vec<_>>(),
        vec![expected[&last]],
        "seed {seed:#x}"
    );
    // Every publication was for a version that was current, with the leak where that
    // version had it.
    let mut misplaced = Vec::new();
    let mut publications = 0;
    for m in &client.received {
        if m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == main_uri {
            let Some(v) = m["params"]["version"].as_i64() else {
                continue;
            };
            publications += 1;
            let lines: Vec<u64> = m["params"]["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["range"]["start"]["line"].as_u64().unwrap())
                .collect();
            if lines != vec![u64::from(expected[&v])] {
                misplaced.push(format!("version {v}: {lines:?}, leak on {}", expected[&v]));
            }
        }
    }
    assert!(misplaced.is_empty(), "seed {seed:#x}: {misplaced:?}");
    // The text the server holds is the client's: a hover on the moved leak works.
    check_hover_on_the_leak(&mut client, &main, expected[&last], "after the storm");
    eprintln!(
        "edits: {sent} didChange ({edits_during} while the analysis ran), {publications} \
         versioned publications checked, leak moved from line {} to {}",
        LEAK_LINE + 1,
        expected[&last] + 1
    );
    assert!(
        edits_during > 0,
        "no edit raced the analysis; it answered first"
    );
    assert!(client.shutdown().success());
}

#[test]
fn a_cancel_storm_leaves_every_request_answered_once() {
    let workspace = fixture_workspace("listener-leak", "stress-cancel");
    let root = workspace.0.clone();
    let main = root.join("main.js");
    let mut client = Client::start(&root, capabilities(), json!({}));
    client.await_notification::<StatusNotification>(|s| s.state == "ready" && s.findings == 1);
    std::fs::remove_dir_all(root.join(".heapsight/.cache")).unwrap();
    let seed = 0x5EED_0003_u64;
    let mut rng = Rng(seed);
    let main_uri = uri(&main);
    let mut ids = Vec::new();
    let mut analyses = Vec::new();
    let mut cancels = 0;
    for round in 0..2000 {
        let id = if round % 400 == 0 {
            let id = client.send_request(
                "workspace/executeCommand",
                json!({"command": "heapsight.analyze"}),
            );
            analyses.push(id);
            id
        } else {
            let method = *rng.pick(&["textDocument/hover", "textDocument/codeLens"]);
            client.send_request(
                method,
                json!({"textDocument": {"uri": main_uri}, "position": {"line": LEAK_LINE, "character": 3}}),
            )
        };
        ids.push(id);
        for _ in 0..rng.below(3) {
            let target = match rng.below(5) {
                0 => json!(id),
                1 => json!(*rng.pick(&ids)),
                2 => {
                    json!(*rng.pick(&analyses.clone().into_iter().chain([id]).collect::<Vec<_>>()))
                }
                3 => {
                    json!(*rng.pick(&[json!(-1), json!(i64::MAX), json!("nope"), json!(id + 1000)]))
                }
                _ => {
                    json!(*rng.pick(&[json!(1.5), json!(null), json!({"id": 1}), json!(u64::MAX)]))
                }
            };
            client.notify_raw("$/cancelRequest", json!({"id": target}));
            cancels += 1;
        }
        if rng.below(100) == 0 {
            client.notify_raw("$/cancelRequest", json!({}));
            client.notify_raw("$/cancelRequest", json!(7));
            cancels += 2;
        }
    }
    let mut cancelled = 0;
    let mut outcomes = HashMap::new();
    for &id in &ids {
        let reply = client.reply(id);
        let code = reply["error"]["code"].as_i64();
        if code == Some(-32800) {
            cancelled += 1;
        } else {
            assert!(code.is_none(), "id {id}: {reply}");
        }
        if analyses.contains(&id) {
            outcomes.insert(id, reply);
        }
    }
    let by_id = replies(&client);
    let twice: Vec<&i64> = ids
        .iter()
        .filter(|id| by_id.get(&id.to_string()).map_or(0, Vec::len) != 1)
        .collect();
    assert!(
        twice.is_empty(),
        "seed {seed:#x}: not one reply each: {twice:?}"
    );
    // The analysis still runs to the end when asked once more, and the leak is there.
    let status = client
        .request_raw(
            "workspace/executeCommand",
            json!({"command": "heapsight.analyze"}),
        )
        .unwrap();
    assert_eq!(
        (status["state"].clone(), status["findings"].clone()),
        (json!("ready"), json!(1)),
        "{status}"
    );
    check_hover_on_the_leak(&mut client, &main, LEAK_LINE, "after the cancel storm");
    eprintln!(
        "cancel: {} requests ({} analyses), {cancels} cancel notifications, {cancelled} \
         requests answered `cancelled`; analyses: {:?}",
        ids.len(),
        analyses.len(),
        outcomes
            .values()
            .map(|r| r["error"]["code"]
                .as_i64()
                .map_or_else(|| r["result"]["state"].to_string(), |c| c.to_string()))
            .collect::<Vec<_>>()
    );
    assert!(client.shutdown().success());
}

#[test]
fn a_client_that_stops_reading_does_not_grow_the_server() {
    let workspace = fixture_workspace("listener-leak", "stress-noread");
    let root = workspace.0.clone();
    let main = root.join("main.js");
    // No showDocument or progress: nothing the server asks may wait on us.
    let mut client = Client::start(&root, json!({}), json!({}));
    client.await_notification::<StatusNotification>(|s| s.state == "ready" && s.findings == 1);
    check_hover_on_the_leak(&mut client, &main, LEAK_LINE, "before");
    let pid = client.pid();
    let before = rss_kib(pid);
    client.pause_reading();
    // A hover answer is a few kB: this is ~100 MB of answers if the server kept them.
    const REQUESTS: i64 = 30_000;
    let base = client.reserve_ids(REQUESTS);
    let mut stdin = client.stdin_handle();
    let main_uri = uri(&main);
    let written = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let progress = written.clone();
    let writer = std::thread::spawn(move || {
        for n in 0..REQUESTS {
            let body = json!({"jsonrpc": "2.0", "id": base + n, "method": "textDocument/hover", "params": {"textDocument": {"uri": main_uri}, "position": {"line": LEAK_LINE, "character": 3}}});
            if stdin.write_all(&frame(&body.to_string())).is_err() {
                return;
            }
            progress.store(n + 1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    // Watch the server while the writer runs into the full pipes: the written count must
    // stop moving (backpressure) and memory must stay put.
    let started = Instant::now();
    let mut peak = before;
    let mut last_written = -1;
    let mut still_since = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
        peak = peak.max(rss_kib(pid));
        let now = written.load(std::sync::atomic::Ordering::SeqCst);
        if now != last_written {
            last_written = now;
            still_since = Instant::now();
        } else if still_since.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let stalled_at = written.load(std::sync::atomic::Ordering::SeqCst);
    assert!(client.is_running(), "the server died");
    assert!(
        stalled_at < REQUESTS,
        "the server read all {REQUESTS} requests while nobody read its answers"
    );
    let grown_kib = peak.saturating_sub(before);
    eprintln!(
        "no-read: RSS before {before} KiB, peak {peak} KiB (+{grown_kib} KiB) with \
         {stalled_at} of {REQUESTS} requests accepted before the server stopped reading"
    );
    assert!(
        grown_kib < 64 * 1024,
        "the server grew by {grown_kib} KiB while nobody read its output"
    );
    // Reading again: every request is answered, in full.
    client.resume_reading();
    writer.join().unwrap();
    let mut answered = 0;
    for n in 0..REQUESTS {
        let reply = client.reply(base + n);
        assert!(reply["result"]["contents"]["value"].is_string(), "{reply}");
        answered += 1;
    }
    check_hover_on_the_leak(&mut client, &main, LEAK_LINE, "after reading again");
    eprintln!(
        "no-read: {answered} answers after reading again, {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
    assert!(client.shutdown().success());
}
