//! `heapsight demo`: captures the bundled leaky example service (`fixtures/listener-leak`)
//! with the real `node` on this machine, then prints what heapsight's analysis makes of
//! it. It must always work from a fresh clone in one command (`cargo run --release --
//! demo`); as analysis lands, [`analyze_and_print`] grows with it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::Parser;
use heapsight_capture::{shell_quote, Manifest, Options, Output, Source};
use heapsight_snapshot::{scan_file_max_js_id, Progress};

use crate::cmd::capture::{run_capture, shown, CliReporter};
use crate::cmd::format::{bytes, count};

/// The bundled example, relative to the repository root.
const DEMO_APP: &str = "fixtures/listener-leak";
/// The line the fixture apps print when they listen (see fixtures/README.md).
const READY_LINE: &str = r"heapsight-fixture ready port=(\d+)";

/// Arguments of `heapsight demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Requests the workload sends between A and B.
    #[arg(long, default_value_t = 2000)]
    requests: u32,
    /// The Node.js executable.
    #[arg(long, default_value = "node")]
    node: String,
    /// The example app's folder (main.js and load.js; default: the bundled listener-leak).
    #[arg(long, value_name = "DIR")]
    app: Option<PathBuf>,
    /// Do not echo the app's and the load generator's output.
    #[arg(long, short)]
    quiet: bool,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let app = find_app(args.app.as_deref())?;
    let version = node_version(&args.node)?;
    let main = app.join("main.js");
    let load = app.join("load.js");
    eprintln!(
        "heapsight demo: capturing {} with node {version}: a quote service whose /quotes \
         handler adds an event listener per request and never removes it",
        shown(&app)
    );
    let mut opts = Options::new(
        Source::Spawn {
            command: vec![args.node.clone(), main.to_string_lossy().into_owned()],
            cwd: None,
            env: Vec::new(),
        },
        Output::Project(std::env::current_dir().context("cannot read the current directory")?),
    );
    opts.ready_line = Some(READY_LINE.to_owned());
    opts.ready_timeout = Duration::from_secs(30);
    opts.load = Some(format!(
        "{} {} {{port}} {}",
        shell_quote(&args.node),
        shell_quote(&load.to_string_lossy()),
        args.requests
    ));
    opts.idle = Duration::from_secs(1);
    // The app's own folder is the project whose code the captured process must run, wherever
    // the demo is started from.
    opts.workspace = Some(app.clone());
    let done = run_capture(&opts, Arc::new(CliReporter::new(!args.quiet)))?;
    println!();
    analyze_and_print(&done.dir)?;
    println!();
    println!(
        "Your own service, however it starts (heapsight captures the Node process that runs \
         your files, through npm, npx, tsx, nodemon, node --watch, cluster and worker threads):"
    );
    for form in [
        "npm start",
        "npm run dev -- --port 0",
        "npx tsx src/server.ts",
        "node --watch server.js",
    ] {
        println!(
            "  heapsight capture --ready-line 'port=(\\d+)' --load 'node load.js {{port}}' -- {form}"
        );
    }
    println!("  heapsight capture --worker 1 ... -- node cluster.js   (one cluster worker)");
    Ok(ExitCode::SUCCESS)
}

/// The example app: `--app`, else `fixtures/listener-leak` under the current directory,
/// else under the source tree this binary was built from.
fn find_app(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let candidates: Vec<PathBuf> = match given {
        Some(dir) => vec![dir.to_owned()],
        None => vec![
            PathBuf::from(DEMO_APP),
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(DEMO_APP),
        ],
    };
    candidates
        .iter()
        .find(|d| d.join("main.js").is_file() && d.join("load.js").is_file())
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
        .ok_or_else(|| {
            anyhow!(
                "cannot find the example app (main.js and load.js) in {}; run the demo from \
                 the repository root or pass --app",
                candidates
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )
        })
}

fn node_version(node: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new(node)
        .arg("--version")
        .output()
        .with_context(|| {
            format!("the demo runs a real Node.js service, but `{node} --version` failed; install Node.js 18 or later or pass --node PATH")
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Prints everything heapsight can say about the capture in `dir`, on stdout.
///
/// This is the demo's one plug point for analysis: the capture's summary (files, node
/// counts and the largest JS object id of each snapshot, which must grow A → B → C), the
/// leak findings as an editor shows them (`file:line:col: message`, from `heapsight
/// analyze`), and `heapsight stats` of C.
pub fn analyze_and_print(dir: &Path) -> anyhow::Result<()> {
    let manifest = Manifest::read(dir)?;
    println!("capture {}", shown(dir));
    println!(
        "  node {}, pid {}, `{}`",
        manifest.node_version.as_deref().unwrap_or("?"),
        manifest.pid.map_or("?".to_owned(), |p| p.to_string()),
        manifest.command.join(" ")
    );
    for file in &manifest.files {
        let path = dir.join(&file.file);
        let scan = scan_file_max_js_id(&path, &Progress::new())
            .with_context(|| format!("cannot read {}", path.display()))?;
        println!(
            "  {:<16} {:>9}  {:>9} nodes  max JS object id {}",
            file.file,
            bytes(file.bytes),
            count(scan.node_count),
            scan.max_js_id
        );
    }
    let n = manifest.scripts.len();
    println!(
        "  {n} user script{} recorded:",
        if n == 1 { "" } else { "s" }
    );
    for script in &manifest.scripts {
        let name = script.path.as_deref().unwrap_or(&script.url);
        println!(
            "    script {:>4}  {}  sha256 {}",
            script.id,
            shown(Path::new(name)),
            &script.sha256[..script.sha256.len().min(12)]
        );
    }

    println!();
    // The demo made these snapshots itself, of the app it was given (which `--app` may put
    // outside the current folder): the files they name are the ones it ran.
    println!("heapsight analyze {} --read-outside-root", shown(dir));
    let dir_arg = dir.to_string_lossy();
    // A failing analysis still leaves the capture and the stats worth showing.
    if let Err(e) = subcommand::<crate::cmd::analyze::Args>(
        &["heapsight analyze", dir_arg.as_ref(), "--read-outside-root"],
        crate::cmd::analyze::run,
    ) {
        println!("  analysis failed: {e:#}");
    }

    let c = manifest
        .snapshot_path(dir, "C")
        .ok_or_else(|| anyhow!("the manifest lists no C snapshot"))?;
    let c_arg = c.to_string_lossy();
    println!();
    println!("heapsight stats {} --top 10", shown(&c));
    subcommand::<crate::cmd::stats::Args>(
        &["heapsight stats", c_arg.as_ref(), "--top", "10"],
        crate::cmd::stats::run,
    )
}

/// Runs another subcommand through its own argument parser, so the demo follows its
/// options as they change.
fn subcommand<A: clap::Args>(
    argv: &[&str],
    run: fn(A) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<()> {
    #[derive(Parser)]
    struct Wrapper<A: clap::Args> {
        #[command(flatten)]
        args: A,
    }
    let parsed = Wrapper::<A>::try_parse_from(argv).map_err(|e| anyhow!("{e}"))?;
    run(parsed.args).map(|_| ())
}
