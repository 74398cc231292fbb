//! Issue #20: `heapsight capture` captures the process (and the threads) that run the user's
//! code, however the service is started. Each launch form of [`FORMS`] is captured for real
//! with the `heapsight` binary, from its fixture app's folder (`fixtures/launch-*`; the
//! launchers are pinned in `fixtures/package-lock.json` and run from `fixtures/node_modules/.bin`,
//! never fetched), under the app's own `load.js`, then analyzed with `--format json`. Each must:
//!
//! - capture the service, not the wrapper: the captured process ran the app's entry script
//!   (listed in the manifest's `scripts`, counted by `workspace_scripts`), and where a wrapper,
//!   a `node --watch` parent or a cluster primary started it, the manifest's `selection` lists
//!   that one as seen and not taken, and the taken candidate as the service (or the cluster
//!   worker asked for with `--worker`);
//! - find the app's leak (its `expected.json`) with its kind on its line of its file, with at
//!   least the measured retained size, in `heapsight analyze <capture folder>` (which covers the
//!   capture's parts: one finding per heap that leaks) and in each part's folder analyzed on its
//!   own: the `.ts` line for TypeScript run from source by tsx and ts-node, `worker.js` in the
//!   thread's part (`threads/<id>/`) for the `worker_threads` form, `main.js` in each cluster
//!   worker's heap (`processes/<pid>/` parts) when no `--worker` picks one; nothing on the app's
//!   lookalike lines;
//! - capture no thread of Node's own as a part (the loader-hooks thread of `--import`, which
//!   tsx uses), say nothing about a wrong process, and leave no process of the command running.
//!
//! A command whose Node processes run none of the workspace's files (`npm start` running only
//! the http-server package) is still captured, with the plain "… not your service …" warning on
//! stderr and in `analyze`'s JSON `warnings`.
//!
//! Needs `bash tests/setup.sh` (the fixtures' npm packages) and the release binary
//! (`cargo build --release -p heapsight`; `HEAPSIGHT_SERVER` names another). The forms run in
//! parallel as the test harness schedules them; each takes 4 to 13 s on the 2-core machine,
//! the whole file 50 to 70 s.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use heapsight_tests::support::{expected, fixture_dir, fixtures_dir, heapsight_binary};
use serde_json::Value;

/// The ready line of every fixture app (its group is the port).
const READY: &str = r"ready port=(\d+)";

/// The longest a capture may take before the test stops it.
const CAPTURE_DEADLINE: Duration = Duration::from_secs(120);

/// One way of starting a service.
struct Form {
    /// How people write it; the tests are named after it.
    name: &'static str,
    /// The fixture app (`fixtures/<app>`): the command's working directory and the workspace.
    app: &'static str,
    /// The command, after `heapsight capture ... --`.
    command: &'static [&'static str],
    /// Capture flags besides the common ones (`--ready-line`, `--load`, `--idle`, `--out`).
    flags: &'static [&'static str],
    /// The `--ready-line` regex.
    ready: &'static str,
    /// What the capture and the analysis must show.
    expect: Expect,
}

enum Expect {
    /// The app's leak is found.
    Leak {
        /// Which heap holds it.
        heap: Heap,
        /// The app's entry script (relative to the app): the captured process must have run it.
        entry: &'static str,
        /// How the captured process is chosen: `None` when heapsight starts the service itself
        /// and it is the only Node process (nothing to choose); else what the manifest's
        /// `selection` must say.
        chosen: Option<Chosen>,
        /// Text the taken process's command line must hold (arguments passed through a wrapper).
        argv_has: Option<&'static str>,
    },
    /// None of the command's Node processes runs a file of the workspace: the capture says so.
    NotTheService,
}

/// What the manifest's `selection` says of the captured process and of those let go.
struct Chosen {
    /// The taken process's role: `service`, or `cluster-worker` for a cluster worker.
    role: &'static str,
    /// Part of the command line of a process seen and not taken, a `wrapper` or the
    /// `cluster-primary` (`npm`, `pnpm`, `yarn`; the tool's name under npx, whose command line
    /// npm rewrites; the primary's `main.js`); `None` when the launcher opens no inspector
    /// (`node --watch`'s parent).
    let_go: Option<&'static str>,
}

/// Where the leak is.
enum Heap {
    /// The captured process's heap: the capture folder itself.
    Main,
    /// The heap of the `worker_threads` worker running this file (relative to the app): a
    /// `threads/<id>/` part of the capture.
    Thread(&'static str),
    /// Each cluster worker's heap: no `--worker` picks one, so every one is captured into its
    /// own `processes/<pid>/` part.
    EveryClusterWorker,
}

/// The service, started by the launcher whose command line holds `wrapper`.
const fn service_under(wrapper: &'static str) -> Option<Chosen> {
    Some(Chosen {
        role: "service",
        let_go: Some(wrapper),
    })
}

/// The launch forms of issue #20.
const FORMS: &[Form] = &[
    Form {
        name: "npm start",
        app: "launch-js",
        command: &["npm", "start"],
        flags: &[],
        ready: READY,
        expect: Expect::Leak {
            heap: Heap::Main,
            entry: "main.js",
            chosen: service_under("npm"),
            argv_has: None,
        },
    },
    Form {
        name: "npm run dev -- --log-requests, --match",
        app: "launch-js",
        command: &["npm", "run", "dev", "--", "--log-requests"],
        flags: &["--match", r"main\.js"],
        ready: READY,
        expect: Expect::Leak {
            heap: Heap::Main,
            entry: "main.js",
            chosen: service_under("npm"),
            argv_has: Some("--log-requests"),
        },
    },
    Form {
        name: "pnpm start",
        app: "launch-js",
        command: &["pnpm", "start"],
        flags: &[],
        ready: READY,
        expect: Expect::Leak {
            heap: Heap::Main,
            entry: "main.js",
            chosen: service_under("pnpm"),
            argv_has: None,
        },
    },
    Form {
        name: "yarn start",
        app: "launch-js",
        command: &["yarn", "start"],
        flags: &[],
        ready: READY,
        expect: Expect::Leak {
            heap: Heap::Main,
            entry: "main.js",
            chosen: service_under("yarn"),
            argv_has: None,
        },
    },
    Form {
        name: "npx nodemon main.js",
        app: "launch-js",
        command: &["npx", "nodemon", "main.js"],
        flags: &[],
        ready: READY,
        expect: Expect::Leak {
            heap: Heap::Main,
            entry: "main.js",
            chosen: service_under("nodemon"),
            argv_has: None,
        },
    },
    Form {
        name: "node --watch main.js",
        app: "launch-js",
        command: &["node", "--watch", "main.js"],
        flags: &[],
        ready: READY,
        expect: Expect::Leak {
            heap: Heap::Main,
            entry: "main.js",
            // The watching parent opens no inspector of its own: only the service may be seen.
            chosen: Some(Chosen {
                role: "service",
                let_go: None,
            }),
            argv_has: None,
        },
    },
    Form {
        name: "npx tsx main.ts",
        app: "launch-ts",
        command: &["npx", "tsx", "main.ts"],
        flags: &[],
        ready: READY,
        expect: Expect::Leak {
            heap: Heap::Main,
            entry: "main.ts",
            chosen: service_under("tsx"),
            argv_has: None,
        },
    },
    Form {
        name: "npx ts-node main.ts",
        app: "launch-ts",
        command: &["npx", "ts-node", "main.ts"],
        flags: &[],
        ready: READY,
        expect: Expect::Leak {
            heap: Heap::Main,
            entry: "main.ts",
            // The npx wrapper's command line names the tool whether it is read before or
            // after npm rewrites it (`npx ts-node main.ts`, `npm-cli.js exec -- ts-node
            // main.ts`); ts-node itself runs the service, in its own process.
            chosen: service_under("ts-node"),
            argv_has: None,
        },
    },
    Form {
        name: "cluster, --worker 1",
        app: "launch-cluster",
        command: &["node", "main.js"],
        flags: &["--worker", "1"],
        ready: READY,
        expect: Expect::Leak {
            heap: Heap::Main,
            entry: "main.js",
            chosen: Some(Chosen {
                role: "cluster-worker",
                let_go: Some("main.js"),
            }),
            argv_has: None,
        },
    },
    Form {
        name: "cluster, every worker",
        app: "launch-cluster",
        command: &["node", "main.js"],
        flags: &[],
        ready: READY,
        expect: Expect::Leak {
            heap: Heap::EveryClusterWorker,
            entry: "main.js",
            // Checked as: both workers taken, each into its own heap, the primary let go.
            chosen: Some(Chosen {
                role: "cluster-worker",
                let_go: Some("main.js"),
            }),
            argv_has: None,
        },
    },
    Form {
        name: "worker_threads",
        app: "launch-worker-thread",
        command: &["node", "main.js"],
        flags: &[],
        ready: READY,
        expect: Expect::Leak {
            heap: Heap::Thread("worker.js"),
            entry: "main.js",
            chosen: None,
            argv_has: None,
        },
    },
    Form {
        name: "npm start running only a package",
        app: "launch-package-only",
        command: &["npm", "start"],
        flags: &["--workspace", "."],
        ready: r"http://127\.0\.0\.1:(\d+)",
        expect: Expect::NotTheService,
    },
];

macro_rules! form_tests {
    ($($test:ident => $form:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check(form($form));
            }
        )*

        /// Every form the tests above run, in order.
        const TESTED: &[&str] = &[$($form),*];
    };
}

form_tests! {
    npm_start => "npm start",
    npm_run_dev_with_arguments_and_match => "npm run dev -- --log-requests, --match",
    pnpm_start => "pnpm start",
    yarn_start => "yarn start",
    npx_nodemon => "npx nodemon main.js",
    node_watch => "node --watch main.js",
    npx_tsx => "npx tsx main.ts",
    npx_ts_node => "npx ts-node main.ts",
    cluster_worker_1 => "cluster, --worker 1",
    cluster_every_worker => "cluster, every worker",
    worker_threads => "worker_threads",
    package_only_warns => "npm start running only a package",
}

#[test]
fn every_form_has_its_test() {
    let names: Vec<&str> = FORMS.iter().map(|f| f.name).collect();
    assert_eq!(names, TESTED);
}

fn form(name: &str) -> &'static Form {
    FORMS
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no launch form {name:?}"))
}

/// Captures `form`, analyzes what it captured, and checks it.
fn check(form: &Form) {
    let what = form.name;
    let bin = heapsight_binary().unwrap_or_else(|e| panic!("{what}: {e:#}"));
    let app_dir = fixture_dir(form.app).unwrap_or_else(|e| panic!("{what}: {e:#}"));
    let app_dir = fs::canonicalize(&app_dir).unwrap();
    let run = capture(form, &bin, &app_dir);
    let manifest = read_json(&run.dir.join("manifest.json"));

    let summary = match &form.expect {
        Expect::NotTheService => check_not_the_service(form, &bin, &app_dir, &run, &manifest),
        Expect::Leak {
            heap,
            entry,
            chosen,
            argv_has,
        } => {
            assert!(
                !run.log.contains("not your service"),
                "{what}: a warning about the wrong process:\n{}",
                run.tail()
            );
            if matches!(heap, Heap::EveryClusterWorker) {
                check_every_worker_taken(form, &manifest);
            } else {
                check_service(form, &app_dir, &manifest, entry, chosen.as_ref(), *argv_has);
            }
            let heaps = leak_heaps(form, &run.dir, &manifest, heap);
            // `heapsight analyze <capture>` reports the leak of every heap that has it, its
            // parts' too (what a user runs on `.heapsight/latest`); a part's folder, analyzed
            // on its own, reports its own.
            let mut summary = vec![format!(
                "capture: {}",
                check_leak(form, &bin, &app_dir, &run.dir, heaps.len())
            )];
            for (title, folder) in heaps.iter().filter(|(_, folder)| *folder != run.dir) {
                let at = check_leak(form, &bin, &app_dir, folder, 1);
                summary.push(format!("{title}: {at}"));
            }
            summary.join("; ")
        }
    };
    check_parts_are_the_apps(form, &manifest);
    check_stopped(form, &manifest);
    eprintln!(
        "{what}: captured {} in {:.1} s; {summary}",
        captured_process(&manifest),
        run.took.as_secs_f64()
    );
    let _ = fs::remove_dir_all(&run.scratch);
}

/// A finished capture.
struct Run {
    /// The test's own folder (the capture and the logs), removed after a passing run.
    scratch: PathBuf,
    /// The capture folder.
    dir: PathBuf,
    /// What `heapsight capture` wrote on stdout and stderr.
    log: String,
    /// How long it took.
    took: Duration,
}

impl Run {
    /// The end of the log, for failure messages.
    fn tail(&self) -> String {
        let lines: Vec<&str> = self.log.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

/// Runs `heapsight capture` for `form` from its app's folder, into a fresh scratch folder.
fn capture(form: &Form, bin: &Path, app_dir: &Path) -> Run {
    let what = form.name;
    let slug: String = form
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let scratch =
        std::env::temp_dir().join(format!("heapsight-launch-{slug}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).unwrap();
    let dir = scratch.join("capture");
    let log_path = scratch.join("capture.log");
    let log = File::create(&log_path).unwrap();
    let load = format!("node {} {{port}}", app_dir.join("load.js").display());

    let started = Instant::now();
    let mut child = Command::new(bin)
        .arg("capture")
        .args(["--ready-line", form.ready, "--ready-timeout", "30s"])
        .args(["--load", &load, "--idle", "500ms", "--timeout", "60s"])
        .arg("--out")
        .arg(&dir)
        .args(form.flags)
        .arg("--")
        .args(form.command)
        .current_dir(app_dir)
        .env("PATH", path_with_fixture_bins())
        // The launchers run from fixtures/node_modules; nothing may be fetched or checked
        // online: npx must not install, npm, pnpm and nodemon must not look for updates.
        .env("npm_config_offline", "true")
        .env("npm_config_yes", "false")
        .env("npm_config_update_notifier", "false")
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false")
        .env("NO_UPDATE_NOTIFIER", "1")
        .env_remove("NODE_OPTIONS")
        .env_remove("PORT")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {}: {e}", bin.display()));
    let status = wait_or_stop(&mut child, CAPTURE_DEADLINE);
    let took = started.elapsed();
    let log = fs::read_to_string(&log_path).unwrap_or_default();
    let run = Run {
        scratch,
        dir,
        log,
        took,
    };
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!(
            "{what}: `heapsight capture` failed ({status}) in {:.1} s:\n{}",
            took.as_secs_f64(),
            run.tail()
        ),
        None => panic!(
            "{what}: `heapsight capture` still ran after {} s and was stopped:\n{}",
            CAPTURE_DEADLINE.as_secs(),
            run.tail()
        ),
    }
    run
}

/// Waits for our own child; past `deadline`, interrupts it (heapsight then stops its target),
/// then kills it. `None` when it had to be stopped.
fn wait_or_stop(child: &mut std::process::Child, deadline: Duration) -> Option<ExitStatus> {
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let grace = Instant::now() + Duration::from_secs(10);
    while Instant::now() < grace {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// `PATH` with `fixtures/node_modules/.bin` first: `pnpm`, `yarn`, `tsx`, `nodemon` are the
/// pinned ones.
fn path_with_fixture_bins() -> std::ffi::OsString {
    let bins = fixtures_dir().join("node_modules/.bin");
    for tool in ["tsx", "ts-node", "nodemon", "pnpm", "yarn", "http-server"] {
        assert!(
            bins.join(tool).exists(),
            "{} is missing: run `bash tests/setup.sh`",
            bins.join(tool).display()
        );
    }
    let mut dirs = vec![bins];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap()
}

/// The captured process ran the app: its entry script is among the manifest's scripts and
/// counted as the workspace's, and it was chosen over the processes that only launched it.
fn check_service(
    form: &Form,
    app_dir: &Path,
    manifest: &Value,
    entry: &str,
    chosen: Option<&Chosen>,
    argv_has: Option<&str>,
) {
    let what = form.name;
    let workspace_scripts = manifest["workspace_scripts"].as_u64();
    assert!(
        workspace_scripts.is_some_and(|n| n >= 1),
        "{what}: the captured process ran no file of the workspace (workspace_scripts {:?}): {}",
        manifest["workspace_scripts"],
        captured_process(manifest)
    );
    assert!(
        has_script(manifest, &app_dir.join(entry)),
        "{what}: the captured process did not run {entry}; its scripts: {:?}",
        script_paths(manifest)
    );
    let pid = manifest["pid"]
        .as_i64()
        .expect("the manifest names the pid");

    let Some(chosen) = chosen else {
        // heapsight started the service itself: nothing was chosen, or only it was seen.
        if let Some(candidates) = manifest["selection"]["candidates"].as_array() {
            assert!(
                candidates
                    .iter()
                    .all(|c| c["pid"].as_i64() == Some(pid) || c["taken"] == false),
                "{what}: {candidates:#?}"
            );
        }
        return;
    };
    let selection = &manifest["selection"];
    let candidates = selection["candidates"].as_array().unwrap_or_else(|| {
        panic!("{what}: the manifest has no selection.candidates: several Node processes ran under the command; manifest: {}", brief(manifest))
    });
    let taken = candidates
        .iter()
        .find(|c| c["pid"].as_i64() == Some(pid))
        .unwrap_or_else(|| {
            panic!("{what}: the captured pid {pid} is not among the candidates {candidates:#?}")
        });
    assert_eq!(taken["taken"], true, "{what}: {taken:#?}");
    assert_eq!(
        taken["role"], chosen.role,
        "{what}: the captured process should be the {}; selection: {selection:#}",
        chosen.role
    );
    if let Some(text) = argv_has {
        assert!(
            command_text(taken).contains(text),
            "{what}: the captured process's command line lacks {text:?}: {taken:#?}"
        );
    }
    if let Some(launcher) = chosen.let_go {
        let let_go = candidates.iter().any(|c| {
            c["taken"] == false
                && matches!(c["role"].as_str(), Some("wrapper" | "cluster-primary"))
                && command_text(c).contains(launcher)
        });
        assert!(
            let_go,
            "{what}: no launcher ({launcher:?} in its command line) seen and let go; selection: {selection:#}"
        );
    }
    assert!(
        selection["summary"].as_str().is_some_and(|s| !s.is_empty()),
        "{what}: the selection says why: {selection:#}"
    );
    // No wrapper is ever captured.
    for c in candidates {
        if c["role"] == "wrapper" {
            assert_eq!(c["taken"], false, "{what}: a wrapper was captured: {c:#?}");
        }
    }
}

/// Without `--worker`, every cluster worker is captured and the primary is not.
fn check_every_worker_taken(form: &Form, manifest: &Value) {
    let what = form.name;
    let selection = &manifest["selection"];
    let candidates = selection["candidates"].as_array().unwrap_or_else(|| {
        panic!(
            "{what}: the manifest has no selection.candidates: {}",
            brief(manifest)
        )
    });
    let taken = |role: &str| {
        candidates
            .iter()
            .filter(|c| c["role"] == role && c["taken"] == true)
            .count()
    };
    assert_eq!(
        taken("cluster-worker"),
        2,
        "{what}: both workers are captured; selection: {selection:#}"
    );
    assert_eq!(
        taken("cluster-primary"),
        0,
        "{what}: the primary (no leak, no request) is not; selection: {selection:#}"
    );
}

/// The folders holding the leak's heap, each with a title: the capture folder, the worker
/// thread's part, or every cluster worker's part.
fn leak_heaps(form: &Form, dir: &Path, manifest: &Value, heap: &Heap) -> Vec<(String, PathBuf)> {
    let what = form.name;
    let parts = manifest["parts"].as_array().cloned().unwrap_or_default();
    match heap {
        Heap::Main => {
            // One heap asked for: no other process is captured beside it.
            let others: Vec<&Value> = parts.iter().filter(|p| p["kind"] == "process").collect();
            assert!(
                others.is_empty(),
                "{what}: processes captured beside the one asked for: {others:#?}"
            );
            vec![(format!("pid {}", manifest["pid"]), dir.to_path_buf())]
        }
        Heap::Thread(file) => {
            let part = parts
                .iter()
                .find(|p| {
                    p["kind"] == "thread"
                        && p["url"]
                            .as_str()
                            .is_some_and(|u| u.ends_with(&format!("/{file}")))
                })
                .unwrap_or_else(|| {
                    panic!("{what}: no thread part running {file}; parts: {parts:#?}")
                });
            assert_eq!(
                part["complete"], true,
                "{what}: the thread has A, B and C: {part:#?}"
            );
            let folder = dir.join(part["folder"].as_str().expect("a part's folder"));
            let own = read_json(&folder.join("manifest.json"));
            assert_eq!(
                own["part_of"]["kind"],
                "thread",
                "{what}: the part's manifest says what it is: {}",
                brief(&own)
            );
            assert!(
                script_paths(&own)
                    .iter()
                    .any(|p| p.ends_with(&format!("/{file}"))),
                "{what}: the thread's manifest lists {file}: {:?}",
                script_paths(&own)
            );
            let title = part["title"].as_str().unwrap_or("thread").to_owned();
            vec![(title, folder)]
        }
        Heap::EveryClusterWorker => {
            let Expect::Leak { entry, .. } = form.expect else {
                unreachable!("a leak form")
            };
            let candidates = manifest["selection"]["candidates"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let workers: Vec<i64> = candidates
                .iter()
                .filter(|c| c["role"] == "cluster-worker")
                .filter_map(|c| c["pid"].as_i64())
                .collect();
            assert_eq!(
                workers.len(),
                2,
                "{what}: both cluster workers are seen: {candidates:#?}"
            );
            workers
                .iter()
                .map(|&pid| {
                    let candidate = candidates
                        .iter()
                        .find(|c| c["pid"].as_i64() == Some(pid))
                        .unwrap();
                    assert_eq!(
                        candidate["taken"], true,
                        "{what}: every worker is captured: {candidate:#?}"
                    );
                    let main = manifest["pid"].as_i64() == Some(pid)
                        && manifest["files"].as_array().is_some_and(|f| !f.is_empty());
                    let folder = if main {
                        dir.to_path_buf()
                    } else {
                        let part = parts
                            .iter()
                            .find(|p| p["kind"] == "process" && p["pid"].as_i64() == Some(pid))
                            .unwrap_or_else(|| {
                                panic!("{what}: no part for cluster worker {pid}: {parts:#?}")
                            });
                        assert_eq!(part["complete"], true, "{what}: {part:#?}");
                        dir.join(part["folder"].as_str().expect("a part's folder"))
                    };
                    let own = read_json(&folder.join("manifest.json"));
                    assert!(
                        script_paths(&own)
                            .iter()
                            .any(|p| p.ends_with(&format!("/{entry}"))),
                        "{what}: cluster worker {pid} ran {entry}: {:?}",
                        script_paths(&own)
                    );
                    (format!("cluster worker pid {pid}"), folder)
                })
                .collect()
        }
    }
}

/// Analyzes `folder` and finds the app's leak on its line, in at least `heaps` findings (one
/// per heap that has it); returns where and how much.
fn check_leak(form: &Form, bin: &Path, app_dir: &Path, folder: &Path, heaps: usize) -> String {
    let what = form.name;
    let exp = expected(form.app).unwrap_or_else(|e| panic!("{what}: {e:#}"));
    let report = analyze(form, bin, app_dir, folder);
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    let placed: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{} {}:{} {} B [{}]: {}",
                f["kind"].as_str().unwrap_or("?"),
                f["file"].as_str().unwrap_or("?"),
                f["line"],
                f["retained_bytes"],
                f["heap"].as_str().unwrap_or("-"),
                f["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    let mut found = Vec::new();
    for leak in &exp.leaks {
        let hits: Vec<&Value> = findings
            .iter()
            .filter(|f| {
                f["kind"] == leak.kind.as_str()
                    && f["file"] == leak.file.as_str()
                    && f["line"].as_u64() == Some(u64::from(leak.line))
            })
            .collect();
        assert!(
            hits.len() >= heaps,
            "{what}: {} {} finding(s) at {}:{} (`{}`) in {}, {heaps} expected (one per heap); \
             findings: {placed:#?}",
            hits.len(),
            leak.kind,
            leak.file,
            leak.line,
            leak.code,
            folder.display()
        );
        for hit in hits {
            let retained = hit["retained_bytes"].as_u64().unwrap_or(0);
            assert!(
                retained >= leak.min_retained_bytes,
                "{what}: the leak at {}:{} retains {retained} bytes, at least {} were measured",
                leak.file,
                leak.line,
                leak.min_retained_bytes
            );
            found.push(format!("{}:{} {retained} B", leak.file, leak.line));
        }
    }
    for lookalike in &exp.lookalikes {
        assert!(
            !findings.iter().any(|f| f["file"] == lookalike.file.as_str()
                && f["line"].as_u64() == Some(u64::from(lookalike.line))),
            "{what}: a finding on the lookalike {}:{} (`{}`): {placed:#?}",
            lookalike.file,
            lookalike.line,
            lookalike.code
        );
    }
    assert!(
        !warnings(&report)
            .iter()
            .any(|w| w.contains("not your service")),
        "{what}: analyze warns about the wrong process: {:?}",
        warnings(&report)
    );
    found.join(", ")
}

/// The capture of a command that runs only a package's code: captured, with the warning.
fn check_not_the_service(
    form: &Form,
    bin: &Path,
    app_dir: &Path,
    run: &Run,
    manifest: &Value,
) -> String {
    let what = form.name;
    assert!(
        run.log.contains("not your service"),
        "{what}: `heapsight capture` does not say the process is not the service:\n{}",
        run.tail()
    );
    assert_eq!(
        manifest["workspace_scripts"].as_u64(),
        Some(0),
        "{what}: {}",
        brief(manifest)
    );
    let report = analyze(form, bin, app_dir, &run.dir);
    let said = warnings(&report);
    let warning = said
        .iter()
        .find(|w| w.contains("not your service"))
        .unwrap_or_else(|| {
            panic!("{what}: no \"not your service\" warning in analyze's JSON; warnings: {said:?}")
        });
    format!("warned: {warning}")
}

/// `heapsight analyze <folder> --format json --root <app>`.
fn analyze(form: &Form, bin: &Path, app_dir: &Path, folder: &Path) -> Value {
    let what = form.name;
    let out = Command::new(bin)
        .arg("analyze")
        .arg(folder)
        .args(["--format", "json", "--root"])
        .arg(app_dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run heapsight analyze: {e}"));
    assert!(
        out.status.success(),
        "{what}: heapsight analyze {} failed ({}): {}",
        folder.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: analyze's JSON: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The texts of a report's `warnings` (strings, or objects with a `message`).
fn warnings(report: &Value) -> Vec<String> {
    report["warnings"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|w| match w {
                    Value::String(s) => s.clone(),
                    other => other["message"]
                        .as_str()
                        .map_or_else(|| other.to_string(), str::to_owned),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every part is a heap of the app: none is a thread of Node's own, such as the thread that
/// runs the module customization hooks of `--import` (tsx's loader), whose URL is
/// `node:internal/modules/esm/worker`.
fn check_parts_are_the_apps(form: &Form, manifest: &Value) {
    let internal: Vec<&Value> = manifest["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["url"].as_str().is_some_and(|u| u.starts_with("node:")))
        .collect();
    assert!(
        internal.is_empty(),
        "{}: Node's own threads captured as parts: {internal:#?}",
        form.name
    );
}

/// No process of the command is left running once the capture has ended: the captured one,
/// every candidate and every part's process (a zombie waiting for its reaper is ended).
fn check_stopped(form: &Form, manifest: &Value) {
    let mut pids: Vec<i64> = manifest["pid"].as_i64().into_iter().collect();
    for list in [&manifest["selection"]["candidates"], &manifest["parts"]] {
        pids.extend(
            list.as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["pid"].as_i64()),
        );
    }
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let running: Vec<i64> = pids.iter().copied().filter(|&p| is_running(p)).collect();
        if running.is_empty() {
            return;
        }
        assert!(
            Instant::now() < until,
            "{}: processes of the command still run after the capture: {running:?}",
            form.name
        );
        thread::sleep(Duration::from_millis(100));
    }
}

fn is_running(pid: i64) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

fn read_json(path: &Path) -> Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn script_paths(manifest: &Value) -> Vec<String> {
    manifest["scripts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            s["path"]
                .as_str()
                .or_else(|| s["url"].as_str())
                .map(str::to_owned)
        })
        .collect()
}

fn has_script(manifest: &Value, path: &Path) -> bool {
    let want = path.display().to_string();
    script_paths(manifest)
        .iter()
        .any(|p| *p == want || p.strip_prefix("file://") == Some(want.as_str()))
}

/// A candidate's command line, with its node flags (`exec_argv`) when listed apart.
fn command_text(candidate: &Value) -> String {
    [&candidate["command"], &candidate["exec_argv"]]
        .into_iter()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `<command> (pid N)` of the captured process, for messages.
fn captured_process(manifest: &Value) -> String {
    let pid = manifest["pid"].as_i64().unwrap_or(0);
    let command = manifest["selection"]["candidates"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["pid"].as_i64() == Some(pid)))
        .map(command_text)
        .unwrap_or_else(|| command_text(manifest));
    format!("`{command}` (pid {pid})")
}

/// The manifest without its script sources, for messages.
fn brief(manifest: &Value) -> String {
    let mut m = manifest.clone();
    if let Some(scripts) = m["scripts"].as_array_mut() {
        for s in scripts {
            s["source"] = Value::Null;
        }
    }
    serde_json::to_string_pretty(&m).unwrap_or_default()
}
