//! Admin calls that run a background job now: `POST /admin/lifecycle/run` and
//! `POST /admin/gc/run`. They need a SigV4 signature (service `ecr`) from a configured
//! access key, in the `Authorization` header or as a presigned query.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use berth_auth::{Credentials, SignedRequest, VerifyMode};
use berth_service::Registry;
use http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::json;

/// The state of the admin routes.
pub struct AdminState {
    pub registry: Arc<Registry>,
    pub credentials: Arc<Credentials>,
    pub gc_grace: Duration,
}

pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/admin/lifecycle/run", post(run_lifecycle))
        .route("/admin/gc/run", post(run_gc))
        .with_state(state)
}

fn authenticate(
    state: &AdminState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Response> {
    let request = SignedRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers,
        body,
    };
    let now = state.registry.clock().now();
    let result = if headers.contains_key(http::header::AUTHORIZATION) {
        berth_auth::verify_sigv4(&request, &state.credentials, "ecr", now, VerifyMode::Strict)
    } else {
        berth_auth::verify_sigv4_presigned(
            &request,
            &state.credentials,
            "ecr",
            now,
            VerifyMode::Strict,
        )
    };
    result.map(|_| ()).map_err(|error| {
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::FORBIDDEN);
        (
            status,
            axum::Json(json!({ "__type": error.aws_code(), "message": error.to_string() })),
        )
            .into_response()
    })
}

fn failure(error: berth_service::Error) -> Response {
    tracing::error!(error = %error, "admin call failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({ "message": error.to_string() })),
    )
        .into_response()
}

async fn run_lifecycle(
    State(state): State<Arc<AdminState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = authenticate(&state, &method, &uri, &headers, &body) {
        return response;
    }
    match state.registry.apply_all_lifecycle_policies().await {
        Ok(expired) => axum::Json(json!({ "imagesExpired": expired })).into_response(),
        Err(error) => failure(error),
    }
}

async fn run_gc(
    State(state): State<Arc<AdminState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = authenticate(&state, &method, &uri, &headers, &body) {
        return response;
    }
    match state.registry.collect_garbage(state.gc_grace).await {
        Ok(report) => axum::Json(json!({
            "blobsDeleted": report.blobs_deleted,
            "bytesFreed": report.bytes_freed,
            "blobsKept": report.blobs_kept,
            "durationMillis": report.duration.as_millis() as u64,
        }))
        .into_response(),
        Err(error) => failure(error),
    }
}
