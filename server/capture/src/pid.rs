//! No-restart mode: the inspector of a running Node process, opened with `SIGUSR1` and
//! closed again at the end.
//!
//! Node answers `SIGUSR1` by opening its inspector on `127.0.0.1:9229`, or on the host and
//! port of its `--inspect-port` (also spelled in `--inspect=...`); it announces the URL on its
//! own stderr, which we cannot read, so the endpoint is found by asking `/json/list` on the
//! ports it may use: the loopback ports the process listens on after the signal and not
//! before (read from `/proc/PID/fd` and `/proc/PID/net/tcp{,6}`; this also finds
//! `--inspect-port=0`), the port of its flags, and 9229. Before any snapshot the inspector
//! reached must say it is process PID (`process.pid`, compared with the last field of
//! `NSpid` in `/proc/PID/status` when the process lives in another PID namespace): another
//! Node process may hold the port.
//!
//! Refused before anything is sent: a process that is not Node (its executable's or argv[0]'s
//! file name), one started with `--disable-sigusr1` (Node 22.14+ and 23.7+; on its command
//! line or in `NODE_OPTIONS` read from `/proc/PID/environ`), one that does not catch `SIGUSR1`
//! (its default action would end it), and one whose inspector would listen beyond loopback
//! (`--inspect-port=0.0.0.0:9229`, `--inspect=host:port`).
//!
//! At the end the inspector we opened is closed: the capture's domains are disabled, then
//! `setTimeout(() => process._debugEnd(), 500)` is evaluated (deferred so that the evaluation
//! is answered and our session closed first: an immediate `_debugEnd` with the session still
//! closing crashed Node 20 now and then; checked on Node 18, 20, 22, 24 and 26), and the port
//! is watched until it refuses connections. An inspector that was already open before the signal is left open.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

use crate::cdp::Cdp;
use crate::error::{CaptureError, Result};
use crate::inspector::{self, WsEndpoint};
use crate::signal;

/// Node's default inspector port.
pub const DEFAULT_INSPECTOR_PORT: u16 = 9229;

/// How often the ports are looked at after the signal.
const POLL: Duration = Duration::from_millis(100);

/// What the checks found out about the process, before anything is sent to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeProcess {
    pub pid: i32,
    /// Its command line.
    pub command: Vec<String>,
    /// The inspector port its flags name (`None`: Node's default, 9229; `Some(0)`: any).
    pub flag_port: Option<u16>,
    /// Its pid inside its own PID namespace, as `process.pid` says it (the last field of
    /// `NSpid`); the pid itself when `/proc` does not tell.
    pub ns_pid: i64,
}

/// Checks that `pid` is a Node process whose inspector can be opened safely with `SIGUSR1`.
pub(crate) fn check(pid: i32) -> Result<NodeProcess> {
    signal::check_alive(pid)?;
    let command = signal::command_line(pid);
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let by_exe = exe.as_deref().is_some_and(is_node_path);
    let by_argv = command.first().is_some_and(|a| is_node_path(Path::new(a)));
    if !by_exe && !by_argv {
        let what = exe
            .map(|e| e.display().to_string())
            .or_else(|| command.first().cloned())
            .unwrap_or_else(|| "unknown".to_owned());
        return Err(CaptureError::Refused {
            pid,
            reason: format!(
                "it is not a Node.js process (its executable is {what}); nothing was sent to it"
            ),
        });
    }
    let options = node_options_of(pid);
    let tokens: Vec<&str> = command
        .iter()
        .skip(1)
        .map(String::as_str)
        .chain(options.split_whitespace())
        .collect();
    if tokens.contains(&"--disable-sigusr1") {
        return Err(CaptureError::Refused {
            pid,
            reason: "it runs with --disable-sigusr1 (on its command line or in NODE_OPTIONS), \
                     so SIGUSR1 cannot open its inspector; nothing was sent to it"
                .to_owned(),
        });
    }
    let args: Vec<String> = command.iter().skip(1).cloned().collect();
    if let Some((flag, host)) = crate::session::remote_inspect_flag(&args, &options) {
        return Err(CaptureError::Refused {
            pid,
            reason: format!(
                "its inspector would listen on {host} (from `{flag}`), not only on loopback: \
                 opening it would let anyone who reaches that address run code in the \
                 process; nothing was sent to it"
            ),
        });
    }
    // The last word: a process that does not catch SIGUSR1 would die of it.
    if let Err(CaptureError::SignalNotHandled { .. }) = signal::check_handles(pid, Signal::SIGUSR1)
    {
        return Err(CaptureError::Refused {
            pid,
            reason: "it does not catch SIGUSR1 (Node started with --disable-sigusr1, or not \
                     running yet), so the signal would end it; nothing was sent to it"
                .to_owned(),
        });
    }
    Ok(NodeProcess {
        pid,
        flag_port: inspector_port(&tokens),
        command,
        ns_pid: ns_pid(pid).unwrap_or(i64::from(pid)),
    })
}

/// Whether a path's file name is a Node binary's: `node`, `nodejs`, `node20`, `node-22`.
fn is_node_path(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|name| {
            name == "node"
                || name == "nodejs"
                || name.strip_prefix("node").is_some_and(|rest| {
                    let rest = rest.trim_start_matches(['-', '_']);
                    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
                })
        })
}

/// `NODE_OPTIONS` of process `pid`, from `/proc/PID/environ` (empty where unreadable).
fn node_options_of(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/environ"))
        .ok()
        .and_then(|environ| {
            environ
                .split(|&b| b == 0)
                .find_map(|v| v.strip_prefix(b"NODE_OPTIONS="))
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
        .unwrap_or_default()
}

/// The pid as the process's own PID namespace numbers it: the last field of `NSpid`.
fn ns_pid(pid: i32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// The inspector port Node's flags name, the last one winning as in Node: `--inspect-port=P`,
/// `--inspect-port P`, `--debug-port`, `--inspect[-brk|-wait]=[host:]P`.
fn inspector_port(tokens: &[&str]) -> Option<u16> {
    let mut port = None;
    for (_, value) in crate::session::inspector_flags(tokens) {
        let digits = value.rsplit(':').next().unwrap_or(value);
        if let Ok(p) = digits.parse::<u16>() {
            port = Some(p);
        }
    }
    port
}

/// The loopback TCP ports process `pid` listens on (empty where `/proc` does not tell).
fn listening_loopback_ports(pid: i32) -> HashSet<u16> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    let inodes: HashSet<String> = fds
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            l.to_string_lossy()
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .map(str::to_owned)
        })
        .collect();
    let mut ports = HashSet::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        ports.extend(parse_listening(&text, &inodes));
    }
    ports
}

/// The loopback ports in LISTEN state (`0A`) of a `/proc/net/tcp{,6}` table whose socket
/// inode is one of `inodes`.
fn parse_listening(table: &str, inodes: &HashSet<String>) -> Vec<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (f.get(1)?, f.get(3)?, f.get(9)?);
            if *state != "0A" || !inodes.contains(*inode) {
                return None;
            }
            let (addr, port) = local.split_once(':')?;
            let loopback = match addr.len() {
                // 127.0.0.0/8, little-endian: the first byte is the last pair.
                8 => addr.ends_with("7F"),
                // ::1, and ::ffff:127.x.x.x.
                32 => {
                    addr == "00000000000000000000000001000000"
                        || (addr.starts_with("0000000000000000FFFF0000") && addr.ends_with("7F"))
                }
                _ => false,
            };
            if !loopback {
                return None;
            }
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

/// An inspector reached for the process.
pub(crate) struct Opened {
    /// The session, checked to be the process's.
    pub cdp: Cdp,
    /// Where it listens.
    pub endpoint: WsEndpoint,
    /// We opened it with SIGUSR1 (and close it at the end); `false`: it was open already.
    pub opened_by_us: bool,
}

/// Opens (or finds already open) the inspector of the checked process and connects to it,
/// refusing one that belongs to another process.
pub(crate) async fn open(proc: &NodeProcess, connect_timeout: Duration) -> Result<Opened> {
    let pid = proc.pid;
    let mut fixed: Vec<u16> = Vec::new();
    if let Some(p) = proc.flag_port.filter(|p| *p != 0) {
        fixed.push(p);
    }
    if !fixed.contains(&DEFAULT_INSPECTOR_PORT) && proc.flag_port.is_none() {
        fixed.push(DEFAULT_INSPECTOR_PORT);
    }
    // Already open (started with --inspect, or a previous SIGUSR1): then it stays open.
    let before = listening_loopback_ports(pid);
    for port in fixed
        .iter()
        .filter(|p| before.contains(p) || before.is_empty())
    {
        if let Some(found) = try_port(proc, *port, connect_timeout).await? {
            return Ok(Opened {
                cdp: found.0,
                endpoint: found.1,
                opened_by_us: false,
            });
        }
    }
    kill(Pid::from_raw(pid), Signal::SIGUSR1).map_err(|e| CaptureError::NoSuchProcess {
        pid,
        reason: e.desc().to_owned(),
    })?;
    let deadline = Instant::now() + connect_timeout;
    let mut last_error: Option<CaptureError> = None;
    loop {
        tokio::time::sleep(POLL).await;
        signal::check_alive(pid)?;
        let now = listening_loopback_ports(pid);
        let mut ports: Vec<u16> = now.difference(&before).copied().collect();
        ports.sort_unstable();
        for p in &fixed {
            if !ports.contains(p) && (now.is_empty() || now.contains(p)) {
                ports.push(*p);
            }
        }
        for port in ports {
            match try_port(proc, port, connect_timeout).await {
                Ok(Some((cdp, endpoint))) => {
                    return Ok(Opened {
                        cdp,
                        endpoint,
                        opened_by_us: true,
                    })
                }
                Ok(None) => {}
                Err(e) => last_error = Some(e),
            }
        }
        if Instant::now() >= deadline {
            if let Some(e @ CaptureError::NotThisProcess { .. }) = last_error {
                return Err(e);
            }
            let mut held = Vec::new();
            for p in &fixed {
                if !now.contains(p)
                    && tokio::net::TcpStream::connect(("127.0.0.1", *p))
                        .await
                        .is_ok()
                {
                    held.push(p.to_string());
                }
            }
            let why = if held.is_empty() {
                String::new()
            } else {
                format!(
                    "; another process listens on 127.0.0.1:{}, so Node could not open its \
                     inspector there: stop that process, or start this one with \
                     --inspect-port=<free port>",
                    held.join(", ")
                )
            };
            return Err(CaptureError::Timeout {
                what: format!(
                    "process {pid} to open its inspector after SIGUSR1 (tried the loopback \
                     ports it opened and {}){why}",
                    fixed
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                after: connect_timeout,
            });
        }
    }
}

/// Connects to the inspector on `127.0.0.1:port` if one answers, and checks it is the
/// process's. `Ok(None)`: nothing answers there (yet). A connected inspector that is another
/// process's is an error, which the caller keeps as the reason if nothing else answers.
async fn try_port(
    proc: &NodeProcess,
    port: u16,
    timeout: Duration,
) -> Result<Option<(Cdp, WsEndpoint)>> {
    let Ok(ep) = inspector::discover("127.0.0.1", port, false, timeout).await else {
        return Ok(None);
    };
    let Ok(mut cdp) = Cdp::connect(&ep, false, timeout).await else {
        return Ok(None);
    };
    cdp.set_timeout(timeout);
    let answer = cdp
        .call(
            "Runtime.evaluate",
            json!({ "expression": "process.pid", "returnByValue": true, "silent": true }),
        )
        .await;
    let reported = answer
        .ok()
        .and_then(|v| v.pointer("/result/value").and_then(Value::as_i64));
    match reported {
        Some(p) if p == proc.ns_pid || p == i64::from(proc.pid) => Ok(Some((cdp, ep))),
        other => {
            cdp.close().await;
            Err(CaptureError::NotThisProcess {
                pid: proc.pid,
                addr: ep.authority(),
                reported: other.map_or_else(|| "no pid".to_owned(), |p| format!("pid {p}")),
            })
        }
    }
}

/// Closes the inspector we opened: `process._debugEnd()` on the next turn of its event loop
/// (so the evaluation is answered), then the session, then waits until the port refuses
/// connections. Returns what happened, in words.
pub(crate) async fn close(
    mut cdp: Cdp,
    endpoint: &WsEndpoint,
) -> std::result::Result<String, String> {
    // The domains the capture turned on are turned off first, and the inspector stops only
    // once our session is gone: Node 20 was seen to crash (SIGSEGV) now and then when
    // `_debugEnd` ran at once, with the debugger on and our session still closing.
    for method in [
        "Debugger.disable",
        "HeapProfiler.disable",
        "Runtime.disable",
    ] {
        let _ = tokio::time::timeout(Duration::from_secs(5), cdp.call(method, json!({}))).await;
    }
    let asked = tokio::time::timeout(
        Duration::from_secs(10),
        cdp.call(
            "Runtime.evaluate",
            json!({
                "expression": "setTimeout(() => process._debugEnd(), 500).unref(), true",
                "returnByValue": true,
                "silent": true,
            }),
        ),
    )
    .await;
    cdp.close().await;
    match asked {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(format!("could not ask it to close its inspector: {e}")),
        Err(_) => return Err("it did not answer the request to close its inspector".to_owned()),
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open = tokio::net::TcpStream::connect(("127.0.0.1", endpoint.port))
            .await
            .is_ok();
        if !open {
            return Ok(format!(
                "inspector closed, port {} no longer open",
                endpoint.port
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "its inspector port {} is still open 10 s after process._debugEnd()",
                endpoint.port
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_binaries_by_name() {
        for p in [
            "/usr/bin/node",
            "node",
            "/opt/node20",
            "/x/node-22",
            "nodejs",
        ] {
            assert!(is_node_path(Path::new(p)), "{p}");
        }
        for p in ["/usr/bin/sleep", "nodemon", "/bin/sh", "node-x", "npm"] {
            assert!(!is_node_path(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn inspector_ports_from_flags() {
        assert_eq!(inspector_port(&["app.js"]), None);
        assert_eq!(inspector_port(&["--inspect-port=9333", "a.js"]), Some(9333));
        assert_eq!(inspector_port(&["--inspect-port", "127.0.0.1:0"]), Some(0));
        assert_eq!(inspector_port(&["--inspect=localhost:9400"]), Some(9400));
        assert_eq!(
            inspector_port(&["--inspect-port=1", "--debug-port=2"]),
            Some(2)
        );
        assert_eq!(inspector_port(&["--inspect"]), None);
    }

    #[test]
    fn listening_sockets_from_the_tcp_tables() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:240D 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 222 1 0 100 0 0 10 0
   2: 0100007F:A8DF 0100007F:240D 01 00000000:00000000 00:00000000 00000000  1000        0 333 1 0 100 0 0 10 0
   3: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 444 1 0 100 0 0 10 0";
        let ours: HashSet<String> = ["111", "222", "333"].map(String::from).into();
        // 9229 on loopback; not 8080 on every interface, nor a connection, nor another's.
        assert_eq!(parse_listening(v4, &ours), vec![9229]);
        let v6 = "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:240E 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 555 1";
        let ours: HashSet<String> = ["555"].map(String::from).into();
        assert_eq!(parse_listening(v6, &ours), vec![9230]);
    }

    #[test]
    fn refuses_what_is_not_node() {
        let mut sleep = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("start sleep");
        let got = check(sleep.id() as i32);
        let _ = sleep.kill();
        let _ = sleep.wait();
        match got {
            Err(CaptureError::Refused { reason, .. }) => {
                assert!(reason.contains("not a Node.js process"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
}
