//! Where a finding goes in the current text of its file, and the fixes offered there.
//!
//! This is the one module that knows how call sites are found; it asks the `source` crate.
//! The call site is looked up in the text as captured (the manifest's recorded source, else
//! the file as it was when the analysis was joined) at V8's function position — or, for a
//! collection held by a variable, at its first growing call — then its line is followed
//! into the current text through a line diff and looked up again there. A line that
//! changed or disappeared makes the finding stale: it is shown where the change is, as
//! such, never on a neighbouring statement.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use heapsight_leaks::{LeakKind, PlacementCandidate, PlacementEvidence};
use heapsight_source::{
    binding_calls, call_site_at_function, calls_in_function, collection_sites, package_calls,
    CallSite, Language, LineIndex, LineMap, ParsedFile, TextEdit, TextRange,
};

use crate::finding::{Anchor, Finding};

/// A finding's place in the current text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The range to underline (`bus.on`, `cache.set`, `setInterval`).
    pub range: TextRange,
    /// The whole statement (where a code lens goes, where fixes apply).
    pub statement: TextRange,
    /// The statement changed or disappeared since the capture: the range is where the
    /// change is now, not a claim that the leak is there.
    pub stale: bool,
    /// The holder's declaration, for collections.
    pub declaration: Option<TextRange>,
    /// The call site in the current text, when the source layer found it.
    pub site: Option<CallSite>,
    /// What chose the line.
    pub evidence: PlacementEvidence,
    /// The user's call there, as a message quotes it (`billingApi.interceptors.request.use(...)`).
    pub call: Option<String>,
    /// Whether that call runs inside a function (per request), not once at start-up.
    pub per_request: bool,
}

/// One quick fix: edits to the current text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// What the fix does.
    pub title: String,
    /// The edits.
    pub edits: Vec<TextEdit>,
    /// Safe enough to apply without reading it first.
    pub preferred: bool,
}

/// How a call site is found again in another version of the file.
#[derive(Clone, Copy)]
enum Key<'a> {
    /// The registered function V8 placed at this line and UTF-16 column.
    Function { line: u32, column: u32 },
    /// The call named `callee` inside the function V8 placed at this line and column.
    CallIn {
        line: u32,
        column: u32,
        callee: Option<&'a str>,
    },
    /// The growing call of `binding` whose statement starts on this line.
    Mutation { binding: &'a str, line: u32 },
    /// The per-request call on (or passing) `binding` whose statement starts on this line.
    Use { binding: &'a str, line: u32 },
    /// The call into `package`'s exports whose statement starts on this line.
    Creator { package: &'a str, line: u32 },
}

impl<'a> Key<'a> {
    /// The key of `candidate` in `file` (the text as captured): where its call is.
    fn of(candidate: &'a PlacementCandidate, anchor: &Anchor, file: &ParsedFile) -> Option<Self> {
        let at = |sites: Vec<CallSite>| sites.first().map(|s| line_of(file, s.statement.start));
        let (line, column) = (anchor.line, anchor.column);
        let key = match candidate.evidence {
            PlacementEvidence::UserClosure | PlacementEvidence::RetainerPath => {
                Key::Function { line, column }
            }
            PlacementEvidence::AllocationStack => Key::CallIn {
                line,
                column,
                callee: candidate.callee.as_deref(),
            },
            PlacementEvidence::GrowingCall => {
                let binding = candidate.binding.as_deref()?;
                let line = at(collection_sites(file, binding).mutations)?;
                Key::Mutation { binding, line }
            }
            PlacementEvidence::BindingCall => {
                let binding = candidate.binding.as_deref()?;
                let sites = binding_calls(file, binding)
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect();
                Key::Use {
                    binding,
                    line: at(sites)?,
                }
            }
            PlacementEvidence::Creator => {
                let package = candidate.package.as_deref()?;
                let mut sites = package_calls(file, package);
                // `const ratesFor = _.memoize(...)` over the package's other calls, when the
                // path names the binding the created object went to.
                if let Some(binding) = candidate.binding.as_deref() {
                    sites.sort_by_key(|site| !initializes(file, site, binding));
                }
                Key::Creator {
                    package,
                    line: at(sites)?,
                }
            }
            PlacementEvidence::None => return None,
        };
        key.find(file).is_some().then_some(key)
    }

    fn line(self) -> u32 {
        match self {
            Key::Function { line, .. }
            | Key::CallIn { line, .. }
            | Key::Mutation { line, .. }
            | Key::Use { line, .. }
            | Key::Creator { line, .. } => line,
        }
    }

    fn with_line(self, line: u32) -> Self {
        match self {
            Key::Function { column, .. } => Key::Function { line, column },
            Key::CallIn { column, callee, .. } => Key::CallIn {
                line,
                column,
                callee,
            },
            Key::Mutation { binding, .. } => Key::Mutation { binding, line },
            Key::Use { binding, .. } => Key::Use { binding, line },
            Key::Creator { package, .. } => Key::Creator { package, line },
        }
    }

    fn find(self, file: &ParsedFile) -> Option<CallSite> {
        let on_line = |sites: Vec<CallSite>, line: u32| {
            sites
                .into_iter()
                .find(|site| line_of(file, site.statement.start) == line)
        };
        match self {
            Key::Function { line, column } => call_site_at_function(file, line, column),
            Key::CallIn {
                line,
                column,
                callee,
            } => calls_in_function(file, line, column, callee)
                .into_iter()
                .next(),
            Key::Mutation { binding, line } => {
                on_line(collection_sites(file, binding).mutations, line)
            }
            Key::Use { binding, line } => on_line(
                binding_calls(file, binding)
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect(),
                line,
            ),
            Key::Creator { package, line } => on_line(package_calls(file, package), line),
        }
    }
}

/// Whether the statement of `site` declares or assigns `binding`.
fn initializes(file: &ParsedFile, site: &CallSite, binding: &str) -> bool {
    let text = file.range_text(site.statement);
    let text = text
        .trim_start_matches("export ")
        .trim_start_matches("const ")
        .trim_start_matches("let ")
        .trim_start_matches("var ");
    text.strip_prefix(binding)
        .is_some_and(|rest| rest.trim_start().starts_with('='))
}

/// Whether `candidate` finds a call in `text` (the file as captured), the first test a
/// candidate passes before it becomes a finding's place.
pub fn resolves(candidate: &PlacementCandidate, anchor: &Anchor, path: &Path, text: &str) -> bool {
    let Some(language) = Language::from_path(path) else {
        return false;
    };
    Key::of(candidate, anchor, &parse(text, language)).is_some()
}

/// Places `finding`, whose code is `anchor` in the file at `path`, captured as `captured`
/// and now reading `current`; `candidate` is the placement rule that chose the file, when the
/// finding carries them.
pub fn place(
    finding: &Finding,
    anchor: &Anchor,
    candidate: Option<&PlacementCandidate>,
    path: &Path,
    captured: &str,
    current: &str,
) -> Placement {
    let evidence = candidate.map_or(PlacementEvidence::None, |c| c.evidence);
    let Some(language) = Language::from_path(path) else {
        return on_line(current, anchor.line, captured != current, None, evidence);
    };
    let then = parse(captured, language);
    let binding = growing_binding(finding);
    let key = match candidate {
        Some(candidate) => Key::of(candidate, anchor, &then),
        // A report written before placement candidates: a collection on its first growing
        // call, anything else at V8's function position.
        None => binding.and_then(|binding| {
            let first = collection_sites(&then, binding)
                .mutations
                .into_iter()
                .next()?;
            Some(Key::Mutation {
                binding,
                line: line_of(&then, first.statement.start),
            })
        }),
    };
    // No call found for the candidate: the function's own line, as V8 placed it.
    let key = key.unwrap_or(Key::Function {
        line: anchor.line,
        column: anchor.column,
    });
    let (now, key) = if captured == current {
        (then, key)
    } else {
        let map = line_map(captured, current);
        match map.map_line(key.line()) {
            Some(line) => (parse(current, language), key.with_line(line)),
            None => {
                // Just after the nearest line above that survived: where the change is.
                let line = (0..key.line())
                    .rev()
                    .find_map(|l| map.map_line(l))
                    .map_or(0, |l| l + 1);
                return on_line(current, line, true, None, evidence);
            }
        }
    };
    let declaration = binding.and_then(|binding| collection_sites(&now, binding).declaration);
    match key.find(&now) {
        Some(site) => Placement {
            range: site.underline,
            statement: site.statement,
            stale: false,
            declaration,
            call: Some(format!("{}(...)", now.range_text(site.underline).trim())),
            per_request: site.enclosing_function.is_some(),
            site: Some(site),
            evidence,
        },
        None => on_line(current, key.line(), false, declaration, evidence),
    }
}

/// The fixes for `finding` at `placement` in the file at `path` reading `current`.
pub fn fixes(placement: &Placement, path: &Path, current: &str) -> Vec<Fix> {
    let (Some(site), Some(language), false) =
        (&placement.site, Language::from_path(path), placement.stale)
    else {
        return Vec::new();
    };
    let file = parse(current, language);
    heapsight_source::fixes(&file, site)
        .into_iter()
        .map(|fix| Fix {
            title: fix.title,
            edits: fix.edits,
            preferred: fix.preferred,
        })
        .collect()
}

/// How many parses and line maps are remembered: a few open documents, each as captured
/// and as edited.
const MEMO: usize = 16;

/// Parses kept by text: every request on a document places each of its findings, and a
/// parse of a large file costs milliseconds, so one parse serves all the findings of a
/// version (and the captured text is parsed once, not once per request).
static PARSES: Mutex<Vec<Arc<ParsedFile>>> = Mutex::new(Vec::new());

/// Line maps kept by their (captured, current) texts, for the same reason.
type MapEntry = (Arc<str>, Arc<str>, Arc<LineMap>);
static LINE_MAPS: Mutex<Vec<MapEntry>> = Mutex::new(Vec::new());

fn parse(text: &str, language: Language) -> Arc<ParsedFile> {
    {
        let mut memo = PARSES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(at) = memo
            .iter()
            .position(|p| p.language() == language && p.text() == text)
        {
            let hit = memo.remove(at);
            memo.insert(0, hit.clone());
            return hit;
        }
    }
    // Parsed without the lock: other requests go on meanwhile.
    let parsed = Arc::new(ParsedFile::parse(text.to_string(), language));
    let mut memo = PARSES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    memo.insert(0, parsed.clone());
    memo.truncate(MEMO);
    parsed
}

fn line_map(captured: &str, current: &str) -> Arc<LineMap> {
    {
        let mut memo = LINE_MAPS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(at) = memo
            .iter()
            .position(|(a, b, _)| &**a == captured && &**b == current)
        {
            let hit = memo.remove(at);
            let map = hit.2.clone();
            memo.insert(0, hit);
            return map;
        }
    }
    let map = Arc::new(LineMap::new(captured, current));
    let mut memo = LINE_MAPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    memo.insert(0, (Arc::from(captured), Arc::from(current), map.clone()));
    memo.truncate(MEMO);
    map
}

/// The variable whose growth is the leak, for collections held by one.
fn growing_binding(finding: &Finding) -> Option<&str> {
    let binding = finding.holder.binding.as_ref()?;
    (finding.kind() == LeakKind::Collection && binding.kind == "variable")
        .then_some(binding.name.as_str())
}

fn line_of(file: &ParsedFile, offset: usize) -> u32 {
    file.index().position_utf8(offset).0
}

/// The trimmed extent of `line` in `text`, when no call site is found there.
fn on_line(
    text: &str,
    line: u32,
    stale: bool,
    declaration: Option<TextRange>,
    evidence: PlacementEvidence,
) -> Placement {
    let index = LineIndex::new(text);
    let (start, end) = index.line_range(line).unwrap_or((text.len(), text.len()));
    let content = &text[start..end];
    let lead = content.len() - content.trim_start().len();
    let trail = content.len() - content.trim_end().len();
    let statement = if lead + trail >= content.len() {
        TextRange::new(start, end)
    } else {
        TextRange::new(start + lead, end - trail)
    };
    Placement {
        range: statement,
        statement,
        stale,
        declaration,
        site: None,
        evidence,
        call: None,
        per_request: false,
    }
}

/// For a compiled script with a source map (a file or inline `sourceMappingURL`), the
/// original file inside the workspace and the anchor's position in it.
pub fn original(
    script: &Path,
    text: &str,
    root: &Path,
    anchor: &Anchor,
) -> Option<(PathBuf, Anchor)> {
    use heapsight_source::sourcemaps::{locate, ScriptMap};
    let source = locate(script, text)?;
    let dir = script.parent().unwrap_or(root);
    let map = ScriptMap::load(&source, dir, root).ok()?;
    let position = map.original_position(anchor.line, anchor.column)?;
    let path = std::fs::canonicalize(&position.path).ok()?;
    (path.starts_with(root) && path.is_file()).then(|| {
        let mapped = Anchor {
            line: position.line,
            column: position.column,
            ..anchor.clone()
        };
        (path, mapped)
    })
}
