//! ECR authorization tokens: the password that `GetAuthorizationToken` returns, and that
//! docker sends back as `Authorization: Basic base64("AWS:" + password)` on the OCI front.
//!
//! A password is URL-safe base64 without padding, so it contains no `:` and no whitespace,
//! of these bytes (integers big-endian):
//!
//! ```text
//! version (1 byte, = 1)
//! expires_at (8 bytes, i64 milliseconds since the Unix epoch)
//! access key id length (4 bytes, u32), access key id (UTF-8)
//! principal ARN length (4 bytes, u32), principal ARN (UTF-8)
//! tag (32 bytes, HMAC-SHA256 under the server's token key of all bytes before it)
//! ```
//!
//! Nothing is stored per token, so any server that holds the same key accepts it. The
//! flip side is that a token cannot be revoked before it expires, except by changing the
//! key, which revokes all of them.

use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

use base64::alphabet;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use berth_types::Timestamp;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret_file;

/// File name of the token key in the data directory.
pub const TOKEN_KEY_FILE: &str = "token-key";

/// The user name that goes with a token password in Basic auth, as in ECR.
pub const TOKEN_USER: &str = "AWS";

/// How long ECR authorization tokens last: 12 hours, in milliseconds.
pub const DEFAULT_TOKEN_TTL_MILLIS: i64 = 12 * 60 * 60 * 1000;

const TOKEN_VERSION: u8 = 1;
const TAG_LEN: usize = 32;
const KEY_LEN: usize = 32;

/// Standard base64 that accepts input with or without `=` padding, since hand-built
/// `curl` headers often drop it.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Issues and verifies authorization tokens with one 32-byte server key.
#[derive(Clone)]
pub struct TokenSigner {
    key: [u8; KEY_LEN],
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A newly issued token in the forms that `GetAuthorizationToken` returns.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The password for `docker login --username AWS`.
    pub password: String,
    /// `base64("AWS:" + password)`, the `authorizationToken` field.
    pub authorization_token: String,
    /// When the token stops being accepted, the `expiresAt` field.
    pub expires_at: Timestamp,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("password", &"<redacted>")
            .field("authorization_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The identity that a valid token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// Access key id of the `GetAuthorizationToken` caller.
    pub access_key_id: String,
    /// Principal ARN of the caller, for policy checks on pushes and pulls.
    pub principal_arn: String,
    /// When the token stops being accepted.
    pub expires_at: Timestamp,
}

/// Rejection reason for a token or a Basic `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not valid base64, not `user:password`, or not a token layout berth issues.
    #[error(
        "The authorization token is malformed. Get a new one with `aws ecr \
         get-login-password` and log in again."
    )]
    Malformed,
    /// The tag does not match: the token was altered or signed with another server key.
    #[error(
        "The authorization token was not issued by this registry or was altered. Get a new \
         one with `aws ecr get-login-password` and log in again."
    )]
    BadSignature,
    /// The token was valid but its expiry time has passed.
    #[error("Your authorization token has expired. Reauthenticate and try again.")]
    Expired,
}

impl TokenSigner {
    /// Creates a signer from a key, for tests and for keys kept outside the data directory.
    pub fn from_key(key: [u8; KEY_LEN]) -> Self {
        TokenSigner { key }
    }

    /// Loads the key from `<data_dir>/token-key`, or creates that file with 32 random bytes
    /// (mode 0600, written atomically) when it does not exist.
    ///
    /// Deleting the file revokes every token issued so far. Two processes that create the
    /// file at the same moment may use different keys until they restart.
    pub fn load_or_create(data_dir: &Path) -> io::Result<Self> {
        let path = data_dir.join(TOKEN_KEY_FILE);
        match fs::read(&path) {
            Ok(bytes) => {
                secret_file::warn_if_readable_by_others(&path);
                key_from_file_bytes(&path, &bytes).map(TokenSigner::from_key)
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let key = secret_file::random_bytes::<KEY_LEN>();
                secret_file::write_atomically(&path, &key)?;
                Ok(TokenSigner::from_key(key))
            }
            Err(err) => Err(err),
        }
    }

    /// Issues a token for this caller that expires `ttl_millis` after `now`.
    pub fn issue(
        &self,
        access_key_id: &str,
        principal_arn: &str,
        now: Timestamp,
        ttl_millis: i64,
    ) -> IssuedToken {
        let expires_at = now.plus_millis(ttl_millis);
        let mut bytes = encode_claims(access_key_id, principal_arn, expires_at);
        let tag = self.tag(&bytes);
        bytes.extend_from_slice(&tag);
        let password = URL_SAFE_NO_PAD.encode(&bytes);
        let authorization_token = STANDARD.encode(format!("{TOKEN_USER}:{password}"));
        IssuedToken {
            password,
            authorization_token,
            expires_at,
        }
    }

    /// Checks a password's tag and expiry and returns the identity it stands for.
    ///
    /// The tag is checked first and in constant time, so an altered token is reported as
    /// [`TokenError::BadSignature`] even when it has also expired.
    pub fn verify(&self, password: &str, now: Timestamp) -> Result<TokenClaims, TokenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(password)
            .map_err(|_| TokenError::Malformed)?;
        let Some(body_len) = bytes.len().checked_sub(TAG_LEN) else {
            return Err(TokenError::Malformed);
        };
        let (body, tag) = bytes.split_at(body_len);
        self.new_mac(body)
            .verify_slice(tag)
            .map_err(|_| TokenError::BadSignature)?;
        let claims = decode_claims(body).ok_or(TokenError::Malformed)?;
        if now >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    fn tag(&self, body: &[u8]) -> [u8; TAG_LEN] {
        self.new_mac(body).finalize().into_bytes().into()
    }

    fn new_mac(&self, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length, so this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts any key");
        mac.update(body);
        mac
    }
}

fn key_from_file_bytes(path: &Path, bytes: &[u8]) -> io::Result<[u8; KEY_LEN]> {
    bytes.try_into().map_err(|_| {
        let message = format!(
            "token key file {} holds {} bytes but must hold exactly {KEY_LEN}. Delete it to \
             generate a new key, which invalidates all issued tokens",
            path.display(),
            bytes.len()
        );
        io::Error::new(io::ErrorKind::InvalidData, message)
    })
}

fn encode_claims(access_key_id: &str, principal_arn: &str, expires_at: Timestamp) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(17 + access_key_id.len() + principal_arn.len() + TAG_LEN);
    bytes.push(TOKEN_VERSION);
    bytes.extend_from_slice(&expires_at.as_millis().to_be_bytes());
    push_length_prefixed(&mut bytes, access_key_id);
    push_length_prefixed(&mut bytes, principal_arn);
    bytes
}

fn push_length_prefixed(bytes: &mut Vec<u8>, text: &str) {
    // A string longer than u32::MAX gets a wrong length, so the token fails to decode.
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(text.as_bytes());
}

fn decode_claims(body: &[u8]) -> Option<TokenClaims> {
    let (&version, rest) = body.split_first()?;
    if version != TOKEN_VERSION {
        return None;
    }
    let (expires_at, rest) = rest.split_first_chunk::<8>()?;
    let (access_key_id, rest) = take_length_prefixed(rest)?;
    let (principal_arn, rest) = take_length_prefixed(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let expires_at = Timestamp::from_millis(i64::from_be_bytes(*expires_at));
    Some(TokenClaims {
        access_key_id,
        principal_arn,
        expires_at,
    })
}

fn take_length_prefixed(bytes: &[u8]) -> Option<(String, &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let (text, rest) = rest.split_at_checked(len)?;
    Some((String::from_utf8(text.to_vec()).ok()?, rest))
}

/// Splits a Basic `Authorization` header value into user and password.
///
/// Accepts `Basic <base64(user:password)>` (scheme in any case, padding optional) and the
/// bare base64 without the scheme. An ECR `authorizationToken` is already
/// `base64("AWS:" + password)`, so `Authorization: Basic $TOKEN` is the same thing. The
/// decoded text is split at its first `:`. The caller checks that the user is
/// [`TOKEN_USER`] and passes the password to [`TokenSigner::verify`].
pub fn parse_basic_authorization(header_value: &str) -> Result<(String, String), TokenError> {
    let value = header_value.trim();
    let encoded = match value.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") => rest.trim(),
        Some(_) => return Err(TokenError::Malformed),
        None => value,
    };
    let decoded = LENIENT_BASE64
        .decode(encoded)
        .map_err(|_| TokenError::Malformed)?;
    let text = String::from_utf8(decoded).map_err(|_| TokenError::Malformed)?;
    let (user, password) = text.split_once(':').ok_or(TokenError::Malformed)?;
    Ok((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io;

    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine;
    use berth_types::Timestamp;

    use super::{
        parse_basic_authorization, IssuedToken, TokenError, TokenSigner, DEFAULT_TOKEN_TTL_MILLIS,
        TOKEN_KEY_FILE, TOKEN_VERSION,
    };
    use crate::secret_file::tests::TempDir;

    const NOW: Timestamp = Timestamp(1_736_937_000_000);
    const ARN: &str = "arn:aws:iam::123456789012:user/berth-admin";

    fn signer() -> TokenSigner {
        TokenSigner::from_key([42u8; 32])
    }

    fn issue_default() -> IssuedToken {
        signer().issue("BKIAEXAMPLE000000001", ARN, NOW, DEFAULT_TOKEN_TTL_MILLIS)
    }

    #[test]
    fn token_round_trips() {
        let token = issue_default();
        assert_eq!(token.expires_at, Timestamp(1_736_937_000_000 + 43_200_000));
        let claims = signer()
            .verify(&token.password, NOW.plus_millis(1000))
            .unwrap();
        assert_eq!(claims.access_key_id, "BKIAEXAMPLE000000001");
        assert_eq!(claims.principal_arn, ARN);
        assert_eq!(claims.expires_at, token.expires_at);
    }

    #[test]
    fn token_password_has_no_colon_or_space() {
        let token = issue_default();
        assert!(!token.password.is_empty());
        assert!(!token.password.contains(':'), "{}", token.password);
        assert!(
            !token.password.contains(char::is_whitespace),
            "{}",
            token.password
        );
        assert!(token
            .password
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn authorization_token_is_base64_of_user_and_password() {
        let token = issue_default();
        let decoded = STANDARD.decode(&token.authorization_token).unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            format!("AWS:{}", token.password)
        );
    }

    #[test]
    fn token_expires_at_its_expiry_time() {
        let token = issue_default();
        let just_before = token.expires_at.plus_millis(-1);
        assert!(signer().verify(&token.password, just_before).is_ok());
        assert_eq!(
            signer().verify(&token.password, token.expires_at),
            Err(TokenError::Expired)
        );
        assert_eq!(
            TokenError::Expired.to_string(),
            "Your authorization token has expired. Reauthenticate and try again."
        );
    }

    #[test]
    fn tampered_token_is_rejected() {
        let password = issue_default().password;
        for index in [0, password.len() / 2, password.len() - 1] {
            let mut chars: Vec<char> = password.chars().collect();
            chars[index] = if chars[index] == 'A' { 'B' } else { 'A' };
            let tampered: String = chars.into_iter().collect();
            let result = signer().verify(&tampered, NOW);
            assert!(
                matches!(
                    result,
                    Err(TokenError::BadSignature | TokenError::Malformed)
                ),
                "index {index}: {result:?}"
            );
        }
    }

    #[test]
    fn tampered_expired_token_is_bad_signature() {
        let password = issue_default().password;
        let mut chars: Vec<char> = password.chars().collect();
        chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        let much_later = NOW.plus_millis(10 * DEFAULT_TOKEN_TTL_MILLIS);
        assert_eq!(
            signer().verify(&tampered, much_later),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn token_from_other_key_is_rejected() {
        let password = issue_default().password;
        let other = TokenSigner::from_key([43u8; 32]);
        assert_eq!(other.verify(&password, NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn garbage_token_is_malformed() {
        assert_eq!(signer().verify("", NOW), Err(TokenError::Malformed));
        assert_eq!(
            signer().verify("not base64!", NOW),
            Err(TokenError::Malformed)
        );
        assert_eq!(signer().verify("c2hvcnQ", NOW), Err(TokenError::Malformed));
    }

    #[test]
    fn validly_tagged_bad_layout_is_malformed() {
        let body = [TOKEN_VERSION, 0, 0];
        let mut bytes = body.to_vec();
        bytes.extend_from_slice(&signer().tag(&body));
        let password = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(signer().verify(&password, NOW), Err(TokenError::Malformed));
    }

    #[test]
    fn debug_output_redacts_token_and_key() {
        let token = issue_default();
        let token_debug = format!("{token:?}");
        assert!(!token_debug.contains(&token.password), "{token_debug}");
        assert!(
            !token_debug.contains(&token.authorization_token),
            "{token_debug}"
        );
        assert_eq!(
            format!("{:?}", signer()),
            r#"TokenSigner { key: "<redacted>" }"#
        );
    }

    #[test]
    fn basic_header_is_parsed() {
        let header = format!("Basic {}", STANDARD.encode("AWS:pass:word"));
        let (user, password) = parse_basic_authorization(&header).unwrap();
        assert_eq!(user, "AWS");
        assert_eq!(password, "pass:word");
    }

    #[test]
    fn basic_header_accepts_raw_token_and_loose_form() {
        let token = issue_default();
        let expected = ("AWS".to_owned(), token.password.clone());
        let raw = parse_basic_authorization(&token.authorization_token).unwrap();
        assert_eq!(raw, expected);
        let unpadded = token.authorization_token.trim_end_matches('=');
        let loose = parse_basic_authorization(&format!("  basic   {unpadded} ")).unwrap();
        assert_eq!(loose, expected);
        let claims = signer().verify(&raw.1, NOW).unwrap();
        assert_eq!(claims.principal_arn, ARN);
    }

    #[test]
    fn basic_header_rejects_bad_input() {
        let no_colon = format!("Basic {}", STANDARD.encode("AWSpassword"));
        assert_eq!(
            parse_basic_authorization(&no_colon),
            Err(TokenError::Malformed)
        );
        let bearer = format!("Bearer {}", STANDARD.encode("AWS:x"));
        assert_eq!(
            parse_basic_authorization(&bearer),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            parse_basic_authorization("Basic %%%"),
            Err(TokenError::Malformed)
        );
        let not_utf8 = format!("Basic {}", STANDARD.encode([0xff, b':', b'x']));
        assert_eq!(
            parse_basic_authorization(&not_utf8),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn token_key_is_created_then_reloaded() {
        let dir = TempDir::new();
        let first = TokenSigner::load_or_create(&dir.0).unwrap();
        let password = first.issue("BKIA1", ARN, NOW, 60_000).password;
        let second = TokenSigner::load_or_create(&dir.0).unwrap();
        assert_eq!(
            second.verify(&password, NOW).unwrap().access_key_id,
            "BKIA1"
        );
        assert_eq!(fs::read(dir.0.join(TOKEN_KEY_FILE)).unwrap().len(), 32);
    }

    #[cfg(unix)]
    #[test]
    fn token_key_file_is_owner_only() {
        let dir = TempDir::new();
        TokenSigner::load_or_create(&dir.0).unwrap();
        let mode = crate::secret_file::tests::mode_of(&dir.0.join(TOKEN_KEY_FILE));
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn token_key_wrong_size_rejected() {
        let dir = TempDir::new();
        fs::write(dir.0.join(TOKEN_KEY_FILE), b"short").unwrap();
        let err = TokenSigner::load_or_create(&dir.0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("holds 5 bytes"), "{err}");
    }
}
