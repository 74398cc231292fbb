//! `--track-allocations` on real Node.js processes: a started `node` is held before its first
//! line until tracking is on (so start-up allocations carry a stack), attaching tracks from
//! then on and says so, a wrapper falls back to attach-time tracking, and the manifest
//! records how. Needs `node` on the PATH.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heapsight_capture::{
    capture, AllocationTracking, Mode, Options, Output, Reporter, Source, TrackingSince,
    INSPECT_FLAG,
};
use serde_json::Value;

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("heapsight-tracking-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch folder");
    dir
}

/// Its first line allocates a `StartupMarker`; the module-level store gets 300 entries at
/// start-up and one per request during the load.
const APP: &str = r#"globalThis.startupMarker = new StartupMarker('made on the first line');
function StartupMarker(why) { this.why = why; }
const http = require('http');
class Entry { constructor(key) { this.key = key; this.body = 'x'.repeat(100) + key; } }
const store = [];
for (let i = 0; i < 300; i++) store.push(new Entry('boot-' + i));
const server = http.createServer((req, res) => {
  store.push(new Entry(req.url));
  res.end('ok');
});
server.listen(0, '127.0.0.1', () => console.log('app ready port=' + server.address().port));
"#;

/// Sends `n` sequential requests to the port given as first argument.
const LOAD: &str = r#"
const http = require('http');
const port = Number(process.argv[2]);
let left = Number(process.argv[3] || 50);
(function next() {
  if (left-- === 0) return;
  http.get({ host: '127.0.0.1', port, path: '/item/' + left }, (res) => { res.resume(); res.on('end', next); });
})();
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write script");
    path
}

/// Keeps the notes a capture gives.
#[derive(Default)]
struct Notes(Mutex<Vec<String>>);

impl Reporter for Notes {
    fn note(&self, message: &str) {
        self.0.lock().expect("lock").push(message.to_owned());
    }
}

impl Notes {
    fn all(&self) -> Vec<String> {
        self.0.lock().expect("lock").clone()
    }
}

/// What the tests read from a snapshot's allocation sections.
struct Traces {
    function_infos: usize,
    tree_len: usize,
    /// `trace_node_id` of each object node with one of the names asked for.
    by_name: Vec<(String, u64)>,
    /// Script names of the function infos.
    scripts: Vec<String>,
}

/// Reads the trace sections and the `trace_node_id` of the objects named in `names`.
fn traces(path: &Path, names: &[&str]) -> Traces {
    let text = std::fs::read_to_string(path).expect("read snapshot");
    let json: Value = serde_json::from_str(&text).expect("the snapshot is JSON");
    let meta = &json["snapshot"]["meta"];
    let fields = meta["node_fields"].as_array().expect("node_fields");
    let at = |name: &str| fields.iter().position(|f| f == name).expect(name);
    let (type_at, name_at, trace_at) = (at("type"), at("name"), at("trace_node_id"));
    let object_type = meta["node_types"][0]
        .as_array()
        .and_then(|types| types.iter().position(|t| t == "object"))
        .expect("an object node type") as u64;
    let strings = json["strings"].as_array().expect("strings");
    let string = |i: &Value| {
        i.as_u64()
            .and_then(|i| strings.get(i as usize))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let nodes = json["nodes"].as_array().expect("nodes");
    let by_name = nodes
        .chunks(fields.len())
        .filter(|n| n[type_at].as_u64() == Some(object_type))
        .filter_map(|n| {
            let name = string(&n[name_at]);
            names
                .contains(&name.as_str())
                .then(|| (name, n[trace_at].as_u64().unwrap_or(0)))
        })
        .collect();
    let info_fields = meta["trace_function_info_fields"]
        .as_array()
        .expect("trace_function_info_fields");
    let script_at = info_fields
        .iter()
        .position(|f| f == "script_name")
        .expect("script_name");
    let infos = json["trace_function_infos"].as_array().expect("infos");
    Traces {
        function_infos: infos.len() / info_fields.len(),
        tree_len: json["trace_tree"].as_array().map_or(0, Vec::len),
        by_name,
        scripts: infos
            .chunks(info_fields.len())
            .map(|f| string(&f[script_at]))
            .collect(),
    }
}

fn node_major() -> u32 {
    let out = Command::new("node")
        .arg("--version")
        .output()
        .expect("these tests need `node` on the PATH");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .expect("a version")
}

/// `node --v8-options`, as the flag names it lists (`--compact` is listed for `--no-compact`).
fn v8_options() -> String {
    let out = Command::new("node")
        .arg("--v8-options")
        .output()
        .expect("these tests need `node` on the PATH");
    String::from_utf8_lossy(&out.stdout).replace('_', "-")
}

#[tokio::test]
async fn a_started_node_is_tracked_from_its_first_line() {
    let dir = scratch("start");
    let app = write(&dir, "app.js", APP);
    let load = write(&dir, "load.js", LOAD);
    let out = dir.join("out");
    let mut opts = Options::new(
        Source::Spawn {
            command: vec!["node".into(), app.to_string_lossy().into_owned()],
            cwd: Some(dir.clone()),
            env: vec![],
        },
        Output::Dir(out.clone()),
    );
    opts.track_allocations = true;
    opts.ready_line = Some(r"app ready port=(\d+)".into());
    opts.load = Some(format!("node {} {{port}} 40", load.display()));
    opts.idle = Duration::from_millis(200);
    opts.gc_rounds = 2;
    let notes = Arc::new(Notes::default());
    let done = capture(&opts, notes.clone())
        .await
        .expect("tracked capture succeeds");

    let manifest = &done.manifest;
    assert_eq!(manifest.mode, Mode::Spawn);
    // Each flag is passed where this node lists it (Node 18 has no `--no-maglev-inlining`).
    assert!((18..=26).contains(&node_major()));
    let listed = v8_options();
    let expected: Vec<String> = heapsight_capture::TRACKING_V8_FLAGS
        .iter()
        .filter(|f| listed.contains(&format!("--{} ", f.trim_start_matches("--no-"))))
        .map(|f| f.to_string())
        .collect();
    assert!(expected.len() >= 2, "{expected:?}");
    assert_eq!(
        manifest.allocation_tracking,
        Some(AllocationTracking {
            since: TrackingSince::Start,
            flags: expected.clone(),
        })
    );
    let attach = &manifest.phases[0].summary;
    assert!(attach.contains("from the first line"), "{attach}");
    let notes = notes.all();
    if expected.len() == heapsight_capture::TRACKING_V8_FLAGS.len() {
        assert!(notes.is_empty(), "{notes:?}");
    } else {
        assert!(
            notes.len() == 1 && notes[0].contains("tracking without it"),
            "a missing flag is said: {notes:?}"
        );
    }
    let text = std::fs::read_to_string(out.join("manifest.json")).expect("manifest");
    assert!(
        text.contains(r#""since": "start""#),
        "the manifest says it: {text}"
    );

    let c = traces(&out.join("C.heapsnapshot"), &["StartupMarker", "Entry"]);
    assert!(c.function_infos > 0 && c.tree_len > 0);
    let app_url = format!("file://{}", app.display());
    assert!(
        c.scripts
            .iter()
            .any(|s| *s == app_url || *s == app.to_string_lossy()),
        "a function of app.js allocated: {:?}",
        c.scripts
    );
    let marker: Vec<u64> = c
        .by_name
        .iter()
        .filter(|(n, _)| n == "StartupMarker")
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(marker.len(), 1, "one StartupMarker object");
    assert_ne!(
        marker[0], 0,
        "the first line's object has a stack: the target waited for tracking"
    );
    let entries: Vec<u64> = c
        .by_name
        .iter()
        .filter(|(n, _)| n == "Entry")
        .map(|(_, t)| *t)
        .collect();
    assert!(entries.len() >= 340, "{} entries", entries.len());
    assert!(
        entries.iter().all(|t| *t != 0),
        "every entry, from start-up and from the load, has a stack"
    );
    for label in ["A", "B"] {
        let t = traces(
            &out.join(format!("{label}.heapsnapshot")),
            &["StartupMarker"],
        );
        assert!(t.function_infos > 0 && t.tree_len > 0, "{label}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn attaching_tracks_from_then_and_says_so() {
    let dir = scratch("attach");
    let app = write(&dir, "app.js", APP);
    let mut child = Command::new("node")
        .arg(INSPECT_FLAG)
        .arg(&app)
        .stdout(Stdio::null())
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
    let out = dir.join("out");
    let mut opts = Options::new(Source::Url(url), Output::Dir(out.clone()));
    opts.track_allocations = true;
    opts.idle = Duration::ZERO;
    opts.gc_rounds = 1;
    // Give the app time to run its start-up before we attach.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let notes = Arc::new(Notes::default());
    let result = capture(&opts, notes.clone()).await;
    let _ = child.kill();
    let _ = child.wait();
    let done = result.expect("attach capture succeeds");
    assert_eq!(
        done.manifest.allocation_tracking,
        Some(AllocationTracking {
            since: TrackingSince::Attach,
            flags: vec![],
        })
    );
    let notes = notes.all();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("allocation tracking starts now")
                && n.contains("have no allocation stack")),
        "{notes:?}"
    );
    let c = traces(&out.join("C.heapsnapshot"), &["StartupMarker"]);
    assert!(c.function_infos > 0 && c.tree_len > 0);
    assert_eq!(
        c.by_name.iter().map(|(_, t)| *t).collect::<Vec<_>>(),
        [0],
        "made before attach: no stack"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_wrapper_is_tracked_from_attach_time() {
    let dir = scratch("wrapper");
    let app = write(&dir, "app.js", APP);
    let script = write(&dir, "run.sh", "exec node app.js\n");
    let out = dir.join("out");
    let mut opts = Options::new(
        Source::Spawn {
            command: vec!["sh".into(), script.to_string_lossy().into_owned()],
            cwd: Some(dir.clone()),
            env: vec![],
        },
        Output::Dir(out.clone()),
    );
    opts.track_allocations = true;
    opts.ready_line = Some(r"app ready port=(\d+)".into());
    opts.idle = Duration::ZERO;
    opts.gc_rounds = 1;
    let notes = Arc::new(Notes::default());
    let done = capture(&opts, notes.clone())
        .await
        .expect("capture through a wrapper succeeds");
    assert_eq!(
        done.manifest.allocation_tracking,
        Some(AllocationTracking {
            since: TrackingSince::Attach,
            flags: vec![],
        })
    );
    let notes = notes.all();
    assert!(
        notes.iter().any(|n| n.contains("tracked from attach time")),
        "{notes:?}"
    );
    let c = traces(&out.join("C.heapsnapshot"), &[]);
    assert!(c.function_infos > 0 && c.tree_len > 0);
    assert!(!app.as_os_str().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn signal_mode_refuses_tracking() {
    let dir = scratch("signal");
    let mut opts = Options::new(
        Source::Signal {
            pid: std::process::id() as i32,
            signal: "SIGUSR2".into(),
            dir: dir.clone(),
        },
        Output::Dir(dir.join("out")),
    );
    opts.track_allocations = true;
    let err = capture(&opts, Arc::new(heapsight_capture::Silent))
        .await
        .expect_err("no inspector, no tracking");
    assert!(err.to_string().contains("--track-allocations"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
