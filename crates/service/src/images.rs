//! Images: putting manifests, reading them, listing and deleting them.

use berth_store::{
    ImageId, ImageSummary, MetaError, NewImage, ReferenceKind, StoredManifest, TagFilter,
    TagMutability,
};
use berth_types::{Digest, Reference, RepositoryName, Tag};

use crate::error::{Error, Result};
use crate::manifest::{self, ManifestKind, ParsedManifest};
use crate::pagination::{PageRequest, MAX_PAGE_SIZE};
use crate::Registry;

/// How a put of an image that already exists is reported. ECR's PutImage raises
/// `ImageAlreadyExistsException`; an OCI push of the same manifest succeeds again,
/// except where an immutable tag is involved, where ECR's registry rejects it too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutMode {
    Ecr,
    Oci,
}

/// A manifest to put.
#[derive(Clone, Debug)]
pub struct PutImage {
    pub repository: RepositoryName,
    pub manifest: Vec<u8>,
    /// The media type the client declared, if any.
    pub media_type: Option<String>,
    pub tag: Option<Tag>,
    /// The digest the client expects the manifest to have, if it gave one.
    pub expected_digest: Option<String>,
    pub mode: PutMode,
}

/// The outcome of a put.
#[derive(Clone, Debug)]
pub struct PutImageResult {
    pub digest: Digest,
    pub media_type: String,
    pub created: bool,
    pub subject: Option<Digest>,
}

/// An image named by digest, tag or both, as ECR's `ImageIdentifier`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageIdentifier {
    pub digest: Option<String>,
    pub tag: Option<String>,
}

/// The failure of one image in a batch call, with ECR's failure code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFailure {
    pub id: ImageIdentifier,
    pub code: &'static str,
    pub reason: String,
}

impl Registry {
    /// Checks and stores a manifest, optionally under a tag.
    pub async fn put_image(&self, request: PutImage) -> Result<PutImageResult> {
        let digest = Digest::of_bytes(&request.manifest);
        if let Some(expected) = &request.expected_digest {
            if expected != digest.as_str() {
                return Err(Error::ImageDigestDoesNotMatch {
                    given: expected.clone(),
                    actual: digest,
                });
            }
        }
        let parsed = manifest::parse(&request.manifest, request.media_type.as_deref())?;
        let name = &request.repository;
        self.check_descriptor_sizes(name, &parsed).await?;
        self.check_child_sizes(name, &parsed).await?;
        let image = NewImage {
            digest: digest.clone(),
            media_type: parsed.media_type.clone(),
            // `artifactType` first and the config media type as the fallback, the order
            // the referrers API needs; `ParsedManifest::artifact_type` holds exactly that.
            artifact_type: parsed.artifact_type.clone(),
            image_size: self.image_size(name, &parsed).await?,
            references: references(&parsed),
            subject: parsed.subject.clone(),
            annotations: parsed.annotations.clone(),
            manifest: request.manifest,
            pushed_at: self.clock.now(),
        };

        let outcome = self
            .meta
            .put_image(name, &image, request.tag.as_ref())
            .await;
        let created = match outcome {
            Ok(outcome) => {
                tracing::info!(
                    repository = %name, digest = %digest, tag = request.tag.as_ref().map_or("", Tag::as_str),
                    created = outcome.created, moved_from = outcome.tag_moved_from.as_ref().map_or("", Digest::as_str),
                    "put image"
                );
                outcome.created
            }
            Err(error) => {
                self.put_conflict(
                    error,
                    &request.repository,
                    request.tag.as_ref(),
                    &digest,
                    request.mode,
                )
                .await?
            }
        };
        Ok(PutImageResult {
            digest,
            media_type: parsed.media_type,
            created,
            subject: parsed.subject,
        })
    }

    /// Maps a failed put to the domain error, or to success for an idempotent OCI push.
    async fn put_conflict(
        &self,
        error: MetaError,
        name: &RepositoryName,
        tag: Option<&Tag>,
        digest: &Digest,
        mode: PutMode,
    ) -> Result<bool> {
        let name_text = name.to_string();
        match error {
            MetaError::BlobsNotFound(digests) => Err(Error::LayersNotFound {
                digests,
                name: name_text,
            }),
            MetaError::ManifestsNotFound(digests) => Err(Error::ReferencedImagesNotFound {
                digests,
                name: name_text,
            }),
            MetaError::ImageTagImmutable { tag, .. } => Err(Error::ImageTagAlreadyExists {
                tag,
                name: name_text,
            }),
            MetaError::ImageAlreadyExists {
                tag: existing_tag, ..
            } => {
                let immutable =
                    self.repository(name).await?.tag_mutability == TagMutability::Immutable;
                match (mode, tag) {
                    (PutMode::Oci, Some(tag)) if immutable => Err(Error::ImageTagAlreadyExists {
                        tag: tag.to_string(),
                        name: name_text,
                    }),
                    (PutMode::Oci, _) => Ok(false),
                    (PutMode::Ecr, _) => Err(Error::ImageAlreadyExists {
                        digest: digest.clone(),
                        tag: existing_tag,
                        name: name_text,
                        registry_id: self.settings.registry_id.clone(),
                    }),
                }
            }
            other => Err(self.meta_error(other)),
        }
    }

    /// Rejects a manifest whose blob descriptors declare sizes that differ from the
    /// stored blobs, so that pulls never get a size they cannot verify.
    async fn check_descriptor_sizes(
        &self,
        name: &RepositoryName,
        parsed: &ParsedManifest,
    ) -> Result<()> {
        let ManifestKind::Image { config, layers } = &parsed.kind else {
            return Ok(());
        };
        for descriptor in std::iter::once(config).chain(layers).filter(|d| !d.foreign) {
            let linked = self
                .meta
                .linked_blob(name, &descriptor.digest)
                .await
                .map_err(|e| self.meta_error(e))?;
            if let Some(blob) = linked {
                if blob.size != descriptor.size {
                    return Err(Error::ManifestInvalid(format!(
                        "the descriptor of {} declares size {}, but the blob has {} bytes",
                        descriptor.digest, descriptor.size, blob.size
                    )));
                }
            }
        }
        Ok(())
    }

    /// Rejects an index whose child descriptors declare sizes that differ from the
    /// stored child manifests; the OCI image spec requires them to match.
    async fn check_child_sizes(
        &self,
        name: &RepositoryName,
        parsed: &ParsedManifest,
    ) -> Result<()> {
        let ManifestKind::Index { manifests } = &parsed.kind else {
            return Ok(());
        };
        for (index, child) in manifests.iter().enumerate() {
            let summary = self
                .meta
                .image_summary(name, &child.digest)
                .await
                .map_err(|e| self.meta_error(e))?;
            if let Some(stored) = summary {
                if stored.manifest_size != child.size {
                    return Err(Error::ManifestInvalid(format!(
                        "manifests[{index}] ({}) declares size {}, but the stored manifest has {} bytes",
                        child.digest, child.size, stored.manifest_size
                    )));
                }
            }
        }
        Ok(())
    }

    /// Computes the size ECR reports: the layer total, or for an index the largest child.
    async fn image_size(&self, name: &RepositoryName, parsed: &ParsedManifest) -> Result<u64> {
        let ManifestKind::Index { manifests } = &parsed.kind else {
            return Ok(parsed.layer_size_total());
        };
        let mut largest = 0;
        for child in manifests {
            let summary = self
                .meta
                .image_summary(name, &child.digest)
                .await
                .map_err(|e| self.meta_error(e))?;
            largest = largest.max(summary.map_or(0, |s| s.image_size));
        }
        Ok(largest)
    }

    /// Reads a manifest by tag or digest.
    pub async fn manifest(
        &self,
        name: &RepositoryName,
        reference: &Reference,
    ) -> Result<StoredManifest> {
        let found = match reference {
            Reference::Tag(tag) => self.meta.manifest_by_tag(name, tag).await,
            Reference::Digest(digest) => self.meta.manifest_by_digest(name, digest).await,
        };
        found
            .map_err(|error| self.meta_error(error))?
            .ok_or(Error::ManifestUnknown)
    }

    /// Resolves an ECR image identifier, or explains with ECR's failure code why not.
    pub async fn resolve_image(
        &self,
        name: &RepositoryName,
        id: &ImageIdentifier,
    ) -> Result<std::result::Result<Digest, ImageFailure>> {
        let failure = |code: &'static str, reason: String| {
            Ok(Err(ImageFailure {
                id: id.clone(),
                code,
                reason,
            }))
        };
        let digest = match id.digest.as_deref().map(Digest::parse) {
            Some(Ok(digest)) => Some(digest),
            Some(Err(error)) => return failure("InvalidImageDigest", error.to_string()),
            None => None,
        };
        let tag = match id.tag.as_deref().map(Tag::parse) {
            Some(Ok(tag)) => Some(tag),
            Some(Err(error)) => return failure("InvalidImageTag", error.to_string()),
            None => None,
        };
        let tagged = match &tag {
            Some(tag) => self
                .meta
                .digest_for_tag(name, tag)
                .await
                .map_err(|e| self.meta_error(e))?,
            None => None,
        };
        match (digest, tag, tagged) {
            (None, None, _) => failure(
                "MissingDigestAndTag",
                "Image digest and tag are both missing; give at least one".into(),
            ),
            (_, Some(_), None) => failure("ImageNotFound", "Requested image not found".into()),
            (Some(digest), Some(_), Some(tagged)) if digest != tagged => failure(
                "ImageTagDoesNotMatchDigest",
                "The image tag and digest name different images".into(),
            ),
            (_, Some(_), Some(tagged)) => Ok(Ok(tagged)),
            (Some(digest), None, _) => match self
                .meta
                .image_summary(name, &digest)
                .await
                .map_err(|e| self.meta_error(e))?
            {
                Some(_) => Ok(Ok(digest)),
                None => failure("ImageNotFound", "Requested image not found".into()),
            },
        }
    }

    /// Lists image ids, one per (image, tag) and one per untagged image.
    pub async fn list_image_ids(
        &self,
        name: &RepositoryName,
        filter: TagFilter,
        page: &PageRequest,
    ) -> Result<(Vec<ImageId>, Option<String>)> {
        let limit = self.page_size(page, MAX_PAGE_SIZE)?;
        let scope = format!("ListImages:{name}:{filter:?}");
        let cursor = self.cursor(&scope, page)?;
        let rows = self
            .meta
            .list_image_ids(name, filter, cursor.as_ref(), limit)
            .await
            .map_err(|e| self.meta_error(e))?;
        let next = rows.next.map(|cursor| self.encode_token(&scope, &cursor));
        Ok((rows.items, next))
    }

    /// Pages through image details, one per image with all its tags.
    pub async fn describe_images(
        &self,
        name: &RepositoryName,
        filter: TagFilter,
        page: &PageRequest,
    ) -> Result<(Vec<ImageSummary>, Option<String>)> {
        let limit = self.page_size(page, MAX_PAGE_SIZE)?;
        let scope = format!("DescribeImages:{name}:{filter:?}");
        let cursor = self.cursor(&scope, page)?;
        let rows = self
            .meta
            .list_images(name, filter, cursor.as_ref(), limit)
            .await
            .map_err(|e| self.meta_error(e))?;
        let next = rows.next.map(|cursor| self.encode_token(&scope, &cursor));
        Ok((rows.items, next))
    }

    /// Describes the images the ids name; any id that names no image fails the call.
    pub async fn describe_image_ids(
        &self,
        name: &RepositoryName,
        ids: &[ImageIdentifier],
    ) -> Result<Vec<ImageSummary>> {
        let mut found: Vec<ImageSummary> = Vec::with_capacity(ids.len());
        for id in ids {
            let digest = match self.resolve_image(name, id).await? {
                Ok(digest) => digest,
                Err(failure)
                    if failure.code == "InvalidImageDigest"
                        || failure.code == "InvalidImageTag" =>
                {
                    return Err(Error::InvalidParameter(failure.reason));
                }
                Err(_) => {
                    return Err(Error::ImageNotFound {
                        image: describe_id(id),
                        name: name.to_string(),
                        registry_id: self.settings.registry_id.clone(),
                    })
                }
            };
            if found.iter().any(|image| image.digest == digest) {
                continue;
            }
            if let Some(summary) = self
                .meta
                .image_summary(name, &digest)
                .await
                .map_err(|e| self.meta_error(e))?
            {
                found.push(summary);
            }
        }
        Ok(found)
    }

    pub async fn image_summary(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<ImageSummary>> {
        self.meta
            .image_summary(name, digest)
            .await
            .map_err(|e| self.meta_error(e))
    }

    /// Removes a tag. When it was the image's last tag, the image goes too, as in ECR,
    /// unless an index still references it. Returns the image the tag named.
    pub async fn untag_image(&self, name: &RepositoryName, tag: &Tag) -> Result<Option<Digest>> {
        let Some(digest) = self
            .meta
            .delete_tag(name, tag)
            .await
            .map_err(|e| self.meta_error(e))?
        else {
            return Ok(None);
        };
        let summary = self
            .meta
            .image_summary(name, &digest)
            .await
            .map_err(|e| self.meta_error(e))?;
        if summary.is_some_and(|image| image.tags.is_empty()) {
            match self.meta.delete_image(name, &digest).await {
                Ok(_) | Err(MetaError::ImageReferencedByIndex(_)) => {}
                Err(error) => return Err(self.meta_error(error)),
            }
        }
        tracing::info!(repository = %name, tag = %tag, digest = %digest, "removed tag");
        Ok(Some(digest))
    }

    /// Deletes an image and all its tags. Returns the tags it had, or `None` when the
    /// image does not exist.
    pub async fn delete_image(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<Vec<Tag>>> {
        match self.meta.delete_image(name, digest).await {
            Ok(Some(tags)) => {
                tracing::info!(repository = %name, digest = %digest, tags = tags.len(), "deleted image");
                Ok(Some(tags))
            }
            Ok(None) => Ok(None),
            Err(MetaError::ImageReferencedByIndex(digest)) => {
                Err(Error::ImageReferencedByManifestList {
                    digest,
                    name: name.to_string(),
                })
            }
            Err(error) => Err(self.meta_error(error)),
        }
    }

    /// Lists tags in lexical order after `last`, for the OCI tags API.
    pub async fn list_tags(
        &self,
        name: &RepositoryName,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Tag>> {
        self.meta
            .list_tags(name, last, limit)
            .await
            .map_err(|e| self.meta_error(e))
    }

    pub async fn referrers(
        &self,
        name: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<berth_store::Referrer>> {
        self.meta
            .referrers(name, subject)
            .await
            .map_err(|e| self.meta_error(e))
    }
}

fn references(parsed: &ParsedManifest) -> Vec<(Digest, ReferenceKind)> {
    match &parsed.kind {
        ManifestKind::Image { config, layers } => std::iter::once(config)
            .chain(layers)
            .filter(|descriptor| !descriptor.foreign)
            .map(|descriptor| (descriptor.digest.clone(), ReferenceKind::Blob))
            .collect(),
        ManifestKind::Index { manifests } => manifests
            .iter()
            .map(|child| (child.digest.clone(), ReferenceKind::Manifest))
            .collect(),
    }
}

fn describe_id(id: &ImageIdentifier) -> String {
    let digest = id.digest.as_deref().map(|d| format!("imageDigest={d}"));
    let tag = id.tag.as_deref().map(|t| format!("imageTag={t}"));
    format!(
        "'{{{}}}'",
        digest.into_iter().chain(tag).collect::<Vec<_>>().join(", ")
    )
}
