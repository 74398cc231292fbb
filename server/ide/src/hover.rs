//! Hover text on a flagged range: what leaks and how much, the holder's items by allocation
//! time, where the leaked objects were allocated (when the snapshot has allocation stacks),
//! the retainer path as a person reads it (see [`crate::retainer_path`]), and what the
//! leaked closures capture. Every string from the snapshot goes through
//! [`crate::markdown`].

use std::fmt::Write as _;
use std::path::Path;

use heapsight_leaks::{
    file_name, fold_frames, format_bytes, format_count, format_percent, Allocations, FrameRun,
    StackFrame,
};

use crate::analysis::Analysis;
use crate::finding::Finding;
use crate::markdown;
use crate::retainer_path::{path_markdown, Declared, FullPath};
use heapsight_source::{LineIndex, TextRange};

/// Hover content for one range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hover {
    /// The flagged range under the cursor.
    pub range: TextRange,
    /// Markdown.
    pub markdown: String,
}

impl Analysis {
    /// The hover at byte `offset` of the file at `path` (current text `text`).
    pub fn hover(&self, path: &Path, text: &str, offset: usize) -> Option<Hover> {
        let placed: Vec<_> = self
            .placed(path, text)
            .into_iter()
            .filter(|p| p.placement.range.contains(offset))
            .collect();
        let range = placed.first()?.placement.range;
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
        let markdown = placed
            .iter()
            .map(|p| {
                // The user's variable's line, when the source layer found its declaration.
                let declared =
                    p.placement
                        .declaration
                        .zip(file.clone())
                        .map(|(d, file)| Declared {
                            file,
                            line: LineIndex::new(text).line_of(d.start) + 1,
                        });
                finding_markdown_shown(
                    p.finding,
                    &Shown {
                        stale: p.placement.stale,
                        heap: self.shown_heap(p.finding),
                        declared,
                        full_path: FullPath::Note,
                    },
                )
            })
            .collect::<Vec<_>>()
            .join("\n\n---\n\n");
        Some(Hover { range, markdown })
    }
}

/// The hover (and report) text of one finding.
pub fn finding_markdown(f: &Finding, stale: bool) -> String {
    finding_markdown_in(f, stale, None)
}

/// [`finding_markdown`], saying which `heap` the finding comes from when the capture holds
/// several.
pub(crate) fn finding_markdown_in(f: &Finding, stale: bool, heap: Option<&str>) -> String {
    finding_markdown_shown(
        f,
        &Shown {
            stale,
            heap,
            declared: None,
            full_path: FullPath::Note,
        },
    )
}

/// How a finding is shown: in a hover or in the report.
#[derive(Debug, Clone)]
pub(crate) struct Shown<'a> {
    /// The code changed since the capture.
    pub stale: bool,
    /// The heap it comes from, when the capture holds several.
    pub heap: Option<&'a str>,
    /// Where the holder's variable is declared, when the source layer found it.
    pub declared: Option<Declared>,
    /// Where the full retainer path goes.
    pub full_path: FullPath,
}

/// The hover (or report) text of one finding, shown as `shown` says.
pub(crate) fn finding_markdown_shown(f: &Finding, shown: &Shown<'_>) -> String {
    let (stale, heap) = (shown.stale, shown.heap);
    let mut out = String::new();
    let size = if f.retained_is_lower_bound {
        format!("at least {}", format_bytes(f.retained_bytes))
    } else {
        format_bytes(f.retained_bytes)
    };
    let _ = writeln!(
        out,
        "**heapsight: {} leak** retaining {size}\n",
        f.kind().as_str()
    );
    let _ = writeln!(out, "{}\n", markdown::message(&f.message));
    if let Some(heap) = heap {
        let _ = writeln!(out, "Heap: **{}**\n", markdown::text(heap));
    }
    if stale {
        let _ = writeln!(
            out,
            "_This code changed since the capture: capture again to see whether the leak is gone._\n"
        );
    }
    let holder = f
        .holder
        .binding
        .as_ref()
        .map_or(markdown::text(&f.holder.class), |b| {
            format!(
                "{} ({})",
                markdown::code_in_table(&b.describe()),
                markdown::text(&f.holder.class)
            )
        });
    let _ = writeln!(
        out,
        "| {holder} | before A | up to B | in C |\n| --- | ---: | ---: | ---: |\n| {} alive in C | {} | {} | {} |\n",
        f.noun(),
        format_count(f.growth.baseline),
        format_count(f.growth.target),
        format_count(f.growth.r#final)
    );
    let _ = writeln!(
        out,
        "{} {} added during the load, {} leaked objects in all.\n",
        format_count(f.count),
        f.noun(),
        format_count(f.objects)
    );
    // With rounds of the workload: per round, the growth per iteration, the projection.
    for line in heapsight_leaks::round_lines(f) {
        let _ = writeln!(out, "{}\n", markdown::text(&line));
    }
    if let Some(library) = &f.holder.library {
        let _ = writeln!(
            out,
            "Held in a library structure: {}.\n",
            markdown::text(library)
        );
    }
    if let Some(allocations) = &f.allocations {
        out.push_str(&allocations_markdown(allocations));
    }
    out.push_str(&path_markdown(f, shown.declared.as_ref(), shown.full_path));
    if !f.captured.is_empty() {
        let vars: Vec<String> = f.captured.iter().map(|v| markdown::code(v)).collect();
        let _ = writeln!(out, "Captured by the leaked closures: {}", vars.join(", "));
    }
    out.trim_end().to_string()
}

/// Stacks shown in a hover or report.
const SHOWN_STACKS: usize = 3;

/// Entries shown per stack (frames and folded runs); the rest is counted.
const SHOWN_FRAMES: usize = 8;

/// "Allocated by": the top stacks with their objects and bytes, user frames in bold,
/// library and Node runs folded, and the share of leaked bytes that has no stack.
pub fn allocations_markdown(a: &Allocations) -> String {
    let mut out = String::new();
    let total = a.tracked_bytes.saturating_add(a.untracked_bytes);
    if a.stacks.is_empty() {
        if total > 0 {
            let _ = writeln!(
                out,
                "No allocation stack for any of the leaked objects (allocated before tracking began).\n"
            );
        }
        return out;
    }
    let _ = writeln!(out, "Allocated by:\n");
    for (i, stack) in a.stacks.iter().take(SHOWN_STACKS).enumerate() {
        let items = if stack.items > 0 {
            format!(", {} of the items", format_count(stack.items))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{}. {} objects, {} ({}){items}",
            i + 1,
            format_count(stack.count),
            format_bytes(stack.bytes),
            format_percent(stack.bytes, total)
        );
        let runs = fold_frames(&stack.frames);
        for run in runs.iter().take(SHOWN_FRAMES) {
            let line = match run {
                FrameRun::Frame(frame) => frame_markdown(frame),
                FrameRun::Folded { frames, origin } => {
                    format!("… {frames} frames in {}", markdown::text(origin))
                }
            };
            let _ = writeln!(out, "   - {line}");
        }
        if runs.len() > SHOWN_FRAMES {
            let rest: usize = runs[SHOWN_FRAMES..]
                .iter()
                .map(|r| match r {
                    FrameRun::Frame(_) => 1,
                    FrameRun::Folded { frames, .. } => *frames,
                })
                .sum();
            let _ = writeln!(out, "   - … {rest} more frames");
        }
    }
    if a.stacks.len() > SHOWN_STACKS {
        let more = a.stacks.len() - SHOWN_STACKS;
        let s = if more == 1 { "" } else { "s" };
        let _ = writeln!(out, "\n{more} more stack{s}.");
    }
    out.push('\n');
    if a.untracked_bytes > 0 {
        let _ = writeln!(
            out,
            "No allocation stack for {} of the leaked bytes ({} objects, {}: allocated before tracking began, or moved by the GC).\n",
            format_percent(a.untracked_bytes, total),
            format_count(a.untracked_objects),
            format_bytes(a.untracked_bytes)
        );
    }
    out
}

/// `` **`handler`** (server.js:13) `` for a user frame, `` `use` (index.js:40) `` otherwise.
fn frame_markdown(frame: &StackFrame) -> String {
    let name = if frame.function.is_empty() {
        "(anonymous)"
    } else {
        frame.function.as_str()
    };
    let code = markdown::code(name);
    let name = if frame.user {
        format!("**{code}**")
    } else {
        code
    };
    match &frame.url {
        Some(url) => format!(
            "{name} ({}:{})",
            markdown::text(file_name(url)),
            frame.line + 1
        ),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use heapsight_leaks::{AllocationStack, Allocations, StackFrame};

    use super::allocations_markdown;

    fn frame(function: &str, url: Option<&str>, line: u32, user: bool) -> StackFrame {
        StackFrame {
            function: function.into(),
            url: url.map(str::to_string),
            script_id: 1,
            line,
            column: 0,
            user,
        }
    }

    #[test]
    fn stacks_fold_library_runs_mark_user_frames_and_escape() {
        let express = "/srv/node_modules/express/lib/router/index.js";
        let stack = AllocationStack {
            frames: vec![
                frame("push", None, 0, false),
                frame("handle", Some(express), 10, false),
                frame("next", Some(express), 20, false),
                frame("dispatch", Some(express), 30, false),
                frame("process_params", Some(express), 40, false),
                frame("add_`route`*", Some("/srv/app/my_server.js"), 12, true),
                frame("", Some("node:internal/main/run_main_module"), 3, false),
            ],
            count: 1000,
            bytes: 48_000,
            items: 1000,
            user_frame: Some(5),
        };
        let a = Allocations {
            stacks: vec![stack.clone(), stack.clone(), stack.clone(), stack],
            tracked_objects: 4000,
            tracked_bytes: 192_000,
            untracked_objects: 10,
            untracked_bytes: 8_000,
        };
        let md = allocations_markdown(&a);
        assert!(
            md.contains("1. 1,000 objects, 48.0 kB (24%), 1,000 of the items"),
            "{md}"
        );
        assert!(md.contains("   - `push`\n"), "{md}");
        assert!(md.contains("   - … 4 frames in express\n"), "{md}");
        // The user frame: bold, its name whole in a longer fence, the file name escaped.
        assert!(
            md.contains("   - **``add_`route`*``** (my\\_server.js:13)\n"),
            "{md}"
        );
        assert!(
            md.contains("   - `(anonymous)` (run\\_main\\_module:4)\n"),
            "{md}"
        );
        // Three stacks shown, the fourth counted.
        assert_eq!(md.matches("of the items").count(), 3, "{md}");
        assert!(md.contains("1 more stack."), "{md}");
        assert!(
            md.contains("No allocation stack for 4% of the leaked bytes"),
            "{md}"
        );
    }

    #[test]
    fn no_tracked_object_says_so() {
        let a = Allocations {
            untracked_objects: 3,
            untracked_bytes: 300,
            ..Allocations::default()
        };
        assert!(allocations_markdown(&a).contains("No allocation stack for any"));
        assert_eq!(allocations_markdown(&Allocations::default()), "");
    }
}
