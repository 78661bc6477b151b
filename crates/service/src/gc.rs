//! Garbage collection of blobs that no manifest references, online.
//!
//! Invariant: a blob is deleted only when, inside one metadata transaction, no manifest
//! in any repository references it and nothing linked it for the whole grace period.
//! Three mechanisms keep that safe while pushes run:
//!
//! - `put_image` checks that every referenced blob is linked in the same transaction that
//!   inserts the references, and the collector removes the links in the transaction that
//!   confirms there are no references. The two serialize, so a manifest either lands
//!   before the blob is forgotten (and keeps it) or fails with `LayersNotFound`.
//! - Linking a blob (an upload's commit, or a mount) refreshes its `last_linked_at`, and
//!   the collector skips blobs linked within the grace period. An upload whose manifest
//!   follows within that period is never collected in between.
//! - Committing a blob's bytes and linking it happen under the digest's lock stripe held
//!   shared; the collector holds it exclusively from the metadata check to the file
//!   deletion, so it never deletes bytes that a concurrent commit just put in place.
//!
//! The stripe locks live in this process. TODO: take the lock in the metadata store
//! when several nodes share one store; until then run garbage collection on one node.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::Registry;

/// Candidates examined per batch.
const GC_BATCH: usize = 500;

/// The outcome of one garbage collection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub blobs_deleted: u64,
    pub bytes_freed: u64,
    pub blobs_kept: u64,
    pub duration: Duration,
}

impl Registry {
    /// Deletes blobs that no manifest references and that nothing linked within `grace`.
    pub async fn collect_garbage(&self, grace: Duration) -> Result<GcReport> {
        let started = Instant::now();
        let before = self.clock.now().plus_millis(-(grace.as_millis() as i64));
        let mut report = GcReport::default();
        let mut seen = std::collections::HashSet::new();
        loop {
            let candidates = self
                .meta
                .unreferenced_blobs(before, GC_BATCH)
                .await
                .map_err(|e| self.meta_error(e))?;
            let fresh: Vec<_> = candidates
                .into_iter()
                .filter(|(digest, _)| seen.insert(digest.clone()))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for (digest, size) in fresh {
                let _guard = self.blob_lock(&digest).write().await;
                let forgotten = self
                    .meta
                    .forget_blob_if_unreferenced(&digest, before)
                    .await
                    .map_err(|e| self.meta_error(e))?;
                if !forgotten {
                    report.blobs_kept += 1;
                    continue;
                }
                self.blobs.delete(&digest).await?;
                tracing::debug!(digest = %digest, bytes = size, "garbage collector deleted blob");
                report.blobs_deleted += 1;
                report.bytes_freed += size;
            }
        }
        report.duration = started.elapsed();
        tracing::info!(
            blobs_deleted = report.blobs_deleted,
            bytes_freed = report.bytes_freed,
            blobs_kept = report.blobs_kept,
            duration_ms = report.duration.as_millis() as u64,
            "garbage collection finished"
        );
        Ok(report)
    }
}
