//! Why loading an analysis failed.

use std::path::PathBuf;

/// An error loading or analyzing snapshots.
#[derive(Debug, thiserror::Error)]
pub enum IdeError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// Which file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (report, manifest) is not in the expected shape.
    #[error("{}: {message}", path.display())]
    Json {
        /// Which file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Nothing to analyze where we looked.
    #[error("{0}")]
    NothingToLoad(String),
    /// The leak finder refused or failed.
    #[error("{0}")]
    Analysis(#[from] heapsight_leaks::LeakError),
    /// The load was cancelled.
    #[error("the analysis was cancelled")]
    Cancelled,
}

impl IdeError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> IdeError {
        let path = path.into();
        move |source| IdeError::Io { path, source }
    }
}
