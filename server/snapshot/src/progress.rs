//! Progress reporting and cancellation shared between the reader and its caller.
//!
//! Plain atomics: the reader's threads bump counters, a CLI progress bar or an LSP
//! `$/progress` task polls them, and either side may set the cancel flag. Nothing here
//! knows how progress is shown.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The stage of loading a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Phase {
    Header = 0,
    Parsing = 1,
    Validating = 2,
    Retainers = 3,
    Distances = 4,
    Dominators = 5,
    RetainedSizes = 6,
    Done = 7,
}

impl Phase {
    /// A short description for a progress line.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Header => "reading header",
            Phase::Parsing => "parsing",
            Phase::Validating => "validating",
            Phase::Retainers => "indexing retainers",
            Phase::Distances => "computing distances",
            Phase::Dominators => "computing dominators",
            Phase::RetainedSizes => "summing retained sizes",
            Phase::Done => "done",
        }
    }

    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Header,
            1 => Phase::Parsing,
            2 => Phase::Validating,
            3 => Phase::Retainers,
            4 => Phase::Distances,
            5 => Phase::Dominators,
            6 => Phase::RetainedSizes,
            _ => Phase::Done,
        }
    }
}

/// Counters a long load updates; cheap to poll from another thread.
#[derive(Debug, Default)]
pub struct Progress {
    phase: AtomicU8,
    done: AtomicU64,
    total: AtomicU64,
    cancelled: AtomicBool,
    timings: Mutex<Timings>,
}

#[derive(Debug, Default)]
struct Timings {
    current: Option<(&'static str, Instant)>,
    done: Vec<(&'static str, Duration)>,
}

impl Progress {
    /// A fresh tracker.
    pub fn new() -> Self {
        Self::default()
    }
    /// The current phase.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Relaxed))
    }
    /// Work done and total work of the current phase, in the phase's own units.
    pub fn fraction(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
    /// Ask the work to stop at its next check.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
    /// Whether [`Progress::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
    pub(crate) fn start(&self, phase: Phase, total: u64) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    /// Starts timing a step (ending the previous one); see [`Progress::timings`].
    pub fn step(&self, name: &'static str) {
        let now = Instant::now();
        if let Ok(mut t) = self.timings.lock() {
            if let Some((prev, since)) = t.current.take() {
                t.done.push((prev, now - since));
            }
            t.current = Some((name, now));
        }
    }

    /// Ends the running step.
    pub fn end_step(&self) {
        if let Ok(mut t) = self.timings.lock() {
            if let Some((prev, since)) = t.current.take() {
                t.done.push((prev, since.elapsed()));
            }
        }
    }

    /// Every finished step with its wall time, in order.
    pub fn timings(&self) -> Vec<(&'static str, Duration)> {
        self.timings
            .lock()
            .map(|t| t.done.clone())
            .unwrap_or_default()
    }
    pub(crate) fn advance(&self, by: u64) -> crate::Result<()> {
        self.done.fetch_add(by, Ordering::Relaxed);
        self.check()
    }
    pub(crate) fn check(&self) -> crate::Result<()> {
        if self.is_cancelled() {
            Err(crate::SnapshotError::Cancelled)
        } else {
            Ok(())
        }
    }
}
