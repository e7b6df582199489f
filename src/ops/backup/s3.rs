//! An S3-compatible bucket as a backup destination, through `object_store` (the Apache Arrow
//! project's object-store client: S3's signing, multipart uploads, listing; see
//! docs/dependencies.md). A copy larger than one part goes up in parts of [`PART`] bytes
//! read from the spool, so memory stays bounded; an upload that fails is aborted, and S3 never
//! shows an unfinished multipart upload as an object: a copy is complete or absent.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};

use crate::model::backup::S3;

/// The size of an upload's parts (S3's minimum is 5 MiB).
pub const PART: usize = 8 << 20;
/// Parts in flight at once per upload.
const CONCURRENCY: usize = 2;

/// A bucket and prefix, connected with its keys.
pub struct Bucket {
    store: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
}

/// Why the bucket refused or failed (the keys never appear: object_store prints neither).
#[derive(Debug, thiserror::Error)]
#[error("s3://{bucket}/{key}: cannot {action}: {reason}")]
pub struct S3Error {
    pub bucket: String,
    pub key: String,
    pub action: &'static str,
    pub reason: String,
}

/// The first line of an error and its causes, joined (object_store's errors nest).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    // S3's answers are XML documents over several lines: one line in reports.
    parts
        .join(": ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Bucket {
    /// Connects to `s3` with the keys read from the secrets. Nothing is sent yet.
    pub fn new(s3: &S3, access_key: &str, secret_key: &str) -> Result<Bucket, S3Error> {
        // reqwest's rustls takes the process's provider: ring, as for object_store's signing.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&s3.bucket)
            .with_region(&s3.region)
            .with_access_key_id(access_key)
            .with_secret_access_key(secret_key)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(60),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_timeout(Duration::from_secs(300)),
            );
        if let Some(endpoint) = &s3.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                // S3-compatible services address buckets by path.
                .with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(|e| S3Error {
            bucket: s3.bucket.clone(),
            key: s3.prefix.clone(),
            action: "connect",
            reason: chain(&e),
        })?;
        Ok(Bucket {
            store: Arc::new(store),
            bucket: s3.bucket.clone(),
            prefix: s3.prefix.clone(),
        })
    }

    /// `s3://bucket/prefix/tail`.
    pub fn url(&self, tail: &str) -> String {
        format!("s3://{}/{}{tail}", self.bucket, self.prefix)
    }

    fn key(&self, tail: &str) -> Key {
        Key::from(format!("{}{tail}", self.prefix))
    }

    fn error(&self, tail: &str, action: &'static str, e: &object_store::Error) -> S3Error {
        S3Error {
            bucket: self.bucket.clone(),
            key: format!("{}{tail}", self.prefix),
            action,
            reason: chain(e),
        }
    }

    /// Uploads the file `path` as `tail`: one request for a small one, else in parts.
    pub async fn put_file(&self, tail: &str, path: &Path) -> Result<(), S3Error> {
        use tokio::io::AsyncWriteExt;
        let io = |e: std::io::Error| S3Error {
            bucket: self.bucket.clone(),
            key: format!("{}{tail}", self.prefix),
            action: "upload",
            reason: format!("{}: {e}", path.display()),
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let mut writer = object_store::buffered::BufWriter::with_capacity(
            self.store.clone(),
            self.key(tail),
            PART,
        )
        .with_max_concurrency(CONCURRENCY);
        let mut buf = vec![0u8; 1 << 20];
        let fail = |e: std::io::Error| S3Error {
            bucket: self.bucket.clone(),
            key: format!("{}{tail}", self.prefix),
            action: "upload",
            reason: match e.get_ref() {
                Some(inner) => chain(inner),
                None => e.to_string(),
            },
        };
        let sent: Result<(), std::io::Error> = async {
            loop {
                let n = std::io::Read::read(&mut file, &mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                writer.write_all(&buf[..n]).await?;
            }
        }
        .await;
        if let Err(e) = sent {
            // Nothing of an unfinished upload is left to show as an object.
            let _ = writer.abort().await;
            return Err(fail(e));
        }
        // The last part and the completion; a failed completion aborts the upload itself.
        writer.shutdown().await.map_err(fail)?;
        Ok(())
    }

    /// The objects under `tail` (a folder: ends with `/`): (name after it, size).
    pub async fn list(&self, tail: &str) -> Result<Vec<(String, u64)>, S3Error> {
        let prefix = self.key(tail);
        let mut out = Vec::new();
        let mut listing = self.store.list(Some(&prefix));
        while let Some(item) = listing.next().await {
            let meta = item.map_err(|e| self.error(tail, "list", &e))?;
            if let Some(name) = meta.location.filename() {
                out.push((name.to_string(), meta.size));
            }
        }
        Ok(out)
    }

    pub async fn delete(&self, tail: &str) -> Result<(), S3Error> {
        self.store
            .delete(&self.key(tail))
            .await
            .map_err(|e| self.error(tail, "remove", &e))
    }

    /// Downloads `tail` into `out`, chunk by chunk.
    pub async fn get_into(&self, tail: &str, out: &mut std::fs::File) -> Result<(), S3Error> {
        use std::io::Write;
        let got = self
            .store
            .get(&self.key(tail))
            .await
            .map_err(|e| self.error(tail, "read", &e))?;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.error(tail, "read", &e))?;
            out.write_all(&chunk).map_err(|e| S3Error {
                bucket: self.bucket.clone(),
                key: format!("{}{tail}", self.prefix),
                action: "read",
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }
}
