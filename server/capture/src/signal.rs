//! Production mode: the process writes its own snapshots when sent a signal (node started
//! with `--heapsnapshot-signal=SIGUSR2`); we send it, wait until the new `.heapsnapshot`
//! file in its folder is complete, and move it into the capture folder (with `redact`,
//! streamed through `heapsight-redact` into place and the process's own file removed). No
//! inspector is opened, so nothing but the snapshot itself touches the process.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::error::{CaptureError, Result};
use crate::heap::JsonEnd;
use crate::output::partial_of;
use crate::report::{Phase, Reporter, SnapshotProgress};

/// How often the folder is looked at.
const POLL: Duration = Duration::from_millis(100);
/// A file whose size has not changed for this many polls, and ends like a snapshot, is done.
const STABLE_POLLS: u32 = 3;

/// Parses `SIGUSR2`, `USR2`, `usr2` or `12`.
pub fn parse_signal(name: &str) -> Result<Signal> {
    let t = name.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n)
            .map_err(|_| CaptureError::Config(format!("{n} is not a signal number")));
    }
    let upper = t.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).map_err(|_| CaptureError::Config(format!("unknown signal `{name}`")))
}

/// Fails unless `pid` exists and we may signal it.
pub(crate) fn check_alive(pid: i32) -> Result<()> {
    kill(Pid::from_raw(pid), None).map_err(|e| CaptureError::NoSuchProcess {
        pid,
        reason: match e {
            nix::errno::Errno::ESRCH => "no such process".to_owned(),
            nix::errno::Errno::EPERM => "permission denied (it belongs to another user)".to_owned(),
            other => other.desc().to_owned(),
        },
    })
}

/// Fails if the process visibly does not catch `signal` (whose default action would end
/// it). Where `/proc` cannot tell, we trust the user.
pub(crate) fn check_handles(pid: i32, signal: Signal) -> Result<()> {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Ok(());
    };
    let Some(mask) = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
    else {
        return Ok(());
    };
    let bit = (signal as i32) - 1;
    if (0..64).contains(&bit) && mask & (1u64 << bit) == 0 {
        return Err(CaptureError::SignalNotHandled {
            pid,
            signal: signal.as_str().to_owned(),
        });
    }
    Ok(())
}

/// The command line of `pid`, from `/proc` (empty where unavailable).
pub(crate) fn command_line(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Where process `pid` writes its heap snapshots: its `--diagnostic-dir` (from its command
/// line or `NODE_OPTIONS`), else its working directory. `None` where `/proc` cannot tell.
///
/// The folder as this process reaches it: where the target has another root (heapsight in a
/// debug container, another mount namespace, or a chroot), its working directory is
/// `/proc/PID/cwd` and an absolute `--diagnostic-dir` is under `/proc/PID/root`; the path
/// `/proc/PID/cwd` reads as is the target's, not ours.
pub fn snapshot_dir_of(pid: i32) -> Option<PathBuf> {
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
    let mut args = command_line(pid);
    if let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) {
        for var in environ.split(|&b| b == 0) {
            if let Some(v) = var.strip_prefix(b"NODE_OPTIONS=") {
                args.extend(
                    String::from_utf8_lossy(v)
                        .split_whitespace()
                        .map(str::to_owned),
                );
            }
        }
    }
    let mut dir = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix("--diagnostic-dir=") {
            dir = Some(v.to_owned());
        } else if a == "--diagnostic-dir" {
            dir = it.next().cloned();
        }
    }
    let view = if same_root(pid) {
        RootView::Same { cwd }
    } else {
        RootView::Other { pid }
    };
    Some(view.resolve(dir.as_deref().map(Path::new)))
}

/// Whether `pid` has our root directory (same device and inode); `true` where that cannot
/// be read, as before namespaces (its cwd could not be read either then).
fn same_root(pid: i32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let id = |p: String| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    match (
        id("/proc/self/root".to_owned()),
        id(format!("/proc/{pid}/root")),
    ) {
        (Some(ours), Some(theirs)) => ours == theirs,
        _ => true,
    }
}

/// How the target's paths are reached from here.
#[derive(Debug)]
enum RootView {
    /// Its root is ours: its working directory as `/proc/PID/cwd` reads.
    Same { cwd: PathBuf },
    /// Another root: through `/proc/PID/cwd` and `/proc/PID/root`.
    Other { pid: i32 },
}

impl RootView {
    /// The snapshot folder: `dir` (absolute, or relative to the working directory), else the
    /// working directory.
    fn resolve(&self, dir: Option<&Path>) -> PathBuf {
        match self {
            RootView::Same { cwd } => dir.map_or_else(|| cwd.clone(), |d| cwd.join(d)),
            RootView::Other { pid } => {
                let cwd = PathBuf::from(format!("/proc/{pid}/cwd"));
                match dir {
                    None => cwd,
                    Some(d) => match d.strip_prefix("/") {
                        Ok(below_root) => {
                            PathBuf::from(format!("/proc/{pid}/root")).join(below_root)
                        }
                        Err(_) => cwd.join(d),
                    },
                }
            }
        }
    }
}

/// The Node version of `pid`, by asking its own executable.
pub(crate) async fn node_version(pid: i32) -> Option<String> {
    let exe = format!("/proc/{pid}/exe");
    let run = tokio::process::Command::new(&exe)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .ok()?
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && v.starts_with('v')).then_some(v)
}

/// The snapshot files now in `dir`.
fn snapshot_names(dir: &Path) -> Result<HashSet<String>> {
    let entries = std::fs::read_dir(dir).map_err(|source| CaptureError::Read {
        path: dir.to_owned(),
        source,
    })?;
    Ok(entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".heapsnapshot"))
        .collect())
}

/// Whether the file ends like a complete snapshot.
fn ends_complete(path: &Path, size: u64) -> bool {
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let from = size.saturating_sub(64);
    if f.seek(SeekFrom::Start(from)).is_err() {
        return false;
    }
    let mut tail = Vec::new();
    if f.read_to_end(&mut tail).is_err() {
        return false;
    }
    let mut end = JsonEnd::default();
    end.feed(&tail);
    end.is_complete()
}

/// A process that writes snapshots on a signal.
#[derive(Debug, Clone)]
pub(crate) struct SignalSource {
    pub pid: i32,
    pub signal: Signal,
    pub dir: PathBuf,
    /// Longest wait for the file to appear or grow.
    pub stall: Duration,
    /// Redact the file as it is moved in.
    pub redact: bool,
}

impl SignalSource {
    /// Signals the process and moves its new snapshot to `path`; returns its size.
    pub(crate) async fn take(
        &self,
        path: &Path,
        label: &str,
        phase: Phase,
        reporter: &dyn Reporter,
    ) -> Result<u64> {
        let before = snapshot_names(&self.dir)?;
        check_alive(self.pid)?;
        kill(Pid::from_raw(self.pid), self.signal).map_err(|e| CaptureError::NoSuchProcess {
            pid: self.pid,
            reason: e.desc().to_owned(),
        })?;
        let pid_tag = format!(".{}.", self.pid);
        let mut found: Option<PathBuf> = None;
        let mut last_size = 0u64;
        let mut same = 0u32;
        let mut last_change = Instant::now();
        loop {
            tokio::time::sleep(POLL).await;
            if found.is_none() {
                let now = snapshot_names(&self.dir)?;
                let mut new: Vec<&String> = now.difference(&before).collect();
                // Prefer the file that names our pid (Node: Heap.<date>.<time>.<pid>.<tid>.<seq>).
                new.sort_by_key(|n| (!n.contains(&pid_tag), (*n).clone()));
                found = new.first().map(|n| self.dir.join(n));
            }
            if let Some(file) = &found {
                let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
                if size != last_size {
                    last_size = size;
                    same = 0;
                    last_change = Instant::now();
                    reporter.snapshot_progress(phase, SnapshotProgress::Writing { bytes: size });
                } else {
                    same += 1;
                    if same >= STABLE_POLLS && size > 0 && ends_complete(file, size) {
                        let file = file.clone();
                        if self.redact {
                            return redact_into_place(file, path.to_owned(), label).await;
                        }
                        move_into_place(&file, path)?;
                        return Ok(size);
                    }
                }
            }
            if check_alive(self.pid).is_err() {
                if let Some(file) = &found {
                    let _ = std::fs::remove_file(file);
                }
                return Err(CaptureError::TargetExited {
                    status: "it is no longer running".to_owned(),
                    during: phase.name().to_owned(),
                    output: Vec::new(),
                });
            }
            if last_change.elapsed() > self.stall {
                return Err(match &found {
                    None => CaptureError::Timeout {
                        what: format!(
                            "process {} to write a .heapsnapshot file into {} after {} (is it \
                             started with --heapsnapshot-signal={}, and is that folder its \
                             working or --diagnostic-dir folder?)",
                            self.pid,
                            self.dir.display(),
                            self.signal.as_str(),
                            self.signal.as_str()
                        ),
                        after: self.stall,
                    },
                    Some(file) => CaptureError::SnapshotIncomplete {
                        label: label.to_owned(),
                        bytes: last_size,
                        reason: format!(
                            "{} stopped growing and does not end like a snapshot",
                            file.display()
                        ),
                    },
                });
            }
        }
    }
}

/// Streams the process's snapshot `from` through the redactor into `to.partial`, renames
/// that to `to` and removes `from` (whose strings must not stay behind on disk); returns the
/// redacted file's size. On a thread of its own: a large file takes seconds.
async fn redact_into_place(from: PathBuf, to: PathBuf, label: &str) -> Result<u64> {
    let label = label.to_owned();
    let work = tokio::task::spawn_blocking(move || -> Result<u64> {
        let partial = partial_of(&to);
        let write_err = |source| CaptureError::Write {
            path: partial.clone(),
            source,
        };
        let input = std::fs::File::open(&from).map_err(|source| CaptureError::Read {
            path: from.clone(),
            source,
        })?;
        let output = std::fs::File::create(&partial).map_err(write_err)?;
        let mut writer = std::io::BufWriter::with_capacity(1 << 20, output);
        let redacted = heapsight_redact::redact(std::io::BufReader::new(input), &mut writer)
            .map_err(|source| CaptureError::Redact {
                label: label.clone(),
                source,
            })
            .and_then(|stats| {
                let file = writer.into_inner().map_err(|e| write_err(e.into_error()))?;
                file.sync_all().map_err(write_err)?;
                std::fs::rename(&partial, &to).map_err(write_err)?;
                Ok(stats.bytes_out)
            });
        if redacted.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        // The unredacted file goes either way: it is what `--redact` keeps off the disk.
        let _ = std::fs::remove_file(&from);
        redacted
    });
    work.await
        .map_err(|e| CaptureError::Protocol(format!("the redaction stopped: {e}")))?
}

/// Renames `from` to `to`, or copies through `to.partial` when they are on different
/// filesystems.
fn move_into_place(from: &Path, to: &Path) -> Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            let partial = partial_of(to);
            let copy = std::fs::copy(from, &partial).and_then(|_| std::fs::rename(&partial, to));
            match copy {
                Ok(()) => {
                    let _ = std::fs::remove_file(from);
                    Ok(())
                }
                Err(source) => {
                    let _ = std::fs::remove_file(&partial);
                    Err(CaptureError::Write {
                        path: to.to_owned(),
                        source,
                    })
                }
            }
        }
        Err(source) => Err(CaptureError::Write {
            path: to.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_folder_of_a_process_with_our_root_is_its_own_path() {
        let view = RootView::Same {
            cwd: PathBuf::from("/srv/app"),
        };
        assert_eq!(view.resolve(None), Path::new("/srv/app"));
        assert_eq!(
            view.resolve(Some(Path::new("diag"))),
            Path::new("/srv/app/diag")
        );
        assert_eq!(
            view.resolve(Some(Path::new("/var/diag"))),
            Path::new("/var/diag")
        );
    }

    #[test]
    fn the_snapshot_folder_of_a_process_with_another_root_is_reached_through_proc() {
        let view = RootView::Other { pid: 7 };
        assert_eq!(view.resolve(None), Path::new("/proc/7/cwd"));
        assert_eq!(
            view.resolve(Some(Path::new("diag"))),
            Path::new("/proc/7/cwd/diag")
        );
        assert_eq!(
            view.resolve(Some(Path::new("/var/diag"))),
            Path::new("/proc/7/root/var/diag")
        );
    }

    #[test]
    fn our_own_process_has_our_root() {
        assert!(same_root(std::process::id() as i32));
        let dir = snapshot_dir_of(std::process::id() as i32).expect("our own /proc");
        assert_eq!(dir, std::env::current_dir().expect("cwd"));
    }

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("SIGUSR2").ok(), Some(Signal::SIGUSR2));
        assert_eq!(parse_signal("usr2").ok(), Some(Signal::SIGUSR2));
        assert_eq!(parse_signal("12").ok(), Some(Signal::SIGUSR2));
        assert!(parse_signal("SIGNOPE").is_err());
    }

    #[test]
    fn our_own_process_is_checked() {
        let me = std::process::id() as i32;
        assert!(check_alive(me).is_ok());
        // The test harness does not catch SIGUSR2.
        assert!(matches!(
            check_handles(me, Signal::SIGUSR2),
            Err(CaptureError::SignalNotHandled { .. })
        ));
    }
}
