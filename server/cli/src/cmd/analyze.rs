//! `heapsight analyze A B C` (or a folder, or nothing: the latest capture): the leak
//! findings, as text, JSON or SARIF. Every format prints one [`JsonReport`], so a report
//! saved with `--format json` prints again as text or SARIF exactly as the analysis did.
//!
//! A capture folder may hold several heaps (worker threads, other processes: its
//! manifest's parts); each complete one is analyzed in turn, placed with its own manifest's
//! scripts, and the findings merged, each naming its heap. The capture's warnings (the
//! process was not the user's service; a heap could not be analyzed) lead every format.
//!
//! With `--baseline old.json` the report is compared with a stored one (the ide layer's
//! [`Baseline`]) and the run fails only for findings that are new or grew beyond
//! `--tolerance`; `--fail-above` then narrows what the gate considers to findings above it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use heapsight_ide::baseline::{Entry, MatchedBy, State};
use heapsight_ide::heaps::{self, HeapReport, Heaps};
use heapsight_ide::{
    identity, inputs, parse_size, Baseline, Config, Input, JsonReport, Place, ReportFinding,
    ReportHeap,
};
use heapsight_leaks::{
    analyze_rounds, file_name, fold_frames, format_bytes, format_percent, Allocations, ClassDelta,
    FrameRun, LeakKind, Options,
};
use heapsight_snapshot::Progress;
use heapsight_source::{PathMapper, Resolved};
use serde_json::{json, Value};

use crate::cmd::format::count;
use crate::cmd::placement::{placed, relative};
use crate::progress::ProgressDisplay;

/// Arguments of `heapsight analyze`.
#[derive(clap::Args)]
pub struct Args {
    /// Baseline, target and final snapshots; or one folder holding a capture
    /// (`A.heapsnapshot`, `B.heapsnapshot`, `C.heapsnapshot`, and the heaps of its worker
    /// threads and other processes when it has them) or three snapshots (by name, or by
    /// time when names do not follow it); or the snapshot folder (`.heapsight`: the capture
    /// its `latest` names); or a report written by `--format json`, printed again in the
    /// chosen format without the snapshots; or a capture in a bucket (s3://bucket/prefix,
    /// gs://…, az://…; the newest capture when the prefix holds several), downloaded once into
    /// the cache (~/.cache/heapsight/objects, or $HEAPSIGHT_CACHE_DIR). None: the latest
    /// capture under `<root>/.heapsight`.
    #[arg(num_args = 0..=3)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Report findings retaining at least this much (e.g. 500kB, 1MB, 2.5MiB).
    #[arg(long, default_value = "1MB", value_parser = parse_size)]
    threshold: u64,
    /// Exit with code 1 when a finding retains more than this (e.g. 10MB). With
    /// --baseline, only new or grown findings above it fail the run.
    #[arg(long, value_parser = parse_size)]
    fail_above: Option<u64>,
    /// A report saved by `--format json` to compare with: findings are matched by kind,
    /// holder and call-site text, and the run exits 1 only when a finding is new or grew
    /// beyond --tolerance.
    #[arg(long, value_name = "REPORT")]
    baseline: Option<PathBuf>,
    /// How far a matched finding's retained bytes or item count may exceed the baseline's
    /// before it counts as grown (and fall below it before it counts as shrunk).
    #[arg(long, default_value = "20%", value_parser = parse_percent, requires = "baseline")]
    tolerance: f64,
    /// The workspace: paths in the output are relative to it, and only its files are read
    /// to place findings at their call sites.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Also read the source files outside --root that the snapshots name. Without it, a
    /// finding in such a file is placed at V8's position of its function: a snapshot is
    /// data, and the paths in it do not choose what heapsight reads.
    #[arg(long)]
    read_outside_root: bool,
    /// Only these kinds (comma-separated: listener,collection,timer,closure,promise,other).
    #[arg(long, value_delimiter = ',', value_parser = parse_kind)]
    kinds: Vec<LeakKind>,
    /// Rows of the comparison table in text output.
    #[arg(long, default_value_t = 10)]
    comparison: usize,
    /// Print how long each phase took, on stderr.
    #[arg(long)]
    timings: bool,
    /// The workload's size per round (requests, calls), for each finding's growth per
    /// iteration; default: the capture's `--iterations`. Needs a capture with --rounds.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    iterations: Option<u64>,
    /// A memory limit (e.g. 512MiB): each finding with a growth rate says about how many
    /// more iterations take the heap to it; default: the memory limit of the captured
    /// process's cgroup (a container's), when the capture recorded one.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    limit: Option<u64>,
    /// Start even when a final snapshot's analysis is estimated to need more memory than
    /// this process has left (its cgroup's limit, or the machine's available memory).
    /// Without it such a heap is refused before it is read, with the figures.
    #[arg(long)]
    force: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

/// Parses `20%`, `20`, `7.5%`: a percentage, zero or more.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let number = s.strip_suffix('%').unwrap_or(s).trim();
    match number.parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
        _ => Err(format!("`{s}` is not a percentage like 20%")),
    }
}

fn parse_kind(s: &str) -> Result<LeakKind, String> {
    LeakKind::ALL
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| {
            format!("unknown kind `{s}` (listener, collection, timer, closure, promise, other)")
        })
}

/// What the arguments name: nothing (the latest capture under `<root>/.heapsight`, as
/// the server finds it), a saved JSON report, one folder or three snapshots: resolved by the
/// ide layer, as the server resolves them.
pub fn input_of(paths: &[PathBuf], root: &Path) -> anyhow::Result<Input> {
    match paths {
        [] => {
            let snapshot_dir = root.join(Config::default().snapshot_dir);
            match inputs::latest(&snapshot_dir) {
                Some(capture) => Ok(inputs::from_paths(&[capture])?),
                None => bail!(
                    "no capture found in {}: run `heapsight capture -- node app.js` first, or give a folder, three snapshots or a report",
                    snapshot_dir.display()
                ),
            }
        }
        [one] if one.is_file() && one.extension().is_some_and(|x| x == "heapsnapshot") => bail!(
            "{} is one snapshot; give three (baseline, target, final) or their folder",
            one.display()
        ),
        [dir] if dir.is_dir() => match inputs::from_paths(paths)? {
            Input::Report(report) => bail!(
                "{} holds no capture and no snapshots; give a capture folder, three snapshots, or the report itself ({})",
                dir.display(),
                report.display()
            ),
            input => Ok(input),
        },
        paths => Ok(inputs::from_paths(paths)?),
    }
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = std::fs::canonicalize(&args.root).unwrap_or(args.root.clone());
    // A capture in a bucket is analyzed from its local copy.
    let paths = args
        .paths
        .iter()
        .map(
            |p| match p.to_str().filter(|p| heapsight_store::is_remote(p)) {
                Some(url) => crate::cmd::bucket::fetch(url),
                None => Ok(p.clone()),
            },
        )
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut report = match input_of(&paths, &root)? {
        Input::Report(path) => read_report(&path)?,
        input => analyze(&args, input, &root)?,
    };
    // A saved report that was compared keeps its comparison unless another is asked for.
    if let Some(path) = &args.baseline {
        let stored = read_report(path).context("cannot read the baseline")?;
        report.baseline = Some(Baseline::compare(
            &report,
            &stored,
            &path.display().to_string(),
            args.tolerance,
        ));
    }
    match args.format {
        Format::Text => print_text(&report, args.comparison, args.fail_above),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&to_sarif(&report, &root, args.fail_above))?
        ),
    }
    let failed = (0..report.findings.len()).any(|i| fails(&report, i, args.fail_above));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn read_report(path: &Path) -> anyhow::Result<JsonReport> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(JsonReport::parse(&bytes, path)?)
}

/// Whether finding `i` of `report` fails the run. Compared with a baseline: it is new or
/// grew, and retains more than `--fail-above` when that is given (the limit narrows what the
/// gate considers). Otherwise: it retains more than `--fail-above`. The exit code, SARIF's
/// `error` level and the text's `fails the run` follow this one rule.
fn fails(report: &JsonReport, i: usize, fail_above: Option<u64>) -> bool {
    let Some(f) = report.findings.get(i) else {
        return false;
    };
    let above = |limit: u64| f.finding.retained_bytes > limit;
    match &report.baseline {
        Some(baseline) => {
            matches!(baseline.state_of(i), Some((State::New | State::Grown, _)))
                && fail_above.is_none_or(above)
        }
        None => fail_above.is_some_and(above),
    }
}

/// Analyzes every heap of `input` one after another and places the findings: the report
/// that every format prints.
fn analyze(args: &Args, input: Input, root: &Path) -> anyhow::Result<JsonReport> {
    let mut heaps = Heaps::of(&input);
    if args.paths.len() == 3 {
        // Three files name one heap: their folder's manifest only brings its scripts.
        heaps.heaps.truncate(1);
    }
    let several = heaps.heaps.len() > 1;
    let mut report = JsonReport {
        warnings: heaps.warnings(),
        listed_by_manifest: heaps.from_manifest,
        ..JsonReport::new()
    };
    let options = Options {
        threshold: args.threshold,
        kinds: args.kinds.clone(),
        memory: crate::cmd::memory::budget(args.force),
    };
    // One heap after another: each comparison holds one final snapshot's graph, so memory
    // peaks at the largest heap's rather than at the sum of all.
    for (i, heap) in heaps.heaps.into_iter().enumerate() {
        let Ok(heap_input @ Input::Snapshots { a, b, c, .. }) = &heap.plan else {
            let (outcome, warning) = heap.not_analyzed(None);
            report.warnings.extend(warning);
            report.heaps.push(ReportHeap {
                outcome,
                snapshots: None,
                comparison: Vec::new(),
            });
            continue;
        };
        let progress = Arc::new(Progress::new());
        let label = if several {
            format!("analyze {}", heap.title)
        } else {
            "analyze".to_owned()
        };
        let display = ProgressDisplay::start(progress.clone(), label);
        let t0 = std::time::Instant::now();
        // A capture's rounds (none for three files), with the workload's size and the limit
        // (the one given, else the one the capture recorded).
        let given = args.limit.map(|bytes| heapsight_leaks::Limit {
            bytes,
            source: "--limit".to_owned(),
        });
        let rounds = heapsight_leaks::RoundInputs {
            iterations: args.iterations.or(heap.rounds.iterations),
            limit: given.or_else(|| heap.rounds.limit.clone()),
            ..heap.rounds.clone()
        };
        let result = analyze_rounds(a, b, c, &rounds, &options, &progress);
        drop(display);
        if args.timings {
            let of = if several {
                format!(" of {}", heap.title)
            } else {
                String::new()
            };
            let need = heapsight_leaks::memory_needed(c)
                .map(|n| format!("; estimated peak {}", crate::cmd::format::bytes(n.bytes)))
                .unwrap_or_default();
            eprintln!(
                "timings{of}: {}; total {:.3}s{need}",
                crate::progress::steps(&progress),
                t0.elapsed().as_secs_f64()
            );
        }
        let analyzed = match result {
            Ok(analyzed) => analyzed,
            // The main heap is what was asked for: its failure is the command's.
            Err(e) if i == 0 => return Err(e.into()),
            Err(e) => {
                let (outcome, warning) = heap.not_analyzed(Some(e.to_string()));
                report.warnings.extend(warning);
                report.heaps.push(ReportHeap {
                    outcome,
                    snapshots: None,
                    comparison: Vec::new(),
                });
                continue;
            }
        };
        report.findings.extend(placed(
            &analyzed,
            heap_input.clone(),
            &heap.title,
            root,
            args.read_outside_root,
        ));
        let outcome = heap.analyzed(
            analyzed.findings.len(),
            Some(analyzed.snapshots.leaked_objects),
            Some(analyzed.snapshots.leaked_bytes),
        );
        // The main heap's comparison is the report's own; a part's stays with its heap.
        let comparison = if i == 0 {
            report.snapshots = Some(analyzed.snapshots.clone());
            report.comparison = analyzed.comparison;
            Vec::new()
        } else {
            analyzed.comparison
        };
        report.heaps.push(ReportHeap {
            outcome,
            snapshots: Some(analyzed.snapshots),
            comparison,
        });
    }
    // Stable: equal sizes keep the main heap's first.
    report
        .findings
        .sort_by_key(|f| std::cmp::Reverse(f.finding.retained_bytes));
    Ok(report)
}

/// The per-class comparison of heap `i` of `report`.
fn comparison_of(report: &JsonReport, i: usize) -> &[ClassDelta] {
    if i == 0 {
        &report.comparison
    } else {
        report.heaps.get(i).map_or(&[][..], |h| &h.comparison)
    }
}

fn print_text(report: &JsonReport, comparison_rows: usize, fail_above: Option<u64>) {
    let color = crate::progress::color(std::io::stdout().is_terminal());
    let (bold, dim, yellow, reset) = if color {
        ("\x1b[1m", "\x1b[2m", "\x1b[33m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    // The warnings lead: a capture of the wrong process must not read as a clean result.
    for warning in &report.warnings {
        println!("{bold}{yellow}warning:{reset} {}", warning.text());
    }
    let several = report.heaps.len() > 1;
    for heap in &report.heaps {
        let Some(s) = &heap.snapshots else { continue };
        let title = if several {
            format!("{}: ", heap.outcome.title)
        } else {
            String::new()
        };
        println!(
            "{dim}{title}{} objects ({}) allocated between the baseline and the target are still alive in the final snapshot{reset}",
            count(s.leaked_objects),
            format_bytes(s.leaked_bytes)
        );
    }
    if report.listed_by_manifest {
        let outcomes: Vec<HeapReport> = report.heaps.iter().map(|h| h.outcome.clone()).collect();
        println!("{dim}{}{reset}", heaps::looked_at(&outcomes));
    }
    if report.findings.is_empty() {
        println!("{}", heaps::no_findings(!report.warnings.is_empty()));
    }
    for ReportFinding {
        finding: f, place, ..
    } in &report.findings
    {
        let Place { line, column, .. } = place;
        let file = place.file.as_deref().unwrap_or("<unknown script>");
        let stale = if place.stale {
            " (possibly stale: this code changed since the capture)"
        } else {
            ""
        };
        let heap = match (&f.heap, several) {
            (Some(heap), true) => format!(" (in {heap})"),
            _ => String::new(),
        };
        println!(
            "{bold}{file}:{line}:{column}{reset}: {yellow}{}{reset}: {}{heap}{dim}{stale}{reset}",
            f.kind().as_str(),
            f.message
        );
        // The path a person reads: from the user's variable, Node's internals folded (the
        // full path is in the JSON).
        for line in heapsight_leaks::readable_lines(f) {
            println!("    {dim}{line}{reset}");
        }
        if !f.captured.is_empty() {
            println!("    {dim}captures: {}{reset}", f.captured.join(", "));
        }
        for line in heapsight_leaks::round_lines(f) {
            println!("    {line}");
        }
        for line in stack_lines(f, bold, reset) {
            println!("    {line}");
        }
    }
    if let Some(baseline) = &report.baseline {
        print_baseline(report, baseline, fail_above, (bold, dim, yellow, reset));
    }
    for (i, heap) in report.heaps.iter().enumerate() {
        let comparison = comparison_of(report, i);
        if comparison_rows == 0 || heap.snapshots.is_none() || comparison.is_empty() {
            continue;
        }
        let of = if several {
            format!(", {}", heap.outcome.title)
        } else {
            String::new()
        };
        println!();
        println!("{bold}comparison (final against baseline, JS objects{of}){reset}");
        println!(
            "  {:<40} {:>10} {:>10} {:>10} {:>12}",
            "class", "new", "deleted", "delta", "size delta"
        );
        for d in comparison.iter().take(comparison_rows) {
            let mut name = d.name.replace('\n', " ");
            if name.chars().count() > 40 {
                name = name.chars().take(39).collect::<String>() + "…";
            }
            let sign = if d.size_delta < 0 { "-" } else { "+" };
            println!(
                "  {:<40} {:>10} {:>10} {:>+10} {:>12}",
                name,
                count(d.new),
                count(d.deleted),
                d.count_delta,
                format!("{sign}{}", format_bytes(d.size_delta.unsigned_abs()))
            );
        }
    }
}

/// The comparison with the baseline: one line of counts, then each finding by what became
/// of it (those that fail the run first), then the gone ones.
fn print_baseline(
    report: &JsonReport,
    baseline: &Baseline,
    fail_above: Option<u64>,
    (bold, dim, yellow, reset): (&str, &str, &str, &str),
) {
    println!();
    println!(
        "{bold}baseline {} (tolerance {}%){reset}: {} new, {} grown, {} unchanged, {} shrunk, {} gone",
        baseline.path,
        baseline.tolerance_percent,
        baseline.new.len(),
        baseline.grown.len(),
        baseline.unchanged.len(),
        baseline.shrunk.len(),
        baseline.gone.len()
    );
    if baseline.matched_by == MatchedBy::Message {
        println!(
            "  {dim}the baseline has no fingerprints (an older heapsight wrote it): findings matched by kind, holder and message{reset}"
        );
    }
    let fails_run = |e: &Entry| e.finding.is_some_and(|i| fails(report, i, fail_above));
    let groups = [
        (Some(State::New), &baseline.new),
        (Some(State::Grown), &baseline.grown),
        (Some(State::Unchanged), &baseline.unchanged),
        (Some(State::Shrunk), &baseline.shrunk),
        (None, &baseline.gone),
    ];
    for (state, entries) in groups {
        for e in entries {
            let file = e.place.file.as_deref().unwrap_or("<unknown script>");
            let (on, off, note) = if fails_run(e) {
                (bold, reset, format!(" {yellow}(fails the run){reset}"))
            } else {
                ("", "", String::new())
            };
            println!(
                "  {on}{}{off}: {file}:{}:{}: {}: {}{note}",
                what_became(state, e),
                e.place.line,
                e.place.column,
                e.kind.as_str(),
                e.message
            );
        }
    }
}

/// What became of `e` in words: its state, with the figures that moved; `None` is gone.
fn what_became(state: Option<State>, e: &Entry) -> String {
    match state {
        Some(State::New) => "new".to_owned(),
        Some(State::Grown) => change("grew", e),
        Some(State::Unchanged) => format!(
            "unchanged ({}, was {})",
            format_bytes(e.retained_bytes),
            format_bytes(e.baseline_retained_bytes.unwrap_or(0))
        ),
        Some(State::Shrunk) => change("shrank", e),
        None => format!("gone (was {})", format_bytes(e.retained_bytes)),
    }
}

/// `grew from 2.1 MB to 7.8 MB (+271%)`, by the figure that moved beyond the tolerance: the
/// bytes when they did, else the count.
fn change(verb: &str, e: &Entry) -> String {
    let (then_bytes, then_count) = (
        e.baseline_retained_bytes.unwrap_or(0),
        e.baseline_count.unwrap_or(0),
    );
    let moved = |now: u64, then: u64| {
        let ratio = now as f64 / then.max(1) as f64;
        (ratio - 1.0).abs()
    };
    let percent = |now: u64, then: u64| {
        if then == 0 {
            String::new()
        } else {
            let p = (now as f64 - then as f64) * 100.0 / then as f64;
            format!(" ({p:+.0}%)")
        }
    };
    if moved(e.retained_bytes, then_bytes) >= moved(e.count, then_count) {
        format!(
            "{verb} from {} to {}{}",
            format_bytes(then_bytes),
            format_bytes(e.retained_bytes),
            percent(e.retained_bytes, then_bytes)
        )
    } else {
        format!(
            "{verb} from {} to {} items{}",
            count(then_count),
            count(e.count),
            percent(e.count, then_count)
        )
    }
}

/// Top stacks in text output.
const TEXT_STACKS: usize = 3;

/// One line per top allocation stack of `f`: objects, bytes and share, then the frames
/// from the allocation site outwards (user frames in `bold`, library and Node runs
/// folded); and the share of leaked bytes with no stack.
fn stack_lines(f: &heapsight_leaks::Finding, bold: &str, reset: &str) -> Vec<String> {
    let Some(a) = &f.allocations else {
        return Vec::new();
    };
    let total = a.tracked_bytes.saturating_add(a.untracked_bytes);
    let mut lines: Vec<String> = a
        .stacks
        .iter()
        .take(TEXT_STACKS)
        .map(|stack| {
            let frames: Vec<String> = fold_frames(&stack.frames)
                .iter()
                .map(|run| match run {
                    FrameRun::Frame(frame) => {
                        let name = if frame.function.is_empty() {
                            "(anonymous)"
                        } else {
                            &frame.function
                        };
                        let at = frame.url.as_deref().map_or(String::new(), |url| {
                            format!(" ({}:{})", file_name(url), frame.line + 1)
                        });
                        if frame.user {
                            format!("{bold}{name}{reset}{at}")
                        } else {
                            format!("{name}{at}")
                        }
                    }
                    FrameRun::Folded { frames, origin } => format!("… {frames} frames in {origin}"),
                })
                .collect();
            format!(
                "allocated: {} objects, {} ({}) at {}",
                count(stack.count),
                format_bytes(stack.bytes),
                format_percent(stack.bytes, total),
                frames.join(" ← ")
            )
        })
        .collect();
    if a.untracked_bytes > 0 {
        lines.push(format!(
            "no allocation stack: {} of the leaked bytes ({} objects)",
            format_percent(a.untracked_bytes, total),
            count(a.untracked_objects)
        ));
    }
    lines
}

/// SARIF 2.1.0, as GitHub code scanning reads it. A result's `level` is `error` when its
/// finding fails the run (it retains more than `--fail-above`), else `warning`: without
/// `--fail-above` nothing fails the run and every result is a warning. A file inside `root`
/// is written relative to it with `"uriBaseId": "%SRCROOT%"`; one outside it as an absolute
/// `file://` URI. Each top allocation stack's frames that are in a file become
/// `relatedLocations`. Every result carries its identity as
/// `partialFingerprints["heapsightFinding/v1"]` (a report written before fingerprints gets
/// the identity's fallback, kind, holder and message without figures); compared with a
/// baseline, each has SARIF's `baselineState` (`new`; `updated` for grown and shrunk, the
/// property `baseline` saying which; `unchanged`), and every gone finding is a result of
/// level `note` with `baselineState` `absent`.
fn to_sarif(report: &JsonReport, root: &Path, fail_above: Option<u64>) -> Value {
    let rules: Vec<Value> = LeakKind::ALL
        .iter()
        .map(|k| {
            json!({
                "id": format!("heapsight/{}", k.as_str()),
                "name": format!("{}-leak", k.as_str()),
                "shortDescription": {"text": format!("Memory leak: {}", k.as_str())},
                "helpUri": format!("https://github.com/heapsight/heapsight#leak-kind-{}", k.as_str()),
                "defaultConfiguration": {"level": "warning"},
            })
        })
        .collect();
    let several = report.heaps.len() > 1;
    let main = report
        .heaps
        .first()
        .map_or("", |h| h.outcome.title.as_str());
    let mut results: Vec<Value> = report
        .findings
        .iter()
        .enumerate()
        .map(|(i, rf)| {
            let ReportFinding {
                finding: f, place, ..
            } = rf;
            let heap = f.heap.as_deref().unwrap_or(main);
            let text = if several {
                format!("{} (in {heap})", f.message)
            } else {
                f.message.clone()
            };
            let level = if fails(report, i, fail_above) {
                "error"
            } else {
                "warning"
            };
            let mut result = json!({
                "ruleId": format!("heapsight/{}", f.kind().as_str()),
                "level": level,
                "message": {"text": text},
                "properties": {"retainedBytes": f.retained_bytes, "count": f.count, "heap": heap},
                "partialFingerprints": {identity::SARIF_KEY: fingerprint_of(rf)},
            });
            if let Some(locations) = sarif_locations(place) {
                result["locations"] = locations;
            }
            if let Some((state, entry)) = report.baseline.as_ref().and_then(|b| b.state_of(i)) {
                let (sarif_state, ours) = match state {
                    State::New => ("new", "new"),
                    State::Grown => ("updated", "grown"),
                    State::Unchanged => ("unchanged", "unchanged"),
                    State::Shrunk => ("updated", "shrunk"),
                };
                result["baselineState"] = json!(sarif_state);
                result["properties"]["baseline"] = json!(ours);
                if let Some(bytes) = entry.baseline_retained_bytes {
                    result["properties"]["baselineRetainedBytes"] = json!(bytes);
                }
                if let Some(items) = entry.baseline_count {
                    result["properties"]["baselineCount"] = json!(items);
                }
            }
            if let Some(a) = &f.allocations {
                let related = related_locations(a, root);
                if !related.is_empty() {
                    result["relatedLocations"] = json!(related);
                }
            }
            result
        })
        .collect();
    if let Some(baseline) = &report.baseline {
        results.extend(baseline.gone.iter().map(|e| {
            let mut result = json!({
                "ruleId": format!("heapsight/{}", e.kind.as_str()),
                "level": "note",
                "message": {"text": format!("gone since the baseline: {}", e.message)},
                "baselineState": "absent",
                "properties": {"retainedBytes": e.retained_bytes, "count": e.count, "baseline": "gone"},
                "partialFingerprints": {identity::SARIF_KEY: e.fingerprint},
            });
            if let Some(locations) = sarif_locations(&e.place) {
                result["locations"] = locations;
            }
            result
        }));
    }
    // The capture's warnings, as SARIF tells what happened to the tool's run.
    let notifications: Vec<Value> = report
        .warnings
        .iter()
        .map(|w| {
            let mut notification = json!({
                "descriptor": {"id": format!("heapsight/{}", w.code.as_str())},
                "level": "warning",
                "message": {"text": w.text()},
            });
            if let Some(heap) = &w.heap {
                notification["properties"] = json!({"heap": heap});
            }
            notification
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "heapsight",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/heapsight/heapsight",
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
            "properties": {"heaps": report.heaps},
        }],
    })
}

/// A finding's identity as SARIF's partial fingerprint: its own, or for a finding of a
/// report written before fingerprints, the identity's fallback recipe.
fn fingerprint_of(f: &ReportFinding) -> String {
    f.fingerprint
        .clone()
        .unwrap_or_else(|| identity::message_fingerprint(&f.finding))
}

/// A result's `locations`, when it has a file.
fn sarif_locations(place: &Place) -> Option<Value> {
    let file = place.file.as_ref()?;
    Some(json!([{
        "physicalLocation": {
            "artifactLocation": artifact(file),
            "region": {
                "startLine": place.line,
                "startColumn": place.column,
                "endLine": place.end_line,
                "endColumn": place.end_column,
            },
        }
    }]))
}

/// A SARIF `artifactLocation` for a file as the report names it: relative to the root with
/// `%SRCROOT%`; an absolute path (a file outside the root) as a `file://` URI; anything
/// else that already is a URI (`node:internal/…`, `webpack://…`) as it is.
fn artifact(file: &str) -> Value {
    let path = Path::new(file);
    if path.is_absolute() {
        return json!({"uri": file_uri(path)});
    }
    let has_scheme = file.split_once(':').is_some_and(|(scheme, _)| {
        scheme.len() > 1
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if has_scheme {
        return json!({"uri": file});
    }
    json!({"uri": file.replace('\\', "/"), "uriBaseId": "%SRCROOT%"})
}

/// `file:///abs/path` with the characters a URI path cannot hold percent-encoded.
fn file_uri(path: &Path) -> String {
    let text = path.display().to_string().replace('\\', "/");
    let mut uri = String::from("file://");
    if !text.starts_with('/') {
        // A Windows drive path: `file:///C:/…`.
        uri.push('/');
    }
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'.' | b'_' | b'~' | b':' => {
                uri.push(byte as char)
            }
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri
}

/// The frames of the top stacks that are in a file, as SARIF related locations: each
/// names its frame, its stack and the stack's share of the leaked bytes.
fn related_locations(a: &Allocations, root: &Path) -> Vec<Value> {
    let total = a.tracked_bytes.saturating_add(a.untracked_bytes);
    let mapper = PathMapper::new(root.to_path_buf(), Vec::new());
    let mut out = Vec::new();
    for (s, stack) in a.stacks.iter().take(TEXT_STACKS).enumerate() {
        for (i, frame) in stack.frames.iter().enumerate() {
            let Some(url) = frame.url.as_deref() else {
                continue;
            };
            let file = match mapper.resolve(url) {
                Resolved::Workspace(path)
                | Resolved::Outside(path)
                | Resolved::Library { path, .. } => relative(&path, root),
                Resolved::Internal | Resolved::Unknown => continue,
            };
            let name = if frame.function.is_empty() {
                "(anonymous)"
            } else {
                &frame.function
            };
            let role = if i == 0 {
                "allocation site".to_string()
            } else {
                format!("caller {i}")
            };
            let user = if frame.user { ", your code" } else { "" };
            out.push(json!({
                "id": out.len(),
                "message": {"text": format!(
                    "{name} ({role}{user}) in allocation stack {} of the leaked objects: {} objects, {} ({} of the leaked bytes)",
                    s + 1,
                    count(stack.count),
                    format_bytes(stack.bytes),
                    format_percent(stack.bytes, total)
                )},
                "physicalLocation": {
                    "artifactLocation": artifact(&file),
                    "region": {"startLine": frame.line + 1, "startColumn": frame.column + 1},
                },
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{artifact, parse_percent};

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("20%"), Ok(20.0));
        assert_eq!(parse_percent(" 7.5 % "), Ok(7.5));
        assert_eq!(parse_percent("0"), Ok(0.0));
        assert!(parse_percent("-5%").is_err());
        assert!(parse_percent("20MB").is_err());
        assert!(parse_percent("NaN").is_err());
    }

    #[test]
    fn sarif_uris() {
        assert_eq!(
            artifact("src/main.js"),
            serde_json::json!({"uri": "src/main.js", "uriBaseId": "%SRCROOT%"})
        );
        assert_eq!(
            artifact("/opt/my app/lib.js"),
            serde_json::json!({"uri": "file:///opt/my%20app/lib.js"})
        );
        assert_eq!(
            artifact("node:internal/timers"),
            serde_json::json!({"uri": "node:internal/timers"})
        );
    }
}
