//! Errors of this crate: bad queries, unreadable or malformed source maps.

use std::path::PathBuf;

/// What can go wrong while loading queries or source maps.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A tree-sitter query in `grammars/` does not compile for a language.
    #[error("query {name} does not compile for {language}: {message}")]
    Query {
        /// The query file's name.
        name: String,
        /// The language it was compiled for.
        language: String,
        /// tree-sitter's description of the problem.
        message: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A source map is not valid.
    #[error("invalid source map {origin}: {message}")]
    SourceMap {
        /// Where the map came from (a path or "inline").
        origin: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file outside the workspace was asked for; we never read those.
    #[error("{0} is outside the workspace")]
    OutsideWorkspace(PathBuf),
}
