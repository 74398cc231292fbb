//! Capture folders in object storage (`s3://`, `gs://`, `az://`), through the `object_store`
//! crate: its clients sign requests and read the standard configuration of each cloud.
//!
//! - [`Location`]: a bucket and a prefix, parsed from a URL.
//! - [`open`]: the client for a location, configured from the environment (for S3 also the
//!   shared config and credentials files' profile, instance and pod credentials).
//! - [`CaptureUpload`]: follows a local capture folder while the capture writes it. Each
//!   snapshot is sent as a multipart upload while it is being written, its uploaded ranges
//!   freed from the local file at once (the local file is the bounded spill); at the end the
//!   other files follow and the uploads are completed, the manifest last. Until then nothing
//!   is visible in the bucket: a capture that fails, is cancelled or is killed leaves no
//!   object (a killed one leaves incomplete multipart uploads, which a bucket's lifecycle rule
//!   removes).
//! - [`fetch`]: a capture in a bucket downloaded once into a local cache, for the analysis.
//!
//! Nothing here knows what a snapshot holds: files are bytes, the manifest is the file named
//! `manifest.json`.

mod client;
mod download;
mod error;
mod location;
mod profile;
mod upload;

pub use client::open;
pub use download::{cache_root, fetch, Fetched};
pub use error::{Result, StoreError};
pub use location::{is_remote, Location};
pub use upload::{CaptureUpload, UploadOptions, UploadSummary};

/// The file whose presence makes a folder (or a prefix) a complete capture, written last.
pub const MANIFEST_FILE: &str = "manifest.json";
