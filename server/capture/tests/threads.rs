//! `worker_threads` workers captured beside the main thread, on real Node.js processes: a
//! worker alive at A is snapshotted at A, B and C into `threads/<threadId>/` with its own
//! manifest and scripts; a worker the load starts is attached as it starts (its A taken
//! before its first line, then let run); a worker that ends before C is kept incomplete
//! with a note while the capture succeeds; and `Options::threads` turns it all off. Needs
//! `node` on the PATH.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heapsight_capture::{
    capture, Capture, Manifest, Options, Output, Part, PartKind, Phase, Reporter, Source,
};
use serde_json::Value;

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heapsight-threads-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch folder");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write script");
    path
}

/// The worker of every test: a module-level cache that keeps one `CacheEntry` (about 2 kB)
/// per message, and acknowledges each.
const CACHE_WORKER: &str = r#"
const { parentPort } = require('worker_threads');
class CacheEntry { constructor(key) { this.key = key; this.body = 'c'.repeat(2000) + key; } }
const cache = new Map();
parentPort.on('message', (key) => {
  cache.set(key, new CacheEntry(key));
  parentPort.postMessage('stored');
});
"#;

/// An HTTP server handing each request to `cache-worker.js` and answering once the worker
/// has stored it. `WORKER_AT` says when the worker starts: `boot` (before the ready line) or
/// `first-request`. `GET /stop` ends the worker 1.5 s later.
const APP: &str = r#"
const http = require('http');
const path = require('path');
const { Worker } = require('worker_threads');
const waiting = [];
let worker = null;
function startWorker() {
  worker = new Worker(path.join(__dirname, 'cache-worker.js'));
  worker.on('message', () => { const res = waiting.shift(); if (res) res.end('ok'); });
  return worker;
}
const server = http.createServer((req, res) => {
  if (req.url === '/stop') {
    res.end('stopping');
    setTimeout(() => worker.terminate(), 1500);
    return;
  }
  if (!worker) startWorker();
  waiting.push(res);
  worker.postMessage(req.url);
});
const listen = () => server.listen(0, '127.0.0.1', () => console.log('app ready port=' + server.address().port));
if (process.env.WORKER_AT === 'boot') startWorker().once('online', listen); else listen();
"#;

/// Sends `n` sequential requests to the port given as first argument, then `/stop` if the
/// third argument says so.
const LOAD: &str = r#"
const http = require('http');
const port = Number(process.argv[2]);
let left = Number(process.argv[3]);
const stop = process.argv[4] === 'stop';
const get = (path, then) => http.get({ host: '127.0.0.1', port, path }, (res) => { res.resume(); res.on('end', then); });
(function next() {
  if (left-- === 0) { if (stop) get('/stop', () => {}); return; }
  get('/item/' + left, next);
})();
"#;

/// Keeps the phase summaries and notes a capture gives.
#[derive(Default)]
struct Heard {
    summaries: Mutex<Vec<(Phase, String)>>,
    notes: Mutex<Vec<String>>,
}

impl Reporter for Heard {
    fn phase_finished(&self, phase: Phase, _took: Duration, summary: &str) {
        self.summaries
            .lock()
            .expect("lock")
            .push((phase, summary.to_owned()));
    }
    fn note(&self, message: &str) {
        self.notes.lock().expect("lock").push(message.to_owned());
    }
}

impl Heard {
    fn summary(&self, phase: Phase) -> String {
        self.summaries
            .lock()
            .expect("lock")
            .iter()
            .find(|(p, _)| *p == phase)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }
    fn notes(&self) -> Vec<String> {
        self.notes.lock().expect("lock").clone()
    }
}

/// Captures `app.js` started with `WORKER_AT=worker_at` under the load (`requests`, then
/// `/stop` if `stop`).
async fn capture_app(
    name: &str,
    worker_at: &str,
    requests: u32,
    stop: bool,
    idle: Duration,
    tune: impl FnOnce(&mut Options),
) -> (Capture, Arc<Heard>) {
    let dir = scratch(name);
    let app = write(&dir, "app.js", APP);
    write(&dir, "cache-worker.js", CACHE_WORKER);
    let load = write(&dir, "load.js", LOAD);
    let mut opts = Options::new(
        Source::Spawn {
            command: vec!["node".into(), app.to_string_lossy().into_owned()],
            cwd: Some(dir.clone()),
            env: vec![("WORKER_AT".into(), worker_at.into())],
        },
        Output::Dir(dir.join("out")),
    );
    opts.ready_line = Some(r"app ready port=(\d+)".into());
    let stop = if stop { " stop" } else { "" };
    opts.load = Some(format!("node {} {{port}} {requests}{stop}", load.display()));
    opts.idle = idle;
    opts.gc_rounds = 1;
    tune(&mut opts);
    let heard = Arc::new(Heard::default());
    let done = capture(&opts, heard.clone())
        .await
        .unwrap_or_else(|e| panic!("the capture succeeds: {e}; notes: {:?}", heard.notes()));
    (done, heard)
}

/// How many objects of class `class` a snapshot holds; the file must be one JSON document.
fn count_objects(path: &Path, class: &str) -> usize {
    let text = std::fs::read_to_string(path).expect("read snapshot");
    let json: Value = serde_json::from_str(&text).expect("the snapshot is JSON");
    let meta = &json["snapshot"]["meta"];
    let fields = meta["node_fields"].as_array().expect("node_fields");
    let at = |name: &str| fields.iter().position(|f| f == name).expect(name);
    let (type_at, name_at) = (at("type"), at("name"));
    let object = meta["node_types"][0]
        .as_array()
        .and_then(|types| types.iter().position(|t| t == "object"))
        .expect("an object node type") as u64;
    let strings = json["strings"].as_array().expect("strings");
    json["nodes"]
        .as_array()
        .expect("nodes")
        .chunks(fields.len())
        .filter(|n| n[type_at].as_u64() == Some(object))
        .filter(|n| {
            n[name_at]
                .as_u64()
                .and_then(|i| strings.get(i as usize))
                .and_then(Value::as_str)
                == Some(class)
        })
        .count()
}

/// The one thread part of a capture, and its manifest.
fn the_thread(done: &Capture) -> (Part, Manifest) {
    let threads: Vec<&Part> = done
        .manifest
        .parts
        .iter()
        .filter(|p| p.kind == PartKind::Thread)
        .collect();
    assert_eq!(threads.len(), 1, "{:#?}", done.manifest.parts);
    let part = threads[0].clone();
    let manifest = Manifest::read(&done.dir.join(&part.folder)).expect("the part's manifest");
    (part, manifest)
}

/// What every thread part holds, whatever happened to it.
fn check_part(done: &Capture, part: &Part, manifest: &Manifest) {
    let thread_id = part.thread_id.expect("a thread id");
    assert_eq!(part.folder, format!("threads/{thread_id}"));
    assert!(part.title.contains("cache-worker.js"), "{}", part.title);
    assert!(
        part.url
            .as_deref()
            .is_some_and(|u| u.ends_with("/cache-worker.js")),
        "{:?}",
        part.url
    );
    assert_eq!(part.pid, done.manifest.pid);
    let origin = manifest.part_of.as_ref().expect("part_of");
    assert_eq!(origin.kind, PartKind::Thread);
    assert_eq!(origin.thread_id, Some(thread_id));
    assert_eq!(origin.title, part.title);
    assert_eq!(manifest.pid, done.manifest.pid);
    assert_eq!(manifest.node_version, done.manifest.node_version);
    for file in &manifest.files {
        let path = done.dir.join(&part.folder).join(&file.file);
        assert_eq!(
            std::fs::metadata(&path).expect("listed file").len(),
            file.bytes
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(done.dir.join(&part.folder))
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn labels(manifest: &Manifest) -> Vec<&str> {
    manifest.files.iter().map(|f| f.label.as_str()).collect()
}

/// Removes a test's scratch folder (the capture folder's parent).
fn clean(done: &Capture) {
    if let Some(scratch) = done.dir.parent() {
        let _ = std::fs::remove_dir_all(scratch);
    }
}

#[tokio::test]
async fn a_live_workers_heap_is_captured_at_a_b_and_c() {
    let (done, heard) = capture_app(
        "live",
        "boot",
        60,
        false,
        Duration::from_millis(300),
        |_| {},
    )
    .await;
    let (part, manifest) = the_thread(&done);
    check_part(&done, &part, &manifest);
    assert!(part.complete, "{part:#?}");
    assert_eq!(part.note, None);
    assert_eq!(labels(&manifest), ["A", "B", "C"]);

    // The cache lives in the worker's heap: empty at A, one entry per request at C, and
    // never in the main thread's.
    let folder = done.dir.join(&part.folder);
    assert_eq!(
        count_objects(&folder.join("A.heapsnapshot"), "CacheEntry"),
        0
    );
    assert!(count_objects(&folder.join("C.heapsnapshot"), "CacheEntry") >= 60);
    assert_eq!(
        count_objects(&done.dir.join("C.heapsnapshot"), "CacheEntry"),
        0
    );

    // The worker's scripts are recorded in its own session, with their source.
    let script = manifest
        .scripts
        .iter()
        .find(|s| s.url.ends_with("/cache-worker.js"))
        .unwrap_or_else(|| panic!("the worker's script: {:#?}", manifest.scripts));
    assert!(script
        .source
        .as_deref()
        .is_some_and(|s| s.contains("class CacheEntry")));
    assert!(!done
        .manifest
        .scripts
        .iter()
        .any(|s| s.url.ends_with("/cache-worker.js")));

    for phase in [Phase::SnapshotA, Phase::SnapshotB, Phase::SnapshotC] {
        let summary = heard.summary(phase);
        assert!(
            summary.contains("main thread + 1 worker thread ("),
            "{summary}"
        );
        assert!(summary.contains(&part.folder), "{summary}");
    }
    assert!(heard.summary(Phase::Scripts).contains(&part.folder));
    assert!(heard.notes().is_empty(), "{:?}", heard.notes());
    clean(&done);
}

#[tokio::test]
async fn a_worker_started_by_the_load_is_attached_as_it_starts() {
    let (done, heard) = capture_app(
        "started",
        "first-request",
        40,
        false,
        Duration::from_millis(300),
        |_| {},
    )
    .await;
    let (part, manifest) = the_thread(&done);
    check_part(&done, &part, &manifest);
    // Its A was taken as it started: it is complete, and says how.
    assert!(part.complete, "{part:#?}");
    assert_eq!(labels(&manifest), ["A", "B", "C"]);
    let note = part.note.clone().unwrap_or_default();
    assert!(
        note.contains("started during workload") && note.contains("before its first line"),
        "{note}"
    );
    assert_eq!(
        manifest.phases[0].phase,
        Phase::Workload,
        "{:#?}",
        manifest.phases
    );

    // Held before its first line: its baseline has no cache entry, nor even its class;
    // and it did run once released, since every request of the load was answered.
    let folder = done.dir.join(&part.folder);
    assert_eq!(
        count_objects(&folder.join("A.heapsnapshot"), "CacheEntry"),
        0
    );
    let baseline = std::fs::read_to_string(folder.join("A.heapsnapshot")).expect("read A");
    assert!(
        !baseline.contains("cache-worker.js"),
        "A was taken before the worker's script loaded"
    );
    assert!(count_objects(&folder.join("C.heapsnapshot"), "CacheEntry") >= 40);

    let workload = heard.summary(Phase::Workload);
    assert!(
        workload.contains(&format!("{} started: A taken", part.title)),
        "{workload}"
    );
    assert!(heard
        .summary(Phase::SnapshotA)
        .contains("main thread (no worker thread running)"));
    assert!(heard
        .summary(Phase::SnapshotB)
        .contains("main thread + 1 worker thread ("));
    clean(&done);
}

#[tokio::test]
async fn a_worker_that_ends_before_c_is_kept_incomplete() {
    let (done, heard) = capture_app("ends", "boot", 20, true, Duration::from_secs(3), |_| {}).await;
    let (part, manifest) = the_thread(&done);
    check_part(&done, &part, &manifest);
    assert!(!part.complete, "{part:#?}");
    let note = part.note.clone().unwrap_or_default();
    assert!(
        note.contains("ended during idle, before snapshot C: A and B were taken"),
        "{note}"
    );
    assert_eq!(labels(&manifest), ["A", "B"]);
    assert!(!done.dir.join(&part.folder).join("C.heapsnapshot").exists());
    // Its scripts could not be read after C, but the main capture is whole.
    assert!(manifest.scripts.is_empty());
    assert_eq!(done.manifest.files.len(), 3);
    assert!(heard
        .summary(Phase::Idle)
        .contains(&format!("{} ended", part.title)));
    assert!(heard
        .summary(Phase::SnapshotC)
        .contains("main thread (no worker thread running)"));
    assert!(
        heard
            .notes()
            .iter()
            .any(|n| n.contains("ended during idle")),
        "{:?}",
        heard.notes()
    );
    clean(&done);
}

#[tokio::test]
async fn threads_can_be_left_out() {
    let (done, heard) = capture_app("off", "boot", 10, false, Duration::from_millis(200), |o| {
        o.threads = false;
    })
    .await;
    assert!(done.manifest.parts.is_empty(), "{:#?}", done.manifest.parts);
    assert!(!done.dir.join("threads").exists());
    let summary = heard.summary(Phase::SnapshotA);
    assert!(
        summary.contains("main thread only (worker threads off)"),
        "{summary}"
    );
    clean(&done);
}

/// An HTTP GET of `path` on the app's port; the body, or what went wrong.
fn get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => return format!("cannot connect: {e}"),
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut answer = String::new();
    match stream.read_to_string(&mut answer) {
        Ok(_) => answer,
        Err(e) => format!("no answer: {e}"),
    }
}

#[tokio::test]
async fn a_failed_capture_leaves_no_worker_held() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = scratch("failed");
    let app = write(&dir, "app.js", APP);
    write(&dir, "cache-worker.js", CACHE_WORKER);
    // Attached to, so the target keeps running after the capture: a worker left held would
    // never answer.
    let mut child = Command::new("node")
        .arg("--inspect=127.0.0.1:0")
        .arg(&app)
        .env("WORKER_AT", "first-request")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("read");
    let url = line
        .trim()
        .strip_prefix("Debugger listening on ")
        .expect("inspector line")
        .to_owned();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut ready)
        .expect("read");
    let port: u16 = ready
        .trim()
        .rsplit('=')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");

    let mut opts = Options::new(Source::Url(url), Output::Dir(dir.join("out")));
    // The load starts the worker with a request, and fails without waiting for the answer:
    // the worker is held at its start when the capture ends, or attached just before.
    opts.load = Some(format!(
        "node -e \"require('http').get('http://127.0.0.1:{port}/item/first') \
         .on('finish', () => process.exit(3))\""
    ));
    opts.gc_rounds = 1;
    let result = capture(&opts, Arc::new(heapsight_capture::Silent)).await;
    let answer = get(port, "/item/after");
    let _ = child.kill();
    let _ = child.wait();
    assert!(result.is_err(), "the load failed, so does the capture");
    assert!(!dir.join("out").join("threads").exists());
    assert!(answer.ends_with("ok"), "the worker runs: {answer}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `node` started with allocation tracking runs under `--inspect-brk`, which holds every
/// worker thread at its start; the app here waits for its worker before its ready line, so
/// a worker left held would stall the capture until the ready timeout.
#[tokio::test]
async fn a_tracked_start_lets_its_boot_worker_run() {
    let started = std::time::Instant::now();
    let (done, _heard) = capture_app(
        "tracked-boot",
        "boot",
        20,
        false,
        Duration::from_millis(200),
        |opts| {
            opts.track_allocations = true;
            opts.ready_timeout = Duration::from_secs(20);
        },
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let (part, manifest) = the_thread(&done);
    assert!(part.complete, "{part:#?}");
    assert_eq!(labels(&manifest), ["A", "B", "C"]);
    let folder = done.dir.join(&part.folder);
    assert!(count_objects(&folder.join("C.heapsnapshot"), "CacheEntry") >= 20);
    clean(&done);
}
