//! A running analysis as a percentage and a phase name, for progress bars.

use heapsight_snapshot::{Phase, Progress};

/// `(percent, phase)` of a running analysis.
pub fn describe(progress: &Progress) -> (u32, &'static str) {
    let (done, total) = progress.fraction();
    let within = |from: u32, to: u32| {
        let part = if total == 0 {
            0.0
        } else {
            (done as f64 / total as f64).clamp(0.0, 1.0)
        };
        from + ((to - from) as f64 * part) as u32
    };
    match progress.phase() {
        Phase::Header => (0, "reading snapshots A, B and C"),
        Phase::Parsing => (within(2, 40), "reading snapshots A, B and C"),
        Phase::Validating => (within(40, 45), "validating C"),
        Phase::Retainers => (within(45, 55), "indexing retainers"),
        Phase::Distances => (within(55, 60), "computing distances"),
        Phase::Dominators => (within(60, 80), "computing dominators"),
        Phase::RetainedSizes => (within(80, 90), "summing retained sizes"),
        Phase::Done => (90, "grouping leaked objects"),
    }
}

/// The phase after the analysis: joining findings to files.
pub const MAPPING: (u32, &str) = (95, "mapping findings to files");
