//! Bounded caches that churned: a collection whose entries were all replaced during the
//! workload (an LRU full since before the baseline) holds only objects allocated between A
//! and B, exactly like one that grew. The final snapshot alone cannot tell them apart; the
//! baseline's class totals can: when the entries' class has about as many objects in the
//! final snapshot as in the baseline, the new entries replaced old ones instead of adding
//! to them.
//!
//! Only classes that name what the code made are trusted (`RenderedPage`, `Session`,
//! `Object`): strings, arrays and V8's internal classes (`(string)`, `(system)`...) come and
//! go in numbers that say nothing about one collection.

use std::collections::HashMap;

use heapsight_snapshot::NodeIndex;

use crate::comparison::ClassDelta;
use crate::ctx::Ctx;

/// Final count minus baseline count, per class.
pub struct ClassGrowth<'a> {
    delta: HashMap<&'a str, i64>,
}

impl<'a> ClassGrowth<'a> {
    /// From the comparison view (final against baseline).
    pub fn new(comparison: &'a [ClassDelta]) -> Self {
        ClassGrowth {
            delta: comparison
                .iter()
                .map(|d| (d.name.as_str(), d.count_delta))
                .collect(),
        }
    }

    /// Whether `leaked` new entries (of which `items` is a sample) replaced old ones: most
    /// of them share one trusted class, and that class grew by less than a quarter of them.
    pub fn churned(&self, ctx: &Ctx<'_>, items: &[NodeIndex], leaked: u64) -> bool {
        if items.is_empty() {
            return false;
        }
        let mut by_class: HashMap<String, u64> = HashMap::new();
        for &item in items {
            *by_class.entry(ctx.class(item).into_owned()).or_default() += 1;
        }
        let Some((class, sampled)) = by_class.into_iter().max_by_key(|&(_, n)| n) else {
            return false;
        };
        // The dominant class must describe the entries, and be one the code names.
        if sampled * 5 < items.len() as u64 * 4 || class.starts_with('(') {
            return false;
        }
        let of_class = leaked * sampled / items.len() as u64;
        let grew = self.delta.get(class.as_str()).copied().unwrap_or(0);
        grew.saturating_mul(4) < of_class as i64
    }
}
