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

use heapsight_leaks::LeakKind;
use heapsight_source::{
    call_site_at_function, collection_sites, CallSite, Language, LineIndex, LineMap, ParsedFile,
    TextEdit, TextRange,
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
    /// The growing call of `binding` whose statement starts on this line.
    Mutation { binding: &'a str, line: u32 },
}

impl Key<'_> {
    fn line(self) -> u32 {
        match self {
            Key::Function { line, .. } | Key::Mutation { line, .. } => line,
        }
    }

    fn with_line(self, line: u32) -> Self {
        match self {
            Key::Function { column, .. } => Key::Function { line, column },
            Key::Mutation { binding, .. } => Key::Mutation { binding, line },
        }
    }

    fn find(self, file: &ParsedFile) -> Option<CallSite> {
        match self {
            Key::Function { line, column } => call_site_at_function(file, line, column),
            Key::Mutation { binding, line } => collection_sites(file, binding)
                .mutations
                .into_iter()
                .find(|site| line_of(file, site.statement.start) == line),
        }
    }
}

/// Places `finding`, whose code is `anchor` in the file at `path`, captured as `captured`
/// and now reading `current`.
pub fn place(
    finding: &Finding,
    anchor: &Anchor,
    path: &Path,
    captured: &str,
    current: &str,
) -> Placement {
    let Some(language) = Language::from_path(path) else {
        return on_line(current, anchor.line, captured != current, None);
    };
    let then = parse(captured, language);
    let binding = growing_binding(finding);
    let key = binding
        .and_then(|binding| {
            let first = collection_sites(&then, binding)
                .mutations
                .into_iter()
                .next()?;
            Some(Key::Mutation {
                binding,
                line: line_of(&then, first.statement.start),
            })
        })
        .unwrap_or(Key::Function {
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
                return on_line(current, line, true, None);
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
            site: Some(site),
        },
        None => on_line(current, key.line(), false, declaration),
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
fn on_line(text: &str, line: u32, stale: bool, declaration: Option<TextRange>) -> Placement {
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
