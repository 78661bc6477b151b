//! Authentication of `/v2` requests.
//!
//! Clients log in as ECR's clients do: `Authorization: Basic base64("AWS:" + password)`,
//! where the password is an ECR authorization token, or `Basic <authorizationToken>`,
//! which is the same bytes. Blob downloads may instead carry a SigV4 presigned query,
//! the URLs that ECR's GetDownloadUrlForLayer returns. A request with neither gets the
//! Basic challenge that ECR sends, so that `docker login` works unchanged.

use axum::extract::Request;
use berth_auth::{
    parse_basic_authorization, verify_sigv4_presigned, SignedRequest, TokenError, VerifyMode,
    TOKEN_USER,
};
use berth_types::Timestamp;
use http::header::{AUTHORIZATION, HOST, WWW_AUTHENTICATE};
use http::StatusCode;

use crate::error::{ApiError, Code, OciError};
use crate::OciState;

/// The `service` of the Basic challenge, as ECR sends it.
const CHALLENGE_SERVICE: &str = "ecr.amazonaws.com";

/// The SigV4 signing name that presigned blob URLs must be scoped to, the one ECR's API
/// signs with.
pub(crate) const PRESIGN_SERVICE: &str = "ecr";

/// The caller of a request, for the authorization checks that policies will add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Principal {
    pub(crate) access_key_id: String,
    pub(crate) principal_arn: String,
}

/// Authenticates a request by its Basic credentials or, when `presigned_allowed`, by a
/// presigned query. Expired tokens get 403 DENIED; anything else that fails gets 401
/// UNAUTHORIZED with the Basic challenge.
pub(crate) fn authenticate(
    state: &OciState,
    request: &Request,
    presigned_allowed: bool,
) -> Result<Principal, OciError> {
    let now = state.registry.clock().now();
    if let Some(value) = request.headers().get(AUTHORIZATION) {
        let value = value.to_str().unwrap_or_default();
        return basic(state, request, value, now);
    }
    if presigned_allowed && has_presigned_query(request) {
        return presigned(state, request, now);
    }
    let message = "authentication required; log in with `aws ecr get-login-password | \
                   docker login --username AWS --password-stdin <registry>`";
    Err(unauthorized(state, request, message))
}

fn basic(
    state: &OciState,
    request: &Request,
    value: &str,
    now: Timestamp,
) -> Result<Principal, OciError> {
    let (user, password) = parse_basic_authorization(value)
        .map_err(|error| unauthorized(state, request, &error.to_string()).auth_failure())?;
    if user != TOKEN_USER {
        let message = format!("the Basic user is '{user}', but it must be '{TOKEN_USER}' with an ECR authorization token as the password");
        return Err(unauthorized(state, request, &message).auth_failure());
    }
    match state.tokens.verify(&password, now) {
        Ok(claims) if !key_configured(state, &claims.access_key_id) => {
            let message = format!(
                "the access key '{}' that this token was issued for is no longer configured; get a new token with a configured key",
                claims.access_key_id
            );
            Err(unauthorized(state, request, &message).auth_failure())
        }
        Ok(claims) => Ok(Principal {
            access_key_id: claims.access_key_id,
            principal_arn: claims.principal_arn,
        }),
        Err(error @ TokenError::Expired) => {
            let error = ApiError::new(StatusCode::FORBIDDEN, Code::Denied, error.to_string());
            Err(OciError::from(error).auth_failure())
        }
        Err(error) => Err(unauthorized(state, request, &error.to_string()).auth_failure()),
    }
}

fn key_configured(state: &OciState, access_key_id: &str) -> bool {
    state
        .access_keys
        .as_ref()
        .is_none_or(|keys| keys.get(access_key_id).is_some())
}

fn has_presigned_query(request: &Request) -> bool {
    let query = request.uri().query().unwrap_or_default();
    query.split('&').any(|pair| pair.starts_with("X-Amz-"))
}

/// Verifies a presigned URL against the configured access keys. A URL that fails is
/// denied rather than challenged: its signer, not the caller, would have to fix it.
fn presigned(state: &OciState, request: &Request, now: Timestamp) -> Result<Principal, OciError> {
    let signed = SignedRequest {
        method: request.method().as_str(),
        path: request.uri().path(),
        query: request.uri().query().unwrap_or_default(),
        headers: request.headers(),
        body: &[],
    };
    let credentials = &state.credentials;
    match verify_sigv4_presigned(
        &signed,
        credentials,
        PRESIGN_SERVICE,
        now,
        VerifyMode::Strict,
    ) {
        Ok(identity) => Ok(Principal {
            access_key_id: identity.access_key_id,
            principal_arn: identity.principal_arn,
        }),
        Err(error) => {
            let error = ApiError::new(StatusCode::FORBIDDEN, Code::Denied, error.to_string());
            Err(OciError::from(error).auth_failure())
        }
    }
}

/// Builds a 401 with the Basic challenge `realm="<scheme>://<host>/",service="ecr.amazonaws.com"`.
fn unauthorized(state: &OciState, request: &Request, message: &str) -> OciError {
    let host = request
        .headers()
        .get(HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or(&state.registry.settings().registry_host);
    let scheme = request
        .uri()
        .scheme_str()
        .or_else(|| {
            let forwarded = request.headers().get("x-forwarded-proto")?;
            forwarded.to_str().ok()
        })
        .unwrap_or("http");
    let challenge = format!("Basic realm=\"{scheme}://{host}/\",service=\"{CHALLENGE_SERVICE}\"");
    ApiError::new(StatusCode::UNAUTHORIZED, Code::Unauthorized, message)
        .with_header(WWW_AUTHENTICATE, challenge)
        .into()
}
