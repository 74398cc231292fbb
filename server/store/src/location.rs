//! Object storage URLs: `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`.

use object_store::path::Path as Key;

use crate::error::{Result, StoreError};

/// The clouds a URL may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Amazon S3 and S3-compatible servers (`s3://`).
    S3,
    /// Google Cloud Storage (`gs://`).
    Gcs,
    /// Azure Blob Storage (`az://`).
    Azure,
}

impl Scheme {
    fn of(url: &str) -> Option<(Scheme, &str)> {
        [
            ("s3://", Scheme::S3),
            ("gs://", Scheme::Gcs),
            ("az://", Scheme::Azure),
        ]
        .into_iter()
        .find_map(|(prefix, scheme)| url.strip_prefix(prefix).map(|rest| (scheme, rest)))
    }

    /// The URL scheme, without `://`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::S3 => "s3",
            Scheme::Gcs => "gs",
            Scheme::Azure => "az",
        }
    }
}

/// Whether `text` is an object storage URL rather than a local path.
pub fn is_remote(text: &str) -> bool {
    Scheme::of(text).is_some()
}

/// A bucket (or container) and a prefix inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The cloud.
    pub scheme: Scheme,
    /// The bucket or container.
    pub bucket: String,
    /// The prefix, without leading or trailing `/` (empty: the whole bucket).
    pub prefix: String,
}

impl Location {
    /// Parses `url`.
    pub fn parse(url: &str) -> Result<Location> {
        let bad = |why: &str| StoreError::BadUrl {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let (scheme, rest) = Scheme::of(url).ok_or_else(|| bad("unknown scheme"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket"));
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .split('/')
            .any(|part| part == "." || part == ".." || (part.is_empty() && !prefix.is_empty()))
        {
            return Err(bad("the prefix has an empty, `.` or `..` part"));
        }
        Ok(Location {
            scheme,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// The URL, normalized.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("{}://{}", self.scheme.name(), self.bucket)
        } else {
            format!("{}://{}/{}", self.scheme.name(), self.bucket, self.prefix)
        }
    }

    /// The bucket's own URL (no prefix), for the client.
    pub(crate) fn bucket_url(&self) -> String {
        format!("{}://{}", self.scheme.name(), self.bucket)
    }

    /// The key of `relative` (a `/`-separated path) under the prefix.
    pub fn key(&self, relative: &str) -> Key {
        if self.prefix.is_empty() {
            Key::from(relative)
        } else {
            Key::from(format!("{}/{relative}", self.prefix))
        }
    }

    /// The prefix as a key (`None` for the whole bucket).
    pub(crate) fn prefix_key(&self) -> Option<Key> {
        (!self.prefix.is_empty()).then(|| Key::from(self.prefix.as_str()))
    }

    /// This location with `sub` appended to the prefix.
    pub(crate) fn join(&self, sub: &str) -> Location {
        let prefix = match (self.prefix.is_empty(), sub.is_empty()) {
            (_, true) => self.prefix.clone(),
            (true, false) => sub.to_owned(),
            (false, false) => format!("{}/{sub}", self.prefix),
        };
        Location {
            prefix,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_bucket_and_prefix() {
        let loc = Location::parse("s3://leaks/checkout/run-1/").expect("valid");
        assert_eq!(
            (loc.scheme, loc.bucket.as_str(), loc.prefix.as_str()),
            (Scheme::S3, "leaks", "checkout/run-1")
        );
        assert_eq!(loc.url(), "s3://leaks/checkout/run-1");
        assert_eq!(
            loc.key("A.heapsnapshot").as_ref(),
            "checkout/run-1/A.heapsnapshot"
        );
        let bare = Location::parse("gs://b").expect("valid");
        assert_eq!(bare.key("manifest.json").as_ref(), "manifest.json");
        assert_eq!(bare.join("x").url(), "gs://b/x");
        assert!(is_remote("az://c/p") && !is_remote("./captures/s3:"));
        for bad in [
            "s3://",
            "s3:///p",
            "s3://b/../p",
            "s3://b/a//c",
            "http://b/p",
            "s3://b/./p",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
    }
}
