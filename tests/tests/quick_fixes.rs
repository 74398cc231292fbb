//! Each planted leak, seen through the editor layer on a copy of its fixture app: the
//! diagnostic sits on the registering statement of expected.json (the `.ts` line for the
//! TypeScript app, through its source map), and every quick fix offered there, each applied
//! to a fresh copy, really fixes the leak: the app is captured again under load (which fails
//! on any 5xx answer, so the app still does its job) and the finding is gone.

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
const NO_FIX: &[(&str, &str)] = &[(
    "promise-leak",
    "the cure is to settle the promise (a timeout or an error path), a design change",
)];

/// The quick fixes offered on the app's leak: each one's title and the fixed file's text.
struct Offered {
    line: u32,
    file: PathBuf,
    fixes: Vec<(String, String)>,
}

/// Places the app's one leak in its copy, checks the line, and collects the fixes offered.
fn diagnose(app: &str, copy: &Path) -> Option<Offered> {
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
    assert!(
        !actions.is_empty(),
        "{app}: no quick fix offered for {diagnostic:#?}"
    );
    assert!(
        actions.iter().filter(|a| a.preferred).count() <= 1,
        "{app}: one preferred fix at most"
    );
    let fixes = actions
        .iter()
        .map(|fix| {
            let new_text = apply_edits(&text, &fix.edits).unwrap_or_else(|| {
                panic!(
                    "{app}: {:?} has overlapping or out-of-range edits",
                    fix.title
                )
            });
            assert_ne!(new_text, text, "{app}: {:?} changes nothing", fix.title);
            (fix.title.clone(), new_text)
        })
        .collect();
    Some(Offered {
        line,
        file: PathBuf::from(&leak.file),
        fixes,
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
    let mut proven = Vec::new();
    for app in heapsight_tests::support::FIXTURE_APPS {
        if app.starts_with("healthy-") {
            continue;
        }
        let first = copy_fixture(app, &work.join(format!("{app}-fix0"))).unwrap();
        let Some(offered) = diagnose(app, &first) else {
            continue;
        };
        for (i, (title, new_text)) in offered.fixes.iter().enumerate() {
            let parent = work.join(format!("{app}-fix{i}"));
            let copy = if i == 0 {
                first.clone()
            } else {
                copy_fixture(app, &parent).unwrap()
            };
            std::fs::write(copy.join(&offered.file), new_text).unwrap();
            if copy.join("tsconfig.json").is_file() {
                compile_typescript(&copy);
            }
            let triple = snapshots_of(&copy, &parent.join("snapshots"), 20).unwrap_or_else(|e| {
                panic!(
                    "{app}: the app fixed by {title:?} no longer runs its load: {e:#}\n{new_text}"
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
                "{app}: after {title:?} on {}:{} the capture still shows {:#?}",
                offered.file.display(),
                offered.line,
                report
                    .findings
                    .iter()
                    .map(|f| &f.message)
                    .collect::<Vec<_>>()
            );
            proven.push(format!("{app}: {title}"));
        }
    }
    let apps: std::collections::BTreeSet<&str> =
        proven.iter().filter_map(|p| p.split(':').next()).collect();
    assert_eq!(
        apps.len(),
        7,
        "every app with a fix had all of its fixes proven: {proven:#?}"
    );
    eprintln!(
        "quick fixes proven by re-capture:\n  {}",
        proven.join("\n  ")
    );
}
