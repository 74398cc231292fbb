//! Capture folders assembled from real fixture triples, for the analysis side of captures
//! that hold several heaps: one fixture app's triple as the main heap, others as parts
//! (`threads/<id>/`, `processes/<pid>/`), each part a capture folder of its own with a
//! manifest naming it (`part_of`). Every manifest goes through the capture crate's own
//! [`Manifest`] type, so the files are what `heapsight capture` writes.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use heapsight_capture::{Manifest, PartOrigin, MANIFEST_FILE};
/// The capture crate's types a test names parts and scripts with.
pub use heapsight_capture::{Part, PartKind, Script};
use serde_json::json;

use crate::support::{fixture_dir, fixture_snapshots, Triple};

/// One heap of an assembled capture: a fixture app's Node 20 triple.
#[derive(Debug, Clone)]
pub struct HeapSpec {
    /// The fixture app.
    pub app: &'static str,
    /// Which snapshots to copy (`["A", "B", "C"]` for a complete heap).
    pub labels: &'static [&'static str],
    /// The scripts its manifest records.
    pub scripts: Vec<Script>,
    /// Its manifest's `workspace_scripts` (`Some(0)`: not the service).
    pub workspace_scripts: Option<u64>,
    /// Its manifest's command line; the app's `node <main>` when empty.
    pub command: Vec<String>,
}

impl HeapSpec {
    /// Fixture `app`'s complete triple, no scripts recorded.
    pub fn of(app: &'static str) -> HeapSpec {
        HeapSpec {
            app,
            labels: &["A", "B", "C"],
            scripts: Vec::new(),
            workspace_scripts: None,
            command: Vec::new(),
        }
    }
}

/// A part of an assembled capture: where it goes, what the parent says of it, its heap.
#[derive(Debug, Clone)]
pub struct PartSpec {
    /// As the parent manifest lists it (its `folder` is where the heap is copied).
    pub part: Part,
    /// Its heap.
    pub heap: HeapSpec,
}

/// The URL V8 gives fixture `app`'s entry script in the fixture triples (the driver loads
/// it by absolute path).
pub fn entry_url(app: &str) -> Result<String> {
    let triple = fixture_snapshots(app, 20)?;
    Ok(fixture_dir(app)?
        .join(&triple.info.main)
        .display()
        .to_string())
}

/// A script record of `url` whose source is `text` (`None`: only its hash is recorded).
pub fn script(id: &str, url: &str, text: &str, record_source: bool) -> Script {
    Script {
        id: id.to_owned(),
        url: url.to_owned(),
        path: Some(url.to_owned()),
        sha256: sha256_hex(text),
        v8_hash: String::new(),
        is_module: url.ends_with(".mjs"),
        source: record_source.then(|| text.to_owned()),
    }
}

/// Writes a capture folder at `dir`: `main`'s snapshots and manifest at the top, listing
/// `parts`, each copied into its folder with its own manifest. Returns the top manifest.
pub fn write_capture(dir: &Path, main: &HeapSpec, parts: &[PartSpec]) -> Result<Manifest> {
    let mut manifest = heap_manifest(dir, main)?;
    manifest.parts = parts.iter().map(|p| p.part.clone()).collect();
    for spec in parts {
        // A part listed with a folder outside the capture (a test of the reader's check) has
        // no files written.
        if Path::new(&spec.part.folder)
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            continue;
        }
        let folder = dir.join(&spec.part.folder);
        let mut part = heap_manifest(&folder, &spec.heap)?;
        part.part_of = Some(PartOrigin {
            kind: spec.part.kind,
            title: spec.part.title.clone(),
            thread_id: spec.part.thread_id,
        });
        if spec.part.kind == PartKind::Thread {
            part.pid = manifest.pid;
        }
        write_manifest(&folder, &part)?;
    }
    write_manifest(dir, &manifest)?;
    Ok(manifest)
}

/// Copies `heap`'s snapshots into `dir` and returns its manifest (not yet written).
fn heap_manifest(dir: &Path, heap: &HeapSpec) -> Result<Manifest> {
    let triple: Triple = fixture_snapshots(heap.app, 20)?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut files = Vec::new();
    for label in heap.labels {
        let from = match *label {
            "A" => &triple.a,
            "B" => &triple.b,
            _ => &triple.c,
        };
        let file = format!("{label}.heapsnapshot");
        let to = dir.join(&file);
        fs::copy(from, &to).with_context(|| format!("copying to {}", to.display()))?;
        files.push(json!({
            "label": label,
            "file": file,
            "bytes": fs::metadata(&to)?.len(),
            "taken_at": "2026-01-01T00:00:00Z",
        }));
    }
    let command = if heap.command.is_empty() {
        vec!["node".to_owned(), entry_url(heap.app)?]
    } else {
        heap.command.clone()
    };
    let mut manifest: Manifest = serde_json::from_value(json!({
        "version": 1,
        "heapsight": "test",
        "mode": "spawn",
        "pid": triple.info.pid,
        "node_version": triple.node_version,
        "command": command,
        "inspector": null,
        "started_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:00:10Z",
        "phases": [],
        "files": files,
        "scripts": [],
        "internal_scripts_skipped": 0,
    }))
    .context("a manifest of the capture crate's type")?;
    manifest.scripts = heap.scripts.clone();
    manifest.workspace_scripts = heap.workspace_scripts;
    Ok(manifest)
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join(MANIFEST_FILE);
    fs::write(&path, serde_json::to_vec_pretty(manifest)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// SHA-256 of `text`, lowercase hex, as manifests record a script's source.
fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
