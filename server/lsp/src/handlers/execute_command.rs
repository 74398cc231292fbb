//! `workspace/executeCommand`: `heapsight.analyze`, `heapsight.capture`, `heapsight.clear`,
//! `heapsight.showReport`.

use std::path::PathBuf;
use std::sync::Arc;

use heapsight_ide::{inputs, Progress};
use serde_json::{json, Value};
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::{ExecuteCommandParams, MessageType, ShowDocumentParams};

use crate::commands;
use crate::loader::{self, Reason, What};
use crate::publish;
use crate::state::State;
use crate::status::Status;
use crate::to_proto;

/// Runs a command.
pub async fn execute(state: Arc<State>, params: ExecuteCommandParams) -> Result<Option<Value>> {
    match params.command.as_str() {
        commands::ANALYZE => analyze(state, &params.arguments).await,
        commands::CAPTURE => capture(state).await,
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

async fn analyze(state: Arc<State>, arguments: &[Value]) -> Result<Option<Value>> {
    let root = state.root();
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
    let result = tokio::spawn(loader::load_with(
        state.clone(),
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

async fn capture(state: Arc<State>) -> Result<Option<Value>> {
    // Only the user's own settings name the program: never the command's arguments.
    let command = state.config().capture_command;
    let Some((program, args)) = command.split_first() else {
        return Err(Error::invalid_params(
            "set heapsight.captureCommand (e.g. [\"heapsight\", \"capture\", \"--\", \"node\", \"app.js\"])",
        ));
    };
    let output = tokio::process::Command::new(program)
        .args(args)
        .current_dir(state.root())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| Error::invalid_params(format!("cannot run {program}: {e}")))?;
    let mut log = String::from_utf8_lossy(&output.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&output.stderr));
    let tail: String = log
        .chars()
        .rev()
        .take(4000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let code = output.status.code();
    if !output.status.success() {
        state
            .client
            .show_message(
                MessageType::ERROR,
                format!(
                    "the capture command failed ({}): {}",
                    output.status,
                    tail.trim()
                ),
            )
            .await;
        return Ok(Some(json!({ "exitCode": code, "output": tail })));
    }
    let status = loader::load(state.clone(), What::Newest, Reason::Requested).await;
    Ok(Some(json!({
        "exitCode": code,
        "output": tail,
        "status": status.ok().map(|s| status_json(&s)),
    })))
}

async fn clear(state: Arc<State>) -> Result<Option<Value>> {
    loader::cancel(&state, None);
    if let Ok(mut slot) = state.analysis.write() {
        *slot = None;
    }
    if let Ok(mut key) = state.loaded_key.lock() {
        *key = None;
    }
    publish::publish_all(&state).await;
    if state.support().code_lens_refresh {
        let _ = state.client.code_lens_refresh().await;
    }
    let status = Status {
        state: "idle".into(),
        findings: 0,
        retained_bytes: 0,
        message: "findings cleared".to_string(),
    };
    loader::send_status(&state, status.clone()).await;
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
    let Some(analysis) = state.analysis() else {
        return Err(Error::invalid_params("no analysis loaded yet"));
    };
    if let Some(id) = &finding {
        if analysis.finding(id).is_none() {
            return Err(Error::invalid_params(format!("no finding `{id}`")));
        }
    }
    let markdown = tokio::task::spawn_blocking(move || analysis.report_markdown())
        .await
        .map_err(|e| Error {
            code: ErrorCode::InternalError,
            message: e.to_string().into(),
            data: None,
        })?;
    let dir = state.snapshot_dir();
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
    if state.support().show_document {
        let _ = state
            .client
            .show_document(ShowDocumentParams {
                uri: uri.clone(),
                external: Some(false),
                take_focus: Some(true),
                selection: None,
            })
            .await;
    }
    Ok(Some(json!({ "uri": uri.as_str(), "markdown": markdown })))
}

fn status_json(status: &Status) -> Value {
    serde_json::to_value(status).unwrap_or(Value::Null)
}
