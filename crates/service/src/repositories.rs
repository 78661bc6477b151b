//! Repositories: creation, listing, deletion, settings and resource tags.

use berth_store::{Encryption, MetaError, Repository, ResourceTag, TagMutability};
use berth_types::{RepositoryName, Tag};

use crate::error::{Error, Result};
use crate::pagination::{PageRequest, MAX_PAGE_SIZE};
use crate::Registry;

/// The pattern of the ECR model's `RepositoryName` shape, quoted in error messages.
const NAME_PATTERN: &str =
    "[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*";
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;

/// A request to create a repository.
#[derive(Clone, Debug)]
pub struct CreateRepository {
    pub name: RepositoryName,
    pub tag_mutability: TagMutability,
    pub scan_on_push: bool,
    pub encryption: Encryption,
    pub tags: Vec<ResourceTag>,
}

/// The repositories a describe call selects.
#[derive(Clone, Debug)]
pub enum RepositoryFilter {
    All(PageRequest),
    Names(Vec<RepositoryName>),
}

/// Parses a repository name, with the ECR wording for `field` when it is invalid.
pub fn parse_repository_name(field: &str, text: &str) -> Result<RepositoryName> {
    if text.len() < RepositoryName::MIN_LENGTH {
        return Err(Error::InvalidParameter(format!(
            "Invalid parameter at '{field}' failed to satisfy constraint: 'must have length greater than or equal to 2' (got '{text}')"
        )));
    }
    if text.len() > RepositoryName::MAX_LENGTH {
        return Err(Error::InvalidParameter(format!(
            "Invalid parameter at '{field}' failed to satisfy constraint: 'must have length less than or equal to 256'"
        )));
    }
    RepositoryName::parse(text).map_err(|_| {
        Error::InvalidParameter(format!(
            "Invalid parameter at '{field}' failed to satisfy constraint: 'must satisfy regular expression '{NAME_PATTERN}'' (got '{text}')"
        ))
    })
}

/// Parses an image tag, with the ECR wording when it is invalid.
pub fn parse_tag(field: &str, text: &str) -> Result<Tag> {
    Tag::parse(text).map_err(|error| {
        Error::InvalidParameter(format!(
            "Invalid parameter at '{field}' failed to satisfy constraint: '{error}'"
        ))
    })
}

fn check_resource_tags(tags: &[ResourceTag]) -> Result<()> {
    for tag in tags {
        if tag.key.is_empty() || tag.key.chars().count() > MAX_TAG_KEY {
            return Err(Error::InvalidTagParameter(format!(
                "The tag key '{}' must be 1 to {MAX_TAG_KEY} characters long",
                tag.key
            )));
        }
        if tag.key.starts_with("aws:") {
            return Err(Error::InvalidTagParameter(format!(
                "The tag key '{}' uses the reserved prefix 'aws:'",
                tag.key
            )));
        }
        if tag.value.chars().count() > MAX_TAG_VALUE {
            return Err(Error::InvalidTagParameter(format!(
                "The value of tag '{}' must be at most {MAX_TAG_VALUE} characters long",
                tag.key
            )));
        }
    }
    Ok(())
}

impl Registry {
    pub async fn create_repository(&self, request: CreateRepository) -> Result<Repository> {
        check_resource_tags(&request.tags)?;
        if request.tags.len() > 50 {
            return Err(Error::TooManyTags {
                name: request.name.to_string(),
                count: request.tags.len(),
            });
        }
        let repository = Repository {
            name: request.name,
            created_at: self.clock.now(),
            tag_mutability: request.tag_mutability,
            scan_on_push: request.scan_on_push,
            encryption: request.encryption,
        };
        self.meta
            .create_repository(&repository, &request.tags)
            .await
            .map_err(|error| self.meta_error(error))?;
        tracing::info!(repository = %repository.name, "created repository");
        Ok(repository)
    }

    pub async fn repository(&self, name: &RepositoryName) -> Result<Repository> {
        self.meta
            .repository(name)
            .await
            .map_err(|error| self.meta_error(error))
    }

    /// Describes repositories by name, or pages through all of them in name order.
    pub async fn describe_repositories(
        &self,
        filter: RepositoryFilter,
    ) -> Result<(Vec<Repository>, Option<String>)> {
        match filter {
            RepositoryFilter::Names(names) => {
                let mut found = Vec::with_capacity(names.len());
                for name in &names {
                    found.push(self.repository(name).await?);
                }
                Ok((found, None))
            }
            RepositoryFilter::All(page) => {
                let limit = self.page_size(&page, MAX_PAGE_SIZE)?;
                let cursor = self.cursor("DescribeRepositories", &page)?;
                let after = cursor.as_ref().map(|c| c.after_text.as_str());
                let mut rows = self
                    .meta
                    .list_repositories(after, limit + 1)
                    .await
                    .map_err(|e| self.meta_error(e))?;
                let next = if rows.len() > limit {
                    rows.truncate(limit);
                    rows.last().map(|last| {
                        let cursor = berth_store::Cursor {
                            after_id: 0,
                            after_text: last.name.to_string(),
                        };
                        self.encode_token("DescribeRepositories", &cursor)
                    })
                } else {
                    None
                };
                Ok((rows, next))
            }
        }
    }

    /// Lists repository names in lexical order after `last`, for the OCI catalog.
    pub async fn catalog(&self, last: Option<&str>, limit: usize) -> Result<Vec<RepositoryName>> {
        let rows = self
            .meta
            .list_repositories(last, limit)
            .await
            .map_err(|e| self.meta_error(e))?;
        Ok(rows.into_iter().map(|repository| repository.name).collect())
    }

    /// Deletes a repository; with `force`, also every image in it.
    pub async fn delete_repository(
        &self,
        name: &RepositoryName,
        force: bool,
    ) -> Result<Repository> {
        let (repository, uploads) = self
            .meta
            .delete_repository(name, force)
            .await
            .map_err(|error| self.meta_error(error))?;
        for upload in uploads {
            self.forget_upload_hash(&upload);
            if let Err(error) = self.blobs.delete_upload(&upload).await {
                // The upload reaper removes what is left over.
                tracing::warn!(upload_id = %upload, error = %error, "failed to delete upload of deleted repository");
            }
        }
        tracing::info!(repository = %name, force, "deleted repository");
        Ok(repository)
    }

    pub async fn set_tag_mutability(
        &self,
        name: &RepositoryName,
        mutability: TagMutability,
    ) -> Result<()> {
        self.meta
            .set_tag_mutability(name, mutability)
            .await
            .map_err(|error| self.meta_error(error))
    }

    pub async fn set_scan_on_push(&self, name: &RepositoryName, scan_on_push: bool) -> Result<()> {
        self.meta
            .set_scan_on_push(name, scan_on_push)
            .await
            .map_err(|error| self.meta_error(error))
    }

    /// Finds the repository an ECR resource ARN names.
    pub fn repository_from_arn(&self, arn: &str) -> Result<RepositoryName> {
        let prefix = format!(
            "arn:aws:ecr:{}:{}:repository/",
            self.settings.region, self.settings.registry_id
        );
        let invalid = || {
            Error::InvalidParameter(format!(
                "Invalid parameter at 'resourceArn' failed to satisfy constraint: '{arn}' is not the ARN of a \
                 repository in this registry; expected '{prefix}<repository name>'"
            ))
        };
        let name = arn.strip_prefix(&prefix).ok_or_else(invalid)?;
        RepositoryName::parse(name).map_err(|_| invalid())
    }

    pub async fn resource_tags(&self, name: &RepositoryName) -> Result<Vec<ResourceTag>> {
        self.meta
            .resource_tags(name)
            .await
            .map_err(|error| self.meta_error(error))
    }

    pub async fn tag_resource(&self, name: &RepositoryName, tags: &[ResourceTag]) -> Result<()> {
        check_resource_tags(tags)?;
        match self.meta.put_resource_tags(name, tags).await {
            Err(MetaError::TooManyTags(count)) => Err(Error::TooManyTags {
                name: name.to_string(),
                count,
            }),
            other => other.map_err(|error| self.meta_error(error)),
        }
    }

    pub async fn untag_resource(&self, name: &RepositoryName, keys: &[String]) -> Result<()> {
        for key in keys {
            if key.is_empty() || key.chars().count() > MAX_TAG_KEY {
                return Err(Error::InvalidTagParameter(format!(
                    "The tag key '{key}' must be 1 to {MAX_TAG_KEY} characters long"
                )));
            }
        }
        self.meta
            .remove_resource_tags(name, keys)
            .await
            .map_err(|error| self.meta_error(error))
    }
}
