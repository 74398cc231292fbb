//! Loading an analysis: every heap of the input (the main heap and a capture's parts, see
//! `heaps`), each from the cache when its snapshots are unchanged, else by running the leak
//! finder on them (with progress and cancellation); or by reading a report.

use std::path::{Path, PathBuf};

use heapsight_leaks::LeakKind;
use heapsight_snapshot::{Progress, SnapshotError};
use serde::{Deserialize, Serialize};

use crate::cache;
use crate::error::IdeError;
use crate::finding::Finding;
use crate::heaps::{HeapReport, Heaps, Warning};
use crate::inputs::Input;
use crate::json_report::{JsonReport, ReportFinding};
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
    /// The memory limit findings' growth is projected to, in bytes (the editor's `limit`
    /// setting); `None`: the one the capture recorded, if any.
    pub limit: Option<u64>,
    /// The memory left to this process: a heap whose analysis would need more is refused
    /// before it is read (`None`: not checked).
    pub memory: Option<heapsight_snapshot::MemoryBudget>,
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

/// The findings of every heap of one input and where they came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// What was loaded.
    pub input: Input,
    /// How.
    pub source: Source,
    /// Findings of every heap, largest retained size first; each names its heap.
    pub findings: Vec<Finding>,
    /// Totals over the analyzed heaps.
    pub summary: Summary,
    /// The heaps: the main one first, then the capture's parts, analyzed or not.
    pub heaps: Vec<LoadedHeap>,
    /// What a person must read before the findings.
    pub warnings: Vec<Warning>,
}

/// One heap of a [`Loaded`].
#[derive(Debug, Clone)]
pub struct LoadedHeap {
    /// What became of it.
    pub report: HeapReport,
    /// Its scripts as captured (empty without a manifest).
    pub scripts: CapturedScripts,
}

/// Loads `input`: a report as it is; snapshots heap by heap, the main heap and every part
/// of a capture folder one after another (each comparison holds one final snapshot's graph
/// at a time, so memory peaks at the largest heap's, not at their sum). A part that fails
/// is listed with a warning; the main heap failing fails the load.
pub fn load(input: &Input, options: &LoadOptions, progress: &Progress) -> Result<Loaded, IdeError> {
    if let Input::Report(path) = input {
        let report = read_report(path)?;
        let findings = kept(report.findings, options);
        let heaps = report
            .heaps
            .into_iter()
            .map(|report| LoadedHeap {
                report,
                scripts: CapturedScripts::default(),
            })
            .collect();
        return Ok(Loaded {
            input: input.clone(),
            source: Source::Report,
            findings,
            summary: report.summary,
            heaps,
            warnings: report.warnings,
        });
    }
    let heaps = Heaps::of(input);
    let mut warnings = heaps.warnings();
    let mut findings = Vec::new();
    let mut summary = Summary::default();
    let mut loaded = Vec::with_capacity(heaps.heaps.len());
    let mut all_cached = true;
    for (i, heap) in heaps.heaps.into_iter().enumerate() {
        let rounds = rounds_of(&heap, options);
        let analyzed = match &heap.plan {
            Ok(heap_input) => match analyze_cached(heap_input, &rounds, options, progress) {
                Ok(done) => Some(done),
                Err(e) if i == 0 || matches!(e, IdeError::Cancelled) => return Err(e),
                Err(e) => {
                    let (report, warning) = heap.not_analyzed(Some(e.to_string()));
                    warnings.extend(warning);
                    loaded.push(LoadedHeap {
                        report,
                        scripts: heap.scripts,
                    });
                    continue;
                }
            },
            Err(_) => None,
        };
        let report = match analyzed {
            Some((source, heap_findings, heap_summary)) => {
                all_cached &= source == Source::Cache;
                let mut heap_findings = kept(heap_findings, options);
                for f in &mut heap_findings {
                    f.heap = Some(heap.title.clone());
                }
                summary.add(&heap_summary);
                let report = heap.analyzed(
                    heap_findings.len(),
                    heap_summary.leaked_objects,
                    heap_summary.leaked_bytes,
                );
                findings.extend(heap_findings);
                report
            }
            None => {
                let (report, warning) = heap.not_analyzed(None);
                warnings.extend(warning);
                report
            }
        };
        loaded.push(LoadedHeap {
            report,
            scripts: heap.scripts,
        });
    }
    // Stable: equal sizes keep the main heap's first.
    findings.sort_by_key(|f| std::cmp::Reverse(f.retained_bytes));
    Ok(Loaded {
        input: input.clone(),
        source: if all_cached {
            Source::Cache
        } else {
            Source::Analyzed
        },
        findings,
        summary,
        heaps: loaded,
        warnings,
    })
}

/// The findings `options` keep.
fn kept(findings: Vec<Finding>, options: &LoadOptions) -> Vec<Finding> {
    findings
        .into_iter()
        .filter(|f| f.retained_bytes >= options.min_retained_bytes)
        .filter(|f| options.kinds.is_empty() || options.kinds.contains(&f.kind()))
        .collect()
}

impl Summary {
    fn add(&mut self, other: &Summary) {
        let sum = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (a, b) => a.or(b),
        };
        self.leaked_objects = sum(self.leaked_objects, other.leaked_objects);
        self.leaked_bytes = sum(self.leaked_bytes, other.leaked_bytes);
    }
}

impl Loaded {
    /// The findings of one heap's comparison the caller analyzed itself (the CLI), with the
    /// scripts of the capture folder's manifest when `input` names one. `input` is the
    /// heap's own (a part's folder for a part).
    pub fn from_report(report: &heapsight_leaks::Report, input: Input) -> Loaded {
        let heap = Heaps::of(&input).heaps.into_iter().next();
        let title = heap.as_ref().map(|h| h.title.clone());
        let findings = report
            .findings
            .iter()
            .map(|f| Finding {
                heap: title.clone(),
                ..Finding::from(f)
            })
            .collect();
        let heaps = heap
            .map(|heap| LoadedHeap {
                report: heap.analyzed(
                    report.findings.len(),
                    Some(report.snapshots.leaked_objects),
                    Some(report.snapshots.leaked_bytes),
                ),
                scripts: heap.scripts,
            })
            .into_iter()
            .collect();
        Loaded {
            input,
            source: Source::Analyzed,
            findings,
            summary: Summary {
                leaked_objects: Some(report.snapshots.leaked_objects),
                leaked_bytes: Some(report.snapshots.leaked_bytes),
            },
            heaps,
            warnings: Vec::new(),
        }
    }

    /// Whether more than one heap is listed (analyzed or not): findings then say which
    /// heap they come from.
    pub fn several_heaps(&self) -> bool {
        self.heaps.len() > 1
    }

    /// The index in [`Loaded::heaps`] of the heap `finding` comes from, when it names one
    /// that is listed.
    pub fn heap_index(&self, finding: &Finding) -> Option<usize> {
        let title = finding.heap.as_deref()?;
        self.heaps.iter().position(|h| h.report.title == title)
    }

    /// The scripts of the heap `finding` comes from (the main heap's when it names none).
    pub fn scripts_of(&self, finding: &Finding) -> Option<&CapturedScripts> {
        let heap = self.heap_index(finding).unwrap_or(0);
        self.heaps.get(heap).map(|h| &h.scripts)
    }

    /// The reports of the heaps.
    pub fn heap_reports(&self) -> Vec<HeapReport> {
        self.heaps.iter().map(|h| h.report.clone()).collect()
    }
}

/// A heap's rounds with the limit to project to: the setting's, else the capture's.
fn rounds_of(heap: &crate::Heap, options: &LoadOptions) -> heapsight_leaks::RoundInputs {
    let setting = options.limit.map(|bytes| heapsight_leaks::Limit {
        bytes,
        source: "the `heapsight.limit` setting".to_owned(),
    });
    heapsight_leaks::RoundInputs {
        limit: setting.or_else(|| heap.rounds.limit.clone()),
        ..heap.rounds.clone()
    }
}

fn analyze_cached(
    input: &Input,
    rounds: &heapsight_leaks::RoundInputs,
    options: &LoadOptions,
    progress: &Progress,
) -> Result<(Source, Vec<Finding>, Summary), IdeError> {
    let Input::Snapshots { a, b, c, .. } = input else {
        return Err(IdeError::NothingToLoad(format!(
            "{} is a report, not snapshots",
            input.describe()
        )));
    };
    let kinds: Vec<&str> = options.kinds.iter().map(|k| k.as_str()).collect();
    let settings = format!(
        "threshold {} kinds {}",
        options.min_retained_bytes,
        kinds.join(",")
    );
    // The earlier rounds' snapshots are inputs too.
    let mut files = input.files();
    files.extend(rounds.earlier.iter().cloned());
    let settings = match rounds.iterations {
        Some(k) => format!("{settings} iterations {k}"),
        None => settings,
    };
    // The projection is part of each finding: another limit is another analysis.
    let settings = match &rounds.limit {
        Some(limit) => format!("{settings} limit {} ({})", limit.bytes, limit.source),
        None => settings,
    };
    let key = cache::key(&files, &settings);
    if let (Some(dir), Some(key)) = (&options.cache_dir, &key) {
        if let Some(entry) = cache::read(dir, key) {
            let summary = entry.report.summary();
            let findings = entry.report.findings.into_iter().map(|f| f.finding);
            return Ok((Source::Cache, findings.collect(), summary));
        }
    }
    let leak_options = heapsight_leaks::Options {
        threshold: options.min_retained_bytes,
        kinds: options.kinds.clone(),
        memory: options.memory.clone(),
    };
    let report = heapsight_leaks::analyze_rounds(a, b, c, rounds, &leak_options, progress)
        .map_err(|e| match e {
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
            report: JsonReport {
                snapshots: Some(report.snapshots.clone()),
                findings: findings
                    .iter()
                    .cloned()
                    .map(ReportFinding::unplaced)
                    .collect(),
                ..JsonReport::new()
            },
        };
        // A failed cache write only costs a re-analysis next time.
        let _ = cache::write(dir, &entry);
    }
    Ok((Source::Analyzed, findings, summary))
}

/// What a report written by `heapsight analyze --format json` holds for the editor.
#[derive(Debug, Clone, Default)]
pub struct ReportContents {
    /// The findings, each naming its heap (reports written before heaps were listed name
    /// none).
    pub findings: Vec<Finding>,
    /// The totals (the main heap's).
    pub summary: Summary,
    /// The heaps looked at.
    pub heaps: Vec<HeapReport>,
    /// Its warnings.
    pub warnings: Vec<Warning>,
}

/// Reads a report written by `heapsight analyze --format json`.
pub fn read_report(path: &Path) -> Result<ReportContents, IdeError> {
    let bytes = std::fs::read(path).map_err(IdeError::io(path))?;
    parse_report(&bytes, path)
}

/// Parses the bytes of a report written by `heapsight analyze --format json`; `path` names
/// the file in errors.
pub fn parse_report(bytes: &[u8], path: &Path) -> Result<ReportContents, IdeError> {
    let report = JsonReport::parse(bytes, path)?;
    Ok(ReportContents {
        summary: report.summary(),
        findings: report.findings.into_iter().map(|f| f.finding).collect(),
        heaps: report.heaps.into_iter().map(|h| h.outcome).collect(),
        warnings: report.warnings,
    })
}
