//! The surrounding code's style, so inserted code looks like it was always there: indentation,
//! quotes, semicolons, and names that do not collide.

use crate::parsed::ParsedFile;
use crate::syntax::descendants_of_kind;

/// Style facts about one file.
pub(crate) struct Style {
    /// One indentation step (`"  "`, `"    "`, `"\t"`).
    pub unit: String,
    /// The quote character for new strings.
    pub quote: char,
    /// Whether statements end with `;`.
    pub semicolons: bool,
}

impl Style {
    pub fn of(file: &ParsedFile) -> Style {
        let text = file.text();
        let indents: Vec<&str> = text
            .split('\n')
            .filter(|line| !line.trim().is_empty())
            .map(|line| &line[..line.len() - line.trim_start().len()])
            .filter(|indent| !indent.is_empty())
            .collect();
        let unit = if indents.iter().any(|indent| indent.starts_with('\t')) {
            "\t".to_owned()
        } else {
            let width = indents
                .iter()
                .map(|indent| indent.len())
                .min()
                .unwrap_or(2)
                .clamp(1, 8);
            " ".repeat(width)
        };
        let single = text.matches('\'').count();
        let double = text.matches('"').count();
        let statements = file.root().map_or(Vec::new(), |root| {
            descendants_of_kind(root, &["expression_statement", "lexical_declaration"])
        });
        let with_semicolon = statements
            .iter()
            .filter(|statement| file.node_text(**statement).ends_with(';'))
            .count();
        Style {
            unit,
            quote: if double > single { '"' } else { '\'' },
            semicolons: statements.is_empty() || with_semicolon * 2 >= statements.len(),
        }
    }

    /// `text` as a string literal in this file's quote style.
    pub fn string(&self, text: &str) -> String {
        format!("{q}{text}{q}", q = self.quote)
    }

    /// The statement terminator.
    pub fn end(&self) -> &'static str {
        if self.semicolons {
            ";"
        } else {
            ""
        }
    }
}

/// The whitespace that starts the line holding `offset`.
pub(crate) fn indent_at(file: &ParsedFile, offset: usize) -> String {
    let text = file.text();
    let line_start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |at| at + 1);
    text[line_start..]
        .chars()
        .take_while(|ch| *ch == ' ' || *ch == '\t')
        .collect()
}

/// `wanted`, or `wanted2`, `wanted3`... whichever does not occur as a word in the file's code
/// (a word only in comments, "adds a request interceptor", takes no name).
pub(crate) fn unique_name(file: &ParsedFile, wanted: &str) -> String {
    let comments: Vec<std::ops::Range<usize>> = file.root().map_or(Vec::new(), |root| {
        descendants_of_kind(root, &["comment"])
            .into_iter()
            .map(|comment| comment.byte_range())
            .collect()
    });
    let taken = |name: &str| {
        file.text().match_indices(name).any(|(at, _)| {
            let before = file.text()[..at].chars().next_back();
            let after = file.text()[at + name.len()..].chars().next();
            !before.is_some_and(is_word)
                && !after.is_some_and(is_word)
                && !comments.iter().any(|comment| comment.contains(&at))
        })
    };
    if !taken(wanted) {
        return wanted.to_owned();
    }
    (2..)
        .map(|n| format!("{wanted}{n}"))
        .find(|name| !taken(name))
        .unwrap_or_else(|| wanted.to_owned())
}

fn is_word(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_' || ch == '$'
}

/// `onData` for event `data`, `onUserJoined` for `user-joined`; `handler` without a usable event.
pub(crate) fn handler_name(event: Option<&str>) -> String {
    // A template's `${...}` part varies per call: name the handler after the fixed prefix.
    let fixed = event.unwrap_or("").split('$').next().unwrap_or("");
    let words: Vec<String> = fixed
        .split(|ch: char| !ch.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    let joined: String = words.concat();
    if joined.is_empty() || joined.starts_with(|ch: char| ch.is_ascii_digit()) {
        "handler".to_owned()
    } else {
        format!("on{joined}")
    }
}
