//! Image operations: PutImage, BatchGetImage, BatchDeleteImage, DescribeImages and
//! ListImages.

use axum::response::Response;
use berth_service::manifest::{self, MAX_MANIFEST_BYTES};
use berth_service::{parse_tag, ImageFailure, ImageIdentifier, PageRequest, PutImage, PutMode};
use berth_store::{ImageSummary, StoredManifest, TagFilter};
use berth_types::{Digest, RepositoryName};
use serde::{Deserialize, Serialize};

use crate::error::EcrError;
use crate::wire::{
    check_length, check_registry_id, epoch, no_paging_with, output, parse_input, repository_name,
    required,
};
use crate::Call;

#[derive(Deserialize, Serialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WireImageId {
    #[serde(skip_serializing_if = "Option::is_none")]
    image_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_tag: Option<String>,
}

impl WireImageId {
    fn identifier(&self) -> ImageIdentifier {
        ImageIdentifier {
            digest: self.image_digest.clone(),
            tag: self.image_tag.clone(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireFailure {
    image_id: WireImageId,
    failure_code: &'static str,
    failure_reason: String,
}

fn wire_failure(failure: ImageFailure) -> WireFailure {
    WireFailure {
        image_id: WireImageId {
            image_digest: failure.id.digest,
            image_tag: failure.id.tag,
        },
        failure_code: failure.code,
        failure_reason: failure.reason,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireImage {
    registry_id: String,
    repository_name: String,
    image_id: WireImageId,
    image_manifest: String,
    image_manifest_media_type: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Filter {
    tag_status: Option<String>,
}

fn tag_filter(filter: Option<Filter>) -> Result<TagFilter, EcrError> {
    match filter.and_then(|f| f.tag_status).as_deref() {
        None | Some("ANY") => Ok(TagFilter::Any),
        Some("TAGGED") => Ok(TagFilter::Tagged),
        Some("UNTAGGED") => Ok(TagFilter::Untagged),
        Some(other) => Err(EcrError::invalid_parameter(format!(
            "Invalid parameter at 'filter.tagStatus' failed to satisfy constraint: 'Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]' (got '{other}')"
        ))),
    }
}

fn image_ids(field: &str, ids: Option<Vec<WireImageId>>) -> Result<Vec<WireImageId>, EcrError> {
    let ids = required(field, ids)?;
    check_length(field, ids.len(), 1, 100)?;
    Ok(ids)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PutImageInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
    image_manifest: Option<String>,
    image_manifest_media_type: Option<String>,
    image_tag: Option<String>,
    image_digest: Option<String>,
}

pub async fn put(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: PutImageInput = parse_input(call.body)?;
    let settings = call.registry.settings();
    check_registry_id(input.registry_id.as_deref(), settings)?;
    let name = repository_name(input.repository_name)?;
    let manifest = required("imageManifest", input.image_manifest)?;
    check_length(
        "imageManifest",
        manifest.chars().count(),
        1,
        MAX_MANIFEST_BYTES,
    )?;
    if serde_json::from_str::<serde_json::Value>(&manifest).is_err() {
        return Err(EcrError::invalid_parameter(
            "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'",
        ));
    }
    let tag = input
        .image_tag
        .as_deref()
        .map(|tag| parse_tag("imageTag", tag))
        .transpose()?;
    let request = PutImage {
        repository: name.clone(),
        manifest: manifest.clone().into_bytes(),
        media_type: input.image_manifest_media_type,
        tag: tag.clone(),
        expected_digest: input.image_digest,
        mode: PutMode::Ecr,
    };
    let result = call.registry.put_image(request).await?;
    let image = WireImage {
        registry_id: settings.registry_id.clone(),
        repository_name: name.to_string(),
        image_id: WireImageId {
            image_digest: Some(result.digest.to_string()),
            image_tag: tag.map(|t| t.to_string()),
        },
        image_manifest: manifest,
        image_manifest_media_type: result.media_type,
    };
    Ok(output(&serde_json::json!({ "image": image })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BatchGetImageInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
    image_ids: Option<Vec<WireImageId>>,
    accepted_media_types: Option<Vec<String>>,
}

pub async fn batch_get(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: BatchGetImageInput = parse_input(call.body)?;
    check_registry_id(input.registry_id.as_deref(), call.registry.settings())?;
    let name = repository_name(input.repository_name)?;
    let ids = image_ids("imageIds", input.image_ids)?;
    if let Some(accepted) = &input.accepted_media_types {
        check_length("acceptedMediaTypes", accepted.len(), 1, 100)?;
    }
    call.registry.repository(&name).await?;
    let (mut images, mut failures) = (Vec::new(), Vec::new());
    for id in ids {
        let digest = match call.registry.resolve_image(&name, &id.identifier()).await? {
            Ok(digest) => digest,
            Err(failure) => {
                failures.push(wire_failure(failure));
                continue;
            }
        };
        let stored = call
            .registry
            .manifest(&name, &berth_types::Reference::Digest(digest))
            .await?;
        match negotiate(stored, input.accepted_media_types.as_deref()) {
            Some(stored) => images.push(wire_image(call, &name, &id, stored)),
            None => failures.push(WireFailure {
                image_id: id,
                failure_code: "ImageNotFound",
                failure_reason: "The image's manifest media type is not in acceptedMediaTypes and cannot be converted to one of them".into(),
            }),
        }
    }
    Ok(output(&BatchGetImageOutput { images, failures }))
}

/// Returns the stored manifest when its type is accepted, or a Docker schema 2 / OCI
/// conversion when that is accepted instead.
fn negotiate(stored: StoredManifest, accepted: Option<&[String]>) -> Option<StoredManifest> {
    let Some(accepted) = accepted else {
        return Some(stored);
    };
    if accepted.contains(&stored.media_type) {
        return Some(stored);
    }
    accepted.iter().find_map(|target| {
        let bytes = manifest::convert(&stored.manifest, &stored.media_type, target)?;
        Some(StoredManifest {
            digest: Digest::of_bytes(&bytes),
            media_type: target.clone(),
            manifest: bytes,
        })
    })
}

fn wire_image(
    call: &Call,
    name: &RepositoryName,
    requested: &WireImageId,
    stored: StoredManifest,
) -> WireImage {
    WireImage {
        registry_id: call.registry.settings().registry_id.clone(),
        repository_name: name.to_string(),
        image_id: WireImageId {
            image_digest: Some(stored.digest.to_string()),
            image_tag: requested.image_tag.clone(),
        },
        // Manifests are JSON and therefore UTF-8; a lossy conversion never changes one.
        image_manifest: String::from_utf8_lossy(&stored.manifest).into_owned(),
        image_manifest_media_type: stored.media_type,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BatchDeleteImageInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
    image_ids: Option<Vec<WireImageId>>,
}

pub async fn batch_delete(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: BatchDeleteImageInput = parse_input(call.body)?;
    check_registry_id(input.registry_id.as_deref(), call.registry.settings())?;
    let name = repository_name(input.repository_name)?;
    let ids = image_ids("imageIds", input.image_ids)?;
    call.registry.repository(&name).await?;
    let (mut deleted, mut failures) = (Vec::new(), Vec::new());
    for id in ids {
        let digest = match call.registry.resolve_image(&name, &id.identifier()).await? {
            Ok(digest) => digest,
            Err(failure) => {
                failures.push(wire_failure(failure));
                continue;
            }
        };
        match delete_one(call, &name, &id, &digest).await {
            Ok(mut ids) => deleted.append(&mut ids),
            Err(failure) => failures.push(failure),
        }
    }
    Ok(output(
        &serde_json::json!({ "imageIds": deleted, "failures": failures }),
    ))
}

/// Deletes what one id names: a tag alone removes that tag; a digest removes the image
/// and all its tags. Returns the ids removed, one per tag.
async fn delete_one(
    call: &Call<'_>,
    name: &RepositoryName,
    id: &WireImageId,
    digest: &Digest,
) -> Result<Vec<WireImageId>, WireFailure> {
    let digest_text = Some(digest.to_string());
    if let (Some(tag), None) = (&id.image_tag, &id.image_digest) {
        let tag = berth_types::Tag::parse(tag).expect("resolve_image checked the tag");
        call.registry
            .untag_image(name, &tag)
            .await
            .map_err(|e| service_failure(id, e))?;
        return Ok(vec![WireImageId {
            image_digest: digest_text,
            image_tag: Some(tag.to_string()),
        }]);
    }
    let tags = call
        .registry
        .delete_image(name, digest)
        .await
        .map_err(|e| service_failure(id, e))?;
    let tags = tags.unwrap_or_default();
    if tags.is_empty() {
        return Ok(vec![WireImageId {
            image_digest: digest_text,
            image_tag: None,
        }]);
    }
    Ok(tags
        .into_iter()
        .map(|tag| WireImageId {
            image_digest: digest_text.clone(),
            image_tag: Some(tag.to_string()),
        })
        .collect())
}

fn service_failure(id: &WireImageId, error: berth_service::Error) -> WireFailure {
    let code = match error {
        berth_service::Error::ImageReferencedByManifestList { .. } => {
            "ImageReferencedByManifestList"
        }
        _ => "ImageNotFound",
    };
    WireFailure {
        image_id: id.clone(),
        failure_code: code,
        failure_reason: error.to_string(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
    image_ids: Option<Vec<WireImageId>>,
    next_token: Option<String>,
    max_results: Option<i64>,
    filter: Option<Filter>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageDetail {
    registry_id: String,
    repository_name: String,
    image_digest: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    image_tags: Vec<String>,
    image_size_in_bytes: u64,
    image_pushed_at: f64,
    image_manifest_media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_media_type: Option<String>,
}

fn image_detail(call: &Call, name: &RepositoryName, image: ImageSummary) -> ImageDetail {
    ImageDetail {
        registry_id: call.registry.settings().registry_id.clone(),
        repository_name: name.to_string(),
        image_digest: image.digest.to_string(),
        image_tags: image.tags.iter().map(|t| t.to_string()).collect(),
        image_size_in_bytes: image.image_size,
        image_pushed_at: epoch(image.pushed_at),
        image_manifest_media_type: image.media_type,
        artifact_media_type: image.artifact_type,
    }
}

pub async fn describe(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: ListInput = parse_input(call.body)?;
    check_registry_id(input.registry_id.as_deref(), call.registry.settings())?;
    let name = repository_name(input.repository_name)?;
    let page = PageRequest {
        max_results: input.max_results,
        next_token: input.next_token,
    };
    let filter = tag_filter(input.filter)?;
    let (images, next_token) = match input.image_ids {
        Some(ids) => {
            check_length("imageIds", ids.len(), 1, 100)?;
            no_paging_with("imageIds", &page)?;
            let ids: Vec<_> = ids.iter().map(WireImageId::identifier).collect();
            (call.registry.describe_image_ids(&name, &ids).await?, None)
        }
        None => call.registry.describe_images(&name, filter, &page).await?,
    };
    let details: Vec<_> = images
        .into_iter()
        .map(|image| image_detail(call, &name, image))
        .collect();
    Ok(output(&DescribeImagesOutput {
        image_details: details,
        next_token,
    }))
}

pub async fn list(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: ListInput = parse_input(call.body)?;
    if input.image_ids.is_some() {
        return Err(EcrError::serialization(
            "ListImages has no member 'imageIds'",
        ));
    }
    check_registry_id(input.registry_id.as_deref(), call.registry.settings())?;
    let name = repository_name(input.repository_name)?;
    let page = PageRequest {
        max_results: input.max_results,
        next_token: input.next_token,
    };
    let (ids, next_token) = call
        .registry
        .list_image_ids(&name, tag_filter(input.filter)?, &page)
        .await?;
    let ids: Vec<_> = ids
        .into_iter()
        .map(|id| WireImageId {
            image_digest: Some(id.digest.to_string()),
            image_tag: id.tag.map(|t| t.to_string()),
        })
        .collect();
    Ok(output(&ListImagesOutput {
        image_ids: ids,
        next_token,
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescribeImagesOutput {
    image_details: Vec<ImageDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListImagesOutput {
    image_ids: Vec<WireImageId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
struct BatchGetImageOutput {
    images: Vec<WireImage>,
    failures: Vec<WireFailure>,
}
