//! The store's errors.

use std::path::PathBuf;

/// What can go wrong between a capture folder and a bucket.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not a URL this build can reach.
    #[error("`{url}` is not an object storage URL (s3://bucket/prefix, gs://bucket/prefix or az://container/prefix): {why}")]
    BadUrl {
        /// The text given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The client could not be configured (credentials, region, endpoint).
    #[error("cannot set up the client for {url}: {source}")]
    Config {
        /// The location's URL.
        url: String,
        /// The client's error.
        source: object_store::Error,
    },
    /// A request to the bucket failed.
    #[error("{what} ({key}): {source}")]
    Request {
        /// What was being done.
        what: &'static str,
        /// The object's key.
        key: String,
        /// The client's error.
        source: object_store::Error,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Local {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The upload fell further behind the snapshot than the spill allows.
    #[error("the upload is slower than the snapshot: {backlog} bytes of {file} wait to be sent, over the spill limit of {limit} bytes (--spill-max); the capture was stopped and its uploads aborted")]
    SpillFull {
        /// The snapshot file.
        file: String,
        /// Bytes written locally and not yet uploaded.
        backlog: u64,
        /// The limit.
        limit: u64,
    },
    /// A snapshot file disappeared before it was complete (the capture failed).
    #[error("{file} was removed before it was complete")]
    Vanished {
        /// The snapshot file.
        file: String,
    },
    /// No capture under the prefix.
    #[error("no capture at {url}: no {manifest} under it (a capture that failed or is still running has none)", manifest = crate::MANIFEST_FILE)]
    NoCapture {
        /// The location's URL.
        url: String,
    },
    /// An object's key does not map to a file inside the cache folder.
    #[error("the object `{key}` does not name a file inside the capture's folder")]
    UnsafeKey {
        /// The key.
        key: String,
    },
    /// A background task ended abnormally.
    #[error("the upload task stopped: {0}")]
    Task(String),
}

/// The store's results.
pub type Result<T> = std::result::Result<T, StoreError>;
