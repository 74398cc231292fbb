//! Each planted leak, seen through the editor layer on a copy of its fixture app: the
//! diagnostic sits on the registering statement of expected.json (the `.ts` line for the
//! TypeScript app, through its source map), and the preferred quick fix, applied to the copy,
//! really fixes the leak: the app is captured again under load (which fails on any 5xx
//! answer, so the app still does its job) and the finding is gone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use heapsight_ide::{
    apply_edits, load, Analysis, Config, Input, LoadOptions, PathMapping, Progress,
};
use heapsight_leaks::{analyze_files, Options};
use heapsight_tests::support::{
    copy_fixture, expected, fixture_dir, fixture_snapshots, repo_root, snapshots_of,
};

/// Apps whose leak has no automatic fix, and why: the test checks none is offered.
const NO_FIX: &[(&str, &str)] = &[
    (
        "promise-leak",
        "the cure is to settle the promise (a timeout or an error path), a design change",
    ),
    (
        "library-leak",
        "the route must be registered once at start-up instead of per request",
    ),
];

struct Fixed {
    line: u32,
    title: String,
    new_text: String,
    file: PathBuf,
}

/// Places the app's one leak in its copy, checks the line, and applies the preferred fix.
fn diagnose_and_fix(app: &str, copy: &Path) -> Option<Fixed> {
    let triple = fixture_snapshots(app, 20).unwrap_or_else(|e| panic!("{app}: {e:#}"));
    let exp = expected(app).unwrap();
    let leak = exp.leaks.first().expect("a leaky app");
    let input = Input::Snapshots {
        a: triple.a.clone(),
        b: triple.b.clone(),
        c: triple.c.clone(),
        capture: None,
    };
    let options = LoadOptions {
        min_retained_bytes: 1_000_000,
        kinds: Vec::new(),
        cache_dir: None,
    };
    let loaded = load(&input, &options, &Progress::new()).unwrap_or_else(|e| panic!("{app}: {e}"));
    // The snapshots name the scripts where they ran: the fixture itself.
    let config = Config {
        path_mappings: vec![PathMapping {
            from: fixture_dir(app).unwrap().display().to_string(),
            to: copy.display().to_string(),
        }],
        ..Config::default()
    };
    let analysis = Analysis::new(Arc::new(loaded), copy, &config);
    let file = copy.join(&leak.file);
    let text = std::fs::read_to_string(&file).unwrap();
    let diagnostics = analysis.diagnostics(&file, &text);
    let diagnostic = diagnostics
        .iter()
        .find(|d| d.code == leak.kind)
        .unwrap_or_else(|| {
            panic!(
                "{app}: no {} diagnostic in {}: {diagnostics:#?} (files with findings: {:?})",
                leak.kind,
                leak.file,
                analysis.files_with_findings()
            )
        });
    let line = text[..diagnostic.range.start].matches('\n').count() as u32 + 1;
    assert_eq!(
        line, leak.line,
        "{app}: the {} diagnostic is on {}:{line}, the registering statement is on line {}",
        leak.kind, leak.file, leak.line
    );
    assert!(!diagnostic.stale, "{app}: fresh code is not stale");
    let actions = analysis.code_actions(&file, &text, diagnostic.range);
    if let Some((_, why)) = NO_FIX.iter().find(|(a, _)| *a == app) {
        assert!(
            actions.is_empty(),
            "{app}: no fix was expected ({why}), got {actions:#?}"
        );
        return None;
    }
    let fix = actions
        .iter()
        .find(|a| a.preferred)
        .or_else(|| actions.first())
        .unwrap_or_else(|| panic!("{app}: no quick fix offered for {diagnostic:#?}"));
    let new_text = apply_edits(&text, &fix.edits).unwrap_or_else(|| {
        panic!(
            "{app}: {:?} has overlapping or out-of-range edits",
            fix.title
        )
    });
    assert_ne!(new_text, text, "{app}: {:?} changes nothing", fix.title);
    std::fs::write(&file, &new_text).unwrap();
    Some(Fixed {
        line,
        title: fix.title.clone(),
        new_text,
        file,
    })
}

/// Rebuilds the TypeScript app's JavaScript after its `.ts` source was fixed.
fn compile_typescript(copy: &Path) {
    let tsc = repo_root().join("tests/peer/node_modules/typescript/bin/tsc");
    assert!(
        tsc.is_file(),
        "{} is missing: run `bash tests/setup.sh`",
        tsc.display()
    );
    let types = repo_root().join("tests/peer/node_modules/@types");
    let status = Command::new("node")
        .arg(&tsc)
        .arg("-p")
        .arg(copy)
        .arg("--typeRoots")
        .arg(&types)
        .args(["--types", "node"])
        .status()
        .expect("runs tsc");
    assert!(status.success(), "tsc failed on the fixed TypeScript app");
}

#[test]
fn every_leak_is_placed_on_its_statement_and_every_quick_fix_fixes_it() {
    let work = repo_root().join("target/tmp/quick-fixes");
    let _ = std::fs::remove_dir_all(&work);
    let mut fixed_apps = Vec::new();
    for app in heapsight_tests::support::FIXTURE_APPS {
        if app.starts_with("healthy-") {
            continue;
        }
        let copy = copy_fixture(app, &work).unwrap();
        let Some(fixed) = diagnose_and_fix(app, &copy) else {
            continue;
        };
        if copy.join("tsconfig.json").is_file() {
            compile_typescript(&copy);
        }
        let out = work.join(format!("{app}.snapshots"));
        let triple = snapshots_of(&copy, &out, 20).unwrap_or_else(|e| {
            panic!(
                "{app}: the fixed app ({}) no longer runs its load: {e:#}\n{}",
                fixed.title, fixed.new_text
            )
        });
        let report = analyze_files(
            &triple.a,
            &triple.b,
            &triple.c,
            &Options::default(),
            &Progress::new(),
        )
        .unwrap();
        assert!(
            report.findings.is_empty(),
            "{app}: after {:?} on {}:{} the capture still shows {:#?}",
            fixed.title,
            fixed.file.display(),
            fixed.line,
            report
                .findings
                .iter()
                .map(|f| &f.message)
                .collect::<Vec<_>>()
        );
        fixed_apps.push(*app);
    }
    assert_eq!(
        fixed_apps,
        [
            "listener-leak",
            "map-cache",
            "interval-leak",
            "closure-leak",
            "abort-signal-leak",
            "split-modules",
            "ts-presence-leak"
        ],
        "the apps whose quick fix was proven"
    );
}
