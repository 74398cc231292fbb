//! `scan_baseline` (ids, id set, class totals and identity sample of the 3-snapshot diff's
//! baseline, read without a graph) on arbitrary bytes. Errors are fine; a panic is a
//! finding. When the id-only scan also accepts the input, both must agree.

#![no_main]

use heapsight_snapshot::{scan_baseline, scan_max_js_id, Progress};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(base) = scan_baseline(&data, &Progress::new()) else {
        return;
    };
    let classed: u64 = base.classes.iter().map(|c| c.count).sum();
    assert!(
        classed <= base.node_count,
        "more classed objects than nodes"
    );
    if let Ok(scan) = scan_max_js_id(&data, &Progress::new()) {
        assert_eq!(scan.max_js_id, base.max_js_id, "largest odd id differs");
        assert_eq!(scan.node_count, base.node_count, "node counts differ");
        if base.max_js_id > 0 {
            assert_ne!(base.js_ids.contains(base.max_js_id), Some(false));
        }
    }
});
