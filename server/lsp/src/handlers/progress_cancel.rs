//! `window/workDoneProgress/cancel`: the user pressed cancel on our progress, a load's or a
//! capture's.

use serde::Deserialize;
use tower_lsp_server::ls_types::NumberOrString;

use crate::capture;
use crate::loader;
use crate::state::State;

/// The notification's parameters.
#[derive(Debug, Deserialize)]
pub struct Params {
    /// The progress token.
    pub token: NumberOrString,
}

/// Cancels the load or the capture showing `token`.
pub fn cancel(state: &State, params: Params) {
    let token = match params.token {
        NumberOrString::String(s) => s,
        NumberOrString::Number(n) => n.to_string(),
    };
    if !capture::cancel(state, &token) {
        loader::cancel(state, Some(&token));
    }
}
