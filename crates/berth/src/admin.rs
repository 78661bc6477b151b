//! Admin calls that run a background job now: `POST /admin/lifecycle/run` and
//! `POST /admin/gc/run`. They need a SigV4 signature (service `ecr`) from a configured
//! access key, in the `Authorization` header or as a presigned query.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use berth_auth::{Credentials, SignedRequest, VerifyMode};
use berth_service::Registry;
use http::StatusCode;
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
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_signature,
        ))
        .with_state(state)
}

/// The largest admin request body; the calls take no input.
const MAX_ADMIN_BODY: usize = 64 * 1024;

/// Lets a request through only with a valid SigV4 signature from a configured key.
async fn require_signature(
    State(state): State<Arc<AdminState>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_ADMIN_BODY).await else {
        let message = format!("admin requests take no body; send at most {MAX_ADMIN_BODY} bytes");
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(json!({ "message": message })),
        )
            .into_response();
    };
    let signed = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
    };
    let now = state.registry.clock().now();
    let result = if parts.headers.contains_key(http::header::AUTHORIZATION) {
        berth_auth::verify_sigv4(&signed, &state.credentials, "ecr", now, VerifyMode::Strict)
    } else {
        berth_auth::verify_sigv4_presigned(
            &signed,
            &state.credentials,
            "ecr",
            now,
            VerifyMode::Strict,
        )
    };
    if let Err(error) = result {
        tracing::debug!(code = error.aws_code(), "admin call rejected");
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::FORBIDDEN);
        let body = json!({ "__type": error.aws_code(), "message": error.to_string() });
        return (status, axum::Json(body)).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

fn failure(error: berth_service::Error) -> Response {
    tracing::error!(error = %error, "admin call failed");
    let body = json!({ "message": error.to_string() });
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

async fn run_lifecycle(State(state): State<Arc<AdminState>>) -> Response {
    match state.registry.apply_all_lifecycle_policies().await {
        Ok(expired) => axum::Json(json!({ "imagesExpired": expired })).into_response(),
        Err(error) => failure(error),
    }
}

async fn run_gc(State(state): State<Arc<AdminState>>) -> Response {
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
