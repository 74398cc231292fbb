//! A capture in a bucket, downloaded once into a local cache folder for the analysis.
//!
//! The prefix may be a capture (its `manifest.json` directly under it) or hold captures one
//! level down (the newest manifest wins). The cache folder is
//! `<cache root>/<scheme>/<bucket>/<capture prefix>/`; a marker beside the files records the
//! manifest's ETag and size, and a later fetch whose manifest has not changed downloads
//! nothing. Files arrive in a temporary sibling folder, renamed into place when complete.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use futures_util::stream::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

use crate::error::{Result, StoreError};
use crate::location::Location;
use crate::MANIFEST_FILE;

/// The marker of a complete download, inside the cache folder.
const MARKER: &str = ".heapsight-fetched";

/// What [`fetch`] gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The local capture folder.
    pub dir: PathBuf,
    /// The capture's URL (the newest under the prefix, when the prefix held several).
    pub url: String,
    /// Bytes downloaded now (0: the cache had it).
    pub downloaded: u64,
}

/// The cache root: `$HEAPSIGHT_CACHE_DIR`, else `$XDG_CACHE_HOME/heapsight`, else
/// `~/.cache/heapsight`, each with `objects/` below.
pub fn cache_root() -> PathBuf {
    let base = std::env::var_os("HEAPSIGHT_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("heapsight")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/heapsight")))
        .unwrap_or_else(|| std::env::temp_dir().join("heapsight-cache"));
    base.join("objects")
}

/// Downloads the capture at `location` into `cache_root` unless it is there already.
pub async fn fetch(
    store: Arc<dyn ObjectStore>,
    location: &Location,
    cache_root: &Path,
) -> Result<Fetched> {
    let listed: Vec<ObjectMeta> = store
        .list(location.prefix_key().as_ref())
        .try_collect()
        .await
        .map_err(|source| StoreError::Request {
            what: "cannot list the prefix",
            key: location.prefix.clone(),
            source,
        })?;
    let under = |meta: &ObjectMeta| relative_key(location, meta.location.as_ref());
    let capture = match listed
        .iter()
        .find(|m| under(m).as_deref() == Some(MANIFEST_FILE))
    {
        Some(_) => String::new(),
        None => listed
            .iter()
            .filter_map(|m| {
                let rel = under(m)?;
                let (sub, name) = rel.split_once('/')?;
                (name == MANIFEST_FILE).then(|| (m.last_modified, sub.to_owned()))
            })
            .max()
            .map(|(_, sub)| sub)
            .ok_or_else(|| StoreError::NoCapture {
                url: location.url(),
            })?,
    };
    let capture_location = location.join(&capture);
    let objects: Vec<(String, &ObjectMeta)> = listed
        .iter()
        .filter_map(|m| Some((relative_key(&capture_location, m.location.as_ref())?, m)))
        .collect();
    let manifest = objects
        .iter()
        .find(|(rel, _)| rel == MANIFEST_FILE)
        .map(|(_, m)| *m)
        .ok_or_else(|| StoreError::NoCapture {
            url: location.url(),
        })?;
    let marker_text = format!(
        "{}\n{}\n",
        manifest.e_tag.clone().unwrap_or_default(),
        manifest.size
    );
    let dir = cache_root
        .join(location.scheme.name())
        .join(safe_relative(&location.bucket, &location.bucket)?)
        .join(safe_relative(
            &capture_location.prefix,
            &capture_location.prefix,
        )?);
    if std::fs::read_to_string(dir.join(MARKER)).is_ok_and(|t| t == marker_text) {
        return Ok(Fetched {
            dir,
            url: capture_location.url(),
            downloaded: 0,
        });
    }
    let parent = dir.parent().unwrap_or(cache_root).to_path_buf();
    let local = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Local { path, source }
    };
    std::fs::create_dir_all(&parent).map_err(local(&parent))?;
    let staging = parent.join(format!(
        ".{}.partial-{}",
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    let result = download_all(&*store, &objects, &staging).await;
    let downloaded = match result {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    std::fs::write(staging.join(MARKER), &marker_text).map_err(local(&staging))?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&staging, &dir).map_err(local(&dir))?;
    Ok(Fetched {
        dir,
        url: capture_location.url(),
        downloaded,
    })
}

/// Every object into `staging`, the manifest last.
async fn download_all(
    store: &dyn ObjectStore,
    objects: &[(String, &ObjectMeta)],
    staging: &Path,
) -> Result<u64> {
    let mut ordered: Vec<&(String, &ObjectMeta)> = objects.iter().collect();
    ordered.sort_by_key(|(rel, _)| rel == MANIFEST_FILE);
    let mut total = 0;
    for (rel, meta) in ordered {
        let path = staging.join(safe_relative(rel, meta.location.as_ref())?);
        let local = |source| StoreError::Local {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(local)?;
        }
        let request = |source| StoreError::Request {
            what: "cannot download",
            key: meta.location.to_string(),
            source,
        };
        let mut stream = store
            .get(&meta.location)
            .await
            .map_err(request)?
            .into_stream();
        let mut file = tokio::fs::File::create(&path).await.map_err(local)?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(request)?;
            total += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(local)?;
        }
        file.flush().await.map_err(local)?;
    }
    Ok(total)
}

/// `key` relative to `location`'s prefix, when it is under it.
fn relative_key(location: &Location, key: &str) -> Option<String> {
    if location.prefix.is_empty() {
        return Some(key.to_owned());
    }
    key.strip_prefix(&location.prefix)?
        .strip_prefix('/')
        .map(str::to_owned)
}

/// `relative` as a path that stays inside the folder it is joined to: keys are data, and
/// one such as `a/../../x` must not write outside the cache.
fn safe_relative(relative: &str, key: &str) -> Result<PathBuf> {
    let path = PathBuf::from(relative);
    let inside = path.components().all(|c| matches!(c, Component::Normal(_)));
    if relative.is_empty() || !inside {
        if relative.is_empty() {
            return Ok(PathBuf::new());
        }
        return Err(StoreError::UnsafeKey {
            key: key.to_owned(),
        });
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_would_leave_the_cache_folder_are_refused() {
        assert!(safe_relative("threads/2/A.heapsnapshot", "k").is_ok());
        for bad in ["../x", "a/../../x", "/etc/passwd", "./x"] {
            assert!(safe_relative(bad, bad).is_err(), "{bad}");
        }
        let loc = Location::parse("s3://b/leaks/run").expect("valid");
        assert_eq!(
            relative_key(&loc, "leaks/run/A.heapsnapshot").as_deref(),
            Some("A.heapsnapshot")
        );
        assert_eq!(relative_key(&loc, "leaks/runner/A.heapsnapshot"), None);
    }
}
