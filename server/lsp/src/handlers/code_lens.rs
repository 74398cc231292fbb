//! `textDocument/codeLens` above flagged statements, from the document's newest finished
//! placement (see `placing`).

use tower_lsp_server::ls_types::{CodeLens, CodeLensParams};

use crate::from_proto;
use crate::state::State;
use crate::to_proto::Converter;

/// Answers the request.
pub fn code_lens(state: &State, params: CodeLensParams) -> Option<Vec<CodeLens>> {
    let path =
        from_proto::path(&params.text_document.uri).and_then(|p| state.workspace_path(&p))?;
    let view = state.placing.view(state, &path)?;
    let converter = Converter::new(&view.current, state.encoding());
    Some(
        view.code_lenses()
            .iter()
            .map(|lens| converter.code_lens(lens))
            .collect(),
    )
}
