//! The user's calls that feed a structure the heap says is leaking, when the structure lives
//! inside a library: the call inside a user function that leads to an allocation, the calls
//! made on (or with) a user binding from code that runs per request, and the user's calls
//! into a package's exports (the factory that created the library object holding the leak).
//!
//! These answer the placement rules of the `ide` crate; each returns every candidate in
//! source order, so the caller can also find the same call again on a line after an edit.

use tree_sitter::Node;

use crate::call_site::{classify, function_node_at, site_from_match};
use crate::parsed::{range_of, ParsedFile};
use crate::site::{CallSite, SiteKind};
use crate::syntax::{
    arguments_of, descendants_of_kind, enclosing_callable, is_callable, root_of_chain,
    statement_of, string_value,
};

/// How a call uses a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BindingUse {
    /// The binding is called itself (`ratesFor(parcel)`, a memoized function).
    Callee,
    /// The binding is the call's receiver (`httpRequests.inc(...)`, `bus.subscribe(...)`).
    Receiver,
    /// The binding is passed in the call's arguments (`createLogger({ transports: [shared] })`).
    Argument,
}

/// Calls made directly inside the function V8 places at (`line`, `utf16_column`) — not inside
/// functions nested in it — whose callee is named `callee` (`use`, `createLogger`, a class
/// name for `new`). With no name (V8 gives none for anonymous functions), every direct call,
/// registrations on long-lived receivers first.
pub fn calls_in_function(
    file: &ParsedFile,
    line: u32,
    utf16_column: u32,
    callee: Option<&str>,
) -> Vec<CallSite> {
    let Some(function) = function_node_at(file, line, utf16_column) else {
        return Vec::new();
    };
    let Some(body) = function.child_by_field_name("body").or(Some(function)) else {
        return Vec::new();
    };
    let calls: Vec<Node<'_>> = descendants_of_kind(body, &["call_expression", "new_expression"])
        .into_iter()
        .filter(|call| enclosing_callable(*call).is_some_and(|f| f.id() == function.id()))
        .collect();
    let wanted = callee.map(str::trim).filter(|name| !name.is_empty());
    let mut sites: Vec<CallSite> = match wanted {
        Some(name) => calls
            .into_iter()
            .filter(|call| callee_name(file, *call).is_some_and(|n| n == name))
            .filter_map(|call| site_of_call(file, call))
            .collect(),
        None => calls
            .into_iter()
            .filter_map(|call| site_of_call(file, call))
            .collect(),
    };
    if wanted.is_none() {
        // A stable sort: registrations with a function argument on a long-lived receiver,
        // then calls on long-lived receivers, then the rest, each in source order.
        sites.sort_by_key(|site| {
            let long_lived = site.receiver_long_lived == Some(true);
            let registers = site.handler.is_some();
            (!(long_lived && registers), !long_lived)
        });
    }
    sites
}

/// Calls that use `binding` (a variable or a `this.x` chain) from inside a function, where
/// they run once per request rather than once at start-up: receiver uses first, then
/// argument uses, each in source order. A receiver call also counts for any property chain
/// below the binding (`billingApi.interceptors.request.use(...)` uses `billingApi`).
pub fn binding_calls(file: &ParsedFile, binding: &str) -> Vec<(CallSite, BindingUse)> {
    let Some(root) = file.root() else {
        return Vec::new();
    };
    let mut found: Vec<(CallSite, BindingUse)> = Vec::new();
    for call in descendants_of_kind(root, &["call_expression", "new_expression"]) {
        if enclosing_callable(call).is_none() {
            continue;
        }
        let usage = if callee_node(call).is_some_and(|c| file.node_text(c) == binding) {
            Some(BindingUse::Callee)
        } else if receiver_root(file, call).is_some_and(|name| name == binding) {
            Some(BindingUse::Receiver)
        } else if mentions(file, call, binding) {
            Some(BindingUse::Argument)
        } else {
            None
        };
        if let Some(usage) = usage {
            if let Some(site) = site_of_call(file, call) {
                found.push((site, usage));
            }
        }
    }
    // A call that hands over a function (`subject.subscribe(fn)`) feeds a structure of
    // callbacks; then plain receiver calls; then arguments.
    found.sort_by_key(|(site, usage)| {
        (
            *usage == BindingUse::Argument,
            site.handler.is_none(),
            *usage,
            site.call.start,
        )
    });
    // An argument use nested in a receiver use of the same statement is the same call site.
    found.dedup_by_key(|(site, _)| site.statement);
    found
}

/// The user's calls into the exports of npm package `package` (`session({...})`,
/// `winston.createLogger(...)`, `new Ajv()`), through the names `require` or `import` bound
/// them to in this file; in source order.
pub fn package_calls(file: &ParsedFile, package: &str) -> Vec<CallSite> {
    let Some(root) = file.root() else {
        return Vec::new();
    };
    let names = package_bindings(file, root, package);
    let mut sites: Vec<CallSite> =
        descendants_of_kind(root, &["call_expression", "new_expression"])
            .into_iter()
            .filter(|call| {
                let Some(callee) = callee_node(*call) else {
                    return false;
                };
                if is_require_of(file, callee, package) {
                    return true;
                }
                root_of_chain(callee).is_some_and(|r| names.iter().any(|n| n == file.node_text(r)))
            })
            // `require('x')` itself is the import, not a use of the package.
            .filter(|call| !is_require_call(file, *call))
            .filter_map(|call| site_of_call(file, call))
            .collect();
    sites.sort_by_key(|site| site.call.start);
    sites.dedup_by_key(|site| site.statement);
    sites
}

/// A call site for any call or `new` expression: the listener, timer, collection or
/// registration queries' answer when one matches, else a plain [`SiteKind::Call`].
pub fn site_of_call(file: &ParsedFile, call: Node<'_>) -> Option<CallSite> {
    if call.kind() == "call_expression" {
        if let Some((kind, found)) = classify(file, call) {
            let mut site = site_from_match(file, kind, &found)?;
            site.handler = function_argument(call).map(range_of);
            return Some(site);
        }
    }
    let callee = callee_node(call)?;
    let (receiver, method) = match callee.kind() {
        "member_expression" => (
            callee.child_by_field_name("object"),
            callee
                .child_by_field_name("property")
                .map(|p| file.node_text(p).to_owned())?,
        ),
        _ => (None, file.node_text(callee).to_owned()),
    };
    let statement = statement_of(call).unwrap_or(call);
    Some(CallSite {
        kind: SiteKind::Call,
        statement: range_of(statement),
        call: range_of(call),
        underline: range_of(callee),
        receiver: receiver.map(|r| file.node_text(r).to_owned()),
        receiver_long_lived: receiver.and_then(|r| crate::scope::long_lived(file, r)),
        method,
        event: None,
        handler: function_argument(call).map(range_of),
        handler_declaration: None,
        enclosing_function: enclosing_callable(call).map(range_of),
    })
}

fn callee_node(call: Node<'_>) -> Option<Node<'_>> {
    call.child_by_field_name("function")
        .or_else(|| call.child_by_field_name("constructor"))
}

/// The name a call's callee goes by: `use` of `a.b.use(...)`, `createLogger`, `Layer` of
/// `new Layer(...)`.
fn callee_name<'f>(file: &'f ParsedFile, call: Node<'_>) -> Option<&'f str> {
    let callee = callee_node(call)?;
    match callee.kind() {
        "member_expression" => callee
            .child_by_field_name("property")
            .map(|p| file.node_text(p)),
        "identifier" => Some(file.node_text(callee)),
        _ => None,
    }
}

/// The identifier at the root of the callee's receiver chain (`billingApi` of
/// `billingApi.interceptors.request.use`); `this.x` chains as `this.x`.
fn receiver_root(file: &ParsedFile, call: Node<'_>) -> Option<String> {
    let callee = callee_node(call)?;
    if callee.kind() != "member_expression" {
        return None;
    }
    let mut object = callee.child_by_field_name("object")?;
    // `subject.pipe(filter(...)).subscribe(...)`: through the calls of a fluent chain.
    while object.kind() == "call_expression" {
        let inner = object.child_by_field_name("function")?;
        if inner.kind() != "member_expression" {
            return None;
        }
        object = inner.child_by_field_name("object")?;
    }
    let root = root_of_chain(object)?;
    if root.kind() == "this" {
        // `this.registry.inc()`: the binding is `this.registry`.
        let parent = root.parent()?;
        return (parent.kind() == "member_expression").then(|| file.node_text(parent).to_owned());
    }
    Some(file.node_text(root).to_owned())
}

/// Whether `binding` appears as an identifier in the call's arguments (outside nested
/// functions, whose bodies run later).
fn mentions(file: &ParsedFile, call: Node<'_>, binding: &str) -> bool {
    let Some(arguments) = call.child_by_field_name("arguments") else {
        return false;
    };
    descendants_of_kind(arguments, &["identifier", "member_expression"])
        .into_iter()
        .filter(|node| {
            // Not inside a function written in the arguments.
            let mut up = node.parent();
            while let Some(each) = up {
                if each.id() == arguments.id() {
                    return true;
                }
                if is_callable(each) {
                    return false;
                }
                up = each.parent();
            }
            true
        })
        .any(|node| {
            file.node_text(node) == binding
                && !node.parent().is_some_and(|p| {
                    p.kind() == "member_expression"
                        && node.kind() == "identifier"
                        && p.child_by_field_name("property")
                            .is_some_and(|prop| prop.id() == node.id())
                })
        })
}

/// The first argument that is a function written inline.
fn function_argument(call: Node<'_>) -> Option<Node<'_>> {
    arguments_of(call).into_iter().find(|a| is_callable(*a))
}

/// Whether `package` names `spec` or a file inside it (`express`, `express/lib/router`).
fn is_package(spec: &str, package: &str) -> bool {
    spec == package
        || spec
            .strip_prefix(package)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn is_require_call(file: &ParsedFile, call: Node<'_>) -> bool {
    call.kind() == "call_expression"
        && call
            .child_by_field_name("function")
            .is_some_and(|f| f.kind() == "identifier" && file.node_text(f) == "require")
}

/// `require('pkg')` (or `require('pkg').x`) as a callee: `require('express')()`.
fn is_require_of(file: &ParsedFile, node: Node<'_>, package: &str) -> bool {
    let mut current = node;
    while current.kind() == "member_expression" {
        match current.child_by_field_name("object") {
            Some(object) => current = object,
            None => return false,
        }
    }
    is_require_call(file, current)
        && arguments_of(current)
            .first()
            .and_then(|a| string_value(file, *a))
            .is_some_and(|spec| is_package(&spec, package))
}

/// The local names `package`'s exports are bound to: `const x = require('pkg')`,
/// `const { a, b: c } = require('pkg')`, `const x = require('pkg').y`, `import x from 'pkg'`,
/// `import * as x from 'pkg'`, `import { a as b } from 'pkg'`.
fn package_bindings(file: &ParsedFile, root: Node<'_>, package: &str) -> Vec<String> {
    let mut names = Vec::new();
    for declarator in descendants_of_kind(root, &["variable_declarator"]) {
        let (Some(name), Some(value)) = (
            declarator.child_by_field_name("name"),
            declarator.child_by_field_name("value"),
        ) else {
            continue;
        };
        if !is_require_of(file, value, package) {
            continue;
        }
        match name.kind() {
            "identifier" => names.push(file.node_text(name).to_owned()),
            "object_pattern" => {
                for each in descendants_of_kind(
                    name,
                    &["shorthand_property_identifier_pattern", "pair_pattern"],
                ) {
                    let bound = if each.kind() == "pair_pattern" {
                        each.child_by_field_name("value")
                    } else {
                        Some(each)
                    };
                    if let Some(bound) = bound.filter(|b| b.kind().contains("identifier")) {
                        names.push(file.node_text(bound).to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    for import in descendants_of_kind(root, &["import_statement"]) {
        let from = import
            .child_by_field_name("source")
            .and_then(|s| string_value(file, s));
        if !from.is_some_and(|spec| is_package(&spec, package)) {
            continue;
        }
        for each in descendants_of_kind(
            import,
            &["import_clause", "namespace_import", "import_specifier"],
        ) {
            match each.kind() {
                "import_clause" => {
                    if let Some(default) = each.named_child(0).filter(|n| n.kind() == "identifier")
                    {
                        names.push(file.node_text(default).to_owned());
                    }
                }
                "namespace_import" => {
                    if let Some(name) = descendants_of_kind(each, &["identifier"]).first() {
                        names.push(file.node_text(*name).to_owned());
                    }
                }
                _ => {
                    let bound = each
                        .child_by_field_name("alias")
                        .or_else(|| each.child_by_field_name("name"));
                    if let Some(bound) = bound {
                        names.push(file.node_text(bound).to_owned());
                    }
                }
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::Language;

    fn parse(text: &str) -> ParsedFile {
        ParsedFile::parse(text.to_string(), Language::JavaScript)
    }

    fn lines(file: &ParsedFile, sites: &[CallSite]) -> Vec<u32> {
        sites
            .iter()
            .map(|s| file.index().position_utf8(s.statement.start).0 + 1)
            .collect()
    }

    #[test]
    fn calls_in_function_by_callee_name() {
        let file = parse(
            "const api = axios.create();\n\
             function handle(req) {\n\
             \x20 const log = winston.createLogger({ level: 'info' });\n\
             \x20 api.interceptors.request.use((c) => c);\n\
             \x20 return () => api.get('/x');\n\
             }\n",
        );
        // V8 places `handle` at its `(`: line 1, column 15.
        let found = calls_in_function(&file, 1, 15, Some("createLogger"));
        assert_eq!(lines(&file, &found), vec![3]);
        let found = calls_in_function(&file, 1, 15, Some("use"));
        assert_eq!(lines(&file, &found), vec![4]);
        // `get` runs in a nested function: not a call of `handle`.
        assert!(calls_in_function(&file, 1, 15, Some("get")).is_empty());
    }

    #[test]
    fn binding_calls_per_request_receiver_first() {
        let file = parse(
            "const transport = new Transport();\n\
             const requests = new Counter();\n\
             transport.setup();\n\
             function handle(req) {\n\
             \x20 const logger = createLogger({ transports: [transport] });\n\
             \x20 requests.labels(req.url).inc();\n\
             }\n",
        );
        let found = binding_calls(&file, "transport");
        assert_eq!(found.len(), 1, "the module-level call runs once");
        assert_eq!(found[0].1, BindingUse::Argument);
        assert_eq!(lines(&file, &[found[0].0.clone()]), vec![5]);
        let found = binding_calls(&file, "requests");
        assert_eq!(found[0].1, BindingUse::Receiver);
        assert_eq!(lines(&file, &[found[0].0.clone()]), vec![6]);
    }

    #[test]
    fn package_calls_through_require_and_import() {
        let file = parse(
            "const session = require('express-session');\n\
             const { Router } = require('express');\n\
             const winston = require('winston');\n\
             app.use(session({ secret: 'x' }));\n\
             const r = Router();\n\
             function h() { return winston.createLogger({}); }\n",
        );
        assert_eq!(
            lines(&file, &package_calls(&file, "express-session")),
            vec![4]
        );
        assert_eq!(lines(&file, &package_calls(&file, "express")), vec![5]);
        assert_eq!(lines(&file, &package_calls(&file, "winston")), vec![6]);
        let module = ParsedFile::parse(
            "import Ajv from 'ajv';\nimport * as rx from 'rxjs';\nconst ajv = new Ajv();\nconst s = new rx.Subject();\n".to_string(),
            Language::JavaScript,
        );
        assert_eq!(lines(&module, &package_calls(&module, "ajv")), vec![3]);
        assert_eq!(lines(&module, &package_calls(&module, "rxjs")), vec![4]);
    }
}
