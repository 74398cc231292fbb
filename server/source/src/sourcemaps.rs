//! Source maps: find a script's `//# sourceMappingURL=`, load the map (an inline `data:` URL or
//! a file in the workspace; `http(s)` maps are ignored), map a generated position to the
//! original file, and find the call site there.

use crate::call_site::call_site_at_function;
use crate::error::SourceError;
use crate::language::Language;
use crate::parsed::ParsedFile;
use crate::paths::{decode_file_url, is_within, normalize};
use crate::site::CallSite;
use std::path::{Path, PathBuf};

/// Where a script's source map is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapSource {
    /// An inline `data:application/json;base64,...` URL.
    Inline(String),
    /// A map file (resolved next to the script).
    File(PathBuf),
}

/// A position in an original (pre-compilation) file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalPosition {
    /// The original file (sources resolved against the map's directory and `sourceRoot`).
    pub path: PathBuf,
    /// 0-based line (0 for code the compiler added: see [`ScriptMap::original_position`]).
    pub line: u32,
    /// 0-based column, in UTF-16 code units like the generated side.
    pub column: u32,
}

/// The URL of the last `//# sourceMappingURL=` (or legacy `//@`) comment of `script`.
pub fn source_mapping_url(script: &str) -> Option<&str> {
    script.lines().rev().find_map(|line| {
        let rest = line.trim_start().strip_prefix("//")?.trim_start();
        let rest = rest
            .strip_prefix("# sourceMappingURL=")
            .or_else(|| rest.strip_prefix("@ sourceMappingURL="))?;
        let url = rest.trim();
        (!url.is_empty()).then_some(url)
    })
}

/// Where the map of the script at `script_path` with text `script_text` is, if it has one we
/// may read: inline (`data:`), a `file:` URL or a relative path. Any other scheme (`http:`,
/// `HTTPS:`, `ftp:` ...) and protocol-relative `//host/...` URLs are ignored: heapsight
/// never fetches, and a map on another machine is not this code's map.
pub fn locate(script_path: &Path, script_text: &str) -> Option<MapSource> {
    let url = source_mapping_url(script_text)?;
    match url_scheme(url).map(str::to_ascii_lowercase).as_deref() {
        Some("data") => return Some(MapSource::Inline(url.to_owned())),
        Some("file") => return decode_file_url(url).map(MapSource::File),
        Some(_) => return None,
        None if url.starts_with("//") || url.starts_with("\\\\") => return None,
        None => {}
    }
    let relative = url.split(['?', '#']).next().unwrap_or(url);
    let dir = script_path.parent().unwrap_or(Path::new(""));
    Some(MapSource::File(normalize(&dir.join(relative))))
}

/// The scheme of `url` (RFC 3986: a letter, then letters, digits, `+`, `-` or `.`, then
/// `:`), if it has one. One letter is not a scheme: `C:/maps/x.map` is a Windows path.
fn url_scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && scheme.len() > 1
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// The largest generated (line, column) of an index map, its sections placed at their
/// offsets; `None` when a sum passes `u32::MAX`. A column offset is added to every line's
/// columns, not only the first: the bound only has to be safe.
fn index_extent(index: &sourcemap::SourceMapIndex) -> Option<(u32, u32)> {
    let of_map = |map: &sourcemap::SourceMap| {
        map.tokens().fold((0, 0), |(line, col), t| {
            (line.max(t.get_dst_line()), col.max(t.get_dst_col()))
        })
    };
    let mut extent = (0u32, 0u32);
    for section in index.sections() {
        let (off_line, off_col) = section.get_offset();
        let (line, col) = match section.get_sourcemap() {
            Some(sourcemap::DecodedMap::Regular(map)) => of_map(map),
            Some(sourcemap::DecodedMap::Hermes(hermes)) => of_map(hermes),
            Some(sourcemap::DecodedMap::Index(inner)) => index_extent(inner)?,
            None => (0, 0),
        };
        let line = line.checked_add(off_line)?;
        let col = col.checked_add(off_col)?;
        extent = (extent.0.max(line), extent.1.max(col));
    }
    Some(extent)
}

/// A loaded source map.
#[derive(Debug)]
pub struct ScriptMap {
    map: sourcemap::SourceMap,
    base_dir: PathBuf,
}

impl ScriptMap {
    /// Parse map JSON; relative sources resolve against `base_dir` (the map's directory).
    pub fn from_json(json: &[u8], base_dir: PathBuf) -> Result<ScriptMap, SourceError> {
        let decoded = sourcemap::decode_slice(json).map_err(|error| SourceError::SourceMap {
            origin: base_dir.display().to_string(),
            message: error.to_string(),
        })?;
        ScriptMap::from_decoded(decoded, base_dir)
    }

    /// Load the map at `source` for a script in `script_dir`. A map file outside
    /// `workspace_root` is refused without being read.
    pub fn load(
        source: &MapSource,
        script_dir: &Path,
        workspace_root: &Path,
    ) -> Result<ScriptMap, SourceError> {
        match source {
            MapSource::Inline(url) => {
                let decoded =
                    sourcemap::decode_data_url(url).map_err(|error| SourceError::SourceMap {
                        origin: "inline".to_owned(),
                        message: error.to_string(),
                    })?;
                ScriptMap::from_decoded(decoded, script_dir.to_path_buf())
            }
            MapSource::File(path) => {
                let path = normalize(path);
                if !is_within(&path, workspace_root) {
                    return Err(SourceError::OutsideWorkspace(path));
                }
                let bytes = std::fs::read(&path).map_err(|source| SourceError::Read {
                    path: path.clone(),
                    source,
                })?;
                let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
                ScriptMap::from_json(&bytes, dir)
            }
        }
    }

    fn from_decoded(
        decoded: sourcemap::DecodedMap,
        base_dir: PathBuf,
    ) -> Result<ScriptMap, SourceError> {
        let map = match decoded {
            sourcemap::DecodedMap::Regular(map) => map,
            sourcemap::DecodedMap::Index(index) => {
                // Flattening adds each section's offset to its positions with plain `u32`
                // arithmetic: offsets near 2^32 would wrap (or panic with overflow checks).
                if index_extent(&index).is_none() {
                    return Err(SourceError::SourceMap {
                        origin: base_dir.display().to_string(),
                        message: "an index map's section offsets put generated positions \
                                  past 2^32"
                            .to_owned(),
                    });
                }
                index.flatten().map_err(|error| SourceError::SourceMap {
                    origin: base_dir.display().to_string(),
                    message: error.to_string(),
                })?
            }
            sourcemap::DecodedMap::Hermes(hermes) => sourcemap::SourceMap::clone(&hermes),
        };
        Ok(ScriptMap { map, base_dir })
    }

    /// The original position of generated (0-based `line`, UTF-16 `column`): the mapping at or
    /// before it on the same generated line.
    ///
    /// Code no mapping covers is what a compiler added to a module (esbuild's `__copyProps`
    /// and `__toESM` and tsx's module wrapper, all before the first mapping of tsx's one line
    /// of output; tsc's `__importStar` lines). In a map compiled from one file it belongs to
    /// that file and is placed at its start (0, 0), where V8 places a module's own code: the
    /// file is known even where the line is not, and the generated text never stands for it
    /// (tsx runs `main.ts` under its own URL). A map of several files (a bundle) says nothing
    /// about such code.
    pub fn original_position(&self, line: u32, column: u32) -> Option<OriginalPosition> {
        let mapped = self
            .map
            .lookup_token(line, column)
            .filter(|token| token.get_dst_line() == line)
            .and_then(|token| Some((token.get_source()?, token)));
        match mapped {
            Some((source, token)) => Some(OriginalPosition {
                path: self.source_path(source),
                line: token.get_src_line(),
                column: token.get_src_col(),
            }),
            None => self.only_source().map(|path| OriginalPosition {
                path,
                line: 0,
                column: 0,
            }),
        }
    }

    /// The original file of a map compiled from one file (every source names it).
    fn only_source(&self) -> Option<PathBuf> {
        let mut paths = (0..self.map.get_source_count())
            .filter_map(|index| self.map.get_source(index))
            .map(|source| self.source_path(source));
        let first = paths.next()?;
        paths.all(|path| path == first).then_some(first)
    }

    /// The embedded text (`sourcesContent`) of the original at `path`, when the map has it.
    pub fn embedded_source(&self, path: &Path) -> Option<&str> {
        (0..self.map.get_source_count()).find_map(|index| {
            let source = self.map.get_source(index)?;
            (self.source_path(source) == path)
                .then(|| self.map.get_source_contents(index))
                .flatten()
        })
    }

    fn source_path(&self, source: &str) -> PathBuf {
        if let Some(path) = decode_file_url(source) {
            return normalize(&path);
        }
        let root = self.map.get_source_root().unwrap_or("");
        normalize(&self.base_dir.join(root).join(source))
    }
}

/// A call site found in the original file of a compiled script.
#[derive(Debug, Clone)]
pub struct OriginalCallSite {
    /// The original position the generated one maps to.
    pub position: OriginalPosition,
    /// The original file, parsed.
    pub file: ParsedFile,
    /// The call site in it.
    pub site: CallSite,
}

/// For a function at generated (`line`, `utf16_column`) of the script at `script_path`: follow
/// its source map to the original file (read from the workspace, else from `sourcesContent`)
/// and find the call site there. `Ok(None)` when the script has no usable map or no call site
/// is found.
pub fn original_call_site(
    script_path: &Path,
    script_text: &str,
    workspace_root: &Path,
    line: u32,
    utf16_column: u32,
) -> Result<Option<OriginalCallSite>, SourceError> {
    let Some(source) = locate(script_path, script_text) else {
        return Ok(None);
    };
    let script_dir = script_path.parent().unwrap_or(Path::new(""));
    let map = ScriptMap::load(&source, script_dir, workspace_root)?;
    let Some(position) = map.original_position(line, utf16_column) else {
        return Ok(None);
    };
    let text = if is_within(&position.path, workspace_root) && position.path.is_file() {
        std::fs::read_to_string(&position.path).map_err(|source| SourceError::Read {
            path: position.path.clone(),
            source,
        })?
    } else if let Some(embedded) = map.embedded_source(&position.path) {
        embedded.to_owned()
    } else {
        return Ok(None);
    };
    let language = Language::from_path(&position.path).unwrap_or(Language::TypeScript);
    let file = ParsedFile::parse(text, language);
    Ok(
        call_site_at_function(&file, position.line, position.column).map(|site| OriginalCallSite {
            position,
            file,
            site,
        }),
    )
}
