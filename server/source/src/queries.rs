//! The tree-sitter queries of `grammars/`, compiled once per language, and the capture contract
//! (`@call`, `@callee`, `@receiver`, `@method`, `@arguments`, `@key`, `@value`, `@name`,
//! `@declaration`) that `grammars/README.md` documents.

use crate::error::SourceError;
use crate::language::Language;
use std::collections::HashMap;
use std::sync::OnceLock;
use streaming_iterator::StreamingIterator;
use tree_sitter::{Node, Query, QueryCursor};

/// Every query file, by name, as shipped in `grammars/javascript/`.
pub const QUERY_FILES: &[(&str, &str)] = &[
    (
        "listeners.scm",
        include_str!("../../../grammars/javascript/listeners.scm"),
    ),
    (
        "timers.scm",
        include_str!("../../../grammars/javascript/timers.scm"),
    ),
    (
        "collections.scm",
        include_str!("../../../grammars/javascript/collections.scm"),
    ),
    (
        "registrations.scm",
        include_str!("../../../grammars/javascript/registrations.scm"),
    ),
    (
        "declarations.scm",
        include_str!("../../../grammars/javascript/declarations.scm"),
    ),
];

/// Compile query `source` (named `name` in errors) for `language`.
pub fn compile_query(language: Language, name: &str, source: &str) -> Result<(), SourceError> {
    compile(language, name, source).map(|_| ())
}

fn compile(language: Language, name: &str, source: &str) -> Result<Query, SourceError> {
    Query::new(&language.grammar(), source).map_err(|error| SourceError::Query {
        name: name.to_owned(),
        language: format!("{language:?}"),
        message: error.to_string(),
    })
}

/// The compiled queries of one language.
pub(crate) struct Queries {
    pub listeners: Query,
    pub timers: Query,
    pub collections: Query,
    pub registrations: Query,
    pub declarations: Query,
}

impl Queries {
    fn load(language: Language) -> Result<Queries, SourceError> {
        let source = |wanted: &str| {
            QUERY_FILES
                .iter()
                .find(|(name, _)| *name == wanted)
                .map_or("", |(_, text)| *text)
        };
        let get = |name: &str| compile(language, name, source(name));
        Ok(Queries {
            listeners: get("listeners.scm")?,
            timers: get("timers.scm")?,
            collections: get("collections.scm")?,
            registrations: get("registrations.scm")?,
            declarations: get("declarations.scm")?,
        })
    }
}

/// The queries for `language`, compiled on first use; `None` if they do not compile (the tests
/// make sure they do).
pub(crate) fn queries(language: Language) -> Option<&'static Queries> {
    static JAVASCRIPT: OnceLock<Option<Queries>> = OnceLock::new();
    static TYPESCRIPT: OnceLock<Option<Queries>> = OnceLock::new();
    static TSX: OnceLock<Option<Queries>> = OnceLock::new();
    let cell = match language {
        Language::JavaScript => &JAVASCRIPT,
        Language::TypeScript => &TYPESCRIPT,
        Language::Tsx => &TSX,
    };
    cell.get_or_init(|| Queries::load(language).ok()).as_ref()
}

/// One match of a query: capture name -> node.
pub(crate) struct Match<'tree> {
    pub captures: HashMap<&'static str, Node<'tree>>,
}

impl<'tree> Match<'tree> {
    pub fn get(&self, name: &str) -> Option<Node<'tree>> {
        self.captures.get(name).copied()
    }
}

/// All matches of `query` under `node`.
pub(crate) fn matches<'tree>(
    query: &'static Query,
    node: Node<'tree>,
    text: &str,
) -> Vec<Match<'tree>> {
    let names = query.capture_names();
    let mut cursor = QueryCursor::new();
    let mut found = Vec::new();
    let mut iter = cursor.matches(query, node, text.as_bytes());
    while let Some(each) = iter.next() {
        let captures = each
            .captures
            .iter()
            .filter_map(|capture| {
                let name: &'static str = names.get(capture.index as usize)?;
                Some((name, capture.node))
            })
            .collect();
        found.push(Match { captures });
    }
    found
}
