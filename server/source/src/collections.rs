//! A collection binding's declaration and the calls that grow it.

use crate::call_site::site_from_match;
use crate::parsed::{range_of, ParsedFile};
use crate::queries::{matches, queries};
use crate::site::{CallSite, SiteKind};
use crate::syntax::enclosing_callable;
use crate::text::TextRange;
use tree_sitter::Node;

/// Where a collection is declared and where it grows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CollectionSites {
    /// The declaration statement (`const cache = new Map();`), when found in this file.
    pub declaration: Option<TextRange>,
    /// The growing calls, in source order.
    pub mutations: Vec<CallSite>,
}

/// Find `binding` (`cache`, `sessions`, `router.stack`, `exports.cache`) in `file`: its
/// declaration and its growing calls (`set`, `add`, `push`, `unshift`, `obj[k] = v`).
/// An exported binding (`exports.cache`) also finds the local it was assigned from.
pub fn collection_sites(file: &ParsedFile, binding: &str) -> CollectionSites {
    let (Some(root), Some(queries)) = (file.root(), queries(file.language())) else {
        return CollectionSites::default();
    };
    let names = aliases(file, root, binding);
    let declarations = matches(&queries.declarations, root, file.text());
    let declaration = declarations
        .iter()
        .filter_map(|each| Some((each.get("name")?, each.get("declaration")?)))
        .filter(|(name, _)| names.contains(&compact(file.node_text(*name))))
        .min_by_key(|(_, declaration)| {
            (
                enclosing_callable(*declaration).is_some(),
                declaration.start_byte(),
            )
        })
        .map(|(_, declaration)| declaration_statement(declaration));
    let mut mutations: Vec<CallSite> = matches(&queries.collections, root, file.text())
        .into_iter()
        .filter(|each| {
            each.get("receiver")
                .is_some_and(|receiver| names.contains(&compact(file.node_text(receiver))))
        })
        .filter_map(|each| site_from_match(file, SiteKind::CollectionMutation, &each))
        .collect();
    mutations.sort_by_key(|site| site.call.start);
    mutations.dedup_by_key(|site| site.call);
    CollectionSites {
        declaration,
        mutations,
    }
}

/// The binding's spellings in this file: itself, `exports.x` <-> `module.exports.x`, and a
/// local assigned to the export (`exports.cache = cache`).
fn aliases(file: &ParsedFile, root: Node<'_>, binding: &str) -> Vec<String> {
    let binding = compact(binding);
    let mut names = vec![binding.clone()];
    if let Some(tail) = binding.strip_prefix("module.exports.") {
        names.push(format!("exports.{tail}"));
    } else if let Some(tail) = binding.strip_prefix("exports.") {
        names.push(format!("module.exports.{tail}"));
    }
    let exported: Vec<String> = names.clone();
    for assignment in crate::syntax::descendants_of_kind(root, &["assignment_expression"]) {
        let (Some(left), Some(right)) = (
            assignment.child_by_field_name("left"),
            assignment.child_by_field_name("right"),
        ) else {
            continue;
        };
        if right.kind() == "identifier" && exported.contains(&compact(file.node_text(left))) {
            names.push(file.node_text(right).to_owned());
        }
    }
    names
}

fn declaration_statement(declaration: Node<'_>) -> TextRange {
    let statement = declaration
        .parent()
        .filter(|parent| {
            matches!(
                parent.kind(),
                "lexical_declaration" | "variable_declaration"
            )
        })
        .filter(|parent| parent.named_child_count() == 1)
        .map(|parent| {
            parent
                .parent()
                .filter(|outer| outer.kind() == "export_statement")
                .unwrap_or(parent)
        })
        .unwrap_or(declaration);
    range_of(statement)
}

fn compact(text: &str) -> String {
    text.chars().filter(|ch| !ch.is_whitespace()).collect()
}
