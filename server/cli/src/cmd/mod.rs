//! One module per subcommand, plus the shared text formatting.

pub mod format;
pub mod stats;
