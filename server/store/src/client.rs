//! The client of a location, configured as each cloud's own tools are: for S3 the
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT_URL` for an S3-compatible
//! server, web identity and container credentials for pods and tasks; the instance's role
//! otherwise), then the shared files' profile; for GCS and Azure their `GOOGLE_*` and
//! `AZURE_*` variables.

use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::{ClientConfigKey, ObjectStore};

use crate::error::{Result, StoreError};
use crate::location::{Location, Scheme};
use crate::profile::aws_profile;

/// The client for `location`'s bucket.
pub fn open(location: &Location) -> Result<Arc<dyn ObjectStore>> {
    // rustls's provider for every connection of the process; a second call finds it set.
    // Deprecated for lacking post-quantum key exchange, which aws-lc-rs has at the price of a
    // C library compiled with the binary; object storage over TLS 1.2/1.3 needs neither.
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = location.bucket_url();
    let config = |source| StoreError::Config {
        url: location.url(),
        source,
    };
    let store: Arc<dyn ObjectStore> = match location.scheme {
        Scheme::S3 => Arc::new(
            s3_builder(&url, &|k| std::env::var(k).ok())
                .build()
                .map_err(config)?,
        ),
        Scheme::Gcs => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .build()
                .map_err(config)?,
        ),
        Scheme::Azure => Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .build()
                .map_err(config)?,
        ),
    };
    Ok(store)
}

/// The S3 client's settings: the environment's, with the profile filling what it lacks.
fn s3_builder(url: &str, env: &dyn Fn(&str) -> Option<String>) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::from_env().with_url(url);
    let profile = aws_profile(env);
    if env("AWS_ACCESS_KEY_ID").is_none() {
        if let (Some(id), Some(secret)) = (&profile.access_key_id, &profile.secret_access_key) {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
            if let Some(token) = &profile.session_token {
                builder = builder.with_token(token);
            }
        }
    }
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or(profile.region);
    builder = builder.with_region(region.unwrap_or_else(|| "us-east-1".to_owned()));
    let endpoint = env("AWS_ENDPOINT_URL_S3")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or_else(|| env("AWS_ENDPOINT"))
        .or(profile.endpoint_url);
    if let Some(endpoint) = endpoint {
        // An `http://` endpoint was asked for by name (a server on the private network).
        // No TLS is spoken to it either: the system's CA certificates are not loaded (the
        // platform verifier refuses to start without any, as in an image without a bundle).
        if endpoint.starts_with("http://") {
            builder = builder.with_allow_http(true).with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::NoSystemCertificates),
                "true",
            );
        }
        builder = builder.with_endpoint(endpoint);
    }
    builder
}
