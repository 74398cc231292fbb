//! `textDocument/hover` on a flagged range.

use tower_lsp_server::ls_types::{Hover, HoverParams};

use crate::from_proto;
use crate::state::State;
use crate::to_proto::Converter;

/// Answers the request.
pub fn hover(state: &State, params: HoverParams) -> Option<Hover> {
    let at = params.text_document_position_params;
    let path = from_proto::path(&at.text_document.uri).and_then(|p| state.workspace_path(&p))?;
    let analysis = state.analysis()?;
    let (text, _) = state.text(&path)?;
    let converter = Converter::new(&text, state.encoding());
    let offset = from_proto::offset(&converter.index, at.position, converter.encoding);
    let hover = analysis.hover(&path, &text, offset)?;
    Some(converter.hover(&hover))
}
