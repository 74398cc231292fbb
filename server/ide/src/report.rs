//! The readable report of every finding (what `heapsight.showReport` writes): the capture's
//! warnings first, the heaps looked at, then where each leak is in the files as they are on
//! disk and its full hover text, with the full retainer path under the readable one.

use std::fmt::Write as _;

use heapsight_leaks::{format_bytes, format_count};

use crate::analysis::Analysis;
use crate::hover::{finding_markdown_shown, Shown};
use crate::load::Source;
use crate::retainer_path::FullPath;
use heapsight_source::LineIndex;

impl Analysis {
    /// The report, in Markdown; each finding under an anchor named by its id.
    pub fn report_markdown(&self) -> String {
        let mut out = String::from("# heapsight report\n\n");
        let loaded = self.loaded();
        let how = match loaded.source {
            Source::Analyzed => "analyzed",
            Source::Cache => "from the cache of",
            Source::Report => "read from the report",
        };
        for warning in &loaded.warnings {
            let _ = writeln!(out, "> **Warning:** {}\n", warning.text());
        }
        let _ = writeln!(out, "Findings {how} {}.\n", loaded.input.describe());
        if loaded.several_heaps() {
            let _ = writeln!(
                out,
                "{}.\n",
                capitalized(&crate::heaps::looked_at(&loaded.heap_reports()))
            );
        }
        if let (Some(objects), Some(bytes)) =
            (loaded.summary.leaked_objects, loaded.summary.leaked_bytes)
        {
            let _ = writeln!(
                out,
                "{} objects ({}) allocated between the baseline and the target are still alive in the final snapshot.\n",
                format_count(objects),
                format_bytes(bytes)
            );
        }
        if self.finding_count() == 0 {
            let none = crate::heaps::no_findings(!loaded.warnings.is_empty());
            let _ = writeln!(out, "{}.", capitalized(none));
            return out;
        }
        for (n, (id, finding)) in self.findings().enumerate() {
            let place = self.site(&id).map_or_else(
                || "no place in the workspace".to_string(),
                |site| {
                    let text = std::fs::read_to_string(&site.path).unwrap_or_default();
                    let line = self
                        .placed(&site.path, &text)
                        .into_iter()
                        .find(|p| p.id == id)
                        .map(|p| LineIndex::new(&text).line_of(p.placement.range.start) + 1);
                    let shown = site
                        .path
                        .strip_prefix(self.resolver().root())
                        .unwrap_or(&site.path)
                        .display()
                        .to_string();
                    match line {
                        Some(line) => format!("{shown}:{line}"),
                        None => shown,
                    }
                },
            );
            let _ = writeln!(
                out,
                "<a id=\"{id}\"></a>\n## {}. {} leak at {}\n\n{}\n",
                n + 1,
                finding.kind().as_str(),
                // A path named after the snapshot's script URLs.
                crate::markdown::text(&place),
                finding_markdown_shown(
                    finding,
                    &Shown {
                        stale: false,
                        heap: self.shown_heap(finding),
                        declared: None,
                        full_path: FullPath::Details,
                    }
                )
            );
        }
        out
    }
}

/// `text` with its first letter in upper case.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
