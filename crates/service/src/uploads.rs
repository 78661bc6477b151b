//! Upload sessions: where a blob's bytes gather until its digest is verified.
//!
//! Both fronts share the sessions. ECR's layer-part API adds its own rules at
//! completion (no empty uploads, no small non-final parts); the OCI API has none.

use std::sync::Arc;

use berth_store::{BlobError, ByteStream};
use berth_types::{Digest, RepositoryName, Sha256Hasher};

use crate::error::{Error, Result};
use crate::Registry;

/// The part size InitiateLayerUpload reports, as ECR reports it.
pub const UPLOAD_PART_SIZE: u64 = 10 * 1024 * 1024;
/// ECR rejects a completed upload with a non-final part smaller than this.
pub const MIN_LAYER_PART_SIZE: u64 = 5 * 1024 * 1024;
/// ECR's quota of parts per layer upload.
pub const MAX_LAYER_PARTS: u32 = 4200;

/// The first byte of an ECR layer part, for the contiguity check.
#[derive(Clone, Copy, Debug)]
pub struct LayerPart {
    pub first_byte: u64,
}

type HashSlot = Arc<tokio::sync::Mutex<Option<Sha256Hasher>>>;

/// The offset at which an append must start.
#[derive(Clone, Copy)]
enum Start {
    /// At the end of the upload, wherever that is.
    Any,
    /// At this byte, which must be the end of the upload (an OCI `Content-Range`).
    At(u64),
    /// At the end of the upload, counting toward ECR's part quota.
    Part(LayerPart),
}

impl Registry {
    /// Opens an upload session in a repository and returns its id.
    pub async fn start_upload(&self, name: &RepositoryName) -> Result<String> {
        self.repository(name).await?;
        let id = uuid::Uuid::new_v4().to_string();
        // The session row comes first, so upload files without a row are always
        // leftovers that the reaper may delete.
        self.meta
            .create_upload(&id, name, self.clock.now())
            .await
            .map_err(|e| self.meta_error(e))?;
        if let Err(error) = self.blobs.create_upload(&id).await {
            let _ = self.meta.delete_upload(&id).await;
            return Err(error.into());
        }
        tracing::debug!(repository = %name, upload_id = %id, "started upload");
        Ok(id)
    }

    fn upload_not_found(&self, name: &RepositoryName, id: &str) -> Error {
        Error::UploadNotFound {
            upload_id: id.to_owned(),
            name: name.to_string(),
        }
    }

    fn hash_slot(&self, id: &str) -> HashSlot {
        let mut slots = self.upload_hashes.lock().expect("upload hash lock");
        slots.entry(id.to_owned()).or_default().clone()
    }

    pub(crate) fn forget_upload_hash(&self, id: &str) {
        self.upload_hashes
            .lock()
            .expect("upload hash lock")
            .remove(id);
    }

    /// Checks that an upload exists in this repository and returns its record. A
    /// repository that does not exist is reported as `RepositoryNotFound`, not as a
    /// missing upload.
    async fn upload_in(&self, name: &RepositoryName, id: &str) -> Result<berth_store::Upload> {
        let upload = self.meta.upload(id).await.map_err(|e| self.meta_error(e))?;
        match upload.filter(|upload| &upload.repository == name) {
            Some(upload) => Ok(upload),
            None => {
                self.repository(name).await?;
                Err(self.upload_not_found(name, id))
            }
        }
    }

    /// Returns the number of bytes an upload holds.
    pub async fn upload_size(&self, name: &RepositoryName, id: &str) -> Result<u64> {
        self.upload_in(name, id).await?;
        self.blobs
            .upload_size(id)
            .await?
            .ok_or_else(|| self.upload_not_found(name, id))
    }

    /// Returns the hash of the first `offset` bytes of an upload: the one kept in memory
    /// when it matches, or a fresh one read back from the store.
    async fn hasher_at(
        &self,
        id: &str,
        kept: Option<Sha256Hasher>,
        offset: u64,
    ) -> Result<Sha256Hasher> {
        match kept {
            Some(hasher) if hasher.length() == offset => Ok(hasher),
            _ if offset == 0 => Ok(Sha256Hasher::new()),
            _ => {
                tracing::info!(upload_id = %id, offset, "rehashing upload whose running hash is not on this node");
                Ok(self.blobs.hash_upload(id).await?)
            }
        }
    }

    /// Appends a part to an upload. With `part`, the part must start where the upload
    /// ends (ECR's contiguity rule). Returns the new size.
    pub async fn append_upload(
        &self,
        name: &RepositoryName,
        id: &str,
        part: Option<LayerPart>,
        body: ByteStream,
    ) -> Result<u64> {
        let start = part.map_or(Start::Any, Start::Part);
        self.append(name, id, start, body).await
    }

    /// Appends an OCI chunk to an upload. With `start`, from the chunk's `Content-Range`,
    /// the chunk must begin where the upload ends, else `InvalidLayerPart` reports what
    /// the upload holds. ECR's part quota does not apply. Returns the new size.
    pub async fn append_chunk(
        &self,
        name: &RepositoryName,
        id: &str,
        start: Option<u64>,
        body: ByteStream,
    ) -> Result<u64> {
        let start = start.map_or(Start::Any, Start::At);
        self.append(name, id, start, body).await
    }

    async fn append(
        &self,
        name: &RepositoryName,
        id: &str,
        start: Start,
        body: ByteStream,
    ) -> Result<u64> {
        let upload = self.upload_in(name, id).await?;
        let slot = self.hash_slot(id);
        let mut kept = slot.lock().await;
        let offset = self
            .blobs
            .upload_size(id)
            .await?
            .ok_or_else(|| self.upload_not_found(name, id))?;
        match start {
            Start::Any => {}
            Start::At(first_byte) => self.check_start(name, id, offset, first_byte)?,
            Start::Part(part) => self.check_part(name, id, &upload, offset, part)?,
        }

        let mut hasher = self.hasher_at(id, kept.take(), offset).await?;
        let new_size = match self
            .blobs
            .append_upload(id, offset, body, Some(&mut hasher))
            .await
        {
            Ok(size) => size,
            Err(BlobError::OffsetMismatch { actual, .. }) => {
                return Err(self.range_error(
                    name,
                    id,
                    actual,
                    format!("the upload now holds {actual} bytes"),
                ));
            }
            Err(BlobError::Client(message)) => {
                return Err(Error::InvalidParameter(format!(
                    "the request body could not be read: {message}"
                )));
            }
            Err(error) => return Err(error.into()),
        };
        *kept = Some(hasher);
        let now = self.clock.now();
        self.meta
            .record_upload_part(id, new_size, new_size - offset, MIN_LAYER_PART_SIZE, now)
            .await
            .map_err(|e| self.meta_error(e))?;
        Ok(new_size)
    }

    fn check_part(
        &self,
        name: &RepositoryName,
        id: &str,
        upload: &berth_store::Upload,
        offset: u64,
        part: LayerPart,
    ) -> Result<()> {
        self.check_start(name, id, offset, part.first_byte)?;
        if upload.part_count >= MAX_LAYER_PARTS {
            return Err(Error::LimitExceeded(format!(
                "The upload '{id}' already has {MAX_LAYER_PARTS} parts, the maximum; use larger parts"
            )));
        }
        Ok(())
    }

    fn check_start(
        &self,
        name: &RepositoryName,
        id: &str,
        offset: u64,
        first_byte: u64,
    ) -> Result<()> {
        if first_byte == offset {
            return Ok(());
        }
        let message = format!(
            "The part starts at byte {first_byte}, but the upload holds {offset} bytes; send the part that starts at byte {offset}"
        );
        Err(self.range_error(name, id, offset, message))
    }

    fn range_error(&self, name: &RepositoryName, id: &str, size: u64, message: String) -> Error {
        Error::InvalidLayerPart {
            upload_id: id.to_owned(),
            name: name.to_string(),
            last_valid_byte: size.saturating_sub(1),
            message,
        }
    }

    /// Completes an ECR layer upload: checks ECR's part rules and the digest, then
    /// makes the blob visible. A digest already in the repository is reported as
    /// `LayerAlreadyExists` after the upload is consumed.
    pub async fn complete_layer_upload(
        &self,
        name: &RepositoryName,
        id: &str,
        digests: &[Digest],
    ) -> Result<Digest> {
        let upload = self.upload_in(name, id).await?;
        let slot = self.hash_slot(id);
        let mut kept = slot.lock().await;
        if upload.part_count == 0 {
            return Err(Error::EmptyUpload {
                upload_id: id.to_owned(),
            });
        }
        if upload.small_part_seen {
            return Err(Error::LayerPartTooSmall {
                upload_id: id.to_owned(),
                minimum: MIN_LAYER_PART_SIZE,
            });
        }
        let offset = self
            .blobs
            .upload_size(id)
            .await?
            .ok_or_else(|| self.upload_not_found(name, id))?;
        let hasher = self.hasher_at(id, kept.take(), offset).await?;
        let computed = hasher.clone().finish();
        let Some(expected) = digests.iter().find(|digest| **digest == computed) else {
            *kept = Some(hasher);
            let expected = digests
                .iter()
                .map(Digest::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::DigestMismatch {
                expected,
                actual: computed,
            });
        };
        let already_linked = self.commit_and_link(name, id, expected).await?;
        drop(kept);
        self.forget_upload_hash(id);
        if already_linked {
            return Err(Error::LayerAlreadyExists {
                digest: computed,
                name: name.to_string(),
            });
        }
        Ok(computed)
    }

    /// Completes an OCI blob upload, first appending `last_chunk` when the client sent
    /// one with the final PUT. Returns the blob's size.
    pub async fn finish_blob_upload(
        &self,
        name: &RepositoryName,
        id: &str,
        digest: &Digest,
        last_chunk: Option<ByteStream>,
    ) -> Result<u64> {
        if let Some(chunk) = last_chunk {
            self.append_upload(name, id, None, chunk).await?;
        }
        self.upload_in(name, id).await?;
        let slot = self.hash_slot(id);
        let mut kept = slot.lock().await;
        let offset = self
            .blobs
            .upload_size(id)
            .await?
            .ok_or_else(|| self.upload_not_found(name, id))?;
        let hasher = self.hasher_at(id, kept.take(), offset).await?;
        let computed = hasher.clone().finish();
        if computed != *digest {
            *kept = Some(hasher);
            return Err(Error::DigestMismatch {
                expected: digest.to_string(),
                actual: computed,
            });
        }
        self.commit_and_link(name, id, digest).await?;
        drop(kept);
        self.forget_upload_hash(id);
        Ok(offset)
    }

    /// Moves a verified upload into place and links it into the repository, under the
    /// digest's lock stripe so the garbage collector cannot delete the blob between the
    /// two steps. Returns true when the repository already had the blob.
    async fn commit_and_link(
        &self,
        name: &RepositoryName,
        id: &str,
        digest: &Digest,
    ) -> Result<bool> {
        let _guard = self.blob_lock(digest).read().await;
        let size = self.blobs.commit_upload(id, digest, digest).await?;
        let now = self.clock.now();
        let already = self
            .meta
            .link_blob(name, digest, size, None, now)
            .await
            .map_err(|e| self.meta_error(e))?;
        self.meta
            .delete_upload(id)
            .await
            .map_err(|e| self.meta_error(e))?;
        tracing::info!(repository = %name, digest = %digest, upload_id = %id, bytes = size, "stored blob");
        Ok(already)
    }

    /// Cancels an upload and deletes its bytes.
    pub async fn cancel_upload(&self, name: &RepositoryName, id: &str) -> Result<()> {
        self.upload_in(name, id).await?;
        self.discard_upload(id).await?;
        tracing::debug!(repository = %name, upload_id = %id, "cancelled upload");
        Ok(())
    }

    /// Deletes an upload's session and bytes, waiting for a request that is appending
    /// to it to finish first.
    async fn discard_upload(&self, id: &str) -> Result<()> {
        let slot = self.hash_slot(id);
        let _kept = slot.lock().await;
        self.meta
            .delete_upload(id)
            .await
            .map_err(|e| self.meta_error(e))?;
        self.blobs.delete_upload(id).await?;
        self.forget_upload_hash(id);
        Ok(())
    }
}

impl Registry {
    /// Deletes uploads not written to within `expiry`, and upload files that no upload
    /// session owns (left by a crash between creating the two). Returns how many uploads
    /// were deleted.
    pub async fn reap_uploads(&self, expiry: std::time::Duration) -> Result<usize> {
        let cutoff = self.clock.now().plus_millis(-(expiry.as_millis() as i64));
        let stale = self
            .meta
            .stale_uploads(cutoff, 1000)
            .await
            .map_err(|e| self.meta_error(e))?;
        for id in &stale {
            self.discard_upload(id).await?;
            tracing::info!(upload_id = %id, "deleted abandoned upload");
        }
        let mut orphans = 0;
        for id in self.blobs.list_uploads().await? {
            let known = self
                .meta
                .upload(&id)
                .await
                .map_err(|e| self.meta_error(e))?
                .is_some();
            if !known
                && self
                    .upload_hashes
                    .lock()
                    .expect("upload hash lock")
                    .get(&id)
                    .is_none()
            {
                self.blobs.delete_upload(&id).await?;
                orphans += 1;
            }
        }
        Ok(stale.len() + orphans)
    }
}
