//! heapsight-source: from where V8 says a leaking function lives to the statement a developer
//! should change. Parses JavaScript/TypeScript with tree-sitter (queries in `grammars/`), walks
//! from a function position to the call that registered it, finds a collection's growing calls,
//! builds quick-fix edits, maps script URLs to workspace files, follows source maps and keeps
//! positions right across edits made after the capture.
//!
//! Knows nothing of heap snapshots or LSP: positions in, byte ranges and text edits out.

mod call_site;
mod collections;
mod error;
mod feeds;
mod fixes;
mod language;
mod line_index;
mod line_map;
mod parsed;
mod paths;
mod queries;
mod scope;
mod site;
pub mod sourcemaps;
mod syntax;
mod text;

pub use call_site::{call_site_at_function, function_at};
pub use collections::{collection_sites, CollectionSites};
pub use error::SourceError;
pub use feeds::{binding_calls, calls_in_function, package_calls, BindingUse};
pub use fixes::{fixes, Fix, FixKind};
pub use language::Language;
pub use line_index::LineIndex;
pub use line_map::LineMap;
pub use parsed::ParsedFile;
pub use paths::{PathMapper, Resolved};
pub use queries::{compile_query, QUERY_FILES};
pub use site::{CallSite, SiteKind};
pub use text::{apply_edits, TextEdit, TextRange};
