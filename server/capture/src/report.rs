//! What a capture tells its user while it runs. The library prints nothing itself: it
//! calls a [`Reporter`], which the CLI turns into phase lines and a progress bar, and tests
//! leave silent ([`Silent`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The steps of a capture, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Starting the target or finding it, and attaching.
    Attach,
    /// Waiting for the target to reach its steady state.
    WarmUp,
    /// The baseline snapshot.
    SnapshotA,
    /// Running the workload suspected of leaking.
    Workload,
    /// The snapshot after the workload.
    SnapshotB,
    /// Letting caches and timers expire before the last snapshot.
    Idle,
    /// The final snapshot, after forced garbage collection.
    SnapshotC,
    /// Recording the scripts that ran (after C, so it cannot change the heaps measured).
    Scripts,
    /// Writing the manifest and stopping the target.
    Finish,
}

impl Phase {
    /// The phase's name as printed and stored in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Attach => "attach",
            Phase::WarmUp => "warm-up",
            Phase::SnapshotA => "snapshot A",
            Phase::Workload => "workload",
            Phase::SnapshotB => "snapshot B",
            Phase::Idle => "idle",
            Phase::SnapshotC => "snapshot C",
            Phase::Scripts => "scripts",
            Phase::Finish => "finish",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How far a snapshot has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotProgress {
    /// V8 is walking the heap: `done` of `total` objects.
    Walking {
        /// Objects visited.
        done: u64,
        /// Objects to visit.
        total: u64,
    },
    /// Bytes of the file written so far.
    Writing {
        /// Bytes on disk.
        bytes: u64,
    },
}

/// Whose output a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputSource {
    /// The process being captured (only when we started it).
    Target,
    /// The `--warmup-cmd` command.
    WarmUp,
    /// The `--load` command.
    Load,
}

/// Receives a capture's progress. Every method has an empty default.
pub trait Reporter: Send + Sync {
    /// A phase begins; `what` says what it will do.
    fn phase_started(&self, phase: Phase, what: &str) {
        let _ = (phase, what);
    }
    /// A phase ended after `took`; `summary` says what it did.
    fn phase_finished(&self, phase: Phase, took: Duration, summary: &str) {
        let _ = (phase, took, summary);
    }
    /// A snapshot advanced.
    fn snapshot_progress(&self, phase: Phase, progress: SnapshotProgress) {
        let _ = (phase, progress);
    }
    /// A process we started printed a line.
    fn output_line(&self, source: OutputSource, line: &str) {
        let _ = (source, line);
    }
    /// A remark worth showing (a fallback taken, a default used).
    fn note(&self, message: &str) {
        let _ = message;
    }
}

/// A reporter that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Reporter for Silent {}

/// A byte count for people, in decimal units as DevTools and the CLI print them:
/// `512 B`, `4.5 MB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn byte_counts() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(4_509_715), "4.5 MB");
        assert_eq!(human_bytes(3_000_000_000), "3.0 GB");
    }
}
