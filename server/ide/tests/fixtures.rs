//! The editor layer on real captures of the fixture apps: every planted leak gets a
//! diagnostic on its expected line (from `expected.json`) in its file, healthy apps get
//! none, and the listener leak's diagnostics, hover, lens, fixes and report read as written
//! below. Edits made after the capture move the diagnostic or mark it stale.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use heapsight_ide::{
    apply_edits, load, Analysis, Config, Input, LoadOptions, Loaded, Progress, TextRange,
};
use heapsight_tests::support::{expected, fixture_dir, fixture_snapshots};

fn loaded(app: &str, cache_dir: Option<PathBuf>) -> Loaded {
    let triple = fixture_snapshots(app, 20).unwrap();
    let input = Input::Snapshots {
        a: triple.a,
        b: triple.b,
        c: triple.c,
        capture: None,
    };
    let options = LoadOptions {
        min_retained_bytes: 1_000_000,
        kinds: Vec::new(),
        cache_dir,
        limit: None,
        memory: None,
    };
    load(&input, &options, &Progress::new()).unwrap()
}

fn analysis(app: &str) -> (Analysis, PathBuf) {
    let root = fixture_dir(app).unwrap();
    let analysis = Analysis::new(Arc::new(loaded(app, None)), &root, &Config::default());
    (analysis, root)
}

/// Sizes, node ids and object counts change when the fixture snapshots are made again.
fn normalize(text: &str) -> String {
    let sizes = regex_lite::Regex::new(r"\d+(\.\d+)? (B|kB|MB|GB)").unwrap();
    let ids = regex_lite::Regex::new(r"(@|-)\d{3,}").unwrap();
    let objects = regex_lite::Regex::new(r"[\d,]+ leaked objects").unwrap();
    let text = sizes.replace_all(text, "<size>");
    let text = ids.replace_all(&text, "${1}<id>");
    objects
        .replace_all(&text, "<n> leaked objects")
        .into_owned()
}

/// `file:line: severity code: message` for every diagnostic of the app, on disk text.
fn rendered_diagnostics(analysis: &Analysis, root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for path in analysis.files_with_findings() {
        let text = std::fs::read_to_string(&path).unwrap();
        let index = heapsight_ide::LineIndex::new(&text);
        let rel = path
            .strip_prefix(std::fs::canonicalize(root).unwrap())
            .unwrap();
        for d in analysis.diagnostics(&path, &text) {
            let line = index.line_of(d.range.start);
            let (start, end) = index.line_range(line).unwrap();
            out.push(format!(
                "{}:{}: {:?} {} `{}`: {}",
                rel.display(),
                line + 1,
                d.severity,
                d.code,
                &text[d.range.start..d.range.end],
                text[start..end].trim()
            ));
        }
    }
    out
}

fn check_app(app: &str) {
    let (analysis, root) = analysis(app);
    let got = rendered_diagnostics(&analysis, &root);
    let exp = expected(app).unwrap();
    for leak in &exp.leaks {
        let want = format!("{}:{}: ", leak.file, leak.line);
        let hit = got
            .iter()
            .find(|d| d.starts_with(&want) && d.contains(&format!(" {} `", leak.kind)));
        assert!(
            hit.is_some_and(|d| d.contains(leak.code.trim())),
            "{app}: no {} diagnostic at {want}{}; got {got:#?}",
            leak.kind,
            leak.code
        );
    }
    assert_eq!(got.len(), exp.leaks.len(), "{app}: {got:#?}");
}

#[test]
fn every_planted_leak_is_on_its_expected_line() {
    for app in [
        "listener-leak",
        "map-cache",
        "interval-leak",
        "closure-leak",
        "promise-leak",
        "abort-signal-leak",
        "split-modules",
        "healthy-listeners",
        "healthy-caches",
        "healthy-timers",
        "ts-presence-leak",
    ] {
        check_app(app);
    }
}

#[test]
fn listener_leak_reads_as_written() {
    let (analysis, root) = analysis("listener-leak");
    let path = root.join("main.js");
    let text = std::fs::read_to_string(&path).unwrap();
    let offset = text.find("bus.on('data'").unwrap();
    let hover = analysis.hover(&path, &text, offset + 2).unwrap();
    let lenses = analysis.code_lenses(&path, &text);
    let actions = analysis.code_actions(&path, &text, TextRange::new(offset, offset));
    let fixed = apply_edits(&text, &actions[0].edits).unwrap();
    let mut out = format!("{}\n", rendered_diagnostics(&analysis, &root).join("\n"));
    out += &format!("--- hover\n{}\n", hover.markdown);
    for lens in &lenses {
        out += &format!("--- lens {}: {}\n", lens.finding, lens.title);
    }
    for action in &actions {
        out += &format!(
            "--- action {} (preferred {})\n",
            action.title, action.preferred
        );
    }
    let changed: Vec<&str> = fixed.lines().filter(|l| !text.contains(*l)).collect();
    out += &format!("--- fixed\n{}\n", changed.join("\n"));
    let after = analysis.diagnostics(&path, &fixed);
    out += &format!(
        "--- after the fix: stale {}\n",
        after.iter().all(|d| d.stale)
    );
    let expected = r#"main.js:40: Warning listener `bus.on`: bus.on('data', (quote) => {
--- hover
**heapsight: listener leak** retaining <size>

listener on long-lived emitter `bus` ('data') retains <size>: 1,800 listeners added during the load are still alive after idle

| `bus` (EventEmitter) | before A | up to B | in C |
| --- | ---: | ---: | ---: |
| listeners alive in C | 18 | 1,818 | 1,818 |

1,800 listeners added during the load, <n> leaked objects in all.

Retainer path, Node's internals folded:

1. … 10 hops from the GC root through Node's timer lists and a Server 'request' handler
2. `bus` (module-level variable of main.js): `EventEmitter` @<id> · distance 12 · <size> → property `_events`
3. `{data}` `Object` @<id> · distance 13 · <size> → property `data`
4. `Array` @<id> · distance 14 · <size> → element `[18]`
5. `Function` @<id> · distance 15 · <size>

_The full path (15 hops from the GC root) is in the leak report._

Captured by the leaked closures: `session`
--- lens listener-<id>: retains <size> · 1,800 listeners
--- action Remove the `data` listener when `res` closes (preferred true)
--- action Listen to `data` only once (preferred false)
--- fixed
  const onData = (quote) => {
  bus.on('data', onData);
  res.on('close', () => bus.removeListener('data', onData));
--- after the fix: stale true
"#;
    assert_eq!(internals_named(&normalize(&out)), expected);
}

/// The readable path's first line, with what it folds named as in the expected text when it
/// goes through Node's internals: which of several equally short ways through them the
/// search takes changes from one capture to the next (the order the server's events were
/// first registered in, `clearTimeout` or `clearInterval`), their length does not.
fn internals_named(out: &str) -> String {
    let fold =
        regex_lite::Regex::new(r"(?m)^1\. … 10 hops from the GC root through (.+)$").unwrap();
    let through = fold
        .captures(out)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
        .unwrap_or_else(|| panic!("the path starts with no fold of Node's internals:\n{out}"));
    assert!(
        through.contains("Node's") || through.contains("Server"),
        "the fold names what it goes through: {through}"
    );
    fold.replace(
        out,
        "1. … 10 hops from the GC root through Node's timer lists and a Server 'request' handler",
    )
    .into_owned()
}

/// The hover and report of a collection held in a module variable: the path starts at the
/// variable with the line of its declaration (hover), and the report holds the full path
/// from the GC root in a collapsed block under the readable one.
#[test]
fn map_cache_path_starts_at_the_declared_variable() {
    let (analysis, root) = analysis("map-cache");
    let path = root.join("main.mjs");
    let text = std::fs::read_to_string(&path).unwrap();
    let offset = text.find("cache.set(key, card)").unwrap();
    let hover = normalize(&analysis.hover(&path, &text, offset + 2).unwrap().markdown);
    let readable = hover
        .lines()
        .skip_while(|l| !l.starts_with("Retainer path"))
        .take_while(|l| !l.starts_with("_The full path"))
        .collect::<Vec<_>>()
        .join("\n");
    // The Map's backing-store slot depends on the keys' hashes.
    let slot = regex_lite::Regex::new(r"internal `\d+`").unwrap();
    assert_eq!(
        slot.replace_all(&internals_named(&readable), "internal `<slot>`"),
        "Retainer path, Node's internals folded:

1. … 10 hops from the GC root through Node's timer lists and a Server 'request' handler
2. `cache` (module-level variable of main.mjs:9): `Map` @<id> · distance 12 · <size> → internal `table`
3. `(array)` @<id> · distance 13 · <size> → internal `<slot>`
4. `{title, locale, builtAt, variants}` `Object` @<id> · distance 14 · <size>
"
    );
    let report = normalize(&analysis.report_markdown());
    assert!(
        report.contains("2. `cache` (module-level variable of main.mjs): `Map`"),
        "{report}"
    );
    let details = report
        .split("<details><summary>Full retainer path (14 hops from the GC root)</summary>\n\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no full path in the report:\n{report}"));
    assert!(
        details.starts_with("1. `global` @<id> · distance 1 · <size> → property "),
        "{details}"
    );
    assert!(
        details.contains("11. `system / Context` @<id> · distance 11 · <size> → context `cache`\n"),
        "{details}"
    );
    assert!(details.contains("\n</details>"), "{details}");
}

#[test]
fn diagnostics_follow_edits_and_go_stale_when_the_statement_changes() {
    let (analysis, root) = analysis("listener-leak");
    let path = root.join("main.js");
    let text = std::fs::read_to_string(&path).unwrap();
    let line_of = |text: &str| {
        let d = analysis.diagnostics(&path, text);
        let index = heapsight_ide::LineIndex::new(text);
        d.iter()
            .map(|d| {
                format!(
                    "{}{}",
                    index.line_of(d.range.start) + 1,
                    if d.stale { " stale" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let three_above = format!("// one\n// two\n// three\n{text}");
    let deleted = text.replace("  bus.on('data', (quote) => {\n", "");
    let renamed = text.replace("bus.on('data'", "bus.on('tick'");
    let got = [&text, &three_above, &deleted, &renamed]
        .map(|t| line_of(t))
        .join(" | ");
    assert_eq!(got, "40 | 43 | 40 stale | 40 stale");
}

#[test]
fn a_second_load_comes_from_the_cache() {
    let cache = std::env::temp_dir().join(format!("heapsight-ide-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let first = loaded("listener-leak", Some(cache.clone()));
    let second = loaded("listener-leak", Some(cache.clone()));
    let _ = std::fs::remove_dir_all(&cache);
    assert_eq!(
        format!(
            "{:?} {:?} {}",
            first.source,
            second.source,
            second.findings.len()
        ),
        "Analyzed Cache 1"
    );
    assert_eq!(first.findings[0].message, second.findings[0].message);
}

#[test]
fn a_json_report_loads_without_snapshots() {
    let triple = fixture_snapshots("listener-leak", 20).unwrap();
    let out = std::process::Command::new(
        env!("CARGO_MANIFEST_DIR").to_string() + "/../../target/release/heapsight",
    )
    .args(["analyze", "--format", "json"])
    .args([&triple.a, &triple.b, &triple.c])
    .output()
    .unwrap();
    let dir = std::env::temp_dir().join(format!("heapsight-ide-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("report.json");
    std::fs::write(&report, &out.stdout).unwrap();
    let input = heapsight_ide::inputs::discover(&dir).unwrap();
    let loaded = load(&input, &LoadOptions::default(), &Progress::new()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let root = fixture_dir("listener-leak").unwrap();
    let analysis = Analysis::new(Arc::new(loaded), &root, &Config::default());
    assert_eq!(
        rendered_diagnostics(&analysis, &root),
        vec!["main.js:40: Warning listener `bus.on`: bus.on('data', (quote) => {"]
    );
}

#[test]
fn every_leak_has_its_diagnostic_and_fixes() {
    let mut out = String::new();
    for app in [
        "listener-leak",
        "map-cache",
        "interval-leak",
        "closure-leak",
        "promise-leak",
        "abort-signal-leak",
        "split-modules",
        "ts-presence-leak",
    ] {
        let (analysis, root) = analysis(app);
        out += &format!("# {app}\n");
        for line in rendered_diagnostics(&analysis, &root) {
            out += &format!("{line}\n");
        }
        for path in analysis.files_with_findings() {
            let text = std::fs::read_to_string(&path).unwrap();
            for d in analysis.diagnostics(&path, &text) {
                for related in &d.related {
                    let index = heapsight_ide::LineIndex::new(&text);
                    out += &format!(
                        "  related line {}: {}\n",
                        index.line_of(related.range.start) + 1,
                        related.message
                    );
                }
                for action in analysis.code_actions(&path, &text, d.range) {
                    let star = if action.preferred { "*" } else { " " };
                    out += &format!("  {star} {}\n", action.title);
                }
            }
        }
    }
    assert_eq!(normalize(&out), EVERY_LEAK);
}

const EVERY_LEAK: &str = r#"# listener-leak
main.js:40: Warning listener `bus.on`: bus.on('data', (quote) => {
  * Remove the `data` listener when `res` closes
    Listen to `data` only once
# map-cache
main.mjs:46: Warning collection `cache.set`: cache.set(key, card);
  related line 9: `cache` is declared here
  * Bound `cache` to 100 entries, evicting the oldest
# interval-leak
main.js:23: Warning timer `setInterval`: session.heartbeat = setInterval(() => {
  * Clear the interval where `session` is removed from `sessions`
# closure-leak
main.js:41: Warning closure `retryQueue.push`: retryQueue.push(() => {
  * Bound `retryQueue` to 100 entries, evicting the oldest
# promise-leak
main.js:48: Warning promise `configReady.then`: configReady.then(() => {
# abort-signal-leak
main.js:62: Warning listener `shutdown.signal.addEventListener`: shutdown.signal.addEventListener('abort', () => {
  * Pass an `AbortSignal` and abort it when `res` closes (removes the `abort` listener)
    Remove the `abort` listener when `res` closes
# split-modules
registry.mjs:7: Warning collection `sessions.set`: sessions.set(id, session);
  related line 3: `sessions` is declared here
  * Bound `sessions` to 100 entries, evicting the oldest
# ts-presence-leak
src/main.ts:62: Warning listener `hub.events.on`: hub.events.on('presence', (member: Member) => {
  * Remove the `presence` listener when `res` closes
    Listen to `presence` only once
"#;

/// A capture whose manifest recorded `main.js` (with its source, or only its hash), and a
/// workspace where `main.js` has since gained three lines at the top.
fn edited_since_capture(record_source: bool) -> String {
    let dir = std::env::temp_dir().join(format!(
        "heapsight-ide-manifest-{record_source}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let (capture, root) = (dir.join("capture"), dir.join("app"));
    std::fs::create_dir_all(&capture).unwrap();
    std::fs::create_dir_all(&root).unwrap();
    let triple = fixture_snapshots("listener-leak", 20).unwrap();
    for (from, label) in [(&triple.a, "A"), (&triple.b, "B"), (&triple.c, "C")] {
        std::fs::copy(from, capture.join(format!("{label}.heapsnapshot"))).unwrap();
    }
    let original =
        std::fs::read_to_string(fixture_dir("listener-leak").unwrap().join("main.js")).unwrap();
    let url = loaded("listener-leak", None).findings[0]
        .anchor
        .as_ref()
        .and_then(|a| a.url.clone())
        .unwrap();
    let manifest = serde_json::json!({
        "version": 1,
        "finished_at": "2026-11-25T12:00:00Z",
        "scripts": [{
            "id": "118",
            "url": url,
            "sha256": heapsight_ide::sha256_hex(&original),
            "source": if record_source { serde_json::Value::String(original.clone()) } else { serde_json::Value::Null },
        }],
    });
    std::fs::write(capture.join("manifest.json"), manifest.to_string()).unwrap();
    std::fs::write(
        root.join("main.js"),
        format!("// a\n// b\n// c\n{original}"),
    )
    .unwrap();
    let input = heapsight_ide::inputs::from_paths(&[capture]).unwrap();
    let loaded = load(&input, &LoadOptions::default(), &Progress::new()).unwrap();
    let analysis = Analysis::new(Arc::new(loaded), &root, &Config::default());
    let got = rendered_diagnostics(&analysis, &root).join("\n");
    let stale: Vec<bool> = analysis
        .diagnostics(
            &root.join("main.js"),
            &std::fs::read_to_string(root.join("main.js")).unwrap(),
        )
        .iter()
        .map(|d| d.stale)
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    format!("{got} stale={stale:?}")
}

#[test]
fn a_file_edited_since_the_capture_is_followed_through_the_manifest() {
    assert_eq!(
        edited_since_capture(true),
        "main.js:43: Warning listener `bus.on`: bus.on('data', (quote) => { stale=[false]"
    );
    // Only the hash: V8's line cannot be followed, but the emitter's per-request `bus.on`
    // call is found again by its binding; the finding still says it is stale.
    assert_eq!(
        edited_since_capture(false),
        "main.js:43: Information listener `bus.on`: bus.on('data', (quote) => { stale=[true]"
    );
}

/// `kind file:line` of every placed finding of `app`, joined to the workspace `root` (the
/// app's folder, or one that does not hold it: its files are then placed where they are).
fn placed_on_disk(app: &str, root: &Path) -> Vec<String> {
    let loaded = Arc::new(loaded(app, None));
    let analysis = Analysis::new(loaded.clone(), root, &Config::default());
    let app_dir = std::fs::canonicalize(fixture_dir(app).unwrap()).unwrap();
    loaded
        .findings
        .iter()
        .zip(analysis.place_all())
        .filter_map(|(finding, located)| {
            let located = located?;
            assert!(!located.stale, "{app}: unchanged code is not stale");
            assert!(located.start <= located.end, "{app}: {located:?}");
            let file = located.path.strip_prefix(&app_dir).unwrap_or(&located.path);
            Some(format!(
                "{} {}:{}",
                finding.kind().as_str(),
                file.display(),
                located.start.0 + 1
            ))
        })
        .collect()
}

#[test]
fn place_all_puts_every_leak_on_its_call_site_inside_or_outside_the_workspace() {
    let elsewhere =
        std::env::temp_dir().join(format!("heapsight-ide-elsewhere-{}", std::process::id()));
    std::fs::create_dir_all(&elsewhere).unwrap();
    for app in heapsight_tests::support::FIXTURE_APPS {
        let wanted = expected(app).unwrap();
        if wanted.leaks.is_empty() {
            continue;
        }
        let inside = placed_on_disk(app, &fixture_dir(app).unwrap());
        let outside = placed_on_disk(app, &elsewhere);
        for leak in &wanted.leaks {
            let want = format!("{} {}:{}", leak.kind, leak.file, leak.line);
            assert!(inside.contains(&want), "{app}: `{want}` among {inside:#?}");
            assert!(
                outside.contains(&want),
                "{app} (outside): `{want}` among {outside:#?}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&elsewhere);
}
