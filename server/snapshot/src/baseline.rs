//! What the 3-snapshot diff needs of the baseline snapshot, without building its graph.
//!
//! One pass over the `nodes` array (and the `strings` at the end) gives the largest JS
//! object id, the set of JS object ids (so a final snapshot from another process is caught:
//! in one process, every object of C older than A's largest id was in A), and per-class
//! counts and self sizes for the comparison view. The `edges` array, most of the file, is
//! only skipped over with `memchr`.

use std::collections::HashMap;

use crate::error::{Result, SnapshotError};
use crate::meta::Header;
use crate::progress::{Phase, Progress};
use crate::reader::{expect_key, read_header};
use crate::scan::{self, RecordSink};
use crate::source::ByteSource;
use crate::summary::raw_class_name;
use crate::types::NodeType;

/// The set of odd (JS object) ids of a snapshot, as a bitmap indexed by `id / 2`.
#[derive(Debug, Default, Clone)]
pub struct JsIdSet {
    bits: Vec<u64>,
    limit: u64,
}

/// Ids past this are never put in the set (the bitmap would pass 512 MiB).
const MAX_SET_ID: u64 = 1 << 33;

impl JsIdSet {
    /// A set that takes ids below `limit` (at most [`MAX_SET_ID`]): the caller bounds it by
    /// the file's size, so a small file cannot make the bitmap large.
    fn with_limit(limit: u64) -> Self {
        JsIdSet {
            bits: Vec::new(),
            limit: limit.min(MAX_SET_ID),
        }
    }

    fn insert(&mut self, id: u64) {
        if id & 1 == 0 || id >= self.limit {
            return;
        }
        let bit = (id / 2) as usize;
        let word = bit / 64;
        if word >= self.bits.len() {
            self.bits.resize((word + 1).next_power_of_two(), 0);
        }
        self.bits[word] |= 1 << (bit % 64);
    }

    /// Whether the snapshot held JS object `id`; `None` when the set cannot tell.
    pub fn contains(&self, id: u64) -> Option<bool> {
        if id & 1 == 0 || id >= self.limit {
            return None;
        }
        let bit = (id / 2) as usize;
        Some(
            self.bits
                .get(bit / 64)
                .is_some_and(|w| w >> (bit % 64) & 1 == 1),
        )
    }
}

/// A sample of the baseline's JS objects (one id in [`IDENTITY_SAMPLE`]) with a hash of
/// their type and name: in one process an id always names the same object, so the final
/// snapshot's objects with these ids must match. Two runs of one program share their
/// start-up ids, so the id set alone cannot tell them apart; identities can.
#[derive(Debug, Default, Clone)]
pub struct IdentitySample {
    /// Sorted by id: (id, hash of type and name).
    entries: Vec<(u64, u64)>,
}

/// One JS object id in this many is sampled.
pub const IDENTITY_SAMPLE: u64 = 16;

impl IdentitySample {
    /// Whether `id` is one the sample covers.
    pub fn covers(id: u64) -> bool {
        id & 1 == 1 && (id / 2) % IDENTITY_SAMPLE == 0
    }
    /// The identity hash of `id` in the baseline, if it was there.
    pub fn get(&self, id: u64) -> Option<u64> {
        self.entries
            .binary_search_by_key(&id, |e| e.0)
            .ok()
            .map(|i| self.entries[i].1)
    }
}

/// A stable hash of a node's type and name.
pub fn identity_hash(ty: NodeType, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ ty as u64;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Per-class totals of one snapshot, by raw class name (see [`raw_class_name`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassCount {
    /// The class name.
    pub name: String,
    /// Objects.
    pub count: u64,
    /// Sum of their V8 self sizes.
    pub self_size: u64,
}

/// Everything learnt from the baseline.
#[derive(Debug, Clone)]
pub struct BaselineScan {
    /// The largest odd id.
    pub max_js_id: u64,
    /// Nodes in the snapshot.
    pub node_count: u64,
    /// Every JS object id.
    pub js_ids: JsIdSet,
    /// Per-class totals of JS objects, by count descending.
    pub classes: Vec<ClassCount>,
    /// Sampled object identities.
    pub identities: IdentitySample,
}

/// Scans a baseline snapshot: ids, id set, class totals.
pub fn scan_baseline(src: &dyn ByteSource, progress: &Progress) -> Result<BaselineScan> {
    progress.start(Phase::Header, src.len());
    let (header, h_end) = read_header(src)?;
    let key = expect_key(src, h_end, "nodes")?;
    progress.start(Phase::Parsing, src.len() - key.value_start);
    let Header { nodes: layout, .. } = &header;
    let fields = layout.field_count;
    let type_codes: Vec<u8> = layout
        .types
        .iter()
        .map(|t| NodeType::from_name(t) as u8)
        .collect();
    let mut count = 0u64;
    let mut max_odd = 0u64;
    // 64 ids per byte of file: far above any real snapshot's ids, yet a bitmap of at most
    // the file's size.
    let mut ids = JsIdSet::with_limit(src.len().saturating_mul(64));
    let mut total_size: u64 = 0;
    let mut overflow = None;
    // Totals of objects and native objects by name string (their class is their name),
    // and of everything else by type (its class is the type): array slots, no hashing in
    // the per-node path.
    let mut by_name: Vec<(u64, u64)> = Vec::new();
    let mut by_type: Vec<(u64, u64)> = vec![(0, 0); 256];
    let named = |t: u8| t == NodeType::Object as u8 || t == NodeType::Native as u8;
    // No file holds more strings than a third of its bytes (`"",` each): a name index past
    // that is an error (reported once the strings are read), and the table of totals by name
    // never grows past it, whatever index a small file claims.
    let name_limit = usize::try_from(src.len() / 3).unwrap_or(usize::MAX);
    let mut impossible_name = None;
    let mut bad = None;
    let mut sampled: Vec<(u64, u8, u32)> = Vec::new();
    let read = [
        layout.type_at,
        layout.name_at,
        layout.id_at,
        layout.self_size_at,
    ];
    let mut sink = RecordSink::new(
        |r: &[u64]| {
            let ty = type_codes
                .get(r[layout.type_at] as usize)
                .copied()
                .unwrap_or(NodeType::Other as u8);
            let name = u32::try_from(r[layout.name_at]).unwrap_or(u32::MAX);
            let (id, size) = (r[layout.id_at], r[layout.self_size_at]);
            match total_size.checked_add(size) {
                Some(t) => total_size = t,
                None => overflow = overflow.or(Some((count, size))),
            }
            if id & 1 == 1 {
                max_odd = max_odd.max(id);
                ids.insert(id);
                let slot = if !named(ty) {
                    Some(&mut by_type[ty as usize])
                } else if (name as usize) < name_limit {
                    let i = name as usize;
                    if i >= by_name.len() {
                        by_name.resize((i + 1).next_power_of_two().min(name_limit), (0, 0));
                    }
                    Some(&mut by_name[i])
                } else {
                    impossible_name = impossible_name.or(Some((count, name)));
                    None
                };
                if let Some(slot) = slot {
                    slot.0 += 1;
                    // No slot can pass the total, which is checked: wrapping only ever
                    // happens on input that is rejected below.
                    slot.1 = slot.1.wrapping_add(size);
                }
                if IdentitySample::covers(id) {
                    sampled.push((id, ty, name));
                }
            }
            if name == u32::MAX && bad.is_none() {
                bad = Some(count);
            }
            count += 1;
            Ok(())
        },
        fields,
        &read,
    );
    let nodes_end =
        scan::parse_numbers(src, key.value_start, "the `nodes` array", &mut sink, |b| {
            progress.advance(b)
        })?;
    if sink.partial() {
        return Err(SnapshotError::Meta(format!(
            "the nodes array does not hold whole records of {fields} numbers"
        )));
    }
    drop(sink);
    if let Some((index, value)) = overflow {
        return Err(SnapshotError::BadValue {
            record: "node",
            index,
            field: "self_size",
            value,
            why: "the self sizes add up past 2^64 bytes".into(),
        });
    }
    if count != header.node_count {
        return Err(SnapshotError::CountMismatch {
            what: "node_count",
            expected: header.node_count,
            actual: count,
        });
    }
    // Skip to the strings.
    let mut pos = nodes_end;
    let strings = loop {
        progress.check()?;
        let Some(k) = scan::read_key(src, pos)? else {
            return Err(SnapshotError::Meta(
                "the snapshot has no `strings` array".into(),
            ));
        };
        if k.name == "strings" {
            break scan::parse_strings(src, k.value_start)?;
        }
        pos = scan::skip_number_array(src, k.value_start, "an array before `strings`")?;
    };
    let mut entries: Vec<(u64, u64)> = sampled
        .into_iter()
        .map(|(id, ty, name)| {
            (
                id,
                identity_hash(NodeType::from_code(ty), strings.get(name as usize)),
            )
        })
        .collect();
    entries.sort_unstable();
    if let Some((index, name)) = impossible_name {
        return Err(SnapshotError::BadValue {
            record: "node",
            index,
            field: "name",
            value: name as u64,
            why: format!("past the {} strings", strings.len()),
        });
    }
    let mut merged: HashMap<String, (u64, u64)> = HashMap::new();
    let mut add = |class: std::borrow::Cow<'_, str>, n: u64, size: u64| {
        let slot = merged.entry(class.into_owned()).or_default();
        slot.0 += n;
        slot.1 += size;
    };
    for (name, &(n, size)) in by_name.iter().enumerate() {
        if n == 0 {
            continue;
        }
        if name >= strings.len() {
            return Err(SnapshotError::BadValue {
                record: "node",
                index: bad.unwrap_or(0),
                field: "name",
                value: name as u64,
                why: format!("past the {} strings", strings.len()),
            });
        }
        // Object or native: both name their class the same way.
        add(raw_class_name(NodeType::Object, strings.get(name)), n, size);
    }
    for (ty, &(n, size)) in by_type.iter().enumerate() {
        if n > 0 {
            add(raw_class_name(NodeType::from_code(ty as u8), ""), n, size);
        }
    }
    let mut classes: Vec<ClassCount> = merged
        .into_iter()
        .map(|(name, (count, self_size))| ClassCount {
            name,
            count,
            self_size,
        })
        .collect();
    classes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    Ok(BaselineScan {
        max_js_id: max_odd,
        node_count: count,
        js_ids: ids,
        classes,
        identities: IdentitySample { entries },
    })
}
