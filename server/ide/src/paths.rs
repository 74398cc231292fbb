//! Script URLs to workspace files on this machine. The mapping itself (`file://` URLs,
//! configured prefixes, the longest common path suffix) is the `source` crate's lexical
//! [`PathMapper`]; what is added here is the disk: the workspace files a script's path could
//! name are found by probing its tails under the root, and only files that exist are placed.

use std::path::{Component, Path, PathBuf};

use heapsight_source::PathMapper;
pub use heapsight_source::Resolved;

use crate::config::PathMapping;

/// Resolves script URLs against one workspace on disk.
#[derive(Debug, Clone)]
pub struct PathResolver {
    mapper: PathMapper,
}

impl PathResolver {
    /// A resolver for the workspace at `root` (canonicalized when it exists).
    pub fn new(root: &Path, mappings: &[PathMapping]) -> PathResolver {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let mappings = mappings
            .iter()
            .map(|m| (m.from.clone(), PathBuf::from(&m.to)))
            .collect();
        PathResolver {
            mapper: PathMapper::new(root, mappings),
        }
    }

    /// The workspace root (canonical when it exists).
    pub fn root(&self) -> &Path {
        self.mapper.workspace_root()
    }

    /// Where `url` points; a workspace or outside file only when it exists (canonical path).
    /// A file of the workspace named by a tail of the path wins over the same path elsewhere
    /// (the snapshot was taken in another checkout).
    pub fn resolve(&self, url: &str) -> Resolved {
        let resolved = match self.mapper.resolve(url) {
            Resolved::Workspace(path) if path.is_file() => Resolved::Workspace(path),
            Resolved::Workspace(path) | Resolved::Outside(path) => {
                let tails = self.tails_on_disk(&path);
                self.mapper.clone().with_files(tails).resolve(url)
            }
            other => other,
        };
        match resolved {
            Resolved::Workspace(path) | Resolved::Outside(path) if path.is_file() => {
                let path = std::fs::canonicalize(&path).unwrap_or(path);
                if path.starts_with(self.root()) {
                    Resolved::Workspace(path)
                } else {
                    Resolved::Outside(path)
                }
            }
            Resolved::Workspace(_) | Resolved::Outside(_) => Resolved::Unknown,
            other => other,
        }
    }

    /// Whether `path` is inside the workspace.
    pub fn contains(&self, path: &Path) -> bool {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        path.starts_with(self.root())
    }

    /// The files under the root named by a tail of `path` (`src/a.js`, `a.js`): the
    /// candidates the mapper matches by longest common suffix.
    fn tails_on_disk(&self, path: &Path) -> Vec<PathBuf> {
        let parts: Vec<&std::ffi::OsStr> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(part) => Some(part),
                _ => None,
            })
            .collect();
        (0..parts.len())
            .map(|skip| self.root().join(parts[skip..].iter().collect::<PathBuf>()))
            .filter(|candidate| candidate.is_file())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(files: &[&str], mappings: &[(&str, &str)], url: &str, expected: &str) {
        let root = std::env::temp_dir().join(format!(
            "heapsight-ide-paths-{}-{}",
            std::process::id(),
            url.len() * 31 + files.len()
        ));
        let _ = std::fs::remove_dir_all(&root);
        for file in files {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap_or(&root)).unwrap_or_default();
            std::fs::write(&path, "x").unwrap_or_default();
        }
        let mappings: Vec<PathMapping> = mappings
            .iter()
            .map(|(from, to)| PathMapping {
                from: from.to_string(),
                to: to.to_string(),
            })
            .collect();
        let resolver = PathResolver::new(&root, &mappings);
        let got = match resolver.resolve(url) {
            Resolved::Workspace(p) => format!(
                "workspace {}",
                p.strip_prefix(resolver.root()).unwrap_or(&p).display()
            ),
            Resolved::Library { package, .. } => format!("library {package}"),
            other => format!("{other:?}"),
        };
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(got, expected, "{url}");
    }

    #[test]
    fn urls_resolve_to_workspace_files() {
        check(&["src/a.js"], &[], "node:events", "Internal");
        check(&["src/a.js"], &[], "internal/timers.js", "Internal");
        check(
            &["src/a.js"],
            &[],
            "file:///app/node_modules/@s/p/x.js",
            "library @s/p",
        );
        check(
            &["src/a.js"],
            &[],
            "/app/node_modules/express/lib/r.js",
            "library express",
        );
        check(
            &["src/a.js"],
            &[("/app", ".")],
            "/app/src/a.js",
            "workspace src/a.js",
        );
        check(
            &["src/a b.js"],
            &[],
            "file:///ci/x/src/a%20b.js",
            "workspace src/a b.js",
        );
        check(
            &["src/a.js", "a.js"],
            &[],
            "/elsewhere/src/a.js",
            "workspace src/a.js",
        );
        check(&["src/a.js"], &[], "/nowhere/b.js", "Unknown");
    }
}
