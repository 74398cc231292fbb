//! A process's memory limit and current use, read from its cgroup: the limit a container
//! (or a systemd unit) sets is the one a leak reaches first, so a capture records it and the
//! analysis projects findings' growth toward it.
//!
//! `/proc/PID/cgroup` names the process's cgroup in each hierarchy: under cgroup v1 the line
//! of the `memory` controller (`4:memory:/docker/abc`), under v2 the unified line
//! (`0::/system.slice/app.service`). When both exist (a hybrid system), the v1 `memory` line
//! wins: the memory controller sits on one hierarchy only, and on a hybrid system that is v1.
//! Where the hierarchy is mounted is read from `/proc/PID/mountinfo`, never assumed
//! (`/sys/fs/cgroup/memory`, `/sys/fs/cgroup`, `/sys/fs/cgroup/unified` all occur): the
//! cgroup's folder is the mount point joined with the cgroup path less the mount's own
//! root (a container without a cgroup namespace mounts `/docker/abc` as its root).
//!
//! The limit is the lowest one set on the way up to the mount's root, as the kernel
//! enforces every ancestor's: v2's `memory.max` (`max`: none), v1's `memory.limit_in_bytes`
//! (a value near `i64::MAX`, such as 9223372036854771712, means none). The use is the
//! process's own cgroup's `memory.current` (v2) or `memory.usage_in_bytes` (v1).
//!
//! Reading another process's cgroup from a debug container (or from the host), the mount
//! points in its `mountinfo` are its own mount namespace's: they are reached through a root
//! prefix, `/proc/PID/root`, which [`memory_of`] picks when the target's mount namespace is
//! not ours, and [`memory_of_in`] takes explicitly.
//!
//! The text parsers ([`locate`], [`parse_limit`], [`parse_usage`]) do no I/O; they are
//! tested on the files' text.

use std::io;
use std::path::{Path, PathBuf};

use crate::manifest::MemoryLimit;

/// Which cgroup interface the memory controller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// The per-controller hierarchies (`memory.limit_in_bytes`).
    V1,
    /// The unified hierarchy (`memory.max`).
    V2,
}

impl CgroupVersion {
    /// `v1` or `v2`, as people name them.
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "v1",
            CgroupVersion::V2 => "v2",
        }
    }
}

/// A process's memory as its cgroup accounts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMemory {
    /// The lowest limit of the cgroup and its ancestors, in bytes; `None`: no limit.
    pub limit: Option<u64>,
    /// The cgroup's current use in bytes (every process in it, page cache included), when
    /// the kernel reports it (not for a hierarchy's root).
    pub usage: Option<u64>,
    /// The interface it was read from.
    pub version: CgroupVersion,
    /// The process's cgroup, as `/proc/PID/cgroup` names it (`/docker/abc`).
    pub path: String,
    /// The cgroup whose limit is [`CgroupMemory::limit`]: the process's own or an ancestor.
    pub limit_path: Option<String>,
}

impl CgroupMemory {
    /// Where the limit comes from, in words: `cgroup v1 /docker/abc`.
    pub fn source(&self) -> String {
        let path = self.limit_path.as_deref().unwrap_or(&self.path);
        format!("cgroup {} {path}", self.version.as_str())
    }
}

/// Why a process's cgroup memory could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// A file could not be read (no such process, no permission, no `/proc`).
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// `/proc/PID/cgroup` names no cgroup with a memory controller.
    #[error("the process is in no memory cgroup (no `memory` line and no cgroup v2 line)")]
    NoMemoryCgroup,
    /// The hierarchy holding the cgroup is not mounted where the process can see it.
    #[error("no cgroup {} mount holding {path} in the process's mountinfo", version.as_str())]
    NotMounted {
        /// The interface looked for.
        version: CgroupVersion,
        /// The process's cgroup.
        path: String,
    },
    /// The cgroup's folder has neither the limit file nor the use file.
    #[error("{} has no memory files (the memory controller is not enabled there)", dir.display())]
    NoMemoryController {
        /// The cgroup's folder.
        dir: PathBuf,
    },
    /// A file's content is not what the kernel writes.
    #[error("{}: unexpected content `{text}`", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Its content, trimmed.
        text: String,
    },
}

/// Where a process's memory cgroup lives: the result of [`locate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The interface.
    pub version: CgroupVersion,
    /// The cgroup as `/proc/PID/cgroup` names it.
    pub path: String,
    /// The mount point of its hierarchy, in the process's mount namespace.
    pub mount_point: PathBuf,
    /// The cgroup's folder under the mount point, relative (empty: the mount's root).
    pub relative: PathBuf,
}

/// The memory of process `pid`'s cgroup. Its mount points are read through `/proc/PID/root`
/// when it lives in another mount namespace than ours (a container seen from the host or a
/// debug container), else directly.
pub fn memory_of(pid: i32) -> Result<CgroupMemory, CgroupError> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let ns = |p: &Path| std::fs::read_link(p.join("ns/mnt")).ok();
    let ours = ns(Path::new("/proc/self"));
    let root = match (ours, ns(&proc)) {
        (Some(a), Some(b)) if a != b => proc.join("root"),
        _ => PathBuf::from("/"),
    };
    memory_of_in(pid, &root)
}

/// The memory of process `pid`'s cgroup, its mount points reached under `root` (`/`, or
/// `/proc/PID/root` for a process in another mount namespace).
pub fn memory_of_in(pid: i32, root: &Path) -> Result<CgroupMemory, CgroupError> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let cgroup = read(&proc.join("cgroup"))?;
    let mountinfo = read(&proc.join("mountinfo"))?;
    let located = locate(&cgroup, &mountinfo)?;
    let mount = under(root, &located.mount_point);
    let dir = mount.join(&located.relative);
    let (limit_file, usage_file) = match located.version {
        CgroupVersion::V1 => ("memory.limit_in_bytes", "memory.usage_in_bytes"),
        CgroupVersion::V2 => ("memory.max", "memory.current"),
    };
    let own_limit = read_value(&dir.join(limit_file), parse_limit)?;
    let usage = read_value(&dir.join(usage_file), parse_usage)?;
    if own_limit.is_none() && usage.is_none() && !located.relative.as_os_str().is_empty() {
        return Err(CgroupError::NoMemoryController { dir });
    }
    let (limit, limit_path) = lowest_limit(&mount, &located, limit_file)?;
    Ok(CgroupMemory {
        limit,
        usage,
        version: located.version,
        path: located.path,
        limit_path,
    })
}

/// The limit a capture records for process `pid`, when its cgroup sets one. `exec_path`:
/// for a process we attached to, the executable it reported (`process.argv[0]`); its pid
/// may be another PID namespace's (a container's inspector port forwarded to loopback), so
/// the limit is read only when our `/proc/PID/exe` is that same file.
pub(crate) fn recorded_limit(pid: i64, exec_path: Option<&str>) -> Option<MemoryLimit> {
    let pid = i32::try_from(pid).ok().filter(|p| *p > 0)?;
    if let Some(exec_path) = exec_path {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        if exe != Path::new(exec_path) {
            return None;
        }
    }
    let memory = memory_of(pid).ok()?;
    Some(MemoryLimit {
        bytes: memory.limit?,
        source: memory.source(),
    })
}

/// Finds the memory cgroup in the text of `/proc/PID/cgroup` and where its hierarchy is
/// mounted in the text of `/proc/PID/mountinfo`.
pub fn locate(cgroup: &str, mountinfo: &str) -> Result<Located, CgroupError> {
    let (version, path) = memory_line(cgroup).ok_or(CgroupError::NoMemoryCgroup)?;
    let not_mounted = || CgroupError::NotMounted {
        version,
        path: path.to_owned(),
    };
    mountinfo
        .lines()
        .filter_map(Mount::parse)
        .filter(|m| m.holds(version))
        .find_map(|m| {
            let relative = relative_to(path, &m.root)?;
            Some(Located {
                version,
                path: path.to_owned(),
                mount_point: PathBuf::from(m.point),
                relative,
            })
        })
        .ok_or_else(not_mounted)
}

/// A limit file's value: `max` (v2) or a value at `i64::MAX` rounded down to a page (v1's
/// "unlimited", 9223372036854771712) is no limit.
pub fn parse_limit(text: &str) -> Option<Option<u64>> {
    let text = text.trim();
    if text == "max" {
        return Some(None);
    }
    // v1 writes PAGE_COUNTER_MAX pages in bytes: i64::MAX less under one page (64 KiB at
    // most); nothing real is set that high.
    let value: u64 = text.parse().ok()?;
    Some((value < (i64::MAX as u64) - (1 << 16)).then_some(value))
}

/// A use file's value in bytes.
pub fn parse_usage(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The memory controller's line of `/proc/PID/cgroup`: v1's `memory` line first (on a
/// hybrid system the controller is there), else v2's `0::` line.
fn memory_line(cgroup: &str) -> Option<(CgroupVersion, &str)> {
    let lines = || {
        cgroup.lines().filter_map(|l| {
            let mut fields = l.splitn(3, ':');
            Some((fields.next()?, fields.next()?, fields.next()?))
        })
    };
    let v1 = lines()
        .find(|(_, controllers, _)| controllers.split(',').any(|c| c == "memory"))
        .map(|(_, _, path)| (CgroupVersion::V1, path));
    v1.or_else(|| {
        lines()
            .find(|(id, controllers, _)| *id == "0" && controllers.is_empty())
            .map(|(_, _, path)| (CgroupVersion::V2, path))
    })
}

/// One line of `mountinfo`, the fields this module reads.
struct Mount {
    /// The folder of the filesystem mounted (a cgroup path for a cgroup mount).
    root: String,
    /// Where it is mounted.
    point: String,
    fstype: String,
    super_options: String,
}

impl Mount {
    /// `36 35 98:0 /root /point rw,noatime master:1 - cgroup cgroup rw,memory`: optional
    /// fields run up to the `-`.
    fn parse(line: &str) -> Option<Mount> {
        let (left, right) = line.split_once(" - ")?;
        let mut left = left.split(' ');
        let root = unescape(left.nth(3)?);
        let point = unescape(left.next()?);
        let mut right = right.split(' ');
        let fstype = right.next()?.to_owned();
        let super_options = right.nth(1).unwrap_or("").to_owned();
        Some(Mount {
            root,
            point,
            fstype,
            super_options,
        })
    }

    /// Whether this mount is the hierarchy of the memory controller under `version`.
    fn holds(&self, version: CgroupVersion) -> bool {
        match version {
            CgroupVersion::V1 => {
                self.fstype == "cgroup" && self.super_options.split(',').any(|o| o == "memory")
            }
            CgroupVersion::V2 => self.fstype == "cgroup2",
        }
    }
}

/// `mountinfo` writes space, tab, newline and backslash as octal escapes (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let d = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(d, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup `path` relative to a mount of the hierarchy at `root`; `None` when the mount
/// does not hold it (a bind mount of another cgroup).
fn relative_to(path: &str, root: &str) -> Option<PathBuf> {
    let rest = Path::new(path).strip_prefix(root).ok()?;
    // `..` would leave the mount: a cgroup outside our cgroup namespace.
    let inside = rest
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    inside.then(|| rest.to_path_buf())
}

/// `point` (absolute in the process's mount namespace) under `root`.
fn under(root: &Path, point: &Path) -> PathBuf {
    root.join(point.strip_prefix("/").unwrap_or(point))
}

/// The lowest limit from the cgroup up to its mount's root, with the cgroup that sets it:
/// every ancestor's limit applies too.
fn lowest_limit(
    mount: &Path,
    located: &Located,
    limit_file: &str,
) -> Result<(Option<u64>, Option<String>), CgroupError> {
    let mut lowest: Option<(u64, PathBuf)> = None;
    let mut relative = Some(located.relative.as_path());
    while let Some(rel) = relative {
        if let Some(limit) = read_value(&mount.join(rel).join(limit_file), parse_limit)?.flatten() {
            if lowest.as_ref().is_none_or(|(low, _)| limit < *low) {
                lowest = Some((limit, rel.to_path_buf()));
            }
        }
        relative = rel.parent();
    }
    Ok(match lowest {
        Some((limit, rel)) => {
            // The same cgroup path as `/proc/PID/cgroup` spells it, cut to the ancestor.
            let cut = located.relative.components().count() - rel.components().count();
            let mut path = Path::new(&located.path);
            for _ in 0..cut {
                path = path.parent().unwrap_or(path);
            }
            (Some(limit), Some(path.display().to_string()))
        }
        None => (None, None),
    })
}

fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A value file read and parsed; `None` when the file does not exist (a hierarchy's root
/// has no limit file).
fn read_value<T>(path: &Path, parse: fn(&str) -> Option<T>) -> Result<Option<T>, CgroupError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CgroupError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    match parse(&text) {
        Some(value) => Ok(Some(value)),
        None => Err(CgroupError::Malformed {
            path: path.to_path_buf(),
            text: text.trim().to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_CGROUP: &str = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/354a\n\
                             3:cpuset:/\n0::/\n";
    const V1_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn v1_memory_line_wins_on_a_hybrid_system() {
        let got = locate(V1_CGROUP, V1_MOUNTINFO).expect("located");
        assert_eq!(
            got,
            Located {
                version: CgroupVersion::V1,
                path: "/process_api/354a".into(),
                mount_point: "/sys/fs/cgroup/memory".into(),
                relative: "process_api/354a".into(),
            }
        );
    }

    #[test]
    fn v2_unified_line_and_its_mount_found_from_mountinfo() {
        let cgroup = "0::/system.slice/app.service\n";
        let mountinfo = "\
22 1 0:21 / /proc rw - proc proc rw
28 22 0:26 / /run/cg\\040two rw,nosuid shared:4 master:2 - cgroup2 cgroup2 rw,nsdelegate
";
        let got = locate(cgroup, mountinfo).expect("located");
        assert_eq!(got.version, CgroupVersion::V2);
        assert_eq!(got.mount_point, PathBuf::from("/run/cg two"));
        assert_eq!(got.relative, PathBuf::from("system.slice/app.service"));
    }

    #[test]
    fn a_container_mounting_its_own_cgroup_as_root() {
        // Docker on v1 without a cgroup namespace: the mount's root is the container's.
        let cgroup = "11:memory:/docker/abc\n";
        let mountinfo = "\
700 690 0:40 /docker/other /elsewhere ro - cgroup cgroup rw,memory
701 690 0:40 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory
";
        let got = locate(cgroup, mountinfo).expect("located");
        assert_eq!(got.mount_point, PathBuf::from("/sys/fs/cgroup/memory"));
        assert_eq!(got.relative, PathBuf::new());
        // A cgroup namespace: the process is at the namespace's root.
        let got = locate(
            "0::/\n",
            "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        )
        .expect("located");
        assert_eq!(got.relative, PathBuf::new());
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            locate("3:cpu:/\n", V1_MOUNTINFO),
            Err(CgroupError::NoMemoryCgroup)
        ));
        assert!(matches!(
            locate(
                "4:memory:/a\n",
                "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
            ),
            Err(CgroupError::NotMounted { .. })
        ));
        // Outside the namespace's root, or not under a bind mount's root.
        assert!(matches!(
            locate(
                "0::/../../x\n",
                "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
            ),
            Err(CgroupError::NotMounted { .. })
        ));
        assert!(matches!(
            locate(
                "0::/a\n",
                "1 0 0:1 /b /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
            ),
            Err(CgroupError::NotMounted { .. })
        ));
        assert!(locate("garbage", "garbage").is_err());
        assert!(locate("", "").is_err());
    }

    #[test]
    fn limits_and_uses() {
        assert_eq!(parse_limit("max\n"), Some(None));
        assert_eq!(parse_limit("9223372036854771712\n"), Some(None));
        assert_eq!(parse_limit("268435456\n"), Some(Some(256 << 20)));
        assert_eq!(parse_limit("lots"), None);
        assert_eq!(parse_limit("-1"), None);
        assert_eq!(parse_usage("4919296\n"), Some(4_919_296));
        assert_eq!(parse_usage(""), None);
    }

    #[test]
    fn the_source_names_the_cgroup_that_sets_the_limit() {
        let m = CgroupMemory {
            limit: Some(1),
            usage: None,
            version: CgroupVersion::V2,
            path: "/a/b".into(),
            limit_path: Some("/a".into()),
        };
        assert_eq!(m.source(), "cgroup v2 /a");
    }
}
