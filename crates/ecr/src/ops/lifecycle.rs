//! Lifecycle policy operations: put, get, delete, and previews.

use axum::response::Response;
use berth_service::{ExpiringImage, PageRequest};
use serde::{Deserialize, Serialize};

use crate::error::EcrError;
use crate::wire::{
    check_length, check_registry_id, epoch, no_paging_with, output, parse_input, repository_name,
    required,
};
use crate::Call;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
    lifecycle_policy_text: Option<String>,
}

pub async fn put(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: PolicyInput = parse_input(call.body)?;
    let settings = call.registry.settings();
    check_registry_id(input.registry_id.as_deref(), settings)?;
    let name = repository_name(input.repository_name)?;
    let text = required("lifecyclePolicyText", input.lifecycle_policy_text)?;
    call.registry.put_lifecycle_policy(&name, &text).await?;
    Ok(output(&serde_json::json!({
        "registryId": settings.registry_id,
        "repositoryName": name.as_str(),
        "lifecyclePolicyText": text,
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RepositoryInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
}

pub async fn get(call: &Call<'_>) -> Result<Response, EcrError> {
    policy_response(call, false).await
}

pub async fn delete(call: &Call<'_>) -> Result<Response, EcrError> {
    policy_response(call, true).await
}

async fn policy_response(call: &Call<'_>, delete: bool) -> Result<Response, EcrError> {
    let input: RepositoryInput = parse_input(call.body)?;
    let settings = call.registry.settings();
    check_registry_id(input.registry_id.as_deref(), settings)?;
    let name = repository_name(input.repository_name)?;
    let record = if delete {
        call.registry.delete_lifecycle_policy(&name).await?
    } else {
        call.registry.lifecycle_policy(&name).await?
    };
    Ok(output(&serde_json::json!({
        "registryId": settings.registry_id,
        "repositoryName": name.as_str(),
        "lifecyclePolicyText": record.text,
        "lastEvaluatedAt": epoch(record.last_evaluated_at),
    })))
}

pub async fn start_preview(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: PolicyInput = parse_input(call.body)?;
    let settings = call.registry.settings();
    check_registry_id(input.registry_id.as_deref(), settings)?;
    let name = repository_name(input.repository_name)?;
    let text = call
        .state
        .registry
        .start_lifecycle_preview(&name, input.lifecycle_policy_text.as_deref())
        .await?;
    Ok(output(&serde_json::json!({
        "registryId": settings.registry_id,
        "repositoryName": name.as_str(),
        "lifecyclePolicyText": text,
        "status": "IN_PROGRESS",
    })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImageId {
    image_digest: Option<String>,
    image_tag: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PreviewFilter {
    tag_status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GetPreviewInput {
    registry_id: Option<String>,
    repository_name: Option<String>,
    image_ids: Option<Vec<ImageId>>,
    next_token: Option<String>,
    max_results: Option<i64>,
    filter: Option<PreviewFilter>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PreviewResult {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    image_tags: Vec<String>,
    image_digest: String,
    image_pushed_at: f64,
    action: serde_json::Value,
    applied_rule_priority: u32,
}

fn keep_for_filter(image: &ExpiringImage, tag_status: Option<&str>) -> Result<bool, EcrError> {
    match tag_status {
        None | Some("ANY") => Ok(true),
        Some("TAGGED") => Ok(!image.tags.is_empty()),
        Some("UNTAGGED") => Ok(image.tags.is_empty()),
        Some(other) => Err(EcrError::invalid_parameter(format!(
            "Invalid parameter at 'filter.tagStatus' failed to satisfy constraint: 'Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]' (got '{other}')"
        ))),
    }
}

fn named_by(image: &ExpiringImage, ids: &[ImageId]) -> bool {
    ids.iter().any(|id| {
        let digest_ok = id
            .image_digest
            .as_deref()
            .is_none_or(|d| d == image.digest.as_str());
        let tag_ok = id
            .image_tag
            .as_deref()
            .is_none_or(|t| image.tags.iter().any(|tag| tag == t));
        (id.image_digest.is_some() || id.image_tag.is_some()) && digest_ok && tag_ok
    })
}

pub async fn get_preview(call: &Call<'_>) -> Result<Response, EcrError> {
    let input: GetPreviewInput = parse_input(call.body)?;
    let settings = call.registry.settings();
    check_registry_id(input.registry_id.as_deref(), settings)?;
    let name = repository_name(input.repository_name)?;
    let page = PageRequest {
        max_results: input.max_results,
        next_token: input.next_token,
    };
    let tag_status = input.filter.and_then(|f| f.tag_status);
    if let Some(ids) = &input.image_ids {
        check_length("imageIds", ids.len(), 1, 100)?;
        no_paging_with("imageIds", &page)?;
    }
    let preview = call.registry.lifecycle_preview(&name).await?;
    let total = preview.results.len();
    let mut selected = Vec::new();
    for image in preview.results {
        let named = input
            .image_ids
            .as_deref()
            .is_none_or(|ids| named_by(&image, ids));
        if named && keep_for_filter(&image, tag_status.as_deref())? {
            selected.push(image);
        }
    }
    let scope = tag_status.as_deref().unwrap_or("ANY");
    let (items, next_token) = call
        .registry
        .page_preview_results(&name, scope, selected, &page)?;
    let results: Vec<_> = items
        .into_iter()
        .map(|image| PreviewResult {
            image_tags: image.tags,
            image_digest: image.digest.to_string(),
            image_pushed_at: epoch(image.pushed_at),
            action: serde_json::json!({ "type": "EXPIRE" }),
            applied_rule_priority: image.rule_priority,
        })
        .collect();
    let mut body = serde_json::json!({
        "registryId": settings.registry_id,
        "repositoryName": name.as_str(),
        "lifecyclePolicyText": preview.text,
        "status": preview.status,
        "previewResults": results,
    });
    if preview.status == "COMPLETE" {
        body["summary"] = serde_json::json!({ "expiringImageTotalCount": total });
    }
    if let Some(token) = next_token {
        body["nextToken"] = token.into();
    }
    Ok(output(&body))
}
