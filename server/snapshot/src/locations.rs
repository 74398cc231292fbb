//! The function positions (`locations`), sorted by node, with a coarse index by node
//! number: the leak finder asks for the position of hundreds of thousands of nodes (every
//! value of a large cache, every closure retaining a module's scope), and a binary search
//! over millions of positions costs a cache miss a step.

use crate::graph::{Location, NodeIndex};

/// Nodes per bucket of the index: 4 bytes per 64 nodes (6 MB at 10^8 nodes), and a bucket
/// holds a handful of positions on real heaps (few objects have one).
const BUCKET_SHIFT: u32 = 6;

/// The positions, sorted by node, and where each bucket of nodes starts among them.
#[derive(Debug, Default)]
pub(crate) struct Locations {
    list: Vec<Location>,
    /// `starts[b]`: the first position whose node is at least `b << BUCKET_SHIFT`; one
    /// more entry than there are buckets, the list's length.
    starts: Vec<u32>,
}

impl Locations {
    /// Indexes `list` for a graph of `node_count` nodes (sorting it by node if needed).
    pub(crate) fn new(mut list: Vec<Location>, node_count: usize) -> Locations {
        if !list.windows(2).all(|w| w[0].node <= w[1].node) {
            list.sort_by_key(|l| l.node);
        }
        let buckets = (node_count >> BUCKET_SHIFT) + 1;
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut at = 0usize;
        for b in 0..buckets {
            let first_node = (b as u64) << BUCKET_SHIFT;
            while at < list.len() && u64::from(list[at].node.0) < first_node {
                at += 1;
            }
            starts.push(at as u32);
        }
        starts.push(list.len() as u32);
        Locations { list, starts }
    }

    /// Every position, sorted by node.
    pub(crate) fn as_slice(&self) -> &[Location] {
        &self.list
    }

    /// The first position recorded for `node`, if any.
    #[inline]
    pub(crate) fn of(&self, node: NodeIndex) -> Option<&Location> {
        let b = (node.0 >> BUCKET_SHIFT) as usize;
        let (Some(&from), Some(&to)) = (self.starts.get(b), self.starts.get(b + 1)) else {
            return None;
        };
        let bucket = self.list.get(from as usize..to as usize)?;
        let at = bucket.partition_point(|l| l.node < node);
        bucket.get(at).filter(|l| l.node == node)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.list.capacity() * std::mem::size_of::<Location>() + self.starts.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(node: u32) -> Location {
        Location {
            node: NodeIndex(node),
            script_id: node,
            line: 0,
            column: 0,
        }
    }

    /// Every node's answer equals a plain search's, across bucket edges, for unsorted
    /// input and nodes past the last bucket.
    #[test]
    fn finds_what_a_search_finds() {
        let nodes = [0, 1, 63, 64, 64, 65, 127, 128, 300, 1000, 1023, 5];
        let index = Locations::new(nodes.iter().map(|&n| at(n)).collect(), 1024);
        let mut sorted: Vec<u32> = nodes.to_vec();
        sorted.sort();
        assert_eq!(
            index
                .as_slice()
                .iter()
                .map(|l| l.node.0)
                .collect::<Vec<_>>(),
            sorted
        );
        for n in 0..1100u32 {
            let expected = sorted.contains(&n).then_some(n);
            assert_eq!(
                index.of(NodeIndex(n)).map(|l| l.node.0),
                expected,
                "node {n}"
            );
        }
        assert!(Locations::new(Vec::new(), 0).of(NodeIndex(0)).is_none());
    }
}
