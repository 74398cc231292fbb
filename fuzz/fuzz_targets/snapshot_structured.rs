//! Structure-aware fuzzing: a small valid snapshot (one of `bases/`) with edits the input
//! chooses — numbers replaced, inserted, deleted or swapped at record and field positions,
//! header counts changed, strings replaced with escapes and lone surrogates, bytes cut or
//! inserted. Random bytes almost never get past the header; these inputs reach the node,
//! edge, location and string readers and the graph passes behind them.
//!
//! The mutated snapshot goes through `Snapshot::from_bytes` and `scan_max_js_id`, with the
//! same invariant checks as the other two targets.

#![no_main]

use heapsight_fuzz::mutate::Edits;
use heapsight_snapshot::{scan_max_js_id, Progress, Snapshot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|edits: Edits| {
    let bytes = edits.apply();
    let data: &[u8] = &bytes;
    let scan = scan_max_js_id(&data, &Progress::new());
    if let Ok(snap) = Snapshot::from_bytes(data, &Progress::new()) {
        heapsight_fuzz::check_snapshot(&snap);
        // Loading moves self sizes and names, never ids or the node count.
        let scan = scan.expect("the full reader accepted what the id scan rejected");
        heapsight_fuzz::check_id_scan(&scan, &snap.graph);
    }
});
