//! Script URLs to workspace files: `file://` URLs, absolute paths, configured prefix mappings
//! (a container's `/app` to the checkout) and automatic mapping by longest common path suffix.
//! Nothing here touches the file system: resolution is lexical.

use std::path::{Component, Path, PathBuf};

/// Where a script URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A user file of the workspace (never under `node_modules`).
    Workspace(PathBuf),
    /// Node's own code (`node:events`, `internal/...`): never the place of a finding.
    Internal,
    /// Library code under `node_modules`.
    Library {
        /// The package name (`tiny-router`, `@scope/name`).
        package: String,
        /// The file.
        path: PathBuf,
    },
    /// A file outside the workspace.
    Outside(PathBuf),
    /// Not a file we can place (eval'd code, `http:` URLs, an empty URL).
    Unknown,
}

/// Resolves script URLs against a workspace.
#[derive(Debug, Clone)]
pub struct PathMapper {
    workspace_root: PathBuf,
    mappings: Vec<(String, PathBuf)>,
    files: Vec<PathBuf>,
}

impl PathMapper {
    /// A mapper for `workspace_root` with explicit prefix `mappings` (`/app` -> the checkout).
    /// The longest matching prefix wins; a relative target is taken from the workspace root.
    pub fn new(workspace_root: PathBuf, mappings: Vec<(String, PathBuf)>) -> PathMapper {
        let workspace_root = normalize(&workspace_root);
        let mappings = mappings
            .into_iter()
            .map(|(from, to)| {
                let to = if to.is_absolute() {
                    to
                } else {
                    workspace_root.join(to)
                };
                (from.trim_end_matches('/').to_owned(), normalize(&to))
            })
            .collect();
        PathMapper {
            workspace_root,
            mappings,
            files: Vec::new(),
        }
    }

    /// Add the workspace's files (absolute, or relative to the root), for automatic mapping of
    /// paths from elsewhere by the longest common path suffix.
    pub fn with_files(mut self, files: Vec<PathBuf>) -> PathMapper {
        self.files = files
            .into_iter()
            .map(|file| normalize(&self.workspace_root.join(file)))
            .collect();
        self
    }

    /// The workspace root.
    pub fn workspace_root(&self) -> &Path {
        &self.workspace_root
    }

    /// Where `url` points.
    pub fn resolve(&self, url: &str) -> Resolved {
        let url = url.trim();
        if url.starts_with("node:") || url.starts_with("internal/") {
            return Resolved::Internal;
        }
        let path = if url.starts_with("file:") {
            match decode_file_url(url) {
                Some(path) => path,
                None => return Resolved::Unknown,
            }
        } else if is_absolute_path(url) {
            PathBuf::from(url)
        } else {
            return Resolved::Unknown;
        };
        let path = normalize(&path);
        if let Some(mapped) = self.apply_mappings(&path) {
            return self.classify(mapped);
        }
        if is_within(&path, &self.workspace_root) {
            return self.classify(path);
        }
        if let Some(found) = self.by_common_suffix(&path) {
            return self.classify(found);
        }
        match library_package(&path) {
            Some(package) => Resolved::Library { package, path },
            None => Resolved::Outside(path),
        }
    }

    fn apply_mappings(&self, path: &Path) -> Option<PathBuf> {
        let text = path.to_string_lossy();
        self.mappings
            .iter()
            .filter(|(from, _)| {
                text.strip_prefix(from.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .max_by_key(|(from, _)| from.len())
            .map(|(from, to)| {
                let rest = text[from.len()..].trim_start_matches('/');
                normalize(&to.join(rest))
            })
    }

    fn by_common_suffix(&self, path: &Path) -> Option<PathBuf> {
        let wanted: Vec<Component<'_>> = path.components().rev().collect();
        let mut best: Option<(usize, &PathBuf)> = None;
        let mut tied = false;
        for file in &self.files {
            let shared = file
                .components()
                .rev()
                .zip(&wanted)
                .take_while(|(a, b)| a == *b && matches!(a, Component::Normal(_)))
                .count();
            // A bare file name is too weak a clue unless the file sits at the workspace root.
            let relative_len = file
                .strip_prefix(&self.workspace_root)
                .map_or(usize::MAX, |relative| relative.components().count());
            if shared == 0 || (shared < 2 && shared < relative_len) {
                continue;
            }
            match best {
                Some((count, _)) if shared < count => {}
                Some((count, _)) if shared == count => tied = true,
                _ => {
                    best = Some((shared, file));
                    tied = false;
                }
            }
        }
        match best {
            Some((_, file)) if !tied => Some(file.clone()),
            _ => None,
        }
    }

    fn classify(&self, path: PathBuf) -> Resolved {
        match library_package(&path) {
            Some(package) => Resolved::Library { package, path },
            None if is_within(&path, &self.workspace_root) => Resolved::Workspace(path),
            None => Resolved::Outside(path),
        }
    }
}

/// The package a path under `node_modules` belongs to (the last `node_modules` wins).
fn library_package(path: &Path) -> Option<String> {
    let parts: Vec<String> = path
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    let at = parts.iter().rposition(|part| part == "node_modules")?;
    let first = parts.get(at + 1)?;
    if first.starts_with('@') {
        let second = parts.get(at + 2)?;
        Some(format!("{first}/{second}"))
    } else {
        Some(first.clone())
    }
}

fn is_absolute_path(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.starts_with('/')
        || (bytes.len() > 2
            && bytes[0].is_ascii_alphabetic()
            && bytes[1] == b':'
            && (bytes[2] == b'\\' || bytes[2] == b'/'))
}

/// The path of a `file:` URL, percent-decoded; `None` for a URL of another host.
pub(crate) fn decode_file_url(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("file:")?;
    let rest = match rest.strip_prefix("//") {
        Some(after_slashes) => {
            let host_end = after_slashes.find('/')?;
            let host = &after_slashes[..host_end];
            if !host.is_empty() && host != "localhost" {
                return None;
            }
            &after_slashes[host_end..]
        }
        None => rest,
    };
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let decoded = percent_decode(rest);
    let bytes = decoded.as_bytes();
    // `file:///C:/dir` names a Windows drive: drop the slash before it.
    if bytes.len() > 2 && bytes[0] == b'/' && bytes[1].is_ascii_alphabetic() && bytes[2] == b':' {
        return Some(PathBuf::from(&decoded[1..]));
    }
    Some(PathBuf::from(decoded))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = |byte: u8| (byte as char).to_digit(16);
        if bytes[at] == b'%' && at + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[at + 1]), hex(bytes[at + 2])) {
                out.push((high * 16 + low) as u8);
                at += 3;
                continue;
            }
        }
        out.push(bytes[at]);
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `path` with `.` and `..` resolved lexically.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// True when `path` is `root` or inside it (lexically).
pub(crate) fn is_within(path: &Path, root: &Path) -> bool {
    normalize(path).starts_with(normalize(root))
}
