//! Authentication for berth's two fronts: who is calling, proven by a signature or a token.
//!
//! - [`Credentials`] is the store of configured access keys. [`load_or_create_admin_key`]
//!   makes the first key on a fresh data directory.
//! - [`verify_sigv4`] checks AWS Signature Version 4 on ECR JSON calls, and
//!   [`verify_sigv4_presigned`] checks it on presigned URLs that [`presign_query`] makes.
//! - [`TokenSigner`] issues the passwords that `GetAuthorizationToken` returns and checks
//!   them when docker sends them back as Basic auth on the OCI front.
//!
//! Everything here is synchronous and takes the current time as a parameter. The only IO
//! is reading or creating the two secret files in the data directory. Authorization (which
//! identity may do what) is not decided here.

#![warn(missing_docs)]

mod credentials;
mod secret_file;
mod sigv4;
mod token;

pub use credentials::{
    load_or_create_admin_key, AccessKey, Credentials, ADMIN_CREDENTIALS_FILE, ADMIN_USER_NAME,
};
pub use sigv4::{
    precheck_sigv4, presign_query, verify_sigv4, verify_sigv4_presigned, AuthError, Identity,
    PresignTarget, SignedRequest, VerifyMode, MAX_CLOCK_SKEW_MILLIS, MAX_PRESIGNED_EXPIRES_SECS,
};
pub use token::{
    parse_basic_authorization, IssuedToken, TokenClaims, TokenError, TokenSigner,
    DEFAULT_TOKEN_TTL_MILLIS, TOKEN_KEY_FILE, TOKEN_USER,
};
