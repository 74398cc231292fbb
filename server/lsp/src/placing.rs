//! Placement off the message loop. Every change of a document (and an open, close, save,
//! or a newly finished analysis) schedules placing its findings in its text on a worker
//! thread, for the document version it was asked for; a newer change makes older work
//! stale: dropped before it starts, never published. Diagnostics are published once the
//! typing pauses ([`DEBOUNCE`]) and only for the version they were computed for.
//!
//! Each document keeps its last finished placement ([`Finished`]: its version, its text and
//! every result in bytes of that text) and the edits received since (`edit_log`). Hover,
//! code lens and code action answer from it on the loop without parsing: the request's
//! position is mapped back into the finished text, and the answer's ranges forward into
//! the current one. Before anything is finished for a document they answer nothing: the
//! first placement of an open is scheduled at once, and computing one on the loop is what
//! this module exists to avoid.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use heapsight_ide::{Analysis, CodeAction, CodeLens, Diagnostic, Hover, TextEdit, TextRange};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tower_lsp_server::ls_types::{self as lsp, MessageType, Uri};

use crate::edit_log::{Change, EditLog, Rebase};
use crate::state::{Document, Encoding, State};
use crate::to_proto::{self, Converter};

/// How long a document must stay unchanged before its placement starts. Edits arrive
/// 30 a second while a person types fast (and in bursts from completions and pastes): one
/// placement per pause instead of one per keystroke, and diagnostics still follow the
/// text within a fraction of a second.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Placements running at once: the machines this runs on have two cores, and requests
/// and the loop need one of them.
const PLACERS: usize = 2;

/// The placement state of every document that has one.
pub struct Placing {
    slots: Mutex<HashMap<PathBuf, Slot>>,
    /// Numbers every scheduled placement; a slot remembers its newest.
    tickets: AtomicU64,
    permits: Arc<Semaphore>,
}

/// One document's placement state.
#[derive(Default)]
struct Slot {
    /// The newest placement scheduled for it: any other is stale.
    ticket: u64,
    /// Its changes since the text of `finished`.
    log: EditLog,
    finished: Option<Arc<Finished>>,
}

/// A finished placement of one document text, every answer computed in its bytes.
pub struct Finished {
    /// The edit-log number of the text.
    seq: u64,
    /// The placement's ticket: of two placements of one text, the later one saw the newer
    /// analysis.
    ticket: u64,
    /// The document version it was computed for (`None`: the file on disk).
    pub version: Option<i32>,
    /// The text.
    pub text: Arc<str>,
    /// The analysis it was computed with (not kept alive by it).
    analysis: Option<Weak<Analysis>>,
    /// Shared with a later placement of the same text under the same analysis.
    answers: Arc<Answers>,
}

/// Every answer for one text, in its bytes.
#[derive(Default)]
struct Answers {
    diagnostics: Vec<Diagnostic>,
    lenses: Vec<CodeLens>,
    /// Every quick fix, with the statement of the finding it fixes.
    actions: Vec<(TextRange, CodeAction)>,
    /// Hovers by the offsets that get them: `(first, last, hover)`, inclusive.
    hovers: Vec<(usize, usize, Hover)>,
}

/// A request's view of a document: its newest finished placement and the way from that
/// text to the current one.
pub struct View {
    /// The finished placement.
    pub finished: Arc<Finished>,
    /// The current text.
    pub current: Arc<str>,
    /// The changes from `finished.text` to `current`.
    pub rebase: Rebase,
}

/// What a placement needs, taken when it starts.
struct Job {
    path: PathBuf,
    ticket: u64,
    seq: u64,
    /// The open document's text and version; `None`: read the file on disk.
    open: Option<(Arc<str>, i32)>,
    uri: Option<Uri>,
    analysis: Option<Arc<Analysis>>,
    encoding: Encoding,
    /// The document's finished placement when the job started, reused when it is of the
    /// same text under the same analysis (a reopened file, a save, a close without edits).
    previous: Option<Arc<Finished>>,
}

impl Default for Placing {
    fn default() -> Placing {
        Placing {
            slots: Mutex::new(HashMap::new()),
            tickets: AtomicU64::new(0),
            permits: Arc::new(Semaphore::new(PLACERS)),
        }
    }
}

impl Placing {
    fn slots(&self) -> MutexGuard<'_, HashMap<PathBuf, Slot>> {
        // A panic elsewhere leaves the map consistent: every update is a single assignment.
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `change` (which updates the open document at `path` and says how) and logs its
    /// changes, both under the slots' lock so a starting placement sees the text and its
    /// number together.
    pub fn change(&self, path: &Path, change: impl FnOnce() -> Vec<Change>) {
        let mut slots = self.slots();
        let changes = change();
        let slot = slots.entry(path.to_path_buf()).or_default();
        for c in changes {
            slot.log.push(c);
        }
    }

    /// Makes `doc` the open document at `path` and logs it: nothing when the finished
    /// placement is of that very text (the file on disk, placed by a new analysis), else the
    /// whole text is new.
    pub fn open(&self, state: &State, path: &Path, doc: Document) {
        let mut slots = self.slots();
        let slot = slots.entry(path.to_path_buf()).or_default();
        let same = slot
            .finished
            .as_ref()
            .is_some_and(|f| f.seq == slot.log.seq() && *f.text == *doc.text);
        if !same {
            slot.log.push(Change::Reset);
        }
        state.documents.insert(path.to_path_buf(), doc);
    }

    /// The view a request answers from; `None` before anything is finished for `path`.
    pub fn view(&self, state: &State, path: &Path) -> Option<View> {
        let slots = self.slots();
        let slot = slots.get(path)?;
        let finished = slot.finished.clone()?;
        let current = match state.documents.get(path) {
            Some(doc) => Arc::from(doc.text.as_str()),
            // Not open: what was placed is the file on disk.
            None => finished.text.clone(),
        };
        Some(View {
            rebase: slot.log.since(finished.seq),
            finished,
            current,
        })
    }

    /// A new ticket for `path`, making every placement scheduled before it stale.
    fn ticket(&self, path: &Path) -> u64 {
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed) + 1;
        self.slots().entry(path.to_path_buf()).or_default().ticket = ticket;
        ticket
    }

    /// Whether `ticket` is still the newest placement scheduled for `path`.
    fn is_current(&self, path: &Path, ticket: u64) -> bool {
        self.slots().get(path).is_some_and(|s| s.ticket == ticket)
    }

    /// What placement `ticket` of `path` works on; `None` when it is stale.
    fn job(&self, state: &State, path: &Path, ticket: u64) -> Option<Job> {
        let (seq, open, uri, previous) = {
            let slots = self.slots();
            let slot = slots.get(path)?;
            if slot.ticket != ticket {
                return None;
            }
            let doc = state.documents.get(path);
            (
                slot.log.seq(),
                doc.as_ref()
                    .map(|d| (Arc::from(d.text.as_str()), d.version)),
                doc.as_ref().map(|d| d.uri.clone()),
                slot.finished.clone(),
            )
        };
        Some(Job {
            path: path.to_path_buf(),
            ticket,
            seq,
            open,
            uri,
            analysis: state.analysis_for(path),
            encoding: state.encoding(),
            previous,
        })
    }

    /// Keeps `finished` when it is newer than what `path` has, and says whether its
    /// diagnostics are to be published: it is still the newest placement scheduled and its
    /// version is the document's current one.
    fn finish(&self, state: &State, path: &Path, ticket: u64, finished: Arc<Finished>) -> bool {
        let mut slots = self.slots();
        let Some(slot) = slots.get_mut(path) else {
            return false;
        };
        let newer = |f: &Arc<Finished>| (f.seq, f.ticket) < (finished.seq, finished.ticket);
        if slot.finished.as_ref().is_none_or(newer) {
            slot.log.forget_through(finished.seq);
            slot.finished = Some(finished.clone());
        }
        let current = state.documents.get(path).map(|d| d.version);
        let publish = slot.ticket == ticket && current == finished.version;
        // A closed file without findings needs nothing kept.
        if publish && current.is_none() && finished.answers.is_empty() {
            slots.remove(path);
        }
        publish
    }
}

/// Schedules placing the findings of `path` in its current text after `delay` (the
/// debounce of a change, zero for an open, close, save or a new analysis). The returned
/// task ends when the placement is published, found stale, or failed.
pub fn schedule(state: &Arc<State>, path: &Path, delay: Duration) -> JoinHandle<()> {
    let ticket = state.placing.ticket(path);
    let state = state.clone();
    let path = path.to_path_buf();
    tokio::spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if !state.placing.is_current(&path, ticket) {
            return;
        }
        let Ok(_permit) = state.placing.permits.clone().acquire_owned().await else {
            return;
        };
        // Taken now, after the wait for a worker: a change made meanwhile is placed instead.
        let Some(job) = state.placing.job(&state, &path, ticket) else {
            return;
        };
        let placed = tokio::task::spawn_blocking(move || job.run()).await;
        let (finished, uri, diagnostics) = match placed {
            Ok(Some(placed)) => placed,
            // The file cannot be read (or has no URI): nothing to say about it.
            Ok(None) => return,
            Err(e) => {
                state
                    .client
                    .log_message(
                        MessageType::ERROR,
                        format!("heapsight: placing {} failed: {e}", path.display()),
                    )
                    .await;
                return;
            }
        };
        let version = finished.version;
        if !state.placing.finish(&state, &path, ticket, finished) {
            return;
        }
        if let Ok(mut published) = state.published.lock() {
            if diagnostics.is_empty() {
                published.remove(&path);
            } else {
                published.insert(path.clone());
            }
        }
        state
            .client
            .publish_diagnostics(uri, diagnostics, version)
            .await;
    })
}

impl Job {
    /// Places the findings (the parse and the line diff) and computes every answer, on a
    /// worker thread; the diagnostics converted for publishing.
    fn run(self) -> Option<(Arc<Finished>, Uri, Vec<lsp::Diagnostic>)> {
        let (text, version) = match self.open {
            Some((text, version)) => (text, Some(version)),
            None => (Arc::from(std::fs::read_to_string(&self.path).ok()?), None),
        };
        let uri = match self.uri {
            Some(uri) => uri,
            None => to_proto::uri(&self.path)?,
        };
        let reusable = self.previous.filter(|p| {
            *p.text == *text
                && match (&p.analysis, &self.analysis) {
                    (Some(was), Some(now)) => {
                        was.upgrade().is_some_and(|was| Arc::ptr_eq(&was, now))
                    }
                    (None, None) => true,
                    _ => false,
                }
        });
        let answers = match (reusable, &self.analysis) {
            (Some(previous), _) => previous.answers.clone(),
            (None, Some(analysis)) => Arc::new(Answers::compute(analysis, &self.path, &text)),
            (None, None) => Arc::default(),
        };
        let finished = Finished {
            seq: self.seq,
            ticket: self.ticket,
            version,
            text,
            analysis: self.analysis.as_ref().map(Arc::downgrade),
            answers,
        };
        let converter = Converter::new(&finished.text, self.encoding);
        let diagnostics = finished
            .answers
            .diagnostics
            .iter()
            .map(|d| converter.diagnostic(d, &uri))
            .collect();
        Some((Arc::new(finished), uri, diagnostics))
    }
}

impl Answers {
    /// Every answer of `analysis` for `path` in `text`. The placements are computed once
    /// (the analysis remembers them per text); the rest reads them.
    fn compute(analysis: &Analysis, path: &Path, text: &str) -> Answers {
        let placed = analysis.placed(path, text);
        let diagnostics = analysis.diagnostics(path, text);
        let lenses = analysis.code_lenses(path, text);
        let statements: HashMap<String, TextRange> = placed
            .iter()
            .map(|p| (p.id.clone(), p.placement.statement))
            .collect();
        let actions = analysis
            .code_actions(path, text, TextRange::new(0, text.len()))
            .into_iter()
            .filter_map(|a| Some((*statements.get(&a.finding)?, a)))
            .collect();
        // Which findings a hover shows depends only on which flagged ranges hold the offset
        // (ranges hold both ends): that set is the same at each range end and between two
        // consecutive ends, so one hover per end and per gap answers every offset.
        let mut ends: Vec<usize> = placed
            .iter()
            .flat_map(|p| [p.placement.range.start, p.placement.range.end])
            .collect();
        ends.sort_unstable();
        ends.dedup();
        let mut hovers = Vec::new();
        for (i, &end) in ends.iter().enumerate() {
            if let Some(hover) = analysis.hover(path, text, end) {
                hovers.push((end, end, hover));
            }
            let next = ends.get(i + 1).copied().unwrap_or(end);
            if end + 1 < next {
                if let Some(hover) = analysis.hover(path, text, end + 1) {
                    hovers.push((end + 1, next - 1, hover));
                }
            }
        }
        Answers {
            diagnostics,
            lenses,
            actions,
            hovers,
        }
    }

    fn is_empty(&self) -> bool {
        self.diagnostics.is_empty() && self.lenses.is_empty() && self.hovers.is_empty()
    }
}

impl View {
    /// The hover at byte `offset` of the current text.
    pub fn hover(&self, offset: usize) -> Option<Hover> {
        let at = self.rebase.back(offset)?;
        let (_, _, hover) = self
            .finished
            .answers
            .hovers
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&at))?;
        Some(Hover {
            range: self.rebase.forward_range(hover.range)?,
            markdown: hover.markdown.clone(),
        })
    }

    /// The code lenses, in the current text; a lens whose statement was edited waits for
    /// the next placement.
    pub fn code_lenses(&self) -> Vec<CodeLens> {
        self.finished
            .answers
            .lenses
            .iter()
            .filter_map(|lens| {
                Some(CodeLens {
                    range: self.rebase.forward_range(lens.range)?,
                    ..lens.clone()
                })
            })
            .collect()
    }

    /// The quick fixes of the findings whose statements meet `range` (current text), each
    /// with the diagnostics of its finding; a fix whose edits fall on text edited since is
    /// left out (it would overwrite it).
    pub fn code_actions(&self, range: TextRange) -> Vec<(CodeAction, Vec<Diagnostic>)> {
        let Some(range) = self.rebase.back_range(range) else {
            return Vec::new();
        };
        self.finished
            .answers
            .actions
            .iter()
            .filter(|(statement, _)| statement.intersects(range))
            .filter_map(|(_, action)| {
                let edits = action
                    .edits
                    .iter()
                    .map(|e| {
                        Some(TextEdit {
                            range: self.rebase.forward_range(e.range)?,
                            new_text: e.new_text.clone(),
                        })
                    })
                    .collect::<Option<Vec<_>>>()?;
                let fixes = self
                    .finished
                    .answers
                    .diagnostics
                    .iter()
                    .filter(|d| d.finding == action.finding)
                    .filter_map(|d| self.diagnostic(d))
                    .collect();
                Some((
                    CodeAction {
                        edits,
                        ..action.clone()
                    },
                    fixes,
                ))
            })
            .collect()
    }

    /// A finished diagnostic in the current text (its related places in the same file
    /// moved too, those edited since dropped).
    fn diagnostic(&self, d: &Diagnostic) -> Option<Diagnostic> {
        let mut moved = d.clone();
        moved.range = self.rebase.forward_range(d.range)?;
        moved.related = d
            .related
            .iter()
            .filter_map(|r| {
                let mut r = r.clone();
                r.range = self.rebase.forward_range(r.range)?;
                Some(r)
            })
            .collect();
        Some(moved)
    }
}
