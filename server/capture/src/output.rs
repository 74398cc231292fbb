//! The capture folder and its files: unique timestamped folders under
//! `.heapsight/captures/`, the `.heapsight/latest` pointer, atomic writes (temporary name,
//! then rename, so a watcher never reads half a file) and removal of everything a failed
//! capture wrote.
//!
//! Parts of a capture (worker threads, other processes) live in sub-folders; they are
//! registered through a [`Registrar`], a handle shared with the [`OutputDir`], so that code
//! running beside the load (which cannot borrow the folder) still has its files removed if
//! the capture fails.
//!
//! `.heapsight/latest` is a small text file, not a symlink: it works the same on every OS
//! and filesystem, and is replaced atomically. It holds one line, the newest capture
//! folder's path relative to `.heapsight/` (for example `captures/20250301T123005Z`);
//! [`read_latest`] resolves it.

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::error::{CaptureError, Result};
use crate::manifest::MANIFEST_FILE;
use crate::time::Utc;

/// The folder heapsight keeps its data in, at the project's root.
pub const HEAPSIGHT_DIR: &str = ".heapsight";
/// The pointer to the newest capture, inside [`HEAPSIGHT_DIR`].
pub const LATEST_FILE: &str = "latest";
/// The suffix of files still being written.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// `<root>/.heapsight/captures/<UTC timestamp>` for a capture starting at `now` (not
/// created; [`OutputDir::create_unique`] adds a suffix if it exists).
pub fn default_capture_dir(project_root: &Path, now: SystemTime) -> PathBuf {
    project_root
        .join(HEAPSIGHT_DIR)
        .join("captures")
        .join(Utc::from_system(now).compact())
}

/// The newest capture folder of the project at `project_root`, from `.heapsight/latest`.
pub fn read_latest(project_root: &Path) -> Result<PathBuf> {
    let base = project_root.join(HEAPSIGHT_DIR);
    let path = base.join(LATEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| CaptureError::Read {
        path: path.clone(),
        source,
    })?;
    let rel = text.trim();
    if rel.is_empty() {
        return Err(CaptureError::Read {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is empty"),
        });
    }
    // The file is data: it may only name a folder inside `.heapsight/`.
    let inside = Path::new(rel)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !inside {
        return Err(CaptureError::Read {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("`{rel}` is not a folder inside {}", base.display()),
            ),
        });
    }
    Ok(base.join(rel))
}

/// Points `.heapsight/latest` of `project_root` at `capture_dir`.
pub(crate) fn write_latest(project_root: &Path, capture_dir: &Path) -> Result<()> {
    let base = project_root.join(HEAPSIGHT_DIR);
    // Relative, so that the project can move; `read_latest` refuses anything else.
    let target = capture_dir
        .strip_prefix(&base)
        .map_err(|_| CaptureError::Write {
            path: base.join(LATEST_FILE),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is not inside {}", capture_dir.display(), base.display()),
            ),
        })?;
    let line = format!("{}\n", target.to_string_lossy());
    atomic_write(&base.join(LATEST_FILE), line.as_bytes())
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = partial_of(path);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        CaptureError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

/// `x/A.heapsnapshot` → `x/A.heapsnapshot.partial`.
pub(crate) fn partial_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(PARTIAL_SUFFIX);
    PathBuf::from(s)
}

/// A capture folder being filled. Unless [`OutputDir::commit`] is called, dropping it
/// removes every file registered (finished or partial, through it or a [`Registrar`]), the
/// sub-folders made for parts, and the folder if it made it.
#[derive(Debug)]
pub(crate) struct OutputDir {
    dir: PathBuf,
    created: bool,
    made: Arc<Mutex<Made>>,
    committed: bool,
}

/// What a capture wrote inside its folder, in order.
#[derive(Debug, Default)]
struct Made {
    files: Vec<PathBuf>,
    /// Sub-folders created, parents before children.
    dirs: Vec<PathBuf>,
}

fn lock(made: &Mutex<Made>) -> MutexGuard<'_, Made> {
    // A panic elsewhere while holding the lock leaves a list that is still valid.
    made.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Registers files and sub-folders of a capture folder, for removal with it if the capture
/// fails; cheap to clone, and usable while the [`OutputDir`] is borrowed elsewhere.
#[derive(Debug, Clone)]
pub(crate) struct Registrar {
    root: PathBuf,
    made: Arc<Mutex<Made>>,
}

impl Registrar {
    /// Creates the sub-folder `rel` (`threads/2`) and any missing folder above it, each
    /// registered; returns its path.
    pub(crate) fn dir(&self, rel: &str) -> Result<PathBuf> {
        let mut path = self.root.clone();
        for component in Path::new(rel).components() {
            let Component::Normal(name) = component else {
                return Err(CaptureError::Config(format!(
                    "`{rel}` is not a plain folder name inside the capture folder"
                )));
            };
            path.push(name);
            match std::fs::create_dir(&path) {
                Ok(()) => lock(&self.made).dirs.push(path.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => {}
                Err(source) => return Err(CaptureError::Write { path, source }),
            }
        }
        Ok(path)
    }

    /// The final path of `rel` (relative to the capture folder), registered for removal
    /// (with its partial twin) if the capture fails.
    pub(crate) fn file(&self, rel: &str) -> PathBuf {
        let path = self.root.join(rel);
        lock(&self.made).files.push(path.clone());
        path
    }
}

/// Files whose presence means a folder already holds a capture.
const CAPTURE_FILES: [&str; 4] = [
    "A.heapsnapshot",
    "B.heapsnapshot",
    "C.heapsnapshot",
    MANIFEST_FILE,
];

impl OutputDir {
    /// Uses `dir`, creating it (and its parents) if needed; refuses a folder that already
    /// holds a capture.
    pub(crate) fn create(dir: &Path) -> Result<OutputDir> {
        let existed = dir.is_dir();
        std::fs::create_dir_all(dir).map_err(|source| CaptureError::Write {
            path: dir.to_owned(),
            source,
        })?;
        if let Some(f) = CAPTURE_FILES.iter().find(|f| dir.join(f).exists()) {
            return Err(CaptureError::Config(format!(
                "{} already holds a capture ({f}); choose another folder",
                dir.display()
            )));
        }
        Ok(OutputDir {
            dir: dir.to_owned(),
            created: !existed,
            made: Arc::default(),
            committed: false,
        })
    }

    /// Creates `dir`, or `dir-2`, `dir-3`, ... if it exists (two captures in one second).
    pub(crate) fn create_unique(dir: &Path) -> Result<OutputDir> {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|source| CaptureError::Write {
                path: parent.to_owned(),
                source,
            })?;
        }
        for n in 1..1000 {
            let candidate = if n == 1 {
                dir.to_owned()
            } else {
                let mut s = dir.as_os_str().to_owned();
                s.push(format!("-{n}"));
                PathBuf::from(s)
            };
            match std::fs::create_dir(&candidate) {
                Ok(()) => {
                    return Ok(OutputDir {
                        dir: candidate,
                        created: true,
                        made: Arc::default(),
                        committed: false,
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(source) => {
                    return Err(CaptureError::Write {
                        path: candidate,
                        source,
                    })
                }
            }
        }
        Err(CaptureError::Config(format!(
            "too many captures named {}",
            dir.display()
        )))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// The final path of `name`, registered for removal (with its partial twin) if the
    /// capture fails.
    pub(crate) fn file(&mut self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        lock(&self.made).files.push(path.clone());
        path
    }

    /// A handle that registers files and sub-folders of this folder.
    pub(crate) fn registrar(&self) -> Registrar {
        Registrar {
            root: self.dir.clone(),
            made: Arc::clone(&self.made),
        }
    }

    /// Keeps everything: the capture succeeded.
    pub(crate) fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let made = lock(&self.made);
        for f in &made.files {
            let _ = std::fs::remove_file(f);
            let _ = std::fs::remove_file(partial_of(f));
        }
        // Children before parents; only empty ones, as below.
        for d in made.dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
        drop(made);
        if self.created {
            // Only if empty: never delete what someone else put there.
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "heapsight-capture-unit-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn failed_capture_leaves_nothing() {
        let root = scratch("cleanup");
        let dir = root.join("captures/x");
        {
            let mut out = OutputDir::create_unique(&dir).expect("created");
            let a = out.file("A.heapsnapshot");
            std::fs::write(&a, "{}").expect("write");
            std::fs::write(partial_of(&out.file("B.heapsnapshot")), "{").expect("write");
            let parts = out.registrar();
            let worker = parts.dir("threads/2").expect("sub-folder");
            assert!(worker.ends_with("threads/2"));
            std::fs::write(parts.file("threads/2/A.heapsnapshot"), "{}").expect("write");
            assert!(parts.dir("../escape").is_err());
        }
        assert!(!dir.exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn unique_names_and_latest() {
        let root = scratch("latest");
        let dir = default_capture_dir(&root, SystemTime::UNIX_EPOCH);
        assert!(dir.ends_with(".heapsight/captures/19700101T000000Z"));
        let first = OutputDir::create_unique(&dir).expect("first");
        let second = OutputDir::create_unique(&dir).expect("second");
        assert!(second.path().ends_with("19700101T000000Z-2"));
        write_latest(&root, second.path()).expect("latest");
        let text = std::fs::read_to_string(root.join(".heapsight/latest")).expect("read");
        assert_eq!(text, "captures/19700101T000000Z-2\n");
        assert_eq!(read_latest(&root).expect("resolves"), second.path());
        for outside in ["/etc\n", "../elsewhere\n", "captures/../../x\n"] {
            std::fs::write(root.join(".heapsight/latest"), outside).expect("write");
            let err = read_latest(&root).expect_err("outside .heapsight");
            assert!(err.to_string().contains("latest"), "{err}");
        }
        first.commit();
        second.commit();
        let _ = std::fs::remove_dir_all(&root);
    }
}
