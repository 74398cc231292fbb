//! The regression gate's comparison: today's findings against a stored report's, matched by
//! their [identity](crate::identity), each classified new, grown, unchanged or shrunk, and
//! the stored findings that are gone. What fails a run is the command line's decision; this
//! module only says what changed.
//!
//! A finding grew when its retained bytes or its item count exceed the stored ones by more
//! than the tolerance, and shrank when the stored ones exceed its own by more than that.
//! A stored report without fingerprints (written before they existed) is matched by kind,
//! holder and message without figures, on both sides: the two recipes never meet.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::identity;
use crate::json_report::{JsonReport, Place, ReportFinding};

/// What became of a finding since the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// No finding of the baseline has its identity.
    New,
    /// Its retained bytes or count exceed the baseline's beyond the tolerance.
    Grown,
    /// Within the tolerance of the baseline's.
    Unchanged,
    /// Below the baseline's beyond the tolerance.
    Shrunk,
}

/// How findings were matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// The fingerprints: kind, holder and call-site text.
    Fingerprint,
    /// The baseline has no fingerprints: kind, holder and message without figures.
    Message,
}

/// The comparison with a baseline, as the JSON report's `baseline` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    /// The stored report, as the command line named it.
    pub path: String,
    /// The tolerance, in percent of the baseline's figures.
    pub tolerance_percent: f64,
    /// How findings were matched.
    pub matched_by: MatchedBy,
    /// Today's findings no baseline finding matches.
    pub new: Vec<Entry>,
    /// Matched findings that grew beyond the tolerance.
    pub grown: Vec<Entry>,
    /// Matched findings within the tolerance.
    pub unchanged: Vec<Entry>,
    /// Matched findings that shrank beyond the tolerance.
    pub shrunk: Vec<Entry>,
    /// The baseline's findings that no finding of today matches.
    pub gone: Vec<Entry>,
}

/// One finding in the comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The identity both sides were matched by.
    pub fingerprint: String,
    /// Today's finding, by its index in the report's `findings` (none for a gone one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<usize>,
    /// The kind.
    pub kind: heapsight_leaks::LeakKind,
    /// The message (today's, or the baseline's for a gone finding).
    pub message: String,
    /// The normalized call-site text, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_site_text: Option<String>,
    /// Where it is (today's, or where it was for a gone finding).
    #[serde(flatten)]
    pub place: Place,
    /// Retained bytes (today's, or the baseline's for a gone finding).
    pub retained_bytes: u64,
    /// Items (today's, or the baseline's for a gone finding).
    pub count: u64,
    /// The baseline's retained bytes, for a matched finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_retained_bytes: Option<u64>,
    /// The baseline's items, for a matched finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_count: Option<u64>,
}

impl Baseline {
    /// Compares `current` with `baseline` (read from `path`) under `tolerance_percent`.
    pub fn compare(
        current: &JsonReport,
        baseline: &JsonReport,
        path: &str,
        tolerance_percent: f64,
    ) -> Baseline {
        let matched_by = if baseline.findings.iter().all(|f| f.fingerprint.is_some()) {
            MatchedBy::Fingerprint
        } else {
            MatchedBy::Message
        };
        let key = |f: &ReportFinding| match (matched_by, &f.fingerprint) {
            (MatchedBy::Fingerprint, Some(fingerprint)) => fingerprint.clone(),
            _ => identity::message_fingerprint(&f.finding),
        };
        // Several findings may share an identity (the same call in two heaps): each stored
        // one matches at most one of today's, largest with largest.
        let mut stored: HashMap<String, VecDeque<usize>> = HashMap::new();
        for (i, f) in baseline.findings.iter().enumerate() {
            stored.entry(key(f)).or_default().push_back(i);
        }
        let mut out = Baseline {
            path: path.to_owned(),
            tolerance_percent,
            matched_by,
            new: Vec::new(),
            grown: Vec::new(),
            unchanged: Vec::new(),
            shrunk: Vec::new(),
            gone: Vec::new(),
        };
        let factor = 1.0 + tolerance_percent / 100.0;
        let beyond = |a: u64, b: u64| a as f64 > b as f64 * factor;
        for (i, f) in current.findings.iter().enumerate() {
            let fingerprint = key(f);
            let matched = stored
                .get_mut(&fingerprint)
                .and_then(VecDeque::pop_front)
                .map(|j| &baseline.findings[j]);
            let mut entry = Entry::of(f, fingerprint, Some(i));
            let Some(old) = matched else {
                out.new.push(entry);
                continue;
            };
            let (now, then) = (&f.finding, &old.finding);
            entry.baseline_retained_bytes = Some(then.retained_bytes);
            entry.baseline_count = Some(then.count);
            if beyond(now.retained_bytes, then.retained_bytes) || beyond(now.count, then.count) {
                out.grown.push(entry);
            } else if beyond(then.retained_bytes, now.retained_bytes)
                || beyond(then.count, now.count)
            {
                out.shrunk.push(entry);
            } else {
                out.unchanged.push(entry);
            }
        }
        let mut gone: Vec<usize> = stored.into_values().flatten().collect();
        gone.sort_unstable();
        out.gone = gone
            .into_iter()
            .map(|j| {
                let f = &baseline.findings[j];
                Entry::of(f, key(f), None)
            })
            .collect();
        out
    }

    /// What became of today's finding `index`, with its entry.
    pub fn state_of(&self, index: usize) -> Option<(State, &Entry)> {
        [
            (State::New, &self.new),
            (State::Grown, &self.grown),
            (State::Unchanged, &self.unchanged),
            (State::Shrunk, &self.shrunk),
        ]
        .into_iter()
        .find_map(|(state, entries)| {
            entries
                .iter()
                .find(|e| e.finding == Some(index))
                .map(|e| (state, e))
        })
    }
}

impl Entry {
    fn of(f: &ReportFinding, fingerprint: String, finding: Option<usize>) -> Entry {
        Entry {
            fingerprint,
            finding,
            kind: f.finding.kind(),
            message: f.finding.message.clone(),
            call_site_text: f.call_site_text.clone(),
            place: f.place.clone(),
            retained_bytes: f.finding.retained_bytes,
            count: f.finding.count,
            baseline_retained_bytes: None,
            baseline_count: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Baseline, MatchedBy, State};
    use crate::json_report::{JsonReport, Place, ReportFinding};

    /// A listener finding on `bus` at `site`, retaining `bytes` in `count` items.
    fn finding(site: &str, bytes: u64, count: u64, fingerprinted: bool) -> ReportFinding {
        let json = serde_json::json!({
            "kind": "listener",
            "message": format!("`bus` retains {bytes} B: {count} listeners"),
            "holder": {"class": "EventEmitter", "id": bytes, "binding": {"kind": "variable", "name": "bus"}},
            "count": count,
            "retained_bytes": bytes,
        });
        let f = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        let mut rf = ReportFinding::new(f, Place::none(), Some(site.to_owned()));
        if !fingerprinted {
            rf.fingerprint = None;
        }
        rf
    }

    fn report(findings: Vec<ReportFinding>) -> JsonReport {
        JsonReport {
            findings,
            ..JsonReport::new()
        }
    }

    #[test]
    fn each_finding_is_classified_under_the_tolerance() {
        let old = report(vec![
            finding("a()", 1000, 10, true),
            finding("b()", 1000, 10, true),
            finding("c()", 1000, 10, true),
            finding("d()", 1000, 10, true),
        ]);
        let now = report(vec![
            // 20% more is within a 20% tolerance; one byte more is not.
            finding("a()", 1200, 12, true),
            finding("b()", 1201, 10, true),
            finding("c()", 1000, 13, true),
            finding("e()", 1000, 10, true),
        ]);
        let b = Baseline::compare(&now, &old, "old.json", 20.0);
        assert_eq!(b.matched_by, MatchedBy::Fingerprint);
        let states: Vec<_> = (0..4).map(|i| b.state_of(i).map(|(s, _)| s)).collect();
        assert_eq!(
            states,
            [
                Some(State::Unchanged),
                Some(State::Grown),
                Some(State::Grown),
                Some(State::New)
            ]
        );
        assert_eq!(b.gone.len(), 1);
        assert_eq!(b.gone[0].retained_bytes, 1000);
        assert_eq!(b.grown[0].baseline_retained_bytes, Some(1000));
        let shrunk = Baseline::compare(&old, &now, "now.json", 20.0);
        assert_eq!(shrunk.state_of(1).map(|(s, _)| s), Some(State::Shrunk));
    }

    #[test]
    fn a_shared_identity_matches_once_per_stored_finding() {
        let old = report(vec![finding("a()", 1000, 10, true)]);
        let now = report(vec![
            finding("a()", 1000, 10, true),
            finding("a()", 900, 9, true),
        ]);
        let b = Baseline::compare(&now, &old, "old.json", 20.0);
        assert_eq!(b.state_of(0).map(|(s, _)| s), Some(State::Unchanged));
        assert_eq!(b.state_of(1).map(|(s, _)| s), Some(State::New));
        assert!(b.gone.is_empty());
    }

    #[test]
    fn a_baseline_without_fingerprints_is_matched_by_message_on_both_sides() {
        let old = report(vec![finding("a()", 1000, 10, false)]);
        // Another call site, the same holder and message but for the figures.
        let now = report(vec![finding("moved()", 5000, 50, true)]);
        let b = Baseline::compare(&now, &old, "old.json", 20.0);
        assert_eq!(b.matched_by, MatchedBy::Message);
        assert_eq!(b.state_of(0).map(|(s, _)| s), Some(State::Grown));
    }
}
