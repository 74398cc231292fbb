//! The JSON report, defined once: what `heapsight analyze --format json` writes, what the
//! editor and `heapsight analyze report.json` read back, and what the on-disk cache stores
//! (a report of one heap whose findings are not placed yet).
//!
//! The document starts with `"format": "heapsight-report"` and `"version": 2`
//! ([`FORMAT`], [`VERSION`]). Version 1 (no `format`, each finding's confirmed evidence at
//! `placement.evidence`, no `noun`) is still read; a newer version is refused with an error
//! naming both versions, since its fields may no longer mean what this heapsight thinks.
//!
//! Each finding is the leak finder's own [`heapsight_leaks::Finding`] (through
//! [`Finding`], which adds its heap), with `message` the placed message, followed by its
//! place in the output: `file`, 1-based `line`/`column`/`end_line`/`end_column`, `stale`
//! when the code changed since the capture, and `evidence`, the placement rule the source
//! layer confirmed. A placed finding also carries its identity across runs
//! (`fingerprint`, `call_site_text`: see [`crate::identity`]), and a report compared with a
//! stored one its `baseline` section ([`Baseline`]); both are absent in older reports.

use std::path::Path;

use heapsight_leaks::{ClassDelta, PlacementEvidence, SnapshotsInfo};
use serde::{Deserialize, Serialize};

use crate::baseline::Baseline;
use crate::error::IdeError;
use crate::finding::Finding;
use crate::heaps::{HeapReport, Warning};
use crate::load::Summary;

/// The value of a report's `format`.
pub const FORMAT: &str = "heapsight-report";

/// The report's format version. Bump it when a field is removed or changes meaning (adding
/// a field that readers may ignore does not need it); version 2 added `format`, `noun`, the
/// finding's top-level `evidence` (was `placement.evidence`) and the parts' `comparison`.
pub const VERSION: u32 = 2;

/// A whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JsonReport {
    /// Always [`FORMAT`] (absent in version 1).
    #[serde(default)]
    pub format: String,
    /// The format version, [`VERSION`] when written by this heapsight.
    pub version: u32,
    /// What a person must read before the findings.
    #[serde(default)]
    pub warnings: Vec<Warning>,
    /// The heaps looked at: the main one first, then a capture's parts.
    #[serde(default)]
    pub heaps: Vec<ReportHeap>,
    /// Whether a capture's manifest listed the heaps (not three bare snapshots).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub listed_by_manifest: bool,
    /// The main heap's comparison: files, ids, the leaked objects' totals.
    #[serde(default)]
    pub snapshots: Option<SnapshotsInfo>,
    /// Every heap's findings, largest retained size first, each naming its heap.
    pub findings: Vec<ReportFinding>,
    /// The main heap's per-class changes between the baseline and the final snapshot.
    #[serde(default)]
    pub comparison: Vec<ClassDelta>,
    /// The comparison with a stored report (`heapsight analyze --baseline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
}

/// One heap of a report: what became of it, and its snapshots' figures when analyzed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportHeap {
    /// Title, kind, status, note, counts.
    #[serde(flatten)]
    pub outcome: HeapReport,
    /// Its comparison's files and totals, when it was analyzed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<SnapshotsInfo>,
    /// A part's per-class changes (the main heap's are the report's `comparison`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comparison: Vec<ClassDelta>,
}

/// One finding of a report, with its place.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportFinding {
    /// The finding (its `message` is the placed message) and its heap.
    #[serde(flatten)]
    pub finding: Finding,
    /// Where the output puts it.
    #[serde(flatten)]
    pub place: Place,
    /// Its identity across runs (kind, holder, call-site text), 16 hex digits; none in
    /// reports written before it existed and in the cache's unplaced findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The normalized text of the user's call site the fingerprint covers, for people;
    /// none when the finding was not placed in a file read here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_site_text: Option<String>,
}

/// Where a finding is reported: 1-based lines, 1-based UTF-16 columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// The file, relative to the root when inside it; none when no user line could be
    /// justified.
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
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// The placement rule the source layer confirmed (`none` at V8's position or nowhere).
    #[serde(default)]
    pub evidence: PlacementEvidence,
}

impl Place {
    /// No place: no file, line 1, column 1 (a cached finding before placement, a finding
    /// no user line could be tied to).
    pub fn none() -> Place {
        Place {
            file: None,
            line: 1,
            column: 1,
            end_line: 1,
            end_column: 1,
            stale: false,
            evidence: PlacementEvidence::None,
        }
    }
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    format: Option<String>,
    version: u32,
}

impl JsonReport {
    /// An empty report of this version.
    pub fn new() -> JsonReport {
        JsonReport {
            format: FORMAT.to_owned(),
            version: VERSION,
            warnings: Vec::new(),
            heaps: Vec::new(),
            listed_by_manifest: false,
            snapshots: None,
            findings: Vec::new(),
            comparison: Vec::new(),
            baseline: None,
        }
    }

    /// Parses a report; `path` names the file in errors. A report of another format, or of
    /// a version newer than [`VERSION`], is refused before its fields are read.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<JsonReport, IdeError> {
        let error = |message: String| IdeError::Json {
            path: path.to_path_buf(),
            message,
        };
        let header: Header = serde_json::from_slice(bytes)
            .map_err(|e| error(format!("not a heapsight JSON report: {e}")))?;
        match header.format.as_deref() {
            Some(FORMAT) | None if header.version == 1 => {}
            Some(FORMAT) => {}
            Some(other) => {
                return Err(error(format!(
                    "not a heapsight JSON report (format `{other}`, expected `{FORMAT}`)"
                )))
            }
            None => {
                return Err(error(format!(
                    "not a heapsight JSON report (no `\"format\": \"{FORMAT}\"`)"
                )))
            }
        }
        if header.version > VERSION || header.version == 0 {
            return Err(error(format!(
                "report format version {} is not supported: this heapsight reads versions 1 to {VERSION} (a newer heapsight wrote it; upgrade, or analyze the snapshots again)",
                header.version
            )));
        }
        let mut report: JsonReport = serde_json::from_slice(bytes)
            .map_err(|e| error(format!("not a heapsight JSON report: {e}")))?;
        report.format = FORMAT.to_owned();
        Ok(report)
    }

    /// The main heap's totals.
    pub fn summary(&self) -> Summary {
        Summary {
            leaked_objects: self.snapshots.as_ref().map(|s| s.leaked_objects),
            leaked_bytes: self.snapshots.as_ref().map(|s| s.leaked_bytes),
        }
    }
}

impl Default for JsonReport {
    fn default() -> Self {
        JsonReport::new()
    }
}

impl ReportFinding {
    /// `finding` at `place`, with its identity; `call_site_text` is the normalized text of
    /// its placed range ([`crate::identity::call_site_text`]), none when it was not placed
    /// in a file read here.
    pub fn new(finding: Finding, place: Place, call_site_text: Option<String>) -> ReportFinding {
        let identity = crate::identity::identity(&finding, call_site_text);
        ReportFinding {
            finding,
            place,
            fingerprint: Some(identity.fingerprint),
            call_site_text: identity.call_site_text,
        }
    }

    /// `finding` without a place yet (and so without an identity).
    pub fn unplaced(finding: Finding) -> ReportFinding {
        ReportFinding {
            finding,
            place: Place::none(),
            fingerprint: None,
            call_site_text: None,
        }
    }
}
