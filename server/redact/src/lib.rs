//! Redaction of V8 heap snapshots: a snapshot streamed through a [`Redactor`] comes out
//! byte for byte the same except that the contents of JavaScript strings are replaced by
//! `x`s, as many as the string had characters (UTF-16 units, as JavaScript counts them).
//!
//! What is kept is everything the leak analysis reads: numbers (ids, sizes, edges,
//! locations, allocation traces), the header, and every string that names something rather
//! than being a string's own text — class and function names, property and variable names
//! (a keyed store's keys are property names, so they stay), internal names, regexps, script
//! URLs (a Script is a code node named by its URL) and the function and script names of
//! allocation traces. A string whose text is also one of those names is kept too: the
//! snapshot stores each distinct text once.
//!
//! One pass, in order: the `snapshot` header is read (it is small) to learn where each
//! record keeps its type and its string index; `nodes`, `edges` and `trace_function_infos`
//! pass through while two bitsets over string indices record which strings are names and
//! which are string contents; `strings` comes last, when both are complete. Memory is those
//! bitsets and the header, whatever the snapshot's size, and input may be cut anywhere into
//! chunks (inside a number, a string or an escape).

mod error;
mod layout;
mod stream;

pub use error::RedactError;
pub use stream::redact;

use error::show_byte;
use layout::{Layout, NameUse, Records};

/// The largest `snapshot` header accepted (real ones are about 1 KB).
const HEADER_LIMIT: usize = 16 << 20;
/// How far a string index may run ahead of the bytes read: V8 numbers strings in the order
/// its records first name them, so an index is never larger than the records before it;
/// this margin leaves room for other writers without letting a damaged index allocate.
const INDEX_SLACK: u64 = 1 << 16;
/// The character a redacted string's characters become.
pub const PLACEHOLDER: u8 = b'x';

/// What a finished redaction did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RedactStats {
    /// Strings in the snapshot's string table.
    pub strings: u64,
    /// Of those, how many were replaced.
    pub redacted: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
}

/// A streaming redactor of one `.heapsnapshot` (see the crate's documentation).
#[derive(Debug)]
pub struct Redactor {
    state: State,
    /// Input bytes before the current chunk.
    offset: u64,
    bytes_out: u64,
    header: Vec<u8>,
    layout: Option<Layout>,
    key: Vec<u8>,
    section: Section,
    /// Strings some record names (a class, a property, a script): never replaced.
    names: Bits,
    /// Strings that are a string node's text: replaced unless also in `names`.
    contents: Bits,
    nodes_done: bool,
    edges_done: bool,
    stats: RedactStats,
}

/// The top-level keys the redactor reads; every other one passes through unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Snapshot,
    Nodes,
    Edges,
    TraceFunctionInfos,
    Strings,
    Other,
}

impl Section {
    fn of(key: &[u8]) -> Section {
        match key {
            b"snapshot" => Section::Snapshot,
            b"nodes" => Section::Nodes,
            b"edges" => Section::Edges,
            b"trace_function_infos" => Section::TraceFunctionInfos,
            b"strings" => Section::Strings,
            _ => Section::Other,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Section::Snapshot => "snapshot",
            Section::Nodes => "nodes",
            Section::Edges => "edges",
            Section::TraceFunctionInfos => "trace_function_infos",
            Section::Strings => "strings",
            Section::Other => "a top-level value",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Before the opening `{`.
    Start,
    /// Expecting a key's `"` (or, for the first key, the closing `}`).
    Key {
        first: bool,
    },
    InKey {
        escaped: bool,
    },
    Colon,
    /// Expecting a value; what it is depends on the key.
    Value,
    Skip(Skip),
    Records(RecordScan),
    Strings(StringScan),
    AfterValue,
    Done,
}

/// A value passed through unread (the header is also copied aside).
#[derive(Debug, Clone, Copy)]
struct Skip {
    depth: u64,
    in_string: bool,
    escaped: bool,
    /// A number, `true`, `false` or `null`: it ends before the next delimiter.
    scalar: bool,
}

/// A flat array of numbers read record by record.
#[derive(Debug, Clone, Copy)]
struct RecordScan {
    opened: bool,
    in_number: bool,
    value: u64,
    field: usize,
    type_value: u64,
    strings: [u64; 2],
}

#[derive(Debug, Clone, Copy)]
struct StringScan {
    opened: bool,
    expect: Expect,
    inside: bool,
    redacting: bool,
    escape: Escape,
    /// After the lead byte of a four-byte UTF-8 character: its first continuation byte is
    /// the second UTF-16 unit (counted there, so that damaged UTF-8 never grows).
    wide: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    FirstString,
    String,
    Comma,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    Backslash,
    /// Hex digits of `\uXXXX` still to come.
    Hex(u8),
}

/// A growable bitset over string indices.
#[derive(Debug, Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn set(&mut self, i: u64) {
        let word = (i / 64) as usize;
        if word >= self.0.len() {
            self.0.resize((word + 1).next_power_of_two(), 0);
        }
        self.0[word] |= 1 << (i % 64);
    }

    fn get(&self, i: u64) -> bool {
        usize::try_from(i / 64)
            .ok()
            .and_then(|w| self.0.get(w))
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new()
    }
}

impl Redactor {
    /// A redactor at the start of a snapshot.
    pub fn new() -> Redactor {
        Redactor {
            state: State::Start,
            offset: 0,
            bytes_out: 0,
            header: Vec::new(),
            layout: None,
            key: Vec::new(),
            section: Section::Other,
            names: Bits::default(),
            contents: Bits::default(),
            nodes_done: false,
            edges_done: false,
            stats: RedactStats::default(),
        }
    }

    /// Redacts the next chunk of the snapshot, appending the result to `out`. Chunks may be
    /// cut anywhere. After an error the redactor must not be fed again.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), RedactError> {
        let before = out.len();
        out.reserve(input.len());
        // Everything is copied unchanged except a redacted string's contents: `copied` is
        // how much of `input` is already in `out`.
        let mut copied = 0;
        let mut i = 0;
        while i < input.len() {
            i = match self.state {
                State::Records(scan) => self.records(scan, input, i)?,
                State::Strings(scan) => self.strings(scan, input, i, &mut copied, out)?,
                State::Skip(skip) => self.skip(skip, input, i)?,
                _ => self.structure(input, i)?,
            };
        }
        out.extend_from_slice(&input[copied..]);
        self.offset += input.len() as u64;
        self.bytes_out += (out.len() - before) as u64;
        Ok(())
    }

    /// Checks that the snapshot ended where it should and returns what was done.
    pub fn finish(self) -> Result<RedactStats, RedactError> {
        let inside = match self.state {
            State::Done => {
                return Ok(RedactStats {
                    bytes_in: self.offset,
                    bytes_out: self.bytes_out,
                    ..self.stats
                })
            }
            State::Start => "before the snapshot's `{`",
            State::Records(_) | State::Strings(_) | State::Skip(_) => self.section.name(),
            _ => "between the top-level keys",
        };
        Err(RedactError::Truncated {
            offset: self.offset,
            inside,
        })
    }

    fn unexpected(&self, input: &[u8], i: usize, expected: &'static str) -> RedactError {
        RedactError::Unexpected {
            offset: self.offset + i as u64,
            found: show_byte(input[i]),
            expected,
        }
    }

    /// The top level: one byte of `{`, keys, `:` and `,`. Returns the next position.
    fn structure(&mut self, input: &[u8], i: usize) -> Result<usize, RedactError> {
        let b = input[i];
        if let State::InKey { escaped } = self.state {
            if escaped {
                self.state = State::InKey { escaped: false };
            } else if b == b'\\' {
                self.state = State::InKey { escaped: true };
            } else if b == b'"' {
                self.section = Section::of(&self.key);
                self.state = State::Colon;
                return Ok(i + 1);
            }
            // Long keys are none of ours: keep enough to tell them apart.
            if self.key.len() <= 32 {
                self.key.push(b);
            }
            return Ok(i + 1);
        }
        if is_ws(b) {
            return Ok(i + 1);
        }
        match self.state {
            State::Start => {
                if b != b'{' {
                    return Err(self.unexpected(input, i, "a snapshot starts with `{`"));
                }
                self.state = State::Key { first: true };
            }
            State::Key { first } => match b {
                b'"' => {
                    self.key.clear();
                    self.state = State::InKey { escaped: false };
                }
                b'}' if first => self.state = State::Done,
                _ => return Err(self.unexpected(input, i, "a top-level key")),
            },
            State::Colon => {
                if b != b':' {
                    return Err(self.unexpected(input, i, "`:` after a key"));
                }
                self.state = State::Value;
            }
            State::Value => {
                self.start_value(input, i)?;
                // The value's first byte is read by the state just entered.
                return Ok(i);
            }
            State::AfterValue => match b {
                b',' => self.state = State::Key { first: false },
                b'}' => self.state = State::Done,
                _ => return Err(self.unexpected(input, i, "`,` or `}` after a top-level value")),
            },
            State::Done => {
                return Err(self.unexpected(input, i, "nothing after the snapshot's `}`"));
            }
            State::InKey { .. } | State::Skip(_) | State::Records(_) | State::Strings(_) => {
                unreachable!("handled by the caller")
            }
        }
        Ok(i + 1)
    }

    /// Enters the state that reads the value starting at `input[i]`.
    fn start_value(&mut self, input: &[u8], i: usize) -> Result<(), RedactError> {
        let b = input[i];
        let offset = self.offset + i as u64;
        let out_of_order = |missing| RedactError::OutOfOrder {
            section: self.section.name(),
            offset,
            missing,
        };
        let records = RecordScan {
            opened: false,
            in_number: false,
            value: 0,
            field: 0,
            type_value: 0,
            strings: [0; 2],
        };
        self.state = match self.section {
            Section::Snapshot if b != b'{' => {
                return Err(self.unexpected(input, i, "the `snapshot` header is an object"))
            }
            Section::Nodes | Section::Edges if self.layout.is_none() => {
                return Err(out_of_order("the `snapshot` header"))
            }
            Section::Nodes | Section::Edges => State::Records(records),
            Section::TraceFunctionInfos => match &self.layout {
                None => return Err(out_of_order("the `snapshot` header")),
                Some(l) if l.trace_function_infos.is_some() => State::Records(records),
                Some(_) => State::Skip(self.skip_from(input, i)?),
            },
            Section::Strings if !(self.nodes_done && self.edges_done) => {
                return Err(out_of_order("`nodes` and `edges`"))
            }
            Section::Strings => State::Strings(StringScan {
                opened: false,
                expect: Expect::FirstString,
                inside: false,
                redacting: false,
                escape: Escape::None,
                wide: false,
            }),
            Section::Snapshot | Section::Other => State::Skip(self.skip_from(input, i)?),
        };
        if self.section == Section::Snapshot {
            self.header.clear();
        }
        Ok(())
    }

    fn skip_from(&self, input: &[u8], i: usize) -> Result<Skip, RedactError> {
        let b = input[i];
        if !matches!(
            b,
            b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
        ) {
            return Err(self.unexpected(input, i, "a JSON value"));
        }
        Ok(Skip {
            depth: 0,
            in_string: false,
            escaped: false,
            scalar: !matches!(b, b'{' | b'[' | b'"'),
        })
    }

    /// Passes a value through, keeping a copy when it is the header.
    fn skip(&mut self, mut s: Skip, input: &[u8], start: usize) -> Result<usize, RedactError> {
        let mut i = start;
        let mut ended = false;
        while i < input.len() {
            let b = input[i];
            if s.in_string {
                if s.escaped {
                    s.escaped = false;
                } else if b == b'\\' {
                    s.escaped = true;
                } else if b == b'"' {
                    s.in_string = false;
                    if s.depth == 0 {
                        i += 1;
                        ended = true;
                        break;
                    }
                }
            } else if s.scalar {
                if matches!(b, b',' | b'}' | b']') || is_ws(b) {
                    ended = true;
                    break;
                }
            } else {
                match b {
                    b'"' => s.in_string = true,
                    b'[' | b'{' => s.depth += 1,
                    b']' | b'}' => {
                        if s.depth == 0 {
                            return Err(self.unexpected(input, i, "a JSON value"));
                        }
                        s.depth -= 1;
                        if s.depth == 0 {
                            i += 1;
                            ended = true;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        if self.section == Section::Snapshot {
            if self.header.len() + (i - start) > HEADER_LIMIT {
                return Err(RedactError::HeaderTooLarge {
                    limit: HEADER_LIMIT,
                });
            }
            self.header.extend_from_slice(&input[start..i]);
            if ended {
                self.layout = Some(Layout::from_header(&self.header)?);
                self.header = Vec::new();
            }
        }
        self.state = if ended {
            State::AfterValue
        } else {
            State::Skip(s)
        };
        Ok(i)
    }

    /// Passes `nodes`, `edges` or `trace_function_infos` through, recording what each
    /// record's string index names.
    fn records(
        &mut self,
        mut r: RecordScan,
        input: &[u8],
        start: usize,
    ) -> Result<usize, RedactError> {
        let Some(layout) = &self.layout else {
            return Err(RedactError::OutOfOrder {
                section: self.section.name(),
                offset: self.offset + start as u64,
                missing: "the `snapshot` header",
            });
        };
        let records: &Records = match self.section {
            Section::Nodes => &layout.nodes,
            Section::Edges => &layout.edges,
            _ => match &layout.trace_function_infos {
                Some(t) => t,
                None => &layout.nodes,
            },
        };
        let type_field = records.type_field.unwrap_or(usize::MAX);
        let string_field = [
            records.string_fields.first().copied().unwrap_or(usize::MAX),
            records.string_fields.get(1).copied().unwrap_or(usize::MAX),
        ];
        let mut i = start;
        if !r.opened {
            while i < input.len() && is_ws(input[i]) {
                i += 1;
            }
            if i == input.len() {
                self.state = State::Records(r);
                return Ok(i);
            }
            if input[i] != b'[' {
                return Err(self.unexpected(input, i, "an array of numbers"));
            }
            r.opened = true;
            i += 1;
        }
        let mut ended = false;
        while i < input.len() {
            let b = input[i];
            let digit = b.wrapping_sub(b'0');
            if digit < 10 {
                r.value = match r.value.checked_mul(10) {
                    Some(v) => v + u64::from(digit),
                    None => {
                        return Err(RedactError::NumberTooLarge {
                            offset: self.offset + i as u64,
                        })
                    }
                };
                // `checked_mul` alone lets 10·(u64::MAX / 10) + 9 wrap into range.
                if r.value < u64::from(digit) {
                    return Err(RedactError::NumberTooLarge {
                        offset: self.offset + i as u64,
                    });
                }
                r.in_number = true;
                i += 1;
                continue;
            }
            let close = b == b']';
            if !(close || b == b',' || is_ws(b)) {
                return Err(self.unexpected(input, i, "a number, `,` or `]`"));
            }
            if r.in_number {
                // The end of a number: place it in its record.
                let field = r.field;
                if field == type_field {
                    r.type_value = r.value;
                } else if field == string_field[0] {
                    r.strings[0] = r.value;
                } else if field == string_field[1] {
                    r.strings[1] = r.value;
                }
                r.in_number = false;
                r.value = 0;
                r.field += 1;
                if r.field == records.fields {
                    r.field = 0;
                    let name_use = records.name_use(r.type_value);
                    let bits = match name_use {
                        NameUse::Keep => &mut self.names,
                        NameUse::Content => &mut self.contents,
                        NameUse::NotAString => {
                            i += 1;
                            if close {
                                ended = true;
                                break;
                            }
                            continue;
                        }
                    };
                    let limit = self.offset + i as u64 + INDEX_SLACK;
                    for (k, &f) in string_field.iter().enumerate() {
                        if f == usize::MAX {
                            continue;
                        }
                        let index = r.strings[k];
                        if index > limit {
                            return Err(RedactError::StringIndexOutOfRange {
                                index,
                                offset: self.offset + i as u64,
                            });
                        }
                        bits.set(index);
                    }
                }
            }
            i += 1;
            if close {
                ended = true;
                break;
            }
        }
        if !ended {
            self.state = State::Records(r);
            return Ok(i);
        }
        if r.field != 0 {
            return Err(RedactError::PartialRecord {
                section: self.section.name(),
                offset: self.offset + i as u64 - 1,
                fields: records.fields,
            });
        }
        match self.section {
            Section::Nodes => self.nodes_done = true,
            Section::Edges => self.edges_done = true,
            _ => {}
        }
        self.state = State::AfterValue;
        Ok(i)
    }

    /// Passes `strings` through, replacing the contents of the strings that are only a
    /// string's text.
    fn strings(
        &mut self,
        mut s: StringScan,
        input: &[u8],
        start: usize,
        copied: &mut usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, RedactError> {
        let mut i = start;
        while i < input.len() {
            let b = input[i];
            if !s.inside {
                i += 1;
                if is_ws(b) {
                    continue;
                }
                if !s.opened {
                    if b != b'[' {
                        return Err(self.unexpected(input, i - 1, "`strings` is an array"));
                    }
                    s.opened = true;
                    continue;
                }
                match (s.expect, b) {
                    (Expect::FirstString | Expect::String, b'"') => {
                        let index = self.stats.strings;
                        self.stats.strings += 1;
                        s.inside = true;
                        s.escape = Escape::None;
                        s.wide = false;
                        s.redacting = self.contents.get(index) && !self.names.get(index);
                        if s.redacting {
                            self.stats.redacted += 1;
                            out.extend_from_slice(&input[*copied..i]);
                            *copied = i;
                        }
                    }
                    (Expect::FirstString | Expect::Comma, b']') => {
                        self.state = State::AfterValue;
                        return Ok(i);
                    }
                    (Expect::Comma, b',') => s.expect = Expect::String,
                    _ => return Err(self.unexpected(input, i - 1, "a string, `,` or `]`")),
                }
                continue;
            }
            // Inside a string: find its end, honouring escapes; count its characters when
            // they are replaced.
            let placeholders = match s.escape {
                Escape::Backslash => match b {
                    b'u' => {
                        s.escape = Escape::Hex(4);
                        0
                    }
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                        s.escape = Escape::None;
                        1
                    }
                    _ => return Err(self.unexpected(input, i, "a JSON escape")),
                },
                Escape::Hex(left) => {
                    if !b.is_ascii_hexdigit() {
                        return Err(self.unexpected(input, i, "a hex digit of `\\u`"));
                    }
                    if left == 1 {
                        s.escape = Escape::None;
                        1
                    } else {
                        s.escape = Escape::Hex(left - 1);
                        0
                    }
                }
                Escape::None => match b {
                    b'"' => {
                        s.inside = false;
                        s.expect = Expect::Comma;
                        i += 1;
                        continue;
                    }
                    b'\\' => {
                        s.escape = Escape::Backslash;
                        s.wide = false;
                        0
                    }
                    // UTF-8: a continuation byte adds nothing, a four-byte character is two
                    // UTF-16 units.
                    0x80..=0xbf => u8::from(std::mem::take(&mut s.wide)),
                    0xf0..=0xff => {
                        s.wide = true;
                        1
                    }
                    _ => {
                        s.wide = false;
                        1
                    }
                },
            };
            if s.redacting {
                for _ in 0..placeholders {
                    out.push(PLACEHOLDER);
                }
                *copied = i + 1;
            }
            i += 1;
        }
        self.state = State::Strings(s);
        Ok(i)
    }
}

#[cfg(test)]
mod tests;
