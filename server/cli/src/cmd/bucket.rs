//! Captures in object storage, for `capture --out s3://…` and `analyze s3://…`: the capture
//! is written to a local staging folder that the store crate follows, sending each snapshot
//! while it is taken; the analysis downloads a capture once into the cache.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context};
use heapsight_capture::{human_duration, Capture, Options, Output, Spill};
use heapsight_store::{CaptureUpload, Location, UploadOptions};

use crate::cmd::capture::{print_complete, shown, CliReporter};
use crate::cmd::format::bytes;

/// A runtime with two workers: the upload's signing and TLS run beside the inspector's reads.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A new, empty local folder for a capture on its way to a bucket.
fn staging_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("heapsight-upload-{}-{nanos}", std::process::id()))
}

/// Runs the capture of `opts` into `location`; returns the capture's URL. Ctrl-C, a failed
/// capture or a failed upload leave nothing in the bucket.
pub fn capture_into(
    mut opts: Options,
    reporter: Arc<CliReporter>,
    location: &Location,
    spill_max: u64,
) -> anyhow::Result<String> {
    let staging = staging_dir();
    opts.output = Output::Dir(staging.clone());
    opts.spill = Some(Spill {
        dir: std::env::temp_dir(),
        max_bytes: spill_max,
    });
    let store = heapsight_store::open(location)?;
    let runtime = runtime()?;
    let started = Instant::now();
    let result = runtime.block_on(async {
        let options = UploadOptions {
            spill_max,
            ..UploadOptions::default()
        };
        let mut upload = CaptureUpload::start(store, location.clone(), staging.clone(), options);
        let captured: anyhow::Result<Capture> = tokio::select! {
            r = heapsight_capture::capture(&opts, reporter.clone()) => r.map_err(anyhow::Error::from),
            e = upload.failed() => Err(anyhow::Error::from(e).context("the upload failed")),
            _ = tokio::signal::ctrl_c() => Err(anyhow!(
                "interrupted: the uploads were aborted and a target we started was stopped"
            )),
        };
        match captured {
            Ok(done) => {
                reporter.clear_bar();
                eprintln!("sending the rest of the capture to {}", location.url());
                let summary = upload.commit().await?;
                Ok((done, summary))
            }
            Err(e) => {
                let _ = upload.abort().await;
                Err(e)
            }
        }
    });
    reporter.clear_bar();
    let _ = std::fs::remove_dir_all(&staging);
    let (done, summary) = result.context("capture failed")?;
    print_complete(&done, &location.url(), started);
    eprintln!(
        "uploaded {} objects ({}) in {}; the snapshots went up as they were taken (largest local spill {})",
        summary.objects,
        bytes(summary.bytes),
        human_duration(summary.elapsed),
        bytes(summary.peak_spill),
    );
    Ok(location.url())
}

/// The local folder of the capture at `url`, downloaded into the cache unless it is there.
pub fn fetch(url: &str) -> anyhow::Result<PathBuf> {
    let location = Location::parse(url)?;
    let store = heapsight_store::open(&location)?;
    let cache = heapsight_store::cache_root();
    let fetched = runtime()?
        .block_on(heapsight_store::fetch(store, &location, &cache))
        .with_context(|| format!("cannot fetch {url}"))?;
    if fetched.downloaded == 0 {
        eprintln!("{}: the cached copy ({})", fetched.url, shown(&fetched.dir));
    } else {
        eprintln!(
            "{}: downloaded {} into {}",
            fetched.url,
            bytes(fetched.downloaded),
            shown(&fetched.dir)
        );
    }
    Ok(fetched.dir)
}
