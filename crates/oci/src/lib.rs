//! berth's OCI Distribution API v2 front (distribution-spec 1.1).
//!
//! [`router`] serves `/v2/` and every path under it. Repository names contain slashes, so
//! there is one wildcard route, and `Endpoint::parse` splits the path from the right into
//! an endpoint. A request then flows through three steps in `dispatch`: authentication
//! (`auth`), one handler that calls the service layer, and the error table (`error`),
//! which turns every failure into a distribution-spec error body.
//!
//! The front has no rules of its own beyond HTTP: tag immutability, manifest checks
//! and digest verification live in [`berth_service::Registry`], so an image pushed here
//! is the same image that ECR's API reads.

mod auth;
mod blobs;
mod body;
mod catalog;
mod endpoint;
mod error;
mod headers;
mod manifests;
mod paging;
mod query;
mod referrers;
mod repository;
mod tags;
mod uploads;
mod zerocopy;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use berth_service::{Registry, RequestId};
use http::header::CONTENT_LENGTH;
use http::Method;

use crate::endpoint::Endpoint;
use crate::error::OciError;
pub use crate::zerocopy::{FileSender, ZeroCopyStream};

/// The shared state of the OCI front: the registry, the credential checks and the push
/// setting.
#[derive(Clone)]
pub struct OciState {
    /// The domain layer that every handler calls.
    pub registry: Arc<Registry>,
    /// Verifies the ECR authorization tokens that clients send as Basic passwords.
    pub tokens: Arc<berth_auth::TokenSigner>,
    /// Access keys that may sign presigned blob URLs.
    pub credentials: Arc<berth_auth::Credentials>,
    /// The access keys of the ECR API. When set, a token works only while the key it was
    /// issued for is still configured, so removing a key revokes its tokens; `None`
    /// accepts tokens of any key, as the ECR API does when it accepts any signature.
    pub access_keys: Option<Arc<berth_auth::Credentials>>,
    /// When true, a push to a repository that does not exist creates it (default false,
    /// as in ECR).
    pub create_on_push: bool,
}

/// Builds the router for `/v2/` and everything under it.
pub fn router(state: OciState) -> Router {
    Router::new()
        .route("/v2/", any(dispatch))
        .route("/v2/{*path}", any(dispatch))
        .layer(middleware::map_response(headers::add_api_version))
        .with_state(state)
}

/// Authenticates a request, runs the endpoint it names and turns a failure into an error
/// response. HEAD responses lose their body here, whatever produced them.
async fn dispatch(State(state): State<OciState>, request: Request) -> Response {
    let head = request.method() == Method::HEAD;
    let request_id = request.extensions().get::<RequestId>().cloned();
    let endpoint = Endpoint::parse(request.method(), request.uri().path());
    let mut response = match handle(&state, endpoint, request).await {
        Ok(response) => response,
        Err((error, endpoint)) => {
            let response = error.into_api_error(endpoint.as_ref());
            response.log(request_id.as_ref());
            response.into_response()
        }
    };
    if head {
        // A HEAD response carries the headers of the GET response, Content-Length
        // included, so an error keeps its body's length without the body.
        let length = axum::body::HttpBody::size_hint(response.body()).exact();
        if let (Some(length), false) = (length, response.headers().contains_key(CONTENT_LENGTH)) {
            response.headers_mut().insert(CONTENT_LENGTH, length.into());
        }
        *response.body_mut() = axum::body::Body::empty();
    }
    response
}

type Failure = (OciError, Option<Endpoint>);

async fn handle(
    state: &OciState,
    endpoint: Result<Endpoint, OciError>,
    request: Request,
) -> Result<Response, Failure> {
    let presigned_allowed = endpoint.as_ref().is_ok_and(Endpoint::allows_presigned_url);
    let principal =
        auth::authenticate(state, &request, presigned_allowed).map_err(|error| (error, None))?;
    let endpoint = endpoint.map_err(|error| (error, None))?;

    // TODO: evaluate identity, repository and registry policies for `principal` and
    // `endpoint.action()` here (a mount also needs pull rights on its source), and reject
    // with 403 DENIED. Until then every authenticated caller may call every endpoint.
    tracing::debug!(
        principal = %principal.principal_arn,
        access_key_id = %principal.access_key_id,
        action = endpoint.action().unwrap_or("none"),
        "authenticated request"
    );

    match run(state, &endpoint, request).await {
        Ok(response) => Ok(response),
        Err(error) => Err((error, Some(endpoint))),
    }
}

async fn run(
    state: &OciState,
    endpoint: &Endpoint,
    request: Request,
) -> Result<Response, OciError> {
    match endpoint {
        Endpoint::Base => Ok(headers::json_response(http::StatusCode::OK, b"{}".to_vec())),
        Endpoint::Catalog => catalog::list(state, request.uri()).await,
        Endpoint::ListTags { name } => tags::list(state, name, request.uri()).await,
        Endpoint::GetManifest {
            name,
            reference,
            head,
        } => manifests::get(state, name, reference, request.headers(), *head).await,
        Endpoint::PutManifest { name, reference } => {
            manifests::put(state, name, reference, request).await
        }
        Endpoint::DeleteManifest { name, reference } => {
            manifests::delete(state, name, reference).await
        }
        Endpoint::GetBlob { name, digest, head } => {
            let sender = zerocopy::sender(&request);
            blobs::get(state, name, digest, request.headers(), sender, *head).await
        }
        Endpoint::DeleteBlob { name, digest } => blobs::delete(state, name, digest).await,
        Endpoint::StartUpload { name } => uploads::start(state, name, request).await,
        Endpoint::UploadStatus { name, id } => uploads::status(state, name, id).await,
        Endpoint::PatchUpload { name, id } => uploads::patch(state, name, id, request).await,
        Endpoint::FinishUpload { name, id } => uploads::complete(state, name, id, request).await,
        Endpoint::CancelUpload { name, id } => uploads::cancel(state, name, id).await,
        Endpoint::Referrers { name, digest } => {
            referrers::list(state, name, digest, request.uri()).await
        }
    }
}
