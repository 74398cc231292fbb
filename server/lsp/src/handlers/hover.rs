//! `textDocument/hover` on a flagged range, answered from the document's newest finished
//! placement (see `placing`).

use tower_lsp_server::ls_types::{Hover, HoverParams};

use crate::from_proto;
use crate::state::State;
use crate::to_proto::Converter;

/// Answers the request.
pub fn hover(state: &State, params: HoverParams) -> Option<Hover> {
    let at = params.text_document_position_params;
    let path = from_proto::path(&at.text_document.uri).and_then(|p| state.workspace_path(&p))?;
    let view = state.placing.view(state, &path)?;
    let converter = Converter::new(&view.current, state.encoding());
    let offset = from_proto::offset(&converter.index, at.position, converter.encoding);
    Some(converter.hover(&view.hover(offset)?))
}
