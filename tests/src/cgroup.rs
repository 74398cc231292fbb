//! Real memory cgroups for the tests of the capture's cgroup reader: a child of the test's
//! own memory cgroup with a limit, removed when dropped (its processes are killed first, so
//! a failed assertion leaves nothing behind).
//!
//! Where the child goes is found here without the reader under test: the hierarchies'
//! usual mount points (`/sys/fs/cgroup/memory` for v1; `/sys/fs/cgroup/unified` or
//! `/sys/fs/cgroup` for v2, when it holds the memory controller) joined with the path
//! `/proc/self/cgroup` names, so the reader's own search of `mountinfo` is checked against
//! an independent answer. Creating one needs root and a writable hierarchy; when the
//! machine refuses, [`TempCgroup::create`] says why.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The cgroup interface of a [`TempCgroup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `memory.limit_in_bytes` under the v1 memory hierarchy.
    V1,
    /// `memory.max` under the unified hierarchy.
    V2,
}

/// A child memory cgroup with a limit, and the processes the test put in it.
pub struct TempCgroup {
    /// Its folder.
    pub dir: PathBuf,
    /// Its path as `/proc/PID/cgroup` names it (`/parent/heapsight-test-…`).
    pub path: String,
    /// Its interface.
    pub version: Version,
    children: Vec<Child>,
}

impl TempCgroup {
    /// A child of this process's memory cgroup under `version`, limited to `limit` bytes;
    /// `Err` says why the machine refused.
    pub fn create(version: Version, limit: u64) -> Result<TempCgroup, String> {
        let (mount, own) = own_memory_cgroup(version)?;
        let name = format!(
            "heapsight-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        if version == Version::V2 {
            // A v2 child has memory files only when its parent hands the controller down
            // (refused when the parent holds processes and is not the root: said below).
            let parent = mount.join(own.trim_start_matches('/'));
            let _ = std::fs::write(parent.join("cgroup.subtree_control"), "+memory");
        }
        let path = format!("{}/{name}", own.trim_end_matches('/'));
        let dir = mount.join(path.trim_start_matches('/'));
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        // From here the guard removes the folder, whatever fails next.
        let cgroup = TempCgroup {
            dir,
            path,
            version,
            children: Vec::new(),
        };
        let file = match version {
            Version::V1 => "memory.limit_in_bytes",
            Version::V2 => "memory.max",
        };
        cgroup.write(file, &limit.to_string())?;
        Ok(cgroup)
    }

    /// Writes `value` into the cgroup's `file`.
    pub fn write(&self, file: &str, value: &str) -> Result<(), String> {
        let path = self.dir.join(file);
        std::fs::write(&path, value)
            .map_err(|e| format!("write {value} to {}: {e}", path.display()))
    }

    /// Starts `node -e "setInterval(() => {}, 1000)"` and moves it into the cgroup; it is
    /// killed when the guard drops. Returns its pid.
    pub fn spawn_idle_node(&mut self) -> Result<u32, String> {
        let child = Command::new("node")
            .args(["-e", "setInterval(() => {}, 1000)"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start node: {e}"))?;
        let pid = child.id();
        self.children.push(child);
        self.write("cgroup.procs", &pid.to_string())?;
        Ok(pid)
    }

    /// The file `cgroup.procs` of the cgroup, for a process that moves itself in
    /// (`sh -c 'echo $$ > …/cgroup.procs; exec …'`).
    pub fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// A wrapper that runs the program and arguments put after it inside the cgroup: a shell
    /// that moves itself in, then execs them (so all their memory is charged there).
    pub fn exec_inside(&self) -> Vec<String> {
        vec![
            "sh".into(),
            "-c".into(),
            format!(
                r#"echo $$ > '{}' && exec "$@""#,
                self.procs_file().display()
            ),
            "sh".into(),
        ]
    }
}

impl Drop for TempCgroup {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // A process that moved itself in (a capture) may still be exiting: a few tries.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprintln!("could not remove the test cgroup {}", self.dir.display());
    }
}

/// The mount point of `version`'s memory hierarchy at its usual place, and this process's
/// cgroup in it as `/proc/self/cgroup` names it.
pub fn own_memory_cgroup(version: Version) -> Result<(PathBuf, String), String> {
    let text = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let line = text.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (id, controllers, path) = (f.next()?, f.next()?, f.next()?);
        let wanted = match version {
            Version::V1 => controllers.split(',').any(|c| c == "memory"),
            Version::V2 => id == "0" && controllers.is_empty(),
        };
        wanted.then(|| path.to_owned())
    });
    let own = line.ok_or_else(|| format!("/proc/self/cgroup has no {version:?} memory line"))?;
    let mount = match version {
        Version::V1 => PathBuf::from("/sys/fs/cgroup/memory"),
        Version::V2 => ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .map(PathBuf::from)
            .find(|m| has_memory_controller(m))
            .ok_or("no unified hierarchy with the memory controller at /sys/fs/cgroup")?,
    };
    if !mount.join(own.trim_start_matches('/')).is_dir() {
        return Err(format!("{} holds no {own}", mount.display()));
    }
    Ok((mount, own))
}

fn has_memory_controller(mount: &Path) -> bool {
    std::fs::read_to_string(mount.join("cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"))
}
