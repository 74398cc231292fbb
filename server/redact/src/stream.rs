//! Redacting from a reader to a writer, a megabyte at a time: the form the command line and
//! the signal mode's collected files use.

use std::io::{ErrorKind, Read, Write};

use crate::{RedactError, RedactStats, Redactor};

/// Read size: large enough that per-chunk work does not show.
const CHUNK: usize = 1 << 20;

/// Redacts the snapshot read from `input` into `output` (flushed at the end).
pub fn redact(mut input: impl Read, mut output: impl Write) -> Result<RedactStats, RedactError> {
    let mut redactor = Redactor::new();
    let mut buf = vec![0; CHUNK];
    let mut out = Vec::with_capacity(CHUNK);
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(RedactError::Read(e)),
        };
        out.clear();
        redactor.feed(&buf[..n], &mut out)?;
        output.write_all(&out).map_err(RedactError::Write)?;
    }
    output.flush().map_err(RedactError::Write)?;
    redactor.finish()
}
