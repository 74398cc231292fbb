//! heapsight's editor layer, in plain Rust: loads the findings of a capture's heaps (the
//! main heap and every worker thread or process captured beside it, see [`heaps`]), of
//! three snapshots or of a JSON report, through an on-disk cache; joins them to the
//! workspace's files, and answers per-file questions — diagnostics, hover, code lenses,
//! quick fixes, a report — against the current text of a document, in byte ranges.
//!
//! It knows no LSP types, no JSON-RPC and no async runtime: the `lsp` crate converts.
//! Where a finding lands in a file is decided in one module, [`locate`].

mod actions;
mod analysis;
pub mod baseline;
pub mod cache;
mod config;
mod diagnostics;
mod error;
mod finding;
pub mod heaps;
mod hover;
pub mod identity;
pub mod inputs;
pub mod json_report;
mod lens;
mod load;
pub mod locate;
mod manifest;
mod markdown;
pub mod paths;
pub mod progress;
mod report;
mod retainer_path;
pub mod wording;

pub use actions::CodeAction;
pub use analysis::{Analysis, Located, Placed, Site};
pub use baseline::Baseline;
pub use config::{parse_size, Config, PathMapping, Thresholds};
pub use diagnostics::{kind_url, severity, Diagnostic, Related, Severity, README_URL};
pub use error::IdeError;
pub use finding::{Anchor, Binding, Finding, Growth, Holder, Hop, LeakKindName};
pub use heaps::{Heap, HeapKind, HeapReport, HeapStatus, Heaps, Warning, WarningCode};
pub use hover::{finding_markdown, Hover};
pub use inputs::Input;
pub use json_report::{JsonReport, Place, ReportFinding, ReportHeap};
pub use lens::CodeLens;
pub use load::{
    load, parse_report, read_report, LoadOptions, Loaded, LoadedHeap, ReportContents, Source,
    Summary,
};
pub use manifest::{sha256_hex, CaptureManifest, CapturedScript, CapturedScripts, MemoryLimit};

pub use heapsight_leaks::{format_bytes, format_count, LeakKind};
pub use heapsight_snapshot::Progress;
pub use heapsight_source::{apply_edits, LineIndex, TextEdit, TextRange};
