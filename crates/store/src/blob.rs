//! The blob store trait.

use std::io::{Seek, SeekFrom};
use std::pin::Pin;

use async_trait::async_trait;
use berth_types::{Digest, Sha256Hasher};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use crate::error::BlobError;

/// A stream of byte chunks from a client.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BlobError>> + Send>>;

/// The bytes of a stored blob, or a range of them.
pub struct BlobReader {
    /// Total size of the blob.
    pub size: u64,
    /// First byte of the range.
    pub start: u64,
    /// Number of bytes in the range.
    pub length: u64,
    pub content: BlobContent,
}

/// The source of the bytes of a [`BlobReader`].
pub enum BlobContent {
    /// A stream that yields exactly the range.
    Stream(ByteStream),
    /// A local file that contains the whole blob. A front that owns its socket may send the
    /// range with `sendfile(2)` instead of reading it through user space.
    File(std::fs::File),
}

/// Bytes read from a blob file per chunk of the stream that [`BlobReader::into_stream`]
/// returns.
const READ_BUFFER: usize = 256 * 1024;

impl BlobReader {
    /// Returns the range as a stream of chunks, reading the file when there is one.
    pub fn into_stream(self) -> ByteStream {
        match self.content {
            BlobContent::Stream(stream) => stream,
            BlobContent::File(mut file) => {
                // lseek(2) moves the file offset without I/O, so it does not block.
                if let Err(error) = file.seek(SeekFrom::Start(self.start)) {
                    return Box::pin(futures_util::stream::once(async move {
                        Err(BlobError::Io(error))
                    }));
                }
                let file = tokio::fs::File::from_std(file).take(self.length);
                let stream = ReaderStream::with_capacity(file, READ_BUFFER)
                    .map(|chunk| chunk.map_err(BlobError::Io));
                Box::pin(stream)
            }
        }
    }
}

/// Content-addressed blob storage with upload sessions.
///
/// A blob becomes readable only through [`BlobStore::commit_upload`], which checks the
/// digest before moving the bytes into place atomically. An upload that fails, is
/// interrupted or is cancelled never becomes a readable blob.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Returns the size of a blob, or `None` when it is absent.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError>;
    /// Opens a blob, or the inclusive byte range `[start, end]` of it.
    async fn open(
        &self,
        digest: &Digest,
        range: Option<(u64, u64)>,
    ) -> Result<BlobReader, BlobError>;
    async fn delete(&self, digest: &Digest) -> Result<(), BlobError>;

    async fn create_upload(&self, id: &str) -> Result<(), BlobError>;
    /// Returns the number of bytes an upload holds, or `None` when it does not exist.
    async fn upload_size(&self, id: &str) -> Result<Option<u64>, BlobError>;
    /// Appends a stream to an upload whose current size must equal `offset`, feeding
    /// every byte to `hasher`. Returns the new size. When the stream fails midway the
    /// upload is cut back to `offset`, so a retry can resume there.
    async fn append_upload(
        &self,
        id: &str,
        offset: u64,
        body: ByteStream,
        hasher: Option<&mut Sha256Hasher>,
    ) -> Result<u64, BlobError>;
    /// Hashes the bytes an upload holds, for when the incremental hash was lost (a
    /// restart, or another node took the upload).
    async fn hash_upload(&self, id: &str) -> Result<Sha256Hasher, BlobError>;
    /// Moves an upload into place as blob `expected` after checking `computed`, the
    /// digest of its bytes, against it, and returns the blob's size. On a mismatch the
    /// upload stays as it was and `DigestMismatch` is returned.
    async fn commit_upload(
        &self,
        id: &str,
        expected: &Digest,
        computed: &Digest,
    ) -> Result<u64, BlobError>;
    async fn delete_upload(&self, id: &str) -> Result<(), BlobError>;
    /// Lists uploads present in the store, for cleaning up sessions the metadata lost.
    async fn list_uploads(&self) -> Result<Vec<String>, BlobError>;
}
