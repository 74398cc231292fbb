//! `textDocument/codeLens` above flagged statements.

use tower_lsp_server::ls_types::{CodeLens, CodeLensParams};

use crate::from_proto;
use crate::state::State;
use crate::to_proto::Converter;

/// Answers the request.
pub fn code_lens(state: &State, params: CodeLensParams) -> Option<Vec<CodeLens>> {
    let path =
        from_proto::path(&params.text_document.uri).and_then(|p| state.workspace_path(&p))?;
    let analysis = state.analysis()?;
    let (text, _) = state.text(&path)?;
    let converter = Converter::new(&text, state.encoding());
    Some(
        analysis
            .code_lenses(&path, &text)
            .iter()
            .map(|lens| converter.code_lens(lens))
            .collect(),
    )
}
