//! Script URLs to workspace files: `file://` URLs and absolute paths, explicit path
//! mappings for snapshots taken elsewhere (a container's `/app`), and else the longest
//! path suffix that exists under the workspace root. Node's internals and `node_modules`
//! are recognized so they are never the place of a finding.

use std::path::{Component, Path, PathBuf};

use crate::config::PathMapping;

/// Where a script URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A file of the workspace (absolute path).
    Workspace(PathBuf),
    /// Node's own code (`node:events`, `internal/...`).
    Internal,
    /// A dependency's code.
    Library {
        /// The package name (`express`, `@scope/name`).
        package: String,
        /// The file.
        path: PathBuf,
    },
    /// A file that exists outside the workspace.
    Outside(PathBuf),
    /// Nothing on this machine matches.
    Unknown,
}

/// Resolves script URLs against one workspace.
#[derive(Debug, Clone)]
pub struct PathResolver {
    root: PathBuf,
    mappings: Vec<PathMapping>,
}

impl PathResolver {
    /// A resolver for the workspace at `root`.
    pub fn new(root: &Path, mappings: &[PathMapping]) -> PathResolver {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let mut mappings = mappings.to_vec();
        // The most specific prefix wins.
        mappings.sort_by_key(|m| std::cmp::Reverse(m.from.len()));
        PathResolver { root, mappings }
    }

    /// The workspace root (canonical when it exists).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `url` points.
    pub fn resolve(&self, url: &str) -> Resolved {
        let Some(path) = url_to_path(url) else {
            return Resolved::Internal;
        };
        if let Some(package) = package_of(&path) {
            return Resolved::Library { package, path };
        }
        for mapping in &self.mappings {
            if let Ok(rest) = path.strip_prefix(&mapping.from) {
                let to = Path::new(&mapping.to);
                let base = if to.is_absolute() {
                    to.to_path_buf()
                } else {
                    self.root.join(to)
                };
                return self.place(&base.join(rest));
            }
        }
        if path.starts_with(&self.root) && path.is_file() {
            return self.place(&path);
        }
        if let Some(found) = self.by_suffix(&path) {
            return Resolved::Workspace(found);
        }
        if path.is_file() {
            return self.place(&path);
        }
        Resolved::Unknown
    }

    /// Whether `path` is inside the workspace.
    pub fn contains(&self, path: &Path) -> bool {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        path.starts_with(&self.root)
    }

    fn place(&self, path: &Path) -> Resolved {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if !canonical.is_file() {
            Resolved::Unknown
        } else if canonical.starts_with(&self.root) {
            Resolved::Workspace(canonical)
        } else {
            Resolved::Outside(canonical)
        }
    }

    /// The longest tail of `path` that names a file under the root.
    fn by_suffix(&self, path: &Path) -> Option<PathBuf> {
        let parts: Vec<&std::ffi::OsStr> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s),
                _ => None,
            })
            .collect();
        (0..parts.len()).find_map(|skip| {
            let candidate: PathBuf = parts[skip..].iter().collect();
            let full = self.root.join(candidate);
            full.is_file()
                .then(|| std::fs::canonicalize(&full).unwrap_or(full))
        })
    }
}

/// The local path a script URL names; `None` for Node's internals.
pub fn url_to_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        let rest = rest.strip_prefix("localhost").unwrap_or(rest);
        return rest
            .starts_with('/')
            .then(|| PathBuf::from(percent_decode(rest)));
    }
    url.starts_with('/').then(|| PathBuf::from(url))
}

/// The package a `node_modules` path belongs to.
fn package_of(path: &Path) -> Option<String> {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let at = parts.iter().rposition(|p| p == "node_modules")?;
    let first = parts.get(at + 1)?;
    if first.starts_with('@') {
        let second = parts.get(at + 2)?;
        Some(format!("{first}/{second}"))
    } else {
        Some(first.clone())
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
