//! What can go wrong while redacting: the input is not a heap snapshot the redactor can
//! follow, or reading or writing failed. Every input error names the byte offset where it
//! was noticed, so a damaged capture can be looked at.

/// A redaction that could not be completed. The output written so far must be discarded.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// A byte that cannot appear at this place of a heap snapshot.
    #[error("unexpected {found} at byte {offset} ({expected})")]
    Unexpected {
        /// Offset of the byte in the input.
        offset: u64,
        /// The byte, printed readably.
        found: String,
        /// What the snapshot's layout calls for there.
        expected: &'static str,
    },
    /// The `snapshot` header is larger than any real one (it is read whole before `nodes`).
    #[error("the snapshot header is over {limit} bytes")]
    HeaderTooLarge {
        /// The largest header accepted.
        limit: usize,
    },
    /// The `snapshot` header is not the JSON the snapshot's meta must be.
    #[error("the snapshot header is not valid: {reason}")]
    Header {
        /// What is wrong with it.
        reason: String,
    },
    /// `nodes`, `edges`, `trace_function_infos` or `strings` came before the header that
    /// describes them, or `strings` before the `nodes` and `edges` that decide which of them
    /// are redacted.
    #[error("`{section}` at byte {offset} comes before {missing}")]
    OutOfOrder {
        /// The section met too early.
        section: &'static str,
        /// Where it starts.
        offset: u64,
        /// What should have come before it.
        missing: &'static str,
    },
    /// A number too large for 64 bits.
    #[error("number too large at byte {offset}")]
    NumberTooLarge {
        /// Where the number ends.
        offset: u64,
    },
    /// A section of records ended in the middle of one.
    #[error("`{section}` ends inside a record at byte {offset} ({fields} fields per record)")]
    PartialRecord {
        /// The section.
        section: &'static str,
        /// Where it ends.
        offset: u64,
        /// Fields per record, from the header.
        fields: usize,
    },
    /// A string index larger than the input read so far can justify (a snapshot's string
    /// table holds only strings its records name, in the order they are first named).
    #[error(
        "string index {index} at byte {offset} is beyond any string table this snapshot can have"
    )]
    StringIndexOutOfRange {
        /// The index.
        index: u64,
        /// Where it was read.
        offset: u64,
    },
    /// The input ended before the snapshot's closing `}`.
    #[error("the snapshot ends early, at byte {offset} ({inside})")]
    Truncated {
        /// Bytes read.
        offset: u64,
        /// Where the input stopped.
        inside: &'static str,
    },
    /// Reading the input failed.
    #[error("cannot read the snapshot")]
    Read(#[source] std::io::Error),
    /// Writing the redacted output failed.
    #[error("cannot write the redacted snapshot")]
    Write(#[source] std::io::Error),
}

/// A byte as it reads in a message: the character when printable, else its hex value.
pub(crate) fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("`{}`", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}
