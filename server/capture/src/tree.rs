//! Seeing through wrappers: which of the Node processes under a started command runs the
//! user's code.
//!
//! `npm start`, `npx tsx app.ts`, `nodemon`, `node --watch` and a `cluster` primary all run
//! the service in another Node process than the one started. Every Node process under the
//! command opens a loopback inspector (`--inspect=127.0.0.1:0` in `NODE_OPTIONS`) and says
//! so on the shared stderr; each is probed over its inspector ([`probe`]: pid, parent,
//! command line, cluster worker id) and, once the service is up, asked for its scripts
//! ([`workspace_scripts`]). [`choose`] then picks the process(es) to capture: the ones
//! whose scripts include the workspace's own files, narrowed by `--worker` or `--match`.
//! A wrapper runs none of them (npm's 500 scripts all live under its own install).

use std::path::Path;

use regex_lite::Regex;
use serde_json::{json, Value};

use crate::cdp::Cdp;
use crate::error::{CaptureError, Result};
use crate::manifest::{self, process_name, Candidate, CandidateRole, Selection};
use crate::options::Pick;

/// What a Node process says about itself over its inspector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcessInfo {
    pub pid: i64,
    pub ppid: Option<i64>,
    /// `process.version`.
    pub version: Option<String>,
    /// `process.argv`: the node binary, the main script, its arguments.
    pub command: Vec<String>,
    /// `process.execArgv`: Node's own flags.
    pub exec_argv: Vec<String>,
    /// `cluster.worker.id` (from `NODE_UNIQUE_ID`), for a cluster worker.
    pub cluster_worker: Option<u32>,
}

/// Asks a process for its identity; allocates a few objects in it, before any snapshot.
/// A process caught early in its start-up cannot run JavaScript yet: it is asked again for
/// up to two seconds.
pub(crate) async fn probe(cdp: &mut Cdp) -> Result<ProcessInfo> {
    let mut tries = 0;
    loop {
        match probe_once(cdp).await {
            Err(CaptureError::Protocol(_)) if tries < 20 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

async fn probe_once(cdp: &mut Cdp) -> Result<ProcessInfo> {
    let answer = cdp
        .call(
            "Runtime.evaluate",
            json!({
                // A cluster worker's id is in NODE_UNIQUE_ID until the worker's start-up
                // reads and deletes it; then in `cluster.worker.id`.
                "expression": "[process.pid, process.ppid, process.version, \
                    process.argv, process.execArgv, (() => { \
                      if (process.env.NODE_UNIQUE_ID) return String(process.env.NODE_UNIQUE_ID); \
                      try { \
                        const cluster = process.getBuiltinModule \
                          ? process.getBuiltinModule('cluster') : require('cluster'); \
                        return cluster.worker ? String(cluster.worker.id) : null; \
                      } catch (e) { return null; } })()]",
                "includeCommandLineAPI": true,
                "returnByValue": true,
                "silent": true,
            }),
        )
        .await?;
    let value = answer.pointer("/result/value");
    let at = |i: usize| value.and_then(|v| v.get(i));
    let pid = at(0).and_then(Value::as_i64).ok_or_else(|| {
        let why = answer
            .pointer("/exceptionDetails/exception/description")
            .or_else(|| answer.pointer("/exceptionDetails/text"))
            .and_then(Value::as_str)
            .unwrap_or("no value");
        CaptureError::Protocol(format!("a Node process that does not give its pid ({why})"))
    })?;
    Ok(ProcessInfo {
        pid,
        ppid: at(1).and_then(Value::as_i64),
        version: at(2).and_then(Value::as_str).map(str::to_owned),
        command: strings(at(3)),
        exec_argv: strings(at(4)),
        cluster_worker: at(5).and_then(Value::as_str).and_then(|id| id.parse().ok()),
    })
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// How many scripts loaded in the process are files of `workspace` outside
/// `node_modules`. `Debugger.enable` lists every script (and allocates a little: this runs
/// before snapshot A, so that is part of the baseline); the debugger is disabled again.
pub(crate) async fn workspace_scripts(cdp: &mut Cdp, workspace: &Path) -> Result<u64> {
    cdp.keep_events("Debugger.scriptParsed");
    cdp.call("Debugger.enable", json!({})).await?;
    let listed = cdp.take_events();
    cdp.call("Debugger.disable", json!({})).await?;
    Ok(listed
        .iter()
        .filter_map(|e| e.params.get("url").and_then(Value::as_str))
        .filter(|url| manifest::is_workspace_file(url, workspace))
        .count() as u64)
}

/// What is known of one process when the choice is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    pub info: ProcessInfo,
    /// `None` when it could not be asked (it exited, or did not answer): such a process
    /// is never taken.
    pub workspace_scripts: Option<u64>,
}

/// The outcome of [`choose`]: indices into the processes seen, the main one first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Choice {
    pub taken: Vec<usize>,
    pub selection: Selection,
}

/// Whether a process is only a launcher, by its command line alone: a known package
/// manager or runner, or a `node --watch` parent. Used to keep waiting while only such
/// processes have appeared.
pub(crate) fn looks_like_launcher(info: &ProcessInfo) -> bool {
    let name = process_name(&info.command);
    matches!(
        name.as_str(),
        "npm" | "npx" | "yarn" | "pnpm" | "tsx" | "nodemon" | "pm2"
    ) || info
        .exec_argv
        .iter()
        .any(|a| a == "--watch" || a.starts_with("--watch-path"))
}

/// Whether a command line (`/proc/PID/cmdline`) is a launcher's, as [`looks_like_launcher`].
pub(crate) fn command_is_launcher(command: &[String]) -> bool {
    let (flags, rest): (Vec<String>, Vec<String>) = command
        .iter()
        .skip(1)
        .cloned()
        .partition(|a| a.starts_with('-'));
    let info = ProcessInfo {
        pid: 0,
        ppid: None,
        version: None,
        command: command.iter().take(1).cloned().chain(rest).collect(),
        exec_argv: flags,
        cluster_worker: None,
    };
    looks_like_launcher(&info)
}

/// The Node processes below `pid` (children, grandchildren, ...), by `/proc`: each pid with
/// its command line. Empty where `/proc` cannot tell.
pub(crate) fn node_descendants(pid: i64) -> Vec<(i64, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parent_of = |p: i64| -> Option<i64> {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
        let after = &stat[stat.rfind(')')? + 1..];
        after.split_whitespace().nth(1)?.parse().ok()
    };
    let all: Vec<(i64, i64)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok())
        .filter_map(|p| Some((p, parent_of(p)?)))
        .collect();
    let mut below = vec![pid];
    let mut found = Vec::new();
    while let Some(p) = below.pop() {
        for &(child, _) in all.iter().filter(|(_, parent)| *parent == p) {
            below.push(child);
            let command = crate::signal::command_line(child as i32);
            if command
                .first()
                .is_some_and(|c| process_name(std::slice::from_ref(c)).starts_with("node"))
            {
                found.push((child, command));
            }
        }
    }
    found.sort_unstable();
    found
}

/// The role of each process: a cluster worker by its id; a primary when one of the
/// workers seen is its child; a wrapper when it runs none of the workspace's files.
fn role_of(seen: &[Seen], i: usize) -> CandidateRole {
    let s = &seen[i];
    if s.info.cluster_worker.is_some() {
        return CandidateRole::ClusterWorker;
    }
    if s.workspace_scripts == Some(0) {
        return CandidateRole::Wrapper;
    }
    if s.workspace_scripts.is_none() && looks_like_launcher(&s.info) {
        return CandidateRole::Wrapper;
    }
    let forked = seen
        .iter()
        .any(|w| w.info.cluster_worker.is_some() && w.info.ppid == Some(s.info.pid));
    if forked {
        CandidateRole::ClusterPrimary
    } else {
        CandidateRole::Service
    }
}

/// Picks the processes to capture among those seen (in the order they appeared).
pub(crate) fn choose(seen: &[Seen], pick: &Pick) -> Result<Choice> {
    let roles: Vec<CandidateRole> = (0..seen.len()).map(|i| role_of(seen, i)).collect();
    let name = |i: usize| {
        format!(
            "{} (pid {})",
            process_name(&seen[i].info.command),
            seen[i].info.pid
        )
    };
    let listing = || {
        seen.iter()
            .enumerate()
            .map(|(i, s)| format!("{}: {}", name(i), command_line(&s.info)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let (taken, summary): (Vec<usize>, String) =
        match pick {
            Pick::Worker(id) => {
                let Some(i) = seen.iter().position(|s| {
                    s.info.cluster_worker == Some(*id) && s.workspace_scripts.is_some()
                }) else {
                    return Err(CaptureError::Config(format!(
                    "--worker {id}: no cluster worker {id} started under the command (seen: {})",
                    listing()
                )));
                };
                (
                    vec![i],
                    format!("took cluster worker {id}, {}, as asked", name(i)),
                )
            }
            Pick::Match(pattern) => {
                let re = Regex::new(pattern).map_err(|e| {
                    CaptureError::Config(format!("--match `{pattern}` is not a valid regex: {e}"))
                })?;
                let Some(i) = seen.iter().position(|s| {
                    re.is_match(&command_line(&s.info)) && s.workspace_scripts.is_some()
                }) else {
                    return Err(CaptureError::Config(format!(
                        "--match `{pattern}`: no Node process under the command matches (seen: {})",
                        listing()
                    )));
                };
                (
                    vec![i],
                    format!("took {}, whose command line matches `{pattern}`", name(i)),
                )
            }
            Pick::Each => {
                let services: Vec<usize> = (0..seen.len())
                    .filter(|&i| {
                        seen[i].workspace_scripts.is_some_and(|n| n > 0)
                            && matches!(
                                roles[i],
                                CandidateRole::Service | CandidateRole::ClusterWorker
                            )
                    })
                    .collect();
                match services.as_slice() {
                    [] => {
                        // Nothing runs the workspace's code: take the innermost process, and
                        // let the manifest's warning say what it is.
                        let i = seen
                            .iter()
                            .rposition(|s| s.workspace_scripts.is_some())
                            .unwrap_or(seen.len().saturating_sub(1));
                        (
                            vec![i],
                            format!(
                                "took {}, the last Node process started: none of them runs a file \
                             of the workspace",
                                name(i)
                            ),
                        )
                    }
                    [one] => (
                        vec![*one],
                        format!("took {}, the one running the workspace's code", name(*one)),
                    ),
                    many => {
                        let mut many = many.to_vec();
                        // Cluster workers by id, so that the main heap is worker 1.
                        many.sort_by_key(|&i| (seen[i].info.cluster_worker.unwrap_or(0), i));
                        let names: Vec<String> = many.iter().map(|&i| name(i)).collect();
                        (
                            many,
                            format!(
                                "took each of the {} processes running the workspace's code ({}), \
                             each into its own part; --worker N or --match REGEX takes one",
                                names.len(),
                                names.join(", ")
                            ),
                        )
                    }
                }
            }
        };
    let candidates = seen
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let is_taken = taken.contains(&i);
            let files = match s.workspace_scripts {
                Some(n) => format!("{n} workspace file{}", if n == 1 { "" } else { "s" }),
                None => "its scripts unknown".to_owned(),
            };
            let why = match (roles[i], is_taken) {
                _ if s.workspace_scripts.is_none() && !is_taken => {
                    "exited (or stopped answering) before the choice".to_owned()
                }
                (CandidateRole::Wrapper, false) => {
                    format!("a launcher ({files}): let go")
                }
                (CandidateRole::ClusterPrimary, false) => {
                    format!("the cluster primary ({files}): its workers serve")
                }
                (_, false) => format!("{files}: not asked for"),
                (_, true) => format!("{files}: captured"),
            };
            Candidate {
                pid: s.info.pid,
                ppid: s.info.ppid,
                command: s.info.command.clone(),
                exec_argv: s.info.exec_argv.clone(),
                role: roles[i],
                taken: is_taken,
                why,
            }
        })
        .collect();
    Ok(Choice {
        taken,
        selection: Selection {
            summary,
            candidates,
        },
    })
}

/// The whole command line, Node's flags included: what `--match` is tried on.
fn command_line(info: &ProcessInfo) -> String {
    let mut parts = info.command.iter().take(1).chain(&info.exec_argv);
    let head: Vec<&str> = parts.by_ref().map(String::as_str).collect();
    let tail = info.command.iter().skip(1).map(String::as_str);
    head.into_iter().chain(tail).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(pid: i64, ppid: i64, command: &str, worker: Option<u32>, files: Option<u64>) -> Seen {
        let words: Vec<&str> = command.split(' ').collect();
        Seen {
            info: ProcessInfo {
                pid,
                ppid: Some(ppid),
                version: None,
                command: words
                    .iter()
                    .filter(|w| !w.starts_with('-'))
                    .map(|w| w.to_string())
                    .collect(),
                exec_argv: words
                    .iter()
                    .filter(|w| w.starts_with('-'))
                    .map(|w| w.to_string())
                    .collect(),
                cluster_worker: worker,
            },
            workspace_scripts: files,
        }
    }

    fn check(seen: &[Seen], pick: Pick, taken: &[i64], summary_has: &str) {
        let choice = choose(seen, &pick).expect("a choice");
        let pids: Vec<i64> = choice.taken.iter().map(|&i| seen[i].info.pid).collect();
        assert_eq!(pids, taken, "{:?}", choice.selection);
        assert!(
            choice.selection.summary.contains(summary_has),
            "{}",
            choice.selection.summary
        );
        let marked: Vec<i64> = choice
            .selection
            .candidates
            .iter()
            .filter(|c| c.taken)
            .map(|c| c.pid)
            .collect();
        let mut sorted = taken.to_vec();
        sorted.sort_unstable();
        let mut marked_sorted = marked;
        marked_sorted.sort_unstable();
        assert_eq!(marked_sorted, sorted);
    }

    #[test]
    fn wrappers_are_seen_through() {
        let npx_tsx = [
            seen(
                10,
                1,
                "node /usr/lib/node_modules/npm/bin/npx-cli.js tsx app.ts",
                None,
                Some(0),
            ),
            seen(
                11,
                10,
                "node /w/node_modules/tsx/dist/cli.mjs app.ts",
                None,
                Some(0),
            ),
            seen(
                12,
                11,
                "node --require=/w/node_modules/tsx/dist/preflight.cjs /w/app.ts",
                None,
                Some(3),
            ),
        ];
        check(
            &npx_tsx,
            Pick::Each,
            &[12],
            "the one running the workspace's code",
        );
        let choice = choose(&npx_tsx, &Pick::Each).expect("choice");
        assert_eq!(choice.selection.candidates[0].role, CandidateRole::Wrapper);
        assert!(choice.selection.candidates[0].why.contains("let go"));
    }

    #[test]
    fn cluster_workers() {
        let cluster = [
            seen(20, 1, "node /w/cluster.js", None, Some(2)),
            seen(21, 20, "node /w/cluster.js", Some(1), Some(2)),
            seen(22, 20, "node /w/cluster.js", Some(2), Some(2)),
        ];
        check(&cluster, Pick::Each, &[21, 22], "each of the 2 processes");
        check(&cluster, Pick::Worker(2), &[22], "cluster worker 2");
        let choice = choose(&cluster, &Pick::Each).expect("choice");
        assert_eq!(
            choice.selection.candidates[0].role,
            CandidateRole::ClusterPrimary
        );
        let missing = choose(&cluster, &Pick::Worker(3)).expect_err("no worker 3");
        assert!(
            missing.to_string().contains("no cluster worker 3"),
            "{missing}"
        );
    }

    #[test]
    fn match_and_no_service() {
        let two = [
            seen(30, 1, "node /w/api.js", None, Some(1)),
            seen(31, 1, "node /w/jobs.js", None, Some(1)),
        ];
        check(&two, Pick::Match("jobs".into()), &[31], "matches `jobs`");
        assert!(choose(&two, &Pick::Match("(".into())).is_err());
        let only_npm = [seen(
            40,
            1,
            "node /usr/lib/node_modules/npm/bin/npm-cli.js run x",
            None,
            Some(0),
        )];
        check(&only_npm, Pick::Each, &[40], "none of them runs a file");
    }

    #[test]
    fn a_process_gone_before_the_choice_is_never_taken() {
        let prestart = [
            seen(
                50,
                1,
                "node /usr/lib/node_modules/npm/bin/npm-cli.js start",
                None,
                Some(0),
            ),
            seen(51, 50, "node", None, None),
            seen(52, 50, "node /w/app.js", None, Some(1)),
        ];
        check(
            &prestart,
            Pick::Each,
            &[52],
            "the one running the workspace's code",
        );
        let choice = choose(&prestart, &Pick::Each).expect("choice");
        assert!(choice.selection.candidates[1].why.contains("exited"));
    }

    #[test]
    fn launchers_by_command_line() {
        let watch = seen(1, 0, "node --watch /w/app.js", None, None);
        assert!(looks_like_launcher(&watch.info));
        let npm = seen(
            1,
            0,
            "node /usr/lib/node_modules/npm/bin/npm-cli.js start",
            None,
            None,
        );
        assert!(looks_like_launcher(&npm.info));
        let app = seen(1, 0, "node /w/app.js", None, None);
        assert!(!looks_like_launcher(&app.info));
    }
}
