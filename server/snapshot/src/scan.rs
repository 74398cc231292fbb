//! Byte-level scanning: the top-level structure, the number arrays and the string array.
//!
//! The number arrays are most of a snapshot (edges ~60% of the bytes, nodes ~35%), so they
//! are parsed by a hand-written digit scanner straight into typed columns, one block at a
//! time: no JSON value tree, no intermediate `Vec<u64>` of the whole array. The top-level
//! keys are found with `memchr` for `"`, which the number arrays never contain; that lets a
//! second thread find the `edges` array and start on it while the first parses `nodes`.

use crate::error::{Result, SnapshotError};
use crate::source::{for_each_block, ByteSource, BLOCK};

/// Receives the numbers of one array, in order.
pub(crate) trait Sink {
    /// Take the next number.
    fn push(&mut self, value: u64) -> Result<()>;
    /// Take the next numbers (a sink of records takes whole records at once).
    #[inline(always)]
    fn push_many(&mut self, values: &[u64]) -> Result<()> {
        for &v in values {
            self.push(v)?;
        }
        Ok(())
    }
    /// The fields of its records the sink reads: `(record width, bit per wanted field,
    /// field of the next number)`. Numbers of other fields are still checked for form but
    /// may be passed as 0 instead of being converted: the id scans read one field in seven.
    /// The default, every number, costs nothing per number once inlined; tracking fields
    /// costs a few instructions each, so only sinks that skip most of them ask for it.
    #[inline(always)]
    fn wanted(&self) -> Wanted {
        Wanted::ALL
    }
}

/// Feeds `values` to a record sink: field by field until a record boundary, then whole
/// records, then the start of the next record field by field again.
#[inline(always)]
pub(crate) fn push_records<S: Sink>(
    sink: &mut S,
    values: &[u64],
    field: impl Fn(&S) -> usize,
    width: impl Fn(&S) -> usize,
    record: impl Fn(&mut S, &[u64]) -> Result<()>,
) -> Result<()> {
    let mut rest = values;
    while field(sink) != 0 {
        let Some((&v, tail)) = rest.split_first() else {
            return Ok(());
        };
        sink.push(v)?;
        rest = tail;
    }
    let mut records = rest.chunks_exact(width(sink));
    for r in &mut records {
        record(sink, r)?;
    }
    for &v in records.remainder() {
        sink.push(v)?;
    }
    Ok(())
}

/// Which fields of fixed-width records a [`Sink`] reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wanted {
    /// Numbers per record.
    pub(crate) width: u32,
    /// Bit `f` set: field `f` is read.
    pub(crate) fields: u64,
    /// The field the next number belongs to.
    pub(crate) next: u32,
}

impl Wanted {
    /// Every number is read.
    pub(crate) const ALL: Wanted = Wanted {
        width: 1,
        fields: 1,
        next: 0,
    };

    /// The same fields, the next number being of field `field`.
    #[inline(always)]
    pub(crate) fn at(self, field: usize) -> Wanted {
        Wanted {
            next: if self.width == 1 { 0 } else { field as u32 },
            ..self
        }
    }
}

/// A closure sink over whole records of `width` numbers that reads only the fields at
/// the positions given (the others reach it as 0): the baseline and id scans, which want
/// a few fields of each node and no per-number bookkeeping.
pub(crate) struct RecordSink<F: FnMut(&[u64]) -> Result<()>> {
    on_record: F,
    record: Vec<u64>,
    filled: usize,
    wanted: Wanted,
}

impl<F: FnMut(&[u64]) -> Result<()>> RecordSink<F> {
    /// A sink for records of `width` numbers (at least 1) reading the fields at `read`.
    pub(crate) fn new(on_record: F, width: usize, read: &[usize]) -> Self {
        let width = width.max(1);
        let wanted = match u32::try_from(width) {
            Ok(w) if w <= 64 => Wanted {
                width: w,
                fields: read.iter().fold(0u64, |m, &f| m | 1u64 << (f % 64)),
                next: 0,
            },
            _ => Wanted::ALL,
        };
        RecordSink {
            on_record,
            record: vec![0; width],
            filled: 0,
            wanted,
        }
    }

    /// Whether the numbers so far end inside a record.
    pub(crate) fn partial(&self) -> bool {
        self.filled != 0
    }
}

impl<F: FnMut(&[u64]) -> Result<()>> Sink for RecordSink<F> {
    #[inline(always)]
    fn push(&mut self, value: u64) -> Result<()> {
        self.record[self.filled] = value;
        self.filled += 1;
        if self.filled == self.record.len() {
            self.filled = 0;
            (self.on_record)(&self.record)?;
        }
        Ok(())
    }

    #[inline(always)]
    fn push_many(&mut self, values: &[u64]) -> Result<()> {
        push_records(
            self,
            values,
            |s| s.filled,
            |s| s.record.len(),
            |s, r| (s.on_record)(r),
        )
    }

    #[inline(always)]
    fn wanted(&self) -> Wanted {
        self.wanted.at(self.filled)
    }
}

fn io_err(e: std::io::Error) -> SnapshotError {
    SnapshotError::Io {
        path: "<snapshot>".into(),
        source: e,
    }
}

impl From<std::io::Error> for SnapshotError {
    fn from(e: std::io::Error) -> Self {
        io_err(e)
    }
}

#[inline(always)]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// Reads the first bytes and returns the `[start, end)` range of the `snapshot` object's
/// JSON text plus the offset just after it.
pub(crate) fn find_header(src: &dyn ByteSource) -> Result<(u64, u64)> {
    const LIMIT: u64 = 64 << 20;
    let len = src.len();
    if len == 0 {
        return Err(SnapshotError::Truncated {
            offset: 0,
            section: "the header (the file is empty)",
        });
    }
    let mut buf = vec![0u8; (len.min(1 << 20)) as usize];
    loop {
        let n = src.read_at(&mut buf, 0)?;
        buf.truncate(n);
        match header_bounds(&buf)? {
            Some(range) => return Ok(range),
            None if (buf.len() as u64) < len && (buf.len() as u64) < LIMIT => {
                let grow = (buf.len() as u64 * 4).min(len).min(LIMIT);
                buf.resize(grow as usize, 0);
            }
            None if (buf.len() as u64) >= len => {
                return Err(SnapshotError::Truncated {
                    offset: len,
                    section: "the `snapshot` header",
                })
            }
            None => {
                return Err(SnapshotError::Meta(
                    "the header is larger than 64 MiB".into(),
                ))
            }
        }
    }
}

/// Finds `{"snapshot": {...}` in `buf`; `None` when `buf` ends first.
fn header_bounds(buf: &[u8]) -> Result<Option<(u64, u64)>> {
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < buf.len() && is_ws(buf[*i]) {
            *i += 1;
        }
    };
    if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
        i = 3;
    }
    skip_ws(&mut i);
    let Some(&b) = buf.get(i) else {
        return Ok(None);
    };
    if b != b'{' {
        return Err(SnapshotError::syntax(
            i as u64,
            format!("expected `{{`, found {}", show(b)),
        ));
    }
    i += 1;
    skip_ws(&mut i);
    const KEY: &[u8] = b"\"snapshot\"";
    if buf.len() < i + KEY.len() {
        return Ok(None);
    }
    if &buf[i..i + KEY.len()] != KEY {
        return Err(SnapshotError::syntax(
            i as u64,
            "expected the `snapshot` key first",
        ));
    }
    i += KEY.len();
    skip_ws(&mut i);
    match buf.get(i) {
        None => return Ok(None),
        Some(b':') => i += 1,
        Some(&b) => {
            return Err(SnapshotError::syntax(
                i as u64,
                format!("expected `:`, found {}", show(b)),
            ))
        }
    }
    skip_ws(&mut i);
    match buf.get(i) {
        None => return Ok(None),
        Some(b'{') => {}
        Some(&b) => {
            return Err(SnapshotError::syntax(
                i as u64,
                format!("expected `{{`, found {}", show(b)),
            ))
        }
    }
    let start = i;
    let mut depth = 0u32;
    let mut in_str = false;
    let mut escaped = false;
    while i < buf.len() {
        let b = buf[i];
        if in_str {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else {
            match b {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(Some((start as u64, i as u64 + 1)));
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    Ok(None)
}

pub(crate) fn show(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("`{}`", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

/// A top-level key and where its array value starts.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub name: String,
    /// Offset just after the value's `[`.
    pub value_start: u64,
}

/// From `pos` (just after a previous value), reads `, "key" : [` and returns the key,
/// or `None` at the closing `}` of the top-level object.
pub(crate) fn read_key(src: &dyn ByteSource, pos: u64) -> Result<Option<Key>> {
    let mut buf = [0u8; 256];
    let n = src.read_at(&mut buf, pos)?;
    let buf = &buf[..n];
    let mut i = 0;
    let eof = |section| SnapshotError::Truncated {
        offset: src.len(),
        section,
    };
    while i < buf.len() && is_ws(buf[i]) {
        i += 1;
    }
    match buf.get(i) {
        None => return Err(eof("the top-level object (no closing `}`)")),
        Some(b'}') => return Ok(None),
        Some(b',') => i += 1,
        Some(&b) => {
            return Err(SnapshotError::syntax(
                pos + i as u64,
                format!("expected `,` or `}}`, found {}", show(b)),
            ))
        }
    }
    while i < buf.len() && is_ws(buf[i]) {
        i += 1;
    }
    match buf.get(i) {
        None => return Err(eof("a top-level key")),
        Some(b'"') => i += 1,
        Some(&b) => {
            return Err(SnapshotError::syntax(
                pos + i as u64,
                format!("expected a key, found {}", show(b)),
            ))
        }
    }
    let name_start = i;
    while i < buf.len() && buf[i] != b'"' {
        if buf[i] == b'\\' || buf[i] < 0x20 {
            return Err(SnapshotError::syntax(
                pos + i as u64,
                "unexpected character in a top-level key",
            ));
        }
        i += 1;
    }
    if i >= buf.len() {
        return Err(if n < 256 {
            eof("a top-level key")
        } else {
            SnapshotError::syntax(
                pos + name_start as u64,
                "top-level key longer than 200 bytes",
            )
        });
    }
    let name = String::from_utf8_lossy(&buf[name_start..i]).into_owned();
    i += 1;
    while i < buf.len() && is_ws(buf[i]) {
        i += 1;
    }
    match buf.get(i) {
        None => return Err(eof("a top-level key")),
        Some(b':') => i += 1,
        Some(&b) => {
            return Err(SnapshotError::syntax(
                pos + i as u64,
                format!("expected `:` after \"{name}\", found {}", show(b)),
            ))
        }
    }
    while i < buf.len() && is_ws(buf[i]) {
        i += 1;
    }
    match buf.get(i) {
        None => Err(eof("a top-level key")),
        Some(b'[') => Ok(Some(Key {
            name,
            value_start: pos + i as u64 + 1,
        })),
        Some(&b) => Err(SnapshotError::syntax(
            pos + i as u64,
            format!("expected `[` as the value of \"{name}\", found {}", show(b)),
        )),
    }
}

/// The last top-level key `name` of the file, searched from its end and not before
/// `not_before`: V8 writes `strings` last, so the thread that parses `nodes` can go
/// straight to it while the other reads everything between. `None` when no such key is
/// found (the caller then walks the keys forward). The caller checks the answer against
/// the forward walk: a key-like pattern inside a hostile file is never trusted alone.
pub(crate) fn find_last_key(
    src: &dyn ByteSource,
    name: &str,
    not_before: u64,
    keep_going: impl FnMut() -> Result<()>,
) -> Result<Option<Key>> {
    find_last_key_in(src, name, not_before..src.len(), keep_going)
}

/// [`find_last_key`] with the key's quote inside `within` (searched from its end).
pub(crate) fn find_last_key_in(
    src: &dyn ByteSource,
    name: &str,
    within: std::ops::Range<u64>,
    mut keep_going: impl FnMut() -> Result<()>,
) -> Result<Option<Key>> {
    let not_before = within.start;
    let pattern = format!("\"{name}\"");
    // The forward finder, block by block, latest match first: `FinderRev` has no SIMD
    // prefilter (the whole search through the 103 MB strings section of a 1 GB snapshot,
    // reads included: 55-70 ms with it, 20-24 ms this way).
    let finder = memchr::memmem::Finder::new(pattern.as_bytes());
    let mut found: Vec<usize> = Vec::new();
    let mut end = within.end.min(src.len());
    if end <= not_before {
        return Ok(None);
    }
    let region = end - not_before;
    let mut buf = vec![0u8; (BLOCK as u64).min(region).max(1) as usize];
    let window = buf.len() as u64;
    loop {
        // Stops when the other thread has failed: its error is the one to report.
        keep_going()?;
        let start = end.saturating_sub(window).max(not_before);
        let n = src.read_at(&mut buf[..(end - start) as usize], start)?;
        let block = &buf[..n];
        found.clear();
        found.extend(finder.find_iter(block));
        for &at in found.iter().rev() {
            let before = &block[..at];
            // After an odd run of backslashes the quote is escaped: inside a string.
            let backslashes = before.iter().rev().take_while(|&&b| b == b'\\').count();
            let separator = before.iter().rposition(|&b| !is_ws(b));
            if let (0, Some(comma)) = (backslashes % 2, separator) {
                if before[comma] == b',' {
                    if let Ok(Some(key)) = read_key(src, start + comma as u64) {
                        if key.name == name {
                            return Ok(Some(key));
                        }
                    }
                }
            }
        }
        if start == not_before {
            return Ok(None);
        }
        // The next window overlaps this one, so a key across the boundary is seen whole.
        end = start + (pattern.len() as u64 - 1).min(end - start - 1);
    }
}

/// Skips an array of numbers (possibly nested, as `trace_tree` is) by looking for the next
/// `"`, which only a following key can hold. Returns the offset just after the array's `]`.
pub(crate) fn skip_number_array(
    src: &dyn ByteSource,
    value_start: u64,
    section: &'static str,
) -> Result<u64> {
    let mut quote = None;
    for_each_block(src, value_start, src.len(), |block, base| {
        let found = memchr::memchr(b'"', block);
        // Sampled, not validated: `memchr` is what makes skipping most of the file cheap.
        // A byte no number array holds at either edge of a block (a sparse file's hole of
        // zeros, binary junk) ends the skip there instead of after the whole file.
        let skipped = &block[..found.unwrap_or(block.len())];
        for at in [0, skipped.len().saturating_sub(1)] {
            match skipped.get(at) {
                Some(&b) if !is_number_array_byte(b) => {
                    return Err(SnapshotError::syntax(
                        base + at as u64,
                        format!("unexpected {} in {section}", show(b)),
                    ))
                }
                _ => {}
            }
        }
        if let Some(i) = found {
            quote = Some(base + i as u64);
            return Ok(true);
        }
        Ok(false)
    })?;
    let Some(quote) = quote else {
        return Err(SnapshotError::Truncated {
            offset: src.len(),
            section,
        });
    };
    // Between the array's `]` and the next key's `"` there is only `,` and white space.
    let back = quote.saturating_sub(value_start).min(4096);
    let mut tail = vec![0u8; back as usize];
    let n = src.read_at(&mut tail, quote - back)?;
    tail.truncate(n);
    let mut i = tail.len();
    let mut seen_comma = false;
    while i > 0 {
        i -= 1;
        match tail[i] {
            b if is_ws(b) => {}
            b',' if !seen_comma => seen_comma = true,
            b']' if seen_comma => return Ok(quote - back + i as u64 + 1),
            b => {
                return Err(SnapshotError::syntax(
                    quote - back + i as u64,
                    format!("unexpected {} in {section}", show(b)),
                ))
            }
        }
    }
    Err(SnapshotError::syntax(
        quote,
        format!("unexpected `\"` in {section}"),
    ))
}

/// Whether `b` can be part of an array of numbers (nested, as `trace_tree` is).
fn is_number_array_byte(b: u8) -> bool {
    matches!(
        b,
        b'0'..=b'9' | b',' | b'[' | b']' | b'-' | b'+' | b'.' | b'e' | b'E'
    ) || is_ws(b)
}

/// Parses an array of non-negative integers starting just after its `[`, pushing each into
/// `sink`; returns the offset just after the closing `]`.
pub(crate) fn parse_numbers<S: Sink>(
    src: &dyn ByteSource,
    value_start: u64,
    section: &'static str,
    sink: &mut S,
    mut progress: impl FnMut(u64) -> Result<()>,
) -> Result<u64> {
    let mut st = NumberState::default();
    let mut end = None;
    for_each_block(src, value_start, src.len(), |block, base| {
        let r = st.feed(block, base, sink)?;
        progress(block.len() as u64)?;
        if let Some(close) = r {
            end = Some(close + 1);
            return Ok::<bool, SnapshotError>(true);
        }
        Ok(false)
    })?;
    end.ok_or(SnapshotError::Truncated {
        offset: src.len(),
        section,
    })
}

/// Receives the tokens of a nested array of numbers (`trace_tree`), in order. The outer
/// array's own brackets are not passed on.
pub(crate) trait NestedSink {
    /// An inner array opens (`offset`: its `[`).
    fn open(&mut self, offset: u64) -> Result<()>;
    /// The innermost open array closes (`offset`: its `]`).
    fn close(&mut self, offset: u64) -> Result<()>;
    /// The next number (`offset`: its first digit).
    fn number(&mut self, value: u64, offset: u64) -> Result<()>;
}

/// Parses a nested array of non-negative integers (`trace_tree`) starting just after its
/// `[`, byte by byte (the section is small next to `nodes` and `edges`), passing each
/// bracket and number to `sink`; returns the offset just after the outer `]`. The nesting
/// is a counter, not recursion: a hostile file may nest as deep as its bytes allow.
pub(crate) fn parse_nested_numbers(
    src: &dyn ByteSource,
    value_start: u64,
    section: &'static str,
    sink: &mut dyn NestedSink,
) -> Result<u64> {
    let mut depth = 0u64;
    // The number being read: its value, digits so far, and where it began.
    let (mut acc, mut digits, mut number_at) = (0u64, 0u32, 0u64);
    // A value (number or inner array) ended and no comma has followed it yet.
    let mut need_comma = false;
    // A comma was the last token.
    let mut after_comma = false;
    let mut end = None;
    for_each_block(src, value_start, src.len(), |block, base| {
        for (i, &b) in block.iter().enumerate() {
            let at = base + i as u64;
            if b.is_ascii_digit() {
                if digits == 0 {
                    if need_comma {
                        return Err(SnapshotError::syntax(at, "expected `,` between values"));
                    }
                    number_at = at;
                }
                digits += 1;
                if digits > 19 {
                    return Err(SnapshotError::syntax(
                        number_at,
                        "number too large (more than 19 digits)",
                    ));
                }
                acc = acc * 10 + u64::from(b - b'0');
                continue;
            }
            if digits != 0 {
                sink.number(acc, number_at)?;
                (acc, digits) = (0, 0);
                need_comma = true;
                after_comma = false;
            }
            match b {
                b' ' | b'\n' | b'\r' | b'\t' => {}
                b',' => {
                    if !need_comma {
                        return Err(SnapshotError::syntax(at, "unexpected `,`"));
                    }
                    need_comma = false;
                    after_comma = true;
                }
                b'[' => {
                    if need_comma {
                        return Err(SnapshotError::syntax(at, "expected `,` before `[`"));
                    }
                    depth += 1;
                    sink.open(at)?;
                    after_comma = false;
                }
                b']' => {
                    if after_comma {
                        return Err(SnapshotError::syntax(at, "`]` after a trailing `,`"));
                    }
                    if depth == 0 {
                        end = Some(at + 1);
                        return Ok(true);
                    }
                    depth -= 1;
                    sink.close(at)?;
                    need_comma = true;
                }
                b'-' => {
                    return Err(SnapshotError::syntax(
                        at,
                        format!("negative number in {section}"),
                    ))
                }
                b'.' | b'e' | b'E' => {
                    return Err(SnapshotError::syntax(
                        at,
                        format!("fractional number in {section}"),
                    ))
                }
                b => {
                    return Err(SnapshotError::syntax(
                        at,
                        format!("unexpected {} in {section}", show(b)),
                    ))
                }
            }
        }
        Ok(false)
    })?;
    end.ok_or(SnapshotError::Truncated {
        offset: src.len(),
        section,
    })
}

/// Scanner state carried across block boundaries.
#[derive(Default)]
struct NumberState {
    acc: u64,
    digits: u32,
    /// A number ended and no comma has followed it yet.
    need_comma: bool,
    /// A comma was the last token (so `]` now would be a trailing comma).
    after_comma: bool,
}

impl NumberState {
    /// Consumes `block`; returns the absolute offset of the closing `]` if it is inside.
    #[inline(never)]
    fn feed<S: Sink>(&mut self, block: &[u8], base: u64, sink: &mut S) -> Result<Option<u64>> {
        let n = block.len();
        let mut i = 0;
        let mut need_comma = self.need_comma;
        let mut after_comma = self.after_comma;
        // A number cut by the previous block's end continues here.
        if self.digits != 0 {
            let (acc, len) = scalar_digits(block, 0, self.acc);
            i = len;
            self.digits += len as u32;
            if i == n {
                self.acc = acc;
                return Ok(None);
            }
            if self.digits > 19 {
                return Err(SnapshotError::syntax(
                    base + i as u64,
                    "number too large (more than 19 digits)",
                ));
            }
            sink.push(acc)?;
            self.acc = 0;
            self.digits = 0;
            need_comma = true;
            after_comma = false;
        }
        loop {
            // Separators up to the next number.
            let b = loop {
                let Some(&b) = block.get(i) else {
                    self.need_comma = need_comma;
                    self.after_comma = after_comma;
                    return Ok(None);
                };
                match b {
                    b',' => {
                        if !need_comma {
                            return Err(SnapshotError::syntax(base + i as u64, "unexpected `,`"));
                        }
                        need_comma = false;
                        after_comma = true;
                    }
                    b' ' | b'\n' | b'\r' | b'\t' => {}
                    b'0'..=b'9' => break b,
                    b']' => {
                        if after_comma {
                            return Err(SnapshotError::syntax(
                                base + i as u64,
                                "`]` after a trailing `,`",
                            ));
                        }
                        return Ok(Some(base + i as u64));
                    }
                    b'-' => {
                        return Err(SnapshotError::syntax(
                            base + i as u64,
                            "negative number where a count, id or index belongs",
                        ))
                    }
                    b'.' | b'e' | b'E' => {
                        return Err(SnapshotError::syntax(
                            base + i as u64,
                            "fractional number where an integer belongs",
                        ))
                    }
                    b => {
                        return Err(SnapshotError::syntax(
                            base + i as u64,
                            format!("unexpected {} in a number array", show(b)),
                        ))
                    }
                }
                i += 1;
            };
            let _ = b;
            if need_comma {
                return Err(SnapshotError::syntax(
                    base + i as u64,
                    "expected `,` between numbers",
                ));
            }
            if i + WINDOW_READ <= n {
                let done = window(block[i..i + WINDOW_READ].try_into().ok(), sink)?;
                if done > 0 {
                    // Stopped at a number's first digit, just after a comma.
                    i += done;
                    after_comma = true;
                    continue;
                }
            }
            let start = i;
            let value = match swar_digits(block, i) {
                Some((v, len)) => {
                    i += len;
                    v
                }
                None => {
                    let (v, len) = scalar_digits(block, i, 0);
                    i += len;
                    if i == n {
                        // The number may go on in the next block.
                        self.acc = v;
                        self.digits = (i - start) as u32;
                        self.need_comma = false;
                        self.after_comma = false;
                        return Ok(None);
                    }
                    if i - start > 19 {
                        return Err(SnapshotError::syntax(
                            base + start as u64,
                            "number too large (more than 19 digits)",
                        ));
                    }
                    v
                }
            };
            sink.push(value)?;
            need_comma = true;
            after_comma = false;
        }
    }
}

/// Bytes a window classifies at once.
const WINDOW: usize = 64;
/// Bytes a window reads: a number starting in its last bytes may run 16 digits on.
const WINDOW_READ: usize = WINDOW + 16;

const LOW_NIBBLES: u64 = 0x0F0F_0F0F_0F0F_0F0F;
#[cfg(any(test, not(target_arch = "x86_64")))]
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
#[cfg(any(test, not(target_arch = "x86_64")))]
const LOW_SEVEN: u64 = 0x7F7F_7F7F_7F7F_7F7F;

#[cfg(any(test, not(target_arch = "x86_64")))]
/// Each byte's high bit gathered into one bit per byte, byte `k` to bit `k`.
#[inline(always)]
fn byte_mask(high_bits: u64) -> u64 {
    (high_bits & HIGH_BITS).wrapping_mul(0x0002_0408_1020_4081) >> 56
}

#[cfg(any(test, not(target_arch = "x86_64")))]
/// High bit set in each byte of `word` equal to `byte`, exactly (no carries across bytes).
#[inline(always)]
fn bytes_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (u64::from(byte) * 0x0101_0101_0101_0101);
    !(((x & LOW_SEVEN) + LOW_SEVEN) | x) & HIGH_BITS
}

#[cfg(any(test, not(target_arch = "x86_64")))]
/// High bit set in each byte of `word` that is an ASCII digit, exactly.
#[inline(always)]
fn bytes_digit(word: u64) -> u64 {
    let x = word ^ 0x3030_3030_3030_3030;
    !(((x & LOW_SEVEN) + 0x7676_7676_7676_7676) | x) & HIGH_BITS
}

/// The value of the `len` (1 to 8) ASCII digits at the start of `word` (little endian).
#[inline(always)]
fn digits_value(word: u64, len: usize) -> u64 {
    // Move the digits to the top bytes (lower bytes become leading zeros), then combine
    // pairs, quads and octets of digits with three multiplications.
    let digits = (word & LOW_NIBBLES) << (8 * (8 - len as u32));
    let v = (digits & 0x0F00_0F00_0F00_0F00) >> 8;
    let v = v + (digits & 0x000F_000F_000F_000F) * 10;
    let w = (v & 0x00FF_0000_00FF_0000) >> 16;
    let w = w + (v & 0x0000_00FF_0000_00FF) * 100;
    let x = (w & 0x0000_FFFF_0000_0000) >> 32;
    x + (w & 0x0000_0000_0000_FFFF) * 10_000
}

const POWERS_OF_TEN: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// Bit `k` of each mask: whether byte `k` of the window is a digit, a comma, a newline.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify(bytes: &[u8; WINDOW_READ]) -> (u64, u64, u64) {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_loadu_si128,
        _mm_movemask_epi8, _mm_set1_epi8,
    };
    let (mut digit, mut comma, mut newline) = (0u64, 0u64, 0u64);
    for k in 0..WINDOW / 16 {
        let chunk: &[u8; 16] = bytes[16 * k..16 * k + 16].try_into().unwrap_or(&[0; 16]);
        // SAFETY: SSE2 is part of x86_64 itself, so these instructions always exist;
        // `chunk` is 16 readable bytes and `loadu` has no alignment requirement.
        let (d, c, n) = unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            // Digits are 0x30..=0x39, positive as signed bytes; bytes >= 0x80 are negative.
            let is_digit = _mm_and_si128(
                _mm_cmpgt_epi8(v, _mm_set1_epi8(b'0' as i8 - 1)),
                _mm_cmplt_epi8(v, _mm_set1_epi8(b'9' as i8 + 1)),
            );
            (
                _mm_movemask_epi8(is_digit),
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b',' as i8))),
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8))),
            )
        };
        let lane = |m: i32| u64::from(m as u16) << (16 * k);
        digit |= lane(d);
        comma |= lane(c);
        newline |= lane(n);
    }
    (digit, comma, newline)
}

/// Bit `k` of each mask: whether byte `k` of the window is a digit, a comma, a newline
/// (eight bytes at a time in a `u64`, where SSE2 is not there).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn classify(bytes: &[u8; WINDOW_READ]) -> (u64, u64, u64) {
    classify_swar(bytes)
}

/// [`classify`] without SIMD instructions (tested against the SSE2 one).
#[cfg(any(test, not(target_arch = "x86_64")))]
#[inline(always)]
fn classify_swar(bytes: &[u8; WINDOW_READ]) -> (u64, u64, u64) {
    let (mut digit, mut comma, mut newline) = (0u64, 0u64, 0u64);
    for k in 0..WINDOW / 8 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[8 * k..8 * k + 8]);
        let w = u64::from_le_bytes(w);
        digit |= byte_mask(bytes_digit(w)) << (8 * k);
        comma |= byte_mask(bytes_equal(w, b',')) << (8 * k);
        newline |= byte_mask(bytes_equal(w, b'\n')) << (8 * k);
    }
    (digit, comma, newline)
}

/// Parses the numbers of a 64-byte window that starts at a number's first digit, when the
/// bytes between them are exactly what V8 writes (`,` or `\n,`); returns how many bytes it
/// consumed, ending at the first digit of the number it left for the next window (0 when
/// the window is not in that form, and the exact scalar path takes over).
///
/// Classifying all 64 bytes first into digit, comma and newline masks is what makes this
/// fast: every number's start and length are known from the masks, so converting one
/// number does not wait for the previous one to be found, as a byte-by-byte scan must.
#[inline(always)]
fn window<S: Sink>(bytes: Option<&[u8; WINDOW_READ]>, sink: &mut S) -> Result<usize> {
    let Some(bytes) = bytes else {
        return Ok(0);
    };
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let (digit, comma, newline) = classify(bytes);
    let starts = digit & !(digit << 1);
    if starts.count_ones() < 2 {
        return Ok(0);
    }
    // The last number may run past the window: it is left for the next one, and
    // everything before its first digit is checked.
    let last = 63 - starts.leading_zeros();
    let before = (1u64 << last) - 1;
    let through = before | (1u64 << last);
    let run_ends = digit & !(digit >> 1);
    let well_formed = !(digit | comma | newline) & before == 0
        && (comma << 1) & !digit & through == 0
        && (newline << 1) & !comma & through == 0
        && (run_ends << 1) & !(comma | newline) & through == 0;
    if !well_formed {
        return Ok(0);
    }
    let mut values = [0u64; WINDOW / 2];
    let mut count = 0;
    let mut pending = starts & before;
    let Wanted {
        width,
        fields,
        next: mut field,
    } = sink.wanted();
    while pending != 0 {
        let at = pending.trailing_zeros() as usize;
        pending &= pending - 1;
        let len = (!(digit >> at)).trailing_zeros() as usize;
        let wanted = fields >> field & 1 == 1;
        field += 1;
        if field == width {
            field = 0;
        }
        values[count] = if !wanted && len <= 16 {
            0
        } else if len <= 8 {
            digits_value(word(at), len)
        } else if len <= 16 {
            digits_value(word(at), 8) * POWERS_OF_TEN[len - 8] + digits_value(word(at + 8), len - 8)
        } else {
            // Long numbers (and their errors) are the scalar path's.
            sink.push_many(&values[..count])?;
            return Ok(at);
        };
        count += 1;
    }
    sink.push_many(&values[..count])?;
    Ok(last as usize)
}

/// Accumulates the digits at `block[i..]` onto `acc`; returns the value and how many.
#[inline(always)]
fn scalar_digits(block: &[u8], mut i: usize, mut acc: u64) -> (u64, usize) {
    let start = i;
    while let Some(&b) = block.get(i) {
        let d = b.wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        acc = acc.wrapping_mul(10).wrapping_add(d as u64);
        i += 1;
    }
    (acc, i - start)
}

/// Parses a number of 1 to 7 digits followed by a non-digit, eight bytes at a time;
/// `None` when fewer than eight bytes remain or the number is longer.
#[inline(always)]
fn swar_digits(block: &[u8], i: usize) -> Option<(u64, usize)> {
    let bytes: [u8; 8] = block.get(i..i + 8)?.try_into().ok()?;
    let word = u64::from_le_bytes(bytes);
    // A byte is a digit iff its high nibble is 3 both before and after adding 6.
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    let a = (word & HIGH) ^ THREES;
    let b = (word.wrapping_add(0x0606_0606_0606_0606) & HIGH) ^ THREES;
    let non_digit = a | b;
    if non_digit == 0 {
        return None;
    }
    let len = (non_digit.trailing_zeros() / 8) as usize;
    // Move the digits to the top bytes (lower bytes become leading zeros), then combine
    // pairs, quads and octets of digits with three multiplications.
    let digits = (word & 0x0F0F_0F0F_0F0F_0F0F) << (8 * (8 - len as u32) % 64);
    let digits = if len == 0 { 0 } else { digits };
    let v = (digits & 0x0F00_0F00_0F00_0F00) >> 8;
    let v = v + (digits & 0x000F_000F_000F_000F) * 10;
    let w = (v & 0x00FF_0000_00FF_0000) >> 16;
    let w = w + (v & 0x0000_00FF_0000_00FF) * 100;
    let x = (w & 0x0000_FFFF_0000_0000) >> 32;
    let x = x + (w & 0x0000_0000_0000_FFFF) * 10_000;
    Some((x, len))
}

#[cfg(test)]
mod number_tests {
    use super::*;

    struct Collect(Vec<u64>);
    impl Sink for Collect {
        fn push(&mut self, v: u64) -> Result<()> {
            self.0.push(v);
            Ok(())
        }
    }

    /// Parses `text` split into blocks of every size from 1 to its length.
    fn check(text: &str, expected: &[u64]) {
        for block in 1..=text.len() {
            let mut st = NumberState::default();
            let mut out = Collect(Vec::new());
            let mut end = None;
            for (k, chunk) in text.as_bytes().chunks(block).enumerate() {
                if let Some(e) = st
                    .feed(chunk, (k * block) as u64, &mut out)
                    .expect("parses")
                {
                    end = Some(e);
                    break;
                }
            }
            assert_eq!(out.0, expected, "block size {block}");
            assert_eq!(end, Some(text.len() as u64 - 1), "block size {block}");
        }
    }

    #[test]
    fn numbers_of_every_length_across_block_boundaries() {
        check(
            "0,1,22,333,4444,55555,666666,7777777,88888888,999999999,12345678901234567890]"
                .replace("12345678901234567890", "1234567890123456789")
                .as_str(),
            &[
                0,
                1,
                22,
                333,
                4444,
                55555,
                666666,
                7777777,
                88888888,
                999999999,
                1234567890123456789,
            ],
        );
        check(" 7 ,\n 8,\r\n9\t]", &[7, 8, 9]);
        check("]", &[]);
        check("9999999999999999999]", &[9_999_999_999_999_999_999]);
    }

    /// Parses `text` in blocks of `block` bytes: the result, or the error as text.
    fn parse_in_blocks(text: &[u8], block: usize) -> std::result::Result<(Vec<u64>, u64), String> {
        let mut st = NumberState::default();
        let mut out = Collect(Vec::new());
        for (k, chunk) in text.chunks(block).enumerate() {
            match st.feed(chunk, (k * block) as u64, &mut out) {
                Ok(Some(end)) => return Ok((out.0, end)),
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("truncated".into())
    }

    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A number array as V8 writes it: records of `fields` numbers of 1 to 19 digits,
    /// a newline before each record's leading comma.
    fn v8_array(rng: &mut Rng, numbers: usize, fields: usize) -> (Vec<u8>, Vec<u64>) {
        let mut text = Vec::new();
        let mut values = Vec::new();
        for i in 0..numbers {
            if i > 0 {
                text.extend_from_slice(if i % fields == 0 { b"\n," } else { b"," });
            }
            let digits = match rng.below(10) {
                0..=5 => 1 + rng.below(3),
                6..=8 => 4 + rng.below(6),
                _ => 10 + rng.below(10),
            } as u32;
            let v = rng.next() % 10u64.pow(digits.min(19));
            values.push(v);
            text.extend_from_slice(v.to_string().as_bytes());
        }
        text.push(b']');
        (text, values)
    }

    #[test]
    fn windows_parse_v8_arrays_exactly() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for fields in [3, 6, 7] {
            let (text, values) = v8_array(&mut rng, 5_000, fields);
            for block in [79, 80, 81, 128, 1000, 4096, text.len()] {
                let got = parse_in_blocks(&text, block).expect("parses");
                assert_eq!(got.0, values, "fields {fields}, block {block}");
                assert_eq!(got.1, text.len() as u64 - 1);
            }
        }
    }

    #[test]
    fn windows_agree_with_the_scalar_path_on_damaged_arrays() {
        // Blocks shorter than a window never take the fast path: that is the reference.
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let bad = [
            b' ', b',', b'\n', b']', b'x', b'-', b'.', b'"', b'\r', b'0', b'9', 0xFF,
        ];
        for case in 0..3_000 {
            let (mut text, _) = v8_array(&mut rng, 60, 7);
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(text.len() as u64 - 1) as usize;
                text[at] = bad[rng.below(bad.len() as u64) as usize];
            }
            // Where an error is reported for a number cut by a block's end depends on the
            // blocks; what is wrong does not.
            let outcome = |block: usize| {
                parse_in_blocks(&text, block).map_err(|e| match e.split_once(": ") {
                    Some((_, what)) => what.to_string(),
                    None => e,
                })
            };
            let reference = outcome(WINDOW_READ - 1);
            for block in [WINDOW_READ, 200, text.len()] {
                assert_eq!(
                    outcome(block),
                    reference,
                    "case {case}, block {block}: {}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
    }

    #[test]
    fn sse2_and_swar_classify_alike() {
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        let alphabet = [
            b'0', b'5', b'9', b'/', b':', b',', b'\n', b' ', b']', 0x80, 0xB9, 0xFF,
        ];
        for _ in 0..10_000 {
            let mut window = [0u8; WINDOW_READ];
            for b in window.iter_mut() {
                *b = if rng.below(4) == 0 {
                    rng.next() as u8
                } else {
                    alphabet[rng.below(alphabet.len() as u64) as usize]
                };
            }
            let mut expected = (0u64, 0u64, 0u64);
            for (k, &b) in window[..WINDOW].iter().enumerate() {
                expected.0 |= u64::from(b.is_ascii_digit()) << k;
                expected.1 |= u64::from(b == b',') << k;
                expected.2 |= u64::from(b == b'\n') << k;
            }
            assert_eq!(classify(&window), expected);
            assert_eq!(classify_swar(&window), expected);
        }
    }

    #[test]
    fn swar_agrees_with_scalar() {
        for len in 1..8usize {
            for v in [1u64, 9, 10, 99, 1234567, 7654321, 1000000, 3141592] {
                let s = v.to_string();
                if s.len() != len {
                    continue;
                }
                let text = format!("{s},00000000");
                let got = swar_digits(text.as_bytes(), 0);
                assert_eq!(got, Some((v, len)), "{text}");
            }
        }
        assert_eq!(
            swar_digits(b"12345678,", 0),
            None,
            "eight digits take the scalar path"
        );
        assert_eq!(
            swar_digits(b"1,", 0),
            None,
            "fewer than eight bytes take the scalar path"
        );
    }
}

/// The decoded `strings` array: one buffer and the start of each string.
#[derive(Debug, Default)]
pub struct Strings {
    data: String,
    /// `starts[i]..starts[i + 1]` is string `i`.
    starts: Vec<usize>,
}

impl Strings {
    /// Number of strings.
    pub fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// String `i`, or `""` when out of range (indices are validated at load time).
    pub fn get(&self, i: usize) -> &str {
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&a), Some(&b)) => self.data.get(a..b).unwrap_or(""),
            _ => "",
        }
    }
    /// Appends a string; returns its index.
    pub(crate) fn push(&mut self, s: &str) -> u32 {
        if self.starts.is_empty() {
            self.starts.push(0);
        }
        self.data.push_str(s);
        self.starts.push(self.data.len());
        (self.starts.len() - 2) as u32
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.data.capacity() + self.starts.capacity() * std::mem::size_of::<usize>()
    }
}

/// Decodes the `strings` array whose `[` ends just before `value_start`, then checks
/// that only `}` and white space follow.
pub(crate) fn parse_strings(src: &dyn ByteSource, value_start: u64) -> Result<Strings> {
    let len = src.len();
    let total = usize::try_from(len - value_start)
        .map_err(|_| SnapshotError::Meta("the strings section does not fit in memory".into()))?;
    let mut raw = Vec::new();
    raw.try_reserve_exact(total).map_err(|_| {
        SnapshotError::Meta(format!("cannot allocate {total} bytes for the strings"))
    })?;
    raw.resize(total, 0);
    let mut got = 0;
    while got < total {
        let n = src.read_at(
            &mut raw[got..(got + BLOCK).min(total)],
            value_start + got as u64,
        )?;
        if n == 0 {
            break;
        }
        got += n;
    }
    raw.truncate(got);
    let mut out = StringDecoder {
        raw: &raw,
        base: value_start,
        data: Vec::with_capacity(raw.len()),
        starts: vec![0],
    };
    out.run()?;
    let StringDecoder { data, starts, .. } = out;
    // SAFETY: `data` is valid UTF-8, and is not checked again (a second pass over the
    // whole section, 9% of the CPU samples while the 1 GB snapshot is parsed): every byte
    // in it was appended by `StringDecoder` as part of ASCII runs, of `from_utf8_lossy`'s
    // output, of an escape's ASCII byte or of `char::encode_utf8`'s output, each valid
    // UTF-8 on its own, and valid UTF-8 strings joined are valid UTF-8.
    let data = unsafe { String::from_utf8_unchecked(data) };
    Ok(Strings { data, starts })
}

struct StringDecoder<'a> {
    raw: &'a [u8],
    base: u64,
    data: Vec<u8>,
    starts: Vec<usize>,
}

impl StringDecoder<'_> {
    fn eof(&self) -> SnapshotError {
        SnapshotError::Truncated {
            offset: self.base + self.raw.len() as u64,
            section: "the `strings` array",
        }
    }

    fn skip_ws(&self, mut i: usize) -> usize {
        while i < self.raw.len() && is_ws(self.raw[i]) {
            i += 1;
        }
        i
    }

    fn run(&mut self) -> Result<()> {
        let raw = self.raw;
        let mut i = self.skip_ws(0);
        if raw.get(i) == Some(&b']') {
            return self.finish(i + 1);
        }
        loop {
            match raw.get(i) {
                None => return Err(self.eof()),
                Some(b'"') => i = self.string(i + 1)?,
                Some(&b) => {
                    return Err(SnapshotError::syntax(
                        self.base + i as u64,
                        format!("expected a string, found {}", show(b)),
                    ))
                }
            }
            self.starts.push(self.data.len());
            i = self.skip_ws(i);
            match raw.get(i) {
                None => return Err(self.eof()),
                Some(b',') => i = self.skip_ws(i + 1),
                Some(b']') => return self.finish(i + 1),
                Some(&b) => {
                    return Err(SnapshotError::syntax(
                        self.base + i as u64,
                        format!("expected `,` or `]`, found {}", show(b)),
                    ))
                }
            }
        }
    }

    fn finish(&self, i: usize) -> Result<()> {
        let i = self.skip_ws(i);
        match self.raw.get(i) {
            None => Err(SnapshotError::Truncated {
                offset: self.base + self.raw.len() as u64,
                section: "the end of the snapshot (no closing `}`)",
            }),
            Some(b'}') => {
                let j = self.skip_ws(i + 1);
                if j < self.raw.len() && self.raw[j] != 0 {
                    return Err(SnapshotError::syntax(
                        self.base + j as u64,
                        "bytes after the end of the snapshot",
                    ));
                }
                Ok(())
            }
            Some(&b) => Err(SnapshotError::syntax(
                self.base + i as u64,
                format!("expected `}}` after the strings, found {}", show(b)),
            )),
        }
    }

    /// Decodes one string body starting after its opening quote; returns the offset after
    /// the closing quote.
    fn string(&mut self, mut i: usize) -> Result<usize> {
        let raw = self.raw;
        loop {
            let Some(k) = memchr::memchr2(b'"', b'\\', &raw[i..]) else {
                return Err(self.eof());
            };
            self.copy_run(&raw[i..i + k]);
            i += k;
            if raw[i] == b'"' {
                return Ok(i + 1);
            }
            // An escape.
            let Some(&e) = raw.get(i + 1) else {
                return Err(self.eof());
            };
            let simple = match e {
                b'"' => Some(b'"'),
                b'\\' => Some(b'\\'),
                b'/' => Some(b'/'),
                b'b' => Some(0x08),
                b'f' => Some(0x0c),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                _ => None,
            };
            if let Some(c) = simple {
                self.data.push(c);
                i += 2;
                continue;
            }
            if e != b'u' {
                return Err(SnapshotError::syntax(
                    self.base + i as u64,
                    format!("invalid escape `\\{}`", e as char),
                ));
            }
            let unit = self.hex4(i + 2)?;
            i += 6;
            let ch = if (0xD800..0xDC00).contains(&unit) {
                // A high surrogate: a pair only if a low one follows.
                match (raw.get(i), raw.get(i + 1)) {
                    (Some(b'\\'), Some(b'u')) => {
                        let low = self.hex4(i + 2)?;
                        if (0xDC00..0xE000).contains(&low) {
                            i += 6;
                            char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                        } else {
                            None
                        }
                    }
                    _ => None,
                }
            } else {
                char::from_u32(unit)
            };
            let ch = ch.unwrap_or(char::REPLACEMENT_CHARACTER);
            let mut tmp = [0u8; 4];
            self.data
                .extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
        }
    }

    fn hex4(&self, at: usize) -> Result<u32> {
        let digits = self.raw.get(at..at + 4).ok_or_else(|| self.eof())?;
        let mut v = 0u32;
        for (k, &h) in digits.iter().enumerate() {
            let d = match h {
                b'0'..=b'9' => h - b'0',
                b'a'..=b'f' => h - b'a' + 10,
                b'A'..=b'F' => h - b'A' + 10,
                _ => {
                    return Err(SnapshotError::syntax(
                        self.base + (at + k) as u64,
                        "invalid `\\u` escape",
                    ))
                }
            };
            v = v * 16 + d as u32;
        }
        Ok(v)
    }

    /// Copies raw bytes, keeping valid UTF-8 and replacing invalid sequences.
    fn copy_run(&mut self, run: &[u8]) {
        if run.is_ascii() {
            self.data.extend_from_slice(run);
        } else {
            self.data
                .extend_from_slice(String::from_utf8_lossy(run).as_bytes());
        }
    }
}
