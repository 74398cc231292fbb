//! `workspace/executeCommand`: `heapsight.analyze`, `heapsight.capture` (starts the capture
//! and returns at once, see `capture`), `heapsight.clear`, `heapsight.showReport` (at a
//! finding's heading when given its id). A command about one folder takes the folder named
//! by its path argument, else the first.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use heapsight_ide::{inputs, Progress, TextRange};
use serde_json::{json, Value};
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::{ExecuteCommandParams, ShowDocumentParams};

use crate::capture::{self, Refused};
use crate::commands;
use crate::folder::Folder;
use crate::from_proto;
use crate::loader::{self, Reason, What};
use crate::state::State;
use crate::status::Status;
use crate::to_proto::{self, Converter};

/// Runs a command.
pub async fn execute(state: Arc<State>, params: ExecuteCommandParams) -> Result<Option<Value>> {
    match params.command.as_str() {
        commands::ANALYZE => analyze(state, &params.arguments).await,
        commands::CAPTURE => capture(state, &params.arguments),
        commands::CLEAR => clear(state).await,
        commands::SHOW_REPORT => show_report(state, &params.arguments).await,
        other => Err(Error::invalid_params(format!("unknown command `{other}`"))),
    }
}

/// Cancels the load when the request is dropped (`$/cancelRequest`) before it finishes.
struct CancelOnDrop {
    progress: Arc<Progress>,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.progress.cancel();
        }
    }
}

/// The folder `arguments` name (a path or `file:` URI inside it), else the first one.
fn folder_of(state: &State, arguments: &[Value]) -> Result<Arc<Folder>> {
    let named = match arguments {
        [Value::String(s), ..] => s
            .parse::<tower_lsp_server::ls_types::Uri>()
            .ok()
            .and_then(|u| from_proto::path(&u))
            .or_else(|| Some(PathBuf::from(s)))
            .filter(|p| p.is_absolute())
            .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
            .and_then(|p| state.folder_for(&p)),
        [Value::Object(triple), ..] => triple
            .get("a")
            .and_then(Value::as_str)
            .map(Path::new)
            .filter(|p| p.is_absolute())
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()))
            .and_then(|p| state.folder_for(&p)),
        _ => None,
    };
    named
        .or_else(|| state.first_folder())
        .ok_or_else(|| Error::invalid_params("no workspace folder"))
}

async fn analyze(state: Arc<State>, arguments: &[Value]) -> Result<Option<Value>> {
    let folder = folder_of(&state, arguments)?;
    let root = folder.root.clone();
    let at = |p: &str| -> PathBuf { root.join(p) };
    let what = match arguments {
        [] | [Value::Null] => What::Newest,
        [Value::String(path)] => What::Input(
            inputs::from_paths(&[at(path)]).map_err(|e| Error::invalid_params(e.to_string()))?,
        ),
        [Value::Object(triple)] => {
            let field = |k: &str| triple.get(k).and_then(Value::as_str).map(at);
            match (field("a"), field("b"), field("c")) {
                (Some(a), Some(b), Some(c)) => What::Input(
                    inputs::from_paths(&[a, b, c])
                        .map_err(|e| Error::invalid_params(e.to_string()))?,
                ),
                _ => {
                    return Err(Error::invalid_params(
                        "heapsight.analyze takes a folder, a report, or {\"a\", \"b\", \"c\"} snapshot paths",
                    ))
                }
            }
        }
        _ => return Err(Error::invalid_params(
            "heapsight.analyze takes a folder, a report, or {\"a\", \"b\", \"c\"} snapshot paths",
        )),
    };
    let progress = Arc::new(Progress::new());
    let mut guard = CancelOnDrop {
        progress: progress.clone(),
        armed: true,
    };
    // The load runs as its own task: when this request is cancelled it still ends its
    // progress and reports the cancellation.
    if matches!(what, What::Newest) {
        // The other folders reload too, in the background; the reply is about this one.
        for other in state.folders() {
            if !Arc::ptr_eq(&other, &folder) {
                loader::spawn_load(&state, &other, What::Newest, Reason::Requested);
            }
        }
    }
    let result = tokio::spawn(loader::load_with(
        state.clone(),
        folder,
        what,
        Reason::Requested,
        progress,
    ))
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    guard.armed = false;
    match result {
        Ok(status) => Ok(Some(status_json(&status))),
        Err(message) => Err(Error {
            code: ErrorCode::InternalError,
            message: message.into(),
            data: None,
        }),
    }
}

fn capture(state: Arc<State>, arguments: &[Value]) -> Result<Option<Value>> {
    let folder = folder_of(&state, arguments)?;
    match capture::start(&state, &folder) {
        Ok(token) => Ok(Some(json!({
            "started": true,
            "token": token,
            "folder": folder.name(),
        }))),
        Err(Refused::NotConfigured) => Err(Error::invalid_params(
            "set heapsight.captureCommand (e.g. [\"heapsight\", \"capture\", \"--\", \"node\", \"app.js\"])",
        )),
        Err(Refused::Running) => Err(Error {
            code: ErrorCode::InvalidRequest,
            message: format!(
                "a capture is already running in {}: wait for it or cancel it from its progress",
                folder.root.display()
            )
            .into(),
            data: None,
        }),
        Err(Refused::Spawn(message)) => Err(Error::invalid_params(message)),
    }
}

async fn clear(state: Arc<State>) -> Result<Option<Value>> {
    loader::cancel(&state, None);
    let status = Status::new("idle", 0, 0, "findings cleared".to_string());
    for folder in state.folders() {
        folder.set_analysis(None);
        if let Ok(mut key) = folder.loaded_key.lock() {
            *key = None;
        }
        loader::publish_folder(&state, &folder).await;
        if let Ok(mut slot) = folder.status.lock() {
            *slot = Some(status.clone());
        }
    }
    if state.support().code_lens_refresh {
        let _ = state.client.code_lens_refresh().await;
    }
    loader::send_statuses(&state).await;
    Ok(Some(status_json(&status)))
}

async fn show_report(state: Arc<State>, arguments: &[Value]) -> Result<Option<Value>> {
    let finding = match arguments {
        [] | [Value::Null] => None,
        [Value::String(id)] => Some(id.clone()),
        _ => {
            return Err(Error::invalid_params(
                "heapsight.showReport takes an optional finding id",
            ))
        }
    };
    // The folder whose analysis has the finding; without one, the first analyzed folder.
    let analyzed: Vec<_> = state
        .folders()
        .into_iter()
        .filter_map(|f| f.analysis().map(|a| (f, a)))
        .collect();
    if analyzed.is_empty() {
        return Err(Error::invalid_params("no analysis loaded yet"));
    }
    let found = match &finding {
        Some(id) => analyzed.into_iter().find(|(_, a)| a.finding(id).is_some()),
        None => analyzed.into_iter().next(),
    };
    let Some((folder, analysis)) = found else {
        let id = finding.unwrap_or_default();
        return Err(Error::invalid_params(format!("no finding `{id}`")));
    };
    let markdown = tokio::task::spawn_blocking(move || analysis.report_markdown())
        .await
        .map_err(|e| Error {
            code: ErrorCode::InternalError,
            message: e.to_string().into(),
            data: None,
        })?;
    let dir = folder.snapshot_dir();
    let path = dir.join("report.md");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, &markdown))
        .map_err(|e| Error {
            code: ErrorCode::InternalError,
            message: format!("cannot write {}: {e}", path.display()).into(),
            data: None,
        })?;
    let Some(uri) = to_proto::uri(&path) else {
        return Err(Error::internal_error());
    };
    let heading = finding
        .as_deref()
        .and_then(|id| finding_heading(&markdown, id));
    let selection = heading.map(|range| Converter::new(&markdown, state.encoding()).range(range));
    if state.support().show_document {
        let _ = state
            .client
            .show_document(ShowDocumentParams {
                uri: uri.clone(),
                external: Some(false),
                take_focus: Some(true),
                selection,
            })
            .await;
    }
    // A client without showDocument opens `uri` itself, at `line` (0-based) when given.
    Ok(Some(json!({
        "uri": uri.as_str(),
        "markdown": markdown,
        "line": selection.map(|s| s.start.line),
    })))
}

/// The byte range of the heading under finding `id`'s anchor in the report.
fn finding_heading(markdown: &str, id: &str) -> Option<TextRange> {
    let anchor = format!("<a id=\"{id}\"></a>\n");
    let start = markdown.find(&anchor)? + anchor.len();
    let end = markdown[start..]
        .find('\n')
        .map_or(markdown.len(), |n| start + n);
    Some(TextRange::new(start, end))
}

fn status_json(status: &Status) -> Value {
    serde_json::to_value(status).unwrap_or(Value::Null)
}
