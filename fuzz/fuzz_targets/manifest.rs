//! A capture's `manifest.json` on arbitrary bytes, through both readers: the capture crate's
//! [`Manifest`] (which must survive a write/read round trip unchanged, and whose script URLs
//! go through `url_to_path`) and the editor layer's `CapturedScripts` (each script found
//! again by its URL, its recorded source matching its hash exactly when the hash is the
//! source's SHA-256).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    heapsight_fuzz::check_manifest(data);
});
