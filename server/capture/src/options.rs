//! What a capture is asked to do: where the snapshots come from, the phases' timing, and
//! where the files go. [`Options::new`] gives the defaults the CLI documents.

use std::path::PathBuf;
use std::time::Duration;

/// Where the snapshots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Start this command with the inspector on `127.0.0.1` and a free port, and attach.
    /// If the program is `node` (by file name), `--inspect=127.0.0.1:0` is put right after
    /// it; otherwise (`npm start`, a wrapper script) it goes into `NODE_OPTIONS` and the
    /// first Node process to open an inspector is the one captured.
    Spawn {
        /// Program and arguments.
        command: Vec<String>,
        /// Working directory (default: ours).
        cwd: Option<PathBuf>,
        /// Extra environment variables.
        env: Vec<(String, String)>,
    },
    /// Attach to the inspector WebSocket at this `ws://` URL.
    Url(String),
    /// Attach to the inspector listening at this host and port (found via `/json/list`).
    Port {
        /// Host name or IP.
        host: String,
        /// The inspector port (9229 by default in Node).
        port: u16,
    },
    /// Open the inspector of the running Node process `pid` with `SIGUSR1`, capture through
    /// it as when attaching, and close it again at the end (one that was open already stays
    /// open). Refused, with nothing sent, for a process that is not Node, runs with
    /// `--disable-sigusr1`, or whose inspector would listen beyond loopback; the inspector
    /// reached must report `pid` as its `process.pid`.
    Pid {
        /// The process id (as this machine's `/proc` numbers it).
        pid: i32,
    },
    /// Signal a process started with `--heapsnapshot-signal` and collect the files it
    /// writes into `dir` (its working directory, or its `--diagnostic-dir`).
    Signal {
        /// The process id.
        pid: i32,
        /// The signal name, e.g. `SIGUSR2`.
        signal: String,
        /// Where the process writes its snapshots.
        dir: PathBuf,
    },
}

/// Where the capture folder goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `<project>/.heapsight/captures/<UTC timestamp>/`, and `<project>/.heapsight/latest`
    /// updated to point at it.
    Project(PathBuf),
    /// Exactly this folder (created if missing; must not already hold a capture).
    /// `.heapsight/latest` is not touched.
    Dir(PathBuf),
}

/// A capture's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Where the snapshots come from.
    pub source: Source,
    /// Where the files go.
    pub output: Output,
    /// Permit an inspector on a non-loopback address (it executes any code it is sent).
    pub allow_remote: bool,
    /// Warm-up: wait for a line of the target's stdout matching this regex (spawn mode
    /// only). A capture group named `port`, or else the first group, becomes `{port}`.
    pub ready_line: Option<String>,
    /// Longest wait for `ready_line`.
    pub ready_timeout: Duration,
    /// Warm-up: run this shell command to completion (after the ready line, if any).
    pub warmup_command: Option<String>,
    /// Warm-up: then wait this long.
    pub warmup: Duration,
    /// Workload: run this shell command between A and B. `{pid}` becomes the target's
    /// pid and `{port}` the port taken from the ready line; both are also in the
    /// environment as `HEAPSIGHT_PID` and `HEAPSIGHT_PORT`.
    pub load: Option<String>,
    /// Workload: with `load`, the longest it may run (then it is stopped, which is not an
    /// error); without, how long to wait between A and B.
    pub duration: Option<Duration>,
    /// Rounds of the workload: each is run, then forced GC and a snapshot (`B1` … `BN`),
    /// before the idle period and C. 1 (the default) is the plain A/B/C capture.
    pub rounds: u32,
    /// The workload's size per round (requests, calls, jobs), as the user states it: recorded
    /// in the manifest for growth rates, and given to the load command as
    /// `HEAPSIGHT_ITERATIONS`.
    pub iterations: Option<u64>,
    /// Wait between B and C, so that caches and timers of the workload can expire.
    pub idle: Duration,
    /// Forced full garbage collections before each inspector snapshot.
    pub gc_rounds: u32,
    /// Store each user script's source in the manifest (hashes are always stored).
    pub record_sources: bool,
    /// Longest wait to start the target and connect to its inspector.
    pub connect_timeout: Duration,
    /// Longest silence of the inspector (or of a growing snapshot file) before we give up.
    pub stall_timeout: Duration,
    /// Turn on V8's allocation tracking (`HeapProfiler.startTrackingHeapObjects` with
    /// `trackAllocations`), so the snapshots carry each object's allocation stack. A `node`
    /// we start is started paused and tracked from its first line, with the V8 flags of
    /// [`TRACKING_V8_FLAGS`](crate::TRACKING_V8_FLAGS) its binary has; otherwise tracking
    /// starts when we attach. Costly: see the crate's README.
    pub track_allocations: bool,
    /// The user's project: a process whose scripts include none of its files (outside
    /// `node_modules`) is a wrapper, not the service. Default: the command's working
    /// directory, else ours.
    pub workspace: Option<PathBuf>,
    /// Which process to capture when several under the command run the user's code.
    pub pick: Pick,
    /// Capture the heaps of the target's `worker_threads` workers too (through the
    /// inspector's `NodeWorker` domain), each into `threads/<id>/` of the capture folder.
    pub threads: bool,
    /// Take a snapshot even when it is estimated to need more memory than the target has
    /// left before its limit (the headroom check, made before every snapshot of a process
    /// whose memory we can read).
    pub force: bool,
    /// The local buffer of an upload that follows the capture (`--out s3://…`): when its
    /// folder is memory-backed (tmpfs) and heapsight shares the target's memory limit, its
    /// largest size counts against the target's headroom too.
    pub spill: Option<Spill>,
    /// Write redacted snapshots: every chunk passes through `heapsight-redact` before it is
    /// written (a signal-mode file is redacted as it is moved in), so the contents of the
    /// target's JavaScript strings never reach the disk; names the analysis reads (classes,
    /// properties, variables, script URLs) are kept. The manifest records `redacted: true`.
    pub redact: bool,
}

/// A local buffer the capture's own side keeps while it runs, for the headroom check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spill {
    /// Where it is kept.
    pub dir: PathBuf,
    /// The most it may hold.
    pub max_bytes: u64,
}

/// Which of several processes running the user's code is captured (spawn mode).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Pick {
    /// The only one; when there are several (cluster workers, several services under one
    /// script), each of them, every one into its own part of the capture folder.
    #[default]
    Each,
    /// The cluster worker with this id (`cluster.worker.id`, from 1).
    Worker(u32),
    /// The first whose command line (or main script path) matches this regex.
    Match(String),
}

impl Options {
    /// Defaults: no warm-up, no workload, one round, 5 s idle, 3 GC rounds, sources recorded,
    /// 30 s to connect, 120 s of silence tolerated, no allocation tracking.
    pub fn new(source: Source, output: Output) -> Options {
        Options {
            source,
            output,
            allow_remote: false,
            ready_line: None,
            ready_timeout: Duration::from_secs(60),
            warmup_command: None,
            warmup: Duration::ZERO,
            load: None,
            duration: None,
            rounds: 1,
            iterations: None,
            idle: Duration::from_secs(5),
            gc_rounds: 3,
            record_sources: true,
            connect_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(120),
            track_allocations: false,
            workspace: None,
            pick: Pick::Each,
            threads: true,
            force: false,
            spill: None,
            redact: false,
        }
    }
}
