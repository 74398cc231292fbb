//! The redactor's own speed, without the disk: the snapshot is read into memory first, then
//! redacted in 1 MiB chunks (the size of the command line's reads) into a reused buffer.
//!
//! `cargo run --release -p heapsight-redact --example throughput -- FILE.heapsnapshot`

use std::time::Instant;

use heapsight_redact::Redactor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: throughput FILE.heapsnapshot")?;
    let input = std::fs::read(&path)?;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        let mut redactor = Redactor::new();
        let mut out = Vec::with_capacity(1 << 21);
        for chunk in input.chunks(1 << 20) {
            out.clear();
            redactor.feed(chunk, &mut out)?;
        }
        let stats = redactor.finish()?;
        best = best.min(start.elapsed().as_secs_f64());
        assert_eq!(stats.bytes_in, input.len() as u64);
    }
    println!(
        "{path}: {:.1} MB in {best:.3} s: {:.0} MB/s",
        input.len() as f64 / 1e6,
        input.len() as f64 / 1e6 / best
    );
    Ok(())
}
