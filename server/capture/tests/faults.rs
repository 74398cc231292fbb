//! Captures that go wrong half-way, with real Node.js processes: the target killed while
//! its snapshot streams in (started by us, and attached to by port: the inspector goes
//! away), and the disk filling up (a 2 MiB tmpfs; mounting needs root, which the tests
//! have here and in CI). Each must end with a clear error, no file of the capture left
//! behind, and a target we started stopped. Needs `node` on the PATH.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use heapsight_capture::{capture, CaptureError, Options, Output, Source};

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heapsight-faults-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch folder");
    dir
}

/// An app with a big heap (its snapshot takes a few seconds to stream), which writes its
/// pid next to itself and says when it is ready.
const BIG_HEAP_APP: &str = r#"
require('fs').writeFileSync(__dirname + '/pid', String(process.pid));
const kept = [];
for (let i = 0; i < 400000; i++) kept.push({ i, name: 'item-' + i, tags: [i, i + 1] });
setInterval(() => kept.length, 1000);
console.log('ready');
"#;

fn alive(pid: i32) -> bool {
    // Signal 0 checks existence; a zombie counts as gone.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    !status.is_empty() && !status.contains("State:\tZ")
}

fn read_pid(dir: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(pid) = std::fs::read_to_string(dir.join("pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "the app wrote no pid");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `file` exists with at least `bytes` bytes; panics after a minute.
fn wait_for_growth(file: &Path, bytes: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(meta) = std::fs::metadata(file) {
            if meta.len() >= bytes {
                return meta.len();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} did not grow to {bytes} bytes",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill9(pid: i32) {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[tokio::test]
async fn a_started_target_killed_while_its_snapshot_streams_leaves_nothing() {
    let dir = scratch("killed-mid-snapshot");
    let app = dir.join("app.js");
    std::fs::write(&app, BIG_HEAP_APP).expect("write app");
    let out = dir.join("out");
    let mut opts = Options::new(
        Source::Spawn {
            command: vec!["node".into(), app.display().to_string()],
            cwd: None,
            env: vec![],
        },
        Output::Dir(out.clone()),
    );
    opts.ready_line = Some("ready".into());
    opts.gc_rounds = 1;
    let partial = out.join("A.heapsnapshot.partial");
    let app_dir = dir.clone();
    // Off the runtime's thread, while the capture runs on it.
    let killer = tokio::task::spawn_blocking(move || {
        let pid = read_pid(&app_dir);
        let seen = wait_for_growth(&partial, 64 << 10);
        kill9(pid);
        (pid, seen)
    });
    let run = tokio::time::timeout(
        Duration::from_secs(120),
        capture(&opts, Arc::new(heapsight_capture::Silent)),
    );
    let (result, killed) = tokio::join!(run, killer);
    let (pid, seen) = killed.expect("killer");
    let err = result
        .expect("the capture ends")
        .expect_err("the target died");
    let message = err.to_string();
    match &err {
        CaptureError::TargetExited { status, during, .. } => {
            assert_eq!(
                (status.as_str(), during.as_str()),
                ("killed by SIGKILL", "snapshot A"),
                "{message}"
            );
        }
        other => panic!("wrong error: {other:?}"),
    }
    assert!(!out.exists(), "left behind: {:?}", files_under(&out));
    assert!(!alive(pid));
    eprintln!("killed after {seen} bytes of A: {message}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_inspector_going_away_mid_snapshot_when_attached_leaves_nothing() {
    let dir = scratch("inspector-gone");
    let app = dir.join("app.js");
    std::fs::write(&app, BIG_HEAP_APP).expect("write app");
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
    let port: u16 = line
        .trim()
        .strip_prefix("Debugger listening on ws://127.0.0.1:")
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("inspector line: {line}"));
    let pid = read_pid(&dir);
    let out = dir.join("project");
    let mut opts = Options::new(
        Source::Port {
            host: "127.0.0.1".into(),
            port,
        },
        Output::Project(out.clone()),
    );
    opts.gc_rounds = 1;
    let captures = out.join(".heapsight/captures");
    let killer = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = files_under(&captures)
                .into_iter()
                .find(|f| f.ends_with("A.heapsnapshot.partial"));
            if let Some(f) = found {
                let seen = wait_for_growth(Path::new(&f), 64 << 10);
                kill9(pid);
                return seen;
            }
            assert!(Instant::now() < deadline, "no partial snapshot appeared");
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let run = tokio::time::timeout(
        Duration::from_secs(120),
        capture(&opts, Arc::new(heapsight_capture::Silent)),
    );
    let (result, killed) = tokio::join!(run, killer);
    let partial = killed.expect("killer");
    let _ = child.wait();
    let err = result
        .expect("the capture ends")
        .expect_err("the inspector went away");
    let message = err.to_string();
    assert!(
        matches!(
            err,
            CaptureError::SnapshotIncomplete { .. } | CaptureError::Disconnected { .. }
        ),
        "{err:?}"
    );
    assert!(
        message.contains("heap snapshot A stopped after")
            && message.contains("the partial file was removed"),
        "{message}"
    );
    let left = files_under(&out);
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(
        !out.join(".heapsight/latest").exists(),
        "latest must not name a failed capture"
    );
    eprintln!("inspector gone after {partial} bytes of A: {message}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (this test fills a small disk)"
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_is_a_clear_error_and_the_target_is_stopped() {
    let dir = scratch("disk-full");
    let app = dir.join("app.js");
    std::fs::write(&app, BIG_HEAP_APP).expect("write app");
    let disk = Tmpfs::mount(&dir.join("disk"), "2m");
    let out = disk.0.join("out");
    let mut opts = Options::new(
        Source::Spawn {
            command: vec!["node".into(), app.display().to_string()],
            cwd: None,
            env: vec![],
        },
        Output::Dir(out.clone()),
    );
    opts.ready_line = Some("ready".into());
    opts.gc_rounds = 1;
    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(120),
        capture(&opts, Arc::new(heapsight_capture::Silent)),
    )
    .await
    .expect("the capture ends")
    .expect_err("the disk is full");
    let pid = read_pid(&dir);
    let message = err.to_string();
    match &err {
        CaptureError::Write { path, source } => {
            assert_eq!(path, &out.join("A.heapsnapshot.partial"));
            assert_eq!(source.raw_os_error(), Some(28), "ENOSPC: {source}");
        }
        other => panic!("wrong error: {other:?}"),
    }
    assert!(
        message.contains("the disk is full: free some space or pass another output folder"),
        "{message}"
    );
    let left = files_under(&disk.0);
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!out.exists());
    assert!(!alive(pid), "the target we started still runs");
    // The space is free again.
    let probe = disk.0.join("probe");
    std::fs::write(&probe, vec![0u8; 1 << 20]).expect("the tmpfs has its space back");
    std::fs::remove_file(&probe).expect("remove probe");
    eprintln!(
        "disk full after {:.1} s: {message}",
        started.elapsed().as_secs_f64()
    );
    drop(disk);
    let _ = std::fs::remove_dir_all(&dir);
}
