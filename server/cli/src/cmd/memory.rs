//! The memory check before an analysis: the budget this process has (its cgroup's limit
//! less its use, or the machine's available memory), unless `--force` waives the check,
//! and the hint printed with a refusal.

use heapsight_snapshot::{MemoryBudget, SnapshotError};

/// The memory left to this process, or `None` with `--force` or when it cannot be read.
pub fn budget(force: bool) -> Option<MemoryBudget> {
    if force {
        return None;
    }
    heapsight_capture::headroom::own_budget().map(|b| MemoryBudget {
        available: b.available,
        words: b.words,
    })
}

/// What to do about `err` when it is a refusal for memory.
pub fn hint(err: &anyhow::Error) -> Option<&'static str> {
    err.chain()
        .any(|cause| {
            matches!(
                cause.downcast_ref::<SnapshotError>(),
                Some(SnapshotError::NotEnoughMemory { .. })
            )
        })
        .then_some(
            "free memory, raise the container's limit or analyze on a larger machine; \
             --force starts anyway (the kernel may end the analysis partway)",
        )
}
