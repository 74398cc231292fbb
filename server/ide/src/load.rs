//! Loading an analysis: from the cache when the inputs are unchanged, else by running the
//! leak finder on the snapshots (with progress and cancellation), or by reading a report.

use std::path::{Path, PathBuf};

use heapsight_leaks::LeakKind;
use heapsight_snapshot::{Progress, SnapshotError};
use serde::{Deserialize, Serialize};

use crate::cache;
use crate::error::IdeError;
use crate::finding::Finding;
use crate::inputs::Input;
use crate::manifest::CapturedScripts;

/// What to keep from an analysis.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Findings retaining fewer bytes are dropped.
    pub min_retained_bytes: u64,
    /// Kinds to keep (all when empty).
    pub kinds: Vec<LeakKind>,
    /// Where cache entries live; no caching when `None`.
    pub cache_dir: Option<PathBuf>,
}

/// Totals of the comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// JS objects of C allocated between A and B.
    pub leaked_objects: Option<u64>,
    /// Their self sizes.
    pub leaked_bytes: Option<u64>,
}

/// Where a loaded analysis came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The leak finder ran on the snapshots.
    Analyzed,
    /// The cache held it.
    Cache,
    /// A JSON report.
    Report,
}

/// The findings of one comparison and where they came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// What was loaded.
    pub input: Input,
    /// How.
    pub source: Source,
    /// Findings, largest retained size first.
    pub findings: Vec<Finding>,
    /// Totals.
    pub summary: Summary,
    /// The scripts as captured (empty without a manifest).
    pub scripts: CapturedScripts,
}

/// Loads `input`.
pub fn load(input: &Input, options: &LoadOptions, progress: &Progress) -> Result<Loaded, IdeError> {
    let scripts = match input {
        Input::Snapshots {
            capture: Some(dir), ..
        } => CapturedScripts::read(dir).unwrap_or_default(),
        _ => CapturedScripts::default(),
    };
    let (source, findings, summary) = match input {
        Input::Report(path) => {
            let (findings, summary) = read_report(path)?;
            (Source::Report, findings, summary)
        }
        Input::Snapshots { a, b, c, .. } => analyze_cached(input, [a, b, c], options, progress)?,
    };
    let findings = findings
        .into_iter()
        .filter(|f| f.retained_bytes >= options.min_retained_bytes)
        .filter(|f| options.kinds.is_empty() || options.kinds.contains(&f.kind()))
        .collect();
    Ok(Loaded {
        input: input.clone(),
        source,
        findings,
        summary,
        scripts,
    })
}

impl Loaded {
    /// The findings of a comparison the caller analyzed itself (the CLI), with the scripts
    /// of the capture folder's manifest when `input` names one.
    pub fn from_report(report: &heapsight_leaks::Report, input: Input) -> Loaded {
        let scripts = match &input {
            Input::Snapshots {
                capture: Some(dir), ..
            } => CapturedScripts::read(dir).unwrap_or_default(),
            _ => CapturedScripts::default(),
        };
        Loaded {
            input,
            source: Source::Analyzed,
            findings: report.findings.iter().map(Finding::from).collect(),
            summary: Summary {
                leaked_objects: Some(report.snapshots.leaked_objects),
                leaked_bytes: Some(report.snapshots.leaked_bytes),
            },
            scripts,
        }
    }
}

fn analyze_cached(
    input: &Input,
    [a, b, c]: [&PathBuf; 3],
    options: &LoadOptions,
    progress: &Progress,
) -> Result<(Source, Vec<Finding>, Summary), IdeError> {
    let kinds: Vec<&str> = options.kinds.iter().map(|k| k.as_str()).collect();
    let settings = format!(
        "threshold {} kinds {}",
        options.min_retained_bytes,
        kinds.join(",")
    );
    let key = cache::key(&input.files(), &settings);
    if let (Some(dir), Some(key)) = (&options.cache_dir, &key) {
        if let Some(entry) = cache::read(dir, key) {
            return Ok((Source::Cache, entry.findings, entry.summary));
        }
    }
    let leak_options = heapsight_leaks::Options {
        threshold: options.min_retained_bytes,
        kinds: options.kinds.clone(),
    };
    let report =
        heapsight_leaks::analyze_files(a, b, c, &leak_options, progress).map_err(|e| match e {
            heapsight_leaks::LeakError::Snapshot {
                source: SnapshotError::Cancelled,
                ..
            } => IdeError::Cancelled,
            other => IdeError::Analysis(other),
        })?;
    if progress.is_cancelled() {
        return Err(IdeError::Cancelled);
    }
    let findings: Vec<Finding> = report.findings.iter().map(Finding::from).collect();
    let summary = Summary {
        leaked_objects: Some(report.snapshots.leaked_objects),
        leaked_bytes: Some(report.snapshots.leaked_bytes),
    };
    if let (Some(dir), Some(key)) = (&options.cache_dir, key) {
        let entry = cache::Entry {
            key,
            findings: findings.clone(),
            summary: summary.clone(),
        };
        // A failed cache write only costs a re-analysis next time.
        let _ = cache::write(dir, &entry);
    }
    Ok((Source::Analyzed, findings, summary))
}

#[derive(Deserialize)]
struct ReportFile {
    version: u32,
    #[serde(default)]
    snapshots: Option<Summary>,
    findings: Vec<Finding>,
}

/// Reads a report written by `heapsight analyze --format json`.
pub fn read_report(path: &Path) -> Result<(Vec<Finding>, Summary), IdeError> {
    let bytes = std::fs::read(path).map_err(IdeError::io(path))?;
    parse_report(&bytes, path)
}

/// Parses the bytes of a report written by `heapsight analyze --format json`; `path` names
/// the file in errors.
pub fn parse_report(bytes: &[u8], path: &Path) -> Result<(Vec<Finding>, Summary), IdeError> {
    let report: ReportFile = serde_json::from_slice(bytes).map_err(|e| IdeError::Json {
        path: path.to_path_buf(),
        message: format!("not a heapsight JSON report: {e}"),
    })?;
    if report.version != 1 {
        return Err(IdeError::Json {
            path: path.to_path_buf(),
            message: format!(
                "report format version {} is not supported (this heapsight reads version 1)",
                report.version
            ),
        });
    }
    Ok((report.findings, report.snapshots.unwrap_or_default()))
}
