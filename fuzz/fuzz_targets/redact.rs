//! The snapshot redactor (`heapsight-redact`) on arbitrary bytes, fed whole and in chunks cut
//! where the input's first bytes say (the inspector cuts its chunks anywhere). Errors are
//! fine; a panic is a finding, and so is any difference between the two feedings: the same
//! output and statistics, or an error from both.

#![no_main]

use heapsight_redact::{RedactStats, Redactor};
use libfuzzer_sys::fuzz_target;

fn redact(data: &[u8], cuts: &[usize]) -> Option<(Vec<u8>, RedactStats)> {
    let mut r = Redactor::new();
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        let end = cut.clamp(at, data.len());
        r.feed(&data[at..end], &mut out).ok()?;
        at = end;
    }
    let stats = r.finish().ok()?;
    Some((out, stats))
}

fuzz_target!(|input: &[u8]| {
    let (head, data) = input.split_at(input.len().min(4));
    let mut cuts: Vec<usize> = head
        .iter()
        .map(|&b| usize::from(b) * data.len() / 256)
        .collect();
    cuts.sort_unstable();
    let whole = redact(data, &[]);
    let chunked = redact(data, &cuts);
    match (&whole, &chunked) {
        (Some(a), Some(b)) => assert_eq!(a, b, "chunking changed the output"),
        (None, None) => {}
        _ => panic!("chunking changed whether the input is accepted"),
    }
    if let Some((out, stats)) = whole {
        assert_eq!(stats.bytes_in, data.len() as u64);
        assert_eq!(stats.bytes_out, out.len() as u64);
        // Only string texts change, and a character never grows.
        assert!(out.len() <= data.len());
        assert!(stats.redacted <= stats.strings);
    }
});
