//! berth's domain layer.
//!
//! [`Registry`] holds every rule of the registry: name and tag validation, tag
//! immutability, manifest checks, upload rules and size accounting. The ECR and OCI
//! fronts translate their wire formats into calls on it and translate the results back,
//! so an image written through one API is the same image in the other.

mod blobs;
mod error;
mod gc;
mod images;
mod lifecycle;
mod log_budget;
pub mod manifest;
mod pagination;
mod repositories;
mod uploads;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_store::{BlobStore, MetaStore};
use berth_types::{Clock, Digest, Sha256Hasher};

pub use blobs::BlobBody;
pub use error::{Error, Result};
pub use gc::GcReport;
pub use images::{ImageFailure, ImageIdentifier, PutImage, PutImageResult, PutMode};
pub use lifecycle::{ExpiringImage, Preview};
pub use log_budget::log_auth_failure;
pub use pagination::PageRequest;
pub use repositories::{parse_repository_name, parse_tag, CreateRepository, RepositoryFilter};
pub use uploads::{LayerPart, MAX_LAYER_PARTS, MIN_LAYER_PART_SIZE, UPLOAD_PART_SIZE};

/// The id of one HTTP request, set by the server's middleware in the request's
/// extensions and sent back as `x-amzn-RequestId`, so both fronts log the same id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Settings that shape what the registry reports.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The 12-digit account id of this registry.
    pub registry_id: String,
    pub region: String,
    /// `host[:port]` that clients use to reach the OCI API, the prefix of repository URIs.
    pub registry_host: String,
}

impl Settings {
    /// Formats the ARN of a repository as ECR forms it.
    pub fn repository_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:ecr:{}:{}:repository/{name}",
            self.region, self.registry_id
        )
    }

    pub fn repository_uri(&self, name: &str) -> String {
        format!("{}/{name}", self.registry_host)
    }
}

/// The registry: the stores, the clock and the rules.
pub struct Registry {
    meta: Arc<dyn MetaStore>,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
    settings: Settings,
    page_key: [u8; 32],
    /// Incremental hashes of uploads in progress on this node, each behind its own lock
    /// so two requests never append to one upload at once.
    upload_hashes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Sha256Hasher>>>>>,
    /// Striped locks that order a blob's commit and link against its garbage
    /// collection: a commit holds its stripe shared, the collector exclusively.
    blob_locks: Vec<tokio::sync::RwLock<()>>,
}

const BLOB_LOCK_STRIPES: usize = 64;

impl Registry {
    /// Builds the registry over its stores. Reads the pagination key from the metadata
    /// store, creating it on first start.
    pub async fn new(
        meta: Arc<dyn MetaStore>,
        blobs: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Result<Self> {
        let page_key = meta
            .secret("pagination-key")
            .await
            .map_err(|error| Error::internal("reading the pagination key", error))?;
        let blob_locks = (0..BLOB_LOCK_STRIPES)
            .map(|_| tokio::sync::RwLock::new(()))
            .collect();
        Ok(Registry {
            meta,
            blobs,
            clock,
            settings,
            page_key,
            upload_hashes: Mutex::new(HashMap::new()),
            blob_locks,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    pub fn meta(&self) -> &Arc<dyn MetaStore> {
        &self.meta
    }

    pub fn blob_store(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// Returns the lock stripe that guards one digest's commit and collection.
    pub fn blob_lock(&self, digest: &Digest) -> &tokio::sync::RwLock<()> {
        let first = u8::from_str_radix(&digest.hex()[..2], 16).unwrap_or(0);
        &self.blob_locks[first as usize % BLOB_LOCK_STRIPES]
    }

    fn meta_error(&self, error: berth_store::MetaError) -> Error {
        error::from_meta(error, &self.settings.registry_id)
    }
}

#[cfg(test)]
mod tests;
