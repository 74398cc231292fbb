//! Node and edge types, normalized from the names `meta` gives them.
//!
//! Records store these canonical codes rather than the file's raw numbers, so every
//! algorithm compares against constants whatever order a V8 version listed the types in.

/// What a node is, as V8 classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum NodeType {
    Hidden = 0,
    Array = 1,
    String = 2,
    Object = 3,
    Code = 4,
    Closure = 5,
    RegExp = 6,
    Number = 7,
    Native = 8,
    Synthetic = 9,
    ConcatenatedString = 10,
    SlicedString = 11,
    Symbol = 12,
    BigInt = 13,
    ObjectShape = 14,
    WasmObject = 15,
    /// A type name this reader does not know.
    Other = 255,
}

impl NodeType {
    const ALL: [(NodeType, &'static str); 16] = [
        (NodeType::Hidden, "hidden"),
        (NodeType::Array, "array"),
        (NodeType::String, "string"),
        (NodeType::Object, "object"),
        (NodeType::Code, "code"),
        (NodeType::Closure, "closure"),
        (NodeType::RegExp, "regexp"),
        (NodeType::Number, "number"),
        (NodeType::Native, "native"),
        (NodeType::Synthetic, "synthetic"),
        (NodeType::ConcatenatedString, "concatenated string"),
        (NodeType::SlicedString, "sliced string"),
        (NodeType::Symbol, "symbol"),
        (NodeType::BigInt, "bigint"),
        (NodeType::ObjectShape, "object shape"),
        (NodeType::WasmObject, "wasm object"),
    ];

    /// The type `meta` calls `name`.
    pub fn from_name(name: &str) -> NodeType {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map_or(NodeType::Other, |(t, _)| *t)
    }

    pub(crate) fn from_code(code: u8) -> NodeType {
        Self::ALL
            .get(code as usize)
            .map_or(NodeType::Other, |(t, _)| *t)
    }

    /// The name V8 uses for this type.
    pub fn as_str(self) -> &'static str {
        Self::ALL.get(self as usize).map_or("unknown", |(_, n)| n)
    }

    /// Whether nodes of this type are strings of some representation.
    pub fn is_string(self) -> bool {
        matches!(
            self,
            NodeType::String | NodeType::ConcatenatedString | NodeType::SlicedString
        )
    }
}

/// What an edge is, as V8 classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum EdgeType {
    /// A variable captured in a function context; the name is the variable.
    Context = 0,
    /// An array element; the name is an index.
    Element = 1,
    /// A named JS property.
    Property = 2,
    /// A V8-internal reference with a name.
    Internal = 3,
    /// A V8-internal reference without a name; the name is an index.
    Hidden = 4,
    /// A shortcut (from the root: a user global).
    Shortcut = 5,
    /// A weak reference: never retains.
    Weak = 6,
    /// A type name this reader does not know.
    Other = 255,
}

impl EdgeType {
    const ALL: [(EdgeType, &'static str); 7] = [
        (EdgeType::Context, "context"),
        (EdgeType::Element, "element"),
        (EdgeType::Property, "property"),
        (EdgeType::Internal, "internal"),
        (EdgeType::Hidden, "hidden"),
        (EdgeType::Shortcut, "shortcut"),
        (EdgeType::Weak, "weak"),
    ];

    /// The type `meta` calls `name`.
    pub fn from_name(name: &str) -> EdgeType {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map_or(EdgeType::Other, |(t, _)| *t)
    }

    pub(crate) fn from_code(code: u8) -> EdgeType {
        Self::ALL
            .get(code as usize)
            .map_or(EdgeType::Other, |(t, _)| *t)
    }

    /// The name V8 uses for this type.
    pub fn as_str(self) -> &'static str {
        Self::ALL.get(self as usize).map_or("unknown", |(_, n)| n)
    }

    /// Element and hidden edges are named by a number, the others by a string.
    pub fn has_index_name(self) -> bool {
        matches!(self, EdgeType::Element | EdgeType::Hidden)
    }
}
