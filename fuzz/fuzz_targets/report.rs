//! A JSON report (`heapsight analyze --format json`, loaded by the editor layer to show a CI
//! run's findings) on arbitrary bytes: parsed with `parse_report`, round-tripped, then joined
//! to a small workspace and asked for everything an editor asks — the markdown report, each
//! finding's hover text, placements, diagnostics, hovers, lenses and code actions in the
//! workspace's file. Errors are fine; a panic or a range outside the document is a finding.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    heapsight_fuzz::check_report(data);
});
