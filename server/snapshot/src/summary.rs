//! Per-class aggregates, as DevTools' Summary view computes them.
//!
//! A node's class (DevTools' `calculateObjectNames`): its name for objects and native
//! objects (`<div id=x>` shortened to `<div>`), `Function` for closures, `RegExp`,
//! `(compiled code)`, `(system)` for hidden nodes, and `(type)` for the rest. Plain
//! `Object`s are named by their shape instead when enough objects share it
//! (`{id, name, email}`), which is what makes a Summary of a real service readable.
//! Objects with a constructor location are split by location, so two classes of the same
//! name in different files are different rows.
//!
//! Nodes whose attributed self size is 0 (internals moved onto their owner) are not
//! counted. A class's retained size counts each instance that no other counted instance
//! of the same class dominates, so nested instances are not counted twice.

use foldhash::{HashMap, HashMapExt};
use std::cmp::Ordering;

use crate::graph::{HeapGraph, NodeIndex};
use crate::types::{EdgeType, NodeType};
use crate::{Snapshot, UNREACHABLE};

/// One row of the Summary view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSummary {
    /// The class name.
    pub name: String,
    /// The constructor's position `(script id, line, column)` when the class is keyed by it.
    pub location: Option<(u32, u32, u32)>,
    /// Instances.
    pub count: u64,
    /// Sum of instances' self sizes.
    pub self_size: u64,
    /// Bytes retained by the instances together.
    pub retained_size: u64,
    /// The smallest distance from the GC roots of any instance ([`UNREACHABLE`] if one is).
    pub distance: u32,
}

// Interface inference limits, as DevTools sets them.
const MIN_INTERFACE_PROPERTY_COUNT: usize = 1;
const MAX_INTERFACE_NAME_LENGTH: usize = 120;
const MIN_OBJECT_COUNT_PER_INTERFACE: f64 = 2.0;
const MIN_OBJECT_PROPORTION_PER_INTERFACE: f64 = 1000.0;

/// Class names of every node, interned.
pub struct ClassNames {
    names: Vec<String>,
    class_of: ClassColumn,
}

/// Each node's class id: two bytes while there are at most 65,536 classes (every heap
/// measured has a few thousand), four past that. The column lives through the dominator
/// search's peak when `stats` computes it beside the analysis.
enum ClassColumn {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

impl ClassColumn {
    fn with_capacity(n: usize) -> ClassColumn {
        ClassColumn::Narrow(Vec::with_capacity(n))
    }
    #[inline]
    fn get(&self, i: usize) -> u32 {
        match self {
            ClassColumn::Narrow(v) => u32::from(v[i]),
            ClassColumn::Wide(v) => v[i],
        }
    }
    #[inline]
    fn push(&mut self, id: u32) {
        match self {
            ClassColumn::Narrow(v) => match u16::try_from(id) {
                Ok(x) => v.push(x),
                Err(_) => {
                    self.widen();
                    self.push(id);
                }
            },
            ClassColumn::Wide(v) => v.push(id),
        }
    }
    #[inline]
    fn set(&mut self, i: usize, id: u32) {
        match self {
            ClassColumn::Narrow(v) => match u16::try_from(id) {
                Ok(x) => v[i] = x,
                Err(_) => {
                    self.widen();
                    self.set(i, id);
                }
            },
            ClassColumn::Wide(v) => v[i] = id,
        }
    }
    #[cold]
    #[inline(never)]
    fn widen(&mut self) {
        if let ClassColumn::Narrow(v) = self {
            let mut wide = Vec::with_capacity(v.capacity());
            wide.extend(v.iter().map(|&x| u32::from(x)));
            *self = ClassColumn::Wide(wide);
        }
    }
    /// The ids as a four-byte column (the Summary turns it into each node's row).
    fn into_wide(self) -> Vec<u32> {
        match self {
            ClassColumn::Narrow(v) => v.into_iter().map(u32::from).collect(),
            ClassColumn::Wide(v) => v,
        }
    }
}

impl ClassNames {
    /// Bytes a node takes in the class column: what computing class names beside the
    /// analysis adds to its peak (see [`crate::MemoryNeed::with_per_node`]).
    pub const BYTES_PER_NODE: u64 = 2;

    /// Computes the class of every node, including shape names for plain objects.
    pub fn compute(graph: &HeapGraph) -> ClassNames {
        let mut interner = Interner::default();
        let mut class_of = ClassColumn::with_capacity(graph.node_count());
        // A class depends only on the node's type and name: decide it once per pair, not
        // once per node (a heap has millions of nodes and a few thousand names in use).
        let mut by_name: Vec<u32> = vec![u32::MAX; graph.strings.len()];
        let mut by_type: [u32; 256] = [u32::MAX; 256];
        for n in graph.nodes() {
            let ty = graph.node_type(n);
            let id = match ty {
                NodeType::Object | NodeType::Native => {
                    let name = graph.node_name_index(n) as usize;
                    match by_name[name] {
                        u32::MAX => {
                            let id = interner.id(&short_tag_name(graph.node_name(n)));
                            by_name[name] = id;
                            id
                        }
                        id => id,
                    }
                }
                _ => match by_type[ty as usize] {
                    u32::MAX => {
                        let id = interner.id(&raw_class_name(ty, ""));
                        by_type[ty as usize] = id;
                        id
                    }
                    id => id,
                },
            };
            class_of.push(id);
        }
        let mut names = ClassNames {
            names: interner.names,
            class_of,
        };
        let mut interner = Interner {
            ids: names
                .names
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), i as u32))
                .collect(),
            names: std::mem::take(&mut names.names),
        };
        apply_interfaces(
            graph,
            &infer_interfaces(graph),
            &mut interner,
            &mut names.class_of,
        );
        names.names = interner.names;
        names
    }

    /// The class of node `n`.
    pub fn of(&self, n: NodeIndex) -> &str {
        &self.names[self.class_of.get(n.ix()) as usize]
    }
}

#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        id
    }
}

/// The class name from the node's type and name alone (no shape names, no locations):
/// what a baseline scan without edges can compute, used for the comparison view.
pub fn raw_class_name(ty: NodeType, name: &str) -> std::borrow::Cow<'_, str> {
    match ty {
        NodeType::Object | NodeType::Native => short_tag_name(name),
        NodeType::Hidden => "(system)".into(),
        NodeType::Code => "(compiled code)".into(),
        NodeType::Closure => "Function".into(),
        NodeType::RegExp => "RegExp".into(),
        other => format!("({})", other.as_str()).into(),
    }
}

/// `<div id="a">` → `<div>`, `Detached <div id="a">` → `Detached <div>`.
fn short_tag_name(name: &str) -> std::borrow::Cow<'_, str> {
    let cut = if name.starts_with('<') {
        name.find(' ')
    } else if name.starts_with("Detached <") {
        name.get(10..)
            .and_then(|rest| rest.find(' '))
            .map(|i| i + 10)
    } else {
        None
    };
    match cut {
        Some(i) => format!("{}>", &name[..i]).into(),
        None => name.into(),
    }
}

fn is_plain_object(graph: &HeapGraph, n: NodeIndex) -> bool {
    graph.node_type(n) == NodeType::Object && graph.node_name(n) == "Object"
}

/// JS string comparison: by UTF-16 code units.
fn cmp16(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Property names with `,'"{}` are quoted so a shape name stays unambiguous.
fn format_property_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains([',', '\'', '"', '{', '}']) {
        serde_json::to_string(name)
            .map(Into::into)
            .unwrap_or_else(|_| name.into())
    } else {
        name.into()
    }
}

/// A candidate shape: first-seen order, how many objects have it, its properties.
type Candidate<'g> = (usize, u64, Vec<&'g str>);
/// A Summary row's key: class id and, for located objects, the constructor position.
type ClassKey = (u32, Option<(u32, u32, u32)>);

struct Interface<'g> {
    name: String,
    properties: Vec<&'g str>,
}

/// The property-name string indices of each plain object, in edge order: what both
/// shape passes read. Objects of one hidden class share the sequence, so results are
/// memoized by it instead of being recomputed per object.
fn property_indices(graph: &HeapGraph, n: NodeIndex, out: &mut Vec<u32>) {
    out.clear();
    let property = EdgeType::Property as u8;
    for e in graph.edge_range(n) {
        if graph.edge_type[e] == property {
            out.push(graph.edge_name[e]);
        }
    }
}

/// The shapes common enough among plain objects to name them (DevTools'
/// `inferInterfaceDefinitions`), most common first.
fn infer_interfaces(graph: &HeapGraph) -> Vec<Interface<'_>> {
    // First by property sequence (cheap to hash, no string built per object), then the
    // distinct sequences by the name they print as, first-seen order kept.
    let mut by_sequence: HashMap<Vec<u32>, (usize, u64)> = HashMap::new();
    let mut total = 0u64;
    let mut sequence = Vec::new();
    for n in graph.nodes() {
        if !is_plain_object(graph, n) {
            continue;
        }
        total += 1;
        property_indices(graph, n, &mut sequence);
        let seen = by_sequence.len();
        match by_sequence.get_mut(sequence.as_slice()) {
            Some(entry) => entry.1 += 1,
            None => {
                by_sequence.insert(sequence.clone(), (seen, 1));
            }
        }
    }
    let mut sequences: Vec<(Vec<u32>, (usize, u64))> = by_sequence.into_iter().collect();
    sequences.sort_by_key(|(_, (order, _))| *order);
    let mut candidates: HashMap<String, Candidate<'_>> = HashMap::new();
    for (sequence, (order, count)) in sequences {
        let Some((name, properties)) = shape_name(graph, &sequence) else {
            continue;
        };
        candidates
            .entry(name)
            .or_insert_with(|| (order, 0, properties))
            .1 += count;
    }
    let mut sorted: Vec<(String, Candidate<'_>)> = candidates.into_iter().collect();
    // Most common first; ties keep first-seen order, as JS's stable sort over a Map does.
    sorted.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.1 .0.cmp(&b.1 .0)));
    let min =
        MIN_OBJECT_COUNT_PER_INTERFACE.max(total as f64 / MIN_OBJECT_PROPORTION_PER_INTERFACE);
    sorted
        .into_iter()
        .take_while(|(_, (_, count, _))| *count as f64 >= min)
        .map(|(name, (_, _, properties))| Interface { name, properties })
        .collect()
}

/// `{id, name, email}` for a sequence of property names, cut at DevTools' length limit;
/// `None` for an object with no named property.
fn shape_name<'g>(graph: &'g HeapGraph, sequence: &[u32]) -> Option<(String, Vec<&'g str>)> {
    let mut name = String::from("{");
    let mut len16 = 1usize;
    let mut properties = Vec::new();
    for &index in sequence {
        let prop = graph.strings.get(index as usize);
        if prop == "__proto__" {
            continue;
        }
        let formatted = format_property_name(prop);
        let f16 = formatted.encode_utf16().count();
        if len16 > MIN_INTERFACE_PROPERTY_COUNT && len16 + f16 > MAX_INTERFACE_NAME_LENGTH {
            break;
        }
        if len16 != 1 {
            name.push_str(", ");
            len16 += 2;
        }
        name.push_str(&formatted);
        len16 += f16;
        properties.push(prop);
    }
    if properties.is_empty() {
        return None;
    }
    name.push('}');
    Some((name, properties))
}

#[derive(Clone, Copy)]
struct Match {
    class: u32,
    property_count: usize,
    index: usize,
}

fn better(a: Match, b: Option<Match>) -> Match {
    match b {
        None => a,
        Some(b) if a.property_count > b.property_count => a,
        Some(b) if b.property_count > a.property_count => b,
        Some(b) => {
            if a.index <= b.index {
                a
            } else {
                b
            }
        }
    }
}

struct TrieNode<'g> {
    next: HashMap<&'g str, usize>,
    matched: Option<Match>,
    greatest_next: Option<&'g str>,
}

/// Names each plain object by the interface with the most properties, all of which it
/// has (earliest interface on ties) — DevTools' `applyInterfaceDefinitions`.
fn apply_interfaces(
    graph: &HeapGraph,
    defs: &[Interface<'_>],
    interner: &mut Interner,
    class_of: &mut ClassColumn,
) {
    if defs.is_empty() {
        return;
    }
    let mut trie: Vec<TrieNode<'_>> = vec![TrieNode {
        next: HashMap::new(),
        matched: None,
        greatest_next: None,
    }];
    for (index, def) in defs.iter().enumerate() {
        let mut props = def.properties.clone();
        props.sort_by(|a, b| cmp16(a, b));
        let mut cur = 0;
        for p in &props {
            cur = match trie[cur].next.get(p) {
                Some(&next) => next,
                None => {
                    let next = trie.len();
                    trie.push(TrieNode {
                        next: HashMap::new(),
                        matched: None,
                        greatest_next: None,
                    });
                    trie[cur].next.insert(p, next);
                    if trie[cur]
                        .greatest_next
                        .is_none_or(|g| cmp16(g, p) == Ordering::Less)
                    {
                        trie[cur].greatest_next = Some(p);
                    }
                    next
                }
            };
        }
        if trie[cur].matched.is_none() {
            trie[cur].matched = Some(Match {
                class: interner.id(&def.name),
                property_count: props.len(),
                index,
            });
        }
    }
    let mut props: Vec<&str> = Vec::new();
    let mut states: Vec<usize> = Vec::new();
    let mut sequence = Vec::new();
    // The match depends only on the property names (and, where nothing matches, on the
    // object's own class, which is the same `Object` for every plain object).
    let mut known: HashMap<Vec<u32>, u32> = HashMap::new();
    for n in graph.nodes() {
        if !is_plain_object(graph, n) {
            continue;
        }
        property_indices(graph, n, &mut sequence);
        if let Some(&class) = known.get(sequence.as_slice()) {
            class_of.set(n.ix(), class);
            continue;
        }
        props.clear();
        props.extend(sequence.iter().map(|&i| graph.strings.get(i as usize)));
        props.sort_by(|a, b| cmp16(a, b));
        let initial = Match {
            class: class_of.get(n.ix()),
            property_count: 0,
            index: usize::MAX,
        };
        let mut best = better(initial, trie[0].matched);
        states.clear();
        states.push(0);
        for p in &props {
            let existing = states.len();
            let mut keep = Vec::with_capacity(existing);
            let mut added = Vec::new();
            for &s in &states[..existing] {
                let node = &trie[s];
                let done = node
                    .greatest_next
                    .is_none_or(|g| cmp16(p, g) != Ordering::Less);
                if !done {
                    keep.push(s);
                }
                if let Some(&next) = node.next.get(p) {
                    added.push(next);
                    best = better(best, trie[next].matched);
                }
            }
            states.clear();
            states.extend(keep);
            for a in added {
                if !states.contains(&a) {
                    states.push(a);
                }
            }
        }
        class_of.set(n.ix(), best.class);
        known.insert(sequence.clone(), best.class);
    }
}

/// Aggregates every node by class, sorted by retained size, largest first.
pub fn summarize(snap: &Snapshot) -> Vec<ClassSummary> {
    summarize_filtered(snap, |_| true)
}

/// Aggregates the nodes `keep` accepts (e.g. objects allocated between two snapshots).
pub fn summarize_filtered(snap: &Snapshot, keep: impl Fn(NodeIndex) -> bool) -> Vec<ClassSummary> {
    summarize_from(snap, || ClassNames::compute(&snap.graph), keep)
}

/// Aggregates the nodes `keep` accepts by the `classes` computed beforehand (they depend
/// only on the graph: a caller computes them beside the snapshot's analysis, see
/// [`Snapshot::from_graph_with`]).
pub fn summarize_with(
    snap: &Snapshot,
    classes: ClassNames,
    keep: impl Fn(NodeIndex) -> bool,
) -> Vec<ClassSummary> {
    summarize_from(snap, || classes, keep)
}

fn summarize_from(
    snap: &Snapshot,
    classes: impl FnOnce() -> ClassNames,
    keep: impl Fn(NodeIndex) -> bool,
) -> Vec<ClassSummary> {
    // Two cores: the dominator tree's children lists beside the class names and the rows.
    std::thread::scope(|s| {
        let tree = s.spawn(|| snap.dominator_children());
        let (mut rows, row_of) = rows(snap, classes(), &keep);
        let tree = tree.join().unwrap_or_else(|_| snap.dominator_children());
        add_retained(snap, &tree, &mut rows, &row_of);
        rows.sort_by(|a, b| {
            b.retained_size
                .cmp(&a.retained_size)
                .then_with(|| a.name.cmp(&b.name))
        });
        rows
    })
}

/// The Summary rows of the nodes `keep` accepts (retained sizes still 0), and each node's
/// row (`u32::MAX`: none).
fn rows(
    snap: &Snapshot,
    ClassNames { names, class_of }: ClassNames,
    keep: &impl Fn(NodeIndex) -> bool,
) -> (Vec<ClassSummary>, Vec<u32>) {
    let g = &snap.graph;
    // Row per class key: (class, location for located objects). Each node's class becomes
    // its row in place, once widened to four bytes: one column, not two.
    let mut rows: Vec<ClassSummary> = Vec::new();
    let mut row_of_key: HashMap<ClassKey, u32> = HashMap::new();
    let mut row_of = class_of.into_wide();
    let mut row_of_class = vec![u32::MAX; names.len()];
    // Locations are sorted by node: walk them alongside the nodes.
    let locations = g.locations();
    let mut next_location = 0;
    for n in g.nodes() {
        while next_location < locations.len() && locations[next_location].node < n {
            next_location += 1;
        }
        let class = std::mem::replace(&mut row_of[n.ix()], u32::MAX);
        if g.self_size(n) == 0 || !keep(n) {
            continue;
        }
        let location = match locations.get(next_location) {
            Some(l) if l.node == n && g.node_type(n) == NodeType::Object => {
                // DevTools keeps the last location recorded for a node.
                let last = locations[next_location..]
                    .iter()
                    .take_while(|m| m.node == n)
                    .last()
                    .unwrap_or(l);
                Some((last.script_id, last.line, last.column))
            }
            _ => None,
        };
        let mut new_row = || {
            rows.push(ClassSummary {
                name: names[class as usize].clone(),
                location,
                count: 0,
                self_size: 0,
                retained_size: 0,
                distance: UNREACHABLE,
            });
            rows.len() as u32 - 1
        };
        // Most nodes have no location: their row is found by class id alone.
        let row = match location {
            None => match row_of_class[class as usize] {
                u32::MAX => {
                    let r = new_row();
                    row_of_class[class as usize] = r;
                    r
                }
                r => r,
            },
            Some(_) => *row_of_key.entry((class, location)).or_insert_with(new_row),
        };
        row_of[n.ix()] = row;
        let r = &mut rows[row as usize];
        r.count += 1;
        r.self_size += g.self_size(n);
        // As in DevTools, one unreachable instance makes the class's distance unknown.
        let d = snap.distance(n);
        r.distance = if r.count == 1 || d == UNREACHABLE {
            d
        } else if r.distance == UNREACHABLE {
            r.distance
        } else {
            r.distance.min(d)
        };
    }
    (rows, row_of)
}

/// Adds to each row the retained sizes of its nodes that no other node of the row dominates.
fn add_retained(
    snap: &Snapshot,
    tree: &DominatorChildren,
    rows: &mut [ClassSummary],
    row_of: &[u32],
) {
    // Walk the dominator tree keeping, per row, how many counted ancestors are open.
    let mut open = vec![0u32; rows.len()];
    let mut stack: Vec<(u32, bool)> = vec![(0, false)];
    while let Some((node, leaving)) = stack.pop() {
        let row = row_of[node as usize];
        if leaving {
            open[row as usize] -= 1;
            continue;
        }
        if row != u32::MAX {
            if open[row as usize] == 0 {
                rows[row as usize].retained_size += snap.retained_size(NodeIndex(node));
            }
            open[row as usize] += 1;
            stack.push((node, true));
        }
        for &child in tree.children(NodeIndex(node)) {
            stack.push((child, false));
        }
    }
}

/// Children lists of the dominator tree (CSR).
#[derive(Debug)]
pub struct DominatorChildren {
    first: Vec<u32>,
    children: Vec<u32>,
}

impl DominatorChildren {
    pub(crate) fn build(idom: &[u32]) -> Self {
        let n = idom.len();
        // `first[d]` counts, then ends (inclusive sums), then, filled from the last child
        // back, starts: no second column of cursors.
        let mut first = vec![0u32; n + 1];
        for (node, &d) in idom.iter().enumerate() {
            if node != d as usize {
                first[d as usize] += 1;
            }
        }
        for i in 1..=n {
            first[i] += first[i - 1];
        }
        let mut children = vec![0u32; first[n] as usize];
        for (node, &d) in idom.iter().enumerate().rev() {
            if node != d as usize {
                first[d as usize] -= 1;
                children[first[d as usize] as usize] = node as u32;
            }
        }
        DominatorChildren { first, children }
    }

    /// The nodes `n` immediately dominates.
    pub fn children(&self, n: NodeIndex) -> &[u32] {
        match (self.first.get(n.ix()), self.first.get(n.ix() + 1)) {
            (Some(&a), Some(&b)) => &self.children[a as usize..b as usize],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_names_are_shortened() {
        assert_eq!(short_tag_name("<div id=\"a\">"), "<div>");
        assert_eq!(short_tag_name("Detached <div class=x>"), "Detached <div>");
        assert_eq!(short_tag_name("Foo Bar"), "Foo Bar");
    }

    /// Past 65,536 classes the column widens, by a push or by a rename, and keeps every id.
    #[test]
    fn the_class_column_widens_past_two_bytes() {
        let mut by_push = ClassColumn::with_capacity(4);
        by_push.push(7);
        by_push.push(65_535);
        assert!(matches!(by_push, ClassColumn::Narrow(_)));
        by_push.push(70_000);
        assert!(matches!(by_push, ClassColumn::Wide(_)));
        assert_eq!(by_push.into_wide(), vec![7, 65_535, 70_000]);

        let mut by_set = ClassColumn::with_capacity(2);
        by_set.push(1);
        by_set.push(2);
        by_set.set(0, 100_000);
        assert_eq!(
            (by_set.get(0), by_set.get(1)),
            (100_000, 2),
            "renamed past two bytes"
        );
        assert_eq!(by_set.into_wide(), vec![100_000, 2]);
    }

    #[test]
    fn property_names_are_quoted_when_ambiguous() {
        assert_eq!(format_property_name("a,b"), "\"a,b\"");
        assert_eq!(format_property_name("plain"), "plain");
    }
}
