//! The SigV4 canonical request, string to sign and signature, computed from a request as it
//! arrived, for services other than S3.
//!
//! The steps follow the AWS "Create a canonical request for Signature Version 4" guide.
//! Where the guide leaves room, berth does what botocore 1.43 does, because every client
//! that berth must accept computes the same bytes:
//! - The path is normalized (empty and `.` segments removed, `..` applied) and then each
//!   byte other than unreserved characters and `/` is percent-encoded. The path arrives
//!   already percent-encoded, so `%` itself is encoded again ("double encoding").
//! - Query keys and values are decoded and re-encoded, so `%2f` and `%2F` sign the same.
//!   `+` is a literal plus, not a space.

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The algorithm name in the `Authorization` header and first line of the string to sign.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Last component of every credential scope.
pub(crate) const SCOPE_TERMINATOR: &str = "aws4_request";

/// Payload hash that a client sends when it does not sign the body.
pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// A canonical request without its last line, the payload hash, so that the same request
/// can be checked against more than one payload hash.
pub(crate) struct CanonicalRequest {
    head: Vec<u8>,
}

/// The request parts that enter the canonical request.
pub(crate) struct CanonicalInput<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    /// Query parameter left out of the canonical query string (`X-Amz-Signature`).
    pub(crate) skip_query_key: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    /// The `SignedHeaders` value exactly as the client sent it.
    pub(crate) signed_headers: &'a str,
}

impl CanonicalRequest {
    pub(crate) fn new(input: &CanonicalInput<'_>) -> Self {
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(input.method.as_bytes());
        head.push(b'\n');
        head.extend_from_slice(canonical_uri(input.path).as_bytes());
        head.push(b'\n');
        head.extend_from_slice(canonical_query(input.query, input.skip_query_key).as_bytes());
        head.push(b'\n');
        for name in input.signed_headers.split(';') {
            append_canonical_header(&mut head, input.headers, name);
        }
        head.push(b'\n');
        head.extend_from_slice(input.signed_headers.as_bytes());
        head.push(b'\n');
        CanonicalRequest { head }
    }

    /// Returns the complete canonical request ending in `payload_hash`.
    pub(crate) fn with_payload_hash(&self, payload_hash: &str) -> Vec<u8> {
        let mut bytes = self.head.clone();
        bytes.extend_from_slice(payload_hash.as_bytes());
        bytes
    }
}

/// Encodes the normalized path, leaving only unreserved characters and `/` unencoded.
pub(crate) fn canonical_uri(path: &str) -> String {
    let normalized = normalize_path(path);
    let mut encoded = String::with_capacity(normalized.len());
    for byte in normalized.bytes() {
        push_encoded_byte(&mut encoded, byte, b'/');
    }
    encoded
}

/// Removes empty and `.` segments and applies `..`, keeping a leading and a trailing `/`.
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let trailing_slash = path.ends_with('/') && !segments.is_empty();
    let mut normalized = format!("/{}", segments.join("/"));
    if trailing_slash {
        normalized.push('/');
    }
    normalized
}

/// Sorts the query parameters by encoded key, then encoded value, and joins them with `&`.
pub(crate) fn canonical_query(query: &str, skip_key: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (key, value) in query_pairs(query) {
        if skip_key.is_some_and(|skip| key == skip.as_bytes()) {
            continue;
        }
        pairs.push((encode_component(&key), encode_component(&value)));
    }
    pairs.sort_unstable();
    let joined: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    joined.join("&")
}

/// Splits a raw query string into percent-decoded key and value bytes. A parameter without
/// `=` has an empty value.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
}

/// Decodes `%XX` escapes. A `%` that does not start a valid escape is kept as it is.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes.get(i + 1..i + 3).and_then(|hex| {
            let hex = std::str::from_utf8(hex).ok()?;
            u8::from_str_radix(hex, 16).ok()
        });
        match (bytes[i], escaped) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    decoded
}

/// Percent-encodes every byte except the unreserved characters `A-Z a-z 0-9 - _ . ~`.
pub(crate) fn encode_component(bytes: &[u8]) -> String {
    let mut encoded = String::with_capacity(bytes.len());
    for &byte in bytes {
        push_encoded_byte(&mut encoded, byte, b'~');
    }
    encoded
}

/// Appends `byte`, percent-encoded unless it is unreserved or equal to `also_keep`.
fn push_encoded_byte(out: &mut String, byte: u8, also_keep: u8) {
    let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~');
    if unreserved || byte == also_keep {
        out.push(char::from(byte));
    } else {
        out.push_str(&format!("%{byte:02X}"));
    }
}

/// Appends `name:value\n`, where the value joins all of the header's values with `,` after
/// trimming each and collapsing runs of whitespace into one space.
fn append_canonical_header(out: &mut Vec<u8>, headers: &HeaderMap, name: &str) {
    out.extend_from_slice(name.as_bytes());
    out.push(b':');
    for (index, value) in headers.get_all(name).iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        append_trimmed_value(out, value.as_bytes());
    }
    out.push(b'\n');
}

fn append_trimmed_value(out: &mut Vec<u8>, value: &[u8]) {
    let words = value
        .split(u8::is_ascii_whitespace)
        .filter(|word| !word.is_empty());
    for (index, word) in words.enumerate() {
        if index > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(word);
    }
}

/// Builds the string to sign from the signing time, the credential scope
/// (`date/region/service/aws4_request`) and the canonical request.
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    let request_hash = hex::encode(Sha256::digest(canonical_request));
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{request_hash}")
}

/// Derives the signing key from the secret and the scope's date, region and service.
pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let date_key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let region_key = hmac(&date_key, region.as_bytes());
    let service_key = hmac(&region_key, service.as_bytes());
    hmac(&service_key, SCOPE_TERMINATOR.as_bytes())
}

/// Returns the hex signature of `string_to_sign`.
pub(crate) fn sign(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac(signing_key, string_to_sign.as_bytes()))
}

/// Compares a hex signature from the request with the expected one in constant time.
/// Anything that is not 64 hex digits does not match.
pub(crate) fn signature_matches(
    signing_key: &[u8; 32],
    string_to_sign: &str,
    provided: &str,
) -> bool {
    let Ok(provided) = hex::decode(provided) else {
        return false;
    };
    let mut mac = new_mac(signing_key);
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&provided).is_ok()
}

/// Returns the lowercase hex SHA-256 of `bytes`, the payload hash of a signed body.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = new_mac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length, so this cannot fail.
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::{
        append_canonical_header, canonical_query, canonical_uri, sign, signature_matches,
        signing_key,
    };

    #[test]
    fn uri_is_normalized_like_the_aws_suite() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(canonical_uri("/example/.."), "/");
        assert_eq!(canonical_uri("/./example"), "/example");
        assert_eq!(canonical_uri("/example1/example2/../.."), "/");
    }

    #[test]
    fn uri_encodes_reserved_and_percent() {
        assert_eq!(canonical_uri("/example space/"), "/example%20space/");
        assert_eq!(canonical_uri("/\u{1234}"), "/%E1%88%B4");
        assert_eq!(canonical_uri("/%E1%88%B4"), "/%25E1%2588%25B4");
        assert_eq!(
            canonical_uri("/v2/a/blobs/sha256:ab"),
            "/v2/a/blobs/sha256%3Aab"
        );
        assert_eq!(canonical_uri("/-._~AZaz09"), "/-._~AZaz09");
    }

    #[test]
    fn query_is_sorted_by_key_then_value() {
        assert_eq!(
            canonical_query("Param2=value2&Param1=value1", None),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(
            canonical_query("Param1=value2&Param1=Value1", None),
            "Param1=Value1&Param1=value2"
        );
        assert_eq!(canonical_query("", None), "");
        assert_eq!(canonical_query("flag&a=1", None), "a=1&flag=");
    }

    #[test]
    fn query_is_reencoded() {
        assert_eq!(canonical_query("k=a%2fb", None), "k=a%2Fb");
        assert_eq!(canonical_query("k=a+b c", None), "k=a%2Bb%20c");
        assert_eq!(canonical_query("%E1%88%B4=bar", None), "%E1%88%B4=bar");
        assert_eq!(canonical_query("k=100%", None), "k=100%25");
    }

    #[test]
    fn query_skips_the_signature_parameter() {
        let query = "X-Amz-Signature=abc&b=2&a=1";
        assert_eq!(canonical_query(query, Some("X-Amz-Signature")), "a=1&b=2");
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        let mut headers = HeaderMap::new();
        headers.append("my-header1", "  a   b \t c ".parse().unwrap());
        headers.append("my-header1", "second".parse().unwrap());
        let mut out = Vec::new();
        append_canonical_header(&mut out, &headers, "my-header1");
        assert_eq!(String::from_utf8(out).unwrap(), "my-header1:a b c,second\n");
    }

    /// The signing key example from the AWS guide "Examples of how to derive a signing key".
    #[test]
    fn signing_key_matches_aws_example() {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn signature_comparison_rejects_bad_hex() {
        let key = [7u8; 32];
        let signature = sign(&key, "text");
        assert!(signature_matches(&key, "text", &signature));
        assert!(!signature_matches(&key, "text", &signature[..62]));
        assert!(!signature_matches(&key, "text", "not hex"));
        assert!(!signature_matches(&key, "other", &signature));
    }
}
