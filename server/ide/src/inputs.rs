//! What to analyze: the newest complete capture under the snapshot folder, three snapshots
//! placed directly in it, or a JSON report from `heapsight analyze --format json`. The
//! server and `heapsight analyze` both resolve their inputs here, so one folder gives one
//! answer.
//!
//! The three snapshots of a folder, in order (baseline, target, final): a capture's own
//! `A`, `B`, `C.heapsnapshot` when all three are there; else the folder's three
//! `.heapsnapshot` files by name, when name order is also modification-time order (or
//! they are named `A`, `B`, `C`), else by modification time, then name. Any other number
//! of snapshots is an error that says so.

use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use crate::error::IdeError;

/// The manifest's file name inside a capture folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// One thing to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Baseline, target and final snapshots of one process.
    Snapshots {
        /// A: after warm-up.
        a: PathBuf,
        /// B: after the workload.
        b: PathBuf,
        /// C: after idle and GC.
        c: PathBuf,
        /// The capture folder holding `manifest.json`, when there is one.
        capture: Option<PathBuf>,
    },
    /// Findings from a JSON report, without snapshots.
    Report(PathBuf),
}

impl Input {
    /// The files whose identity (path, size, modification time) keys the cache.
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            Input::Snapshots { a, b, c, .. } => vec![a.clone(), b.clone(), c.clone()],
            Input::Report(path) => vec![path.clone()],
        }
    }

    /// A short description for messages: the capture folder or the files.
    pub fn describe(&self) -> String {
        match self {
            Input::Snapshots {
                capture: Some(dir), ..
            } => dir.display().to_string(),
            Input::Snapshots { c, .. } => c
                .parent()
                .map_or_else(|| c.display().to_string(), |p| p.display().to_string()),
            Input::Report(path) => path.display().to_string(),
        }
    }
}

/// The newest thing to analyze under `snapshot_dir`: the capture `latest` names, else the
/// newest complete capture in `captures/`, else three `.heapsnapshot` files in the folder,
/// else the newest `.json` report in it.
pub fn discover(snapshot_dir: &Path) -> Result<Input, IdeError> {
    if let Some(capture) = latest(snapshot_dir) {
        return capture_input(&capture);
    }
    if let Some(input) = triple_in(snapshot_dir)? {
        return Ok(input);
    }
    if let Some(report) = newest_report(snapshot_dir) {
        return Ok(Input::Report(report));
    }
    Err(IdeError::NothingToLoad(format!(
        "no capture, snapshots or report in {} (run `heapsight capture -- node app.js`, or put A/B/C .heapsnapshot files there)",
        snapshot_dir.display()
    )))
}

/// The latest capture under `snapshot_dir`: the one its `latest` file names, else the
/// newest complete capture in `captures/` (by its manifest's modification time).
pub fn latest(snapshot_dir: &Path) -> Option<PathBuf> {
    latest_capture(snapshot_dir).or_else(|| newest_capture(snapshot_dir))
}

/// What explicit paths name: one folder (a capture, three snapshots, or a snapshot folder
/// such as `.heapsight`: see [`discover`]), one `.json` report, or three snapshot files
/// (three files of one capture folder bring its manifest too).
pub fn from_paths(paths: &[PathBuf]) -> Result<Input, IdeError> {
    match paths {
        [a, b, c] => {
            let capture = a
                .parent()
                .filter(|dir| {
                    b.parent() == Some(*dir)
                        && c.parent() == Some(*dir)
                        && dir.join(MANIFEST_FILE).is_file()
                })
                .map(Path::to_path_buf);
            Ok(Input::Snapshots {
                a: a.clone(),
                b: b.clone(),
                c: c.clone(),
                capture,
            })
        }
        [dir] if dir.is_dir() => {
            if dir.join(MANIFEST_FILE).is_file() {
                return capture_input(dir);
            }
            triple_in(dir)?.map_or_else(|| discover(dir), Ok)
        }
        [file] if file.is_file() => Ok(Input::Report(file.clone())),
        [missing] => Err(IdeError::NothingToLoad(format!(
            "{} does not exist",
            missing.display()
        ))),
        _ => Err(IdeError::NothingToLoad(
            "give one folder, one JSON report, or three snapshots (baseline, target, final)".into(),
        )),
    }
}

/// The capture folder `<snapshot_dir>/latest` names, when it exists inside `snapshot_dir`:
/// the file is data, so an absolute path or one climbing out with `..` names nothing.
pub fn latest_capture(snapshot_dir: &Path) -> Option<PathBuf> {
    let line = std::fs::read_to_string(snapshot_dir.join("latest")).ok()?;
    if !names_inside(line.trim()) {
        return None;
    }
    let named = Path::new(line.trim());
    let dir = snapshot_dir.join(named);
    dir.join(MANIFEST_FILE).is_file().then_some(dir)
}

/// Whether `named`, a path read from a file (`latest`, a manifest's part folder), names
/// something inside the folder it is relative to: not empty, not absolute, no `..`.
pub(crate) fn names_inside(named: &str) -> bool {
    !named.is_empty()
        && Path::new(named)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn newest_capture(snapshot_dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(snapshot_dir.join("captures")).ok()?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(MANIFEST_FILE).is_file())
        .max_by_key(|p| (modified(&p.join(MANIFEST_FILE)), p.clone()))
}

pub(crate) fn capture_input(dir: &Path) -> Result<Input, IdeError> {
    match snapshots_in(dir)? {
        Some([a, b, c]) => Ok(Input::Snapshots {
            a,
            b,
            c,
            capture: Some(dir.to_path_buf()),
        }),
        None => Err(IdeError::NothingToLoad(format!(
            "the capture {} does not hold three snapshots",
            dir.display()
        ))),
    }
}

/// The three snapshots directly in `dir`, without its manifest.
fn triple_in(dir: &Path) -> Result<Option<Input>, IdeError> {
    Ok(snapshots_in(dir)?.map(|[a, b, c]| Input::Snapshots {
        a,
        b,
        c,
        capture: None,
    }))
}

/// The three snapshots of `dir` in order (baseline, target, final), by the rule in this
/// module's doc: none when it has no `.heapsnapshot` file, an error when it has other than
/// three and not a capture's `A`, `B`, `C`.
pub fn snapshots_in(dir: &Path) -> Result<Option<[PathBuf; 3]>, IdeError> {
    let named = ["A", "B", "C"].map(|label| dir.join(format!("{label}.heapsnapshot")));
    if named.iter().all(|p| p.is_file()) {
        return Ok(Some(named));
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "heapsnapshot"))
        .collect();
    match found.len() {
        0 => Ok(None),
        3 => {
            found.sort();
            let by_name_is_by_time = found.windows(2).all(|w| modified(&w[0]) <= modified(&w[1]));
            if !by_name_is_by_time {
                // Names that do not follow the order taken (`10` before `9`, copies that
                // kept no time): the time the files were written decides.
                found.sort_by_key(|p| (modified(p), p.clone()));
            }
            Ok(Some([found[0].clone(), found[1].clone(), found[2].clone()]))
        }
        n => Err(IdeError::NothingToLoad(format!(
            "{} holds {n} .heapsnapshot files; put exactly three there (baseline, target, final), or capture with `heapsight capture`",
            dir.display()
        ))),
    }
}

fn newest_report(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .filter(|p| p.file_name().is_some_and(|n| n != MANIFEST_FILE))
        .max_by_key(|p| (modified(p), p.clone()))
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_names_only_folders_inside() {
        let base = std::env::temp_dir().join(format!("heapsight-latest-{}", std::process::id()));
        let snapshot_dir = base.join("ws/.heapsight");
        let inside = snapshot_dir.join("captures/one");
        let outside = base.join("elsewhere");
        for dir in [&inside, &outside] {
            std::fs::create_dir_all(dir).expect("mkdir");
            std::fs::write(dir.join(MANIFEST_FILE), "{}").expect("manifest");
        }
        let latest = |line: &str| {
            std::fs::write(snapshot_dir.join("latest"), line).expect("latest");
            latest_capture(&snapshot_dir)
        };
        assert_eq!(latest("captures/one\n"), Some(inside.clone()));
        assert_eq!(
            latest("./captures/one"),
            Some(snapshot_dir.join("./captures/one"))
        );
        assert_eq!(latest(&outside.display().to_string()), None);
        assert_eq!(latest("../../elsewhere"), None);
        assert_eq!(latest("captures/../../../elsewhere"), None);
        assert_eq!(latest(""), None);
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn three_snapshots_go_by_name_unless_time_says_otherwise() {
        let dir = std::env::temp_dir().join(format!("heapsight-order-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let at = |secs: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let write = |name: &str, secs: u64| {
            let path = dir.join(name);
            let file = std::fs::File::create(&path).expect("create");
            file.set_modified(at(secs)).expect("set mtime");
            path
        };
        let names = |found: Option<[PathBuf; 3]>| -> Vec<String> {
            found
                .expect("three")
                .iter()
                .map(|p| {
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        };
        // Names that sort as they were taken: by name, whatever the ties.
        write("s1.heapsnapshot", 100);
        write("s2.heapsnapshot", 100);
        write("s3.heapsnapshot", 200);
        assert_eq!(
            names(snapshots_in(&dir).expect("ok")),
            ["s1.heapsnapshot", "s2.heapsnapshot", "s3.heapsnapshot"]
        );
        // `10` sorts before `9` by name: the time they were written decides.
        for name in ["s1", "s2", "s3"] {
            std::fs::remove_file(dir.join(format!("{name}.heapsnapshot"))).expect("rm");
        }
        write("8.heapsnapshot", 100);
        write("9.heapsnapshot", 200);
        write("10.heapsnapshot", 300);
        assert_eq!(
            names(snapshots_in(&dir).expect("ok")),
            ["8.heapsnapshot", "9.heapsnapshot", "10.heapsnapshot"]
        );
        // A capture's own names win over any time.
        for (label, secs) in [("A", 900), ("B", 800), ("C", 700)] {
            write(&format!("{label}.heapsnapshot"), secs);
        }
        assert_eq!(
            names(snapshots_in(&dir).expect("ok")),
            ["A.heapsnapshot", "B.heapsnapshot", "C.heapsnapshot"]
        );
        std::fs::remove_file(dir.join("A.heapsnapshot")).expect("rm");
        assert!(
            snapshots_in(&dir).is_err(),
            "five snapshots are not a triple"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
