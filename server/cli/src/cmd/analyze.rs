//! `heapsight analyze A B C` (or a folder): the leak findings, as text, JSON or SARIF.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
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
    /// (`A.heapsnapshot`, `B.heapsnapshot`, `C.heapsnapshot`) or three snapshots (by name).
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

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let [a, b, c] = triple_paths(&args.paths)?;
    let progress = Arc::new(Progress::new());
    let display = ProgressDisplay::start(progress.clone(), "analyze".into());
    let options = Options {
        threshold: args.threshold,
        kinds: args.kinds.clone(),
    };
    let t0 = std::time::Instant::now();
    let report = analyze_files(&a, &b, &c, &options, &progress)?;
    drop(display);
    if args.timings {
        eprintln!(
            "timings: {}; total {:.3}s",
            crate::progress::steps(&progress),
            t0.elapsed().as_secs_f64()
        );
    }
    let root = std::fs::canonicalize(&args.root).unwrap_or(args.root.clone());
    let places = places(
        &report,
        &args.paths,
        &[a, b, c],
        &root,
        args.read_outside_root,
    );
    match args.format {
        Format::Text => print_text(&report, &places, args.comparison),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&report, &places))?
        ),
        Format::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&to_sarif(&report, &places, &root))?
        ),
    }
    let failed = args
        .fail_above
        .is_some_and(|limit| report.findings.iter().any(|f| f.retained_bytes > limit));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_text(report: &Report, places: &[Place], comparison_rows: usize) {
    let color = std::io::stdout().is_terminal();
    let (bold, dim, yellow, reset) = if color {
        ("\x1b[1m", "\x1b[2m", "\x1b[33m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    let s = &report.snapshots;
    println!(
        "{dim}{} objects ({}) allocated between the baseline and the target are still alive in the final snapshot{reset}",
        count(s.leaked_objects),
        format_bytes(s.leaked_bytes)
    );
    if report.findings.is_empty() {
        println!("no leaks above the threshold");
    }
    for (f, place) in report.findings.iter().zip(places) {
        let Place { line, column, .. } = place;
        let file = place.file.as_deref().unwrap_or("<unknown script>");
        let stale = if place.stale {
            " (possibly stale: this code changed since the capture)"
        } else {
            ""
        };
        println!(
            "{bold}{file}:{line}:{column}{reset}: {yellow}{}{reset}: {}{dim}{stale}{reset}",
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
    if comparison_rows > 0 && !report.comparison.is_empty() {
        println!();
        println!("{bold}comparison (final against baseline, JS objects){reset}");
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

/// The stable JSON contract (version 1).
pub fn to_json(report: &Report, places: &[Place]) -> Value {
    let findings: Vec<Value> = report
        .findings
        .iter()
        .zip(places)
        .map(|(f, place)| {
            let mut finding = json!({
                "kind": f.kind.as_str(),
                "message": place.message,
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
    json!({
        "version": 1,
        "snapshots": report.snapshots,
        "findings": findings,
        "comparison": report.comparison,
    })
}

/// SARIF 2.1.0, as GitHub code scanning reads it. Each top allocation stack's frames that
/// are in a file become `relatedLocations`.
pub fn to_sarif(report: &Report, places: &[Place], root: &std::path::Path) -> Value {
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
    let results: Vec<Value> = report
        .findings
        .iter()
        .zip(places)
        .map(|(f, place)| {
            let mut result = json!({
                "ruleId": format!("heapsight/{}", f.kind.as_str()),
                "level": if f.retained_bytes >= 10_000_000 { "error" } else { "warning" },
                "message": {"text": place.message},
                "properties": {"retainedBytes": f.retained_bytes, "count": f.count},
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
            "results": results,
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
