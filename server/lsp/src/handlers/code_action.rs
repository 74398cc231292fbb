//! `textDocument/codeAction`: the quick fixes of the document's newest finished placement
//! (see `placing`), each with the diagnostics it fixes (no `Diagnostic.data` needed back).

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
    let view = state.placing.view(state, &path)?;
    let converter = Converter::new(&view.current, state.encoding());
    let range = from_proto::text_range(&converter.index, params.range, converter.encoding);
    Some(
        view.code_actions(range)
            .iter()
            .map(|(action, fixes)| {
                let fixes = fixes
                    .iter()
                    .map(|d| converter.diagnostic(d, &uri))
                    .collect();
                converter.code_action(action, &uri, fixes)
            })
            .collect(),
    )
}
