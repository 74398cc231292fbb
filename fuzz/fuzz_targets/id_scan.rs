//! `scan_max_js_id` (the id-only pass over `nodes` used for the baseline and target
//! snapshots) on arbitrary bytes. Errors are fine; a panic is a finding. When the full
//! reader also accepts the input, both must agree on the node count and the largest odd id.

#![no_main]

use heapsight_snapshot::{read_graph, scan_max_js_id, Progress};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(scan) = scan_max_js_id(&data, &Progress::new()) else {
        return;
    };
    if let Ok(graph) = read_graph(&data, &Progress::new()) {
        heapsight_fuzz::check_id_scan(&scan, &graph);
    }
});
