//! `LineIndex` (UTF-16 / UTF-8 line-column ↔ byte offset) on arbitrary text. Beyond "no
//! panic", every conversion must round-trip: each char boundary's position converts back to
//! the same offset, offsets inside a character or past the end clamp, and any (line, column)
//! the exact converters accept names a position that converts back to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Invalid UTF-8 becomes U+FFFD: three bytes, one UTF-16 unit — a multi-byte case for free.
    let text = String::from_utf8_lossy(data);
    heapsight_fuzz::check_line_index(&text, data);
});
