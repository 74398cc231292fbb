//! Memory headroom: before each snapshot over the inspector, what the snapshot will add to
//! the target's memory against what is left before its limit, and after it, what it did add.
//!
//! What is left: the lowest of the target's cgroup limit less its cgroup's use (v1 or v2,
//! through [`cgroup::memory_of`]) and the machine's `MemAvailable` (`/proc/meminfo`); on bare
//! metal only the latter.
//!
//! The estimate: V8 builds the snapshot's graph beside the heap (an entry per object, an
//! edge per reference, a string table) and serializes it into chunks that wait in Node's
//! inspector queues until the client reads them; all of it scales with the heap's used
//! size after the forced collections (`Runtime.getHeapUsage`, which allocates nothing in
//! the target). [`EXTRA_PER_HEAP_BYTE`] times that, plus [`EXTRA_FIXED`], measured on heaps
//! of small objects (the costly kind: the graph grows with the number of objects, not their
//! bytes) as the peak RSS during a snapshot less the RSS before it; see the README.
//!
//! The measurement: before the snapshot the process's peak RSS is reset (`5` written to
//! `/proc/PID/clear_refs`, which touches nothing but that counter), after it `VmHWM` is read:
//! the difference with `VmRSS` before is what the snapshot took at its peak. Both go into the
//! manifest ([`SnapshotMemory`]).

use serde_json::{json, Value};

use crate::cgroup;
use crate::channel::Channel;
use crate::error::{CaptureError, Result};
use crate::manifest::SnapshotMemory;
use crate::options::Spill;
use crate::report::{human_bytes, Reporter};

/// The estimated extra memory per byte of used heap.
pub const EXTRA_PER_HEAP_BYTE: u64 = 16;
/// The estimated extra memory of any snapshot, whatever the heap (the inspector's buffers,
/// the serializer's).
pub const EXTRA_FIXED: u64 = 32 << 20;

/// What a snapshot of a heap with `heap_used` bytes in use is estimated to add.
pub fn estimate(heap_used: u64) -> u64 {
    heap_used
        .saturating_mul(EXTRA_PER_HEAP_BYTE)
        .saturating_add(EXTRA_FIXED)
}

/// The memory an earlier snapshot left allocated in the process (the allocator keeps what
/// the snapshot used, and the next one reuses it): the RSS's growth since before the first
/// snapshot, less the heap's. `None` where the RSS is unknown.
fn retained(first: &SnapshotMemory, heap_used: u64, rss: Option<u64>) -> Option<u64> {
    let grown = rss?.saturating_sub(first.rss_bytes?);
    Some(grown.saturating_sub(heap_used.saturating_sub(first.heap_used_bytes)))
}

/// [`estimate`] less what an earlier snapshot left allocated, never below [`EXTRA_FIXED`].
fn estimate_after(heap_used: u64, retained: Option<u64>) -> u64 {
    estimate(heap_used)
        .saturating_sub(retained.unwrap_or(0))
        .max(EXTRA_FIXED)
}

/// The memory left to the process, and where that figure comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Bytes left before the limit.
    pub available: u64,
    /// In words: `cgroup v1 /x: limit 256 MB, 200 MB in use; the machine has 20 GB available`.
    pub words: String,
}

/// Whether `spill` takes memory from `pid`'s budget: its folder is on tmpfs (its pages are
/// memory, charged to heapsight's cgroup, which writes them) and heapsight's memory cgroup
/// has the same limiting cgroup as the target's.
fn spill_counts_against(pid: i32, spill: &Spill) -> bool {
    use nix::sys::statfs::{statfs, TMPFS_MAGIC};
    let on_tmpfs = statfs(&spill.dir).is_ok_and(|s| s.filesystem_type() == TMPFS_MAGIC);
    let limit_of = |pid: i32| cgroup::memory_of(pid).ok().and_then(|m| m.limit_path);
    let own = i32::try_from(std::process::id()).ok().and_then(limit_of);
    on_tmpfs && own.is_some() && own == limit_of(pid)
}

/// The memory left to process `pid`: its cgroup's limit less its use, and the machine's
/// `MemAvailable`, the lower. `None` when neither can be read.
pub fn budget(pid: i32) -> Option<Budget> {
    let machine = mem_available();
    let cgroup = cgroup::memory_of(pid).ok().and_then(|m| {
        let limit = m.limit?;
        let used = m.usage.unwrap_or(0);
        Some((
            limit.saturating_sub(used),
            format!(
                "{}: limit {}, {} in use",
                m.source(),
                human_bytes(limit),
                human_bytes(used)
            ),
        ))
    });
    let machine_words = machine.map(|m| format!("the machine has {} available", human_bytes(m)));
    match (cgroup, machine) {
        (Some((left, words)), Some(m)) if m < left => Some(Budget {
            available: m,
            words: format!("{}; {words}", machine_words.unwrap_or_default()),
        }),
        (Some((left, words)), _) => Some(Budget {
            available: left,
            words,
        }),
        (None, Some(m)) => Some(Budget {
            available: m,
            words: format!("no cgroup limit; {}", machine_words.unwrap_or_default()),
        }),
        (None, None) => None,
    }
}

/// The memory left to this process (see [`budget`]): what an analysis may use.
pub fn own_budget() -> Option<Budget> {
    budget(i32::try_from(std::process::id()).ok()?)
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&text, "MemAvailable:")
}

/// A `Name:   123 kB` field of a `/proc` file, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let value = text.lines().find_map(|l| l.strip_prefix(name))?;
    let kib: u64 = value.split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// `VmRSS` and `VmHWM` of process `pid`, in bytes.
fn rss_and_peak(pid: i32) -> (Option<u64>, Option<u64>) {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(text) => (kib_field(&text, "VmRSS:"), kib_field(&text, "VmHWM:")),
        Err(_) => (None, None),
    }
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS.
fn reset_peak(pid: i32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// The process `pid` as we see it in `/proc`, when it is the process the inspector speaks
/// for: a pid reported by an inspector we attached to may be another PID namespace's, so it
/// is taken only when our `/proc/PID/exe` is the executable it reported (`exec_path`).
pub(crate) fn local_pid(pid: i64, exec_path: Option<&str>) -> Option<i32> {
    let pid = i32::try_from(pid).ok().filter(|p| *p > 0)?;
    if let Some(exec_path) = exec_path {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        if exe != std::path::Path::new(exec_path) {
            return None;
        }
    }
    Some(pid)
}

/// Checked before a snapshot; [`Check::finish`] completes the record after it.
pub(crate) struct Check {
    pid: i32,
    record: SnapshotMemory,
    peak_reset: bool,
}

/// Reads the heap's use through `ch` and the process's memory, and refuses the snapshot
/// (unless `force`) when the estimate exceeds what is left. Call it after the forced
/// collections, right before the snapshot.
pub(crate) async fn check(
    ch: &mut impl Channel,
    pid: i32,
    label: &str,
    first: Option<&SnapshotMemory>,
    force: bool,
    spill: Option<&Spill>,
    reporter: &dyn Reporter,
) -> Result<Check> {
    let usage = ch.call("Runtime.getHeapUsage", json!({})).await?;
    let heap_used = usage.get("usedSize").and_then(Value::as_f64).unwrap_or(0.0) as u64;
    let (rss, _) = rss_and_peak(pid);
    let retained = first.and_then(|f| retained(f, heap_used, rss));
    let spilled = spill.filter(|s| spill_counts_against(pid, s));
    let estimate =
        estimate_after(heap_used, retained).saturating_add(spilled.map_or(0, |s| s.max_bytes));
    let budget = budget(pid);
    let mut basis = format!(
        "{EXTRA_PER_HEAP_BYTE} × the {} of heap in use + {}",
        human_bytes(heap_used),
        human_bytes(EXTRA_FIXED)
    );
    if let Some(r) = retained.filter(|r| *r > 0) {
        basis = format!(
            "{basis}, less the {} an earlier snapshot left allocated",
            human_bytes(r)
        );
    }
    if let Some(s) = spilled {
        basis = format!(
            "{basis}, + the upload's spill of up to {} on a memory-backed {} under the same \
             memory limit",
            human_bytes(s.max_bytes),
            s.dir.display()
        );
    }
    let short = budget.as_ref().filter(|b| estimate > b.available);
    let mut forced = false;
    if let Some(b) = short {
        if !force {
            return Err(CaptureError::NoHeadroom {
                label: label.to_owned(),
                pid: i64::from(pid),
                estimate,
                estimate_basis: basis,
                available: b.available,
                budget: b.words.clone(),
            });
        }
        forced = true;
        reporter.note(&format!(
            "--force: taking snapshot {label} although it may need {} ({basis}) and only {} is \
             left ({})",
            human_bytes(estimate),
            human_bytes(b.available),
            b.words
        ));
    }
    let peak_reset = reset_peak(pid);
    Ok(Check {
        pid,
        peak_reset,
        record: SnapshotMemory {
            label: label.to_owned(),
            heap_used_bytes: heap_used,
            rss_bytes: rss,
            estimate_bytes: estimate,
            available_bytes: budget.as_ref().map(|b| b.available),
            budget: budget.map(|b| b.words),
            forced,
            peak_rss_bytes: None,
            peak_extra_bytes: None,
        },
    })
}

impl Check {
    /// The record, with the peak RSS the snapshot reached.
    pub(crate) fn finish(mut self) -> SnapshotMemory {
        let (_, peak) = rss_and_peak(self.pid);
        self.record.peak_rss_bytes = peak;
        if self.peak_reset {
            self.record.peak_extra_bytes = match (peak, self.record.rss_bytes) {
                (Some(p), Some(r)) => Some(p.saturating_sub(r)),
                _ => None,
            };
        }
        self.record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fields() {
        let status = "Name:\tnode\nVmHWM:\t  102400 kB\nVmRSS:\t   51200 kB\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(50 << 20));
        assert_eq!(kib_field(status, "VmHWM:"), Some(100 << 20));
        assert_eq!(kib_field(status, "VmSwap:"), None);
    }

    #[test]
    fn the_estimate_grows_with_the_heap() {
        assert_eq!(estimate(0), EXTRA_FIXED);
        assert_eq!(
            estimate(1 << 20),
            EXTRA_FIXED + EXTRA_PER_HEAP_BYTE * (1 << 20)
        );
        assert_eq!(estimate(u64::MAX), u64::MAX);
    }

    #[test]
    fn what_an_earlier_snapshot_left_is_reused() {
        let first = SnapshotMemory {
            label: "A".into(),
            heap_used_bytes: 40 << 20,
            rss_bytes: Some(100 << 20),
            estimate_bytes: 0,
            available_bytes: None,
            budget: None,
            forced: false,
            peak_rss_bytes: None,
            peak_extra_bytes: None,
        };
        // RSS grew by 600 MiB, the heap by 10 MiB: 590 MiB stay from A's snapshot.
        let r = retained(&first, 50 << 20, Some(700 << 20));
        assert_eq!(r, Some(590 << 20));
        assert_eq!(
            estimate_after(50 << 20, r),
            estimate(50 << 20) - (590 << 20)
        );
        assert_eq!(estimate_after(1 << 20, Some(1 << 40)), EXTRA_FIXED);
        assert_eq!(retained(&first, 50 << 20, None), None);
    }

    #[test]
    fn our_own_budget_is_read() {
        let me = std::process::id() as i32;
        let b = budget(me).expect("this machine has /proc/meminfo");
        assert!(b.available > 0, "{b:?}");
        assert!(local_pid(i64::from(me), None).is_some());
        assert!(local_pid(i64::from(me), Some("/nonexistent/node")).is_none());
        assert!(local_pid(-1, None).is_none());
    }
}
