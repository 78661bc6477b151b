//! The metadata store trait.

use async_trait::async_trait;
use berth_types::{Digest, RepositoryName, Tag, Timestamp};

use crate::error::MetaError;
use crate::model::{
    Cursor, ImageId, ImageSummary, LifecyclePolicyRecord, LifecyclePreviewRecord, LinkedBlob,
    NewImage, Page, PutImageOutcome, Referrer, Repository, ResourceTag, StoredManifest, TagFilter,
    TagMutability, Upload,
};

/// Repositories, images, tags, blob links, upload sessions and settings.
///
/// Every method is one transaction. Methods that take a repository name return
/// [`MetaError::RepositoryNotFound`] when it does not exist.
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Returns a named 32-byte secret, creating it at random on first use. All nodes that
    /// share the store share the secret (pagination tokens, for example).
    async fn secret(&self, name: &str) -> Result<[u8; 32], MetaError>;

    async fn create_repository(
        &self,
        repository: &Repository,
        tags: &[ResourceTag],
    ) -> Result<(), MetaError>;
    async fn repository(&self, name: &RepositoryName) -> Result<Repository, MetaError>;
    /// Lists repositories in name order, starting after `after` (a name).
    async fn list_repositories(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Repository>, MetaError>;
    /// Deletes a repository with its images, tags, links, uploads and policies. Without
    /// `force`, a repository that has images is kept and `RepositoryNotEmpty` returned.
    /// Returns the repository as it was and the upload ids that were open in it.
    async fn delete_repository(
        &self,
        name: &RepositoryName,
        force: bool,
    ) -> Result<(Repository, Vec<String>), MetaError>;
    async fn set_tag_mutability(
        &self,
        name: &RepositoryName,
        mutability: TagMutability,
    ) -> Result<(), MetaError>;
    async fn set_scan_on_push(
        &self,
        name: &RepositoryName,
        scan_on_push: bool,
    ) -> Result<(), MetaError>;
    async fn count_images(&self, name: &RepositoryName) -> Result<u64, MetaError>;

    async fn resource_tags(&self, name: &RepositoryName) -> Result<Vec<ResourceTag>, MetaError>;
    /// Adds or overwrites tags; fails with `TooManyTags` past 50 in all.
    async fn put_resource_tags(
        &self,
        name: &RepositoryName,
        tags: &[ResourceTag],
    ) -> Result<(), MetaError>;
    async fn remove_resource_tags(
        &self,
        name: &RepositoryName,
        keys: &[String],
    ) -> Result<(), MetaError>;

    /// Records a verified blob and links it into a repository. Returns true when the
    /// repository already had it.
    async fn link_blob(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        size: u64,
        media_type: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, MetaError>;
    async fn linked_blob(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<LinkedBlob>, MetaError>;
    /// Returns the size of a verified blob in any repository.
    async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, MetaError>;
    /// Removes a blob's link from a repository. Returns false when there was none, and
    /// fails with `BlobReferenced` while an image of the repository references it.
    async fn unlink_blob(&self, name: &RepositoryName, digest: &Digest) -> Result<bool, MetaError>;

    /// Stores a manifest and optionally points a tag at it, in one transaction that
    /// checks that every referenced blob is linked and every referenced manifest exists,
    /// that an immutable tag does not move, and that the same image and tag are not put
    /// twice.
    async fn put_image(
        &self,
        name: &RepositoryName,
        image: &NewImage,
        tag: Option<&Tag>,
    ) -> Result<PutImageOutcome, MetaError>;
    async fn manifest_by_digest(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<StoredManifest>, MetaError>;
    async fn manifest_by_tag(
        &self,
        name: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<StoredManifest>, MetaError>;
    async fn image_summary(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<ImageSummary>, MetaError>;
    async fn digest_for_tag(
        &self,
        name: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<Digest>, MetaError>;
    /// Lists (image, tag) pairs, one row per tag and one per untagged image.
    async fn list_image_ids(
        &self,
        name: &RepositoryName,
        filter: TagFilter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<ImageId>, MetaError>;
    /// Lists images with all their tags, one row per image.
    async fn list_images(
        &self,
        name: &RepositoryName,
        filter: TagFilter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<ImageSummary>, MetaError>;
    /// Lists tags in lexical order after `after`, for the OCI tags API.
    async fn list_tags(
        &self,
        name: &RepositoryName,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Tag>, MetaError>;
    /// Removes a tag. Returns the image it named, or `None` when there was no such tag.
    async fn delete_tag(
        &self,
        name: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<Digest>, MetaError>;
    /// Deletes an image and its tags. Returns the removed tags, or `None` when the image
    /// does not exist. Fails with `ImageReferencedByIndex` while an index references it.
    async fn delete_image(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<Vec<Tag>>, MetaError>;
    async fn referrers(
        &self,
        name: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<Referrer>, MetaError>;
    /// Returns the digests of manifests in the repository that a stored index references.
    async fn index_children(&self, name: &RepositoryName) -> Result<Vec<Digest>, MetaError>;

    async fn create_upload(
        &self,
        id: &str,
        name: &RepositoryName,
        now: Timestamp,
    ) -> Result<(), MetaError>;
    async fn upload(&self, id: &str) -> Result<Option<Upload>, MetaError>;
    /// Records a part appended to an upload; `small_part_size` is the ECR minimum part
    /// size below which a part may only be the last one.
    async fn record_upload_part(
        &self,
        id: &str,
        new_size: u64,
        part_size: u64,
        small_part_size: u64,
        now: Timestamp,
    ) -> Result<(), MetaError>;
    async fn delete_upload(&self, id: &str) -> Result<(), MetaError>;
    /// Returns the ids of uploads not updated since `before`.
    async fn stale_uploads(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<String>, MetaError>;

    async fn lifecycle_policy(
        &self,
        name: &RepositoryName,
    ) -> Result<Option<LifecyclePolicyRecord>, MetaError>;
    async fn put_lifecycle_policy(
        &self,
        name: &RepositoryName,
        text: &str,
    ) -> Result<(), MetaError>;
    /// Deletes the policy and returns it, or `None` when there was none.
    async fn delete_lifecycle_policy(
        &self,
        name: &RepositoryName,
    ) -> Result<Option<LifecyclePolicyRecord>, MetaError>;
    async fn set_lifecycle_evaluated(
        &self,
        name: &RepositoryName,
        at: Timestamp,
    ) -> Result<(), MetaError>;

    /// Names the repositories that have a lifecycle policy, in name order after `after`.
    async fn lifecycle_repositories(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RepositoryName>, MetaError>;
    /// Records a new preview as `IN_PROGRESS` unless one is already in progress; returns
    /// false in that case and changes nothing.
    async fn begin_lifecycle_preview(
        &self,
        name: &RepositoryName,
        text: &str,
        now: Timestamp,
    ) -> Result<bool, MetaError>;
    /// Stores the outcome of the preview that began at `started_at`.
    async fn finish_lifecycle_preview(
        &self,
        name: &RepositoryName,
        started_at: Timestamp,
        status: &str,
        results: &str,
    ) -> Result<(), MetaError>;
    async fn lifecycle_preview(
        &self,
        name: &RepositoryName,
    ) -> Result<Option<LifecyclePreviewRecord>, MetaError>;

    /// Returns verified blobs that no manifest in any repository references and that
    /// were last linked before `before`: candidates for garbage collection.
    async fn unreferenced_blobs(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Digest, u64)>, MetaError>;
    /// Forgets a blob and its links if it is still unreferenced and was last linked
    /// before `before`. Returns false when it is in use again and must be kept.
    async fn forget_blob_if_unreferenced(
        &self,
        digest: &Digest,
        before: Timestamp,
    ) -> Result<bool, MetaError>;
}
