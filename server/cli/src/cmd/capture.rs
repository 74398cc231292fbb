//! `heapsight capture`: takes A, B and C from a live Node.js process (started by us,
//! attached to, or signalled in production mode) into a capture folder, showing each
//! phase and a progress bar on stderr. The capture folder's path is the one line printed
//! on stdout, for scripts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use heapsight_capture::{
    human_duration, parse_duration, Capture, Options, Output, OutputSource, Phase, Pick, Reporter,
    SnapshotProgress, Source,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cmd::format::bytes;

/// Arguments of `heapsight capture`.
#[derive(clap::Args)]
#[command(
    group = clap::ArgGroup::new("target").required(true).args(["command", "inspect", "port", "pid"]),
    after_help = "Examples:\n  \
      heapsight capture --ready-line 'port=(\\d+)' --load 'node load.js {port}' -- node server.js\n  \
      heapsight capture --port 9229 --warmup 10s --duration 60s\n  \
      heapsight capture --pid 4242 --load 'node load.js 8080' --idle 30s\n  \
      heapsight capture --pid 4242 --signal SIGUSR2 --duration 5m\n  \
      heapsight capture --track-allocations --ready-line 'port=(\\d+)' --load 'node load.js {port}' -- node server.js\n  \
      heapsight capture --ready-line 'port=(\\d+)' --load 'node load.js {port}' -- npm start\n  \
      heapsight capture --ready-line 'port=(\\d+)' --load 'node load.js {port}' -- npx tsx app.ts\n  \
      heapsight capture --worker 1 --ready-line 'port=(\\d+)' --load 'node load.js {port}' -- node cluster.js\n\n\
      Through a wrapper (npm, npx, yarn, pnpm, tsx, nodemon, node --watch) every Node process\n\
      under the command gets a loopback inspector, and the one running your workspace's files\n\
      is captured; the others are let go.\n\n\
      The capture folder (default .heapsight/captures/<UTC time>/, named by .heapsight/latest)\n\
      gets A.heapsnapshot, B.heapsnapshot, C.heapsnapshot and manifest.json."
)]
pub struct Args {
    /// Start this command with the inspector on 127.0.0.1 and a free port (after `--`);
    /// it is stopped when the capture ends.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
    /// Attach to the inspector at this WebSocket URL (ws://127.0.0.1:9229/<id>).
    #[arg(long, value_name = "WS_URL")]
    inspect: Option<String>,
    /// Attach to the inspector listening on this port (found via /json/list).
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// Host of --port.
    #[arg(long, default_value = "127.0.0.1", requires = "port")]
    host: String,
    /// Allow a non-loopback inspector address. The inspector runs any code it is sent:
    /// prefer an SSH tunnel.
    #[arg(long)]
    allow_remote: bool,
    /// A running Node process, without a restart: its inspector is opened with SIGUSR1
    /// (on 127.0.0.1, port 9229 or its --inspect-port), checked to be this process's, used
    /// as with --port, and closed again at the end. Refused, with nothing sent, when the
    /// process is not Node, runs with --disable-sigusr1, or would open its inspector beyond
    /// loopback. With --signal: signal mode instead.
    #[arg(long, value_name = "PID")]
    pid: Option<i32>,
    /// Signal mode of --pid: send this signal (the process was started with
    /// --heapsnapshot-signal=SIGUSR2) at each phase and collect the snapshots it writes; no
    /// inspector is opened.
    #[arg(long, value_name = "SIGNAL", requires = "pid")]
    signal: Option<String>,
    /// Where the --signal process writes snapshots (default: its --diagnostic-dir, else its
    /// working directory).
    #[arg(long, value_name = "DIR", requires = "signal")]
    dir: Option<PathBuf>,
    /// Take each snapshot even when it is estimated to need more memory than the process
    /// has left before its cgroup's limit (or the machine's available memory). Without it
    /// the capture stops before such a snapshot, with the figures.
    #[arg(long)]
    force: bool,
    /// Write redacted snapshots: the text of the process's strings is replaced by `x`s of
    /// the same length before it reaches the disk; class, property and variable names and
    /// script URLs are kept, so the analysis finds the same leaks (see `heapsight redact`).
    #[arg(long)]
    redact: bool,

    /// Warm-up: wait for a line of the target's stdout matching this regex. A capture group
    /// (named `port`, or the first) becomes `{port}` in --load and --warmup-cmd.
    #[arg(long, value_name = "REGEX")]
    ready_line: Option<String>,
    /// Longest wait for --ready-line.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    ready_timeout: Duration,
    /// Warm-up: run this shell command to completion.
    #[arg(long, value_name = "CMD")]
    warmup_cmd: Option<String>,
    /// Warm-up: wait this long (default 2s when no other warm-up is given).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    warmup: Option<Duration>,
    /// Workload between A and B: a shell command, with {pid} and {port} replaced.
    #[arg(long, value_name = "CMD")]
    load: Option<String>,
    /// Workload: how long to wait between A and B; with --load, the longest the command
    /// may run (it is then stopped).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Rounds of the workload, each followed by forced GC and a snapshot (B1.heapsnapshot …
    /// BN.heapsnapshot; the last is also B.heapsnapshot). The analysis then counts only what
    /// every round left alive, and gives each finding's growth per round.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
    /// The workload's size per round (requests, calls): recorded in the manifest, so the
    /// analysis gives growth per iteration; the load command gets it as $HEAPSIGHT_ITERATIONS.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    iterations: Option<u64>,
    /// Wait between B and C so the workload's timers and caches can expire.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    idle: Duration,
    /// Forced garbage collections before each snapshot.
    #[arg(long, value_name = "N", default_value_t = 3)]
    gc_rounds: u32,
    /// Record each object's allocation stack (V8's allocation tracking). A `node` started by
    /// heapsight is started paused and tracked from its first line, with --no-compact
    /// --no-turbo-inlining where its V8 has them; when attaching (or through a wrapper),
    /// tracking starts then and earlier objects have no stack. Slows the workload 4-29x
    /// (measured on the fixtures, Node 20 and 24) and grows snapshots 3-8%: keep it short.
    #[arg(long, conflicts_with = "signal")]
    track_allocations: bool,
    /// Of a command running several Node processes with your code (a `cluster`): capture
    /// the cluster worker with this id (from 1). Without it or --match, each of them is
    /// captured, into its own part of the capture folder.
    #[arg(
        long,
        value_name = "N",
        requires = "command",
        conflicts_with = "match_re"
    )]
    worker: Option<u32>,
    /// Of the Node processes under the command: capture the first whose command line
    /// (node flags, script path, arguments) matches this regex.
    #[arg(long = "match", value_name = "REGEX", requires = "command")]
    match_re: Option<String>,
    /// Your project: a process that runs none of its files (outside node_modules) is a
    /// launcher such as npm, not your service (default: the current directory).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// Capture only the main thread, not the heaps of the target's worker_threads workers.
    #[arg(long)]
    no_threads: bool,

    /// The capture folder (default: .heapsight/captures/<UTC time>/ under the current
    /// directory, and .heapsight/latest updated); or a bucket's prefix (s3://bucket/prefix,
    /// gs://…, az://…): each snapshot is uploaded while it is taken, the manifest last, and
    /// nothing is left in the bucket when the capture fails. S3 reads the standard AWS
    /// configuration (AWS_ENDPOINT_URL for an S3-compatible server, AWS_PROFILE, pod and
    /// instance credentials).
    #[arg(long, value_name = "DIR|URL")]
    out: Option<PathBuf>,
    /// With --out URL: the most bytes of a snapshot kept on local disk (under $TMPDIR) while
    /// they wait to be uploaded; past it the capture stops and its uploads are aborted.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = heapsight_ide::parse_size)]
    spill_max: u64,
    /// Record script hashes but not their sources in the manifest.
    #[arg(long)]
    no_sources: bool,
    /// Do not echo the output of the target and of the warm-up and load commands.
    #[arg(long, short)]
    quiet: bool,
    /// Longest wait to start the target and connect to its inspector.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// Longest silence of the inspector (or of a growing snapshot file) before giving up.
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse_duration)]
    timeout: Duration,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = options(&args)?;
    let reporter = Arc::new(CliReporter::new(!args.quiet));
    let bucket = args
        .out
        .as_deref()
        .and_then(Path::to_str)
        .filter(|out| heapsight_store::is_remote(out))
        .map(heapsight_store::Location::parse)
        .transpose()?;
    match bucket {
        Some(location) => {
            let url = crate::cmd::bucket::capture_into(opts, reporter, &location, args.spill_max)?;
            println!("{url}");
        }
        None => {
            let done = run_capture(&opts, reporter)?;
            println!("{}", done.dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Turns the arguments into capture options.
fn options(args: &Args) -> anyhow::Result<Options> {
    let source = if !args.command.is_empty() {
        Source::Spawn {
            command: args.command.clone(),
            cwd: None,
            env: Vec::new(),
        }
    } else if let Some(url) = &args.inspect {
        Source::Url(url.clone())
    } else if let Some(port) = args.port {
        Source::Port {
            host: args.host.clone(),
            port,
        }
    } else if let (Some(pid), None) = (args.pid, &args.signal) {
        Source::Pid { pid }
    } else if let (Some(pid), Some(signal)) = (args.pid, &args.signal) {
        let dir = match &args.dir {
            Some(d) => d.clone(),
            None => heapsight_capture::snapshot_dir_of(pid).ok_or_else(|| {
                anyhow!("cannot tell where process {pid} writes its snapshots: pass --dir")
            })?,
        };
        Source::Signal {
            pid,
            signal: signal.clone(),
            dir,
        }
    } else {
        return Err(anyhow!(
            "say which process to capture: `-- node app.js`, --inspect, --port or --pid"
        ));
    };
    let output = match &args.out {
        Some(dir) => Output::Dir(dir.clone()),
        None => {
            Output::Project(std::env::current_dir().context("cannot read the current directory")?)
        }
    };
    let mut opts = Options::new(source, output);
    opts.allow_remote = args.allow_remote;
    opts.ready_line = args.ready_line.clone();
    opts.ready_timeout = args.ready_timeout;
    opts.warmup_command = args.warmup_cmd.clone();
    opts.warmup = match args.warmup {
        Some(d) => d,
        None if args.ready_line.is_none() && args.warmup_cmd.is_none() => Duration::from_secs(2),
        None => Duration::ZERO,
    };
    opts.load = args.load.clone();
    opts.duration = args.duration;
    opts.idle = args.idle;
    opts.rounds = args.rounds;
    opts.iterations = args.iterations;
    opts.gc_rounds = args.gc_rounds;
    opts.record_sources = !args.no_sources;
    opts.workspace = args.workspace.clone();
    opts.threads = !args.no_threads;
    opts.pick = match (args.worker, &args.match_re) {
        (Some(id), _) => Pick::Worker(id),
        (None, Some(re)) => Pick::Match(re.clone()),
        (None, None) => Pick::Each,
    };
    opts.connect_timeout = args.connect_timeout;
    opts.stall_timeout = args.timeout;
    opts.track_allocations = args.track_allocations;
    opts.force = args.force;
    opts.redact = args.redact;
    Ok(opts)
}

/// Runs a capture on a fresh runtime; Ctrl-C cancels it (the library's cleanup runs as the
/// capture is dropped: files removed, a started target killed). Shared with `demo`.
pub fn run_capture(opts: &Options, reporter: Arc<CliReporter>) -> anyhow::Result<Capture> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let started = Instant::now();
    let result = runtime.block_on(async {
        tokio::select! {
            r = heapsight_capture::capture(opts, reporter.clone()) => r.map_err(anyhow::Error::from),
            _ = tokio::signal::ctrl_c() => Err(anyhow!(
                "interrupted: the partial capture was removed and a target we started was stopped"
            )),
        }
    });
    reporter.clear_bar();
    let done = result.context("capture failed")?;
    print_complete(&done, &shown(&done.dir), started);
    Ok(done)
}

/// The line that says a capture is complete: where (`place`), its snapshots' sizes, its scripts.
pub fn print_complete(done: &Capture, place: &str, started: Instant) {
    // With rounds, each round's snapshot is listed; B is the last round's.
    let sizes: Vec<String> = done
        .manifest
        .files
        .iter()
        .flat_map(|f| {
            let rounds = &done.manifest.rounds;
            if f.label == "B" && !rounds.is_empty() {
                rounds.iter().map(|r| (&r.label, r.bytes)).collect()
            } else {
                vec![(&f.label, f.bytes)]
            }
        })
        .map(|(label, size)| format!("{label} {}", bytes(size)))
        .collect();
    let scripts = done.manifest.scripts.len();
    eprintln!(
        "capture complete in {}: {} ({}; manifest with {scripts} script{})",
        human_duration(started.elapsed()),
        place,
        sizes.join(", "),
        if scripts == 1 { "" } else { "s" }
    );
}

/// A path relative to the current directory when it is strictly below it, and not from `/`:
/// there every absolute path is "below", and `proc/9331/root/…` would read as a relative
/// path (a debug container's working folder is often `/`).
pub fn shown(path: &Path) -> String {
    shown_from(path, std::env::current_dir().ok().as_deref())
}

fn shown_from(path: &Path, cwd: Option<&Path>) -> String {
    cwd.filter(|cwd| cwd.parent().is_some())
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .filter(|relative| !relative.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Prints phases as lines and snapshots as a progress bar, all on stderr.
pub struct CliReporter {
    echo: bool,
    bar: Mutex<Option<(ProgressBar, bool)>>,
}

impl CliReporter {
    /// `echo`: show the output of the processes we start.
    pub fn new(echo: bool) -> Self {
        CliReporter {
            echo,
            bar: Mutex::new(None),
        }
    }

    pub(crate) fn clear_bar(&self) {
        if let Some((bar, _)) = self.bar.lock().ok().and_then(|mut b| b.take()) {
            bar.finish_and_clear();
        }
    }

    /// Prints a line without tearing the progress bar.
    fn line(&self, text: &str) {
        match self
            .bar
            .lock()
            .ok()
            .as_deref()
            .and_then(|b| b.as_ref().map(|(bar, _)| bar.clone()))
        {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Reporter for CliReporter {
    fn phase_started(&self, phase: Phase, what: &str) {
        self.line(&format!("> {phase}: {what}"));
    }

    fn phase_finished(&self, _phase: Phase, took: Duration, summary: &str) {
        self.clear_bar();
        if summary.is_empty() {
            self.line(&format!("  done in {}", human_duration(took)));
        } else {
            self.line(&format!("  done in {}: {summary}", human_duration(took)));
        }
    }

    fn snapshot_progress(&self, _phase: Phase, progress: SnapshotProgress) {
        let Ok(mut slot) = self.bar.lock() else {
            return;
        };
        let writing = matches!(progress, SnapshotProgress::Writing { .. });
        let (bar, bar_writing) = slot.get_or_insert_with(|| {
            (
                ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()),
                !writing,
            )
        });
        if *bar_writing != writing {
            *bar_writing = writing;
            bar.set_style(if writing {
                style("  {spinner} writing {decimal_bytes:>10} {elapsed}")
            } else {
                style("  {spinner} walking the heap [{bar:30}] {human_pos}/{human_len} objects {elapsed}")
            });
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        match progress {
            SnapshotProgress::Walking { done, total } => {
                bar.set_length(total.max(1));
                bar.set_position(done.min(total));
            }
            SnapshotProgress::Writing { bytes } => {
                bar.set_length(bytes.max(1));
                bar.set_position(bytes);
            }
        }
    }

    fn output_line(&self, source: OutputSource, line: &str) {
        if self.echo {
            let who = match source {
                OutputSource::Target => "target",
                OutputSource::WarmUp => "warm-up",
                OutputSource::Load => "load",
            };
            self.line(&format!("  {who:>7} | {line}"));
        }
    }

    fn note(&self, message: &str) {
        self.line(&format!("  note: {message}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_shown_relative_only_below_a_working_folder_other_than_the_root() {
        let capture = Path::new("/proc/9331/root/tmp/heapsight-1");
        assert_eq!(
            shown_from(capture, Some(Path::new("/"))),
            "/proc/9331/root/tmp/heapsight-1"
        );
        assert_eq!(
            shown_from(capture, Some(Path::new("/proc/9331"))),
            "root/tmp/heapsight-1"
        );
        assert_eq!(
            shown_from(capture, Some(Path::new("/srv"))),
            "/proc/9331/root/tmp/heapsight-1"
        );
        assert_eq!(shown_from(capture, None), "/proc/9331/root/tmp/heapsight-1");
        // The working folder itself: its full path, not an empty string.
        assert_eq!(
            shown_from(capture, Some(capture)),
            "/proc/9331/root/tmp/heapsight-1"
        );
        assert_eq!(
            shown_from(Path::new("caps/run"), Some(Path::new("/"))),
            "caps/run"
        );
    }
}
