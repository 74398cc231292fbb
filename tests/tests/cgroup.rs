//! The capture's cgroup reader on real cgroups of this machine: a child memory cgroup made
//! with a 256 MiB limit and an idle `node` moved into it is read back as 256 MiB, under v1
//! and under v2 where the unified hierarchy has the memory controller; through a
//! `/proc/PID/root` prefix, as from a debug container; and this process's own cgroup
//! against its files under `/sys`. Making a cgroup needs root and a writable hierarchy:
//! where the machine refuses, the test says why and still checks the process's own
//! reading. Needs `node` on the PATH.

use std::path::Path;

use heapsight_capture::cgroup::{memory_of, memory_of_in, parse_limit, CgroupVersion};
use heapsight_tests::cgroup::{own_memory_cgroup, TempCgroup, Version};

const LIMIT: u64 = 256 << 20;

#[test]
fn a_limit_set_on_a_real_cgroup_is_read_for_a_process_in_it() {
    let mut made = 0;
    for version in [Version::V1, Version::V2] {
        let mut cgroup = match TempCgroup::create(version, LIMIT) {
            Ok(cgroup) => cgroup,
            Err(why) => {
                eprintln!("no {version:?} test cgroup on this machine: {why}");
                continue;
            }
        };
        let pid = cgroup
            .spawn_idle_node()
            .unwrap_or_else(|e| panic!("{version:?}: {e}"));
        let pid = i32::try_from(pid).expect("a pid");
        let memory = memory_of(pid).unwrap_or_else(|e| panic!("{version:?}: {e}"));
        assert_eq!(memory.limit, Some(LIMIT), "{version:?}: {memory:?}");
        assert_eq!(memory.path, cgroup.path, "{version:?}");
        assert_eq!(memory.limit_path.as_deref(), Some(cgroup.path.as_str()));
        let expected = match version {
            Version::V1 => CgroupVersion::V1,
            Version::V2 => CgroupVersion::V2,
        };
        assert_eq!(memory.version, expected);
        assert!(
            memory.usage.is_some_and(|u| u <= LIMIT),
            "{version:?}: {memory:?}"
        );
        assert_eq!(
            memory.source(),
            format!("cgroup {} {}", expected.as_str(), cgroup.path)
        );
        // As from a debug container: the mounts reached under the target's own root.
        let root = format!("/proc/{pid}/root");
        let through = memory_of_in(pid, Path::new(&root)).expect("read through its root");
        assert_eq!(through.limit, Some(LIMIT));
        assert_eq!(through.path, memory.path);
        // A lower limit on the way up is the one that applies: a grandchild inherits it.
        let inner = cgroup.dir.join("inner");
        std::fs::create_dir(&inner).expect("mkdir a grandchild");
        let moved = std::fs::write(inner.join("cgroup.procs"), pid.to_string());
        let inherited = moved.as_ref().ok().map(|()| memory_of(pid));
        // Back to the child before the grandchild goes (a cgroup with a process cannot).
        cgroup
            .write("cgroup.procs", &pid.to_string())
            .expect("move back");
        std::fs::remove_dir(&inner).expect("rmdir the grandchild");
        match (moved, inherited) {
            (Ok(()), Some(Ok(m))) => {
                assert_eq!(m.limit, Some(LIMIT), "{m:?}");
                assert_eq!(m.path, format!("{}/inner", cgroup.path));
                assert_eq!(m.limit_path.as_deref(), Some(cgroup.path.as_str()));
            }
            (Ok(()), other) => panic!("{version:?}: the grandchild read {other:?}"),
            // v2 refuses processes in a cgroup whose children take controllers; said, and
            // the child's own reading above stands.
            (Err(e), _) => eprintln!("{version:?}: no process in a grandchild: {e}"),
        }
        made += 1;
    }
    if made == 0 {
        eprintln!(
            "this machine made no memory cgroup for the test: the process's own cgroup is \
             checked against its files instead"
        );
        own_reading_matches_the_files();
    }
}

#[test]
fn this_process_reads_its_own_cgroup_files() {
    own_reading_matches_the_files();
}

/// This process's reading against its cgroup's files under `/sys`, found without the
/// reader (the usual mount points).
fn own_reading_matches_the_files() {
    let memory = memory_of(i32::try_from(std::process::id()).expect("a pid"))
        .expect("this process's memory cgroup");
    let version = match memory.version {
        CgroupVersion::V1 => Version::V1,
        CgroupVersion::V2 => Version::V2,
    };
    let (mount, own) = own_memory_cgroup(version).expect("its cgroup under /sys");
    assert_eq!(memory.path, own);
    let dir = mount.join(own.trim_start_matches('/'));
    let file = match version {
        Version::V1 => "memory.limit_in_bytes",
        Version::V2 => "memory.max",
    };
    if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
        let own_limit = parse_limit(&text).expect("a limit file's value");
        // The reading is the lowest on the way up: never above the cgroup's own.
        match (own_limit, memory.limit) {
            (Some(own), Some(read)) => assert!(read <= own, "{read} above {own}"),
            (Some(own), None) => panic!("{} says {own}, the reader no limit", dir.display()),
            (None, _) => {}
        }
    }
    eprintln!(
        "this process: {} limit {:?}, use {:?}",
        memory.source(),
        memory.limit,
        memory.usage
    );
}
