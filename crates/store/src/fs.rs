//! The local filesystem blob store.
//!
//! Layout under the root directory:
//!
//! ```text
//! <root>/
//! ├── blobs/sha256/<first two hex digits>/<64 hex digits>   verified content, read-only
//! └── uploads/<upload id>/data                              bytes received so far
//! ```
//!
//! Both trees live on one filesystem so that committing an upload is a `rename`: a blob
//! path either does not exist or holds the complete, verified bytes.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use berth_types::{Digest, Sha256Hasher};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::fs::{self, File, OpenOptions};
use tokio::io::AsyncReadExt;

use crate::blob::{BlobContent, BlobReader, BlobStore, ByteStream};
use crate::error::BlobError;

const READ_BUFFER: usize = 256 * 1024;
/// Chunks of an upload that may wait for the writer thread.
const WRITES_IN_FLIGHT: usize = 8;

/// Blobs as files under a root directory.
#[derive(Clone, Debug)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// Opens the store, creating its directories when they are missing.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        fs::create_dir_all(root.join("blobs/sha256")).await?;
        fs::create_dir_all(root.join("uploads")).await?;
        Ok(FsBlobStore { root })
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root.join("blobs/sha256").join(&hex[..2]).join(hex)
    }

    /// Upload ids come from the service as UUIDs; anything else could name a path outside
    /// the uploads directory, so it is treated as absent.
    fn upload_dir(&self, id: &str) -> Option<PathBuf> {
        let safe = !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        safe.then(|| self.root.join("uploads").join(id))
    }

    fn upload_data(&self, id: &str) -> Result<PathBuf, BlobError> {
        self.upload_dir(id)
            .map(|dir| dir.join("data"))
            .ok_or_else(|| BlobError::UploadNotFound(id.to_owned()))
    }
}

async fn size_of(path: &Path) -> Result<Option<u64>, BlobError> {
    match fs::metadata(path).await {
        Ok(metadata) => Ok(Some(metadata.len())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Makes a rename durable by syncing the directory that holds the new name.
async fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(|error| BlobError::Io(std::io::Error::other(error)))??;
    Ok(())
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError> {
        size_of(&self.blob_path(digest)).await
    }

    async fn open(
        &self,
        digest: &Digest,
        range: Option<(u64, u64)>,
    ) -> Result<BlobReader, BlobError> {
        let path = self.blob_path(digest);
        let file = match File::open(&path).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(digest.clone()));
            }
            Err(error) => return Err(error.into()),
        };
        let size = file.metadata().await?.len();
        let (start, length) = match range {
            None => (0, size),
            Some((start, end)) if start <= end && end < size => (start, end - start + 1),
            Some((start, end)) => return Err(BlobError::RangeNotSatisfiable { start, end, size }),
        };
        Ok(BlobReader {
            size,
            start,
            length,
            content: BlobContent::File(file.into_std().await),
        })
    }

    async fn delete(&self, digest: &Digest) -> Result<(), BlobError> {
        match fs::remove_file(self.blob_path(digest)).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    async fn create_upload(&self, id: &str) -> Result<(), BlobError> {
        let dir = self
            .upload_dir(id)
            .ok_or_else(|| BlobError::UploadNotFound(id.to_owned()))?;
        fs::create_dir_all(&dir).await?;
        File::create(dir.join("data")).await?;
        Ok(())
    }

    async fn upload_size(&self, id: &str) -> Result<Option<u64>, BlobError> {
        match self.upload_data(id) {
            Ok(path) => size_of(&path).await,
            Err(_) => Ok(None),
        }
    }

    async fn append_upload(
        &self,
        id: &str,
        offset: u64,
        mut body: ByteStream,
        mut hasher: Option<&mut Sha256Hasher>,
    ) -> Result<u64, BlobError> {
        let path = self.upload_data(id)?;
        let file = match OpenOptions::new().write(true).open(&path).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::UploadNotFound(id.to_owned()));
            }
            Err(error) => return Err(error.into()),
        };
        let actual = file.metadata().await?.len();
        if actual != offset {
            return Err(BlobError::OffsetMismatch {
                upload: id.to_owned(),
                offset,
                actual,
            });
        }

        // A blocking thread writes the chunks while this task hashes the next ones, so
        // hashing and writing overlap, and each chunk reaches write(2) without a copy into
        // another buffer. The channel bounds the bytes in flight.
        let (chunks, mut received) = tokio::sync::mpsc::channel::<Bytes>(WRITES_IN_FLIGHT);
        let mut file = file.into_std().await;
        let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            file.seek(SeekFrom::Start(offset))?;
            while let Some(chunk) = received.blocking_recv() {
                file.write_all(&chunk)?;
            }
            Ok(())
        });
        let mut written = 0u64;
        let mut read_error = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    read_error = Some(error);
                    break;
                }
            };
            if let Some(hasher) = hasher.as_deref_mut() {
                hasher.update(&chunk);
            }
            written += chunk.len() as u64;
            if chunks.send(chunk).await.is_err() {
                // The writer stopped on an error, which joining it returns.
                break;
            }
        }
        drop(chunks);
        let write_result = match writer.await {
            Ok(result) => result,
            Err(error) => Err(std::io::Error::other(format!(
                "the upload writer thread failed: {error}"
            ))),
        };
        let error = match (read_error, write_result) {
            (None, Ok(())) => return Ok(offset + written),
            (Some(error), _) => error,
            (None, Err(error)) => BlobError::Io(error),
        };
        // Cut the partial write away so the upload resumes at a known offset.
        let file = OpenOptions::new().write(true).open(&path).await?;
        file.set_len(offset).await?;
        Err(error)
    }

    async fn hash_upload(&self, id: &str) -> Result<Sha256Hasher, BlobError> {
        let path = self.upload_data(id)?;
        let mut file = File::open(&path)
            .await
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::NotFound => BlobError::UploadNotFound(id.to_owned()),
                _ => BlobError::Io(error),
            })?;
        let mut hasher = Sha256Hasher::new();
        let mut buffer = vec![0u8; READ_BUFFER];
        loop {
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                return Ok(hasher);
            }
            hasher.update(&buffer[..read]);
        }
    }

    async fn commit_upload(
        &self,
        id: &str,
        expected: &Digest,
        computed: &Digest,
    ) -> Result<u64, BlobError> {
        if expected != computed {
            return Err(BlobError::DigestMismatch {
                expected: expected.clone(),
                actual: computed.clone(),
            });
        }
        let source = self.upload_data(id)?;
        let file =
            OpenOptions::new()
                .write(true)
                .open(&source)
                .await
                .map_err(|error| match error.kind() {
                    std::io::ErrorKind::NotFound => BlobError::UploadNotFound(id.to_owned()),
                    _ => BlobError::Io(error),
                })?;
        let size = file.metadata().await?.len();
        file.sync_all().await?;
        // A fresh modification time tells the garbage collector the blob is in use now,
        // even when its bytes arrived long ago.
        let file = file.into_std().await;
        file.set_modified(std::time::SystemTime::now())?;
        drop(file);

        let target = self.blob_path(expected);
        let parent = target.parent().expect("blob paths have a parent");
        fs::create_dir_all(parent).await?;
        fs::rename(&source, &target).await?;
        sync_dir(parent).await?;
        self.delete_upload(id).await?;
        Ok(size)
    }

    async fn delete_upload(&self, id: &str) -> Result<(), BlobError> {
        let Some(dir) = self.upload_dir(id) else {
            return Ok(());
        };
        match fs::remove_dir_all(dir).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    async fn list_uploads(&self) -> Result<Vec<String>, BlobError> {
        let mut entries = fs::read_dir(self.root.join("uploads")).await?;
        let mut ids = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            if let Some(name) = entry.file_name().to_str() {
                ids.push(name.to_owned());
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn stream_of(chunks: Vec<Result<Bytes, BlobError>>) -> ByteStream {
        Box::pin(futures_util::stream::iter(chunks))
    }

    #[tokio::test]
    async fn upload_commits_only_with_matching_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).await.unwrap();
        let id = "0b6f1c3e-0000-4000-8000-000000000001";
        store.create_upload(id).await.unwrap();
        let mut hasher = Sha256Hasher::new();
        let body = stream_of(vec![
            Ok(Bytes::from_static(b"hello ")),
            Ok(Bytes::from_static(b"world")),
        ]);
        let size = store
            .append_upload(id, 0, body, Some(&mut hasher))
            .await
            .unwrap();
        assert_eq!(size, 11);

        let computed = hasher.finish();
        let wrong = Digest::of_bytes(b"other");
        let mismatch = store.commit_upload(id, &wrong, &computed).await;
        assert!(matches!(mismatch, Err(BlobError::DigestMismatch { .. })));
        assert_eq!(store.stat(&wrong).await.unwrap(), None);
        assert_eq!(store.upload_size(id).await.unwrap(), Some(11));

        store.commit_upload(id, &computed, &computed).await.unwrap();
        assert_eq!(store.stat(&computed).await.unwrap(), Some(11));
        assert_eq!(store.upload_size(id).await.unwrap(), None);
        let reader = store.open(&computed, Some((6, 10))).await.unwrap();
        let bytes: Vec<u8> = reader
            .into_stream()
            .map(|c| c.unwrap().to_vec())
            .concat()
            .await;
        assert_eq!(bytes, b"world");
    }

    #[tokio::test]
    async fn failed_append_is_cut_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).await.unwrap();
        let id = "0b6f1c3e-0000-4000-8000-000000000002";
        store.create_upload(id).await.unwrap();
        store
            .append_upload(id, 0, stream_of(vec![Ok(Bytes::from_static(b"abc"))]), None)
            .await
            .unwrap();
        let broken = stream_of(vec![
            Ok(Bytes::from_static(b"def")),
            Err(BlobError::Client("connection reset".into())),
        ]);
        assert!(store.append_upload(id, 3, broken, None).await.is_err());
        assert_eq!(store.upload_size(id).await.unwrap(), Some(3));
        let stale = store.append_upload(id, 0, stream_of(vec![]), None).await;
        assert!(matches!(
            stale,
            Err(BlobError::OffsetMismatch { actual: 3, .. })
        ));
    }

    #[tokio::test]
    async fn upload_ids_cannot_escape_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path().join("store")).await.unwrap();
        assert!(store.create_upload("../../etc").await.is_err());
        assert_eq!(store.upload_size("../x").await.unwrap(), None);
    }
}
