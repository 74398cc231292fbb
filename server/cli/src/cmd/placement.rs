//! Where `heapsight analyze` reports each finding: the call site in the file as it is on disk
//! (placed by the ide layer: the registering call, a collection's growing call, the user's
//! call into a library, the TypeScript original through a source map), else V8's position.

use std::path::Path;
use std::sync::Arc;

use heapsight_ide::{Analysis, Config, Input, Loaded, Place, ReportFinding};
use heapsight_leaks::{Finding, PlacementEvidence, Report};
use heapsight_source::{PathMapper, Resolved};

/// The findings of `report` placed, in order, each naming its heap `title` and carrying the
/// placed message; `input` is the heap's snapshots (a capture folder brings its manifest's
/// recorded sources: a part's folder its own), `root` the workspace root (canonical). Files
/// outside `root` are read only if `read_outside`.
pub fn placed(
    report: &Report,
    input: Input,
    title: &str,
    root: &Path,
    read_outside: bool,
) -> Vec<ReportFinding> {
    let loaded = Loaded::from_report(report, input);
    // The leak finder already applied the threshold and kinds: place every finding.
    let config = Config {
        min_retained_bytes: 0,
        ..Config::default()
    };
    let analysis = if read_outside {
        Analysis::new(Arc::new(loaded), root, &config)
    } else {
        Analysis::workspace_only(Arc::new(loaded), root, &config)
    };
    let located = analysis.place_all();
    report
        .findings
        .iter()
        .enumerate()
        .map(|(i, finding)| {
            let (place, message, call_site) = match located.get(i).and_then(Option::as_ref) {
                Some(at) => (
                    Place {
                        file: Some(relative(&at.path, root)),
                        line: at.start.0 + 1,
                        column: at.start.1 + 1,
                        end_line: at.end.0 + 1,
                        end_column: at.end.1 + 1,
                        stale: at.stale,
                        evidence: at.evidence,
                    },
                    at.message.clone(),
                    Some(at.call_site_text.clone()),
                ),
                None => {
                    let (place, message) = at_anchor(finding, root);
                    (place, message, None)
                }
            };
            let mut finding = heapsight_ide::Finding::from(finding);
            finding.heap = Some(title.to_owned());
            finding.message = message;
            ReportFinding::new(finding, place, call_site)
        })
        .collect()
}

/// V8's position of the finding's function, for code that is no readable file here; none
/// for a structure held inside a library whose objects no user line could be tied to (V8's
/// position would be inside the library: a guess, not a place). With the message to show.
fn at_anchor(finding: &Finding, root: &Path) -> (Place, String) {
    if finding.holder.library.is_some() {
        let ide = heapsight_ide::Finding::from(finding);
        return (
            Place::none(),
            heapsight_ide::wording::unplaced_message(&ide),
        );
    }
    let (line, column) = finding
        .anchor
        .as_ref()
        .map_or((1, 1), |a| (a.line + 1, a.column + 1));
    let file = finding
        .anchor
        .as_ref()
        .and_then(|a| a.url.as_deref())
        .map(
            |url| match PathMapper::new(root.to_path_buf(), Vec::new()).resolve(url) {
                Resolved::Workspace(path)
                | Resolved::Outside(path)
                | Resolved::Library { path, .. } => relative(&path, root),
                Resolved::Internal | Resolved::Unknown => url.to_string(),
            },
        );
    let place = Place {
        file,
        line,
        column,
        end_line: line,
        end_column: column,
        stale: false,
        evidence: PlacementEvidence::None,
    };
    (place, finding.message.clone())
}

/// `path` relative to `root` when inside it, else as it is (absolute).
pub fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
