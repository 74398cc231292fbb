//! `textDocument/codeAction`: quick fixes recomputed from the analysis and the document's
//! current text, each with the diagnostics it fixes (no `Diagnostic.data` needed back).

use tower_lsp_server::ls_types::{CodeActionKind, CodeActionParams, CodeActionResponse};

use crate::from_proto;
use crate::state::State;
use crate::to_proto::Converter;

/// Answers the request.
pub fn code_action(state: &State, params: CodeActionParams) -> Option<CodeActionResponse> {
    if let Some(only) = &params.context.only {
        if !only
            .iter()
            .any(|k| k.as_str().starts_with(CodeActionKind::QUICKFIX.as_str()))
        {
            return Some(Vec::new());
        }
    }
    let uri = params.text_document.uri;
    let path = from_proto::path(&uri).and_then(|p| state.workspace_path(&p))?;
    let analysis = state.analysis()?;
    let (text, _) = state.text(&path)?;
    let converter = Converter::new(&text, state.encoding());
    let range = from_proto::text_range(&converter.index, params.range, converter.encoding);
    let diagnostics = analysis.diagnostics(&path, &text);
    Some(
        analysis
            .code_actions(&path, &text, range)
            .iter()
            .map(|action| {
                let fixes = diagnostics
                    .iter()
                    .filter(|d| d.finding == action.finding)
                    .map(|d| converter.diagnostic(d, &uri))
                    .collect();
                converter.code_action(action, &uri, fixes)
            })
            .collect(),
    )
}
