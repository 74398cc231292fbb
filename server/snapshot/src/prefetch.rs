//! A hint to the CPU to start loading a column's entry before it is read: the dominator
//! search, the distances' BFS and the retainer index read their columns in an order the
//! hardware cannot guess (each node's retainers, their preorder numbers, their forest
//! links, the targets' distances), and on a heap of gigabytes every such read misses the
//! caches. Asking for a few of them ahead lets their misses overlap. A hint
//! changes no result; off x86-64 it does nothing.

/// Starts loading `column[i]` into the caches (nothing when `i` is out of bounds).
#[inline(always)]
pub(crate) fn prefetch<T>(column: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(entry) = column.get(i) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch reads nothing the program sees and cannot fault; the address
        // is that of an element in bounds.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((entry as *const T).cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (column, i);
}
