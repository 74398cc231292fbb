//! The npm package `heapsight` as a user gets it: `npm/build.js` packs the main package and
//! this machine's platform package, they are installed from those tarballs into a copy of
//! `tests/npm` (a project with Jest and Vitest, pinned by its lock file, from npm's cache), and
//! `heapsight/test`'s `expectNoLeaks` runs under node:test, Jest and Vitest on the fixture
//! apps' workloads, in-process. A leaky fixture's check must fail naming each leak's
//! `file:line`, a healthy one's must pass.
//!
//! Each runner checks a share of the fixture apps (see [`share`]); every app under every
//! runner, twenty times over, is `bench/leak-checks.js`. The binary is found through the
//! platform package: HEAPSIGHT_BIN is unset.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, ensure, Context, Result};
use heapsight_tests::support::{expected, fixtures_dir, heapsight_binary, repo_root};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runner {
    NodeTest,
    Jest,
    Vitest,
}

/// One test's outcome as its runner reported it.
#[derive(Debug)]
struct Outcome {
    name: String,
    passed: bool,
    message: String,
}

/// The fixture apps each runner checks in a CI run: together every leak kind (listener on an
/// emitter and on an EventTarget, collection, timer, closure, promise), leaks inside
/// libraries, ES modules, a leak across two modules, and healthy twins, in about two minutes.
/// Every app under every runner, twenty times over, is `bench/leak-checks.js` (a check takes
/// 8-20 s: CI stays under its half hour). Apps that are ES modules are not given to Vitest: it
/// runs them through vite-node's transform, whose module scopes V8 leaves unnamed in the
/// snapshot, so a leak there has no holder name and no line (npm/heapsight/README.md).
fn share(runner: Runner) -> &'static [&'static str] {
    match runner {
        Runner::NodeTest => &[
            "listener-leak",
            "abort-signal-leak",
            "map-cache",
            "healthy-timers",
        ],
        Runner::Jest => &["interval-leak", "express-route-leak", "healthy-caches"],
        Runner::Vitest => &[
            "closure-leak",
            "axios-interceptor-leak",
            "express-route-healthy",
        ],
    }
}

/// The user's project, made once for the runners: tarballs built and installed.
fn project() -> &'static Result<PathBuf, String> {
    static PROJECT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PROJECT.get_or_init(|| make_project().map_err(|e| format!("{e:#}")))
}

fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().with_context(|| format!("starting {what}"))?;
    ensure!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn make_project() -> Result<PathBuf> {
    let root = repo_root();
    let binary = heapsight_binary()?;
    let base = std::env::temp_dir().join(format!("heapsight-npm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let dist = base.join("dist");
    let project = base.join("project");
    std::fs::create_dir_all(project.join("suites"))?;
    let printed = run(
        Command::new("node")
            .arg(root.join("npm/build.js"))
            .arg("--out")
            .arg(&dist)
            .arg("--binary")
            .arg(format!("linux-x64={}", binary.display())),
        "npm/build.js",
    )?;
    let tarballs: Vec<&str> = printed.lines().filter(|l| l.ends_with(".tgz")).collect();
    ensure!(
        tarballs.len() == 2,
        "npm/build.js packs the main and the linux-x64 package: {printed}"
    );
    let runners = root.join("tests/npm");
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(runners.join(file), project.join(file))?;
    }
    for entry in std::fs::read_dir(runners.join("suites"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), project.join("suites").join(entry.file_name()))?;
    }
    // From npm's cache, filled by tests/setup.sh's `npm ci` of tests/npm: no network.
    let npm = |args: &[&str]| {
        let mut c = Command::new("npm");
        c.args(args)
            .args(["--offline", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&project);
        c
    };
    run(&mut npm(&["ci"]), "npm ci (the runners, from the cache)")?;
    let mut install = npm(&["install", "--no-save"]);
    install.args(&tarballs);
    run(&mut install, "npm install <the packed tarballs>")?;
    // As installed: the binary comes from the platform package.
    let found = run(
        Command::new("node")
            .args(["-p", "require('heapsight').binaryPath()"])
            .env_remove("HEAPSIGHT_BIN")
            .current_dir(&project),
        "binaryPath()",
    )?;
    ensure!(
        found.trim()
            == project
                .join("node_modules/@heapsight/linux-x64/bin/heapsight")
                .to_string_lossy(),
        "the binary is the platform package's: {found}"
    );
    Ok(project)
}

/// Runs `runner` on its share of the fixtures (or on `suite` with `cases`) and reads back
/// each test's outcome.
fn outcomes(runner: Runner, project: &Path, suite: &str, cases: &[&str]) -> Result<Vec<Outcome>> {
    let report = project.join(format!("{runner:?}.json"));
    let mut cmd = match runner {
        Runner::NodeTest => {
            let mut c = Command::new("node");
            c.args(["--test", "--test-force-exit", "--test-reporter=tap"])
                .arg(format!("suites/{suite}"));
            c
        }
        Runner::Jest => {
            // Jest runs ES modules only with Node's VM modules on.
            let mut c = Command::new("node");
            c.args(["--experimental-vm-modules", "node_modules/jest/bin/jest.js"])
                .args(["--runInBand", "--forceExit", "--json", "--outputFile"])
                .arg(&report)
                .arg(format!("suites/{}", suite.replace('.', "\\.")));
            c
        }
        Runner::Vitest => {
            let mut c = Command::new("node_modules/.bin/vitest");
            c.args(["run", &format!("suites/{suite}"), "--pool=forks"])
                .args(["--reporter=json", "--outputFile"])
                .arg(&report);
            c
        }
    };
    let out = cmd
        .current_dir(project)
        .env("HEAPSIGHT_FIXTURES", fixtures_dir())
        .env("HEAPSIGHT_CASES", cases.join(","))
        .env_remove("HEAPSIGHT_BIN")
        .env_remove("NODE_OPTIONS")
        .output()
        .with_context(|| format!("starting {runner:?}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let read = match runner {
        Runner::NodeTest => Ok(tap_outcomes(&stdout)),
        Runner::Jest | Runner::Vitest => std::fs::read_to_string(&report)
            .context("the runner wrote no JSON report")
            .and_then(|text| json_outcomes(&text)),
    };
    read.with_context(|| format!("{runner:?} ({}):\n{stdout}\n{stderr}", out.status))
}

/// Top-level tests of node:test's TAP output, each with the text of its YAML block.
fn tap_outcomes(tap: &str) -> Vec<Outcome> {
    let mut found: Vec<Outcome> = Vec::new();
    for line in tap.lines() {
        let (passed, rest) = if let Some(rest) = line.strip_prefix("not ok ") {
            (false, rest)
        } else if let Some(rest) = line.strip_prefix("ok ") {
            (true, rest)
        } else {
            if let Some(last) = found.last_mut() {
                if line.starts_with("  ") {
                    last.message.push_str(line);
                    last.message.push('\n');
                }
            }
            continue;
        };
        let name = rest.split_once(" - ").map_or(rest, |(_, n)| n);
        found.push(Outcome {
            name: name.split(" # ").next().unwrap_or(name).trim().to_owned(),
            passed,
            message: String::new(),
        });
    }
    found
}

/// The tests of a Jest-format JSON report (Jest's `--json`, Vitest's `json` reporter).
fn json_outcomes(text: &str) -> Result<Vec<Outcome>> {
    let report: Value = serde_json::from_str(text).context("parsing the runner's JSON report")?;
    let mut found = Vec::new();
    for file in report["testResults"].as_array().into_iter().flatten() {
        for test in file["assertionResults"].as_array().into_iter().flatten() {
            found.push(Outcome {
                name: test["title"].as_str().unwrap_or_default().to_owned(),
                passed: test["status"] == "passed",
                message: test["failureMessages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        if found.is_empty() {
            bail!("a test file failed to run: {}", file["message"]);
        }
    }
    Ok(found)
}

/// Each app of the runner's share failed naming its leaks' lines, or passed if healthy.
fn check(runner: Runner, suite: &str) {
    let project = match project() {
        Ok(p) => p,
        Err(e) => panic!("making the project: {e}"),
    };
    let apps = share(runner);
    // One runner process per app: the apps' leaks would otherwise pile up in one heap, and
    // every later snapshot would take longer.
    let mut got = Vec::new();
    for app in apps {
        got.extend(outcomes(runner, project, suite, &[app]).unwrap_or_else(|e| panic!("{e:#}")));
    }
    let names: Vec<&str> = got.iter().map(|o| o.name.as_str()).collect();
    let mut wrong = Vec::new();
    for app in apps {
        let Some(outcome) = got.iter().find(|o| o.name == *app) else {
            wrong.push(format!("{app}: not run (ran {names:?})"));
            continue;
        };
        let leaks = expected(app).unwrap_or_else(|e| panic!("{e:#}")).leaks;
        if leaks.is_empty() {
            if !outcome.passed {
                wrong.push(format!("{app}: healthy, but failed: {}", outcome.message));
            }
            continue;
        }
        if outcome.passed {
            wrong.push(format!("{app}: leaks, but passed"));
            continue;
        }
        for leak in &leaks {
            let place = format!("{app}/{}:{}:", leak.file, leak.line);
            let accepted = leak
                .accept
                .iter()
                .map(|a| format!("{app}/{}:{}:", a.file, a.line));
            if !std::iter::once(place.clone())
                .chain(accepted)
                .any(|p| outcome.message.contains(&p))
            {
                wrong.push(format!(
                    "{app}: the failure does not name {place}: {}",
                    outcome.message
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{runner:?}:\n{}", wrong.join("\n\n"));
}

#[test]
fn node_test_runner() {
    check(Runner::NodeTest, "node-test.test.js");
}

#[test]
fn jest() {
    check(Runner::Jest, "jest.test.js");
}

#[test]
fn vitest() {
    check(Runner::Vitest, "vitest.test.mjs");
}

/// A leak in the test file itself is placed on the test file's line.
#[test]
fn a_leak_in_the_test_file_names_its_line() {
    let project = match project() {
        Ok(p) => p,
        Err(e) => panic!("making the project: {e}"),
    };
    let got = outcomes(Runner::NodeTest, project, "own-line.test.js", &[])
        .unwrap_or_else(|e| panic!("{e:#}"));
    let source = std::fs::read_to_string(project.join("suites/own-line.test.js"))
        .unwrap_or_else(|e| panic!("reading the suite: {e}"));
    let line = source
        .lines()
        .position(|l| l.contains("// leak-here"))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("the suite marks its leaking line"));
    let [outcome] = got.as_slice() else {
        panic!("one test: {got:?}");
    };
    assert!(!outcome.passed, "the leaking test failed");
    assert!(
        outcome
            .message
            .contains(&format!("own-line.test.js:{line}:")),
        "the failure names the test file's line {line}: {}",
        outcome.message
    );
}
