//! A parsed source file: its text, line index and tree-sitter tree, parsed once and shared.

use crate::language::Language;
use crate::line_index::LineIndex;
use crate::text::TextRange;
use tree_sitter::{Node, Parser, Tree};

/// A file's text with its syntax tree. Parsing never fails: a file tree-sitter cannot parse at
/// all has no tree, and every query on it answers "nothing found".
#[derive(Debug, Clone)]
pub struct ParsedFile {
    text: String,
    language: Language,
    index: LineIndex,
    tree: Option<Tree>,
}

impl ParsedFile {
    /// Parse `text` as `language`.
    pub fn parse(text: String, language: Language) -> ParsedFile {
        let mut parser = Parser::new();
        let tree = match parser.set_language(&language.grammar()) {
            Ok(()) => parser.parse(&text, None),
            Err(_) => None,
        };
        let index = LineIndex::new(&text);
        ParsedFile {
            text,
            language,
            index,
            tree,
        }
    }

    /// The source text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The language it was parsed as.
    pub fn language(&self) -> Language {
        self.language
    }

    /// Line/column conversion for this text.
    pub fn index(&self) -> &LineIndex {
        &self.index
    }

    /// The syntax tree, when tree-sitter produced one.
    pub fn tree(&self) -> Option<&Tree> {
        self.tree.as_ref()
    }

    /// The root node, when there is a tree.
    pub fn root(&self) -> Option<Node<'_>> {
        self.tree.as_ref().map(Tree::root_node)
    }

    /// Number of `ERROR` and missing nodes: how broken the parse is (0 for valid code).
    pub fn error_count(&self) -> usize {
        let Some(root) = self.root() else {
            return usize::MAX;
        };
        if !root.has_error() {
            return 0;
        }
        let mut count = 0;
        let mut cursor = root.walk();
        let mut descend = true;
        loop {
            let node = cursor.node();
            if descend {
                if node.is_error() || node.is_missing() {
                    count += 1;
                }
                if node.has_error() && cursor.goto_first_child() {
                    continue;
                }
            }
            if cursor.goto_next_sibling() {
                descend = true;
            } else if cursor.goto_parent() {
                descend = false;
            } else {
                return count;
            }
        }
    }

    /// The text of a node.
    pub fn node_text(&self, node: Node<'_>) -> &str {
        self.text.get(node.byte_range()).unwrap_or("")
    }

    /// The text in a range ("" when out of bounds).
    pub fn range_text(&self, range: TextRange) -> &str {
        range.slice(&self.text).unwrap_or("")
    }
}

/// The byte range of a node.
pub(crate) fn range_of(node: Node<'_>) -> TextRange {
    TextRange::new(node.start_byte(), node.end_byte())
}
