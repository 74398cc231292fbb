//! `heapsight stats FILE`: counts, total size and the top constructors of one snapshot,
//! like DevTools' Summary view.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use heapsight_snapshot::{read_graph, summarize_with, ClassNames, Progress, Snapshot, UNREACHABLE};
use serde::Serialize;

use crate::cmd::format::{bytes, count};
use crate::progress::ProgressDisplay;

/// Arguments of `heapsight stats`.
#[derive(clap::Args)]
pub struct Args {
    /// The .heapsnapshot file.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Rows of the constructor table (text output; JSON lists every class).
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// Order of the constructor table.
    #[arg(long, value_enum, default_value_t = SortBy::Retained)]
    sort: SortBy,
    /// Print how long each phase took, on stderr.
    #[arg(long)]
    timings: bool,
    /// Start even when the analysis is estimated to need more memory than this process has
    /// left (its cgroup's limit, or the machine's available memory). Without it such a
    /// snapshot is refused before it is read, with the figures.
    #[arg(long)]
    force: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SortBy {
    Count,
    #[value(name = "self")]
    SelfSize,
    Retained,
}

#[derive(Serialize)]
struct Report {
    file: String,
    file_bytes: u64,
    node_count: usize,
    edge_count: usize,
    string_count: usize,
    location_count: usize,
    /// Sum of every node's self size (DevTools' total, less `extra_native_bytes`).
    total_size: u64,
    /// Sum of self sizes of nodes reachable from the GC roots.
    reachable_size: u64,
    unreachable_count: usize,
    extra_native_bytes: Option<u64>,
    classes: Vec<Class>,
}

#[derive(Serialize)]
struct Class {
    name: String,
    /// `[script id, line, column]` (0-based) of the constructor, for classes keyed by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<[u32; 3]>,
    count: u64,
    self_size: u64,
    retained_size: u64,
    /// Smallest distance from the GC roots; `null` when an instance is unreachable.
    distance: Option<u32>,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let progress = Arc::new(Progress::new());
    let label = args
        .file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let display = ProgressDisplay::start(progress.clone(), label);
    let file_bytes = std::fs::metadata(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?
        .len();

    let t0 = Instant::now();
    let src = heapsight_snapshot::open_source(&args.file)?;
    // The class names are computed beside the analysis: their column is alive at its peak.
    // A file that cannot be sized is not refused here: the parse says what is wrong with it.
    let need = heapsight_snapshot::memory_needed(&src)
        .ok()
        .map(|need| need.with_per_node(ClassNames::BYTES_PER_NODE));
    if let (Some(budget), Some(need)) = (crate::cmd::memory::budget(args.force), need) {
        need.check(&budget)
            .with_context(|| format!("cannot load {}", args.file.display()))?;
    }
    let graph = read_graph(&src, &progress)
        .with_context(|| format!("cannot load {}", args.file.display()))?;
    let t_parse = t0.elapsed();
    // Class names depend on the graph alone: computed beside the retaining edges.
    let (snap, names) = Snapshot::from_graph_with(graph, &progress, ClassNames::compute)?;
    let t_analyze = t0.elapsed() - t_parse;
    progress.step("summary");
    let classes = summarize_with(&snap, names, |_| true);
    progress.end_step();
    drop(display);
    if args.timings {
        eprintln!(
            "timings: {}; total {:.3}s (parse {:.3}s, analysis {:.3}s); graph memory {}{}",
            crate::progress::steps(&progress),
            t0.elapsed().as_secs_f64(),
            t_parse.as_secs_f64(),
            t_analyze.as_secs_f64(),
            bytes(snap.heap_bytes() as u64),
            need.map(|n| format!("; estimated peak {}", bytes(n.bytes)))
                .unwrap_or_default(),
        );
    }

    let g = &snap.graph;
    let mut reachable_size = 0;
    let mut unreachable_count = 0;
    for n in g.nodes() {
        if snap.distance(n) == UNREACHABLE {
            unreachable_count += 1;
        } else {
            reachable_size += g.self_size(n);
        }
    }
    let report = Report {
        file: args.file.display().to_string(),
        file_bytes,
        node_count: g.node_count(),
        edge_count: g.edge_count(),
        string_count: g.strings().len(),
        location_count: g.locations().len(),
        total_size: g.total_self_size(),
        reachable_size,
        unreachable_count,
        extra_native_bytes: g.header().extra_native_bytes,
        classes: classes
            .into_iter()
            .map(|c| Class {
                name: c.name,
                location: c.location.map(|(s, l, col)| [s, l, col]),
                count: c.count,
                self_size: c.self_size,
                retained_size: c.retained_size,
                distance: (c.distance != UNREACHABLE).then_some(c.distance),
            })
            .collect(),
    };
    match args.format {
        Format::Json => {
            let out = serde_json::to_string_pretty(&report)?;
            println!("{out}");
        }
        Format::Text => print_text(report, args.top, args.sort),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(mut r: Report, top: usize, sort: SortBy) {
    println!("{} ({})", r.file, bytes(r.file_bytes));
    println!(
        "  {} nodes, {} edges, {} strings, {} function locations",
        count(r.node_count as u64),
        count(r.edge_count as u64),
        count(r.string_count as u64),
        count(r.location_count as u64)
    );
    print!(
        "  total size {} ({} reachable",
        bytes(r.total_size),
        bytes(r.reachable_size)
    );
    if r.unreachable_count > 0 {
        print!(", {} unreachable nodes", count(r.unreachable_count as u64));
    }
    println!(")");
    if let Some(extra) = r.extra_native_bytes {
        println!("  extra native bytes {}", bytes(extra));
    }
    match sort {
        SortBy::Count => r.classes.sort_by_key(|c| std::cmp::Reverse(c.count)),
        SortBy::SelfSize => r.classes.sort_by_key(|c| std::cmp::Reverse(c.self_size)),
        SortBy::Retained => r
            .classes
            .sort_by_key(|c| std::cmp::Reverse(c.retained_size)),
    }
    println!();
    println!(
        "  {:<40} {:>12} {:>12} {:>12}",
        "constructor", "count", "self size", "retained"
    );
    for c in r.classes.iter().take(top) {
        let mut name = c.name.replace('\n', " ");
        if name.chars().count() > 40 {
            name = name.chars().take(39).collect::<String>() + "…";
        }
        println!(
            "  {:<40} {:>12} {:>12} {:>12}",
            name,
            count(c.count),
            bytes(c.self_size),
            bytes(c.retained_size)
        );
    }
}
