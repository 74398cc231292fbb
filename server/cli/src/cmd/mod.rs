//! One module per subcommand, plus the shared text formatting.

pub mod analyze;
pub mod bucket;
pub mod capture;
pub mod demo;
pub mod format;
pub mod lsp;
pub mod memory;
pub mod placement;
pub mod redact;
pub mod stats;
