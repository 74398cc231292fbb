//! Typed errors for everything that can go wrong while reading a snapshot.
//!
//! Every variant says *what* is wrong and *where*: a byte offset into the file, or the
//! field / record that holds the bad value, so a user can look at the file and a fuzzer
//! crash can be traced back to its input.

use std::path::PathBuf;

/// A failure to read or interpret a `.heapsnapshot` file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not the JSON a heap snapshot is made of.
    #[error("malformed snapshot at byte {offset}: {what}")]
    Syntax {
        /// Byte offset of the offending character.
        offset: u64,
        /// What was expected or found.
        what: String,
    },
    /// The file ends before the snapshot does.
    #[error("truncated snapshot: the file ends at byte {offset}, inside {section}")]
    Truncated {
        /// The file's length.
        offset: u64,
        /// The part of the snapshot being read when the bytes ran out.
        section: &'static str,
    },
    /// The `snapshot.meta` header is missing something the reader needs.
    #[error("unusable snapshot header: {0}")]
    Meta(String),
    /// A count in the header disagrees with the arrays in the file.
    #[error("{what}: the header says {expected}, the file holds {actual}")]
    CountMismatch {
        /// Which count.
        what: &'static str,
        /// The header's value.
        expected: u64,
        /// What was read.
        actual: u64,
    },
    /// A value in a node or edge record is out of its allowed range.
    #[error("{record} {index}: field `{field}` has value {value}, {why}")]
    BadValue {
        /// `node`, `edge`, `location`, `trace function info` or `trace_tree node`.
        record: &'static str,
        /// Ordinal of the record.
        index: u64,
        /// Field name as `meta` calls it.
        field: &'static str,
        /// The offending value.
        value: u64,
        /// Why it is out of range.
        why: String,
    },
    /// Analyzing the snapshot would need more memory than is left (see [`crate::MemoryNeed`]).
    #[error(
        "analyzing it needs about {} MB of memory ({nodes} nodes, {edges} edges), more than the {} MB available ({budget})",
        needed / 1_000_000,
        available / 1_000_000
    )]
    NotEnoughMemory {
        /// Estimated peak bytes.
        needed: u64,
        /// Bytes left.
        available: u64,
        /// Nodes the header declares.
        nodes: u64,
        /// Edges the header declares.
        edges: u64,
        /// Where the available figure comes from.
        budget: String,
    },
    /// The caller asked the reader to stop.
    #[error("cancelled")]
    Cancelled,
}

impl SnapshotError {
    pub(crate) fn syntax(offset: u64, what: impl Into<String>) -> Self {
        SnapshotError::Syntax {
            offset,
            what: what.into(),
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = SnapshotError> = std::result::Result<T, E>;
