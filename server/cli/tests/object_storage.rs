//! Captures in object storage, against a real S3-compatible server: moto's server mode,
//! installed from PyPI into `target/s3-server` by `tests/setup.sh` and started by
//! `heapsight_tests::s3`, with boto3 (from the same place) as an independent client to see
//! what reached the bucket.
//! - `capture --out s3://…` of a fixture app: the snapshots, then the manifest, and no
//!   multipart upload left open; `analyze s3://…` finds the leak from a download, then from
//!   the cache; a prefix holding captures gives its newest; the language server with
//!   `snapshotDir` set to the URL publishes the diagnostic.
//! - all or nothing: a capture killed mid-way (SIGKILL) leaves no object; a capture that fails
//!   (the target dies) or whose spill limit is crossed leaves no object and no open upload.

#![allow(clippy::unwrap_used)]

mod lsp_client;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use heapsight_tests::cgroup::{TempCgroup, Version};
use heapsight_tests::s3::{self, create_bucket, keys, objects, open_uploads};
use heapsight_tests::support::repo_root;
use lsp_client::{uri, Client};
use serde_json::{json, Value};
use tower_lsp_server::ls_types::notification::PublishDiagnostics;

/// A heapsight command configured for the test server, its cache in `cache`.
fn heapsight(cache: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_heapsight"));
    s3::configure(&mut command).env("HEAPSIGHT_CACHE_DIR", cache);
    command
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heapsight-s3-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixture() -> PathBuf {
    repo_root().join("fixtures/listener-leak")
}

/// `heapsight capture` of the listener fixture into `out`, with `load` as the workload.
fn capture(cache: &Path, out: &str, load: &str, extra: &[&str]) -> Command {
    let mut command = heapsight(cache);
    command
        .current_dir(fixture())
        .args([
            "capture",
            "-q",
            "--ready-line",
            r"port=(\d+)",
            "--idle",
            "500ms",
        ])
        .args(["--load", load, "--out", out])
        .args(extra)
        .args(["--", "node", "main.js"]);
    command
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_capture_goes_to_the_bucket_as_it_is_taken_and_is_analyzed_from_it() {
    let bucket = "captures";
    create_bucket(bucket);
    let cache = scratch("cache");
    let run = capture(
        &cache,
        "s3://captures/checkout/run-1",
        "node load.js {port} 2000",
        &[],
    )
    .output()
    .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        "s3://captures/checkout/run-1"
    );
    assert_eq!(
        keys(bucket),
        [
            "checkout/run-1/A.heapsnapshot",
            "checkout/run-1/B.heapsnapshot",
            "checkout/run-1/C.heapsnapshot",
            "checkout/run-1/manifest.json"
        ]
    );
    assert_eq!(open_uploads(bucket), Vec::<String>::new());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("uploaded 4 objects"), "{stderr}");

    // The analysis downloads it once, then reads the cache.
    let analyze = |url: &str| {
        let out = heapsight(&cache)
            .current_dir(fixture())
            .args(["analyze", url, "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let first = &report["findings"][0];
        (
            format!(
                "{}:{}",
                first["file"].as_str().unwrap_or("?"),
                first["line"]
            ),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (place, said) = analyze("s3://captures/checkout/run-1");
    assert_eq!(place, "main.js:40", "{said}");
    assert!(said.contains("downloaded"), "{said}");
    let (place, said) = analyze("s3://captures/checkout/run-1/");
    assert_eq!(place, "main.js:40");
    assert!(said.contains("the cached copy"), "{said}");
    // A prefix holding captures: the newest.
    let (place, said) = analyze("s3://captures/checkout");
    assert_eq!(place, "main.js:40");
    assert!(said.contains("s3://captures/checkout/run-1"), "{said}");

    // The language server, its snapshot folder a URL.
    let workspace = scratch("workspace");
    for file in ["main.js", "load.js"] {
        std::fs::copy(fixture().join(file), workspace.join(file)).unwrap();
    }
    let workspace = std::fs::canonicalize(&workspace).unwrap();
    // The server inherits the environment: its client needs the same settings.
    let mut client = {
        let _env = EnvForServer::set(&cache);
        Client::start(
            &workspace,
            json!({}),
            json!({"snapshotDir": "s3://captures/checkout/run-1"}),
        )
    };
    let wanted = uri(&workspace.join("main.js"));
    let published = client.await_notification::<PublishDiagnostics>(|p| {
        p.uri.as_str() == wanted && !p.diagnostics.is_empty()
    });
    assert_eq!(published.diagnostics[0].range.start.line + 1, 40);
    client.shutdown();
}

/// The test server's settings in this process's environment while a server is started (the
/// language server test's client starts it with the inherited environment).
struct EnvForServer;

impl EnvForServer {
    fn set(cache: &Path) -> EnvForServer {
        // Every test of this binary sets the same values; the language server test is the
        // only one that starts a process without setting them itself.
        for (k, v) in s3::env() {
            std::env::set_var(k, v);
        }
        std::env::set_var("HEAPSIGHT_CACHE_DIR", cache);
        EnvForServer
    }
}

#[test]
fn a_capture_killed_mid_way_leaves_no_object() {
    let bucket = "killed";
    create_bucket(bucket);
    let cache = scratch("killed");
    // A long workload: heapsight is killed while it runs, after A is taken.
    let mut child = capture(
        &cache,
        "s3://killed/run",
        "node load.js {port} 100000000",
        &["--duration", "120s"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut target_pid = None;
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if let Some(pid) = line
            .split("pid ")
            .nth(1)
            .and_then(|r| r.split([',', ' ']).next())
        {
            target_pid = target_pid.or_else(|| pid.parse::<i32>().ok());
        }
        let working = line.starts_with("> workload");
        seen.push(line);
        if working {
            break;
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let _ = child.kill();
    let _ = child.wait();
    if let Some(pid) = target_pid {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    assert!(target_pid.is_some(), "{seen:#?}");
    assert_eq!(objects(bucket), Vec::<String>::new(), "{seen:#?}");
    // A's upload was under way, never completed: invisible, and left to the bucket's
    // lifecycle rule. (A snapshot written whole between two looks of the follower has no
    // upload yet: it would have gone at the end, with the manifest.)
    let open = open_uploads(bucket);
    assert!(
        open.iter().all(|key| key == "run/A.heapsnapshot"),
        "{open:?}"
    );
}

#[test]
fn a_failed_capture_aborts_its_uploads() {
    let bucket = "failed";
    create_bucket(bucket);
    let cache = scratch("failed");
    // The workload kills the target: B cannot be taken.
    let run = capture(&cache, "s3://failed/run", "kill -9 {pid}", &[])
        .output()
        .unwrap();
    assert!(!run.status.success(), "{}", text(&run));
    assert_eq!(objects(bucket), Vec::<String>::new(), "{}", text(&run));
    assert_eq!(open_uploads(bucket), Vec::<String>::new(), "{}", text(&run));

    // A spill limit below a snapshot's first part: the upload cannot keep up by definition.
    let run = capture(
        &cache,
        "s3://failed/spill",
        "node load.js {port} 2000",
        &["--spill-max", "1MiB"],
    )
    .output()
    .unwrap();
    let said = text(&run);
    assert!(!run.status.success(), "{said}");
    assert!(
        said.contains("the upload is slower than the snapshot"),
        "{said}"
    );
    assert_eq!(objects(bucket), Vec::<String>::new(), "{said}");
    assert_eq!(open_uploads(bucket), Vec::<String>::new(), "{said}");
}

#[test]
fn a_spill_in_memory_under_the_targets_limit_counts_in_its_headroom() {
    let cgroup = match TempCgroup::create(Version::V1, 768 << 20) {
        Ok(c) => c,
        Err(why) => {
            eprintln!("no v1 memory cgroup on this machine ({why}): the spill's headroom is not tested here");
            return;
        }
    };
    let bucket = "headroom";
    create_bucket(bucket);
    let cache = scratch("headroom");
    // heapsight enters the cgroup, then starts the app: both under its 768 MiB, in which a
    // snapshot of the app (some 80 MB estimated) fits, and a 1 GiB spill does not.
    let run = |tmpdir: &str, prefix: &str| {
        let load = "node load.js {port} 200";
        let url = format!("s3://headroom/{prefix}");
        let inner = capture(&cache, &url, load, &[]);
        let mut command = Command::new("sh");
        command
            .current_dir(fixture())
            .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .env("TMPDIR", tmpdir)
            .arg("-c")
            .arg(r#"echo $$ > "$1" && shift && exec "$@""#)
            .arg("sh")
            .arg(cgroup.procs_file())
            .arg(inner.get_program())
            .args(inner.get_args());
        command.output().unwrap()
    };
    let shm = run("/dev/shm", "in-memory");
    let said = text(&shm);
    assert_eq!(shm.status.code(), Some(2), "{said}");
    assert!(
        said.contains("refusing to take snapshot A")
            && said.contains("the upload's spill of up to 1.1 GB on a memory-backed /dev/shm"),
        "{said}"
    );
    assert_eq!(objects(bucket), Vec::<String>::new(), "{said}");
    // On a disk the spill is no memory: the same capture goes.
    let disk_tmp = scratch("headroom-tmp");
    let disk = run(disk_tmp.to_str().unwrap(), "on-disk");
    assert!(disk.status.success(), "{}", text(&disk));
    assert_eq!(objects(bucket).len(), 4, "{}", text(&disk));
}

#[test]
fn the_bucket_is_reached_over_tls_and_its_certificate_is_checked() {
    let cache = scratch("tls");
    let analyze = |allow_invalid: bool| {
        let mut command = heapsight(&cache);
        command
            .env("AWS_ENDPOINT_URL", s3::tls_endpoint())
            .current_dir(fixture())
            .args(["analyze", "s3://tls-bucket/run"]);
        if allow_invalid {
            command.env("AWS_ALLOW_INVALID_CERTIFICATES", "true");
        }
        text(&command.output().unwrap())
    };
    // The server's certificate is its own: the verifier refuses it...
    let refused = analyze(false);
    assert!(
        refused.contains("invalid peer certificate: UnknownIssuer"),
        "{refused}"
    );
    // ...and, accepted on request, the TLS session (rustls with ring) reaches the server,
    // which has no such bucket.
    let reached = analyze(true);
    assert!(reached.contains("NoSuchBucket"), "{reached}");
    assert!(!reached.contains("invalid peer certificate"), "{reached}");
}
