//! `Snapshot::from_bytes` on arbitrary bytes: parse, then every derived index (retainers,
//! distances, dominators, retained sizes) and the Summary view. Errors are fine; a panic,
//! a hang or an allocation past the RSS limit is a finding. A snapshot that does load is
//! checked for the invariants in [`heapsight_fuzz::check_snapshot`].

#![no_main]

use heapsight_snapshot::{Progress, Snapshot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(snap) = Snapshot::from_bytes(data, &Progress::new()) {
        heapsight_fuzz::check_snapshot(&snap);
    }
});
