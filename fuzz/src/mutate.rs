//! Structure-aware edits of a small valid snapshot.
//!
//! A base snapshot (one of the files in `bases/`, chosen by the input) is split into tokens:
//! numbers, string literals and the punctuation between them. The fuzz input, decoded with
//! `arbitrary`, is a list of [`Edit`]s addressed to those tokens — by record and field inside
//! `nodes`, `edges` and `locations`, by position among the header's numbers, or among all
//! strings — so nearly every input is a snapshot that parses past the header and fails (or
//! succeeds) somewhere deeper. A few edits work on raw bytes to keep syntax errors in play.

use arbitrary::Arbitrary;

/// Valid snapshots cut from real ones by `tools/cut_snapshot.py`.
pub const BASES: &[&[u8]] = &[
    include_bytes!("../bases/n24-prefix-12.heapsnapshot"),
    include_bytes!("../bases/n20-around-60.heapsnapshot"),
    include_bytes!("../bases/n18-bfs-60.heapsnapshot"),
    include_bytes!("../bases/n20-track-bfs-50.heapsnapshot"),
    include_bytes!("../bases/n22-sample-60.heapsnapshot"),
];

/// The fuzz input: a base and the edits to make to it, in order.
#[derive(Debug, Arbitrary)]
pub struct Edits {
    base: u8,
    edits: Vec<Edit>,
}

/// The number arrays an edit can address by record and field.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Section {
    /// `nodes`
    Nodes,
    /// `edges`
    Edges,
    /// `locations`
    Locations,
    /// `samples`
    Samples,
    /// `trace_function_infos`
    TraceFunctionInfos,
}

impl Section {
    fn key(self) -> &'static str {
        match self {
            Section::Nodes => "nodes",
            Section::Edges => "edges",
            Section::Locations => "locations",
            Section::Samples => "samples",
            Section::TraceFunctionInfos => "trace_function_infos",
        }
    }
}

/// A number as it is written into the file.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Num {
    /// 0..=255
    Small(u8),
    /// A multiple of the section's record width: a valid-looking `to_node` or node index.
    Records(u16),
    /// The section's record count times its width, plus a small delta: just past the end.
    PastEnd(i8),
    /// 2^k + delta for k < 64 (2^32, 2^53, 2^63 …).
    Pow2(u8, i8),
    /// Any u64.
    Any(u64),
    /// `-n`
    Negative(u32),
    /// `n.5`
    Fraction(u16),
    /// `1e<n>`
    Exponent(u8),
    /// `0…0n`: leading zeros.
    LeadingZeros(u8, u16),
    /// More digits than any integer type holds.
    Digits(u8),
    /// The largest numbers a reader may still accept: 19 nines, `u64::MAX`, `u32::MAX`.
    Max(u8),
    /// Nothing at all: `,,`.
    Empty,
}

/// A string literal's replacement.
#[derive(Debug, Clone, Arbitrary)]
pub enum Str {
    /// `""`
    Empty,
    /// A lone high or low surrogate escape.
    LoneSurrogate(bool),
    /// A valid surrogate pair escape.
    SurrogatePair,
    /// Escapes of every kind, with one possibly bad one.
    Escapes(u8),
    /// A long run of one character (up to 16 KiB).
    Long(u16, u8),
    /// These bytes verbatim between the quotes (may break the JSON).
    Raw(Vec<u8>),
    /// Another field or type name a header might hold.
    Name(u8),
}

/// One edit.
#[derive(Debug, Clone, Arbitrary)]
pub enum Edit {
    /// Replace a field of a record.
    SetField {
        /// Which array.
        section: Section,
        /// Record (modulo the count).
        record: u16,
        /// Field (modulo the width).
        field: u8,
        /// The new value.
        value: Num,
    },
    /// Replace a field in every record (all self sizes huge, all edges weak, …).
    SetColumn {
        /// Which array.
        section: Section,
        /// Field (modulo the width).
        field: u8,
        /// The new value.
        value: Num,
    },
    /// Replace one of the header's numbers (`node_count`, `edge_count`, …).
    SetHeader {
        /// Which number (modulo their count).
        at: u8,
        /// The new value.
        value: Num,
    },
    /// Insert numbers after a position of an array (records come out misaligned).
    Insert {
        /// Which array.
        section: Section,
        /// Number index (modulo the length).
        at: u16,
        /// What to insert.
        values: Vec<Num>,
    },
    /// Delete `len` numbers from a position of an array.
    Delete {
        /// Which array.
        section: Section,
        /// Number index (modulo the length).
        at: u16,
        /// How many.
        len: u8,
    },
    /// Append copies of a record to its array (and optionally fix the header's count).
    DuplicateRecord {
        /// Which array.
        section: Section,
        /// Record (modulo the count).
        record: u16,
        /// Copies.
        times: u8,
    },
    /// Swap two numbers anywhere.
    SwapNumbers(u16, u16),
    /// Replace a string literal (keys, meta names, the `strings` table).
    SetString {
        /// String index among all literals (modulo their count).
        at: u16,
        /// The replacement.
        value: Str,
    },
    /// Swap two string literals (reorders `node_fields`, renames keys …).
    SwapStrings(u16, u16),
    /// Cut the file at a fraction (in 1/65536ths) of its length.
    Truncate(u16),
    /// Insert raw bytes at a fraction of the length.
    InsertBytes(u16, Vec<u8>),
    /// Replace whitespace and separators with other JSON whitespace.
    Respace(u8),
}

#[derive(Debug, Clone)]
enum Tok {
    Num(String),
    Str(Vec<u8>),
    Punct(Vec<u8>),
}

fn tokenize(s: &[u8]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'"' {
            let mut j = i + 1;
            while j < s.len() && s[j] != b'"' {
                j += if s[j] == b'\\' { 2 } else { 1 };
            }
            let end = j.min(s.len());
            out.push(Tok::Str(s[i + 1..end].to_vec()));
            i = end + 1;
        } else if c.is_ascii_digit() || c == b'-' {
            let mut j = i;
            while j < s.len() && matches!(s[j], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                j += 1;
            }
            out.push(Tok::Num(String::from_utf8_lossy(&s[i..j]).into_owned()));
            i = j;
        } else {
            let mut j = i;
            while j < s.len() && !(s[j] == b'"' || s[j].is_ascii_digit() || s[j] == b'-') {
                j += 1;
            }
            out.push(Tok::Punct(s[i..j].to_vec()));
            i = j;
        }
    }
    out
}

fn emit(toks: &[Tok]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in toks {
        match t {
            Tok::Num(n) => out.extend_from_slice(n.as_bytes()),
            Tok::Str(s) => {
                out.push(b'"');
                out.extend_from_slice(s);
                out.push(b'"');
            }
            Tok::Punct(p) => out.extend_from_slice(p),
        }
    }
    out
}

/// Token indices of the numbers of the array under key `key`, and its record width
/// (its length over the header's count for `nodes` / `edges`, 4 for locations …).
fn section(toks: &[Tok], key: &str) -> (Vec<usize>, usize) {
    let Some(k) = toks
        .iter()
        .position(|t| matches!(t, Tok::Str(s) if s == key.as_bytes()))
    else {
        return (Vec::new(), 1);
    };
    // Skip to the `[` after the key, then collect numbers until the matching `]`.
    let mut nums = Vec::new();
    let mut depth = 0i32;
    let mut started = false;
    for (i, t) in toks.iter().enumerate().skip(k + 1) {
        match t {
            Tok::Punct(p) => {
                for &b in p {
                    if b == b'[' {
                        depth += 1;
                        started = true;
                    } else if b == b']' {
                        depth -= 1;
                    }
                }
                if started && depth <= 0 {
                    break;
                }
            }
            Tok::Num(_) if started => nums.push(i),
            _ if !started => {}
            _ => {}
        }
    }
    let width = match key {
        "nodes" => width_from(toks, "node_fields"),
        "edges" => width_from(toks, "edge_fields"),
        "locations" => width_from(toks, "location_fields"),
        "samples" => width_from(toks, "sample_fields"),
        "trace_function_infos" => width_from(toks, "trace_function_info_fields"),
        _ => 1,
    };
    (nums, width)
}

/// The number of string literals in the `[...]` after `key` (a meta field list).
fn width_from(toks: &[Tok], key: &str) -> usize {
    let Some(k) = toks
        .iter()
        .position(|t| matches!(t, Tok::Str(s) if s == key.as_bytes()))
    else {
        return 1;
    };
    let mut n = 0;
    for t in &toks[k + 1..] {
        match t {
            Tok::Str(_) => n += 1,
            Tok::Punct(p) if p.contains(&b']') => break,
            _ => {}
        }
    }
    n.max(1)
}

fn header_numbers(toks: &[Tok]) -> Vec<usize> {
    let end = toks
        .iter()
        .position(|t| matches!(t, Tok::Str(s) if s == b"nodes"))
        .unwrap_or(toks.len());
    (0..end)
        .filter(|&i| matches!(toks[i], Tok::Num(_)))
        .collect()
}

fn num_text(n: Num, width: usize, records: usize) -> String {
    let w = width as u64;
    match n {
        Num::Small(v) => v.to_string(),
        Num::Records(r) => (u64::from(r) % (records as u64 + 2) * w).to_string(),
        Num::PastEnd(d) => (records as u64 * w)
            .saturating_add_signed(i64::from(d))
            .to_string(),
        Num::Pow2(k, d) => (1u64 << (k % 64))
            .wrapping_add_signed(i64::from(d))
            .to_string(),
        Num::Any(v) => v.to_string(),
        Num::Negative(v) => format!("-{v}"),
        Num::Fraction(v) => format!("{v}.5"),
        Num::Exponent(e) => format!("1e{e}"),
        Num::LeadingZeros(z, v) => format!("{}{v}", "0".repeat(usize::from(z % 32))),
        Num::Digits(d) => "9".repeat(20 + usize::from(d % 64)),
        Num::Max(k) => match k % 3 {
            0 => "9999999999999999999".to_string(),
            1 => u64::MAX.to_string(),
            _ => u32::MAX.to_string(),
        },
        Num::Empty => String::new(),
    }
}

const NAMES: &[&str] = &[
    "type",
    "name",
    "id",
    "self_size",
    "edge_count",
    "trace_node_id",
    "detachedness",
    "name_or_index",
    "to_node",
    "hidden",
    "array",
    "string",
    "object",
    "code",
    "closure",
    "native",
    "synthetic",
    "element",
    "property",
    "internal",
    "weak",
    "shortcut",
    "context",
    "WeakMap",
    "Map",
    "system / Context",
    "(GC roots)",
    "<dummy>",
    "nodes",
    "edges",
    "strings",
    "locations",
    "meta",
    "node_count",
    "edge_count",
    "node_fields",
    "node_types",
    "edge_fields",
    "edge_types",
    "object_index",
    "script_id",
    "line",
    "column",
    "Detached <div>",
    "system / ExternalStringData",
    "(Document DOM trees)",
    "table",
];

fn str_bytes(s: &Str) -> Vec<u8> {
    match s {
        Str::Empty => Vec::new(),
        Str::LoneSurrogate(high) => {
            if *high {
                b"\\ud83d".to_vec()
            } else {
                b"a\\udc00b".to_vec()
            }
        }
        Str::SurrogatePair => b"\\ud83d\\ude00".to_vec(),
        Str::Escapes(k) => {
            let mut v = br#"\" \\ \/ \b \f \n \r \t \u0000 \u00e9 "#.to_vec();
            let bad: &[&[u8]] = &[b"\\x", b"\\u12", b"\\uzzzz", b"\\", b"\\u", b""];
            v.extend_from_slice(bad[usize::from(*k) % bad.len()]);
            v
        }
        Str::Long(n, c) => vec![b'a' + c % 26; usize::from(*n) % 16384],
        Str::Raw(b) => b.clone(),
        Str::Name(i) => NAMES[usize::from(*i) % NAMES.len()].as_bytes().to_vec(),
    }
}

impl Edits {
    /// The base snapshot with the edits made.
    pub fn apply(&self) -> Vec<u8> {
        let base = BASES[usize::from(self.base) % BASES.len()];
        let mut toks = tokenize(base);
        let mut raw_ops = Vec::new();
        // Bound the work per input: the edits past the first 64 are ignored.
        for edit in self.edits.iter().take(64) {
            match edit {
                Edit::SetField {
                    section: sec,
                    record,
                    field,
                    value,
                } => {
                    let (nums, w) = section(&toks, sec.key());
                    let records = nums.len() / w;
                    if records == 0 {
                        continue;
                    }
                    let i = usize::from(*record) % records * w + usize::from(*field) % w;
                    toks[nums[i]] = Tok::Num(num_text(*value, w, records));
                }
                Edit::SetColumn {
                    section: sec,
                    field,
                    value,
                } => {
                    let (nums, w) = section(&toks, sec.key());
                    let records = nums.len() / w;
                    let f = usize::from(*field) % w;
                    for r in 0..records {
                        toks[nums[r * w + f]] = Tok::Num(num_text(*value, w, records));
                    }
                }
                Edit::SetHeader { at, value } => {
                    let hs = header_numbers(&toks);
                    if hs.is_empty() {
                        continue;
                    }
                    let (nodes, w) = section(&toks, "nodes");
                    let i = hs[usize::from(*at) % hs.len()];
                    toks[i] = Tok::Num(num_text(*value, 1, nodes.len() / w));
                }
                Edit::Insert {
                    section: sec,
                    at,
                    values,
                } => {
                    let (nums, w) = section(&toks, sec.key());
                    let Some(&last) = nums.last() else { continue };
                    let records = nums.len() / w;
                    let pos = nums
                        .get(usize::from(*at) % nums.len())
                        .copied()
                        .unwrap_or(last);
                    let mut new = Vec::new();
                    for v in values.iter().take(64) {
                        new.push(Tok::Punct(b",".to_vec()));
                        new.push(Tok::Num(num_text(*v, w, records)));
                    }
                    toks.splice(pos + 1..pos + 1, new);
                }
                Edit::Delete {
                    section: sec,
                    at,
                    len,
                } => {
                    let (nums, _) = section(&toks, sec.key());
                    if nums.is_empty() {
                        continue;
                    }
                    let start = usize::from(*at) % nums.len();
                    let end = (start + usize::from(*len).max(1)).min(nums.len());
                    // Remove each number with the separator before it (or after, for the
                    // first), back to front so indices stay valid.
                    for &i in nums[start..end].iter().rev() {
                        if i > 0 && matches!(&toks[i - 1], Tok::Punct(p) if p.contains(&b',')) {
                            toks.drain(i - 1..=i);
                        } else if matches!(toks.get(i + 1), Some(Tok::Punct(p)) if p.starts_with(b","))
                        {
                            toks.remove(i);
                            if let Tok::Punct(p) = &mut toks[i] {
                                p.remove(0);
                            }
                        } else {
                            toks.remove(i);
                        }
                    }
                }
                Edit::DuplicateRecord {
                    section: sec,
                    record,
                    times,
                } => {
                    let (nums, w) = section(&toks, sec.key());
                    let records = nums.len() / w;
                    if records == 0 {
                        continue;
                    }
                    let r = usize::from(*record) % records;
                    let rec: Vec<Tok> = nums[r * w..r * w + w]
                        .iter()
                        .map(|&i| toks[i].clone())
                        .collect();
                    let last = nums[records * w - 1];
                    let mut new = Vec::new();
                    for _ in 0..usize::from(*times % 16).max(1) {
                        for t in &rec {
                            new.push(Tok::Punct(b"\n,".to_vec()));
                            new.push(t.clone());
                        }
                    }
                    toks.splice(last + 1..last + 1, new);
                }
                Edit::SwapNumbers(a, b) => {
                    let nums: Vec<usize> = (0..toks.len())
                        .filter(|&i| matches!(toks[i], Tok::Num(_)))
                        .collect();
                    if nums.is_empty() {
                        continue;
                    }
                    let (a, b) = (
                        nums[usize::from(*a) % nums.len()],
                        nums[usize::from(*b) % nums.len()],
                    );
                    toks.swap(a, b);
                }
                Edit::SetString { at, value } => {
                    let strs: Vec<usize> = (0..toks.len())
                        .filter(|&i| matches!(toks[i], Tok::Str(_)))
                        .collect();
                    if strs.is_empty() {
                        continue;
                    }
                    toks[strs[usize::from(*at) % strs.len()]] = Tok::Str(str_bytes(value));
                }
                Edit::SwapStrings(a, b) => {
                    let strs: Vec<usize> = (0..toks.len())
                        .filter(|&i| matches!(toks[i], Tok::Str(_)))
                        .collect();
                    if strs.is_empty() {
                        continue;
                    }
                    let (a, b) = (
                        strs[usize::from(*a) % strs.len()],
                        strs[usize::from(*b) % strs.len()],
                    );
                    toks.swap(a, b);
                }
                Edit::Respace(k) => {
                    let spaces: &[&[u8]] = &[b" ", b"\r\n", b"\t", b"\n\n  "];
                    let sp = spaces[usize::from(*k) % spaces.len()];
                    for t in &mut toks {
                        if let Tok::Punct(p) = t {
                            let mut q = Vec::new();
                            for &b in p.iter() {
                                if b.is_ascii_whitespace() {
                                    continue;
                                }
                                q.extend_from_slice(sp);
                                q.push(b);
                            }
                            *p = q;
                        }
                    }
                }
                Edit::Truncate(_) | Edit::InsertBytes(..) => raw_ops.push(edit),
            }
        }
        let mut out = emit(&toks);
        for op in raw_ops {
            let at = |f: u16, len: usize| (len as u64 * u64::from(f) / 65536) as usize;
            match op {
                Edit::Truncate(f) => {
                    let n = at(*f, out.len());
                    out.truncate(n);
                }
                Edit::InsertBytes(f, b) => {
                    let n = at(*f, out.len());
                    out.splice(n..n, b.iter().take(256).copied());
                }
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_edits_gives_the_base_back() {
        for (i, base) in BASES.iter().enumerate() {
            let e = Edits {
                base: i as u8,
                edits: Vec::new(),
            };
            assert_eq!(&e.apply(), base);
        }
    }
}
