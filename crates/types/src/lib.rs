//! Value types that every berth crate shares.
//!
//! Each type is parsed once, at the edge of the system, and is valid from then on: a
//! `Digest` always has a known algorithm and well-formed hex, a `RepositoryName` always
//! matches the ECR and OCI name grammar. Parsing errors carry the rejected value so the
//! fronts can name it in their error messages.

mod clock;
mod digest;
mod name;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use digest::{Digest, DigestAlgorithm, DigestError, Sha256Hasher};
pub use name::{NameError, Reference, RegistryId, RepositoryName, Tag};
