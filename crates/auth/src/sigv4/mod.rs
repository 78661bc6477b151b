//! AWS Signature Version 4 checks, for requests signed in the `Authorization` header
//! ([`verify_sigv4`]) and for presigned URLs ([`verify_sigv4_presigned`]).
//!
//! Both forms go through the same steps: parse the signature parts, check the credential
//! scope and the signing time, rebuild the canonical request from the request as it
//! arrived, and compare signatures in constant time. Both forms also share the same
//! identity lookup, so a key is treated the same whichever way it signs.

mod canonical;
mod date;
mod error;
mod parse;
mod presign;
#[cfg(test)]
mod tests;

use std::fmt;

use berth_types::Timestamp;
use http::HeaderMap;

use crate::credentials::{AccessKey, Credentials};
use canonical::{CanonicalInput, CanonicalRequest, UNSIGNED_PAYLOAD};
use date::SigningTime;
use parse::{AuthorizationHeader, CredentialScope};

pub use date::MAX_CLOCK_SKEW_MILLIS;
pub use error::AuthError;
pub use presign::{
    presign_query, verify_sigv4_presigned, PresignTarget, MAX_PRESIGNED_EXPIRES_SECS,
};

/// A request as it arrived, with the parts that SigV4 signs.
#[derive(Clone, Copy)]
pub struct SignedRequest<'a> {
    /// HTTP method, such as `POST`.
    pub method: &'a str,
    /// Path exactly as sent, still percent-encoded, without the query string.
    pub path: &'a str,
    /// Query string exactly as sent, without the leading `?`. Empty when there is none.
    pub query: &'a str,
    /// Request headers. They must include `host`: for HTTP/2, copy `:authority` into it.
    pub headers: &'a HeaderMap,
    /// The complete request body.
    pub body: &'a [u8],
}

/// Prints only the method, path, header names and body length, because header values,
/// the query string and the body may carry credentials (Basic passwords, session tokens,
/// presigned URL signatures).
impl fmt::Debug for SignedRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.keys().map(|name| name.as_str()).collect();
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("header_names", &header_names)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// Acceptance policy of a SigV4 check for access keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyMode<'a> {
    /// Only configured keys are accepted, and the signature must verify.
    Strict,
    /// For local testing only. A key that is not configured is accepted without checking
    /// its signature, as long as the signature parts are well formed, the scope names the
    /// right service and the signing time is within the skew window. Its identity is
    /// `arn:aws:iam::<account_id>:user/<key id>`. A configured key is still checked as in
    /// `Strict`, so a wrong secret for a real key is still reported.
    AcceptAnyKey {
        /// The account id in the principal ARN of unconfigured keys, normally the
        /// registry id.
        account_id: &'a str,
    },
}

/// The signer of a verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The access key id from the credential scope.
    pub access_key_id: String,
    /// The principal ARN that policies are evaluated for.
    pub principal_arn: String,
    /// The region from the credential scope, which berth accepts whatever it is.
    pub region: String,
}

/// Headers that must be signed whenever a request carries them, because changing them
/// changes what the request does: the operation, the session and the declared body hash.
const HEADERS_SIGNED_IF_PRESENT: [&str; 3] = [
    "x-amz-target",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Verifies a request signed in the `Authorization` header and returns who signed it.
///
/// `service` is the signing name the credential scope must contain (`ecr` for the ECR
/// API). `now` is the server's time, which the signing time (`X-Amz-Date`, else `Date`)
/// must be within 15 minutes of. The body is hashed unless the client sent
/// `X-Amz-Content-SHA256`, whose value (a hex SHA-256 that must match the body, or
/// `UNSIGNED-PAYLOAD`) is used instead. `X-Amz-Security-Token` is accepted when signed,
/// but its value is not checked, because berth issues no session credentials.
pub fn verify_sigv4(
    req: &SignedRequest<'_>,
    creds: &Credentials,
    service: &str,
    now: Timestamp,
    mode: VerifyMode<'_>,
) -> Result<Identity, AuthError> {
    let Some(authorization) = req.headers.get(http::header::AUTHORIZATION) else {
        return Err(AuthError::MissingAuthenticationToken);
    };
    let authorization = authorization.to_str().unwrap_or_default();
    let header = AuthorizationHeader::parse(authorization)?;
    let signed = date::signing_time_from_headers(req.headers)?;
    let scope = CredentialScope::parse(header.credential, service, &signed)?;
    date::check_not_expired(&signed, now)?;
    date::check_not_future(&signed, now)?;
    let required = ["host", signed.header_name];
    check_signed_headers(header.signed_headers, req.headers, &required)?;
    let payload_hash = match declared_payload_hash(req)? {
        Some(declared) => declared,
        None => canonical::sha256_hex(req.body),
    };
    let claim = SignatureClaim {
        scope,
        signed,
        canonical: CanonicalRequest::new(&canonical_input(req, header.signed_headers, None)),
        payload_hashes: vec![payload_hash],
        signature: header.signature,
    };
    authenticate(creds, mode, &claim)
}

/// Checks everything about a SigV4 header signature that does not need the body: the
/// `Authorization` header's form, the signing time, the credential scope, the signed
/// headers, and in [`VerifyMode::Strict`] that the access key is configured. A request
/// that fails here fails [`verify_sigv4`] with the same error, so a server can reject it
/// before it reads a large body.
pub fn precheck_sigv4(
    headers: &HeaderMap,
    creds: &Credentials,
    service: &str,
    now: Timestamp,
    mode: VerifyMode<'_>,
) -> Result<(), AuthError> {
    let Some(authorization) = headers.get(http::header::AUTHORIZATION) else {
        return Err(AuthError::MissingAuthenticationToken);
    };
    let authorization = authorization.to_str().unwrap_or_default();
    let header = AuthorizationHeader::parse(authorization)?;
    let signed = date::signing_time_from_headers(headers)?;
    let scope = CredentialScope::parse(header.credential, service, &signed)?;
    date::check_not_expired(&signed, now)?;
    date::check_not_future(&signed, now)?;
    check_signed_headers(
        header.signed_headers,
        headers,
        &["host", signed.header_name],
    )?;
    match mode {
        VerifyMode::Strict if creds.get(scope.key_id).is_none() => {
            Err(AuthError::UnrecognizedClientException)
        }
        _ => Ok(()),
    }
}

/// The signature parts of a request, gathered before the key is looked up.
struct SignatureClaim<'r> {
    scope: CredentialScope<'r>,
    signed: SigningTime,
    canonical: CanonicalRequest,
    /// Payload hashes to try in order. The signature must match one of them.
    payload_hashes: Vec<String>,
    signature: &'r str,
}

fn canonical_input<'r>(
    req: &SignedRequest<'r>,
    signed_headers: &'r str,
    skip_query_key: Option<&'r str>,
) -> CanonicalInput<'r> {
    CanonicalInput {
        method: req.method,
        path: req.path,
        query: req.query,
        skip_query_key,
        headers: req.headers,
        signed_headers,
    }
}

/// Checks that `SignedHeaders` is well formed and covers `required` and every header in
/// [`HEADERS_SIGNED_IF_PRESENT`] that the request carries.
fn check_signed_headers(
    signed_headers: &str,
    headers: &HeaderMap,
    required: &[&str],
) -> Result<(), AuthError> {
    let names: Vec<&str> = signed_headers.split(';').collect();
    if names.iter().any(|name| name.is_empty()) {
        return Err(AuthError::incomplete(format!(
            "SignedHeaders '{signed_headers}' contains an empty header name. List the signed \
             header names in lowercase, separated by ';'."
        )));
    }
    let present = HEADERS_SIGNED_IF_PRESENT
        .into_iter()
        .filter(|name| headers.contains_key(*name));
    for name in required.iter().copied().chain(present) {
        if !names.contains(&name) {
            return Err(AuthError::incomplete(format!(
                "SignedHeaders must include '{name}'. Sign the {name} header with the request."
            )));
        }
    }
    Ok(())
}

/// Returns the payload hash from `X-Amz-Content-SHA256`, or `None` without that header.
fn declared_payload_hash(req: &SignedRequest<'_>) -> Result<Option<String>, AuthError> {
    let Some(value) = req.headers.get("x-amz-content-sha256") else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default();
    if value == UNSIGNED_PAYLOAD {
        return Ok(Some(value.to_owned()));
    }
    let is_sha256_hex = value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit());
    if !is_sha256_hex {
        return Err(AuthError::incomplete(format!(
            "X-Amz-Content-SHA256 '{value}' is not supported. Send the hex SHA-256 of the \
             body, or UNSIGNED-PAYLOAD."
        )));
    }
    // The signature covers the declared hash, so the body itself must match it.
    if !value.eq_ignore_ascii_case(&canonical::sha256_hex(req.body)) {
        return Err(AuthError::incomplete(
            "X-Amz-Content-SHA256 does not match the SHA-256 of the request body. Send the \
             hash of the exact body bytes.",
        ));
    }
    Ok(Some(value.to_owned()))
}

/// Looks up the signing key, verifies the signature, and returns the identity.
fn authenticate(
    creds: &Credentials,
    mode: VerifyMode<'_>,
    claim: &SignatureClaim<'_>,
) -> Result<Identity, AuthError> {
    let region = claim.scope.region.to_owned();
    if let Some(key) = creds.get(claim.scope.key_id) {
        verify_signature(key, claim)?;
        let principal_arn = key.principal_arn.clone();
        return Ok(Identity {
            access_key_id: key.id.clone(),
            principal_arn,
            region,
        });
    }
    match mode {
        VerifyMode::Strict => Err(AuthError::UnrecognizedClientException),
        VerifyMode::AcceptAnyKey { account_id } => {
            unverified_identity(claim.scope.key_id, account_id, region)
        }
    }
}

fn verify_signature(key: &AccessKey, claim: &SignatureClaim<'_>) -> Result<(), AuthError> {
    let scope = &claim.scope;
    let signing_key = canonical::signing_key(&key.secret, scope.date, scope.region, scope.service);
    let scope_text = scope.scope();
    let matches = claim.payload_hashes.iter().any(|payload_hash| {
        let request = claim.canonical.with_payload_hash(payload_hash);
        let string_to_sign =
            canonical::string_to_sign(&claim.signed.amz_date, &scope_text, &request);
        canonical::signature_matches(&signing_key, &string_to_sign, claim.signature)
    });
    if matches {
        Ok(())
    } else {
        Err(AuthError::InvalidSignatureException)
    }
}

/// Builds the identity of an unconfigured key in [`VerifyMode::AcceptAnyKey`]. The key id
/// goes into an ARN, so it must look like an AWS key id: 1 to 128 letters and digits.
fn unverified_identity(
    key_id: &str,
    account_id: &str,
    region: String,
) -> Result<Identity, AuthError> {
    let plausible =
        (1..=128).contains(&key_id.len()) && key_id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !plausible {
        return Err(AuthError::UnrecognizedClientException);
    }
    Ok(Identity {
        access_key_id: key_id.to_owned(),
        principal_arn: format!("arn:aws:iam::{account_id}:user/{key_id}"),
        region,
    })
}
