//! upload: pushes a package output's S3 bundles to a bucket.
//!
//! Input: the output folder of `caios-pack package` (`s3/<sha256>.zip` and
//! `catalogue.json`), a bucket and prefix (default: the catalogue's), and the
//! usual AWS settings (default credential chain, `--region`,
//! `--endpoint-url` or `AWS_ENDPOINT_URL[_S3]`). Output: every bundle under
//! `PREFIX<sha256>.zip`. Bundles are content-addressed, so one already there
//! with the same size is skipped after a HEAD; nothing is overwritten or
//! deleted.

use crate::contract::Catalogue;
use crate::error::{Error, Result};
use crate::progress::Progress;
use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub struct UploadOptions {
    pub dist: PathBuf,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct UploadReport {
    pub bucket: String,
    pub prefix: String,
    pub uploaded: usize,
    pub uploaded_bytes: u64,
    pub skipped: usize,
    pub skipped_bytes: u64,
}

pub fn upload(options: &UploadOptions, progress: &Progress) -> Result<UploadReport> {
    let catalogue = read_catalogue(&options.dist)?;
    let bucket = options
        .bucket
        .clone()
        .or_else(|| catalogue.s3.bucket.clone())
        .ok_or_else(|| {
            Error::input("no bucket: pass --bucket (or give --bucket to `caios-pack package`)")
        })?;
    let prefix = options
        .prefix
        .clone()
        .unwrap_or_else(|| catalogue.s3.prefix.clone());
    let bundles = list_bundles(&options.dist)?;
    progress.set_message("uploading bundles");
    progress.set_length(bundles.len() as u64);
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| Error::io(Path::new("<async runtime>"), e))?;
    let mut report = UploadReport {
        bucket: bucket.clone(),
        prefix: prefix.clone(),
        ..UploadReport::default()
    };
    runtime.block_on(async {
        let client = client(options).await;
        for path in &bundles {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let key = format!("{prefix}{name}");
            let size = std::fs::metadata(path)
                .map_err(|e| Error::io(path, e))?
                .len();
            let existing = client.head_object().bucket(&bucket).key(&key).send().await;
            let present = match &existing {
                // Same name = same content (the name is its SHA-256).
                Ok(head) => head.content_length().map(|l| l as u64) == Some(size),
                Err(aws_sdk_s3::error::SdkError::ServiceError(e))
                    if e.raw().status().as_u16() == 404 =>
                {
                    false
                }
                Err(e) => {
                    return Err(s3_failure(
                        &bucket,
                        &key,
                        format!("HEAD failed: {}", describe(e)),
                    ))
                }
            };
            if present {
                report.skipped += 1;
                report.skipped_bytes += size;
            } else {
                let body = ByteStream::from_path(path).await.map_err(|e| {
                    Error::io(path, std::io::Error::other(format!("cannot read: {e}")))
                })?;
                client
                    .put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .body(body)
                    .content_type("application/zip")
                    .send()
                    .await
                    .map_err(|e| {
                        s3_failure(&bucket, &key, format!("upload failed: {}", describe(&e)))
                    })?;
                report.uploaded += 1;
                report.uploaded_bytes += size;
            }
            progress.inc(1);
        }
        Ok(())
    })?;
    progress.finish();
    Ok(report)
}

/// A request to S3 that failed: an I/O failure (exit 3), named by its URL.
fn s3_failure(bucket: &str, key: &str, message: String) -> Error {
    let url = format!("s3://{bucket}/{key}");
    Error::io(Path::new(&url), std::io::Error::other(message))
}

fn describe<E: std::fmt::Debug + aws_sdk_s3::error::ProvideErrorMetadata>(
    e: &aws_sdk_s3::error::SdkError<E>,
) -> String {
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(service) => {
            let err = service.err();
            format!(
                "{} ({}; HTTP {})",
                err.message().unwrap_or("no message"),
                err.code().unwrap_or("no code"),
                service.raw().status().as_u16()
            )
        }
        other => format!("{other:?}"),
    }
}

async fn client(options: &UploadOptions) -> aws_sdk_s3::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &options.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &options.endpoint_url {
        loader = loader.endpoint_url(endpoint.clone());
    }
    let shared = loader.load().await;
    // A custom endpoint (MinIO, s3s, LocalStack) usually needs path-style URLs.
    let custom_endpoint = options.endpoint_url.is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(custom_endpoint)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn read_catalogue(dist: &Path) -> Result<Catalogue> {
    let path = dist.join("catalogue.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::input(format!(
            "{}: cannot read ({e}); run `caios-pack package --out {}` first",
            path.display(),
            dist.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::input(format!(
            "{}:{}:{}: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })
}

fn list_bundles(dist: &Path) -> Result<Vec<PathBuf>> {
    let dir = dist.join("s3");
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| Error::input(format!("{}: cannot read ({e})", dir.display())))?;
    let mut bundles: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "zip"))
        .collect();
    bundles.sort();
    Ok(bundles)
}
