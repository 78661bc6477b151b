//! Lifecycle policies: storing them, previewing them and applying them.
//!
//! Evaluation itself is the pure function `berth_lifecycle::evaluate`; this module
//! gathers the repository's images, protects the children of surviving indexes and
//! deletes what the policy expires. Previews and real runs use the same evaluation.

use std::collections::HashSet;
use std::sync::Arc;

use berth_lifecycle::{evaluate, parse_policy, ImageInfo, LifecyclePolicy};
use berth_store::{LifecyclePolicyRecord, LifecyclePreviewRecord, TagFilter};
use berth_types::{Digest, RepositoryName, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::Registry;

/// Images read per page while gathering a repository for evaluation.
const EVALUATION_PAGE: usize = 1000;

/// One image a policy expires, as previews report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiringImage {
    pub digest: Digest,
    pub tags: Vec<String>,
    pub pushed_at: Timestamp,
    pub rule_priority: u32,
}

/// A lifecycle policy preview as GetLifecyclePolicyPreview reports it.
#[derive(Clone, Debug)]
pub struct Preview {
    pub text: String,
    pub status: String,
    pub results: Vec<ExpiringImage>,
}

fn check_policy(text: &str) -> Result<LifecyclePolicy> {
    parse_policy(text).map_err(|error| Error::InvalidParameter(error.to_string()))
}

impl Registry {
    fn policy_not_found(&self, name: &RepositoryName) -> Error {
        Error::LifecyclePolicyNotFound {
            name: name.to_string(),
            registry_id: self.settings.registry_id.clone(),
        }
    }

    /// Validates and stores a repository's lifecycle policy.
    pub async fn put_lifecycle_policy(&self, name: &RepositoryName, text: &str) -> Result<()> {
        check_policy(text)?;
        self.meta
            .put_lifecycle_policy(name, text)
            .await
            .map_err(|e| self.meta_error(e))?;
        tracing::info!(repository = %name, "stored lifecycle policy");
        Ok(())
    }

    pub async fn lifecycle_policy(&self, name: &RepositoryName) -> Result<LifecyclePolicyRecord> {
        let record = self
            .meta
            .lifecycle_policy(name)
            .await
            .map_err(|e| self.meta_error(e))?;
        record.ok_or_else(|| self.policy_not_found(name))
    }

    pub async fn delete_lifecycle_policy(
        &self,
        name: &RepositoryName,
    ) -> Result<LifecyclePolicyRecord> {
        let record = self
            .meta
            .delete_lifecycle_policy(name)
            .await
            .map_err(|e| self.meta_error(e))?;
        let record = record.ok_or_else(|| self.policy_not_found(name))?;
        tracing::info!(repository = %name, "deleted lifecycle policy");
        Ok(record)
    }

    /// Evaluates a policy against the repository as it is now and returns the images it
    /// would expire, oldest first.
    pub async fn evaluate_lifecycle(
        &self,
        name: &RepositoryName,
        policy: &LifecyclePolicy,
    ) -> Result<Vec<ExpiringImage>> {
        let images = self.lifecycle_images(name).await?;
        let evaluation = evaluate(policy, &images, self.clock.now());
        let mut expiring: Vec<ExpiringImage> = images
            .iter()
            .zip(&evaluation.decisions)
            .filter_map(|(image, decision)| match decision.outcome {
                berth_lifecycle::Outcome::Expire { rule_priority } => Some(ExpiringImage {
                    digest: image.digest.clone(),
                    tags: image.tags.clone(),
                    pushed_at: image.pushed_at,
                    rule_priority,
                }),
                berth_lifecycle::Outcome::Keep(_) => None,
            })
            .collect();
        expiring.sort_by(|a, b| (a.pushed_at, &a.digest).cmp(&(b.pushed_at, &b.digest)));
        Ok(expiring)
    }

    /// Reads every image of a repository with the flag that protects index children.
    async fn lifecycle_images(&self, name: &RepositoryName) -> Result<Vec<ImageInfo>> {
        let children: HashSet<Digest> = self
            .meta
            .index_children(name)
            .await
            .map_err(|e| self.meta_error(e))?
            .into_iter()
            .collect();
        let mut images = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .meta
                .list_images(name, TagFilter::Any, cursor.as_ref(), EVALUATION_PAGE)
                .await
                .map_err(|e| self.meta_error(e))?;
            images.extend(page.items.into_iter().map(|image| ImageInfo {
                referenced_by_index: children.contains(&image.digest),
                digest: image.digest,
                tags: image.tags.iter().map(|tag| tag.to_string()).collect(),
                pushed_at: image.pushed_at,
            }));
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(images),
            }
        }
    }

    /// Applies the repository's stored policy: deletes every image it expires and
    /// records the evaluation time. Returns the expired images.
    pub async fn apply_lifecycle_policy(
        &self,
        name: &RepositoryName,
    ) -> Result<Vec<ExpiringImage>> {
        let record = self.lifecycle_policy(name).await?;
        let policy = check_policy(&record.text)?;
        let expiring = self.evaluate_lifecycle(name, &policy).await?;
        for image in &expiring {
            match self.delete_image(name, &image.digest).await {
                Ok(_) => tracing::info!(
                    repository = %name, digest = %image.digest, tags = ?image.tags,
                    rule_priority = image.rule_priority, "lifecycle policy expired image"
                ),
                Err(Error::ImageReferencedByManifestList { .. }) => tracing::info!(
                    repository = %name, digest = %image.digest,
                    "kept expiring image because an index pushed since the evaluation references it"
                ),
                Err(error) => return Err(error),
            }
        }
        let now = self.clock.now();
        self.meta
            .set_lifecycle_evaluated(name, now)
            .await
            .map_err(|e| self.meta_error(e))?;
        Ok(expiring)
    }

    /// Applies the lifecycle policy of every repository that has one. Returns the number
    /// of images expired. A failure in one repository is logged and the others go on.
    pub async fn apply_all_lifecycle_policies(&self) -> Result<usize> {
        let mut expired = 0;
        let mut after: Option<String> = None;
        loop {
            let names = self
                .meta
                .lifecycle_repositories(after.as_deref(), 100)
                .await
                .map_err(|e| self.meta_error(e))?;
            let Some(last) = names.last() else {
                return Ok(expired);
            };
            after = Some(last.to_string());
            for name in &names {
                match self.apply_lifecycle_policy(name).await {
                    Ok(images) => expired += images.len(),
                    Err(error) => {
                        tracing::warn!(repository = %name, error = %error, "failed to apply lifecycle policy")
                    }
                }
            }
        }
    }

    /// Starts a preview of `text`, or of the stored policy when `text` is `None`. The
    /// preview runs in the background; it reports `IN_PROGRESS` until it completes.
    pub async fn start_lifecycle_preview(
        self: &Arc<Self>,
        name: &RepositoryName,
        text: Option<&str>,
    ) -> Result<String> {
        let text = match text {
            Some(text) => text.to_owned(),
            None => self.lifecycle_policy(name).await?.text,
        };
        let policy = check_policy(&text)?;
        let started_at = self.clock.now();
        let begun = self
            .meta
            .begin_lifecycle_preview(name, &text, started_at)
            .await
            .map_err(|e| self.meta_error(e))?;
        if !begun {
            return Err(Error::LifecyclePolicyPreviewInProgress {
                name: name.to_string(),
            });
        }
        let registry = Arc::clone(self);
        let name = name.clone();
        tokio::spawn(async move { registry.run_preview(name, policy, started_at).await });
        Ok(text)
    }

    async fn run_preview(
        &self,
        name: RepositoryName,
        policy: LifecyclePolicy,
        started_at: Timestamp,
    ) {
        let (status, results) = match self.evaluate_lifecycle(&name, &policy).await {
            Ok(expiring) => (
                "COMPLETE",
                serde_json::to_string(&expiring).expect("preview results serialize"),
            ),
            Err(error) => {
                tracing::warn!(repository = %name, error = %error, "lifecycle policy preview failed");
                ("FAILED", "[]".to_owned())
            }
        };
        let finished = self
            .meta
            .finish_lifecycle_preview(&name, started_at, status, &results)
            .await;
        if let Err(error) = finished {
            tracing::warn!(repository = %name, error = %error, "failed to store lifecycle policy preview");
        }
    }

    /// Reads the latest preview of a repository.
    pub async fn lifecycle_preview(&self, name: &RepositoryName) -> Result<Preview> {
        let record: Option<LifecyclePreviewRecord> = self
            .meta
            .lifecycle_preview(name)
            .await
            .map_err(|e| self.meta_error(e))?;
        let record = record.ok_or_else(|| Error::LifecyclePolicyPreviewNotFound {
            name: name.to_string(),
            registry_id: self.settings.registry_id.clone(),
        })?;
        let results = serde_json::from_str(&record.results)
            .map_err(|error| Error::internal("reading a lifecycle policy preview", error))?;
        Ok(Preview {
            text: record.text,
            status: record.status,
            results,
        })
    }
}

/// The largest page of preview results, from the model's GetLifecyclePolicyPreview
/// `maxResults` bounds.
pub const MAX_PREVIEW_PAGE: usize = 100;

impl Registry {
    /// Pages through preview results that a front has already filtered.
    pub fn page_preview_results(
        &self,
        name: &RepositoryName,
        scope: &str,
        results: Vec<ExpiringImage>,
        page: &crate::PageRequest,
    ) -> Result<(Vec<ExpiringImage>, Option<String>)> {
        let limit = self.page_size(page, MAX_PREVIEW_PAGE)?;
        let scope = format!("LifecyclePreview:{name}:{scope}");
        let start = self
            .cursor(&scope, page)?
            .map_or(0, |cursor| cursor.after_id.max(0) as usize);
        let end = (start + limit).min(results.len());
        let next = (end < results.len()).then(|| {
            self.encode_token(
                &scope,
                &berth_store::Cursor {
                    after_id: end as i64,
                    after_text: String::new(),
                },
            )
        });
        let items = results
            .into_iter()
            .skip(start)
            .take(end.saturating_sub(start))
            .collect();
        Ok((items, next))
    }
}
