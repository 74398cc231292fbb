//! The container image's binary: `docker/build-static.sh` builds a fully static `heapsight`
//! (glibc, `+crt-static`) into `target/static/`, checked to have no program interpreter and
//! no shared library, and that binary captures a plain `node fixtures/listener-leak/main.js`
//! by pid (SIGUSR1), finds the listener leak at main.js:40, and leaves the app serving.
//!
//! Then the `FROM scratch` debug container, simulated: the binary alone in an empty folder,
//! run with that folder as its root (`unshare --mount --root`, with a `/proc` mounted inside,
//! as a debug container sharing the pod's process namespace sees it), captures the same
//! process by pid through `/proc/<pid>/root`. The mounts live in the command's own mount
//! namespace, so they end with it whatever happens to the test. From there too: the capture
//! sent to a bucket (`--out s3://…`, moto on loopback through `heapsight_tests::s3`, plain
//! HTTP: HTTPS with the image's CA bundle is not tested, for want of a TLS server) with
//! `TMPDIR` reached through `/proc/<pid>/root`, checked with boto3; and signal mode, whose
//! snapshot folder (the process's working folder) exists only in the process's filesystem.
//!
//! Needs `node`, glibc's static libraries (libc6-dev) and, for the empty-root part, root,
//! util-linux's `unshare` (the test says so where it cannot) and moto in `target/s3-server`
//! (`tests/setup.sh`). The ELF headers are read here.
//! The build is a second full release compile of the CLI's dependencies (its own target
//! folder): several minutes on 2 cores the first time, seconds after.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use heapsight_tests::s3;
use heapsight_tests::support::repo_root;
use serde_json::Value;

/// Longest wait for the app's ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Builds the static binary with the script the image uses; returns its path.
fn build_static() -> PathBuf {
    let root = repo_root();
    let started = Instant::now();
    // The test checks how the binary is linked and that it runs, not its speed: an
    // unoptimized build (1 min 32 s cold here, against 3 min 58 s with the release profile)
    // keeps this second build of every dependency short in CI; the image is built optimized.
    let out = Command::new("bash")
        .arg(root.join("docker/build-static.sh"))
        .arg(root.join("target/static"))
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .current_dir(&root)
        .stderr(Stdio::inherit())
        .output()
        .expect("runs docker/build-static.sh");
    assert!(out.status.success(), "docker/build-static.sh failed");
    eprintln!(
        "docker/build-static.sh took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let bin = PathBuf::from(stdout.lines().last().expect("the binary's path").trim());
    assert!(bin.is_file(), "{}", bin.display());
    bin
}

/// What the program headers and the dynamic section of a 64-bit little-endian ELF say.
#[derive(Debug)]
struct Elf {
    /// `ET_DYN` (a position-independent executable) rather than `ET_EXEC`.
    pie: bool,
    /// A `PT_INTERP` header: the file needs a program interpreter (`ld-linux`).
    interpreter: bool,
    /// A `PT_DYNAMIC` header (a static-pie has one, for its own relocations).
    dynamic: bool,
    /// `DT_NEEDED` entries: shared libraries it needs.
    needed: usize,
}

fn read_elf(bytes: &[u8]) -> Elf {
    let u16_at = |o: usize| u16::from_le_bytes(bytes[o..o + 2].try_into().expect("2 bytes"));
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
    let size = |v: u64| usize::try_from(v).expect("fits");
    assert_eq!(&bytes[..4], b"\x7fELF", "an ELF file");
    assert_eq!(bytes[4], 2, "64-bit");
    assert_eq!(bytes[5], 1, "little-endian");
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    const DT_NEEDED: u64 = 1;
    let mut elf = Elf {
        pie: u16_at(16) == 3,
        interpreter: false,
        dynamic: false,
        needed: 0,
    };
    let (phoff, phentsize, phnum) = (size(u64_at(0x20)), usize::from(u16_at(0x36)), u16_at(0x38));
    for i in 0..usize::from(phnum) {
        let ph = phoff + i * phentsize;
        match u32_at(ph) {
            PT_INTERP => elf.interpreter = true,
            PT_DYNAMIC => {
                elf.dynamic = true;
                let (offset, filesz) = (size(u64_at(ph + 8)), size(u64_at(ph + 32)));
                for entry in bytes[offset..offset + filesz].chunks_exact(16) {
                    let tag = u64::from_le_bytes(entry[..8].try_into().expect("8 bytes"));
                    if tag == DT_NEEDED {
                        elf.needed += 1;
                    }
                }
            }
            _ => {}
        }
    }
    elf
}

/// A started process, killed when dropped.
struct Started {
    child: Child,
    port: u16,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `node fixtures/listener-leak/main.js`, plainly, once it says `ready port=N`.
fn start_app() -> Started {
    start_node(&[], &repo_root())
}

/// `node NODE_ARGS fixtures/listener-leak/main.js` in `cwd`, once it says `ready port=N`.
fn start_node(node_args: &[&str], cwd: &Path) -> Started {
    let mut child = Command::new("node")
        .args(node_args)
        .arg(repo_root().join("fixtures/listener-leak/main.js"))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env_remove("NODE_OPTIONS")
        .spawn()
        .expect("start node");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut started = Started { child, port: 0 };
    loop {
        let line = rx
            .recv_timeout(READY_TIMEOUT)
            .unwrap_or_else(|e| panic!("the app printed no ready line: {e}"));
        if let Some((_, port)) = line.split_once("ready port=") {
            started.port = port.trim().parse().expect("a port");
            return started;
        }
    }
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

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heapsight-static-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Removes a folder when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
        .expect("manifest JSON")
}

fn no_inspector_on_9229() -> bool {
    TcpStream::connect(("127.0.0.1", 9229)).is_err()
}

#[test]
fn the_static_binary_captures_by_pid_also_from_an_empty_root() {
    let bin = build_static();
    let bytes = std::fs::read(&bin).expect("read the binary");
    let elf = read_elf(&bytes);
    eprintln!(
        "{}: {:.1} MB, {}, {elf:?}",
        bin.display(),
        bytes.len() as f64 / 1e6,
        if elf.pie { "static-pie" } else { "static" }
    );
    assert!(!elf.interpreter, "no program interpreter: {elf:?}");
    assert_eq!(elf.needed, 0, "no shared library: {elf:?}");
    drop(bytes);

    assert!(
        no_inspector_on_9229(),
        "something already listens on 127.0.0.1:9229, where Node opens its inspector"
    );
    let app = start_app();
    let pid = app.child.id().to_string();

    // The static binary, by pid, with the fixture's load driver.
    let out = scratch("capture");
    let _remove_out = RemoveOnDrop(out.clone());
    let load = format!(
        "node {} {} 500",
        repo_root().join("fixtures/listener-leak/load.js").display(),
        app.port
    );
    let run = Command::new(&bin)
        .args([
            "capture", "-q", "--pid", &pid, "--load", &load, "--idle", "500ms",
        ])
        .arg("--out")
        .arg(&out)
        .current_dir(repo_root())
        .output()
        .expect("runs the static heapsight capture");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "capture failed: {stderr}");
    assert!(stderr.contains("inspector opened with SIGUSR1"), "{stderr}");
    assert!(stderr.contains("inspector closed"), "{stderr}");
    assert_eq!(manifest(&out)["mode"], "pid");
    assert!(answers_http(app.port), "the app still answers HTTP");
    assert!(no_inspector_on_9229(), "no inspector left listening");

    let analyzed = Command::new(&bin)
        .args(["analyze", "--format", "json", "--root", "."])
        .arg(&out)
        .current_dir(repo_root())
        .output()
        .expect("runs the static heapsight analyze");
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

    empty_root(&bin, &app, &pid);
    assert!(answers_http(app.port), "the app still answers HTTP");
}

/// The binary alone in an empty folder, run with that folder as its root.
struct EmptyRoot {
    root: PathBuf,
}

impl EmptyRoot {
    /// As the image has it: the binary, on PATH; nothing else (not even /dev, /etc or /tmp).
    fn new(bin: &Path) -> EmptyRoot {
        let root = scratch("root");
        std::fs::create_dir_all(root.join("proc")).expect("root/proc");
        std::fs::create_dir_all(root.join("usr/local/bin")).expect("root/usr/local/bin");
        std::fs::copy(bin, root.join("usr/local/bin/heapsight")).expect("copy the binary");
        EmptyRoot { root }
    }

    /// `heapsight ARGS` in the empty root, `/proc` mounted in a mount namespace of its own,
    /// with only PATH and `env` in its environment.
    fn run(&self, args: &[&str], env: &[(&str, String)]) -> Output {
        Command::new("unshare")
            .arg("--mount")
            .arg("--propagation=private")
            .arg(format!("--root={}", self.root.display()))
            .arg("--mount-proc=/proc")
            .arg("heapsight")
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("runs unshare")
    }
}

impl Drop for EmptyRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The `FROM scratch` debug container, simulated: the binary alone, `/proc` mounted in
/// a mount namespace of its own, the process captured by pid from there. Without `--load`
/// (an empty root has no shell to run it): the capture, the headroom check through
/// `/proc/<pid>/root` and the inspector's closing are what is checked; the leak was found
/// above. Then the same capture sent to a bucket (moto on loopback), and signal mode
/// finding the snapshots' folder of a process whose root is not its own.
fn empty_root(bin: &Path, app: &Started, pid: &str) {
    let jail = EmptyRoot::new(bin);
    let version = jail.run(&["--version"], &[]);
    if !version.status.success() {
        let why = String::from_utf8_lossy(&version.stderr);
        assert!(
            why.contains("unshare failed") || why.contains("Operation not permitted"),
            "the static binary does not run alone in an empty root: {why}"
        );
        eprintln!("no mount namespace here ({why}): the empty-root capture is not tested");
        return;
    }
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("heapsight "),
        "{version:?}"
    );

    // Written into the app's own filesystem through its /proc root, as `--out
    // /proc/1/root/tmp/…` from a debug container.
    let out = scratch("through-proc");
    let _remove_out = RemoveOnDrop(out.clone());
    let through_proc = format!("/proc/{pid}/root{}", out.display());
    let run = jail.run(
        &[
            "capture",
            "-q",
            "--pid",
            pid,
            "--warmup",
            "500ms",
            "--duration",
            "1s",
            "--idle",
            "500ms",
            "--out",
            &through_proc,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "capture from the empty root failed: {stderr}"
    );
    assert!(stderr.contains("inspector opened with SIGUSR1"), "{stderr}");
    assert!(stderr.contains("inspector closed"), "{stderr}");
    // Its working folder is `/`: the place is said in full, not as `proc/…/root/…`.
    assert!(
        stderr.contains(&format!(": {through_proc} (")),
        "the capture's place, absolute: {stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), through_proc);
    let m = manifest(&out);
    assert_eq!(m["mode"], "pid");
    assert_eq!(m["pid"].to_string(), pid);
    for label in ["A", "B", "C"] {
        assert!(
            std::fs::metadata(out.join(format!("{label}.heapsnapshot")))
                .is_ok_and(|m| m.len() > 100_000),
            "{label}.heapsnapshot"
        );
    }
    // The headroom check read the target's memory through /proc from the empty root.
    let memory = m["snapshot_memory"].as_array().expect("snapshot_memory");
    assert_eq!(memory.len(), 3, "{memory:#?}");
    assert!(
        memory
            .iter()
            .all(|r| r["available_bytes"].as_u64() > Some(0)),
        "{memory:#?}"
    );
    // Its scripts were read from the process, so the capture analyzes anywhere.
    assert!(
        m["scripts"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("listener-leak/main.js")))),
        "main.js among the scripts"
    );
    assert!(answers_http(app.port), "the app still answers HTTP");
    assert!(no_inspector_on_9229(), "no inspector left listening");

    to_a_bucket(&jail, app, pid);
    signal_mode(&jail);
}

/// `capture --out s3://…` from the empty root to moto on loopback over plain HTTP: no
/// /etc but the image's CA bundle (no resolv.conf or hosts: the endpoint is an IP address),
/// no /dev, no /tmp. The staging folder and the spill go to `$TMPDIR`, here a
/// folder of the app's filesystem reached through `/proc/<pid>/root`, as a debug container
/// would give `TMPDIR=/proc/1/root/tmp` (or mount an `emptyDir` there).
fn to_a_bucket(jail: &EmptyRoot, app: &Started, pid: &str) {
    let bucket = "static-empty-root";
    s3::create_bucket(bucket);
    let tmp = scratch("tmpdir");
    std::fs::create_dir_all(&tmp).expect("the TMPDIR folder");
    let _remove_tmp = RemoveOnDrop(tmp.clone());
    let mut env = s3::env().to_vec();
    env.push(("TMPDIR", format!("/proc/{pid}/root{}", tmp.display())));
    let url = format!("s3://{bucket}/empty-root/run-1");
    let capture = |env: &[(&str, String)]| {
        jail.run(
            &[
                "capture",
                "-q",
                "--pid",
                pid,
                "--warmup",
                "500ms",
                "--duration",
                "1s",
                "--idle",
                "500ms",
                "--out",
                &url,
            ],
            env,
        )
    };
    // Without any CA bundle: an http:// endpoint needs none, and the client loads none for it.
    let bare = capture(&env);
    let said = String::from_utf8_lossy(&bare.stderr);
    assert!(bare.status.success(), "{said}");
    let arrived = s3::keys(bucket);
    assert_eq!(arrived.len(), 4, "{said}");
    for o in arrived {
        s3::boto3(
            bucket,
            &format!("s3.delete_object(Bucket=bucket, Key='{o}')\nprint('null')"),
        );
    }
    // As the image has it: /etc/ssl/certs/ca-certificates.crt and SSL_CERT_FILE naming it.
    let certs = jail.root.join("etc/ssl/certs");
    std::fs::create_dir_all(&certs).expect("root/etc/ssl/certs");
    std::fs::copy(
        "/etc/ssl/certs/ca-certificates.crt",
        certs.join("ca-certificates.crt"),
    )
    .expect("copy the machine's CA bundle");
    env.push((
        "SSL_CERT_FILE",
        "/etc/ssl/certs/ca-certificates.crt".to_owned(),
    ));
    let run = capture(&env);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "capture to a bucket from the empty root failed: {stderr}"
    );
    eprintln!("from the empty root to {url}:\n{stderr}");
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), url);
    assert!(stderr.contains("uploaded 4 objects"), "{stderr}");
    let objects = s3::objects(bucket);
    assert_eq!(
        s3::keys(bucket),
        [
            "empty-root/run-1/A.heapsnapshot",
            "empty-root/run-1/B.heapsnapshot",
            "empty-root/run-1/C.heapsnapshot",
            "empty-root/run-1/manifest.json"
        ],
        "{objects:?}"
    );
    assert!(
        objects
            .iter()
            .filter(|o| o.contains(".heapsnapshot "))
            .all(|o| o
                .rsplit_once(' ')
                .and_then(|(_, size)| size.parse::<u64>().ok())
                .is_some_and(|size| size > 100_000)),
        "{objects:?}"
    );
    assert_eq!(s3::open_uploads(bucket), Vec::<String>::new());
    let m = s3::json_object(bucket, "empty-root/run-1/manifest.json");
    assert_eq!(m["mode"], "pid");
    assert_eq!(m["pid"].to_string(), pid);
    // The staging folder is gone from TMPDIR.
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .expect("read TMPDIR")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    assert!(answers_http(app.port), "the app still answers HTTP");
    assert!(no_inspector_on_9229(), "no inspector left listening");
}

/// Signal mode from the empty root, without `--dir`: the process (`node
/// --heapsnapshot-signal=SIGUSR2`) writes its snapshots into its working folder, a path of
/// its filesystem that the empty root does not have; heapsight finds it through
/// `/proc/<pid>/cwd`.
fn signal_mode(jail: &EmptyRoot) {
    let cwd = scratch("signal-cwd");
    std::fs::create_dir_all(&cwd).expect("the app's working folder");
    let _remove_cwd = RemoveOnDrop(cwd.clone());
    let app = start_node(&["--heapsnapshot-signal=SIGUSR2"], &cwd);
    let pid = app.child.id().to_string();
    let out = scratch("signal-out");
    let _remove_out = RemoveOnDrop(out.clone());
    let through_proc = format!("/proc/{pid}/root{}", out.display());
    let run = jail.run(
        &[
            "capture",
            "-q",
            "--pid",
            &pid,
            "--signal",
            "SIGUSR2",
            "--warmup",
            "500ms",
            "--duration",
            "1s",
            "--idle",
            "500ms",
            "--out",
            &through_proc,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "signal-mode capture from the empty root failed: {stderr}"
    );
    let m = manifest(&out);
    assert_eq!(m["pid"].to_string(), pid, "{m:#}");
    for label in ["A", "B", "C"] {
        assert!(
            std::fs::metadata(out.join(format!("{label}.heapsnapshot")))
                .is_ok_and(|m| m.len() > 100_000),
            "{label}.heapsnapshot: {stderr}"
        );
    }
    // Node's own files were moved out of its folder.
    let left: Vec<_> = std::fs::read_dir(&cwd)
        .expect("read the app's folder")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left in the app's folder: {left:?}");
    assert!(answers_http(app.port), "the app still answers HTTP");
}

/// `docker/k8s/debug-capture.sh` against a stand-in `kubectl` (no cluster here): the
/// `kubectl debug` it runs (the pod's first container as `--target`, the general profile,
/// `heapsight capture --pid 1` and the arguments given), and the capture's exit code read
/// back from the pod's ephemeral container status.
#[test]
fn the_debug_capture_script_runs_kubectl_debug_into_the_app_container() {
    let dir = scratch("kubectl");
    let _remove = RemoveOnDrop(dir.clone());
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let log = dir.join("calls");
    let kubectl = dir.join("kubectl");
    std::fs::write(
        &kubectl,
        format!(
            "#!/bin/sh\n\
             printf '%s\\n' \"$*\" >> '{}'\n\
             case \"$*\" in\n\
             *containers*name*) printf app ;;\n\
             *ephemeralContainerStatuses*) printf 2 ;;\n\
             esac\n",
            log.display()
        ),
    )
    .expect("write the stand-in kubectl");
    Command::new("chmod")
        .arg("+x")
        .arg(&kubectl)
        .status()
        .expect("chmod");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = Command::new("bash")
        .arg(repo_root().join("docker/k8s/debug-capture.sh"))
        .args(["-n", "shop", "checkout-7f9c5", "--", "--duration", "10m"])
        .args(["--out", "s3://my-bucket/leaks/checkout"])
        .env("PATH", path)
        .env("HEAPSIGHT_IMAGE", "registry.example.com/heapsight:0.1.0")
        .stdin(Stdio::null())
        .output()
        .expect("runs debug-capture.sh");
    let calls = std::fs::read_to_string(&log).expect("kubectl was called");
    assert_eq!(
        run.status.code(),
        Some(2),
        "the capture's exit code: {calls}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines: Vec<&str> = calls.lines().collect();
    assert!(
        lines[0].starts_with("get --namespace shop pod checkout-7f9c5"),
        "{calls}"
    );
    let debug = lines[1];
    assert!(
        debug.starts_with("debug --namespace shop pod/checkout-7f9c5 --stdin ")
            && debug.contains(" --image=registry.example.com/heapsight:0.1.0 ")
            && debug.contains(" --target=app --profile=general ")
            && debug.ends_with(
                " -- heapsight capture --pid 1 --duration 10m --out s3://my-bucket/leaks/checkout"
            ),
        "{debug}"
    );
    assert!(lines[2].contains("ephemeralContainerStatuses"), "{calls}");
}
