//! The capture itself: attach (or start the target), warm up, snapshot A, workload,
//! snapshot B, idle, snapshot C, then record the scripts and write the manifest. With
//! several rounds ([`Options::rounds`]) the workload and its snapshot repeat: `B1` … `BN`,
//! the last also linked as `B.heapsnapshot`; the parts (worker threads, other processes)
//! are snapshotted at A, the last round (their B) and C only. Every
//! phase is reported and timed; every wait races the target's exit so a crash is reported
//! as such, with the target's last words; on any failure the partial files are removed
//! and a target we started is stopped.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use regex_lite::Regex;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

use crate::cdp::Cdp;
use crate::cgroup;
use crate::error::{CaptureError, Result};
use crate::headroom;
use crate::heap;
use crate::inspector::{self, WsEndpoint};
use crate::manifest::{
    self, AllocationTracking, Manifest, MemoryLimit, Mode, PhaseRecord, RoundRecord, Script,
    Selection, SnapshotFile, SnapshotMemory, TrackingSince, MANIFEST_FILE, MANIFEST_VERSION,
};
use crate::options::{Options, Output, Source};
use crate::output::{self, OutputDir};
use crate::parts::{self, Parts};
use crate::pid;
use crate::process::{shell_quote, Child, Spec};
use crate::report::{human_bytes, OutputSource, Phase, Reporter};
use crate::scripts;
use crate::signal::{self, SignalSource};
use crate::time::{human, rfc3339};
use crate::tree;

/// The inspector flag added to a target we start: loopback only, any free port.
pub const INSPECT_FLAG: &str = "--inspect=127.0.0.1:0";

/// A finished capture.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The capture folder, holding `A.heapsnapshot`, `B.heapsnapshot`, `C.heapsnapshot`
    /// and `manifest.json`.
    pub dir: PathBuf,
    /// What `manifest.json` says.
    pub manifest: Manifest,
}

/// Runs a whole capture. On error nothing is left behind: partial files are removed and
/// a target we started is stopped. Dropping the future (on Ctrl-C, say) cleans up the same
/// way, killing a started target at once.
pub async fn capture(opts: &Options, reporter: Arc<dyn Reporter>) -> Result<Capture> {
    let ready_re = check(opts)?;
    let started = SystemTime::now();
    let out = match &opts.output {
        Output::Project(root) => {
            OutputDir::create_unique(&output::default_capture_dir(root, started))?
        }
        Output::Dir(dir) => OutputDir::create(dir)?,
    };
    let mut run = Run {
        opts,
        reporter,
        out,
        ready_re,
        started,
        phases: Vec::new(),
        files: Vec::new(),
        rounds: Vec::new(),
        round: 0,
        target: None,
        ready: None,
        cdp: None,
        signal: None,
        pid: None,
        node_version: None,
        command: Vec::new(),
        inspector: None,
        app_port: None,
        scripts: Vec::new(),
        skipped: 0,
        tracking: None,
        paused: false,
        tracking_live: false,
        workers_announced: false,
        announced: None,
        selection: None,
        workspace: None,
        other_processes: Vec::new(),
        parts: Parts::default(),
        memory_limit: None,
        local_pid: None,
        opened_inspector: None,
        snapshot_memory: Vec::new(),
    };
    match run.go().await {
        Ok(manifest) => {
            let dir = run.out.path().to_owned();
            if let Output::Project(root) = &opts.output {
                output::write_latest(root, &dir)?;
            }
            run.out.commit();
            Ok(Capture { dir, manifest })
        }
        Err(e) => Err(run.fail(e).await),
    }
}

/// What to say when the process given by pid is a launcher (npm started with
/// `NODE_OPTIONS=--heapsnapshot-signal=...` handles the signal too): which Node processes
/// below it could be the service.
fn launcher_warning(pid: i64, command: &[String]) -> String {
    let below = tree::node_descendants(pid);
    let hint = if below.is_empty() {
        "no Node process runs below it".to_owned()
    } else {
        let listed: Vec<String> = below
            .iter()
            .map(|(p, c)| format!("{p} ({})", c.join(" ")))
            .collect();
        format!("the Node processes below it: {}", listed.join(", "))
    };
    format!(
        "the captured process is {} (pid {pid}), not your service: it only launches others; \
         {hint}. Give --pid the one that runs your code",
        manifest::process_name(command)
    )
}

/// The user's project: as asked, else the started command's folder, else ours; absolute
/// and with symbolic links resolved, as Node names its scripts.
fn workspace_of(opts: &Options, cwd: Option<&std::path::Path>) -> PathBuf {
    let dir = opts
        .workspace
        .clone()
        .or_else(|| cwd.map(std::path::Path::to_path_buf))
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// Checks the options before anything starts; returns the compiled ready-line regex.
fn check(opts: &Options) -> Result<Option<Regex>> {
    let spawn = matches!(opts.source, Source::Spawn { .. });
    if opts.track_allocations && matches!(opts.source, Source::Signal { .. }) {
        return Err(CaptureError::Config(
            "--track-allocations needs the inspector, and signal mode (--pid) has none: start \
             the process with heapsight (`heapsight capture --track-allocations -- node app.js`) \
             or attach with --port"
                .into(),
        ));
    }
    if let Source::Spawn { command, .. } = &opts.source {
        if command.is_empty() {
            return Err(CaptureError::Config(
                "no command to start: put it after `--`, e.g. `heapsight capture -- node app.js`"
                    .into(),
            ));
        }
    }
    let re = match &opts.ready_line {
        None => None,
        Some(_) if !spawn => {
            return Err(CaptureError::Config(
                "--ready-line watches the target's stdout, so heapsight must start the target \
                 (`heapsight capture --ready-line ... -- node app.js`); when attaching, use \
                 --warmup or --warmup-cmd"
                    .into(),
            ))
        }
        Some(pattern) => Some(Regex::new(pattern).map_err(|e| {
            CaptureError::Config(format!(
                "--ready-line `{pattern}` is not a valid regular expression: {e}"
            ))
        })?),
    };
    let uses_port = [&opts.load, &opts.warmup_command]
        .iter()
        .any(|c| c.as_deref().is_some_and(|c| c.contains("{port}")));
    if uses_port && matches!(opts.source, Source::Pid { .. }) {
        return Err(CaptureError::Config(
            "a command uses {port}, but with --pid heapsight starts nothing and reads no ready \
             line: write the service's port in the command itself ({pid} is known)"
                .into(),
        ));
    }
    if uses_port && re.as_ref().is_none_or(|r| r.captures_len() < 2) {
        return Err(CaptureError::Config(
            "a command uses {port}, but no port is known: give --ready-line a capture group \
             that matches the port, e.g. --ready-line 'listening on port (\\d+)'"
                .into(),
        ));
    }
    Ok(re)
}

/// What the ready line matched.
#[derive(Debug, Clone)]
struct ReadyMatch {
    line: String,
    port: Option<String>,
}

fn ready_match(re: &Regex, line: &str) -> Option<ReadyMatch> {
    let caps = re.captures(line)?;
    let port = caps
        .name("port")
        .or_else(|| caps.get(1))
        .map(|m| m.as_str().to_owned());
    Some(ReadyMatch {
        line: line.to_owned(),
        port,
    })
}

/// The inspector flag of a tracked start: loopback only, any free port, and the main
/// script held until we send `Runtime.runIfWaitingForDebugger` (tracking is on by then).
pub const INSPECT_BRK_FLAG: &str = "--inspect-brk=127.0.0.1:0";

/// V8 flags given to a `node` we start with allocation tracking, each only if that binary
/// lists it in `--v8-options` (all of Node 18 to 26 do). While tracking, V8 stops following
/// an object's stack once a compacting GC moves it, and inlined frames are missing from the
/// stacks; these two keep both. Node refuses V8 flags in `NODE_OPTIONS`, so a target
/// started through a wrapper, or attached to, runs without them.
pub const TRACKING_V8_FLAGS: &[&str] = &[
    "--no-compact",
    "--no-turbo-inlining",
    "--no-maglev-inlining",
];

/// Whether `program` names a Node binary by its file name: `node`, `nodejs`, `node20`,
/// `node-22`, `node.exe`.
fn is_node_program(program: &str) -> bool {
    let name = std::path::Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name == "node" || name == "nodejs" || name.starts_with("node.") || {
        // node20, node-22 and the like
        name.strip_prefix("node").is_some_and(|rest| {
            rest.trim_start_matches(['-', '_'])
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
        })
    }
}

/// How the target is started.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Launch {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// The program is `node` itself, so flags went on its command line.
    is_node: bool,
    /// It waits for `Runtime.runIfWaitingForDebugger` before its main script.
    paused: bool,
}

/// Puts the inspector flag into the command: after the program if it is `node` (then
/// `--inspect-brk` when `pause`, and `node_flags`), else `--inspect` into `NODE_OPTIONS`
/// (there a paused start would hold every Node process the wrapper starts, and V8 flags are
/// refused).
fn inject_inspector(
    command: &[String],
    env: &[(String, String)],
    pause: bool,
    node_flags: &[String],
    port: Option<u16>,
) -> Launch {
    let program = command.first().cloned().unwrap_or_default();
    let mut args: Vec<String> = command.iter().skip(1).cloned().collect();
    let mut env = env.to_vec();
    let is_node = is_node_program(&program);
    if is_node {
        let flag = match (pause, port) {
            (true, Some(port)) => format!("--inspect-brk=127.0.0.1:{port}"),
            (false, Some(port)) => format!("--inspect=127.0.0.1:{port}"),
            (true, None) => INSPECT_BRK_FLAG.to_owned(),
            (false, None) => INSPECT_FLAG.to_owned(),
        };
        let ours = std::iter::once(flag).chain(node_flags.iter().cloned());
        args.splice(0..0, ours);
    }
    // Every Node process under the command opens its own loopback inspector too (a
    // `cluster` worker, a child the app spawns), so that the one running the user's code
    // can be found (see `tree`). Children inherit it; the flag on the command line wins
    // for `node` itself.
    {
        let value = format!("{} {INSPECT_FLAG}", node_options(&env))
            .trim()
            .to_owned();
        env.push(("NODE_OPTIONS".to_owned(), value));
    }
    Launch {
        program,
        args,
        env,
        is_node,
        paused: is_node && pause,
    }
}

/// Ports a `node` we start may need above its own inspector's: a `cluster` primary's workers
/// open theirs on its port + 1, + 2, … (Node's default), one per worker.
const INSPECTOR_PORT_BLOCK: u16 = 64;

/// A loopback port for the inspector of a `node` we start, below the kernel's ephemeral
/// range, whose next [`INSPECTOR_PORT_BLOCK`] ports are free too. With port 0 the kernel
/// picks one inside the ephemeral range, whose neighbours any process's outgoing connection
/// or `bind(0)` may take next, and a cluster worker whose port was taken runs without an
/// inspector (seen in CI: "Starting inspector on 127.0.0.1:46146 failed: address already in
/// use"). Outside that range only an explicit bind takes a port. `None`: let the kernel pick.
fn quiet_inspector_port() -> Option<u16> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (
        10_000u16,
        ephemeral_low.saturating_sub(INSPECTOR_PORT_BLOCK + 1),
    );
    if high <= low {
        return None;
    }
    let span = high - low;
    // Spread concurrent captures apart: start where this process and time point.
    let seed = std::process::id()
        ^ SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    let start = (seed % u32::from(span)) as u16;
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    (0..span)
        .step_by(usize::from(INSPECTOR_PORT_BLOCK) + 1)
        .map(|k| low + (start + k) % span)
        .take(200)
        .find(|&port| (port..=port + INSPECTOR_PORT_BLOCK).all(free))
}

/// The flags of `wanted` (`--no-x` or `--x`) that `node --v8-options` lists, run as the
/// target will be (same working directory and environment). An error says why none could
/// be checked.
async fn v8_flags_of(
    program: &str,
    cwd: Option<&std::path::Path>,
    env: &[(String, String)],
    wanted: &[&str],
) -> std::result::Result<Vec<String>, String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg("--v8-options")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .map_err(|_| format!("`{program} --v8-options` did not answer within 20 s"))?
        .map_err(|e| format!("cannot run `{program} --v8-options`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{program} --v8-options` failed ({})",
            crate::process::status_words(out.status)
        ));
    }
    let listed = v8_option_names(&String::from_utf8_lossy(&out.stdout));
    Ok(wanted
        .iter()
        .filter(|flag| {
            let name = flag.trim_start_matches("--");
            let name = name.strip_prefix("no-").unwrap_or(name);
            listed.iter().any(|l| l == name)
        })
        .map(|f| (*f).to_owned())
        .collect())
}

/// The option names of `node --v8-options` output: lines like `  --compact (Perform ...)`.
fn v8_option_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.trim_start().strip_prefix("--"))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|name| name.replace('_', "-"))
        .collect()
}

/// The NODE_OPTIONS the target will see: the command's environment's, else ours, which it
/// inherits.
fn node_options(env: &[(String, String)]) -> String {
    env.iter()
        .rev()
        .find(|(k, _)| k == "NODE_OPTIONS")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("NODE_OPTIONS").ok())
        .unwrap_or_default()
}

/// Node's inspector flags among `tokens` (a command line, then NODE_OPTIONS), each with its
/// value: `--inspect-port=P`, `--inspect-port P`, `--debug-port`, `--inspect[-brk|-wait]=V`.
/// A bare `--inspect` has no value and is left out.
pub(crate) fn inspector_flags<'t>(tokens: &[&'t str]) -> Vec<(&'t str, &'t str)> {
    let mut found = Vec::new();
    for (i, &token) in tokens.iter().enumerate() {
        let Some(rest) = token.strip_prefix("--") else {
            continue;
        };
        let (name, inline) = match rest.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (rest, None),
        };
        let takes_value = matches!(name, "inspect-port" | "debug-port");
        if !(takes_value || matches!(name, "inspect" | "inspect-brk" | "inspect-wait")) {
            continue;
        }
        let value = match (inline, takes_value) {
            (Some(v), _) => v,
            (None, true) => tokens.get(i + 1).copied().unwrap_or_default(),
            (None, false) => continue,
        };
        found.push((token, value));
    }
    found
}

/// The first inspector flag in `args` or `node_options` that would make Node listen on a
/// host that is not loopback (`--inspect=0.0.0.0:9229`, `--inspect-port [::]:9229`), with
/// that host. Node keeps the last such flag, so a user's flag would override ours; it is
/// refused before the target starts rather than noticed once it listens everywhere. App
/// arguments after the script are scanned too: a false alarm there is rare and says why.
pub(crate) fn remote_inspect_flag(args: &[String], node_options: &str) -> Option<(String, String)> {
    let tokens: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .chain(node_options.split_whitespace())
        .collect();
    for (token, value) in inspector_flags(&tokens) {
        let host = if let Some(v6) = value.strip_prefix('[') {
            v6.split(']').next().unwrap_or_default()
        } else if let Some((host, _port)) = value.rsplit_once(':') {
            host
        } else if value.chars().all(|c| c.is_ascii_digit()) {
            continue;
        } else {
            value
        };
        if !host.is_empty() && !inspector::is_loopback(host) {
            return Some((token.to_string(), host.to_owned()));
        }
    }
    None
}

/// Replaces `{pid}` and `{port}` in a helper command.
fn substitute(template: &str, pid: Option<i64>, port: Option<&str>) -> Result<String> {
    let mut cmd = template.to_owned();
    if cmd.contains("{pid}") {
        let pid = pid.ok_or_else(|| {
            CaptureError::Config("a command uses {pid}, but the target's pid is unknown".into())
        })?;
        cmd = cmd.replace("{pid}", &pid.to_string());
    }
    if cmd.contains("{port}") {
        let port = port.ok_or_else(|| {
            CaptureError::Config(
                "a command uses {port}, but the ready line's capture group matched nothing".into(),
            )
        })?;
        cmd = cmd.replace("{port}", &shell_quote(port));
    }
    Ok(cmd)
}

/// A target we started: the process, and a flag raised when Node says it is waiting for
/// the debugger to disconnect (it called `process.exit()` or ran out of work while we were
/// attached, and will not exit until we let go).
struct Target {
    child: Child,
    exiting: watch::Receiver<bool>,
    /// Lowers `exiting` again: while the process to capture is being chosen, a
    /// short-lived Node process under the command (a `prestart` script) we were probing may
    /// have said it waits for the debugger.
    exiting_reset: Arc<watch::Sender<bool>>,
}

/// How long, after the ready line, the choice waits for a process that is not a launcher.
const READY_GRACE: Duration = Duration::from_secs(2);

/// What Node prints when it would exit but an inspector session is open.
const WAITING_FOR_DEBUGGER: &str = "Waiting for the debugger to disconnect";

/// Whether a stderr line is Node's own inspector status, which we report in our words.
fn is_inspector_chatter(line: &str) -> bool {
    [
        "Debugger listening on ",
        "Debugger attached.",
        "Debugger ending on ",
        "For help, see: https://nodejs.org/",
        WAITING_FOR_DEBUGGER,
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

/// `1 user script`, `2 user scripts`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Races `work` against the exit of the target we started, but not against the
/// "waiting for the debugger" line, which may come from another process under it.
async fn guarded_against_exit<T>(
    target: Option<&Target>,
    phase: Phase,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let Some(target) = target else {
        return work.await;
    };
    tokio::select! {
        r = work => r,
        exit = target.child.exited() => Err(CaptureError::TargetExited {
            status: exit.words,
            during: phase.name().to_owned(),
            output: Vec::new(),
        }),
    }
}

/// Races `work` against the exit of the target we started, if any.
async fn guarded<T>(
    target: Option<&Target>,
    phase: Phase,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let Some(target) = target else {
        return work.await;
    };
    let child = &target.child;
    let exited = |words: String| CaptureError::TargetExited {
        status: words,
        during: phase.name().to_owned(),
        output: Vec::new(),
    };
    let mut exiting = target.exiting.clone();
    tokio::select! {
        r = work => match r {
            Err(e) if is_connection_loss(&e) => {
                // The socket usually closes a moment before the exit is seen.
                match child.exited_within(Duration::from_secs(2)).await {
                    Some(exit) => Err(exited(exit.words)),
                    None => Err(e),
                }
            }
            other => other,
        },
        exit = child.exited() => Err(exited(exit.words)),
        // `fail` closes the session and then reads the real exit status.
        _ = exiting.wait_for(|e| *e) => Err(exited("it is exiting".to_owned())),
    }
}

fn is_connection_loss(e: &CaptureError) -> bool {
    matches!(
        e,
        CaptureError::Disconnected { .. }
            | CaptureError::SnapshotIncomplete { .. }
            | CaptureError::Unreachable { .. }
    )
}

/// A phase under way.
struct Started {
    phase: Phase,
    what: String,
    at: Instant,
    wall: SystemTime,
}

/// The state of one capture.
struct Run<'o> {
    opts: &'o Options,
    reporter: Arc<dyn Reporter>,
    out: OutputDir,
    ready_re: Option<Regex>,
    started: SystemTime,
    phases: Vec<PhaseRecord>,
    files: Vec<SnapshotFile>,
    /// The snapshots after each round, when there are several.
    rounds: Vec<RoundRecord>,
    /// The round under way (1-based; 0 before the first).
    round: u32,
    target: Option<Target>,
    ready: Option<watch::Receiver<Option<ReadyMatch>>>,
    cdp: Option<Cdp>,
    signal: Option<SignalSource>,
    pid: Option<i64>,
    node_version: Option<String>,
    command: Vec<String>,
    inspector: Option<String>,
    app_port: Option<String>,
    scripts: Vec<Script>,
    skipped: u64,
    /// Allocation tracking as planned at start and confirmed once it is on.
    tracking: Option<AllocationTracking>,
    /// The target we started waits for `Runtime.runIfWaitingForDebugger`.
    paused: bool,
    /// Inspector URLs announced after the first by Node processes under the command.
    announced: Option<mpsc::UnboundedReceiver<String>>,
    /// How the captured process was chosen under the command.
    selection: Option<Selection>,
    /// The user's project, absolute.
    workspace: Option<PathBuf>,
    /// Allocation tracking is on in the process `cdp` talks to.
    tracking_live: bool,
    /// `NodeWorker` was enabled early (a paused start) to let its held workers run; it is
    /// disabled before A, where the parts enable it for the capture.
    workers_announced: bool,
    /// Other processes under the command chosen for capture, besides the main one.
    other_processes: Vec<(Cdp, tree::ProcessInfo)>,
    /// The heaps captured beside the main one: its worker threads, other processes.
    parts: Parts,
    /// The target's cgroup memory limit, read once it is attached (it may be stopped
    /// before the manifest is written).
    memory_limit: Option<MemoryLimit>,
    /// The target's pid in our `/proc`, when its memory can be read there (the headroom
    /// check).
    local_pid: Option<i32>,
    /// The inspector we opened with SIGUSR1, closed at the end (`--pid` mode).
    opened_inspector: Option<WsEndpoint>,
    /// The headroom check and measured peak of each main-heap snapshot.
    snapshot_memory: Vec<SnapshotMemory>,
}

impl Run<'_> {
    fn begin(&self, phase: Phase, what: impl Into<String>) -> Started {
        let what = what.into();
        self.reporter.phase_started(phase, &what);
        Started {
            phase,
            what,
            at: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    fn end(&mut self, s: Started, summary: impl Into<String>) {
        let took = s.at.elapsed();
        let summary = summary.into();
        self.reporter.phase_finished(s.phase, took, &summary);
        self.phases.push(PhaseRecord {
            phase: s.phase,
            detail: s.what,
            summary,
            started_at: rfc3339(s.wall),
            duration_ms: took.as_millis() as u64,
        });
    }

    async fn go(&mut self) -> Result<Manifest> {
        self.attach().await?;
        // An attached target's pid is its own PID namespace's: checked against its argv[0].
        let attached = matches!(self.opts.source, Source::Url(_) | Source::Port { .. });
        let exec_path = attached.then(|| self.command.first().map_or("", String::as_str));
        self.memory_limit = self
            .pid
            .and_then(|pid| cgroup::recorded_limit(pid, exec_path));
        if self.cdp.is_some() {
            self.local_pid = self.pid.and_then(|pid| headroom::local_pid(pid, exec_path));
        }
        // The other processes chosen under the command are captured beside the main one.
        for (cdp, info) in std::mem::take(&mut self.other_processes) {
            let title = match info.cluster_worker {
                Some(id) => format!("cluster worker {id} (pid {})", info.pid),
                None => format!(
                    "{} (pid {})",
                    manifest::process_name(&info.command),
                    info.pid
                ),
            };
            let script = info.command.get(1).cloned();
            self.add_process_part(cdp, info.pid, title, script);
        }
        self.warm_up().await?;
        self.snapshot(Phase::SnapshotA, "A").await?;
        let rounds = self.opts.rounds.max(1);
        for round in 1..=rounds {
            self.round = round;
            self.workload().await?;
            if rounds == 1 {
                self.snapshot(Phase::SnapshotB, "B").await?;
            } else {
                self.round_snapshot(round, rounds).await?;
            }
        }
        self.idle().await?;
        self.snapshot(Phase::SnapshotC, "C").await?;
        if self.cdp.is_some() || self.parts.any() {
            self.record_scripts().await?;
        }
        self.finish().await?;
        self.write_manifest()
    }

    async fn attach(&mut self) -> Result<()> {
        let opts = self.opts;
        match &opts.source {
            Source::Spawn { command, cwd, env } => {
                let shown = command
                    .iter()
                    .map(|a| shell_quote(a))
                    .collect::<Vec<_>>()
                    .join(" ");
                let held = if opts.track_allocations
                    && command.first().is_some_and(|p| is_node_program(p))
                {
                    ", held before its first line until allocation tracking is on"
                } else {
                    ""
                };
                let s = self.begin(
                    Phase::Attach,
                    format!("start `{shown}` with the inspector on 127.0.0.1 (a free port){held}"),
                );
                self.command = command.clone();
                self.workspace = Some(workspace_of(opts, cwd.as_deref()));
                let ep = self.spawn(command, cwd.clone(), env).await?;
                self.connect(&ep).await?;
                if self.paused {
                    // Held before its first line: track, then let it run, so that its
                    // children (if any) start.
                    self.identify().await?;
                    self.start_tracking(String::new()).await?;
                }
                let chosen = self.see_through().await?;
                let summary = self.identify().await?;
                let summary = self.start_tracking(summary).await?;
                self.end(s, format!("{summary}; {chosen}"));
            }
            Source::Url(url) => {
                let s = self.begin(Phase::Attach, format!("attach to {url}"));
                self.workspace = Some(workspace_of(opts, None));
                let ep = WsEndpoint::parse(url)?;
                self.connect(&ep).await?;
                let summary = self.identify().await?;
                let summary = self.start_tracking(summary).await?;
                self.end(s, summary);
            }
            Source::Port { host, port } => {
                let addr = inspector::authority(host, *port);
                self.workspace = Some(workspace_of(opts, None));
                let s = self.begin(
                    Phase::Attach,
                    format!("find the target at http://{addr}/json/list and attach"),
                );
                let ep = inspector::discover(host, *port, opts.allow_remote, opts.connect_timeout)
                    .await?;
                self.connect(&ep).await?;
                let summary = self.identify().await?;
                let summary = self.start_tracking(summary).await?;
                self.end(s, summary);
            }
            Source::Pid { pid } => {
                let s = self.begin(
                    Phase::Attach,
                    format!(
                        "check process {pid}, open its inspector with SIGUSR1 and attach (it is \
                         closed again at the end)"
                    ),
                );
                let checked = pid::check(*pid)?;
                self.command = checked.command.clone();
                let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
                self.workspace = Some(workspace_of(opts, cwd.as_deref()));
                let opened = pid::open(&checked, opts.connect_timeout).await?;
                let mut cdp = opened.cdp;
                cdp.set_timeout(opts.stall_timeout);
                self.inspector = Some(cdp.url().to_owned());
                self.cdp = Some(cdp);
                if opened.opened_by_us {
                    self.opened_inspector = Some(opened.endpoint.clone());
                }
                let summary = self.identify().await?;
                // `process.pid` may be its own PID namespace's; ours names it here.
                self.pid = Some(i64::from(*pid));
                let summary = self.start_tracking(summary).await?;
                let how = if opened.opened_by_us {
                    format!(
                        "inspector opened with SIGUSR1 on port {}, closed at the end",
                        opened.endpoint.port
                    )
                } else {
                    format!(
                        "its inspector was already open on port {} and stays open",
                        opened.endpoint.port
                    )
                };
                self.end(s, format!("{summary}; {how}"));
            }
            Source::Signal {
                pid,
                signal: name,
                dir,
            } => {
                let sig = signal::parse_signal(name)?;
                let s = self.begin(
                    Phase::Attach,
                    format!(
                        "check that process {pid} handles {} and that {} exists",
                        sig.as_str(),
                        dir.display()
                    ),
                );
                signal::check_alive(*pid)?;
                signal::check_handles(*pid, sig)?;
                if !dir.is_dir() {
                    return Err(CaptureError::Config(format!(
                        "{} is not a folder; --dir names where the process writes its \
                         snapshots (its working directory or --diagnostic-dir)",
                        dir.display()
                    )));
                }
                self.pid = Some(i64::from(*pid));
                self.command = signal::command_line(*pid);
                self.node_version = signal::node_version(*pid).await;
                self.signal = Some(SignalSource {
                    pid: *pid,
                    signal: sig,
                    dir: dir.clone(),
                    stall: opts.stall_timeout,
                    redact: opts.redact,
                });
                let version = self
                    .node_version
                    .as_deref()
                    .unwrap_or("unknown Node version");
                let summary = format!("process {pid} ({version}) catches {}", sig.as_str());
                if tree::command_is_launcher(&self.command) {
                    self.reporter
                        .note(&launcher_warning(i64::from(*pid), &self.command));
                }
                self.end(s, summary);
            }
        }
        Ok(())
    }

    /// Starts the target and waits for its inspector URL.
    async fn spawn(
        &mut self,
        command: &[String],
        cwd: Option<PathBuf>,
        env: &[(String, String)],
    ) -> Result<WsEndpoint> {
        let track = self.opts.track_allocations;
        let program = command.first().map(String::as_str).unwrap_or_default();
        let mut flags = Vec::new();
        if track && is_node_program(program) {
            match v8_flags_of(program, cwd.as_deref(), env, TRACKING_V8_FLAGS).await {
                Ok(found) => {
                    let missing: Vec<&str> = TRACKING_V8_FLAGS
                        .iter()
                        .copied()
                        .filter(|f| !found.iter().any(|g| g == f))
                        .collect();
                    if !missing.is_empty() {
                        self.reporter.note(&format!(
                            "`{program}` has no {}: tracking without it, some allocation \
                             stacks may be missing or cut",
                            missing.join(" or ")
                        ));
                    }
                    flags = found;
                }
                Err(why) => self.reporter.note(&format!(
                    "{why}; tracking without {}",
                    TRACKING_V8_FLAGS.join(" ")
                )),
            }
        }
        let Launch {
            program,
            args,
            env,
            is_node,
            paused,
        } = inject_inspector(command, env, track, &flags, quiet_inspector_port());
        if track {
            self.paused = paused;
            self.tracking = Some(AllocationTracking {
                since: if paused {
                    TrackingSince::Start
                } else {
                    TrackingSince::Attach
                },
                flags,
            });
        }
        if !self.opts.allow_remote {
            if let Some((flag, host)) = remote_inspect_flag(&args, &node_options(&env)) {
                return Err(CaptureError::RemoteRefused {
                    addr: format!("{host} (from `{flag}` in the command or NODE_OPTIONS)"),
                });
            }
        }
        if !is_node {
            self.reporter.note(&format!(
                "`{program}` is not `node`: the inspector flag goes into NODE_OPTIONS, so that \
                 every Node process it starts opens one; the one running the workspace's files \
                 is captured"
            ));
            if track {
                self.reporter.note(
                    "--track-allocations through a wrapper: heapsight cannot start the Node \
                     process paused (every Node process the wrapper starts would wait) nor give \
                     it V8 flags (Node refuses them in NODE_OPTIONS), so allocations are tracked \
                     from attach time: objects allocated before have no allocation stack. Start \
                     `node` directly to track from the first line",
                );
            }
        }
        let (url_tx, url_rx) = oneshot::channel::<std::result::Result<String, String>>();
        let url_tx = Mutex::new(Some(url_tx));
        // Every Node process under the command announces its inspector on this stderr: the
        // first answers `url_rx`, the others go to `announced` (see `see_through`).
        let (more_tx, more_rx) = mpsc::unbounded_channel::<String>();
        self.announced = Some(more_rx);
        let (exiting_tx, exiting) = watch::channel(false);
        let exiting_tx = Arc::new(exiting_tx);
        let exiting_reset = exiting_tx.clone();
        let on_stderr = Box::new(move |line: &str| {
            if line.starts_with(WAITING_FOR_DEBUGGER) {
                let _ = exiting_tx.send(true);
            }
            let found = if let Some(url) = line.strip_prefix("Debugger listening on ") {
                Some(Ok(url.trim().to_owned()))
            } else if line.starts_with("Starting inspector on") && line.contains("failed") {
                Some(Err(line.to_owned()))
            } else {
                None
            };
            if let Some(found) = found {
                match url_tx.lock().ok().and_then(|mut t| t.take()) {
                    Some(tx) => {
                        let _ = tx.send(found);
                    }
                    None => {
                        if let Ok(url) = found {
                            let _ = more_tx.send(url);
                        }
                    }
                }
            }
            !is_inspector_chatter(line)
        });
        let (ready_tx, ready_rx) = watch::channel(None);
        let on_stdout = self.ready_re.clone().map(|re| {
            Box::new(move |line: &str| {
                if ready_tx.borrow().is_none() {
                    if let Some(m) = ready_match(&re, line) {
                        let _ = ready_tx.send(Some(m));
                    }
                }
                true
            }) as crate::process::LineHook
        });
        if on_stdout.is_some() {
            self.ready = Some(ready_rx);
        }
        let child = Child::spawn(
            Spec {
                program,
                args,
                cwd,
                env,
                source: OutputSource::Target,
                on_stdout,
                on_stderr: Some(on_stderr),
            },
            self.reporter.clone(),
        )?;
        self.pid = Some(i64::from(child.pid()));
        let child = &self
            .target
            .insert(Target {
                child,
                exiting,
                exiting_reset,
            })
            .child;
        let timeout = self.opts.connect_timeout;
        let url = tokio::select! {
            r = url_rx => match r {
                Ok(Ok(url)) => url,
                Ok(Err(line)) => {
                    return Err(CaptureError::InspectorPortBusy { line, output: Vec::new() })
                }
                // Its stderr closed without the line: it is exiting.
                Err(_) => {
                    let exit = child.exited().await;
                    return Err(CaptureError::TargetExited {
                        status: exit.words,
                        during: Phase::Attach.name().to_owned(),
                        output: Vec::new(),
                    });
                }
            },
            exit = child.exited() => {
                return Err(CaptureError::TargetExited {
                    status: exit.words,
                    during: Phase::Attach.name().to_owned(),
                    output: Vec::new(),
                })
            }
            _ = tokio::time::sleep(timeout) => {
                return Err(CaptureError::Timeout {
                    what: "the target to print `Debugger listening on ws://...` on stderr \
                           (is it a Node.js program?)"
                        .into(),
                    after: timeout,
                })
            }
        };
        // `connect` refuses it if the target listens beyond loopback.
        WsEndpoint::parse(&url)
    }

    /// Finds the process(es) under the started command that run the user's code, and
    /// makes `cdp` the main one. Every Node process under the command announces its own
    /// inspector; the choice is made once the service is up (its ready line, else a second
    /// without new processes after one that is not a launcher). Returns what was taken and
    /// why, for the attach phase's summary.
    async fn see_through(&mut self) -> Result<String> {
        let opts = self.opts;
        let Some(first) = self.cdp.take() else {
            return Ok(String::new());
        };
        // Sessions with the processes seen: only the first stays open while we wait (it may
        // be tracking allocations); the others are closed after the probe and opened again
        // for the choice, so that a short-lived one (a `prestart` script) is never held by us
        // and made to wait for the debugger to disconnect.
        let mut procs: Vec<(Option<Cdp>, WsEndpoint, tree::ProcessInfo)> = Vec::new();
        let child = self.target.as_ref();
        let mut first = first;
        let info = guarded(child, Phase::Attach, tree::probe(&mut first)).await?;
        let first_ep = WsEndpoint::parse(first.url())?;
        // Held only while it tracks allocations (closing would end that); then a "waiting for
        // the debugger" line may be its own.
        let hold_first = self.tracking_live;
        if hold_first {
            procs.push((Some(first), first_ep, info));
        } else {
            first.close().await;
            procs.push((None, first_ep, info));
        }
        let mut announced = self.announced.take();
        let mut ready = self.ready.clone();
        let settle = if ready.is_some() {
            Duration::from_millis(300)
        } else {
            Duration::from_secs(1)
        };
        let deadline = Instant::now()
            + if ready.is_some() {
                opts.ready_timeout
            } else {
                opts.connect_timeout
            };
        let mut last_news = Instant::now();
        let mut is_ready = false;
        let mut ready_at: Option<Instant> = None;
        loop {
            is_ready = is_ready || ready.as_ref().is_some_and(|r| r.borrow().is_some());
            if is_ready && ready_at.is_none() {
                ready_at = Some(Instant::now());
            }
            let service_seen = procs.iter().any(|(_, _, i)| !tree::looks_like_launcher(i));
            // The ready line and the inspector's announcement come through two pipes read
            // apart: the line of a service started by a launcher (`tsx`, `node --watch`) can
            // be read before its announcement. Once ready, wait for a process that is not a
            // launcher, for a short grace at most.
            let up = match (ready.as_ref(), ready_at) {
                (Some(_), Some(at)) => service_seen || Instant::now() >= at + READY_GRACE,
                (Some(_), None) => false,
                (None, _) => service_seen,
            };
            let quiet_since = last_news.max(ready_at.unwrap_or(last_news));
            let wanted_seen = match &opts.pick {
                crate::options::Pick::Worker(id) => {
                    procs.iter().any(|(_, _, i)| i.cluster_worker == Some(*id))
                }
                _ => true,
            };
            let now = Instant::now();
            // An announcement already read from stderr but not yet probed is news, however
            // long the last probe took (on a loaded machine, longer than `settle`).
            let pending = if up && wanted_seen && now >= quiet_since + settle {
                match announced.as_mut().map(|rx| rx.try_recv()) {
                    Some(Ok(url)) => Some(url),
                    _ => break,
                }
            } else {
                None
            };
            if pending.is_none() && now >= deadline {
                if ready.is_some() && !is_ready {
                    return Err(CaptureError::NotReady {
                        pattern: opts.ready_line.clone().unwrap_or_default(),
                        after: opts.ready_timeout,
                        output: Vec::new(),
                    });
                }
                break;
            }
            let url = if let Some(url) = pending {
                Some(url)
            } else {
                let tick = tokio::time::sleep(Duration::from_millis(100));
                let next_url = async {
                    match announced.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                let became_ready = async {
                    match ready.as_mut() {
                        Some(rx) if !is_ready => {
                            let _ = rx.wait_for(Option::is_some).await;
                        }
                        _ => std::future::pending::<()>().await,
                    }
                };
                // The held first process is read meanwhile: it must never wait on us (its
                // worker threads, held at their start by `--inspect-brk`, are let run).
                let held = procs.first_mut().and_then(|(cdp, _, _)| cdp.as_mut());
                let drain = async {
                    match held {
                        Some(cdp) => cdp.drain_events().await,
                        None => std::future::pending().await,
                    }
                };
                let wait = async {
                    tokio::select! {
                        url = next_url => Ok(url),
                        () = became_ready => Ok(None),
                        () = tick => Ok(None),
                        lost = drain => Err(lost.err().unwrap_or(CaptureError::Disconnected {
                            during: "the wait for the service".to_owned(),
                        })),
                    }
                };
                if hold_first {
                    guarded(child, Phase::Attach, wait).await?
                } else {
                    guarded_against_exit(child, Phase::Attach, wait).await?
                }
            };
            let Some(url) = url else {
                continue;
            };
            last_news = Instant::now();
            // A process that is gone, or refuses, is no candidate; nothing to report.
            let Ok(ep) = WsEndpoint::parse(&url) else {
                continue;
            };
            let Ok(mut cdp) = Cdp::connect(&ep, false, opts.connect_timeout).await else {
                continue;
            };
            cdp.set_timeout(opts.stall_timeout);
            let probed = tree::probe(&mut cdp).await;
            cdp.close().await;
            if let Ok(info) = probed {
                procs.push((None, ep, info));
            }
            // The settle counts from when the news was dealt with, not when it arrived.
            last_news = Instant::now();
        }
        // The rest announce into a closed channel from now on: they are not ours.
        drop(announced);
        let workspace = self.workspace.clone().unwrap_or_default();
        let mut seen = Vec::with_capacity(procs.len());
        for (cdp, ep, info) in &mut procs {
            if cdp.is_none() {
                // Gone since the probe: its scripts stay unknown.
                if let Ok(mut again) = Cdp::connect(ep, false, opts.connect_timeout).await {
                    again.set_timeout(opts.stall_timeout);
                    *cdp = Some(again);
                }
            }
            let files = match cdp.as_mut() {
                Some(cdp) => tree::workspace_scripts(cdp, &workspace).await.ok(),
                None => None,
            };
            seen.push(tree::Seen {
                info: info.clone(),
                workspace_scripts: files,
            });
        }
        let choice = tree::choose(&seen, &opts.pick)?;
        let main = choice.taken.first().copied().unwrap_or(0);
        let mut others = Vec::new();
        let mut main_cdp = None;
        for (i, (cdp, _, info)) in procs.into_iter().enumerate() {
            let Some(cdp) = cdp else {
                if i == main {
                    return Err(CaptureError::Config(format!(
                        "the process chosen under the command (pid {}) exited before the \
                         capture began",
                        info.pid
                    )));
                }
                continue;
            };
            if i == main {
                if i != 0 {
                    // Tracking (if on) was started in the first process, not this one.
                    self.tracking_live = false;
                    if let Some(t) = self.tracking.as_mut() {
                        t.since = TrackingSince::Attach;
                        t.flags.retain(|f| info.exec_argv.contains(f));
                    }
                }
                self.inspector = Some(cdp.url().to_owned());
                main_cdp = Some(cdp);
            } else if choice.taken.contains(&i) {
                others.push((cdp, info));
            } else {
                cdp.close().await;
            }
        }
        self.cdp = main_cdp;
        self.other_processes = others;
        if let Some(target) = self.target.as_ref() {
            target.exiting_reset.send_replace(false);
        }
        let summary = choice.selection.summary.clone();
        if choice.selection.candidates.len() > 1 {
            self.reporter.note(&summary);
        }
        self.selection = Some(choice.selection);
        Ok(summary)
    }

    async fn connect(&mut self, ep: &WsEndpoint) -> Result<()> {
        let opts = self.opts;
        let mut cdp = guarded(
            self.target.as_ref(),
            Phase::Attach,
            Cdp::connect(ep, opts.allow_remote, opts.connect_timeout),
        )
        .await?;
        cdp.set_timeout(opts.stall_timeout);
        self.inspector = Some(cdp.url().to_owned());
        self.cdp = Some(cdp);
        Ok(())
    }

    /// Asks the target for its pid, Node version and argv, and enables the heap profiler.
    /// This allocates a little, before A, so it is part of the baseline.
    async fn identify(&mut self) -> Result<String> {
        let Some(cdp) = self.cdp.as_mut() else {
            return Ok(String::new());
        };
        let child = self.target.as_ref();
        let (value, ()) = guarded(child, Phase::Attach, async {
            let v = cdp
                .call(
                    "Runtime.evaluate",
                    json!({
                        "expression": "[process.pid, process.version, process.argv]",
                        "returnByValue": true,
                        "silent": true,
                    }),
                )
                .await?;
            cdp.call("HeapProfiler.enable", json!({})).await?;
            Ok((v, ()))
        })
        .await?;
        let info = value.pointer("/result/value");
        if let Some(pid) = info.and_then(|v| v.get(0)).and_then(Value::as_i64) {
            self.pid = Some(pid);
        }
        self.node_version = info
            .and_then(|v| v.get(1))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if self.command.is_empty() {
            if let Some(argv) = info.and_then(|v| v.get(2)).and_then(Value::as_array) {
                self.command = argv
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
            }
        }
        Ok(format!(
            "pid {}, Node {}, inspector {}",
            self.pid.map_or("?".to_owned(), |p| p.to_string()),
            self.node_version.as_deref().unwrap_or("?"),
            self.inspector.as_deref().unwrap_or("?")
        ))
    }

    /// With `--track-allocations`: turns V8's allocation tracking on, then lets a target
    /// started paused run its main script. Returns the attach summary, completed.
    async fn start_tracking(&mut self, summary: String) -> Result<String> {
        if !self.opts.track_allocations {
            return Ok(summary);
        }
        let tracking = self.tracking.get_or_insert(AllocationTracking {
            since: TrackingSince::Attach,
            flags: Vec::new(),
        });
        let since = tracking.since;
        let flags = tracking.flags.join(" ");
        if since == TrackingSince::Attach && self.target.is_none() {
            self.reporter.note(&format!(
                "allocation tracking starts now: objects allocated before heapsight attached \
                 (what the app made at start-up included) have no allocation stack, and V8's \
                 {} cannot be given to a running process, so some stacks may be missing. To \
                 track from the first line, let heapsight start it: `heapsight capture \
                 --track-allocations -- node app.js`",
                TRACKING_V8_FLAGS.join(" ")
            ));
        }
        let paused = self.paused;
        self.workers_announced |= paused;
        let live = self.tracking_live;
        let Some(cdp) = self.cdp.as_mut() else {
            return Ok(summary);
        };
        if !live {
            guarded(self.target.as_ref(), Phase::Attach, async {
                cdp.call(
                    "HeapProfiler.startTrackingHeapObjects",
                    json!({ "trackAllocations": true }),
                )
                .await?;
                if paused {
                    // Node holds every worker thread of an `--inspect-brk` process at its
                    // start; announced to us, each is let run whenever we hear of it, until
                    // snapshot A (`Cdp::release_workers`).
                    cdp.release_workers(true);
                    cdp.call(
                        "NodeWorker.enable",
                        json!({ "waitForDebuggerOnStart": false }),
                    )
                    .await?;
                    cdp.call("Runtime.runIfWaitingForDebugger", json!({}))
                        .await?;
                }
                Ok(())
            })
            .await?;
        }
        self.paused = false;
        self.tracking_live = true;
        let how = match since {
            TrackingSince::Start => "allocations tracked from the first line (started paused)",
            TrackingSince::Attach => "allocations tracked from now on (earlier ones have no stack)",
        };
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(", with {flags}")
        };
        Ok(format!("{summary}; {how}{flags}"))
    }

    async fn warm_up(&mut self) -> Result<()> {
        let opts = self.opts;
        let mut steps = Vec::new();
        if let Some(re) = &opts.ready_line {
            steps.push(format!("wait for a stdout line matching `{re}`"));
        }
        if let Some(cmd) = &opts.warmup_command {
            steps.push(format!("run `{cmd}`"));
        }
        if !opts.warmup.is_zero() {
            steps.push(format!("wait {}", human(opts.warmup)));
        }
        if steps.is_empty() {
            steps.push("none asked for".to_owned());
        }
        let s = self.begin(Phase::WarmUp, steps.join(", then "));
        let mut summary = Vec::new();
        if let Some(rx) = self.ready.as_mut() {
            let timeout = opts.ready_timeout;
            let cdp = self.cdp.as_mut();
            let waited = guarded(self.target.as_ref(), Phase::WarmUp, async {
                let not_ready = || CaptureError::NotReady {
                    pattern: opts.ready_line.clone().unwrap_or_default(),
                    after: timeout,
                    output: Vec::new(),
                };
                // The inspector is read meanwhile: a target must never wait on us.
                let drain = async {
                    match cdp {
                        Some(cdp) => cdp.drain_events().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    got = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)) => match got {
                        Ok(Ok(m)) => Ok(m.clone()),
                        Ok(Err(_)) | Err(_) => Err(not_ready()),
                    },
                    lost = drain => Err(lost.err().unwrap_or_else(not_ready)),
                }
            })
            .await?;
            if let Some(m) = waited {
                summary.push(format!("ready: {}", m.line.trim()));
                self.app_port = m.port;
            }
        }
        if let Some(cmd) = &opts.warmup_command {
            let how = self
                .helper("warm-up", OutputSource::WarmUp, cmd, None, Phase::WarmUp)
                .await?;
            summary.push(how);
        }
        if !opts.warmup.is_zero() {
            guarded(self.target.as_ref(), Phase::WarmUp, async {
                tokio::time::sleep(opts.warmup).await;
                Ok(())
            })
            .await?;
            summary.push(format!("waited {}", human(opts.warmup)));
        }
        self.end(s, summary.join("; "));
        Ok(())
    }

    async fn workload(&mut self) -> Result<()> {
        let opts = self.opts;
        let what = match (&opts.load, opts.duration) {
            (Some(cmd), Some(d)) => format!("run `{cmd}` for at most {}", human(d)),
            (Some(cmd), None) => format!("run `{cmd}`"),
            (None, Some(d)) => format!("wait {} while the target works", human(d)),
            (None, None) => "none asked for (B follows A at once)".to_owned(),
        };
        let rounds = opts.rounds.max(1);
        let what = if rounds > 1 {
            format!("round {} of {rounds}: {what}", self.round)
        } else {
            what
        };
        let s = self.begin(Phase::Workload, what);
        // The inspector is read meanwhile: a worker thread the load starts waits for us, and
        // is attached as it starts. The connections and parts are moved out for the load's
        // duration, as running the load command borrows the whole capture.
        let env = self.part_env();
        let mut cdp = self.cdp.take();
        let mut parts = std::mem::take(&mut self.parts);
        let (stop, stopped) = watch::channel(false);
        let serving = parts.serve(cdp.as_mut(), &env, Phase::Workload, stopped);
        let working = async {
            let summary = if let Some(cmd) = &opts.load {
                self.helper(
                    "load",
                    OutputSource::Load,
                    cmd,
                    opts.duration,
                    Phase::Workload,
                )
                .await
            } else if let Some(d) = opts.duration {
                guarded(self.target.as_ref(), Phase::Workload, async {
                    tokio::time::sleep(d).await;
                    Ok(())
                })
                .await
                .map(|()| format!("waited {}", human(d)))
            } else {
                Ok(String::new())
            };
            let _ = stop.send(true);
            summary
        };
        let (summary, served) = tokio::join!(working, serving);
        self.cdp = cdp;
        self.parts = parts;
        let summary = env.with_news(summary?);
        served?;
        self.end(s, summary);
        Ok(())
    }

    async fn idle(&mut self) -> Result<()> {
        let idle = self.opts.idle;
        let s = self.begin(
            Phase::Idle,
            format!(
                "wait {} so the workload's timers and caches can expire",
                human(idle)
            ),
        );
        let env = self.part_env();
        let (parts, cdp) = (&mut self.parts, self.cdp.as_mut());
        // As during the workload, a worker thread started now is attached as it starts.
        guarded(self.target.as_ref(), Phase::Idle, async {
            let (stop, stopped) = watch::channel(false);
            let waiting = async {
                tokio::time::sleep(idle).await;
                let _ = stop.send(true);
            };
            let ((), served) = tokio::join!(waiting, parts.serve(cdp, &env, Phase::Idle, stopped));
            served
        })
        .await?;
        self.end(s, env.with_news(format!("waited {}", human(idle))));
        Ok(())
    }

    /// Runs a warm-up or load command; returns a summary.
    async fn helper(
        &mut self,
        role: &'static str,
        source: OutputSource,
        template: &str,
        limit: Option<Duration>,
        phase: Phase,
    ) -> Result<String> {
        let cmd = substitute(template, self.pid, self.app_port.as_deref())?;
        let mut env = Vec::new();
        if let Some(pid) = self.pid {
            env.push(("HEAPSIGHT_PID".to_owned(), pid.to_string()));
        }
        if let Some(port) = &self.app_port {
            env.push(("HEAPSIGHT_PORT".to_owned(), port.clone()));
        }
        if let Some(n) = self.opts.iterations {
            env.push(("HEAPSIGHT_ITERATIONS".to_owned(), n.to_string()));
        }
        if self.round > 0 {
            env.push(("HEAPSIGHT_ROUND".to_owned(), self.round.to_string()));
        }
        let started = Instant::now();
        let mut helper = Child::spawn(
            Spec {
                program: "sh".to_owned(),
                args: vec!["-c".to_owned(), cmd.clone()],
                cwd: None,
                env,
                source,
                on_stdout: None,
                on_stderr: None,
            },
            self.reporter.clone(),
        )?;
        let waited = guarded(self.target.as_ref(), phase, async {
            Ok(match limit {
                Some(d) => helper.exited_within(d).await,
                None => Some(helper.exited().await),
            })
        })
        .await?;
        match waited {
            None => {
                helper.stop(Duration::from_secs(2)).await;
                Ok(format!(
                    "`{cmd}` stopped after {}",
                    human(started.elapsed())
                ))
            }
            Some(exit) if exit.success => {
                Ok(format!("`{cmd}` finished in {}", human(started.elapsed())))
            }
            Some(exit) => Err(CaptureError::CommandFailed {
                role,
                command: cmd,
                status: exit.words,
                output: helper.final_output().await,
            }),
        }
    }

    async fn snapshot(&mut self, phase: Phase, label: &str) -> Result<()> {
        self.snapshot_as(phase, label, Some(label))
            .await
            .map(|_| ())
    }

    /// The snapshot after round `round` of `rounds` (several): `B<round>.heapsnapshot`,
    /// listed in the manifest's rounds. The last is also `B.heapsnapshot` (a hard link, a
    /// copy where links are refused), so every reader of a triple reads the last round as
    /// B; the parts take their B then.
    async fn round_snapshot(&mut self, round: u32, rounds: u32) -> Result<()> {
        let label = format!("B{round}");
        let last = round == rounds;
        let parts_label = last.then_some("B");
        let (file, bytes) = self
            .snapshot_as(Phase::SnapshotB, &label, parts_label)
            .await?;
        let taken_at = rfc3339(SystemTime::now());
        self.rounds.push(RoundRecord {
            round,
            label,
            file: file.clone(),
            bytes,
            taken_at: taken_at.clone(),
        });
        if last {
            let from = self.out.path().join(&file);
            let to = self.out.file("B.heapsnapshot");
            if std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).map_err(|source| CaptureError::Write {
                    path: to.clone(),
                    source,
                })?;
            }
            self.files.push(SnapshotFile {
                label: "B".to_owned(),
                file: "B.heapsnapshot".to_owned(),
                bytes,
                taken_at,
            });
        }
        Ok(())
    }

    /// Takes snapshot `label` of the main heap into `<label>.heapsnapshot` (listed in the
    /// manifest's files when it is `A`, `B` or `C`), and the parts' snapshot `parts_label`
    /// (none between rounds). Returns the file name and its size.
    async fn snapshot_as(
        &mut self,
        phase: Phase,
        label: &str,
        parts_label: Option<&str>,
    ) -> Result<(String, u64)> {
        let name = format!("{label}.heapsnapshot");
        let path = self.out.file(&name);
        let rounds = self.opts.gc_rounds;
        let what = match &self.signal {
            Some(sig) => format!(
                "send {} to process {} and wait for its snapshot in {}",
                sig.signal.as_str(),
                sig.pid,
                sig.dir.display()
            ),
            None => format!("{rounds} forced GC rounds, then HeapProfiler.takeHeapSnapshot"),
        };
        let threads = self.opts.threads && self.cdp.is_some() && parts_label.is_some();
        let what = match (threads, label) {
            (true, "A") => format!(
                "{what}; NodeWorker.enable, and the same in every worker thread (a worker \
                 started from now on is held at its start until its A is taken)"
            ),
            (true, _) => format!("{what}; the same in every worker thread"),
            (false, _) => what,
        };
        let s = self.begin(phase, what);
        let reporter = self.reporter.clone();
        let env = self.part_env();
        if label == "A" {
            // Worker threads are announced from now on, not during the warm-up; the few
            // objects this makes in the main thread belong to its baseline.
            if std::mem::take(&mut self.workers_announced) {
                if let Some(cdp) = self.cdp.as_mut() {
                    // Detaches the workers announced during the warm-up, so that the
                    // parts' own `NodeWorker.enable` announces them again.
                    cdp.release_workers(false);
                    guarded(
                        self.target.as_ref(),
                        phase,
                        cdp.call("NodeWorker.disable", json!({})),
                    )
                    .await?;
                }
            }
            let (parts, cdp) = (&mut self.parts, self.cdp.as_mut());
            guarded(self.target.as_ref(), phase, parts.start(cdp, &env)).await?;
        }
        let bytes = if let Some(cdp) = self.cdp.as_mut() {
            let (local_pid, force, redact) = (self.local_pid, self.opts.force, self.opts.redact);
            let spill = self.opts.spill.as_ref();
            let first = self.snapshot_memory.first();
            let (bytes, memory) = guarded(self.target.as_ref(), phase, async {
                heap::collect_garbage(cdp, rounds).await?;
                let check = match local_pid {
                    Some(pid) => {
                        let check =
                            headroom::check(cdp, pid, label, first, force, spill, &*reporter);
                        Some(check.await?)
                    }
                    None => None,
                };
                let bytes =
                    heap::take_snapshot(cdp, &path, label, phase, &*reporter, redact).await?;
                Ok((bytes, check.map(headroom::Check::finish)))
            })
            .await?;
            if let Some(memory) = memory {
                self.snapshot_memory.push(memory);
            }
            bytes
        } else if let Some(sig) = &self.signal {
            sig.take(&path, label, phase, &*reporter).await?
        } else {
            return Err(CaptureError::Config("no snapshot source".into()));
        };
        if matches!(label, "A" | "B" | "C") {
            self.files.push(SnapshotFile {
                label: label.to_owned(),
                file: name.clone(),
                bytes,
                taken_at: rfc3339(SystemTime::now()),
            });
        }
        let heaps = match parts_label {
            Some(parts_label) => {
                let (parts, cdp) = (&mut self.parts, self.cdp.as_mut());
                guarded(
                    self.target.as_ref(),
                    phase,
                    parts.snapshot(cdp, parts_label, phase, &env),
                )
                .await?
            }
            None => String::new(),
        };
        let mut summary = format!("{name}, {}", human_bytes(bytes));
        if !heaps.is_empty() {
            summary = format!("{summary}; {heaps}");
        }
        self.end(s, summary);
        Ok((name, bytes))
    }

    /// `Debugger.enable` replays `scriptParsed` for every loaded script; we keep the
    /// user's and read their sources, in the main thread and in every part. Only after C:
    /// enabling the debugger allocates.
    async fn record_scripts(&mut self) -> Result<()> {
        let what = if self.parts.any() {
            "Debugger.enable, then read every user script's source, in every thread"
        } else {
            "Debugger.enable, then read every user script's source"
        };
        let s = self.begin(Phase::Scripts, what);
        let record = self.opts.record_sources;
        let env = self.part_env();
        let mut summary = String::new();
        if let Some(cdp) = self.cdp.as_mut() {
            let recorded = guarded(
                self.target.as_ref(),
                Phase::Scripts,
                scripts::record(cdp, record),
            )
            .await?;
            summary = format!(
                "{} recorded, {} Node internals skipped",
                plural(recorded.scripts.len(), "user script", "user scripts"),
                recorded.skipped
            );
            self.scripts = recorded.scripts;
            self.skipped = recorded.skipped;
        }
        let (parts, cdp) = (&mut self.parts, self.cdp.as_mut());
        let of_parts = guarded(
            self.target.as_ref(),
            Phase::Scripts,
            parts.record_scripts(cdp, &env),
        )
        .await?;
        if !of_parts.is_empty() {
            summary = format!("{summary}; {of_parts}");
        }
        self.end(s, summary);
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        let what = if self.target.is_some() {
            "close the inspector session and stop the target we started"
        } else if self.opened_inspector.is_some() {
            "close the inspector session, then the inspector we opened (the target keeps running)"
        } else if self.cdp.is_some() {
            "close the inspector session (the target keeps running)"
        } else {
            "nothing to close (the target keeps running)"
        };
        let s = self.begin(Phase::Finish, what);
        // Before the connections close: closing does not release a held worker thread (a
        // target we started is stopped anyway, so late announcements are not waited for).
        let env = self.part_env();
        let lingering = self.target.is_none();
        self.parts.finish(self.cdp.as_mut(), &env, lingering).await;
        let mut closed = String::new();
        if let Some(mut cdp) = self.cdp.take() {
            if self.tracking.is_some() {
                // Ends tracking without the fourth full snapshot that
                // `stopTrackingHeapObjects` would stream. Closing the session does the same;
                // this says it plainly to a target that keeps running.
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    cdp.call("HeapProfiler.disable", json!({})),
                )
                .await;
            }
            match self.opened_inspector.take() {
                Some(ep) => match pid::close(cdp, &ep).await {
                    Ok(words) => closed = words,
                    Err(why) => self
                        .reporter
                        .note(&format!("process {}: {why}", self.pid.unwrap_or(0))),
                },
                None => cdp.close().await,
            }
        }
        let summary = match self.target.as_ref().map(|t| &t.child) {
            Some(child) => {
                child.stop(Duration::from_secs(3)).await;
                match child.exit_status() {
                    Some(exit) => format!("target stopped ({})", exit.words),
                    None => "target did not stop".to_owned(),
                }
            }
            None => closed,
        };
        self.end(s, summary);
        Ok(())
    }

    fn write_manifest(&mut self) -> Result<Manifest> {
        let mode = match self.opts.source {
            Source::Spawn { .. } => Mode::Spawn,
            Source::Url(_) | Source::Port { .. } => Mode::Attach,
            Source::Pid { .. } => Mode::Pid,
            Source::Signal { .. } => Mode::Signal,
        };
        // Signal mode asks no inspector for scripts: unknown, not zero.
        let workspace_scripts = match (&self.workspace, &self.signal) {
            (Some(w), None) => Some(manifest::count_workspace_scripts(&self.scripts, w)),
            _ => None,
        };
        // The parts first: the top-level manifest is written last.
        let origin = parts::Origin {
            mode,
            pid: self.pid,
            node_version: self.node_version.clone(),
            command: self.command.clone(),
            inspector: self.inspector.clone(),
            workspace: self.workspace.clone(),
        };
        let parts = self.parts.write_manifests(&origin, &self.part_env())?;
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            heapsight: env!("CARGO_PKG_VERSION").to_owned(),
            mode,
            pid: self.pid,
            node_version: self.node_version.clone(),
            command: self.command.clone(),
            inspector: self.inspector.clone(),
            started_at: rfc3339(self.started),
            finished_at: rfc3339(SystemTime::now()),
            phases: self.phases.clone(),
            files: self.files.clone(),
            scripts: std::mem::take(&mut self.scripts),
            internal_scripts_skipped: self.skipped,
            allocation_tracking: self.tracking.clone(),
            workspace: self
                .workspace
                .as_ref()
                .map(|w| w.to_string_lossy().into_owned()),
            workspace_scripts,
            selection: self.selection.clone(),
            parts,
            part_of: None,
            rounds: self.rounds.clone(),
            iterations: self.opts.iterations,
            memory_limit: self.memory_limit.clone(),
            snapshot_memory: std::mem::take(&mut self.snapshot_memory),
            redacted: self.opts.redact,
        };
        let path = self.out.file(MANIFEST_FILE);
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| CaptureError::Protocol(format!("cannot encode the manifest: {e}")))?;
        output::atomic_write(&path, &json)?;
        if let Some(warning) = manifest.not_the_service() {
            self.reporter.note(&warning);
        }
        Ok(manifest)
    }

    /// Completes the error with the target's last output, and stops what we started.
    async fn fail(mut self, mut e: CaptureError) -> CaptureError {
        // Held worker threads must be let run even now (in a target that keeps running, they
        // would wait for ever); a target that exited has none left to help.
        let env = self.part_env();
        let lingering = self.target.is_none();
        let main = match e {
            CaptureError::TargetExited { .. } => None,
            _ => self.cdp.as_mut(),
        };
        self.parts.finish(main, &env, lingering).await;
        if let Some(cdp) = self.cdp.take() {
            match self.opened_inspector.take() {
                // The process keeps running: the inspector we opened is closed even now.
                Some(ep) => {
                    if let Err(why) = pid::close(cdp, &ep).await {
                        self.reporter
                            .note(&format!("process {}: {why}", self.pid.unwrap_or(0)));
                    }
                }
                None => cdp.close().await,
            }
        }
        if let Some(Target { child, .. }) = self.target.as_mut() {
            if let CaptureError::TargetExited { status, .. } = &mut e {
                // With the session closed, a target that was waiting for it exits now.
                if let Some(exit) = child.exited_within(Duration::from_secs(3)).await {
                    *status = exit.words;
                }
            }
            if let CaptureError::TargetExited { output, .. }
            | CaptureError::InspectorPortBusy { output, .. }
            | CaptureError::NotReady { output, .. } = &mut e
            {
                *output = child.final_output().await;
            }
            child.stop(Duration::from_secs(2)).await;
        }
        // Dropping `self.out` removes the files of this capture.
        e
    }

    /// Registers another process under the command, already connected through `cdp`, to
    /// be captured beside the main one at the same phase points into `processes/<pid>/`
    /// (`PartKind::Process`), with its own worker threads in
    /// `processes/<pid>/threads/<threadId>/` unless [`Options::threads`] is off. Call it
    /// before snapshot A; a process added later gets its baseline A at the next snapshot,
    /// and its part says so. `title` names it for people (`cluster worker 2 (pid 4242)`),
    /// `url` is its main script.
    fn add_process_part(&mut self, cdp: Cdp, pid: i64, title: String, url: Option<String>) {
        self.parts.add_process(cdp, pid, title, url);
    }
}

impl<'o> Run<'o> {
    /// What the parts need from the capture for one phase; borrows nothing of `self`, so
    /// the parts can be driven while the rest of the capture is borrowed.
    fn part_env(&self) -> parts::Env<'o> {
        // Worker threads are tracked when the main thread is.
        let tracking = if self.tracking_live {
            self.tracking.clone()
        } else {
            None
        };
        parts::Env::new(
            self.opts,
            self.out.registrar(),
            self.reporter.clone(),
            tracking,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Output;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_node_we_start_gets_a_quiet_port_with_room_above() {
        let port = quiet_inspector_port().expect("a free block below the ephemeral range");
        assert!(port >= 10_000, "{port}");
        let l = inject_inspector(&strings(&["node", "app.js"]), &[], false, &[], Some(port));
        assert_eq!(l.args[0], format!("--inspect=127.0.0.1:{port}"));
        // Its children (cluster workers) keep port 0 through NODE_OPTIONS, and the node
        // itself gets the port on its command line, which wins.
        assert_eq!(
            l.env,
            vec![("NODE_OPTIONS".to_owned(), INSPECT_FLAG.to_owned())]
        );
        let l = inject_inspector(&strings(&["node", "app.js"]), &[], true, &[], Some(port));
        assert_eq!(l.args[0], format!("--inspect-brk=127.0.0.1:{port}"));
    }

    #[test]
    fn inspector_flag_placement() {
        let l = inject_inspector(&strings(&["node", "app.js", "-x"]), &[], false, &[], None);
        assert_eq!(l.program, "node");
        assert_eq!(l.args, strings(&[INSPECT_FLAG, "app.js", "-x"]));
        assert!(l.is_node && !l.paused);
        // Its children open a loopback inspector too.
        assert_eq!(
            l.env,
            vec![("NODE_OPTIONS".to_owned(), INSPECT_FLAG.to_owned())]
        );
        let l = inject_inspector(
            &strings(&["/opt/node-22/bin/node20", "a.js"]),
            &[],
            false,
            &[],
            None,
        );
        assert!(l.is_node);
        assert_eq!(l.args[0], INSPECT_FLAG);
        let l = inject_inspector(
            &strings(&["npm", "start"]),
            &[("NODE_OPTIONS".into(), "--max-old-space-size=100".into())],
            false,
            &[],
            None,
        );
        assert!(!l.is_node);
        assert_eq!(l.args, strings(&["start"]));
        assert_eq!(
            l.env.last().map(|(_, v)| v.as_str()),
            Some("--max-old-space-size=100 --inspect=127.0.0.1:0")
        );
        assert!(!inject_inspector(&strings(&["nodemon", "a.js"]), &[], false, &[], None).is_node);
    }

    #[test]
    fn a_tracked_start_is_paused_with_v8_flags_only_for_node_itself() {
        let flags = strings(&["--no-compact", "--no-turbo-inlining"]);
        let l = inject_inspector(&strings(&["node", "app.js", "-x"]), &[], true, &flags, None);
        assert!(l.paused);
        assert_eq!(
            l.args,
            strings(&[
                INSPECT_BRK_FLAG,
                "--no-compact",
                "--no-turbo-inlining",
                "app.js",
                "-x"
            ])
        );
        // Through a wrapper: NODE_OPTIONS, not paused, no V8 flags (Node refuses them there).
        let l = inject_inspector(&strings(&["sh", "run.sh"]), &[], true, &flags, None);
        assert!(!l.paused && !l.is_node);
        assert_eq!(l.args, strings(&["run.sh"]));
        let options = l.env.last().map(|(_, v)| v.clone()).unwrap_or_default();
        assert!(options.ends_with(INSPECT_FLAG), "{options}");
        assert!(!options.contains("compact"), "{options}");
        // Our flag is checked like the user's.
        assert_eq!(remote_inspect_flag(&l.args, &options), None);
        assert_eq!(remote_inspect_flag(&strings(&[INSPECT_BRK_FLAG]), ""), None);
    }

    #[test]
    fn v8_options_are_read_by_name() {
        let text = "Synopsis:\n  shell [options] [--shell] [<file>...]\nOptions:\n  \
                    --compact (Perform compaction on full GCs)\n        type: bool  default: \
                    --compact\n  --turbo_inlining (enable inlining)\n  --compact-maps (x)\n";
        let names = v8_option_names(text);
        assert!(names.iter().any(|n| n == "compact"), "{names:?}");
        assert!(names.iter().any(|n| n == "turbo-inlining"), "{names:?}");
        assert!(!names.iter().any(|n| n == "turbo-inlining-x"));
    }

    #[test]
    fn inspector_flags_that_listen_elsewhere() {
        let remote = |args: &[&str], options: &str| {
            remote_inspect_flag(&strings(args), options).map(|(_, host)| host)
        };
        assert_eq!(
            remote(&["--inspect=0.0.0.0:9229", "a.js"], ""),
            Some("0.0.0.0".into())
        );
        assert_eq!(
            remote(&["--inspect-brk=[::]:0", "a.js"], ""),
            Some("::".into())
        );
        assert_eq!(
            remote(&["--inspect-port", "10.0.0.5:9"], ""),
            Some("10.0.0.5".into())
        );
        assert_eq!(
            remote(&["a.js"], "--inspect-wait=example.com"),
            Some("example.com".into())
        );
        assert_eq!(remote(&[INSPECT_FLAG, "--inspect=9230", "a.js"], ""), None);
        assert_eq!(
            remote(&["--inspect", "a.js"], "--inspect=localhost:1"),
            None
        );
        assert_eq!(
            remote(&["--inspect=[::1]:9229", "--inspector-x=0.0.0.0"], ""),
            None
        );
        assert_eq!(remote(&["--inspect-port"], ""), None);
    }

    #[test]
    fn placeholders() {
        assert_eq!(
            substitute("node load.js {port} --pid {pid}", Some(42), Some("8080")).ok(),
            Some("node load.js 8080 --pid 42".to_owned())
        );
        assert!(substitute("curl :{port}", Some(1), None).is_err());
    }

    #[test]
    fn ready_lines() {
        let re = Regex::new(r"ready port=(\d+)").expect("regex");
        let m = ready_match(&re, "heapsight-fixture ready port=4312").expect("matches");
        assert_eq!(m.port.as_deref(), Some("4312"));
        let named = Regex::new(r"(http)://[^:]+:(?<port>\d+)").expect("regex");
        let m = ready_match(&named, "listening on http://localhost:3000").expect("matches");
        assert_eq!(m.port.as_deref(), Some("3000"));
        assert!(ready_match(&re, "starting").is_none());
    }

    #[test]
    fn option_checks() {
        let out = Output::Dir(PathBuf::from("/nonexistent"));
        let mut o = Options::new(Source::Url("ws://127.0.0.1:1/x".into()), out.clone());
        o.ready_line = Some("ready".into());
        assert!(matches!(check(&o), Err(CaptureError::Config(_))));
        let mut o = Options::new(
            Source::Spawn {
                command: strings(&["node", "a.js"]),
                cwd: None,
                env: vec![],
            },
            out.clone(),
        );
        o.load = Some("node load.js {port}".into());
        assert!(matches!(check(&o), Err(CaptureError::Config(_))));
        o.ready_line = Some("port (\\d+)".into());
        assert!(check(&o).is_ok());
        o.ready_line = Some("port (".into());
        assert!(matches!(check(&o), Err(CaptureError::Config(_))));
        let empty = Options::new(
            Source::Spawn {
                command: vec![],
                cwd: None,
                env: vec![],
            },
            out,
        );
        assert!(matches!(check(&empty), Err(CaptureError::Config(_))));
    }
}
