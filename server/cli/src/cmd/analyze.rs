//! `heapsight analyze A B C` (or a folder, or nothing: the latest capture): the leak
//! findings, as text, JSON or SARIF. Every format prints one [`JsonReport`], so a report
//! saved with `--format json` prints again as text or SARIF exactly as the analysis did.
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
use heapsight_ide::heaps::{self, HeapReport, Heaps};
use heapsight_ide::{inputs, Config, Input, JsonReport, Place, ReportFinding, ReportHeap};
use heapsight_leaks::{
    analyze_files, file_name, fold_frames, format_bytes, format_percent, Allocations, ClassDelta,
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
    /// chosen format without the snapshots. None: the latest capture under
    /// `<root>/.heapsight`.
    #[arg(num_args = 0..=3)]
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
    let report = match input_of(&args.paths, &root)? {
        Input::Report(path) => {
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            JsonReport::parse(&bytes, &path)?
        }
        input => analyze(&args, input, &root)?,
    };
    match args.format {
        Format::Text => print_text(&report, args.comparison),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&to_sarif(&report, &root, args.fail_above))?
        ),
    }
    let failed = report
        .findings
        .iter()
        .any(|f| fails(f.finding.retained_bytes, args.fail_above));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether a finding retaining `bytes` fails the run: it retains more than `--fail-above`.
/// The exit code and SARIF's `error` level follow this one rule.
fn fails(bytes: u64, fail_above: Option<u64>) -> bool {
    fail_above.is_some_and(|limit| bytes > limit)
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

fn print_text(report: &JsonReport, comparison_rows: usize) {
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
    for ReportFinding { finding: f, place } in &report.findings {
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
        for line in stack_lines(f, bold, reset) {
            println!("    {line}");
        }
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
/// `relatedLocations`.
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
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|ReportFinding { finding: f, place }| {
            let heap = f.heap.as_deref().unwrap_or(main);
            let text = if several {
                format!("{} (in {heap})", f.message)
            } else {
                f.message.clone()
            };
            let level = if fails(f.retained_bytes, fail_above) {
                "error"
            } else {
                "warning"
            };
            let mut result = json!({
                "ruleId": format!("heapsight/{}", f.kind().as_str()),
                "level": level,
                "message": {"text": text},
                "properties": {"retainedBytes": f.retained_bytes, "count": f.count, "heap": heap},
            });
            if let Some(file) = &place.file {
                result["locations"] = json!([{
                    "physicalLocation": {
                        "artifactLocation": artifact(file),
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
    use super::{artifact, parse_size};

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("1.5 kB"), Ok(1500));
        assert_eq!(parse_size("2MiB"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
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
