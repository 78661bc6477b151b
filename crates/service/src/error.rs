//! The domain error: one type for every rule the service enforces. The ECR front maps
//! it to exception names and the OCI front to distribution-spec error codes, each in one
//! table.

use berth_store::{BlobError, MetaError};
use berth_types::Digest;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request value breaks a constraint; the message names the field and the fix.
    #[error("{0}")]
    InvalidParameter(String),
    #[error(
        "The repository with name '{name}' does not exist in the registry with id '{registry_id}'"
    )]
    RepositoryNotFound { name: String, registry_id: String },
    #[error(
        "The repository with name '{name}' already exists in the registry with id '{registry_id}'"
    )]
    RepositoryAlreadyExists { name: String, registry_id: String },
    #[error(
        "The repository with name '{name}' in registry with id '{registry_id}' cannot be deleted \
         because it still contains images; delete the images first or set force"
    )]
    RepositoryNotEmpty { name: String, registry_id: String },
    #[error("The image {digest} is referenced by a manifest list or index in the repository '{name}'; delete the index first")]
    ImageReferencedByManifestList { digest: Digest, name: String },
    #[error("The image with imageId {image} does not exist within the repository with name '{name}' in the registry with id '{registry_id}'")]
    ImageNotFound {
        image: String,
        name: String,
        registry_id: String,
    },
    /// The manifest does not exist; the OCI front reports `MANIFEST_UNKNOWN`.
    #[error("Requested image not found")]
    ManifestUnknown,
    #[error("Image with digest '{digest}' {}already exists in the repository with name '{name}' in registry with id '{registry_id}'", tag_phrase(.tag))]
    ImageAlreadyExists {
        digest: Digest,
        tag: String,
        name: String,
        registry_id: String,
    },
    #[error("The image tag '{tag}' already exists in the '{name}' repository and cannot be overwritten because the repository is immutable.")]
    ImageTagAlreadyExists { tag: String, name: String },
    #[error("The digest '{given}' does not match the digest of the manifest, which is '{actual}'")]
    ImageDigestDoesNotMatch { given: String, actual: Digest },
    #[error("The following layers were not found in the repository '{name}': {}; upload them first", list(.digests))]
    LayersNotFound { digests: Vec<Digest>, name: String },
    #[error("The manifest list is referencing images that do not exist in the repository '{name}': {}", list(.digests))]
    ReferencedImagesNotFound { digests: Vec<Digest>, name: String },
    /// The manifest bytes are not a valid manifest; the message says why.
    #[error("{0}")]
    ManifestInvalid(String),
    #[error("The blob {digest} does not exist in the repository '{name}'")]
    BlobUnknown { digest: Digest, name: String },
    #[error("The blob {digest} is referenced by images in the repository '{name}'; delete those images first")]
    BlobReferenced { digest: Digest, name: String },
    #[error("The layer with digest '{digest}' exists in the repository '{name}' but no image references it")]
    LayerInaccessible { digest: Digest, name: String },
    #[error("The upload with id '{upload_id}' does not exist in the repository '{name}'; start a new upload")]
    UploadNotFound { upload_id: String, name: String },
    #[error("{message}")]
    InvalidLayerPart {
        upload_id: String,
        name: String,
        last_valid_byte: u64,
        message: String,
    },
    #[error("The upload with id '{upload_id}' contains no layer parts; upload at least one part before completing it")]
    EmptyUpload { upload_id: String },
    #[error("Layer parts must be at least {minimum} bytes, except the last one; the upload '{upload_id}' has a smaller part")]
    LayerPartTooSmall { upload_id: String, minimum: u64 },
    /// The uploaded bytes do not hash to the digest the client gave.
    #[error("The uploaded content hashes to '{actual}', not to the given digest '{expected}'")]
    DigestMismatch { expected: String, actual: Digest },
    #[error("The layer with digest '{digest}' already exists in the repository '{name}'")]
    LayerAlreadyExists { digest: Digest, name: String },
    #[error("Requested range {start}-{end} is outside the blob of {size} bytes")]
    RangeNotSatisfiable { start: u64, end: u64, size: u64 },
    #[error("{0}")]
    InvalidTagParameter(String),
    #[error("The repository '{name}' would have {count} tags; a repository can have at most 50")]
    TooManyTags { name: String, count: usize },
    #[error("{0}")]
    LimitExceeded(String),
    #[error("Lifecycle policy does not exist for the repository with name '{name}' in the registry with id '{registry_id}'")]
    LifecyclePolicyNotFound { name: String, registry_id: String },
    #[error("A lifecycle policy preview is already in progress for the repository '{name}'; wait for it to complete")]
    LifecyclePolicyPreviewInProgress { name: String },
    #[error("There is no lifecycle policy preview for the repository with name '{name}' in the registry with id '{registry_id}'; start one first")]
    LifecyclePolicyPreviewNotFound { name: String, registry_id: String },
    /// A feature berth does not offer; the message names it.
    #[error("{0}")]
    Unsupported(String),
    /// A failure inside berth. The message is safe to show to clients; the front logs
    /// `detail` with the request id.
    #[error("Internal error while {context}; the server log has the details")]
    Internal {
        context: &'static str,
        detail: String,
    },
}

/// Names the tag of an image that already exists, if the put named one.
fn tag_phrase(tag: &str) -> String {
    if tag.is_empty() {
        String::new()
    } else {
        format!("and tag '{tag}' ")
    }
}

fn list(digests: &[Digest]) -> String {
    digests
        .iter()
        .map(Digest::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps a failure that has no more specific meaning at the call site.
    pub fn internal(context: &'static str, error: impl std::fmt::Display) -> Self {
        Error::Internal {
            context,
            detail: error.to_string(),
        }
    }
}

impl From<BlobError> for Error {
    fn from(error: BlobError) -> Self {
        match error {
            BlobError::RangeNotSatisfiable { start, end, size } => {
                Error::RangeNotSatisfiable { start, end, size }
            }
            other => Error::internal("accessing blob storage", other),
        }
    }
}

/// Maps store errors that carry no repository context; callers with context map the
/// conflict variants themselves first.
pub(crate) fn from_meta(error: MetaError, registry_id: &str) -> Error {
    match error {
        MetaError::RepositoryNotFound(name) => Error::RepositoryNotFound {
            name,
            registry_id: registry_id.to_owned(),
        },
        MetaError::RepositoryAlreadyExists(name) => Error::RepositoryAlreadyExists {
            name,
            registry_id: registry_id.to_owned(),
        },
        MetaError::RepositoryNotEmpty(name) => Error::RepositoryNotEmpty {
            name,
            registry_id: registry_id.to_owned(),
        },
        other => Error::internal("accessing the metadata store", other),
    }
}
