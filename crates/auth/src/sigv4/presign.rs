//! Presigned URLs: SigV4 carried in `X-Amz-*` query parameters instead of a header, so a
//! client that follows a redirect (docker fetching a layer) needs no credentials.

use berth_types::Timestamp;
use http::header::{InvalidHeaderValue, HOST};
use http::{HeaderMap, HeaderValue};

use super::canonical::{
    self, encode_component, CanonicalInput, CanonicalRequest, ALGORITHM, SCOPE_TERMINATOR,
    UNSIGNED_PAYLOAD,
};
use super::date::{self, format_amz_date, SigningTime};
use super::error::AuthError;
use super::parse::CredentialScope;
use super::{
    authenticate, canonical_input, check_signed_headers, declared_payload_hash, Identity,
    SignatureClaim, SignedRequest, VerifyMode,
};
use crate::credentials::{AccessKey, Credentials};

/// Maximum validity of a presigned URL: 7 days in seconds, as in AWS.
pub const MAX_PRESIGNED_EXPIRES_SECS: u32 = 7 * 24 * 60 * 60;

const SIGNATURE_PARAMETER: &str = "X-Amz-Signature";

/// The query parameters of a presigned URL, in the order botocore writes them.
const QUERY_PARAMETERS: [&str; 6] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    SIGNATURE_PARAMETER,
];

/// The decoded `X-Amz-*` parameters of a presigned URL.
struct QueryAuth {
    algorithm: String,
    credential: String,
    date: String,
    expires: String,
    signed_headers: String,
    signature: String,
}

impl QueryAuth {
    fn parse(query: &str) -> Result<Self, AuthError> {
        let found = find_query_parameters(query);
        if found.iter().all(Option::is_none) {
            return Err(AuthError::MissingAuthenticationToken);
        }
        if found.iter().any(Option::is_none) {
            return Err(missing_query_parameters(&found));
        }
        let [algorithm, credential, date, expires, signed_headers, signature] =
            found.map(Option::unwrap_or_default);
        Ok(QueryAuth {
            algorithm,
            credential,
            date,
            expires,
            signed_headers,
            signature,
        })
    }
}

/// Returns the decoded value of each of [`QUERY_PARAMETERS`], taking the first occurrence.
fn find_query_parameters(query: &str) -> [Option<String>; 6] {
    let mut found: [Option<String>; 6] = Default::default();
    for (key, value) in canonical::query_pairs(query) {
        let index = QUERY_PARAMETERS
            .iter()
            .position(|name| name.as_bytes() == key);
        if let Some(index) = index {
            found[index].get_or_insert_with(|| String::from_utf8_lossy(&value).into_owned());
        }
    }
    found
}

fn missing_query_parameters(found: &[Option<String>; 6]) -> AuthError {
    let missing: Vec<&str> = QUERY_PARAMETERS
        .iter()
        .zip(found)
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| *name)
        .collect();
    AuthError::incomplete(format!(
        "The presigned URL is missing {}. Use the complete URL that the registry returned.",
        missing.join(", ")
    ))
}

/// Verifies a presigned URL and returns who signed it.
///
/// The URL is valid from 15 minutes before `X-Amz-Date` until `X-Amz-Expires` seconds
/// after it. The body is not signed: the payload hash is `UNSIGNED-PAYLOAD`, or the hex
/// SHA-256 of the body, which is what botocore's generic `SigV4QueryAuth` signs. Both are
/// tried. An `X-Amz-Content-SHA256` header, when present, is used instead.
pub fn verify_sigv4_presigned(
    req: &SignedRequest<'_>,
    creds: &Credentials,
    service: &str,
    now: Timestamp,
    mode: VerifyMode<'_>,
) -> Result<Identity, AuthError> {
    let auth = QueryAuth::parse(req.query)?;
    check_algorithm(&auth.algorithm)?;
    let expires_secs = parse_expires(&auth.expires)?;
    let signed = date::signing_time_from_query(&auth.date)?;
    let scope = CredentialScope::parse(&auth.credential, service, &signed)?;
    date::check_not_future(&signed, now)?;
    check_within_expiry(&signed, expires_secs, now)?;
    check_signed_headers(&auth.signed_headers, req.headers, &["host"])?;
    let payload_hashes = match declared_payload_hash(req)? {
        Some(declared) => vec![declared],
        None => vec![UNSIGNED_PAYLOAD.to_owned(), canonical::sha256_hex(req.body)],
    };
    let input = canonical_input(req, &auth.signed_headers, Some(SIGNATURE_PARAMETER));
    let claim = SignatureClaim {
        scope,
        signed,
        canonical: CanonicalRequest::new(&input),
        payload_hashes,
        signature: &auth.signature,
    };
    authenticate(creds, mode, &claim)
}

fn check_algorithm(algorithm: &str) -> Result<(), AuthError> {
    if algorithm == ALGORITHM {
        return Ok(());
    }
    Err(AuthError::incomplete(format!(
        "X-Amz-Algorithm '{algorithm}' is not supported. Presigned URLs must use {ALGORITHM}."
    )))
}

fn parse_expires(text: &str) -> Result<u32, AuthError> {
    match text.parse::<u32>() {
        Ok(secs) if (1..=MAX_PRESIGNED_EXPIRES_SECS).contains(&secs) => Ok(secs),
        _ => Err(AuthError::incomplete(format!(
            "X-Amz-Expires '{text}' is invalid. It must be a number of seconds from 1 to \
             {MAX_PRESIGNED_EXPIRES_SECS} (7 days)."
        ))),
    }
}

fn check_within_expiry(
    signed: &SigningTime,
    expires_secs: u32,
    now: Timestamp,
) -> Result<(), AuthError> {
    let expires_at = signed.at.plus_millis(i64::from(expires_secs) * 1000);
    if now <= expires_at {
        return Ok(());
    }
    Err(AuthError::RequestExpired {
        expired_at: format_amz_date(expires_at),
        server_time: format_amz_date(now),
    })
}

/// The request that a presigned URL authorizes, and its validity period.
#[derive(Debug, Clone, Copy)]
pub struct PresignTarget<'a> {
    /// HTTP method the URL is for, such as `GET`.
    pub method: &'a str,
    /// The `Host` header the client will send, with the port unless it is the default.
    pub host: &'a str,
    /// Path as it will be sent, percent-encoded.
    pub path: &'a str,
    /// The URL's own query string, percent-encoded and without `?`. Empty when none.
    pub query: &'a str,
    /// Region in the credential scope.
    pub region: &'a str,
    /// Signing name in the credential scope, which [`verify_sigv4_presigned`] must expect too.
    pub service: &'a str,
    /// Seconds the URL stays valid. Values outside 1 to 604800 are clamped into that range.
    pub expires_secs: u32,
}

/// Signs a URL with `key` and returns its complete query string: `target.query` followed by
/// the `X-Amz-*` parameters. Only `host` is signed, and the body is `UNSIGNED-PAYLOAD`.
///
/// Fails only when `target.host` contains characters that a header value cannot hold.
pub fn presign_query(
    target: &PresignTarget<'_>,
    key: &AccessKey,
    now: Timestamp,
) -> Result<String, InvalidHeaderValue> {
    let mut headers = HeaderMap::new();
    headers.insert(HOST, HeaderValue::from_str(target.host)?);
    let amz_date = format_amz_date(now);
    let date = amz_date.get(..8).unwrap_or_default();
    let (region, service) = (target.region, target.service);
    let scope = format!("{date}/{region}/{service}/{SCOPE_TERMINATOR}");
    let query = unsigned_presigned_query(target, &key.id, &scope, &amz_date);
    let input = CanonicalInput {
        method: target.method,
        path: target.path,
        query: &query,
        skip_query_key: None,
        headers: &headers,
        signed_headers: "host",
    };
    let request = CanonicalRequest::new(&input).with_payload_hash(UNSIGNED_PAYLOAD);
    let string_to_sign = canonical::string_to_sign(&amz_date, &scope, &request);
    let signing_key = canonical::signing_key(&key.secret, date, region, service);
    let signature = canonical::sign(&signing_key, &string_to_sign);
    Ok(format!("{query}&{SIGNATURE_PARAMETER}={signature}"))
}

fn unsigned_presigned_query(
    target: &PresignTarget<'_>,
    key_id: &str,
    scope: &str,
    amz_date: &str,
) -> String {
    let credential = encode_component(format!("{key_id}/{scope}").as_bytes());
    let expires = target.expires_secs.clamp(1, MAX_PRESIGNED_EXPIRES_SECS);
    let mut query = String::new();
    if !target.query.is_empty() {
        query.push_str(target.query);
        query.push('&');
    }
    query.push_str(&format!(
        "X-Amz-Algorithm={ALGORITHM}&X-Amz-Credential={credential}&X-Amz-Date={amz_date}\
         &X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
    ));
    query
}
