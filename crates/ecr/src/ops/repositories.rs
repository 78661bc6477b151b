//! Repository operations: create, describe, delete, settings and resource tags.

use axum::response::Response;
use berth_service::{CreateRepository, PageRequest, RepositoryFilter};
use berth_store::{Encryption, Repository, ResourceTag, TagMutability};
use serde::{Deserialize, Serialize};

use crate::error::EcrError;
use crate::wire::{
    check_length, check_registry_id, epoch, no_paging_with, output, parse_input, repository_name,
    required,
};
use crate::Call;

#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct WireTag {
    #[serde(rename = "Key")]
    key: Option<String>,
    #[serde(rename = "Value")]
    value: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScanningConfiguration {
    #[serde(default)]
    scan_on_push: bool,
}

#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EncryptionConfiguration {
    encryption_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_key: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WireRepository {
    repository_arn: String,
    registry_id: String,
    repository_name: String,
    repository_uri: String,
    created_at: f64,
    image_tag_mutability: &'static str,
    image_scanning_configuration: ScanningConfiguration,
    encryption_configuration: EncryptionConfiguration,
}

fn wire_repository(call: &Call, repository: &Repository) -> WireRepository {
    let settings = call.registry.settings();
    let name = repository.name.as_str();
    WireRepository {
        repository_arn: settings.repository_arn(name),
        registry_id: settings.registry_id.clone(),
        repository_name: name.to_owned(),
        repository_uri: settings.repository_uri(name),
        created_at: epoch(repository.created_at),
        image_tag_mutability: repository.tag_mutability.as_str(),
        image_scanning_configuration: ScanningConfiguration {
            scan_on_push: repository.scan_on_push,
        },
        encryption_configuration: EncryptionConfiguration {
            encryption_type: Some(repository.encryption.encryption_type.clone()),
            kms_key: repository.encryption.kms_key.clone(),
        },
    }
}

pub fn parse_mutability(value: &str) -> Result<TagMutability, EcrError> {
    if let Some(mutability) = TagMutability::parse(value) {
        return Ok(mutability);
    }
    if matches!(value, "IMMUTABLE_WITH_EXCLUSION" | "MUTABLE_WITH_EXCLUSION") {
        return Err(EcrError::invalid_parameter(format!(
            "imageTagMutability '{value}' needs exclusion filters, which berth does not support; use MUTABLE or IMMUTABLE"
        )));
    }
    Err(EcrError::invalid_parameter(format!(
        "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]' (got '{value}')"
    )))
}

fn parse_encryption(config: Option<EncryptionConfiguration>) -> Result<Encryption, EcrError> {
    let Some(config) = config else {
        return Ok(Encryption {
            encryption_type: "AES256".into(),
            kms_key: None,
        });
    };
    let encryption_type = required(
        "encryptionConfiguration.encryptionType",
        config.encryption_type,
    )?;
    match (encryption_type.as_str(), &config.kms_key) {
        ("AES256", None) => {}
        ("AES256", Some(_)) => {
            return Err(EcrError::invalid_parameter(
                "A kmsKey can only be given with encryptionType KMS; remove kmsKey or set encryptionType to KMS",
            ))
        }
        ("KMS", Some(key)) => check_length("encryptionConfiguration.kmsKey", key.len(), 1, 2048)?,
        ("KMS", None) => {}
        ("KMS_DSSE", _) => {
            return Err(EcrError::invalid_parameter(
                "encryptionType KMS_DSSE is not supported by berth; use AES256 or KMS",
            ))
        }
        (other, _) => {
            return Err(EcrError::invalid_parameter(format!(
                "Invalid parameter at 'encryptionConfiguration.encryptionType' failed to satisfy constraint: 'Member must satisfy enum value set: [AES256, KMS, KMS_DSSE]' (got '{other}')"
            )))
        }
    }
    Ok(Encryption {
        encryption_type,
        kms_key: config.kms_key,
    })
}

fn parse_tags(tags: Vec<WireTag>) -> Result<Vec<ResourceTag>, EcrError> {
    tags.into_iter()
        .map(|tag| {
            let key = tag.key.ok_or_else(|| {
                EcrError::new("InvalidTagParameterException", "Every tag needs a Key")
            })?;
            let value = tag.value.ok_or_else(|| {
                EcrError::new(
                    "InvalidTagParameterException",
                    format!("The tag '{key}' needs a Value"),
                )
            })?;
            Ok(ResourceTag { key, value })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateRepositoryInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
    #[serde(default)]
    tags: Vec<WireTag>,
    image_tag_mutability: Option<String>,
    image_scanning_configuration: Option<ScanningConfiguration>,
    encryption_configuration: Option<EncryptionConfiguration>,
}

pub async fn create(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: CreateRepositoryInput = parse_input(call.body)?;
    check_registry_id(input.registry_id.as_deref(), call.registry.settings())?;
    let request = CreateRepository {
        name: repository_name(input.repository_name)?,
        tag_mutability: input
            .image_tag_mutability
            .as_deref()
            .map_or(Ok(TagMutability::Mutable), parse_mutability)?,
        scan_on_push: input
            .image_scanning_configuration
            .is_some_and(|c| c.scan_on_push),
        encryption: parse_encryption(input.encryption_configuration)?,
        tags: parse_tags(input.tags)?,
    };
    let repository = call.registry.create_repository(request).await?;
    Ok(output(
        &serde_json::json!({ "repository": wire_repository(call, &repository) }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DescribeRepositoriesInput {
    registry_id: Option<String>,
    repository_names: Option<Vec<String>>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescribeRepositoriesOutput {
    repositories: Vec<WireRepository>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub async fn describe(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: DescribeRepositoriesInput = parse_input(call.body)?;
    check_registry_id(input.registry_id.as_deref(), call.registry.settings())?;
    let page = PageRequest {
        max_results: input.max_results,
        next_token: input.next_token,
    };
    let filter = match input.repository_names {
        Some(names) => {
            check_length("repositoryNames", names.len(), 1, 100)?;
            no_paging_with("repositoryNames", &page)?;
            let names = names
                .iter()
                .map(|name| berth_service::parse_repository_name("repositoryNames", name))
                .collect::<Result<Vec<_>, _>>()?;
            RepositoryFilter::Names(names)
        }
        None => RepositoryFilter::All(page),
    };
    let (repositories, next_token) = call.registry.describe_repositories(filter).await?;
    let repositories = repositories
        .iter()
        .map(|r| wire_repository(call, r))
        .collect();
    Ok(output(&DescribeRepositoriesOutput {
        repositories,
        next_token,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeleteRepositoryInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
    #[serde(default)]
    force: bool,
}

pub async fn delete(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: DeleteRepositoryInput = parse_input(call.body)?;
    check_registry_id(input.registry_id.as_deref(), call.registry.settings())?;
    let name = repository_name(input.repository_name)?;
    let repository = call.registry.delete_repository(&name, input.force).await?;
    Ok(output(
        &serde_json::json!({ "repository": wire_repository(call, &repository) }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PutImageTagMutabilityInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
    image_tag_mutability: Option<String>,
}

pub async fn put_tag_mutability(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: PutImageTagMutabilityInput = parse_input(call.body)?;
    check_registry_id(input.registry_id.as_deref(), call.registry.settings())?;
    let name = repository_name(input.repository_name)?;
    let mutability =
        parse_mutability(&required("imageTagMutability", input.image_tag_mutability)?)?;
    call.registry.set_tag_mutability(&name, mutability).await?;
    Ok(output(&serde_json::json!({
        "registryId": call.registry.settings().registry_id,
        "repositoryName": name.as_str(),
        "imageTagMutability": mutability.as_str(),
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PutImageScanningConfigurationInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
    image_scanning_configuration: Option<ScanningConfiguration>,
}

pub async fn put_scanning_configuration(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: PutImageScanningConfigurationInput = parse_input(call.body)?;
    check_registry_id(input.registry_id.as_deref(), call.registry.settings())?;
    let name = repository_name(input.repository_name)?;
    let config = required(
        "imageScanningConfiguration",
        input.image_scanning_configuration,
    )?;
    call.registry
        .set_scan_on_push(&name, config.scan_on_push)
        .await?;
    Ok(output(&serde_json::json!({
        "registryId": call.registry.settings().registry_id,
        "repositoryName": name.as_str(),
        "imageScanningConfiguration": config,
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TagResourceInput {
    resource_arn: Option<String>,
    tags: Option<Vec<WireTag>>,
    tag_keys: Option<Vec<String>>,
}

pub async fn list_tags(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: TagResourceInput = parse_input(call.body)?;
    let name = call
        .registry
        .repository_from_arn(&required("resourceArn", input.resource_arn)?)?;
    let tags = call.registry.resource_tags(&name).await?;
    let tags: Vec<_> = tags
        .into_iter()
        .map(|t| WireTag {
            key: Some(t.key),
            value: Some(t.value),
        })
        .collect();
    Ok(output(&serde_json::json!({ "tags": tags })))
}

pub async fn tag(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: TagResourceInput = parse_input(call.body)?;
    let name = call
        .registry
        .repository_from_arn(&required("resourceArn", input.resource_arn)?)?;
    let tags = parse_tags(required("tags", input.tags)?)?;
    call.registry.tag_resource(&name, &tags).await?;
    Ok(output(&serde_json::json!({})))
}

pub async fn untag(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: TagResourceInput = parse_input(call.body)?;
    let name = call
        .registry
        .repository_from_arn(&required("resourceArn", input.resource_arn)?)?;
    let keys = required("tagKeys", input.tag_keys)?;
    call.registry.untag_resource(&name, &keys).await?;
    Ok(output(&serde_json::json!({})))
}
