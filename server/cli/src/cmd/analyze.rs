//! `heapsight analyze A B C` (or a folder): the leak findings, as text, JSON or SARIF.
//!
//! A capture folder may hold several heaps (worker threads, other processes: its
//! manifest's parts); each complete one is analyzed in turn, placed with its own manifest's
//! scripts, and the findings merged, each naming its heap. The capture's warnings (the
//! process was not the user's service; a heap could not be analyzed) lead every format.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use heapsight_ide::heaps::{self, Heap, HeapReport, Heaps, Warning};
use heapsight_ide::{inputs, Input};
use heapsight_leaks::{
    analyze_files, file_name, fold_frames, format_bytes, format_percent, Allocations, Finding,
    FrameRun, LeakKind, Options, Report,
};
use heapsight_snapshot::Progress;
use heapsight_source::{PathMapper, Resolved};
use serde_json::{json, Value};

use crate::cmd::format::count;
use crate::cmd::placement::{places, Place};
use crate::progress::ProgressDisplay;

/// Arguments of `heapsight analyze`.
#[derive(clap::Args)]
pub struct Args {
    /// Baseline, target and final snapshots; or one folder holding a capture
    /// (`A.heapsnapshot`, `B.heapsnapshot`, `C.heapsnapshot`, and the heaps of its worker
    /// threads and other processes when it has them) or three snapshots (by name); or the
    /// snapshot folder (`.heapsight`: the capture its `latest` names).
    #[arg(required = true, num_args = 1..=3)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Report findings retaining at least this much (e.g. 500kB, 1MB, 2.5MiB).
    #[arg(long, default_value = "1MB", value_parser = parse_size)]
    threshold: u64,
    /// Exit with code 1 when a finding retains more than this (e.g. 10MB).
    #[arg(long, value_parser = parse_size)]
    fail_above: Option<u64>,
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
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

/// Parses `1MB`, `500kB`, `2.5MiB`, `1048576`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 10MB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use B, kB, MB, GB, KiB, MiB, GiB)"
            ))
        }
    };
    Ok((value * mult).round() as u64)
}

fn parse_kind(s: &str) -> Result<LeakKind, String> {
    LeakKind::ALL
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| {
            format!("unknown kind `{s}` (listener, collection, timer, closure, promise, other)")
        })
}

/// Resolves the three snapshot paths from the arguments.
pub fn triple_paths(paths: &[PathBuf]) -> anyhow::Result<[PathBuf; 3]> {
    match paths {
        [a, b, c] => Ok([a.clone(), b.clone(), c.clone()]),
        [dir] if dir.is_dir() => {
            let named: Vec<PathBuf> = ["A", "B", "C"]
                .iter()
                .map(|n| dir.join(format!("{n}.heapsnapshot")))
                .collect();
            if named.iter().all(|p| p.is_file()) {
                return Ok([named[0].clone(), named[1].clone(), named[2].clone()]);
            }
            let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
                .with_context(|| format!("cannot list {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "heapsnapshot"))
                .collect();
            found.sort();
            match found.len() {
                3 => Ok([found[0].clone(), found[1].clone(), found[2].clone()]),
                n => bail!(
                    "{} holds {n} .heapsnapshot files; give the folder of one capture (A, B, C) or the three files",
                    dir.display()
                ),
            }
        }
        [one] => bail!(
            "{} is not a folder; give three snapshots: baseline, target, final",
            one.display()
        ),
        _ => bail!("give three snapshots (baseline, target, final) or one folder"),
    }
}

/// What `paths` name: three snapshots, or one folder holding them, with the capture folder
/// when its manifest is beside them; a folder without snapshots (`.heapsight`) names the
/// capture its `latest` file names, else its newest capture.
pub fn input_of(paths: &[PathBuf]) -> anyhow::Result<Input> {
    if let [dir] = paths {
        let has_snapshots = || {
            std::fs::read_dir(dir).is_ok_and(|entries| {
                entries
                    .filter_map(Result::ok)
                    .any(|e| e.path().extension().is_some_and(|x| x == "heapsnapshot"))
            })
        };
        if dir.is_dir() && !dir.join(inputs::MANIFEST_FILE).is_file() && !has_snapshots() {
            return match inputs::discover(dir)? {
                input @ Input::Snapshots { .. } => Ok(input),
                Input::Report(report) => bail!(
                    "{} holds no capture and no snapshots, only the report {}; give a capture folder or three snapshots",
                    dir.display(),
                    report.display()
                ),
            };
        }
    }
    let [a, b, c] = triple_paths(paths)?;
    // Three files of one capture folder bring its manifest too.
    let capture = a
        .parent()
        .filter(|dir| {
            b.parent() == Some(*dir)
                && c.parent() == Some(*dir)
                && dir.join(inputs::MANIFEST_FILE).is_file()
        })
        .map(Path::to_path_buf);
    Ok(Input::Snapshots { a, b, c, capture })
}

/// One heap of the input and what its analysis gave.
struct HeapRun {
    /// What it is and where its snapshots are.
    heap: Heap,
    /// Its comparison and each finding's place, when it was analyzed.
    analyzed: Option<(Report, Vec<Place>)>,
    /// What became of it, as the JSON `heaps` lists it.
    outcome: HeapReport,
}

/// Everything the outputs print: each heap's run, the warnings, and whether a manifest
/// listed the heaps.
struct Outcome {
    runs: Vec<HeapRun>,
    warnings: Vec<Warning>,
    from_manifest: bool,
}

impl Outcome {
    /// Whether findings name their heap: more than one heap is listed.
    fn several(&self) -> bool {
        self.runs.len() > 1
    }

    /// Every finding with its heap's title and its place, largest first (the main heap's
    /// first among equals).
    fn findings(&self) -> Vec<(&str, &Finding, &Place)> {
        let mut all: Vec<(&str, &Finding, &Place)> = self
            .runs
            .iter()
            .filter_map(|run| Some((run.heap.title.as_str(), run.analyzed.as_ref()?)))
            .flat_map(|(title, (report, places))| {
                report
                    .findings
                    .iter()
                    .zip(places)
                    .map(move |(f, place)| (title, f, place))
            })
            .collect();
        all.sort_by_key(|(_, f, _)| std::cmp::Reverse(f.retained_bytes));
        all
    }

    /// The analyzed heaps' reports.
    fn reports(&self) -> impl Iterator<Item = (&HeapRun, &Report)> {
        self.runs
            .iter()
            .filter_map(|run| Some((run, &run.analyzed.as_ref()?.0)))
    }
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let input = input_of(&args.paths)?;
    let mut heaps = Heaps::of(&input);
    if args.paths.len() == 3 {
        // Three files name one heap: their folder's manifest only brings its scripts.
        heaps.heaps.truncate(1);
    }
    let several = heaps.heaps.len() > 1;
    let mut warnings = heaps.warnings();
    let options = Options {
        threshold: args.threshold,
        kinds: args.kinds.clone(),
    };
    let root = std::fs::canonicalize(&args.root).unwrap_or(args.root.clone());
    let mut runs = Vec::with_capacity(heaps.heaps.len());
    // One heap after another: each comparison holds one final snapshot's graph, so memory
    // peaks at the largest heap's rather than at the sum of all.
    for (i, heap) in heaps.heaps.into_iter().enumerate() {
        let Ok(heap_input @ Input::Snapshots { a, b, c, .. }) = &heap.plan else {
            let (outcome, warning) = heap.not_analyzed(None);
            warnings.extend(warning);
            runs.push(HeapRun {
                heap,
                analyzed: None,
                outcome,
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
        let result = analyze_files(a, b, c, &options, &progress);
        drop(display);
        if args.timings {
            let of = if several {
                format!(" of {}", heap.title)
            } else {
                String::new()
            };
            eprintln!(
                "timings{of}: {}; total {:.3}s",
                crate::progress::steps(&progress),
                t0.elapsed().as_secs_f64()
            );
        }
        let report = match result {
            Ok(report) => report,
            // The main heap is what was asked for: its failure is the command's.
            Err(e) if i == 0 => return Err(e.into()),
            Err(e) => {
                let (outcome, warning) = heap.not_analyzed(Some(e.to_string()));
                warnings.extend(warning);
                runs.push(HeapRun {
                    heap,
                    analyzed: None,
                    outcome,
                });
                continue;
            }
        };
        let places = places(&report, heap_input.clone(), &root, args.read_outside_root);
        let outcome = heap.analyzed(
            report.findings.len(),
            Some(report.snapshots.leaked_objects),
            Some(report.snapshots.leaked_bytes),
        );
        runs.push(HeapRun {
            heap,
            analyzed: Some((report, places)),
            outcome,
        });
    }
    let outcome = Outcome {
        runs,
        warnings,
        from_manifest: heaps.from_manifest,
    };
    match args.format {
        Format::Text => print_text(&outcome, args.comparison),
        Format::Json => println!("{}", serde_json::to_string_pretty(&to_json(&outcome))?),
        Format::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&to_sarif(&outcome, &root))?
        ),
    }
    let failed = args.fail_above.is_some_and(|limit| {
        outcome
            .findings()
            .iter()
            .any(|(_, f, _)| f.retained_bytes > limit)
    });
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_text(outcome: &Outcome, comparison_rows: usize) {
    let color = std::io::stdout().is_terminal();
    let (bold, dim, yellow, reset) = if color {
        ("\x1b[1m", "\x1b[2m", "\x1b[33m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    // The warnings lead: a capture of the wrong process must not read as a clean result.
    for warning in &outcome.warnings {
        println!("{bold}{yellow}warning:{reset} {}", warning.text());
    }
    let several = outcome.several();
    for (run, report) in outcome.reports() {
        let s = &report.snapshots;
        let heap = if several {
            format!("{}: ", run.heap.title)
        } else {
            String::new()
        };
        println!(
            "{dim}{heap}{} objects ({}) allocated between the baseline and the target are still alive in the final snapshot{reset}",
            count(s.leaked_objects),
            format_bytes(s.leaked_bytes)
        );
    }
    if outcome.from_manifest {
        let outcomes: Vec<HeapReport> = outcome.runs.iter().map(|r| r.outcome.clone()).collect();
        println!("{dim}{}{reset}", heaps::looked_at(&outcomes));
    }
    let findings = outcome.findings();
    if findings.is_empty() {
        println!("{}", heaps::no_findings(!outcome.warnings.is_empty()));
    }
    for (heap, f, place) in findings {
        let Place { line, column, .. } = place;
        let file = place.file.as_deref().unwrap_or("<unknown script>");
        let stale = if place.stale {
            " (possibly stale: this code changed since the capture)"
        } else {
            ""
        };
        let heap = if several {
            format!(" (in {heap})")
        } else {
            String::new()
        };
        println!(
            "{bold}{file}:{line}:{column}{reset}: {yellow}{}{reset}: {}{heap}{dim}{stale}{reset}",
            f.kind.as_str(),
            place.message
        );
        for hop in &f.retainer_path {
            let name = hop
                .name
                .as_ref()
                .map(|n| format!(" {n:?}"))
                .unwrap_or_default();
            let edge = match (&hop.edge, hop.edge_type) {
                (Some(e), Some(t)) => format!(" --{t} {e}-->"),
                _ => String::new(),
            };
            let d = hop.distance.map(|d| format!(" d={d}")).unwrap_or_default();
            println!(
                "    {dim}{}{name} @{}{d} ({}){reset}{edge}",
                hop.class,
                hop.id,
                format_bytes(hop.retained_bytes)
            );
        }
        if !f.captured.is_empty() {
            println!("    {dim}captures: {}{reset}", f.captured.join(", "));
        }
        for line in stack_lines(f, bold, reset) {
            println!("    {line}");
        }
    }
    for (run, report) in outcome.reports() {
        if comparison_rows == 0 || report.comparison.is_empty() {
            continue;
        }
        let of = if several {
            format!(", {}", run.heap.title)
        } else {
            String::new()
        };
        println!();
        println!("{bold}comparison (final against baseline, JS objects{of}){reset}");
        println!(
            "  {:<40} {:>10} {:>10} {:>10} {:>12}",
            "class", "new", "deleted", "delta", "size delta"
        );
        for d in report.comparison.iter().take(comparison_rows) {
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

/// Top stacks in text output.
const TEXT_STACKS: usize = 3;

/// One line per top allocation stack of `f`: objects, bytes and share, then the frames
/// from the allocation site outwards (user frames in `bold`, library and Node runs
/// folded); and the share of leaked bytes with no stack.
fn stack_lines(f: &Finding, bold: &str, reset: &str) -> Vec<String> {
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

/// The stable JSON contract (version 1): `warnings` (each `{code, heap?, message}`), the
/// `heaps` looked at (each `{title, kind, pid?, thread_id?, folder?, status, note?,
/// findings, leaked_objects?, leaked_bytes?, snapshots?}`), the main heap's `snapshots` and
/// `comparison`, and every heap's findings, each naming its `heap` by title.
fn to_json(outcome: &Outcome) -> Value {
    let findings: Vec<Value> = outcome
        .findings()
        .into_iter()
        .map(|(heap, f, place)| {
            let mut finding = json!({
                "kind": f.kind.as_str(),
                "message": place.message,
                "heap": heap,
                "file": place.file,
                "line": place.line,
                "column": place.column,
                "end_line": place.end_line,
                "end_column": place.end_column,
                "retained_bytes": f.retained_bytes,
                "retained_is_lower_bound": f.retained_is_lower_bound,
                "count": f.count,
                "holder": f.holder,
                "event": f.event,
                "growth": f.growth,
                "retainer_path": f.retainer_path,
                "anchor": f.anchor,
                "users": f.users,
                "captured": f.captured,
                "objects": f.objects,
                "allocations": f.allocations,
                "placement": {
                    "evidence": place.evidence,
                    "candidates": f.placement.candidates,
                },
            });
            if place.stale {
                finding["stale"] = json!(true);
            }
            finding
        })
        .collect();
    let main = outcome.reports().next().map(|(_, report)| report);
    json!({
        "version": 1,
        "warnings": outcome.warnings,
        "heaps": heaps_json(outcome),
        "snapshots": main.map(|r| &r.snapshots),
        "findings": findings,
        "comparison": main.map_or(&[][..], |r| &r.comparison[..]),
    })
}

/// The `heaps` entries: each heap's outcome, with its snapshots' figures when analyzed.
fn heaps_json(outcome: &Outcome) -> Vec<Value> {
    outcome
        .runs
        .iter()
        .map(|run| {
            let mut heap = json!(run.outcome);
            if let Some((report, _)) = &run.analyzed {
                heap["snapshots"] = json!(report.snapshots);
            }
            heap
        })
        .collect()
}

/// SARIF 2.1.0, as GitHub code scanning reads it. Each top allocation stack's frames that
/// are in a file become `relatedLocations`.
fn to_sarif(outcome: &Outcome, root: &std::path::Path) -> Value {
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
    let several = outcome.several();
    let results: Vec<Value> = outcome
        .findings()
        .into_iter()
        .map(|(heap, f, place)| {
            let text = if several {
                format!("{} (in {heap})", place.message)
            } else {
                place.message.clone()
            };
            let mut result = json!({
                "ruleId": format!("heapsight/{}", f.kind.as_str()),
                "level": if f.retained_bytes >= 10_000_000 { "error" } else { "warning" },
                "message": {"text": text},
                "properties": {"retainedBytes": f.retained_bytes, "count": f.count, "heap": heap},
            });
            if let Some(file) = &place.file {
                result["locations"] = json!([{
                    "physicalLocation": {
                        "artifactLocation": {"uri": file.replace('\\', "/"), "uriBaseId": "%SRCROOT%"},
                        "region": {
                            "startLine": place.line,
                            "startColumn": place.column,
                            "endLine": place.end_line,
                            "endColumn": place.end_column,
                        },
                    }
                }]);
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
    // The capture's warnings, as SARIF tells what happened to the tool's run.
    let notifications: Vec<Value> = outcome
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
            "properties": {"heaps": heaps_json(outcome)},
        }],
    })
}

/// The frames of the top stacks that are in a file, as SARIF related locations: each
/// names its frame, its stack and the stack's share of the leaked bytes.
fn related_locations(a: &Allocations, root: &std::path::Path) -> Vec<Value> {
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
                | Resolved::Library { path, .. } => path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
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
                    "artifactLocation": {"uri": file.replace('\\', "/"), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": frame.line + 1, "startColumn": frame.column + 1},
                },
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("1.5 kB"), Ok(1500));
        assert_eq!(parse_size("2MiB"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }
}
