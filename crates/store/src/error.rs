//! Errors of the two stores. The service layer maps them to domain errors.

use berth_types::Digest;

/// A failure of the metadata store. Conflict variants are expected outcomes that the
/// service turns into client errors; `Backend` is an engine failure.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("repository '{0}' does not exist")]
    RepositoryNotFound(String),
    #[error("repository '{0}' already exists")]
    RepositoryAlreadyExists(String),
    #[error("repository '{0}' still contains images")]
    RepositoryNotEmpty(String),
    #[error("image {digest} with tag '{tag}' already exists")]
    ImageAlreadyExists { digest: Digest, tag: String },
    #[error("tag '{tag}' already names image {existing} in an immutable repository")]
    ImageTagImmutable { tag: String, existing: Digest },
    #[error("referenced blobs are not in the repository: {0:?}")]
    BlobsNotFound(Vec<Digest>),
    #[error("referenced manifests are not in the repository: {0:?}")]
    ManifestsNotFound(Vec<Digest>),
    #[error("blob {0} is referenced by an image in the repository")]
    BlobReferenced(Digest),
    #[error("image {0} is referenced by a manifest list or index")]
    ImageReferencedByIndex(Digest),
    #[error("too many resource tags: {0} (maximum 50)")]
    TooManyTags(usize),
    #[error("upload '{0}' does not exist")]
    UploadNotFound(String),
    #[error("metadata store failure: {0}")]
    Backend(String),
}

impl From<rusqlite::Error> for MetaError {
    fn from(error: rusqlite::Error) -> Self {
        MetaError::Backend(error.to_string())
    }
}

/// A failure of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} does not exist")]
    NotFound(Digest),
    #[error("upload '{0}' does not exist")]
    UploadNotFound(String),
    #[error("upload '{upload}' has {actual} bytes, but the write started at offset {offset}")]
    OffsetMismatch {
        upload: String,
        offset: u64,
        actual: u64,
    },
    #[error("content hashes to {actual}, not to the expected {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("requested range {start}-{end} is outside the blob of {size} bytes")]
    RangeNotSatisfiable { start: u64, end: u64, size: u64 },
    #[error("the client stream failed: {0}")]
    Client(String),
    #[error("blob storage failure: {0}")]
    Io(#[from] std::io::Error),
}
