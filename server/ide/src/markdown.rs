//! Strings from a snapshot (class, property, variable and function names, string values,
//! script URLs) in Markdown: the one place that makes them inert. A snapshot is data written
//! by the program that was captured, so a name can hold `*`, `[x](y)`, `<script>`,
//! backticks or newlines; in a hover or the report it must read as the characters it holds.
//!
//! [`text`] for running text, [`code`] for an inline code span (its fence longer than any
//! backtick run inside), [`code_in_table`] for a code span in a table cell, and [`message`]
//! for the product's sentences that quote names between backticks.

/// `s` as Markdown text: the characters that start emphasis, links, code, tables or
/// strike-through are backslash-escaped, `<`, `>` and `&` become entities (no HTML, no
/// autolink), a block marker at the start cannot open a heading, quote or list, and `://`
/// or `www.` start no link; control characters (newlines included) become spaces, so the
/// text stays on its line.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    let mut at_start = true;
    let mut digits = false;
    while let Some(c) = chars.next() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            // `#`, `+`, `-`, `=` open a block only at the start; `1.` and `1)` a list.
            '#' | '+' | '-' | '=' if at_start => {
                out.push('\\');
                out.push(c);
            }
            '.' | ')' if digits => {
                out.push('\\');
                out.push(c);
            }
            ':' if out.ends_with(|p: char| p.is_ascii_alphabetic())
                && chars.peek() == Some(&'/') =>
            {
                out.push_str("\\:");
            }
            '.' if out.ends_with("www") => out.push_str("\\."),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
        digits = (at_start || digits) && c.is_ascii_digit();
        at_start = false;
    }
    out
}

/// `s` as an inline code span: one line (control characters become spaces), fenced by one
/// backtick more than its longest run of backticks, padded with a space where it starts or
/// ends with a backtick or a space (CommonMark strips one space on each side).
pub fn code(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.is_empty() {
        return "` `".into();
    }
    let mut longest = 0;
    let mut run = 0;
    for c in clean.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = clean.starts_with(['`', ' ']) || clean.ends_with(['`', ' ']);
    let pad = if pad { " " } else { "" };
    format!("{fence}{pad}{clean}{pad}{fence}")
}

/// [`code`] for a table cell: GitHub's tables split cells at `|` even inside a code span,
/// unless it is escaped.
pub fn code_in_table(s: &str) -> String {
    code(s).replace('|', "\\|")
}

/// One of the product's sentences, which quotes snapshot names between backticks
/// (``listener on long-lived emitter `bus` ('data')``): each quoted part becomes a code
/// span of its own, everything else is [`text`]. A name holding a backtick splits
/// differently than meant, but every part stays inert.
pub fn message(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut parts = s.split('`');
    let mut quoted = false;
    let mut pending: Option<&str> = parts.next();
    while let Some(part) = pending {
        let next = parts.next();
        if quoted && next.is_some() {
            out.push_str(&code(part));
        } else if quoted {
            // An unmatched backtick: the text after it is text.
            out.push_str(&text("`"));
            out.push_str(&text(part));
        } else {
            out.push_str(&text(part));
        }
        quoted = !quoted;
        pending = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_read_as_their_characters() {
        assert_eq!(text("*bold*"), "\\*bold\\*");
        assert_eq!(text("__init__"), "\\_\\_init\\_\\_");
        assert_eq!(
            text("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(text("[link](x)"), "\\[link\\](x)");
        assert_eq!(text("![img](x)"), "\\!\\[img\\](x)");
        assert_eq!(text("a\nb\r\nc"), "a b  c");
        assert_eq!(text("a|b"), "a\\|b");
        assert_eq!(text("x `y` z"), "x \\`y\\` z");
        assert_eq!(text("&amp;"), "&amp;amp;");
        assert_eq!(text("~~gone~~"), "\\~\\~gone\\~\\~");
        assert_eq!(text("back\\slash"), "back\\\\slash");
        // Block markers only where they would open a block.
        assert_eq!(text("# title"), "\\# title");
        assert_eq!(text("- item"), "\\- item");
        assert_eq!(text("1. one"), "1\\. one");
        assert_eq!(text("12) x"), "12\\) x");
        assert_eq!(text("a-b #1 v1.2"), "a-b #1 v1.2");
        assert_eq!(text("main.js:12"), "main.js:12");
        // No autolink.
        assert_eq!(text("https://evil.test/x"), "https\\://evil.test/x");
        assert_eq!(text("see www.evil.test"), "see www\\.evil.test");
        assert_eq!(text("Node's timer lists"), "Node's timer lists");
    }

    #[test]
    fn code_spans_take_any_name_whole() {
        assert_eq!(code("bus"), "`bus`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("a``b`c"), "```a``b`c```");
        assert_eq!(code("`edge"), "`` `edge ``");
        assert_eq!(code("edge`"), "`` edge` ``");
        assert_eq!(code(" x "), "`  x  `");
        assert_eq!(code("line\nbreak"), "`line break`");
        assert_eq!(code(""), "` `");
        // Inside a code span nothing else is interpreted: `<`, `*` and `[` stay as they are.
        assert_eq!(code("<script>*[x](y)"), "`<script>*[x](y)`");
        assert_eq!(code_in_table("a|b"), "`a\\|b`");
    }

    #[test]
    fn messages_keep_their_quotes_as_code() {
        assert_eq!(
            message("listener on long-lived emitter `bus` ('data') retains 7.8 MB"),
            "listener on long-lived emitter `bus` ('data') retains 7.8 MB"
        );
        assert_eq!(
            message("emitter `<b>*x*</b>` ('[a](b)')"),
            "emitter `<b>*x*</b>` ('\\[a\\](b)')"
        );
        // A backtick inside a quoted name: still inert, nothing left open.
        let m = message("emitter `a`b` retains");
        assert_eq!(m, "emitter `a`b\\` retains");
    }
}
