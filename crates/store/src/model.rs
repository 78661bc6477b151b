//! Records that cross the store boundary.

use berth_types::{Digest, RepositoryName, Tag, Timestamp};

/// Whether tags in a repository may move to another image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagMutability {
    Mutable,
    Immutable,
}

impl TagMutability {
    pub fn as_str(self) -> &'static str {
        match self {
            TagMutability::Mutable => "MUTABLE",
            TagMutability::Immutable => "IMMUTABLE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "MUTABLE" => Some(TagMutability::Mutable),
            "IMMUTABLE" => Some(TagMutability::Immutable),
            _ => None,
        }
    }
}

/// Encryption settings as ECR reports them. Berth stores them; encryption at rest is
/// the job of the disk or the object store underneath.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encryption {
    pub encryption_type: String,
    pub kms_key: Option<String>,
}

/// A repository and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    pub name: RepositoryName,
    pub created_at: Timestamp,
    pub tag_mutability: TagMutability,
    pub scan_on_push: bool,
    pub encryption: Encryption,
}

/// A resource tag (key and value) attached to a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceTag {
    pub key: String,
    pub value: String,
}

/// The kind of content a manifest references.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferenceKind {
    /// A config or layer blob of an image manifest.
    Blob,
    /// A child manifest of a manifest list or image index.
    Manifest,
}

/// A manifest to store, already parsed and checked by the service layer.
#[derive(Clone, Debug)]
pub struct NewImage {
    pub digest: Digest,
    pub media_type: String,
    /// The config media type of an image manifest, or the manifest's `artifactType`.
    pub artifact_type: Option<String>,
    /// The exact bytes received; the digest is their sha256.
    pub manifest: Vec<u8>,
    /// The size ECR reports: the sum of layer sizes, or for an index the largest child.
    pub image_size: u64,
    pub references: Vec<(Digest, ReferenceKind)>,
    /// The `subject` of an OCI 1.1 manifest, for the referrers API.
    pub subject: Option<Digest>,
    /// The manifest's annotations as a JSON object text, for the referrers API.
    pub annotations: Option<String>,
    pub pushed_at: Timestamp,
}

/// The outcome of `put_image`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutImageOutcome {
    /// True when the manifest was new in this repository.
    pub created: bool,
    /// The image the tag named before this put, when the tag moved.
    pub tag_moved_from: Option<Digest>,
}

/// A stored image without its manifest bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSummary {
    pub digest: Digest,
    pub tags: Vec<Tag>,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub image_size: u64,
    pub manifest_size: u64,
    pub pushed_at: Timestamp,
}

/// A stored image with its manifest bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub manifest: Vec<u8>,
}

/// A manifest whose `subject` names another, as the referrers API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub size: u64,
    pub annotations: Option<String>,
}

/// The selection of a listing by whether images carry tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TagFilter {
    Tagged,
    Untagged,
    #[default]
    Any,
}

/// One row of ListImages: an image with one of its tags, or an untagged image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageId {
    pub digest: Digest,
    pub tag: Option<Tag>,
}

/// A keyset cursor: listings return rows strictly after it, so every row appears once
/// even while other clients insert rows.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Cursor {
    pub after_id: i64,
    pub after_text: String,
}

/// A page of rows and the cursor that continues after its last row, if there are more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

/// A blob as linked into a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedBlob {
    pub digest: Digest,
    pub size: u64,
    pub media_type: Option<String>,
    /// True when at least one image of the repository references the blob.
    pub referenced: bool,
}

/// An upload session: where a blob's bytes gather before the digest is verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub id: String,
    pub repository: RepositoryName,
    pub size: u64,
    pub part_count: u32,
    /// The size of the last part received, to find non-final parts under the minimum.
    pub last_part_size: u64,
    /// True when a part other than the last one was smaller than the ECR minimum.
    pub small_part_seen: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A stored lifecycle policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecyclePolicyRecord {
    pub text: String,
    pub last_evaluated_at: Timestamp,
}

/// The latest lifecycle policy preview of a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecyclePreviewRecord {
    pub text: String,
    /// `IN_PROGRESS`, `COMPLETE` or `FAILED`, as ECR names them.
    pub status: String,
    pub started_at: Timestamp,
    /// The images the policy would expire, as JSON written by the service layer.
    pub results: String,
}
