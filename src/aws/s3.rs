//! S3 objects: listing a landing prefix, mirroring it into a local cache keyed by ETag (so
//! DuckDB reads S3 data with no network extension), and uploading folders with multipart
//! upload, skipping objects that already hold the same bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use md5::{Digest, Md5};

use super::{Aws, AwsError, AwsSettings, S3Url, service_error};
use crate::project::Target;

/// Files at least this big go up in parts of this size (S3's minimum part is 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    pub etag: String,
    pub size: u64,
}

/// What a sync or an upload did, object by object.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub copied: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
    /// Keys left out because they would land outside the cache (`..`, `.`, empty segments).
    pub refused: Vec<String>,
    pub bytes: u64,
}

/// `etlx stage`: upload the folder `from` to `to` with the target's AWS settings, skipping
/// what S3 already holds. A path that is not a folder is refused before anything connects.
pub fn stage(target: &Target, from: &Path, to: &S3Url) -> Result<Transfer, AwsError> {
    if !from.is_dir() {
        return Err(AwsError::Config(format!(
            "{} is not a folder",
            from.display()
        )));
    }
    Aws::connect(AwsSettings::from_target(target))?.upload_dir(from, to)
}

/// The cache's record of which ETag each local file holds.
const CACHE_INDEX: &str = ".etlx-etags.json";

impl Aws {
    /// Every object under a prefix, in key order.
    pub fn list(&self, url: &S3Url) -> Result<Vec<Object>, AwsError> {
        let mut out = Vec::new();
        self.each_page(url, None, |page| {
            for o in page.contents() {
                if let Some(key) = o.key().filter(|k| !k.ends_with('/')) {
                    out.push(Object {
                        key: key.to_string(),
                        etag: o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                        size: o.size().unwrap_or_default().max(0) as u64,
                    });
                }
            }
        })?;
        Ok(out)
    }

    /// The "folders" directly under `folder` (a key ending in `/`): its common prefixes.
    pub fn folders(&self, folder: &S3Url) -> Result<Vec<String>, AwsError> {
        let mut out = Vec::new();
        self.each_page(folder, Some("/"), |page| {
            out.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_string)),
            );
        })?;
        Ok(out)
    }

    /// ListObjectsV2 under `url`, every page handed to `each`.
    fn each_page(
        &self,
        url: &S3Url,
        delimiter: Option<&str>,
        mut each: impl FnMut(&aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output),
    ) -> Result<(), AwsError> {
        let mut token = None;
        loop {
            let page = self
                .block_on(
                    self.s3
                        .list_objects_v2()
                        .bucket(&url.bucket)
                        .prefix(&url.key)
                        .set_delimiter(delimiter.map(str::to_string))
                        .set_continuation_token(token)
                        .send(),
                )
                .map_err(|e| service_error("listing", url.to_string(), e))?;
            each(&page);
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                return Ok(());
            }
        }
    }

    /// Make `cache/<bucket>/<key>` hold exactly the objects under `url`: download what is new
    /// or changed (by ETag), keep what is the same, delete what is gone from S3.
    pub fn mirror(&self, url: &S3Url, cache: &Path) -> Result<Transfer, AwsError> {
        let objects = self.list(url)?;
        let index_path = cache.join(CACHE_INDEX);
        let mut index: BTreeMap<String, String> = std::fs::read_to_string(&index_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let mut done = Transfer::default();
        for o in &objects {
            let id = format!("{}/{}", url.bucket, o.key);
            let Some(local) = cache_path(cache, &id) else {
                done.refused.push(o.key.clone());
                continue;
            };
            if index.get(&id) == Some(&o.etag) && local.exists() {
                done.unchanged.push(o.key.clone());
                continue;
            }
            let bytes = self.get(&url.bucket, &o.key)?;
            write_atomically(&local, &bytes)?;
            done.bytes += bytes.len() as u64;
            done.copied.push(o.key.clone());
            index.insert(id, o.etag.clone());
        }
        let listed: std::collections::HashSet<String> = objects
            .iter()
            .map(|o| format!("{}/{}", url.bucket, o.key))
            .collect();
        let prefix = format!("{}/{}", url.bucket, url.key);
        let gone: Vec<String> = index
            .keys()
            .filter(|id| id.starts_with(&prefix) && !listed.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(local) = cache_path(cache, &id) {
                let _ = std::fs::remove_file(local);
            }
            index.remove(&id);
            done.removed.push(id);
        }
        let text = serde_json::to_string_pretty(&index).unwrap_or_default();
        write_atomically(&index_path, text.as_bytes())?;
        Ok(done)
    }

    pub fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, AwsError> {
        let what = format!("s3://{bucket}/{key}");
        let out = self
            .block_on(self.s3.get_object().bucket(bucket).key(key).send())
            .map_err(|e| service_error("downloading", what.clone(), e))?;
        let body = self
            .block_on(out.body.collect())
            .map_err(|e| AwsError::Io(format!("downloading {what}: {e}")))?;
        Ok(body.into_bytes().to_vec())
    }

    /// The object's ETag, or `None` when there is no such object.
    pub fn etag(&self, url: &S3Url) -> Result<Option<String>, AwsError> {
        match self.block_on(
            self.s3
                .head_object()
                .bucket(&url.bucket)
                .key(&url.key)
                .send(),
        ) {
            Ok(head) => Ok(head.e_tag().map(|e| e.trim_matches('"').to_string())),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(service_error("checking", url.to_string(), e)),
        }
    }

    pub fn put(&self, url: &S3Url, bytes: Vec<u8>) -> Result<(), AwsError> {
        self.block_on(
            self.s3
                .put_object()
                .bucket(&url.bucket)
                .key(&url.key)
                .body(ByteStream::from(bytes))
                .send(),
        )
        .map_err(|e| service_error("uploading", url.to_string(), e))?;
        Ok(())
    }

    /// Upload one file: in one request when small, in `PART_SIZE` parts otherwise.
    pub fn upload_file(&self, file: &Path, url: &S3Url) -> Result<(), AwsError> {
        let bytes = std::fs::read(file)
            .map_err(|e| AwsError::Io(format!("cannot read {}: {e}", file.display())))?;
        if bytes.len() < PART_SIZE {
            return self.put(url, bytes);
        }
        let what = url.to_string();
        let started = self
            .block_on(
                self.s3
                    .create_multipart_upload()
                    .bucket(&url.bucket)
                    .key(&url.key)
                    .send(),
            )
            .map_err(|e| service_error("starting the upload of", what.clone(), e))?;
        let upload_id = started.upload_id().unwrap_or_default().to_string();
        let mut parts = Vec::new();
        for (i, chunk) in bytes.chunks(PART_SIZE).enumerate() {
            let number = i as i32 + 1;
            let part = self.block_on(
                self.s3
                    .upload_part()
                    .bucket(&url.bucket)
                    .key(&url.key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(chunk.to_vec()))
                    .send(),
            );
            let part = match part {
                Ok(p) => p,
                Err(e) => {
                    // An abandoned upload keeps its parts (and their cost) until aborted.
                    let _ = self.block_on(
                        self.s3
                            .abort_multipart_upload()
                            .bucket(&url.bucket)
                            .key(&url.key)
                            .upload_id(&upload_id)
                            .send(),
                    );
                    return Err(service_error("uploading a part of", what, e));
                }
            };
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(part.e_tag().map(str::to_string))
                    .build(),
            );
        }
        self.block_on(
            self.s3
                .complete_multipart_upload()
                .bucket(&url.bucket)
                .key(&url.key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send(),
        )
        .map_err(|e| service_error("completing the upload of", what, e))?;
        Ok(())
    }

    /// Upload every file under `dir` to `url`, keeping relative paths; a file whose object
    /// already has the same content (same ETag, computed locally) is skipped.
    pub fn upload_dir(&self, dir: &Path, url: &S3Url) -> Result<Transfer, AwsError> {
        let mut done = Transfer::default();
        for file in files_under(dir)? {
            let rel = file
                .strip_prefix(dir)
                .unwrap_or(&file)
                .to_string_lossy()
                .replace('\\', "/");
            let target = url.join(&rel);
            let local = local_etag(&file)?;
            if self.etag(&target)?.as_deref() == Some(local.as_str()) {
                done.unchanged.push(rel);
                continue;
            }
            self.upload_file(&file, &target)?;
            done.bytes += std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            done.copied.push(rel);
        }
        Ok(done)
    }

    /// Delete every object under `folder`. Refuses anything that is not a folder below the
    /// bucket root: a prefix without its `/` would also match its siblings (`a/b` matches
    /// `a/b_backup/`), and an empty one is the whole bucket.
    pub fn delete_folder(&self, folder: &S3Url) -> Result<usize, AwsError> {
        if folder.key.is_empty() || !folder.key.ends_with('/') {
            return Err(AwsError::Config(format!(
                "refusing to delete {folder}: only a folder below the bucket root (ending in '/') is deleted"
            )));
        }
        let mut n = 0;
        for o in self.list(folder)? {
            self.block_on(
                self.s3
                    .delete_object()
                    .bucket(&folder.bucket)
                    .key(&o.key)
                    .send(),
            )
            .map_err(|e| {
                service_error("deleting", format!("s3://{}/{}", folder.bucket, o.key), e)
            })?;
            n += 1;
        }
        Ok(n)
    }
}

/// Where `bucket/key` lives in the cache, or `None` when the key would lead outside it. S3
/// keeps keys verbatim, so `a/../../x` or `/etc/x` are legal object names there; joined onto
/// a local path they would write (and later delete) files anywhere.
fn cache_path(cache: &Path, id: &str) -> Option<PathBuf> {
    let safe = id
        .split('/')
        .all(|segment| !matches!(segment, "" | "." | "..") && !segment.contains('\0'));
    safe.then(|| cache.join(id))
}

/// The ETag S3 gives a file uploaded as `upload_file` does: the MD5 of the bytes, or for a
/// multipart upload the MD5 of the parts' MD5s with `-<parts>`.
pub fn local_etag(file: &Path) -> Result<String, AwsError> {
    let bytes = std::fs::read(file)
        .map_err(|e| AwsError::Io(format!("cannot read {}: {e}", file.display())))?;
    if bytes.len() < PART_SIZE {
        return Ok(hex::encode(Md5::digest(&bytes)));
    }
    let mut joined = Vec::new();
    let mut parts = 0;
    for chunk in bytes.chunks(PART_SIZE) {
        joined.extend_from_slice(&Md5::digest(chunk));
        parts += 1;
    }
    Ok(format!("{}-{parts}", hex::encode(Md5::digest(&joined))))
}

/// Files under `dir`, in a stable order.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>, AwsError> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry =
            entry.map_err(|e| AwsError::Io(format!("cannot read {}: {e}", dir.display())))?;
        if entry.file_type().is_file() {
            out.push(entry.into_path());
        }
    }
    Ok(out)
}

/// Write through a temporary file, so a reader never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), AwsError> {
    let io = |e: std::io::Error| AwsError::Io(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("etlx-partial");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_folder_is_staged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("events.csv");
        std::fs::write(&file, "id\n1\n").expect("write");
        let target = Target::default_duckdb("demo", "target");
        let to = S3Url::parse("s3://bucket/landing/").expect("url");
        let refused = stage(&target, &file, &to).expect_err("a file");
        assert_eq!(
            refused.to_string(),
            format!("{} is not a folder", file.display())
        );
    }

    #[test]
    fn keys_that_would_leave_the_cache_have_no_cache_path() {
        let cache = Path::new("/cache");
        assert_eq!(
            cache_path(cache, "lake/landing/day=1/part-0.json"),
            Some(PathBuf::from("/cache/lake/landing/day=1/part-0.json"))
        );
        for id in [
            "lake/../../etc/passwd",
            "lake/a/../../../x",
            "lake//etc/passwd",
            "lake/./x",
            "../x",
            "lake/x/..",
        ] {
            assert_eq!(cache_path(cache, id), None, "{id}");
        }
    }
}
