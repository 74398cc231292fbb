//! An [`Analysis`]: the findings of every heap of a capture joined to the workspace's files
//! (each heap's with its own manifest's scripts), and the per-file queries editors ask,
//! answered against the document's current text.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::finding::{Anchor, Finding};
use crate::load::Loaded;
use crate::locate::{self, Placement};
use crate::manifest::CapturedScripts;
use crate::paths::{PathResolver, Resolved};
use heapsight_source::{LineIndex, TextRange};

/// The findings of one comparison, where they came from, and where they go.
#[derive(Debug, Clone)]
pub struct Analysis {
    loaded: Arc<Loaded>,
    config: Config,
    resolver: PathResolver,
    findings: Vec<usize>,
    sites: HashMap<usize, Site>,
    /// Findings whose code is only in files outside the workspace: placed for batch output
    /// ([`Analysis::place_all`]), never published per file.
    outside: HashMap<usize, Site>,
    by_file: HashMap<PathBuf, Vec<usize>>,
    captured_text: HashMap<PathBuf, Arc<str>>,
    /// Files that changed since the capture when the manifest kept only their hash: lines
    /// cannot be followed, so their findings are stale.
    changed_unmapped: HashSet<PathBuf>,
    /// The last placements per document text: diagnostics, hover, lens and code actions of
    /// one version all need them, and finding call sites in a large file costs milliseconds.
    placements: Arc<Mutex<Vec<Placements>>>,
}

/// The placements of one file's findings in one text.
type Placements = (PathBuf, Arc<str>, Arc<Vec<(usize, Placement)>>);

/// Documents whose placements are remembered.
const REMEMBERED: usize = 8;

/// Where a finding's code is.
#[derive(Debug, Clone)]
pub struct Site {
    /// The workspace file.
    pub path: PathBuf,
    /// The position V8 recorded (mapped into the original source when `compiled`).
    pub anchor: Anchor,
    /// Whether the script ran compiled and `path` is its original source.
    pub compiled: bool,
    /// The placement candidate (index into the finding's) that chose this file, when the
    /// finding carries candidates and one of them found its call.
    pub candidate: Option<usize>,
}

/// A finding placed in its file as read from disk, for batch output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The finding's id (`listener-108405`).
    pub id: String,
    /// The file (canonical; the original source for a compiled script with a source map).
    pub path: PathBuf,
    /// The range to underline, in bytes.
    pub range: TextRange,
    /// 0-based line and UTF-16 column of the range's start.
    pub start: (u32, u32),
    /// 0-based line and UTF-16 column of the range's end.
    pub end: (u32, u32),
    /// The code changed since the capture: the range is where the change is.
    pub stale: bool,
    /// What chose the line.
    pub evidence: heapsight_leaks::PlacementEvidence,
    /// The message as placed: the finding's, with the user's call when the structure is a
    /// library's.
    pub message: String,
    /// The normalized text of the statement at `range` in the text read: the call site
    /// part of the finding's identity ([`crate::identity`]).
    pub call_site_text: String,
}

/// A finding placed in the current text of its file.
#[derive(Debug, Clone)]
pub struct Placed<'a> {
    /// The finding's stable id within this analysis (`listener-108405`).
    pub id: String,
    /// The finding.
    pub finding: &'a Finding,
    /// Where it is.
    pub placement: Placement,
}

impl Analysis {
    /// Joins `loaded` to the workspace at `root` under `config`; a finding whose code is in
    /// a file outside the workspace is placed there (the command line's `place_all`).
    pub fn new(loaded: Arc<Loaded>, root: &Path, config: &Config) -> Analysis {
        Analysis::join(loaded, root, config, true)
    }

    /// [`Analysis::new`] without the files outside the workspace: none of them is read
    /// because a snapshot names it (what the language server uses).
    pub fn workspace_only(loaded: Arc<Loaded>, root: &Path, config: &Config) -> Analysis {
        Analysis::join(loaded, root, config, false)
    }

    fn join(loaded: Arc<Loaded>, root: &Path, config: &Config, outside_files: bool) -> Analysis {
        let resolver = PathResolver::new(root, &config.path_mappings);
        let findings: Vec<usize> = (0..loaded.findings.len())
            .filter(|&i| {
                let f = &loaded.findings[i];
                config.reports(f.kind()) && f.retained_bytes >= config.min_retained_bytes
            })
            .collect();
        let mut sites = HashMap::new();
        let mut outside = HashMap::new();
        let mut by_file: HashMap<PathBuf, Vec<usize>> = HashMap::new();
        let mut captured_text = HashMap::new();
        let mut changed_unmapped = HashSet::new();
        let no_scripts = CapturedScripts::default();
        for &i in &findings {
            let finding = &loaded.findings[i];
            // Each heap's findings are placed with its own manifest's scripts: a worker's
            // code is recorded in the worker's manifest.
            let scripts = loaded.scripts_of(finding).unwrap_or(&no_scripts);
            let (site, in_workspace) = match site_of(finding, &resolver, scripts, false) {
                Some(site) => (site, true),
                None if !outside_files => continue,
                None => match site_of(finding, &resolver, scripts, true) {
                    Some(site) => (site, false),
                    None => continue,
                },
            };
            if !captured_text.contains_key(&site.path) {
                let url = site.anchor.url.as_deref().unwrap_or("");
                // The manifest records the scripts that ran, not their original sources.
                let script = (!site.compiled).then(|| scripts.get(url)).flatten();
                let recorded = script.and_then(|s| s.source.clone());
                // Without a recorded source, the file as it is when the analysis is joined
                // stands for the captured text; edits made after that are followed.
                let disk = std::fs::read_to_string(&site.path).ok();
                if let (None, Some(script), Some(disk)) = (&recorded, script, &disk) {
                    if !script.matches(disk) {
                        changed_unmapped.insert(site.path.clone());
                    }
                }
                if let Some(text) = recorded.or(disk) {
                    captured_text.insert(site.path.clone(), Arc::from(text));
                }
            }
            if in_workspace {
                by_file.entry(site.path.clone()).or_default().push(i);
                sites.insert(i, site);
            } else {
                outside.insert(i, site);
            }
        }
        Analysis {
            loaded,
            config: config.clone(),
            resolver,
            findings,
            sites,
            outside,
            by_file,
            captured_text,
            changed_unmapped,
            placements: Arc::default(),
        }
    }

    /// What was loaded.
    pub fn loaded(&self) -> &Loaded {
        &self.loaded
    }

    /// The settings it was joined under.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The path resolver of the workspace.
    pub fn resolver(&self) -> &PathResolver {
        &self.resolver
    }

    /// The reported findings with their ids, largest first.
    pub fn findings(&self) -> impl Iterator<Item = (String, &Finding)> + '_ {
        self.findings
            .iter()
            .map(|&i| (self.id(i), &self.loaded.findings[i]))
    }

    /// How many findings are reported.
    pub fn finding_count(&self) -> usize {
        self.findings.len()
    }

    /// Their retained bytes, summed.
    pub fn retained_bytes(&self) -> u64 {
        self.findings().map(|(_, f)| f.retained_bytes).sum()
    }

    /// The finding with `id`.
    pub fn finding(&self, id: &str) -> Option<&Finding> {
        self.findings
            .iter()
            .find(|&&i| self.id(i) == id)
            .map(|&i| &self.loaded.findings[i])
    }

    /// The workspace file a finding is placed in, if any.
    pub fn site(&self, id: &str) -> Option<&Site> {
        self.findings
            .iter()
            .find(|&&i| self.id(i) == id)
            .and_then(|i| self.sites.get(i))
    }

    /// Every workspace file with at least one finding.
    pub fn files_with_findings(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.by_file.keys().cloned().collect();
        files.sort();
        files
    }

    /// The findings of the file at `path`, placed in its current `text`.
    pub fn placed(&self, path: &Path, text: &str) -> Vec<Placed<'_>> {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let Some(indices) = self.by_file.get(&path) else {
            return Vec::new();
        };
        let placements = self.placements_in(&path, indices, text);
        placements
            .iter()
            .map(|(i, placement)| Placed {
                id: self.id(*i),
                finding: &self.loaded.findings[*i],
                placement: placement.clone(),
            })
            .collect()
    }

    /// The placements of `indices` (the findings of `path`) in `text`, remembered.
    fn placements_in(
        &self,
        path: &Path,
        indices: &[usize],
        text: &str,
    ) -> Arc<Vec<(usize, Placement)>> {
        let lock = || {
            self.placements
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        {
            let mut memo = lock();
            if let Some(at) = memo.iter().position(|(p, t, _)| p == path && &**t == text) {
                let hit = memo.remove(at);
                let placements = hit.2.clone();
                memo.insert(0, hit);
                return placements;
            }
        }
        let placements: Arc<Vec<(usize, Placement)>> = Arc::new(
            indices
                .iter()
                .filter_map(|&i| Some((i, self.placement(i, self.sites.get(&i)?, text))))
                .collect(),
        );
        let mut memo = lock();
        memo.insert(0, (path.to_path_buf(), Arc::from(text), placements.clone()));
        memo.truncate(REMEMBERED);
        placements
    }

    /// Every loaded finding placed in its file as it is on disk now, in the order of
    /// `loaded().findings`: `None` for a finding that is not reported, whose code is no file
    /// on this machine, or whose file cannot be read. Files outside the workspace count.
    pub fn place_all(&self) -> Vec<Option<Located>> {
        let mut texts: HashMap<PathBuf, Option<String>> = HashMap::new();
        (0..self.loaded.findings.len())
            .map(|i| {
                let site = self.sites.get(&i).or_else(|| self.outside.get(&i))?;
                let text = texts
                    .entry(site.path.clone())
                    .or_insert_with(|| std::fs::read_to_string(&site.path).ok())
                    .as_deref()?;
                let placement = self.placement(i, site, text);
                let index = LineIndex::new(text);
                Some(Located {
                    id: self.id(i),
                    path: site.path.clone(),
                    range: placement.range,
                    start: index.position_utf16(placement.range.start),
                    end: index.position_utf16(placement.range.end),
                    stale: placement.stale,
                    evidence: placement.evidence,
                    message: crate::wording::placed_message(&self.loaded.findings[i], &placement),
                    call_site_text: crate::identity::call_site_text(text, placement.range),
                })
            })
            .collect()
    }

    /// Finding `index`, whose code is at `site`, placed in `text`, the current text of
    /// `site.path` (canonical).
    fn placement(&self, index: usize, site: &Site, text: &str) -> Placement {
        let captured = self
            .captured_text
            .get(&site.path)
            .map_or(text, |t| t.as_ref());
        let finding = &self.loaded.findings[index];
        let candidate = site
            .candidate
            .and_then(|i| finding.placement.candidates.get(i));
        let mut placement =
            locate::place(finding, &site.anchor, candidate, &site.path, captured, text);
        if self.changed_unmapped.contains(&site.path) {
            placement.stale = true;
        }
        placement
    }

    /// A finding's id: kind and holder node id, and the heap's place in the list for any
    /// heap but the first (node ids are only unique within one heap).
    fn id(&self, index: usize) -> String {
        let f = &self.loaded.findings[index];
        match self.loaded.heap_index(f) {
            Some(heap) if heap > 0 => format!("{}-{}-h{heap}", f.kind().as_str(), f.holder.id),
            _ => format!("{}-{}", f.kind().as_str(), f.holder.id),
        }
    }

    /// The heap a finding comes from, when the analysis holds several heaps (with one,
    /// naming it says nothing).
    pub fn shown_heap<'a>(&self, finding: &'a Finding) -> Option<&'a str> {
        if self.loaded.several_heaps() {
            finding.heap.as_deref()
        } else {
            None
        }
    }
}

/// The workspace file and position for a finding: the first placement candidate whose call
/// the source layer finds; else (reports without candidates, or none found) its anchor when
/// that is the user's code, else the first function of the user's code that uses the holder.
/// In the original source when the script has a source map.
/// Files outside the workspace are taken only when `outside`.
fn site_of(
    finding: &Finding,
    resolver: &PathResolver,
    scripts: &CapturedScripts,
    outside: bool,
) -> Option<Site> {
    let resolve = |anchor: &Anchor| match resolver.resolve(anchor.url.as_deref()?) {
        Resolved::Workspace(path) => Some((path, anchor.clone())),
        Resolved::Outside(path) if outside => Some((path, anchor.clone())),
        _ => None,
    };
    let candidates = &finding.placement.candidates;
    let found = candidates.iter().enumerate().find_map(|(i, candidate)| {
        let anchor = candidate.anchor.clone();
        let (path, anchor) = resolve(&anchor)?;
        let (site, text) = site_at(path, anchor, resolver, scripts)?;
        locate::resolves(candidate, &site.anchor, &site.path, &text).then_some(Site {
            candidate: Some(i),
            ..site
        })
    });
    if found.is_some() {
        return found;
    }
    let (path, anchor) = finding
        .anchor
        .iter()
        .chain(finding.users.iter())
        .find_map(resolve)?;
    site_at(path, anchor, resolver, scripts).map(|(site, _)| site)
}

/// The site of `anchor` in the script at `path`, through its source map when it has one,
/// and the text of the file the site is in.
fn site_at(
    path: PathBuf,
    anchor: Anchor,
    resolver: &PathResolver,
    scripts: &CapturedScripts,
) -> Option<(Site, String)> {
    let url = anchor.url.as_deref().unwrap_or("");
    let text = scripts
        .get(url)
        .and_then(|s| s.source.clone())
        .or_else(|| std::fs::read_to_string(&path).ok());
    // A script outside the workspace may map to sources of its own project.
    let root = if path.starts_with(resolver.root()) {
        resolver.root().to_path_buf()
    } else {
        project_root(&path)
    };
    let original = text
        .as_deref()
        .and_then(|text| locate::original(&path, text, &root, &anchor));
    Some(match original {
        Some((path, anchor)) => {
            let text = std::fs::read_to_string(&path).ok()?;
            (
                Site {
                    path,
                    anchor,
                    compiled: true,
                    candidate: None,
                },
                text,
            )
        }
        None => (
            Site {
                path,
                anchor,
                compiled: false,
                candidate: None,
            },
            text.unwrap_or_default(),
        ),
    })
}

/// The nearest folder above `script` holding a `package.json`, else the script's folder.
fn project_root(script: &Path) -> PathBuf {
    let folder = script.parent().unwrap_or(script);
    folder
        .ancestors()
        .find(|dir| dir.join("package.json").is_file())
        .unwrap_or(folder)
        .to_path_buf()
}
