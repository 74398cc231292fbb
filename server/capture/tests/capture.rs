//! End-to-end captures of real Node.js processes: the three snapshots, growing ids, the
//! manifest's scripts, production (signal) mode, attaching by port, and the clean failures.
//! Needs `node` on the PATH.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heapsight_capture::{
    capture, CaptureError, Manifest, Mode, Options, Output, Phase, Reporter, Source,
};
use sha2::{Digest, Sha256};

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heapsight-capture-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch folder");
    dir
}

/// An HTTP server that keeps one object per request forever, and says when it listens.
const LEAKY_APP: &str = r#"
const http = require('http');
const kept = [];
class Visit { constructor(url) { this.url = url; this.body = 'x'.repeat(200); } }
const server = http.createServer((req, res) => {
  kept.push(new Visit(req.url));
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

fn node_version() -> String {
    let out = Command::new("node")
        .arg("--version")
        .output()
        .expect("these tests need `node` on the PATH");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Records the phases reported, in order.
#[derive(Default)]
struct Phases(Mutex<Vec<Phase>>);

impl Reporter for Phases {
    fn phase_finished(&self, phase: Phase, _took: Duration, _summary: &str) {
        self.0.lock().expect("lock").push(phase);
    }
}

/// The `snapshot` header of a snapshot file and the largest odd node id: the header is the
/// text before `"nodes"`, and ids are every `field count`-th number of the `nodes` array.
fn header_and_max_js_id(path: &Path) -> (serde_json::Value, u64) {
    let text = std::fs::read_to_string(path).expect("read snapshot");
    let nodes_at = text.find("\"nodes\"").expect("a nodes array");
    let head = text[..nodes_at].trim_end().trim_end_matches(',');
    let header: serde_json::Value =
        serde_json::from_str(&format!("{head}}}")).expect("the header is JSON");
    let fields = header["snapshot"]["meta"]["node_fields"]
        .as_array()
        .expect("node_fields");
    let id_at = fields.iter().position(|f| f == "id").expect("an id field");
    let open = nodes_at + text[nodes_at..].find('[').expect("[");
    let close = open + text[open..].find(']').expect("]");
    let max = text[open + 1..close]
        .split(',')
        .map(|n| n.trim().parse::<u64>().expect("a number"))
        .skip(id_at)
        .step_by(fields.len())
        .filter(|id| id % 2 == 1)
        .max()
        .expect("some JS objects");
    // And the whole file is one JSON document.
    serde_json::from_str::<serde::de::IgnoredAny>(&text).expect("the snapshot is valid JSON");
    (header, max)
}

/// Checks the three files of a capture and returns their max JS ids.
fn check_triple(dir: &Path, manifest: &Manifest) -> [u64; 3] {
    let mut ids = [0; 3];
    for (i, label) in ["A", "B", "C"].iter().enumerate() {
        let path = dir.join(format!("{label}.heapsnapshot"));
        let (header, max) = header_and_max_js_id(&path);
        assert!(header["snapshot"]["node_count"].as_u64().unwrap_or(0) > 1000);
        let listed = &manifest.files[i];
        assert_eq!(listed.label, *label);
        assert_eq!(listed.bytes, std::fs::metadata(&path).expect("stat").len());
        ids[i] = max;
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(
        ids[0] < ids[1] && ids[1] < ids[2],
        "ids must grow A→B→C: {ids:?}"
    );
    ids
}

fn alive(pid: i64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[tokio::test]
async fn captures_a_started_app_with_load_and_records_its_script() {
    let dir = scratch("spawn");
    let app = write(&dir, "app.js", LEAKY_APP);
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
    opts.ready_line = Some(r"app ready port=(\d+)".into());
    opts.load = Some(format!("node {} {{port}} 60", load.display()));
    opts.idle = Duration::from_millis(200);
    opts.gc_rounds = 2;
    let phases = Arc::new(Phases::default());
    let done = capture(&opts, phases.clone())
        .await
        .expect("capture succeeds");

    assert_eq!(done.dir, out);
    let manifest = Manifest::read(&out).expect("manifest");
    assert_eq!(manifest, done.manifest);
    check_triple(&out, &manifest);

    assert_eq!(manifest.mode, Mode::Spawn);
    assert_eq!(
        manifest.node_version.as_deref(),
        Some(node_version().as_str())
    );
    let pid = manifest.pid.expect("pid");
    assert!(!alive(pid), "the target we started is stopped");
    assert_eq!(manifest.command[1], app.to_string_lossy());
    let app_path = app.to_string_lossy().into_owned();
    let script = manifest
        .scripts
        .iter()
        .find(|s| s.path.as_deref() == Some(app_path.as_str()))
        .unwrap_or_else(|| panic!("app.js in {:?}", manifest.scripts));
    assert_eq!(script.url, format!("file://{app_path}"));
    assert_eq!(script.source.as_deref(), Some(LEAKY_APP));
    assert_eq!(
        script.sha256,
        format!("{:x}", Sha256::digest(LEAKY_APP.as_bytes()))
    );
    assert!(manifest.scripts.iter().all(|s| !s.url.starts_with("node:")));
    assert!(manifest.internal_scripts_skipped > 0);

    let order = phases.0.lock().expect("lock").clone();
    assert_eq!(
        order,
        [
            Phase::Attach,
            Phase::WarmUp,
            Phase::SnapshotA,
            Phase::Workload,
            Phase::SnapshotB,
            Phase::Idle,
            Phase::SnapshotC,
            Phase::Scripts,
            Phase::Finish
        ]
    );
    let names: Vec<_> = manifest.phases.iter().map(|p| p.phase).collect();
    assert_eq!(names, order);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_target_that_exits_early_gives_a_clean_error() {
    let dir = scratch("early-exit");
    let app = write(
        &dir,
        "crash.js",
        "console.log('starting');\nconsole.error('fatal: no DATABASE_URL');\nprocess.exit(3);\n",
    );
    let out = dir.join("out");
    let mut opts = Options::new(
        Source::Spawn {
            command: vec!["node".into(), app.to_string_lossy().into_owned()],
            cwd: None,
            env: vec![],
        },
        Output::Dir(out.clone()),
    );
    opts.ready_line = Some("listening".into());
    let err = capture(&opts, Arc::new(heapsight_capture::Silent))
        .await
        .expect_err("the target exits");
    match &err {
        CaptureError::TargetExited { status, output, .. } => {
            assert_eq!(status, "exit code 3");
            assert!(
                output.iter().any(|l| l.contains("fatal: no DATABASE_URL")),
                "{output:?}"
            );
        }
        other => panic!("wrong error: {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("exited (exit code 3)") && msg.contains("no DATABASE_URL"),
        "{msg}"
    );
    assert!(!out.exists(), "nothing is left behind");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_target_that_dies_mid_capture_leaves_no_files() {
    let dir = scratch("mid-exit");
    let app = write(
        &dir,
        "dies.js",
        "const http = require('http');\n\
         const s = http.createServer(() => { console.error('dying on request'); process.exit(9); });\n\
         s.listen(0, '127.0.0.1', () => console.log('up ' + s.address().port));\n",
    );
    let out = dir.join("out");
    let mut opts = Options::new(
        Source::Spawn {
            command: vec!["node".into(), app.to_string_lossy().into_owned()],
            cwd: None,
            env: vec![],
        },
        Output::Dir(out.clone()),
    );
    opts.ready_line = Some(r"up (\d+)".into());
    opts.load = Some("node -e \"require('http').get('http://127.0.0.1:{port}/').on('error', () => {}); setTimeout(() => {}, 5000)\"".into());
    opts.gc_rounds = 1;
    let err = capture(&opts, Arc::new(heapsight_capture::Silent))
        .await
        .expect_err("the target exits");
    match &err {
        CaptureError::TargetExited {
            status,
            during,
            output,
        } => {
            assert_eq!(status, "exit code 9");
            assert_eq!(during, "workload");
            assert!(
                output.iter().any(|l| l.contains("dying on request")),
                "{output:?}"
            );
        }
        other => panic!("wrong error: {other:?}"),
    }
    assert!(!out.exists(), "A.heapsnapshot and the folder are removed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts `node` with extra flags in `dir`, and waits for its first stdout line.
fn start_node(dir: &Path, flags: &[&str], app: &Path) -> (std::process::Child, String) {
    let mut child = Command::new("node")
        .args(flags)
        .arg(app)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut line).expect("read");
    (child, line)
}

#[tokio::test]
async fn signal_mode_collects_the_snapshots_node_writes() {
    let dir = scratch("signal");
    let app = write(&dir, "app.js", LEAKY_APP);
    let (mut child, ready) = start_node(&dir, &["--heapsnapshot-signal=SIGUSR2"], &app);
    assert!(ready.contains("app ready"), "{ready}");
    let port = ready.trim().rsplit('=').next().expect("port").to_owned();
    let load = write(&dir, "load.js", LOAD);
    let out = dir.join("out");
    let mut opts = Options::new(
        Source::Signal {
            pid: child.id() as i32,
            signal: "SIGUSR2".into(),
            dir: dir.clone(),
        },
        Output::Dir(out.clone()),
    );
    opts.load = Some(format!("node {} {port} 40", load.display()));
    opts.idle = Duration::from_millis(100);
    let result = capture(&opts, Arc::new(heapsight_capture::Silent)).await;
    let alive_after = alive(i64::from(child.id()));
    let _ = child.kill();
    let _ = child.wait();
    let done = result.expect("signal capture succeeds");
    assert!(alive_after, "the process keeps running");
    let manifest = &done.manifest;
    assert_eq!(manifest.mode, Mode::Signal);
    assert_eq!(manifest.pid, Some(i64::from(child.id())));
    assert_eq!(
        manifest.node_version.as_deref(),
        Some(node_version().as_str())
    );
    assert!(manifest
        .command
        .iter()
        .any(|a| a == "--heapsnapshot-signal=SIGUSR2"));
    check_triple(&out, manifest);
    let stray = std::fs::read_dir(&dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().ends_with(".heapsnapshot"));
    assert!(!stray, "node's files were moved into the capture folder");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn signal_mode_refuses_a_process_that_would_die_of_the_signal() {
    let dir = scratch("signal-refused");
    let app = write(&dir, "app.js", LEAKY_APP);
    let (mut child, _) = start_node(&dir, &[], &app);
    let opts = Options::new(
        Source::Signal {
            pid: child.id() as i32,
            signal: "SIGUSR2".into(),
            dir: dir.clone(),
        },
        Output::Dir(dir.join("out")),
    );
    let err = capture(&opts, Arc::new(heapsight_capture::Silent)).await;
    let still_alive = alive(i64::from(child.id()));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        matches!(err, Err(CaptureError::SignalNotHandled { .. })),
        "{err:?}"
    );
    assert!(still_alive);
    assert!(!dir.join("out").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn attaches_by_port_and_leaves_the_target_running() {
    let dir = scratch("attach");
    let app = write(&dir, "app.js", LEAKY_APP);
    let mut child = Command::new("node")
        .arg("--inspect=127.0.0.1:0")
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
        .expect("inspector line");
    let port: u16 = url
        .trim_start_matches("ws://127.0.0.1:")
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    // By name: the name is resolved, every address checked to be loopback, and the
    // handshake sent to the checked address (the inspector refuses other Host names).
    let mut opts = Options::new(
        Source::Port {
            host: "localhost".into(),
            port,
        },
        Output::Project(dir.clone()),
    );
    opts.idle = Duration::ZERO;
    opts.gc_rounds = 1;
    let result = capture(&opts, Arc::new(heapsight_capture::Silent)).await;
    let alive_after = alive(i64::from(child.id()));
    let _ = child.kill();
    let _ = child.wait();
    let done = result.expect("attach capture succeeds");
    assert!(alive_after);
    assert_eq!(done.manifest.mode, Mode::Attach);
    assert_eq!(
        done.manifest.inspector,
        Some(url.replace("ws://127.0.0.1:", "ws://localhost:"))
    );
    assert!(done.dir.starts_with(dir.join(".heapsight/captures")));
    assert_eq!(
        heapsight_capture::read_latest(&dir).expect("latest"),
        done.dir
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn refuses_remote_inspectors_without_connecting() {
    let dir = scratch("remote");
    let opts = Options::new(
        Source::Url("ws://192.0.2.10:9229/abc".into()),
        Output::Dir(dir.join("out")),
    );
    let err = capture(&opts, Arc::new(heapsight_capture::Silent))
        .await
        .expect_err("refused");
    assert!(matches!(err, CaptureError::RemoteRefused { .. }), "{err:?}");
    assert!(err.to_string().contains("--allow-remote"));
    let unreachable = Options::new(
        Source::Port {
            host: "127.0.0.1".into(),
            port: 1,
        },
        Output::Dir(dir.join("out")),
    );
    let err = capture(&unreachable, Arc::new(heapsight_capture::Silent))
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, CaptureError::Unreachable { .. }), "{err:?}");
    assert!(!dir.join("out").exists());
    // A command or NODE_OPTIONS that would make the inspector listen on every interface
    // (Node keeps the last flag, the user's) is refused before the target starts.
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mark = dir.join("ran");
    let script = format!(
        "require('fs').writeFileSync({:?}, 'ran')",
        mark.display().to_string()
    );
    for (command, env) in [
        (vec!["node", "--inspect=0.0.0.0:0", "-e", &script], vec![]),
        (
            vec!["node", "-e", &script],
            vec![(
                "NODE_OPTIONS".to_owned(),
                "--inspect-port=[::]:0".to_owned(),
            )],
        ),
    ] {
        let opts = Options::new(
            Source::Spawn {
                command: command.iter().map(|s| s.to_string()).collect(),
                cwd: None,
                env,
            },
            Output::Dir(dir.join("out")),
        );
        let err = capture(&opts, Arc::new(heapsight_capture::Silent))
            .await
            .expect_err("refused");
        assert!(matches!(err, CaptureError::RemoteRefused { .. }), "{err:?}");
        assert!(err.to_string().contains("--allow-remote"), "{err}");
        assert!(!mark.exists(), "the target ran");
    }
    // A flag heapsight cannot see (inside a shell script, where Node's command line beats the
    // NODE_OPTIONS heapsight sets) is caught when the inspector announces its address: refused,
    // and the target stopped.
    let token = format!("heapsight-hidden-flag-{}", std::process::id());
    let hidden =
        format!("node --inspect=0.0.0.0:0 -e \"setInterval(() => {{}}, 1000) // {token}\"");
    let opts = Options::new(
        Source::Spawn {
            command: vec!["sh".into(), "-c".into(), hidden],
            cwd: None,
            env: vec![],
        },
        Output::Dir(dir.join("out")),
    );
    let err = capture(&opts, Arc::new(heapsight_capture::Silent))
        .await
        .expect_err("refused");
    assert!(matches!(err, CaptureError::RemoteRefused { .. }), "{err:?}");
    assert!(err.to_string().contains("0.0.0.0"), "{err}");
    // Processes whose command line carries the token: the shell and the node it started.
    let running = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.contains(&token) && !c.contains("cargo"))
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !running().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        running(),
        Vec::<String>::new(),
        "the target was left running"
    );
    assert!(!dir.join("out").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
