//! The answer of this crate: a call site that keeps something alive, with what a diagnostic needs.

use crate::text::TextRange;

/// What kind of call keeps the leaked objects alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SiteKind {
    /// `emitter.on(...)`, `addListener`, `prependListener`, `once`, `addEventListener`.
    Listener,
    /// `setInterval(...)`, `setTimeout(...)`, `setImmediate(...)`.
    Timer,
    /// A call that grows a collection: `set`, `add`, `push`, `unshift`, `obj[k] = v`.
    CollectionMutation,
    /// Any other call that keeps a function: `promise.then(fn)`, `router.get(path, fn)`,
    /// `interceptors.use(fn)`, `queue.push(fn)`.
    Registration,
    /// Any other call that feeds a library structure: a factory that creates the object
    /// holding the leak (`session({...})`, `createLogger(...)`), a call on a library object
    /// (`counter.inc({ path })`, `ajv.compile(schema)`).
    Call,
}

/// A registering or growing call, located in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSite {
    /// What the call does.
    pub kind: SiteKind,
    /// The enclosing statement (where the diagnostic's line is).
    pub statement: TextRange,
    /// The call expression (or the index assignment).
    pub call: TextRange,
    /// The callee to underline: `bus.on`, `setInterval`, `cache.set`, `cache[key]`.
    pub underline: TextRange,
    /// The receiver's text (`bus`, `shutdown.signal`, `process`, `cache`); `None` for a bare call.
    pub receiver: Option<String>,
    /// Whether the receiver outlives the registering call: `Some(true)` for a module-scope or
    /// imported binding, `process`, `globalThis`, a singleton `this`; `Some(false)` for a local or
    /// parameter; `None` when unknown.
    pub receiver_long_lived: Option<bool>,
    /// The method name: `on`, `setInterval`, `set`, `push`, `then`, `get` (`[]` for an index assignment).
    pub method: String,
    /// The event name of a listener: a string literal's value or a template's text.
    pub event: Option<String>,
    /// The argument that is (or makes) the kept function: an inline function, an identifier, a
    /// factory call, a `.bind` call.
    pub handler: Option<TextRange>,
    /// The declaration of a handler passed by name or made by a factory.
    pub handler_declaration: Option<TextRange>,
    /// The function each call of which registers again (the request handler); `None` at module scope.
    pub enclosing_function: Option<TextRange>,
}
