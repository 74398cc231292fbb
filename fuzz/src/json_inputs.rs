//! JSON files heapsight reads from outside: a capture's `manifest.json` (both readers) and a
//! report from `heapsight analyze --format json` (loaded by the editor layer, then asked what
//! an editor asks).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use heapsight_capture::{url_to_path, Manifest};
use heapsight_ide::{
    apply_edits, finding_markdown, parse_report, sha256_hex, Analysis, CaptureManifest,
    CapturedScripts, Config, Finding, Input, Loaded, LoadedHeap, Source,
};

use crate::sourcemaps::check_range;

/// Both manifest readers on `data`.
pub fn check_manifest(data: &[u8]) {
    if let Ok(manifest) = serde_json::from_slice::<Manifest>(data) {
        // What the capture writes it reads back unchanged.
        let written = serde_json::to_vec(&manifest).expect("a manifest serializes");
        let again: Manifest = serde_json::from_slice(&written).expect("a written manifest reads");
        assert_eq!(again, manifest, "manifest round trip");
        for script in &manifest.scripts {
            if let Some(path) = url_to_path(&script.url) {
                assert!(path.starts_with('/'), "{path:?} from {:?}", script.url);
            }
        }
        let dir = Path::new("/capture");
        for label in ["A", "B", "C"] {
            let _ = manifest.snapshot_path(dir, label);
        }
    }
    let Ok(read) = CaptureManifest::from_json(data, Path::new("/capture/manifest.json")) else {
        return;
    };
    // The warning and the parts read from any manifest without panicking.
    let _ = read.not_the_service();
    let _ = read.process().main_heap_title(!read.parts.is_empty());
    let scripts = read.scripts;
    // Every script the file lists is found again by its URL (the last record of a URL wins,
    // so only presence is checked), and a recorded source matches exactly its own hash.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for record in value["scripts"].as_array().into_iter().flatten() {
        let Some(url) = record["url"].as_str() else {
            continue;
        };
        let script = scripts
            .get(url)
            .expect("a listed script is found by its URL");
        if let Some(source) = &script.source {
            assert_eq!(script.matches(source), script.sha256 == sha256_hex(source));
        }
    }
}

/// The report reader on `data`, then the editor's questions on what it loads.
pub fn check_report(data: &[u8]) {
    let path = PathBuf::from("/fuzz/report.json");
    let Ok(report) = parse_report(data, &path) else {
        return;
    };
    let findings = report.findings;
    // Findings serialize and read back to the same JSON (the cache relies on it).
    let text = serde_json::to_string(&findings).expect("findings serialize");
    let back: Vec<Finding> = serde_json::from_str(&text).expect("serialized findings read");
    assert_eq!(
        serde_json::to_string(&back).expect("findings serialize"),
        text
    );

    let root = workspace();
    let loaded = Loaded {
        input: Input::Report(path),
        source: Source::Report,
        findings,
        summary: report.summary,
        heaps: report
            .heaps
            .into_iter()
            .map(|report| LoadedHeap {
                report,
                scripts: CapturedScripts::default(),
            })
            .collect(),
        warnings: report.warnings,
    };
    let config = Config {
        min_retained_bytes: 0,
        ..Config::default()
    };
    let analysis = Analysis::new(Arc::new(loaded), root, &config);
    let _ = analysis.report_markdown();
    for (_, finding) in analysis.findings() {
        let _ = finding_markdown(finding, true);
    }
    for located in analysis.place_all().into_iter().flatten() {
        let text = std::fs::read_to_string(&located.path).unwrap_or_default();
        check_range(located.range, &text);
    }
    for file in analysis.files_with_findings() {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for diagnostic in analysis.diagnostics(&file, &text) {
            check_range(diagnostic.range, &text);
            if let Some(hover) = analysis.hover(&file, &text, diagnostic.range.start) {
                check_range(hover.range, &text);
            }
            for action in analysis.code_actions(&file, &text, diagnostic.range) {
                assert!(
                    apply_edits(&text, &action.edits).is_some(),
                    "code action {:?} does not apply",
                    action.title
                );
            }
        }
        for lens in analysis.code_lenses(&file, &text) {
            check_range(lens.range, &text);
        }
    }
}

/// A workspace made once per process from fixture apps the seed reports' findings name:
/// each in its own folder, so script URLs resolve by their longest common suffix; the
/// TypeScript one with its source map, so findings there go through the map.
fn workspace() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("heapsight-fuzz-ws-{}", std::process::id()));
        for (name, text) in [
            (
                "listener-leak/main.js",
                include_str!("../../fixtures/listener-leak/main.js"),
            ),
            (
                "map-cache/main.mjs",
                include_str!("../../fixtures/map-cache/main.mjs"),
            ),
            (
                "ts-presence-leak/main.js",
                include_str!("../../fixtures/ts-presence-leak/main.js"),
            ),
            (
                "ts-presence-leak/main.js.map",
                include_str!("../../fixtures/ts-presence-leak/main.js.map"),
            ),
            (
                "ts-presence-leak/src/main.ts",
                include_str!("../../fixtures/ts-presence-leak/src/main.ts"),
            ),
        ] {
            let path = root.join(name);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).expect("creates the fuzz workspace");
            }
            std::fs::write(path, text).expect("writes a fuzz workspace file");
        }
        root
    })
}
