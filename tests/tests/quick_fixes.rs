//! Each planted leak, seen through the editor layer on a copy of its fixture app: the
//! diagnostic sits on the registering statement of expected.json (the `.ts` line for the
//! TypeScript app, through its source map), and every quick fix offered there, each applied
//! to a fresh copy, really fixes the leak: the app is captured again under load (which fails
//! on any 5xx answer, so the app still does its job) and the finding is gone. The apps whose
//! leak lives in an npm package (`LIBRARY_FIXTURE_APPS`) are copied beside a link to
//! `fixtures/node_modules` (installed by `tests/setup.sh`), so the copy loads the same packages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use heapsight_ide::{
    apply_edits, load, Analysis, Config, Input, LoadOptions, PathMapping, Progress,
};
use heapsight_leaks::{analyze_files, Options};
use heapsight_tests::support::{
    copy_fixture, expected, fixture_dir, fixture_snapshots, fixtures_dir, repo_root, snapshots_of,
    FIXTURE_APPS, LIBRARY_FIXTURE_APPS,
};

/// Apps whose leak has no automatic fix, and why: the test checks none is offered.
const NO_FIX: &[(&str, &str)] = &[
    (
        "promise-leak",
        "the cure is to settle the promise (a timeout or an error path), a design change",
    ),
    (
        "express-route-leak",
        "a route added per request to a long-lived router has no undo in express: the cure is \
         one parameterized route (`/:token`) over a bounded store, a design change",
    ),
    (
        "winston-logger-leak",
        "a logger made per request on a shared transport: the cure is one logger with \
         `logger.child(meta)` per request, a design change",
    ),
    (
        "prom-client-labels-leak",
        "a label set per raw URL: the cure is a bounded label (the route pattern), a design \
         change",
    ),
    (
        "express-session-leak",
        "the default MemoryStore keeps every session: the cure is a real store (or \
         `saveUninitialized: false`), a design change",
    ),
    (
        "lodash-memoize-leak",
        "a memoized function keyed by a value that never repeats: the cure is a bounded cache or \
         a coarser key, a design change",
    ),
    (
        "ajv-compile-leak",
        "a schema compiled per request is cached by ajv for ever: the cure is to compile once \
         (or `ajv.getSchema`), a design change",
    ),
    (
        "node-schedule-job-leak",
        "a job scheduled per request whose end is the watch's end, which the app never has: the \
         cure is to cancel it when the watch ends, a design change",
    ),
];

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
        limit: None,
        memory: None,
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
    assert!(
        leak.accepted().contains(&(leak.file.clone(), line)),
        "{app}: the {} diagnostic is on {}:{line}, the registering statement is on line {}",
        leak.kind,
        leak.file,
        leak.line
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

/// Copies fixture `app` into `parent` (see `copy_fixture`); for an app that loads npm
/// packages, links `parent/node_modules` to `fixtures/node_modules`, so the copy resolves
/// them as the fixture does (Node looks for `node_modules` in the folders above the script),
/// and checks the leak's package resolves there.
fn copy_app(app: &str, parent: &Path) -> PathBuf {
    let copy = copy_fixture(app, parent).unwrap_or_else(|e| panic!("{app}: {e:#}"));
    if LIBRARY_FIXTURE_APPS.contains(&app) {
        let modules = fixtures_dir().join("node_modules");
        assert!(
            modules.is_dir(),
            "{} is missing: run `bash tests/setup.sh`",
            modules.display()
        );
        std::os::unix::fs::symlink(&modules, parent.join("node_modules")).unwrap();
        if let Some(package) = expected(app)
            .unwrap()
            .leaks
            .first()
            .and_then(|l| l.package.clone())
        {
            let manifest = parent
                .join("node_modules")
                .join(&package)
                .join("package.json");
            assert!(
                manifest.is_file(),
                "{app}: the copy does not resolve `{package}` ({} is missing)",
                manifest.display()
            );
        }
    }
    copy
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

/// The fixture apps with a leak: every app but the healthy controls and twins.
fn leaky_apps() -> impl Iterator<Item = &'static str> {
    FIXTURE_APPS
        .iter()
        .chain(LIBRARY_FIXTURE_APPS)
        .copied()
        .filter(|app| !app.starts_with("healthy-") && !app.ends_with("-healthy"))
}

#[test]
fn every_leak_is_placed_on_its_statement_and_every_quick_fix_fixes_it() {
    let work = repo_root().join("target/tmp/quick-fixes");
    let _ = std::fs::remove_dir_all(&work);
    let mut proven = Vec::new();
    for app in leaky_apps() {
        let first = copy_app(app, &work.join(format!("{app}-fix0")));
        let Some(offered) = diagnose(app, &first) else {
            continue;
        };
        for (i, (title, new_text)) in offered.fixes.iter().enumerate() {
            let parent = work.join(format!("{app}-fix{i}"));
            let copy = if i == 0 {
                first.clone()
            } else {
                copy_app(app, &parent)
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
    // Every leaky app outside `NO_FIX` had a fix (`diagnose` insists), and all were proven.
    let apps: std::collections::BTreeSet<&str> =
        proven.iter().filter_map(|p| p.split(':').next()).collect();
    let with_fix: std::collections::BTreeSet<&str> = leaky_apps()
        .filter(|app| NO_FIX.iter().all(|(no_fix, _)| no_fix != app))
        .collect();
    assert_eq!(
        apps, with_fix,
        "every app with a fix had all of its fixes proven: {proven:#?}"
    );
    eprintln!(
        "quick fixes proven by re-capture:\n  {}",
        proven.join("\n  ")
    );
}
