//! A finding's retainer path in Markdown, for the hover and the report: the readable path
//! (the leak finder's `readable_path`: from the user's variable naming the holder, runs of
//! Node's internals folded into one line), and the full path from the GC root one step
//! away.
//!
//! Where the full path goes: the report holds it in a `<details>` block under the readable
//! one (collapsed in a Markdown preview, a plain list in the source view both editors open
//! the report in). The hover only says how long it is and where to find it: Neovim shows
//! a hover's HTML tags as literal text, VS Code's hover renders `<details>` only partly
//! (and its links to commands only for trusted content, which a language client's hover is
//! not), so a collapsed block there would read worse than a note.

use std::fmt::Write as _;

use heapsight_leaks::{
    file_name, folded_text, format_bytes, variable_scope_text, PathHop, ReadableStep,
};

use crate::finding::Finding;
use crate::markdown;

/// Where the full path is, next to the readable one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FullPath {
    /// A note saying where the full path is (the hover).
    Note,
    /// The full path itself, in a collapsed block (the report).
    Details,
}

/// Where the user's variable is declared, when the source layer found it: the file's name
/// and the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Declared {
    /// The file's name (`main.mjs`).
    pub file: String,
    /// 1-based line.
    pub line: u32,
}

/// The retainer path section of a finding, ending with a blank line; empty without a path.
pub(crate) fn path_markdown(f: &Finding, declared: Option<&Declared>, full: FullPath) -> String {
    let mut out = String::new();
    let hops = &f.retainer_path;
    if hops.is_empty() {
        return out;
    }
    let folds = f
        .readable_path
        .iter()
        .any(|s| matches!(s, ReadableStep::Folded { .. }));
    if f.readable_path.is_empty() || !folds {
        // A report written before readable paths, or nothing to fold: the path as it is.
        let _ = writeln!(out, "Retainer path from the GC root:\n");
        out.push_str(&full_list(hops));
        out.push('\n');
        return out;
    }
    let _ = writeln!(out, "Retainer path, Node's internals folded:\n");
    let mut n = 0;
    for step in &f.readable_path {
        let line = match step {
            ReadableStep::Folded {
                first,
                hops,
                through,
            } => Some(format!(
                "… {}",
                markdown::text(&folded_text(*first, *hops, through))
            )),
            ReadableStep::Variable {
                first,
                name,
                module_level,
                scope,
            } => hops.get(first + 1).map(|hop| {
                let file = scope.as_ref().and_then(|a| a.url.as_deref()).map(file_name);
                let place = match declared {
                    Some(d) if *module_level && file == Some(d.file.as_str()) => {
                        format!("module-level variable of {}:{}", d.file, d.line)
                    }
                    _ => variable_scope_text(*module_level, scope.as_ref()),
                };
                format!(
                    "{} ({}): {}",
                    markdown::code(name),
                    markdown::text(&place),
                    hop_markdown(hop)
                )
            }),
            ReadableStep::Hop { index } => hops.get(*index).map(hop_markdown),
        };
        if let Some(line) = line {
            n += 1;
            let _ = writeln!(out, "{n}. {line}");
        }
    }
    out.push('\n');
    match full {
        FullPath::Note => {
            let _ = writeln!(
                out,
                "_The full path ({} hops from the GC root) is in the leak report._\n",
                hops.len()
            );
        }
        FullPath::Details => {
            let _ = writeln!(
                out,
                "<details><summary>Full retainer path ({} hops from the GC root)</summary>\n",
                hops.len()
            );
            out.push_str(&full_list(hops));
            let _ = writeln!(out, "\n</details>\n");
        }
    }
    out
}

/// Every hop, numbered from the GC root.
fn full_list(hops: &[PathHop]) -> String {
    let mut out = String::new();
    for (i, hop) in hops.iter().enumerate() {
        let _ = writeln!(out, "{}. {}", i + 1, hop_markdown(hop));
    }
    out
}

/// `` `EventEmitter` @107303 · distance 12 · 7.8 MB → property `_events` ``: the class and
/// name, the node id, the distance, the retained size and the edge to the next hop.
fn hop_markdown(hop: &PathHop) -> String {
    let name = hop
        .name
        .as_ref()
        .map(|n| format!(" {}", markdown::code(n)))
        .unwrap_or_default();
    let distance = hop.distance.map_or("?".into(), |d| d.to_string());
    let edge = match (&hop.edge, &hop.edge_type) {
        (Some(e), Some(t)) => format!(" → {} {}", markdown::text(t), markdown::code(e)),
        (Some(e), None) => format!(" → {}", markdown::code(e)),
        _ => String::new(),
    };
    format!(
        "{}{name} @{} · distance {distance} · {}{edge}",
        markdown::code(&hop.class),
        hop.id,
        format_bytes(hop.retained_bytes)
    )
}

#[cfg(test)]
mod tests {
    use heapsight_leaks::{CodeAnchor, PathHop, ReadableStep};

    use super::*;

    fn hop(class: &str, name: Option<&str>, edge: Option<&str>) -> PathHop {
        PathHop {
            class: class.into(),
            name: name.map(str::to_string),
            id: 7,
            edge: edge.map(str::to_string),
            edge_type: edge.map(|_| "property"),
            distance: Some(3),
            retained_bytes: 1000,
        }
    }

    fn finding(hops: Vec<PathHop>, steps: Vec<ReadableStep>) -> Finding {
        let json = serde_json::json!({
            "kind": "listener",
            "message": "m",
            "holder": {"class": "EventEmitter", "id": 7},
            "count": 1,
            "retained_bytes": 1,
        });
        let mut f: Finding = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        f.retainer_path = hops;
        f.readable_path = steps;
        f
    }

    /// A path whose names were written by a hostile program: each is inert in the output.
    #[test]
    fn hostile_names_on_the_path_are_inert_and_the_fold_reads_as_one_line() {
        let hops = vec![
            hop("global", None, Some("clearInterval")),
            hop("Function", Some("clearInterval"), Some("context")),
            hop("system / Context", None, Some("*bold*`x`")),
            hop("<script>", Some("[link](x)"), Some("a\nb")),
            hop("Array", None, None),
        ];
        let steps = vec![
            ReadableStep::Folded {
                first: 0,
                hops: 2,
                through: vec!["a <b>Server</b> '*x*' handler".into()],
            },
            ReadableStep::Variable {
                first: 2,
                name: "*bold*`x`".into(),
                module_level: true,
                scope: Some(CodeAnchor {
                    script_id: 1,
                    url: Some("/srv/app/my_[app].js".into()),
                    line: 3,
                    column: 0,
                    function: None,
                }),
            },
            ReadableStep::Hop { index: 4 },
        ];
        let f = finding(hops, steps);
        let hover = path_markdown(&f, None, FullPath::Note);
        assert_eq!(
            hover,
            "Retainer path, Node's internals folded:\n\n\
             1. … 2 hops from the GC root through a &lt;b&gt;Server&lt;/b&gt; '\\*x\\*' handler\n\
             2. `` *bold*`x` `` (module-level variable of my\\_\\[app\\].js): `<script>` `[link](x)` @7 · distance 3 · 1.0 kB → property `a b`\n\
             3. `Array` @7 · distance 3 · 1.0 kB\n\n\
             _The full path (5 hops from the GC root) is in the leak report._\n\n"
        );
        let declared = Declared {
            file: "my_[app].js".into(),
            line: 9,
        };
        let report = path_markdown(&f, Some(&declared), FullPath::Details);
        assert!(
            report.contains("(module-level variable of my\\_\\[app\\].js:9)"),
            "{report}"
        );
        assert!(
            report.contains(
                "<details><summary>Full retainer path (5 hops from the GC root)</summary>\n\n\
                 1. `global` @7 · distance 3 · 1.0 kB → property `clearInterval`\n"
            ),
            "{report}"
        );
        assert!(report.ends_with("\n</details>\n\n"), "{report}");
    }

    #[test]
    fn without_a_readable_path_the_full_path_is_shown() {
        let f = finding(
            vec![hop("global", None, Some("x")), hop("Map", None, None)],
            vec![],
        );
        assert_eq!(
            path_markdown(&f, None, FullPath::Note),
            "Retainer path from the GC root:\n\n\
             1. `global` @7 · distance 3 · 1.0 kB → property `x`\n\
             2. `Map` @7 · distance 3 · 1.0 kB\n\n"
        );
    }
}
