//! Reading, mounting and unlinking blobs in a repository.

use berth_store::{BlobReader, LinkedBlob};
use berth_types::{Digest, RepositoryName};

use crate::error::{Error, Result};
use crate::Registry;

/// The bytes of a blob as served to a client.
pub type BlobBody = BlobReader;

impl Registry {
    /// Returns a blob linked into the repository, or `BlobUnknown`.
    pub async fn blob(&self, name: &RepositoryName, digest: &Digest) -> Result<LinkedBlob> {
        let linked = self
            .meta
            .linked_blob(name, digest)
            .await
            .map_err(|e| self.meta_error(e))?;
        linked.ok_or_else(|| Error::BlobUnknown {
            digest: digest.clone(),
            name: name.to_string(),
        })
    }

    /// Opens a blob of the repository, or the inclusive byte range `[start, end]` of it.
    pub async fn open_blob(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        range: Option<(u64, u64)>,
    ) -> Result<BlobBody> {
        let linked = self.blob(name, digest).await?;
        self.open_linked_blob(name, &linked, range).await
    }

    /// Opens a blob that [`Registry::blob`] returned for repository `name`, or the
    /// inclusive byte range `[start, end]` of it, without looking the link up again.
    pub async fn open_linked_blob(
        &self,
        name: &RepositoryName,
        linked: &LinkedBlob,
        range: Option<(u64, u64)>,
    ) -> Result<BlobBody> {
        let digest = &linked.digest;
        // A file whose size differs from the size recorded at commit was changed outside
        // berth. Serving it would send bytes that do not match the digest.
        let corrupt = |actual: u64| {
            Error::internal(
                "opening a blob",
                format!(
                    "blob {digest} of '{name}' has {actual} bytes in blob storage but {} were committed; the stored file is damaged",
                    linked.size
                ),
            )
        };
        match self.blobs.open(digest, range).await {
            Ok(reader) if reader.size != linked.size => Err(corrupt(reader.size)),
            Ok(reader) => Ok(reader),
            Err(berth_store::BlobError::RangeNotSatisfiable { size, .. })
                if size != linked.size =>
            {
                Err(corrupt(size))
            }
            Err(berth_store::BlobError::NotFound(_)) => Err(Error::internal(
                "opening a blob",
                format!("blob {digest} is linked into '{name}' but missing from blob storage"),
            )),
            Err(error) => Err(error.into()),
        }
    }

    /// Checks a layer for ECR's GetDownloadUrlForLayer: it must be in the repository and
    /// referenced by an image there.
    pub async fn downloadable_layer(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<LinkedBlob> {
        let blob = match self.blob(name, digest).await {
            Err(Error::BlobUnknown { digest, name }) => {
                return Err(Error::LayersNotFound {
                    digests: vec![digest],
                    name,
                })
            }
            other => other?,
        };
        if !blob.referenced {
            return Err(Error::LayerInaccessible {
                digest: digest.clone(),
                name: name.to_string(),
            });
        }
        Ok(blob)
    }

    /// Links a blob of repository `from` into `name` without copying bytes. Returns
    /// false when `from` does not have the blob, so the client uploads it instead.
    pub async fn mount_blob(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        from: &RepositoryName,
    ) -> Result<bool> {
        self.repository(name).await?;
        let source = match self.meta.linked_blob(from, digest).await {
            Ok(Some(blob)) => blob,
            Ok(None) | Err(berth_store::MetaError::RepositoryNotFound(_)) => return Ok(false),
            Err(error) => return Err(self.meta_error(error)),
        };
        let _guard = self.blob_lock(digest).read().await;
        if self.blobs.stat(digest).await?.is_none() {
            return Ok(false);
        }
        let now = self.clock.now();
        let media_type = source.media_type.as_deref();
        self.meta
            .link_blob(name, digest, source.size, media_type, now)
            .await
            .map_err(|e| self.meta_error(e))?;
        tracing::info!(repository = %name, digest = %digest, from = %from, "mounted blob");
        Ok(true)
    }

    /// Removes a blob from a repository, unless an image there still references it. The
    /// bytes stay until garbage collection finds that nothing references them.
    pub async fn unlink_blob(&self, name: &RepositoryName, digest: &Digest) -> Result<()> {
        let unlinked = match self.meta.unlink_blob(name, digest).await {
            Err(berth_store::MetaError::BlobReferenced(digest)) => {
                return Err(Error::BlobReferenced {
                    digest,
                    name: name.to_string(),
                });
            }
            other => other.map_err(|e| self.meta_error(e))?,
        };
        if unlinked {
            tracing::info!(repository = %name, digest = %digest, "unlinked blob");
            Ok(())
        } else {
            Err(Error::BlobUnknown {
                digest: digest.clone(),
                name: name.to_string(),
            })
        }
    }
}
