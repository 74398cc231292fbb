//! The analysis context: the final snapshot, the leaked-set predicate and the indices every
//! leak kind needs (dominator intervals, script URLs, class names).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use heapsight_snapshot::{raw_class_name, EdgeName, NodeIndex, NodeType, Snapshot};

use crate::finding::CodeAnchor;
use crate::kinds::Item;

/// Shared read-only state of one analysis.
pub struct Ctx<'s> {
    /// The final snapshot.
    pub snap: &'s Snapshot,
    /// Largest JS object id of the baseline.
    pub max_a: u64,
    /// Largest JS object id of the target.
    pub max_b: u64,
    /// Preorder interval of each node in the dominator tree: `x` is dominated by `h` iff
    /// `tin[h] <= tin[x] < tout[h]`.
    tin: Vec<u32>,
    tout: Vec<u32>,
    /// Nodes by `tin`: the dominator tree in preorder.
    by_tin: Vec<u32>,
    scripts: RefCell<HashMap<u32, Option<String>>>,
    /// The npm package of each script whose URL is known (`None`: not a dependency's).
    /// [`Ctx::library_of`] is asked of every retainer of a module's scope, thousands of
    /// closures of a few scripts: parsing the URL once per script, not per closure.
    packages: RefCell<HashMap<u32, Option<String>>>,
    /// The last container's stored values ([`Ctx::items_of`]): the closure and collection
    /// recognizers both read the same owner's, hundreds of thousands in a large cache.
    last_items: RefCell<Option<(NodeIndex, Rc<[Item]>)>>,
    /// Bit `n`: node `n` is leaked ([`Ctx::leaked`]). The grouping asks it of every node in
    /// dominator-tree order: one bit a node stays in the caches where the ids column
    /// (4 bytes a node, read out of order) does not.
    leaked: Vec<u64>,
}

impl<'s> Ctx<'s> {
    /// Builds the indices.
    pub fn new(snap: &'s Snapshot, max_a: u64, max_b: u64) -> Self {
        // Independent: the script table and the leaked set on one core, the dominator-tree
        // index on the other.
        let ((scripts, leaked), (tin, tout, by_tin)) = std::thread::scope(|s| {
            let side = s.spawn(|| (script_table(snap), leaked_set(snap, max_a, max_b)));
            let spans = intervals(snap);
            let side = side
                .join()
                .unwrap_or_else(|_| (HashMap::new(), leaked_set(snap, max_a, max_b)));
            (side, spans)
        });
        Ctx {
            snap,
            max_a,
            max_b,
            tin,
            tout,
            by_tin,
            scripts: RefCell::new(scripts),
            packages: RefCell::new(HashMap::new()),
            last_items: RefCell::new(None),
            leaked,
        }
    }

    /// Whether `n` was allocated between the baseline and the target (and so, being in the
    /// final snapshot, survived the idle period).
    #[inline]
    pub fn leaked(&self, n: NodeIndex) -> bool {
        self.leaked
            .get(n.ix() >> 6)
            .is_some_and(|word| word >> (n.ix() & 63) & 1 == 1)
    }

    /// When `n` was allocated: 0 before the baseline, 1 during the workload, 2 after.
    pub fn era(&self, n: NodeIndex) -> u8 {
        let id = self.snap.graph.node_id(n);
        if id <= self.max_a {
            0
        } else if id <= self.max_b {
            1
        } else {
            2
        }
    }

    /// Whether `h` dominates `x`.
    #[inline]
    pub fn dominates(&self, h: NodeIndex, x: NodeIndex) -> bool {
        let (a, b) = (self.tin[h.ix()], self.tin[x.ix()]);
        a <= b && b < self.tout[h.ix()]
    }

    /// The npm package whose code made `n` (a function's own script, an object's
    /// constructor's script), when that script is under `node_modules/`.
    pub fn library_of(&self, n: NodeIndex) -> Option<String> {
        let g = &self.snap.graph;
        let script = g.location(n)?.script_id;
        if let Some(known) = self.packages.borrow().get(&script) {
            return known.clone();
        }
        // An object's location is its constructor's: resolve the URL through any function
        // of that script. A script whose URL is not known yet is not remembered: a later
        // `script_url` may find it.
        let package = match self.scripts.borrow().get(&script) {
            Some(Some(url)) => package_of(url),
            _ => return None,
        };
        self.packages.borrow_mut().insert(script, package.clone());
        package
    }

    /// The values stored in `owner` ([`crate::kinds::items`]), computed once for the
    /// last owner asked about.
    pub fn items_of(&self, owner: NodeIndex) -> Rc<[Item]> {
        if let Some((last, items)) = &*self.last_items.borrow() {
            if *last == owner {
                return Rc::clone(items);
            }
        }
        let items: Rc<[Item]> = crate::kinds::items(self, owner).into();
        *self.last_items.borrow_mut() = Some((owner, Rc::clone(&items)));
        items
    }

    /// Whether `f` is a function of the user's own code (a closure whose script is neither a
    /// dependency nor Node's).
    pub fn is_user_function(&self, f: NodeIndex) -> bool {
        let g = &self.snap.graph;
        g.node_type(f) == NodeType::Closure
            && g.location(f)
                .and_then(|loc| self.script_url(loc.script_id, f))
                .is_some_and(|url| Ctx::is_user_url(&url))
    }

    /// Whether a script URL is the user's own code (not a dependency, not Node's).
    pub fn is_user_url(url: &str) -> bool {
        !url.starts_with("node:")
            && package_of(url).is_none()
            && (url.starts_with('/') || url.starts_with("file://") || url.contains(":\\"))
    }

    /// Every node in dominator-tree preorder (each after its dominator).
    pub fn preorder(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.by_tin.iter().map(|&n| NodeIndex(n))
    }

    /// The nodes `h` immediately dominates: in preorder, each child's subtree follows
    /// the previous one's.
    pub fn dominated_children(&self, h: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        let end = self.tout[h.ix()];
        let mut t = self.tin[h.ix()] + 1;
        std::iter::from_fn(move || {
            if t >= end {
                return None;
            }
            let child = self.by_tin[t as usize];
            t = self.tout[child as usize];
            Some(NodeIndex(child))
        })
    }

    /// `h` and every node it dominates, in dominator-tree preorder.
    pub fn subtree(&self, h: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        let (from, to) = (self.tin[h.ix()] as usize, self.tout[h.ix()] as usize);
        self.by_tin
            .get(from..to)
            .unwrap_or_default()
            .iter()
            .map(|&n| NodeIndex(n))
    }

    /// Size of the dominator subtree of `h` (nodes).
    pub fn subtree_size(&self, h: NodeIndex) -> u32 {
        self.tout[h.ix()] - self.tin[h.ix()]
    }

    /// The class name of `n`, as DevTools names classes (`Function`, `(string)`, the
    /// constructor), computed for this node alone: the leak finder names a few nodes, so it
    /// does not classify the whole heap.
    pub fn class(&self, n: NodeIndex) -> std::borrow::Cow<'_, str> {
        let g = &self.snap.graph;
        raw_class_name(g.node_type(n), g.node_name(n))
    }

    /// A plain object's shape, `{id, name, email}`, for display; other nodes' class.
    pub fn label(&self, n: NodeIndex) -> String {
        let g = &self.snap.graph;
        let class = self.class(n);
        if class != "Object" || g.node_type(n) != NodeType::Object {
            return class.into_owned();
        }
        let mut shape = String::from("{");
        for e in g.edges(n) {
            if let (heapsight_snapshot::EdgeType::Property, EdgeName::Name(p)) =
                (e.edge_type, e.name)
            {
                if p == "__proto__" {
                    continue;
                }
                if shape.len() > 1 {
                    if shape.len() + p.len() > 60 {
                        shape.push_str(", …");
                        break;
                    }
                    shape.push_str(", ");
                }
                shape.push_str(p);
            }
        }
        if shape.len() == 1 {
            return class.into_owned();
        }
        shape.push('}');
        shape
    }

    /// The target of `n`'s first edge named `name` (any non-index type).
    pub fn child(&self, n: NodeIndex, name: &str) -> Option<NodeIndex> {
        self.snap.graph.child_by_name(n, name)
    }

    /// For a bound function (`native_bind`), the function it wraps; for `once` wrappers,
    /// the user's listener; otherwise `n`.
    pub fn unwrap_function(&self, mut n: NodeIndex) -> NodeIndex {
        let g = &self.snap.graph;
        for _ in 0..4 {
            if g.node_type(n) != NodeType::Closure {
                return n;
            }
            let next = self.child(n, "bound_function").and_then(|target| {
                // `once`: bound onceWrapper whose `this` (bound_this) holds `listener`.
                if g.node_name(target) == "onceWrapper" {
                    self.child(n, "bound_this")
                        .and_then(|state| self.child(state, "listener"))
                } else {
                    Some(target)
                }
            });
            match next {
                Some(t) if t != n => n = t,
                _ => return n,
            }
        }
        n
    }

    /// Where the function `n` was defined, with its script's URL.
    pub fn anchor(&self, n: NodeIndex) -> Option<CodeAnchor> {
        let g = &self.snap.graph;
        let loc = g.location(n)?;
        let name = g.node_name(n);
        Some(CodeAnchor {
            script_id: loc.script_id,
            url: self.script_url(loc.script_id, n),
            line: loc.line,
            column: loc.column,
            function: (!name.is_empty() && g.node_type(n) == NodeType::Closure)
                .then(|| name.to_string()),
        })
    }

    /// The URL of script `id`, found through a closure of that script:
    /// closure → `shared` → `script_or_debug_info` (Node ≤ 20) or `script` (22+) → Script.
    pub fn script_url(&self, id: u32, via: NodeIndex) -> Option<String> {
        if let Some(Some(known)) = self.scripts.borrow().get(&id) {
            return Some(known.clone());
        }
        let url = self.url_through(via);
        if url.is_some() {
            self.scripts.borrow_mut().insert(id, url.clone());
        }
        url
    }

    /// closure → `shared` → `script_or_debug_info` (Node ≤ 20; a DebugInfo when a debugger
    /// touched the function, whose `script` leads on) or `script` (22+) → the Script, named
    /// by its path or URL.
    fn url_through(&self, closure: NodeIndex) -> Option<String> {
        url_through(self.snap, closure)
    }
}

/// The leaked set as bits: JS objects (odd ids) allocated after the baseline's newest and
/// by the target's.
fn leaked_set(snap: &Snapshot, max_a: u64, max_b: u64) -> Vec<u64> {
    let g = &snap.graph;
    let mut bits = vec![0u64; g.node_count().div_ceil(64)];
    for n in g.nodes() {
        let id = g.node_id(n);
        if id & 1 == 1 && id > max_a && id <= max_b {
            bits[n.ix() >> 6] |= 1 << (n.ix() & 63);
        }
    }
    bits
}

/// The script id → URL table, from every function with a position.
fn script_table(snap: &Snapshot) -> HashMap<u32, Option<String>> {
    let g = &snap.graph;
    let mut table = HashMap::new();
    for loc in g.locations() {
        if matches!(table.get(&loc.script_id), Some(Some(_)))
            || g.node_type(loc.node) != NodeType::Closure
        {
            continue;
        }
        table.insert(loc.script_id, url_through(snap, loc.node));
    }
    table
}

/// closure → `shared` → `script_or_debug_info` / `script` → the Script's name.
fn url_through(snap: &Snapshot, closure: NodeIndex) -> Option<String> {
    let g = &snap.graph;
    let shared = g.child_by_name(closure, "shared")?;
    let mut node = g
        .edges(shared)
        .find(|e| matches!(e.name, EdgeName::Name("script_or_debug_info" | "script")))?
        .to;
    for _ in 0..2 {
        let name = g.node_name(node);
        if name.starts_with("system / ") {
            node = g.child_by_name(node, "script")?;
            continue;
        }
        if !name.is_empty() {
            return Some(name.to_string());
        }
        return g
            .child_by_name(node, "name")
            .map(|s| g.node_name(s).to_string())
            .filter(|s| !s.is_empty());
    }
    None
}

/// The package a script belongs to: the path segment(s) after its last `node_modules/`.
pub fn package_of(url: &str) -> Option<String> {
    let at = url.rfind("/node_modules/")?;
    let rest = &url[at + "/node_modules/".len()..];
    let mut parts = rest.split('/');
    let first = parts.next()?;
    let name = if first.starts_with('@') {
        format!("{first}/{}", parts.next()?)
    } else {
        first.to_string()
    };
    (!name.is_empty()).then_some(name)
}

/// Pre/post numbering of the dominator tree, and the nodes in that preorder, without
/// children lists: subtree sizes summed backwards over an order that has every node after
/// its dominator, then each node placed at its dominator's next free slot.
fn intervals(snap: &Snapshot) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let dom = snap.dominators();
    let (order, idom) = (dom.order(), dom.idoms());
    let n = idom.len();
    let mut size = vec![1u32; n];
    for &v in order.iter().skip(1).rev() {
        size[idom[v as usize] as usize] += size[v as usize];
    }
    let mut tin = vec![0u32; n];
    // The next free preorder slot under each node: just after itself, then after each
    // child's subtree as the children are placed.
    let mut next = vec![0u32; n];
    if let Some(&root) = order.first() {
        next[root as usize] = 1;
    }
    for &v in order.iter().skip(1) {
        let parent = idom[v as usize] as usize;
        let at = next[parent];
        tin[v as usize] = at;
        next[parent] = at + size[v as usize];
        next[v as usize] = at + 1;
    }
    drop(next);
    let mut by_tin = vec![0u32; n];
    for (v, &t) in tin.iter().enumerate() {
        if let Some(slot) = by_tin.get_mut(t as usize) {
            *slot = v as u32;
        }
    }
    // `size` becomes `tout` in place.
    for (v, s) in size.iter_mut().enumerate() {
        *s += tin[v];
    }
    (tin, size, by_tin)
}
