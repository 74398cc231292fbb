//! Where `heapsight analyze` reports each finding: the call site in the file as it is on disk
//! (placed by the ide layer: the registering call, a collection's growing call, the user's
//! call into a library, the TypeScript original through a source map), else V8's position.

use std::path::Path;
use std::sync::Arc;

use heapsight_ide::{Analysis, Config, Input, Loaded};
use heapsight_leaks::{Finding, Report};
use heapsight_source::{PathMapper, Resolved};

/// A finding's place in the output: 1-based lines, 1-based UTF-16 columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file, relative to the root when inside it.
    pub file: Option<String>,
    /// First line.
    pub line: u32,
    /// First column.
    pub column: u32,
    /// Last line.
    pub end_line: u32,
    /// Column just past the end.
    pub end_column: u32,
    /// The code changed since the capture.
    pub stale: bool,
    /// The message as placed (with the user's call into a library structure).
    pub message: String,
    /// The placement rule the source layer confirmed (`none` at V8's position or nowhere).
    pub evidence: heapsight_leaks::PlacementEvidence,
}

/// The places of `report`'s findings, in order; `input` is the heap's snapshots (a capture
/// folder brings its manifest's recorded sources: a part's folder its own), `root` the
/// workspace root (canonical). Files outside `root` are read only if `read_outside`.
pub fn places(report: &Report, input: Input, root: &Path, read_outside: bool) -> Vec<Place> {
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
        .map(
            |(i, finding)| match located.get(i).and_then(Option::as_ref) {
                Some(at) => Place {
                    file: Some(relative(&at.path, root)),
                    line: at.start.0 + 1,
                    column: at.start.1 + 1,
                    end_line: at.end.0 + 1,
                    end_column: at.end.1 + 1,
                    stale: at.stale,
                    message: at.message.clone(),
                    evidence: at.evidence,
                },
                None => at_anchor(finding, root),
            },
        )
        .collect()
}

/// V8's position of the finding's function, for code that is no readable file here; none
/// for a structure held inside a library whose objects no user line could be tied to (V8's
/// position would be inside the library: a guess, not a place).
fn at_anchor(finding: &Finding, root: &Path) -> Place {
    let ide = heapsight_ide::Finding::from(finding);
    if finding.holder.library.is_some() {
        return Place {
            file: None,
            line: 1,
            column: 1,
            end_line: 1,
            end_column: 1,
            stale: false,
            message: heapsight_ide::wording::unplaced_message(&ide),
            evidence: heapsight_leaks::PlacementEvidence::None,
        };
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
    Place {
        file,
        line,
        column,
        end_line: line,
        end_column: column,
        stale: false,
        message: finding.message.clone(),
        evidence: heapsight_leaks::PlacementEvidence::None,
    }
}

fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
