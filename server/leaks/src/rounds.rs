//! Several rounds of the workload: the split of the leaked set by round, each finding's
//! figures per round, the rule that keeps only what every round left alive, and the growth
//! rate and projection drawn from them.
//!
//! A capture with rounds has A, then `B1` … `BN` (one after each round of the workload),
//! then C. JS object ids grow, so round `i`'s allocations are the ids in
//! `(max id of B(i-1), max id of Bi]`, round 1 starting after A. A leak keeps what every
//! round added; a cache that churns keeps only the last rounds' entries, so a finding
//! counts only when each round still holds a fair share of its items in C. With one round
//! nothing here applies and the analysis is the plain 3-snapshot one.

use std::path::PathBuf;

use heapsight_snapshot::NodeIndex;
use serde::{Deserialize, Serialize};

use crate::ctx::Ctx;
use crate::group::Group;
use crate::message::{format_bytes, noun};

/// What the analysis knows of the rounds besides A, the last round's snapshot and C.
#[derive(Debug, Clone, Default)]
pub struct RoundInputs {
    /// The snapshots after each round but the last, in order (`B1` … `B(N-1)`); the last
    /// round's is the target given beside them. Empty: one round.
    pub earlier: Vec<PathBuf>,
    /// The workload's size per round (requests, calls), for a growth rate per iteration.
    pub iterations: Option<u64>,
    /// A memory limit, for a projection of the iterations left to it.
    pub limit: Option<Limit>,
}

/// A memory limit and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// In bytes.
    pub bytes: u64,
    /// Where it came from, in words completing "limit: …" (`--limit`, `the container's
    /// (cgroup v1 /docker/abc), recorded by the capture`): a limit the user did not type
    /// must say whose it is.
    pub source: String,
}

/// One round's share of a finding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundFigures {
    /// Bytes of the finding allocated in this round (the rounds add up to its retained
    /// size).
    pub bytes: u64,
    /// Its items (listeners, entries, timers) allocated in this round.
    pub count: u64,
}

/// A finding's growth per iteration of the workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrowthRate {
    /// The iterations of one round.
    pub iterations: u64,
    /// Bytes per iteration: the median round's bytes over the round's iterations.
    pub bytes_per_iteration: f64,
    /// Items per iteration, likewise.
    pub items_per_iteration: f64,
    /// Iterations left before the heap reaches the limit, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<Projection>,
}

/// How far the heap is from a memory limit at a finding's rate: an estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projection {
    /// The limit, in bytes.
    pub limit_bytes: u64,
    /// Where the limit came from ([`Limit::source`]); absent in reports of heapsight
    /// versions before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_source: Option<String>,
    /// The heap's size now: the final snapshot's total (the sum of every node's self size,
    /// DevTools' "Total").
    pub heap_bytes: u64,
    /// About how many more iterations fill the difference at this rate (0 when the heap
    /// is already at the limit).
    pub iterations_left: u64,
}

/// The rounds' id bounds: `bounds[0]` is A's largest JS id, `bounds[i]` that of round `i`'s
/// snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    bounds: Vec<u64>,
}

impl Split {
    /// From A's largest id and each round's, in order; `None` unless they grow.
    pub fn new(max_a: u64, rounds: &[u64]) -> Option<Split> {
        let mut bounds = Vec::with_capacity(rounds.len() + 1);
        bounds.push(max_a);
        bounds.extend_from_slice(rounds);
        bounds
            .windows(2)
            .all(|w| w[0] < w[1])
            .then_some(Split { bounds })
    }

    /// How many rounds.
    pub fn rounds(&self) -> usize {
        self.bounds.len() - 1
    }

    /// The round (0-based) a JS object with this id was allocated in; `None` for ids
    /// outside every round and for even ids (not JS objects).
    pub fn round_of(&self, id: u64) -> Option<usize> {
        if id & 1 == 0 {
            return None;
        }
        let at = self.bounds.partition_point(|&b| b < id);
        (at >= 1 && at < self.bounds.len()).then(|| at - 1)
    }
}

/// A group's figures per round: its items by their own ids (scaled from the classifier's
/// sample to its count); its bytes by the round of the item that holds them, so that what
/// an item keeps goes with it even when allocated later (a session of round 1 whose last
/// price came in round 3 is round 1's growth), and what no item holds (a shared backing
/// store, items beyond the sample) by its own id; scaled so the rounds add up to the
/// group's retained size.
pub(crate) fn figures(
    ctx: &Ctx<'_>,
    split: &Split,
    group: &Group,
    items: &[NodeIndex],
    count: u64,
) -> Vec<RoundFigures> {
    let g = &ctx.snap.graph;
    let n = split.rounds();
    let is_item: std::collections::HashSet<NodeIndex> = items.iter().copied().collect();
    let mut bytes = vec![0u64; n];
    for &m in &group.members {
        let Some(own) = split.round_of(g.node_id(m)) else {
            continue;
        };
        // The member's dominator subtree in preorder: an item's subtree is taken whole.
        let mut skip = 0u32;
        for x in ctx.subtree(m) {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let r = split.round_of(g.node_id(x)).unwrap_or(own);
            if is_item.contains(&x) {
                bytes[r] += ctx.snap.retained_size(x);
                skip = ctx.subtree_size(x) - 1;
            } else {
                bytes[r] += g.self_size(x);
            }
        }
    }
    let mut sampled = vec![0u64; n];
    for &i in items {
        if let Some(r) = split.round_of(g.node_id(i)) {
            sampled[r] += 1;
        }
    }
    let scale = |part: u64, total: u64, of: u64| -> u64 {
        if total == 0 {
            0
        } else {
            ((part as u128 * of as u128 + total as u128 / 2) / total as u128) as u64
        }
    };
    let (bytes_total, sampled_total) = (bytes.iter().sum(), sampled.iter().sum());
    (0..n)
        .map(|r| RoundFigures {
            bytes: scale(bytes[r], bytes_total, group.retained),
            count: scale(sampled[r], sampled_total, count),
        })
        .collect()
}

/// Whether every round left its share alive: each round holds at least a tenth of the
/// median round's items (bytes when the finding counts no items). A tenth, not one: a
/// cache that churned may keep a straggler or two of an early round, a leak keeps them all.
pub fn in_every_round(rounds: &[RoundFigures]) -> bool {
    let by_count = rounds.iter().any(|r| r.count > 0);
    let values: Vec<u64> = rounds
        .iter()
        .map(|r| if by_count { r.count } else { r.bytes })
        .collect();
    let floor = median(&values).div_ceil(10).max(1);
    values.iter().all(|&v| v >= floor)
}

/// The growth per iteration from the rounds' figures: the median round, so one round
/// disturbed by a one-off (the first round's lazy initialisation, a request still in
/// flight at a snapshot) does not move the rate; with two rounds, their mean.
pub fn rate(
    rounds: &[RoundFigures],
    iterations: u64,
    limit: Option<&Limit>,
    heap_bytes: u64,
) -> Option<GrowthRate> {
    if rounds.is_empty() || iterations == 0 {
        return None;
    }
    let per = |v: Vec<u64>| median_f(&v) / iterations as f64;
    let bytes_per_iteration = per(rounds.iter().map(|r| r.bytes).collect());
    let items_per_iteration = per(rounds.iter().map(|r| r.count).collect());
    let projection = limit.map(|limit| Projection {
        limit_bytes: limit.bytes,
        limit_source: Some(limit.source.clone()),
        heap_bytes,
        iterations_left: if bytes_per_iteration > 0.0 {
            (limit.bytes.saturating_sub(heap_bytes) as f64 / bytes_per_iteration) as u64
        } else {
            u64::MAX
        },
    });
    Some(GrowthRate {
        iterations,
        bytes_per_iteration,
        items_per_iteration,
        projection,
    })
}

impl GrowthRate {
    /// `+4.1 kB and 1 listener per iteration`; `noun` is the finding's plural item noun.
    pub fn describe(&self, plural: &str) -> String {
        let bytes = format_bytes(self.bytes_per_iteration.round() as u64);
        let items = self.items_per_iteration;
        if plural.is_empty() || items <= 0.0 {
            return format!("+{bytes} per iteration");
        }
        let rounded = (items * 10.0).round() / 10.0;
        let shown = if rounded.fract() == 0.0 {
            format!("{rounded:.0}")
        } else {
            format!("{rounded:.1}")
        };
        let word = noun(if rounded == 1.0 { 1 } else { 2 }, plural);
        format!("+{bytes} and {shown} {word} per iteration")
    }

    /// `about 120,000 more iterations to the 512.0 MB limit at this rate (from a heap of
    /// 12.0 MB); limit: --limit`, when a limit was given.
    pub fn projection_text(&self) -> Option<String> {
        let p = self.projection.as_ref()?;
        let limit = format_bytes(p.limit_bytes);
        let text = if p.iterations_left == 0 {
            format!(
                "the heap ({}) is already at the {limit} limit",
                format_bytes(p.heap_bytes)
            )
        } else if p.iterations_left == u64::MAX {
            format!("no growth toward the {limit} limit")
        } else {
            format!(
                "about {} more iterations to the {limit} limit at this rate (from a heap of {})",
                crate::message::format_count(round_2(p.iterations_left)),
                format_bytes(p.heap_bytes)
            )
        };
        Some(match &p.limit_source {
            Some(source) => format!("{text}; limit: {source}"),
            None => text,
        })
    }
}

/// The lines the command line prints under a finding with rounds: its figures per round,
/// then its growth rate and projection when known; none with one round.
pub fn round_lines(f: &crate::Finding) -> Vec<String> {
    if f.rounds.is_empty() {
        return Vec::new();
    }
    let figures: Vec<String> = f
        .rounds
        .iter()
        .map(|r| {
            if f.noun.is_empty() {
                format_bytes(r.bytes)
            } else {
                format!(
                    "{} {} ({})",
                    r.count,
                    noun(r.count, f.noun),
                    format_bytes(r.bytes)
                )
            }
        })
        .collect();
    let mut lines = vec![format!("per round: {}", figures.join(", "))];
    if let Some(rate) = &f.rate {
        lines.push(format!("growth: {}", rate.describe(f.noun)));
        lines.extend(rate.projection_text().map(|p| format!("projection: {p}")));
    }
    lines
}

/// An estimate shown with two significant digits: 123,456 → 120,000.
fn round_2(n: u64) -> u64 {
    let mut unit = 1u64;
    while n / unit >= 100 {
        unit *= 10;
    }
    (n + unit / 2) / unit * unit
}

fn median(values: &[u64]) -> u64 {
    median_f(values).round() as u64
}

fn median_f(values: &[u64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2] as f64,
        n => (v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_gives_each_id_its_round() {
        let split = Split::new(100, &[201, 301, 401]).expect("growing bounds");
        assert_eq!(split.rounds(), 3);
        assert_eq!(split.round_of(99), None, "before A");
        assert_eq!(split.round_of(101), Some(0));
        assert_eq!(
            split.round_of(201),
            Some(0),
            "a round's own largest id is its own"
        );
        assert_eq!(split.round_of(203), Some(1));
        assert_eq!(split.round_of(301), Some(1));
        assert_eq!(split.round_of(303), Some(2));
        assert_eq!(split.round_of(401), Some(2));
        assert_eq!(split.round_of(403), None, "after the last round");
        assert_eq!(split.round_of(202), None, "even ids are not JS objects");
        assert_eq!(
            Split::new(100, &[201, 201]),
            None,
            "a round with no ids is out of order"
        );
        assert_eq!(Split::new(300, &[201]), None);
    }

    fn figs(counts: &[u64]) -> Vec<RoundFigures> {
        counts
            .iter()
            .map(|&count| RoundFigures {
                bytes: count * 100,
                count,
            })
            .collect()
    }

    #[test]
    fn a_leak_keeps_every_round_and_a_churning_cache_only_the_last() {
        assert!(in_every_round(&figs(&[500, 500, 500])));
        assert!(in_every_round(&figs(&[480, 500, 520])));
        assert!(!in_every_round(&figs(&[0, 0, 500])), "churned");
        assert!(
            !in_every_round(&figs(&[2, 300, 500])),
            "a straggler is not a round's share"
        );
        let bytes_only = [
            RoundFigures { bytes: 9, count: 0 },
            RoundFigures {
                bytes: 10,
                count: 0,
            },
        ];
        assert!(in_every_round(&bytes_only));
    }

    #[test]
    fn the_rate_is_the_median_round_per_iteration() {
        let rounds = [
            RoundFigures {
                bytes: 900_000,
                count: 500,
            },
            RoundFigures {
                bytes: 200_000,
                count: 500,
            },
            RoundFigures {
                bytes: 205_000,
                count: 500,
            },
        ];
        let limit = Limit {
            bytes: 512 << 20,
            source: "--limit".into(),
        };
        let rate = rate(&rounds, 500, Some(&limit), 12_000_000).expect("a rate");
        assert_eq!(
            rate.bytes_per_iteration, 410.0,
            "the first round's one-off is ignored"
        );
        assert_eq!(rate.items_per_iteration, 1.0);
        assert_eq!(
            rate.describe("listeners"),
            "+410 B and 1 listener per iteration"
        );
        let p = rate.projection.clone().expect("a projection");
        assert_eq!(p.iterations_left, ((512u64 << 20) - 12_000_000) / 410);
        assert_eq!(
            rate.projection_text().as_deref(),
            Some("about 1,300,000 more iterations to the 536.9 MB limit at this rate (from a heap of 12.0 MB); limit: --limit")
        );
        assert_eq!(round_2(123_456), 120_000);
        assert_eq!(round_2(99), 99);
    }
}
