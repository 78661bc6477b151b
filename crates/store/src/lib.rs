//! berth's storage layer.
//!
//! Two stores sit behind traits so that a deployment can choose its engines:
//! [`MetaStore`] holds repositories, images, tags, upload sessions and settings, and
//! [`BlobStore`] holds content-addressed bytes. The embedded default pairs
//! [`SqliteMetaStore`] with [`FsBlobStore`]. The stores enforce the invariants that must
//! hold inside one transaction (a tag names one image, an immutable tag never moves, a
//! manifest only references content that exists); every other rule lives in the service
//! layer above.

mod blob;
mod error;
mod fs;
mod meta;
mod model;
mod sqlite;

pub use blob::{BlobContent, BlobReader, BlobStore, ByteStream};
pub use error::{BlobError, MetaError};
pub use fs::FsBlobStore;
pub use meta::MetaStore;
pub use model::*;
pub use sqlite::SqliteMetaStore;
