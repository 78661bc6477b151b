//! The [`MetaStore`] implementation: each method runs one query module function on the
//! reader pool or in a write transaction.

use async_trait::async_trait;

use berth_types::{Digest, RepositoryName, Tag, Timestamp};

use super::{images, repositories, uploads, SqliteMetaStore};
use crate::error::MetaError;
use crate::meta::MetaStore;
use crate::model::{
    Cursor, ImageId, ImageSummary, LifecyclePolicyRecord, LifecyclePreviewRecord, LinkedBlob,
    NewImage, Page, PutImageOutcome, Referrer, Repository, ResourceTag, StoredManifest, TagFilter,
    TagMutability, Upload,
};

/// Listings longer than this run on the blocking pool; shorter ones, such as an API
/// page, run on the calling thread.
const SCAN_ROWS: usize = 200;

#[async_trait]
impl MetaStore for SqliteMetaStore {
    async fn secret(&self, name: &str) -> Result<[u8; 32], MetaError> {
        let name = name.to_owned();
        self.write(move |tx| repositories::secret(tx, &name)).await
    }

    async fn create_repository(
        &self,
        repository: &Repository,
        tags: &[ResourceTag],
    ) -> Result<(), MetaError> {
        let (repository, tags) = (repository.clone(), tags.to_vec());
        self.write(move |tx| repositories::create(tx, &repository, &tags))
            .await
    }

    async fn repository(&self, name: &RepositoryName) -> Result<Repository, MetaError> {
        let name = name.clone();
        self.read(move |c| repositories::get(c, &name)).await
    }

    async fn list_repositories(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Repository>, MetaError> {
        let after = after.map(str::to_owned);
        self.read(move |c| repositories::list(c, after.as_deref(), limit))
            .await
    }

    async fn delete_repository(
        &self,
        name: &RepositoryName,
        force: bool,
    ) -> Result<(Repository, Vec<String>), MetaError> {
        let name = name.clone();
        self.write(move |tx| repositories::delete(tx, &name, force))
            .await
    }

    async fn set_tag_mutability(
        &self,
        name: &RepositoryName,
        mutability: TagMutability,
    ) -> Result<(), MetaError> {
        let name = name.clone();
        self.write(move |tx| repositories::set_mutability(tx, &name, mutability))
            .await
    }

    async fn set_scan_on_push(
        &self,
        name: &RepositoryName,
        scan_on_push: bool,
    ) -> Result<(), MetaError> {
        let name = name.clone();
        self.write(move |tx| repositories::set_scan_on_push(tx, &name, scan_on_push))
            .await
    }

    async fn count_images(&self, name: &RepositoryName) -> Result<u64, MetaError> {
        let name = name.clone();
        self.read(move |c| repositories::count_images(c, &name))
            .await
    }

    async fn resource_tags(&self, name: &RepositoryName) -> Result<Vec<ResourceTag>, MetaError> {
        let name = name.clone();
        self.read(move |c| repositories::tags(c, &name)).await
    }

    async fn put_resource_tags(
        &self,
        name: &RepositoryName,
        tags: &[ResourceTag],
    ) -> Result<(), MetaError> {
        let (name, tags) = (name.clone(), tags.to_vec());
        self.write(move |tx| repositories::put_tags(tx, &name, &tags))
            .await
    }

    async fn remove_resource_tags(
        &self,
        name: &RepositoryName,
        keys: &[String],
    ) -> Result<(), MetaError> {
        let (name, keys) = (name.clone(), keys.to_vec());
        self.write(move |tx| repositories::remove_tags(tx, &name, &keys))
            .await
    }

    async fn link_blob(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        size: u64,
        media_type: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, MetaError> {
        let (name, digest, media_type) =
            (name.clone(), digest.clone(), media_type.map(str::to_owned));
        self.write(move |tx| {
            images::link_blob(tx, &name, &digest, size, media_type.as_deref(), now)
        })
        .await
    }

    async fn linked_blob(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<LinkedBlob>, MetaError> {
        let (name, digest) = (name.clone(), digest.clone());
        self.read(move |c| images::linked_blob(c, &name, &digest))
            .await
    }

    async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, MetaError> {
        let digest = digest.clone();
        self.read(move |c| images::blob_size(c, &digest)).await
    }

    async fn unlink_blob(&self, name: &RepositoryName, digest: &Digest) -> Result<bool, MetaError> {
        let (name, digest) = (name.clone(), digest.clone());
        self.write(move |tx| images::unlink_blob(tx, &name, &digest))
            .await
    }

    async fn put_image(
        &self,
        name: &RepositoryName,
        image: &NewImage,
        tag: Option<&Tag>,
    ) -> Result<PutImageOutcome, MetaError> {
        let (name, image, tag) = (name.clone(), image.clone(), tag.cloned());
        self.write(move |tx| images::put_image(tx, &name, &image, tag.as_ref()))
            .await
    }

    async fn manifest_by_digest(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<StoredManifest>, MetaError> {
        let (name, digest) = (name.clone(), digest.clone());
        self.read(move |c| images::manifest_by_digest(c, &name, &digest))
            .await
    }

    async fn manifest_by_tag(
        &self,
        name: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<StoredManifest>, MetaError> {
        let (name, tag) = (name.clone(), tag.clone());
        self.read(move |c| images::manifest_by_tag(c, &name, &tag))
            .await
    }

    async fn image_summary(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<ImageSummary>, MetaError> {
        let (name, digest) = (name.clone(), digest.clone());
        self.read(move |c| images::image_summary(c, &name, &digest))
            .await
    }

    async fn digest_for_tag(
        &self,
        name: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<Digest>, MetaError> {
        let (name, tag) = (name.clone(), tag.clone());
        self.read(move |c| images::digest_for_tag(c, &name, &tag))
            .await
    }

    async fn list_image_ids(
        &self,
        name: &RepositoryName,
        filter: TagFilter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<ImageId>, MetaError> {
        let (name, after) = (name.clone(), after.cloned());
        self.read(move |c| images::list_image_ids(c, &name, filter, after.as_ref(), limit))
            .await
    }

    async fn list_images(
        &self,
        name: &RepositoryName,
        filter: TagFilter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<ImageSummary>, MetaError> {
        let (name, after) = (name.clone(), after.cloned());
        if limit > SCAN_ROWS {
            return self
                .read_scan(move |c| images::list_images(c, &name, filter, after.as_ref(), limit))
                .await;
        }
        self.read(move |c| images::list_images(c, &name, filter, after.as_ref(), limit))
            .await
    }

    async fn list_tags(
        &self,
        name: &RepositoryName,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Tag>, MetaError> {
        let (name, after) = (name.clone(), after.map(str::to_owned));
        self.read(move |c| images::list_tags(c, &name, after.as_deref(), limit))
            .await
    }

    async fn delete_tag(
        &self,
        name: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<Digest>, MetaError> {
        let (name, tag) = (name.clone(), tag.clone());
        self.write(move |tx| images::delete_tag(tx, &name, &tag))
            .await
    }

    async fn delete_image(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<Vec<Tag>>, MetaError> {
        let (name, digest) = (name.clone(), digest.clone());
        self.write(move |tx| images::delete_image(tx, &name, &digest))
            .await
    }

    async fn referrers(
        &self,
        name: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<Referrer>, MetaError> {
        let (name, subject) = (name.clone(), subject.clone());
        self.read(move |c| images::referrers(c, &name, &subject))
            .await
    }

    async fn index_children(&self, name: &RepositoryName) -> Result<Vec<Digest>, MetaError> {
        let name = name.clone();
        self.read_scan(move |c| images::index_children(c, &name))
            .await
    }

    async fn create_upload(
        &self,
        id: &str,
        name: &RepositoryName,
        now: Timestamp,
    ) -> Result<(), MetaError> {
        let (id, name) = (id.to_owned(), name.clone());
        self.write(move |tx| uploads::create(tx, &id, &name, now))
            .await
    }

    async fn upload(&self, id: &str) -> Result<Option<Upload>, MetaError> {
        let id = id.to_owned();
        self.read(move |c| uploads::get(c, &id)).await
    }

    async fn record_upload_part(
        &self,
        id: &str,
        new_size: u64,
        part_size: u64,
        small_part_size: u64,
        now: Timestamp,
    ) -> Result<(), MetaError> {
        let id = id.to_owned();
        self.write(move |tx| {
            uploads::record_part(tx, &id, new_size, part_size, small_part_size, now)
        })
        .await
    }

    async fn delete_upload(&self, id: &str) -> Result<(), MetaError> {
        let id = id.to_owned();
        self.write(move |tx| uploads::delete(tx, &id)).await
    }

    async fn stale_uploads(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<String>, MetaError> {
        self.read_scan(move |c| uploads::stale(c, before, limit))
            .await
    }

    async fn lifecycle_policy(
        &self,
        name: &RepositoryName,
    ) -> Result<Option<LifecyclePolicyRecord>, MetaError> {
        let name = name.clone();
        self.read(move |c| repositories::lifecycle_policy(c, &name))
            .await
    }

    async fn put_lifecycle_policy(
        &self,
        name: &RepositoryName,
        text: &str,
    ) -> Result<(), MetaError> {
        let (name, text) = (name.clone(), text.to_owned());
        self.write(move |tx| repositories::put_lifecycle_policy(tx, &name, &text))
            .await
    }

    async fn delete_lifecycle_policy(
        &self,
        name: &RepositoryName,
    ) -> Result<Option<LifecyclePolicyRecord>, MetaError> {
        let name = name.clone();
        self.write(move |tx| repositories::delete_lifecycle_policy(tx, &name))
            .await
    }

    async fn set_lifecycle_evaluated(
        &self,
        name: &RepositoryName,
        at: Timestamp,
    ) -> Result<(), MetaError> {
        let name = name.clone();
        self.write(move |tx| repositories::set_lifecycle_evaluated(tx, &name, at))
            .await
    }

    async fn lifecycle_repositories(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RepositoryName>, MetaError> {
        let after = after.map(str::to_owned);
        self.read_scan(move |c| repositories::lifecycle_repositories(c, after.as_deref(), limit))
            .await
    }

    async fn begin_lifecycle_preview(
        &self,
        name: &RepositoryName,
        text: &str,
        now: Timestamp,
    ) -> Result<bool, MetaError> {
        let (name, text) = (name.clone(), text.to_owned());
        self.write(move |tx| repositories::begin_preview(tx, &name, &text, now))
            .await
    }

    async fn finish_lifecycle_preview(
        &self,
        name: &RepositoryName,
        started_at: Timestamp,
        status: &str,
        results: &str,
    ) -> Result<(), MetaError> {
        let (name, status, results) = (name.clone(), status.to_owned(), results.to_owned());
        self.write(move |tx| repositories::finish_preview(tx, &name, started_at, &status, &results))
            .await
    }

    async fn lifecycle_preview(
        &self,
        name: &RepositoryName,
    ) -> Result<Option<LifecyclePreviewRecord>, MetaError> {
        let name = name.clone();
        self.read(move |c| repositories::preview(c, &name)).await
    }

    async fn unreferenced_blobs(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Digest, u64)>, MetaError> {
        self.read_scan(move |c| images::unreferenced_blobs(c, before, limit))
            .await
    }

    async fn forget_blob_if_unreferenced(
        &self,
        digest: &Digest,
        before: Timestamp,
    ) -> Result<bool, MetaError> {
        let digest = digest.clone();
        self.write(move |tx| images::forget_blob_if_unreferenced(tx, &digest, before))
            .await
    }
}
