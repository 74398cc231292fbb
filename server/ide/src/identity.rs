//! A finding's identity across runs: what `heapsight analyze --baseline` matches a finding
//! of today's report with in a stored one, and what SARIF carries as `partialFingerprints`.
//!
//! Node ids change from one process to the next and line numbers move with every edit above
//! the leak, so neither is part of it. The identity is the finding's kind, its holder as the
//! finding names it (class, variable or property, library structure, event) and the
//! normalized text of the user's call site: the source lines of the placed range, comments
//! dropped, whitespace removed except where it separates two words, string literals kept as
//! written. A finding with no placed call site (no user line could be justified, or only
//! V8's position in a file this machine cannot read) falls back to its message with every
//! figure, and the word after it, stripped: "retains 7.8 MB: 1,800 listeners" and "retains
//! 2.1 MB: 500 listeners" are the same leak at two loads.

use sha2::{Digest, Sha256};

use crate::finding::Finding;
use heapsight_source::TextRange;

/// Lines of the placed range kept in the call-site text: a placed range is a call's callee or
/// its first line; a range spanning a whole function would make every edit in its body a
/// new identity.
const SITE_LINES: usize = 3;

/// Characters kept of the normalized call-site text.
const SITE_CHARS: usize = 240;

/// The version of the identity's recipe, hashed in: a change to what the identity covers
/// makes every fingerprint new instead of silently matching different things.
const RECIPE: &str = "heapsightFinding/v1";

/// The key SARIF's `partialFingerprints` holds the fingerprint under.
pub const SARIF_KEY: &str = RECIPE;

/// What identifies a finding: the hash, and the call-site text it covers (for people).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// 16 hex digits of SHA-256 over the recipe, the kind, the holder and the call site (or
    /// the message without figures).
    pub fingerprint: String,
    /// The normalized call-site text, when the finding was placed in readable code.
    pub call_site_text: Option<String>,
}

/// `finding`'s identity; `call_site_text` is [`call_site_text`] of its placed range, none
/// when it was not placed in a file read here.
pub fn identity(finding: &Finding, call_site_text: Option<String>) -> Identity {
    let call_site_text = call_site_text.filter(|t| !t.is_empty());
    let site = match &call_site_text {
        Some(text) => format!("site\0{text}"),
        None => format!("message\0{}", message_key(&finding.message)),
    };
    Identity {
        fingerprint: hash(&[finding.kind().as_str(), &holder_key(finding), &site]),
        call_site_text,
    }
}

/// The identity a finding read from a report without fingerprints can have: kind, holder and
/// message without figures. Both sides of a comparison must use the same recipe, so a
/// baseline without fingerprints is matched with this one on both sides.
pub fn message_fingerprint(finding: &Finding) -> String {
    let site = format!("message\0{}", message_key(&finding.message));
    hash(&[finding.kind().as_str(), &holder_key(finding), &site])
}

/// The holder as the finding names it: its class, the variable or property it is reachable
/// by, the library structure it belongs to and, for a listener, the event. Never its node id.
pub fn holder_key(finding: &Finding) -> String {
    let holder = &finding.holder;
    let binding = holder.binding.as_ref().map(|b| b.describe());
    [
        holder.class.as_str(),
        binding.as_deref().unwrap_or(""),
        holder.library.as_deref().unwrap_or(""),
        finding.event.as_deref().unwrap_or(""),
    ]
    .join("\0")
}

/// The normalized text of the statement at `range` in `text`: its lines (at most
/// [`SITE_LINES`]), see [`normalize`].
pub fn call_site_text(text: &str, range: TextRange) -> String {
    let start = floor_boundary(text, range.start.min(text.len()));
    let end = floor_boundary(text, range.end.clamp(start, text.len()));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
    let lines: Vec<&str> = text[line_start..line_end]
        .lines()
        .take(SITE_LINES)
        .collect();
    normalize(&lines.join("\n"))
}

/// Source text with formatting taken out: comments dropped, whitespace removed except one
/// space between two word characters, string and template literals kept exactly; at most
/// [`SITE_CHARS`] characters.
pub fn normalize(code: &str) -> String {
    let mut out = String::new();
    let mut chars = code.chars().peekable();
    // Whitespace or a comment was skipped since the last character written.
    let mut gap = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                push_gap(&mut out, &mut gap, c);
                out.push(c);
                let mut escaped = false;
                for d in chars.by_ref() {
                    out.push(d);
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == c {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
                gap = true;
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut star = false;
                for d in chars.by_ref() {
                    if star && d == '/' {
                        break;
                    }
                    star = d == '*';
                }
                gap = true;
            }
            c if c.is_whitespace() => gap = true,
            c => {
                push_gap(&mut out, &mut gap, c);
                out.push(c);
            }
        }
    }
    match out.char_indices().nth(SITE_CHARS) {
        Some((at, _)) => out[..at].to_owned(),
        None => out,
    }
}

/// `message` with every figure and the word right after it (its unit or noun) replaced by
/// `#`: the same leak at another load, or in another process, reads the same.
pub fn message_key(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(c) = rest.chars().next() {
        let at_word_start = !out
            .chars()
            .next_back()
            .is_some_and(|p| p.is_alphanumeric() || p == '_');
        if c.is_ascii_digit() && at_word_start {
            let figure = rest
                .find(|d: char| !(d.is_ascii_digit() || d == '.' || d == ','))
                .unwrap_or(rest.len());
            // A trailing `.` or `,` ends the sentence or clause, not the figure.
            let figure = rest[..figure].trim_end_matches(['.', ',']).len();
            rest = &rest[figure..];
            if let Some(after) = rest.strip_prefix(' ') {
                let word = after
                    .find(|d: char| !d.is_alphabetic())
                    .unwrap_or(after.len());
                if word > 0 {
                    rest = &after[word..];
                }
            }
            out.push('#');
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn push_gap(out: &mut String, gap: &mut bool, next: char) {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    if *gap && out.chars().next_back().is_some_and(word) && word(next) {
        out.push(' ');
    }
    *gap = false;
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(RECIPE.as_bytes());
    for part in parts {
        hasher.update([0u8]);
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{call_site_text, message_key, normalize};
    use heapsight_source::TextRange;

    #[test]
    fn formatting_does_not_change_the_text() {
        let a = normalize("  bus.on('data', (quote) => {  // follow updates");
        let b = normalize("bus.on( 'data',(quote)=>{ /* was: 'tick' */");
        assert_eq!(a, "bus.on('data',(quote)=>{");
        assert_eq!(a, b);
        assert_eq!(
            normalize("const  x =\n\tnew   Map()"),
            "const x=new Map()",
            "one space between words, none elsewhere"
        );
    }

    #[test]
    fn string_literals_are_kept_as_written() {
        assert_eq!(
            normalize("log( \"a  b // c\" ,'it\\'s  /* x */', `t ${ y }`)"),
            "log(\"a  b // c\",'it\\'s  /* x */',`t ${ y }`)"
        );
        assert_ne!(normalize("on('data')"), normalize("on('end')"));
    }

    #[test]
    fn the_statement_is_its_lines_without_their_numbers() {
        let before = "'use strict';\nfunction h() {\n  bus.on('data', (q) => {\n    q.n++;\n";
        let moved = format!("// one\n// two\n\n{before}");
        let at = |text: &str| {
            let start = text.find("bus.on").expect("the call");
            call_site_text(text, TextRange::new(start, start + 6))
        };
        assert_eq!(at(before), "bus.on('data',(q)=>{");
        assert_eq!(at(before), at(&moved));
        // A range past the end or inside a character clamps instead of panicking.
        assert_eq!(call_site_text("é", TextRange::new(1, 99)), "é");
    }

    #[test]
    fn a_call_spread_over_lines_keeps_its_first_lines() {
        let text = "emitter.on(\n  'data',\n  handler,\n  { once: false },\n);\n";
        let start = text.find("emitter").expect("the call");
        let end = text.find(");").expect("the end") + 1;
        assert_eq!(
            call_site_text(text, TextRange::new(start, end)),
            "emitter.on('data',handler,"
        );
    }

    #[test]
    fn figures_and_their_words_are_stripped_from_messages() {
        let big = "listener on long-lived emitter `bus` ('data') retains 7.8 MB: 1,800 listeners added during the load are still alive after idle";
        let small = "listener on long-lived emitter `bus` ('data') retains 912 kB: 1 listener added during the load are still alive after idle";
        assert_eq!(message_key(big), message_key(small));
        assert_eq!(
            message_key(big),
            "listener on long-lived emitter `bus` ('data') retains #: # added during the load are still alive after idle"
        );
        // Digits inside a name are the name.
        assert_eq!(
            message_key("`s3Client` holds 2 items."),
            "`s3Client` holds #."
        );
        assert_ne!(message_key("`cache1` grew"), message_key("`cache2` grew"));
    }
}
