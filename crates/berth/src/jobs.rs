//! Background jobs: upload reaping, lifecycle policies and garbage collection, each on
//! its own interval. A failed round is logged and the next round runs as planned.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use berth_service::Registry;
use tokio::task::JoinHandle;

use crate::config::Config;

/// How often the upload reaper looks for abandoned uploads, at most.
const REAPER_INTERVAL: Duration = Duration::from_secs(60);

/// Starts every background job and returns their handles, for aborting at shutdown.
pub fn spawn_all(registry: &Arc<Registry>, config: &Config) -> Vec<JoinHandle<()>> {
    let expiry = Duration::from_secs(config.upload_expiry_secs);
    let grace = Duration::from_secs(config.gc_grace_secs);
    let reaper = {
        let registry = registry.clone();
        every("upload reaper", REAPER_INTERVAL.min(expiry), move || {
            let registry = registry.clone();
            async move {
                registry
                    .reap_uploads(expiry)
                    .await
                    .map(|count| count as u64)
            }
        })
    };
    let lifecycle = {
        let registry = registry.clone();
        every(
            "lifecycle",
            Duration::from_secs(config.lifecycle_interval_secs),
            move || {
                let registry = registry.clone();
                async move {
                    registry
                        .apply_all_lifecycle_policies()
                        .await
                        .map(|count| count as u64)
                }
            },
        )
    };
    let gc = {
        let registry = registry.clone();
        every(
            "garbage collection",
            Duration::from_secs(config.gc_interval_secs),
            move || {
                let registry = registry.clone();
                async move {
                    registry
                        .collect_garbage(grace)
                        .await
                        .map(|report| report.blobs_deleted)
                }
            },
        )
    };
    vec![reaper, lifecycle, gc]
}

/// Runs `round` every `interval`, the first time one interval after start.
fn every<F, Fut>(name: &'static str, interval: Duration, round: F) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = berth_service::Result<u64>> + Send,
{
    tokio::spawn(async move {
        tracing::info!(
            job = name,
            interval_secs = interval.as_secs(),
            "background job started"
        );
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match round().await {
                Ok(0) => tracing::debug!(job = name, "background job round finished"),
                Ok(count) => tracing::info!(job = name, count, "background job round finished"),
                Err(error) => {
                    tracing::warn!(job = name, error = %error, "background job round failed; retrying next round")
                }
            }
        }
    })
}
