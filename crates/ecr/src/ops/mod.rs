//! One function per ECR operation, grouped by resource.

mod auth;
mod images;
mod layers;
mod lifecycle;
mod repositories;

use axum::response::Response;

use crate::error::EcrError;
use crate::target::Operation;
use crate::Call;

/// Runs one operation.
pub async fn dispatch(operation: Operation, call: &Call<'_>) -> Result<Response, EcrError> {
    match operation {
        Operation::CreateRepository => repositories::create(call).await,
        Operation::DescribeRepositories => repositories::describe(call).await,
        Operation::DeleteRepository => repositories::delete(call).await,
        Operation::PutImageTagMutability => repositories::put_tag_mutability(call).await,
        Operation::PutImageScanningConfiguration => {
            repositories::put_scanning_configuration(call).await
        }
        Operation::TagResource => repositories::tag(call).await,
        Operation::UntagResource => repositories::untag(call).await,
        Operation::ListTagsForResource => repositories::list_tags(call).await,
        Operation::GetAuthorizationToken => auth::get_authorization_token(call).await,
        Operation::InitiateLayerUpload => layers::initiate(call).await,
        Operation::UploadLayerPart => layers::upload_part(call).await,
        Operation::CompleteLayerUpload => layers::complete(call).await,
        Operation::BatchCheckLayerAvailability => layers::batch_check(call).await,
        Operation::GetDownloadUrlForLayer => layers::download_url(call).await,
        Operation::PutImage => images::put(call).await,
        Operation::BatchGetImage => images::batch_get(call).await,
        Operation::BatchDeleteImage => images::batch_delete(call).await,
        Operation::DescribeImages => images::describe(call).await,
        Operation::ListImages => images::list(call).await,
        Operation::PutLifecyclePolicy => lifecycle::put(call).await,
        Operation::GetLifecyclePolicy => lifecycle::get(call).await,
        Operation::DeleteLifecyclePolicy => lifecycle::delete(call).await,
        Operation::StartLifecyclePolicyPreview => lifecycle::start_preview(call).await,
        Operation::GetLifecyclePolicyPreview => lifecycle::get_preview(call).await,
        other => Err(not_implemented(other.name())),
    }
}

/// Builds the error for an operation of the ECR API that berth does not implement.
pub fn not_implemented(operation: &str) -> EcrError {
    // TODO: implement the policy, scanning, replication and pull-through cache
    // operations; until then they fail with this error instead of pretending to work.
    EcrError::new(
        "UnsupportedOperationException",
        format!("berth does not implement the ECR operation '{operation}' yet"),
    )
}
