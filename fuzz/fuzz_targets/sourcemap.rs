//! Source maps from outside (a compiled script's map file or inline `data:` URL) on arbitrary
//! bytes: parsed by `ScriptMap::from_json`, then every mapping followed as a finding's position
//! would be — through the inline-URL path of `original_call_site`, into the embedded original
//! source, parsed with tree-sitter and searched for the call site. Errors are fine; a panic,
//! a position or range outside its text, or a read outside the (empty) workspace is a finding.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    heapsight_fuzz::check_source_map(data);
});
