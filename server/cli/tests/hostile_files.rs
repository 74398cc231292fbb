//! `heapsight stats` and `heapsight analyze` on files that are not what they claim, through the
//! real binary: an empty file and a 10 GiB sparse file are refused at once with a message that
//! names the file and the problem; three snapshots given in the wrong order, or a final one
//! from another run of the same program, are refused with the reason.

#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use heapsight_tests::support::{copy_fixture, fixture_snapshots, repo_root, snapshots_of};

/// Process start included: the files themselves are refused in milliseconds.
const LIMIT: Duration = Duration::from_secs(3);

fn heapsight(args: &[&Path]) -> (Output, Duration) {
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_heapsight"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("runs heapsight");
    (out, t0.elapsed())
}

/// A folder under the temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("heapsight-hostile-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `stats FILE` and `analyze FILE FILE FILE`; both must exit 2 within [`LIMIT`] with
/// an error naming the file and containing `fragment`.
fn both_commands_refuse(file: &Path, fragment: &str) {
    let stats: Vec<&Path> = vec![Path::new("stats"), file];
    let analyze: Vec<&Path> = vec![Path::new("analyze"), file, file, file];
    for args in [stats, analyze] {
        let (out, took) = heapsight(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!("{args:?}: {took:?}: {err}");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(took < LIMIT, "{args:?} took {took:?} to refuse the file");
        assert!(
            err.contains(&file.display().to_string()) && err.contains(fragment),
            "{args:?}: `{err}` lacks the file or `{fragment}`"
        );
        assert_eq!(
            err.matches(fragment).count(),
            1,
            "{args:?}: the reason once: {err}"
        );
    }
}

#[test]
fn an_empty_file_is_refused_with_its_name() {
    let dir = TempDir::new("empty");
    let file = dir.0.join("empty.heapsnapshot");
    File::create(&file).unwrap();
    both_commands_refuse(&file, "the file is empty");
}

#[test]
fn a_ten_gigabyte_sparse_file_is_refused_at_once() {
    let dir = TempDir::new("sparse");
    // A real snapshot's first bytes, then a 10 GiB hole (no disk used): zeros where the
    // node numbers should be.
    let file = dir.0.join("sparse.heapsnapshot");
    let mut f = File::create(&file).unwrap();
    f.write_all(
        b"{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"id\",\"self_size\",\
          \"edge_count\",\"detachedness\"],\"node_types\":[[\"hidden\",\"object\"],\"string\",\
          \"number\",\"number\",\"number\",\"number\"],\"edge_fields\":[\"type\",\"name_or_index\",\
          \"to_node\"],\"edge_types\":[[\"element\",\"property\"],\"string_or_number\",\"node\"]},\
          \"node_count\":1000000,\"edge_count\":1000000},\n\"nodes\":[",
    )
    .unwrap();
    f.set_len(10 << 30).unwrap();
    drop(f);
    both_commands_refuse(&file, "unexpected byte 0x00");
}

#[test]
fn snapshots_in_the_wrong_order_are_refused() {
    let t = fixture_snapshots("listener-leak", 20).expect("triple");
    let (out, _) = heapsight(&[Path::new("analyze"), &t.c, &t.b, &t.a]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the snapshots are not in order") && err.contains("baseline, target, final"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no findings are printed");
}

#[test]
fn a_final_snapshot_from_another_run_is_refused() {
    // Two runs of one program share their start-up ids: only the sampled identities of old
    // objects tell them apart.
    let one = fixture_snapshots("listener-leak", 20).expect("triple");
    let dir = TempDir::new("second-run");
    let app = copy_fixture("listener-leak", &dir.0).expect("copies the app");
    let other = snapshots_of(&app, &dir.0.join("snapshots"), 20).expect("second run");
    let (out, _) = heapsight(&[Path::new("analyze"), &one.a, &one.b, &other.c]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the final snapshot is not from the same process as the baseline"),
        "{err}"
    );
    // The same three files in one run are fine.
    let (ok, _) = heapsight(&[Path::new("analyze"), &one.a, &one.b, &one.c]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}
