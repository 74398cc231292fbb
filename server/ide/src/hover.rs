//! Hover text on a flagged range: what leaks and how much, the retainer path from the GC
//! root with each hop's distance, the holder's items by allocation time, and what the
//! leaked closures capture.

use std::fmt::Write as _;
use std::path::Path;

use heapsight_leaks::{format_bytes, format_count};

use crate::analysis::Analysis;
use crate::finding::Finding;
use heapsight_source::TextRange;

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
        let markdown = placed
            .iter()
            .map(|p| finding_markdown(p.finding, p.placement.stale))
            .collect::<Vec<_>>()
            .join("\n\n---\n\n");
        Some(Hover { range, markdown })
    }
}

/// The hover (and report) text of one finding.
pub fn finding_markdown(f: &Finding, stale: bool) -> String {
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
    let _ = writeln!(out, "{}\n", f.message);
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
        .map_or(f.holder.class.clone(), |b| {
            format!("`{}` ({})", b.describe(), f.holder.class)
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
    if let Some(library) = &f.holder.library {
        let _ = writeln!(out, "Held in a library structure: {library}.\n");
    }
    if !f.retainer_path.is_empty() {
        let _ = writeln!(out, "Retainer path from the GC root:\n");
        for (i, hop) in f.retainer_path.iter().enumerate() {
            let name = hop
                .name
                .as_ref()
                .map(|n| format!(" `{n}`"))
                .unwrap_or_default();
            let distance = hop.distance.map_or("?".into(), |d| d.to_string());
            let edge = match (&hop.edge, &hop.edge_type) {
                (Some(e), Some(t)) => format!(" → {t} `{e}`"),
                (Some(e), None) => format!(" → `{e}`"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "{}. `{}`{name} @{} · distance {distance} · {}{edge}",
                i + 1,
                hop.class.replace('`', "'"),
                hop.id,
                format_bytes(hop.retained_bytes)
            );
        }
        out.push('\n');
    }
    if !f.captured.is_empty() {
        let vars: Vec<String> = f.captured.iter().map(|v| format!("`{v}`")).collect();
        let _ = writeln!(out, "Captured by the leaked closures: {}", vars.join(", "));
    }
    out.trim_end().to_string()
}
