//! Reasons a SigV4 check fails, each tied to the AWS error code and status that clients
//! expect from a JSON protocol service.
//!
//! Messages never include a secret or the signature the server computed. Where AWS has a
//! well-known message (the clock skew ones), the text starts the same way so that people
//! and tools that search for it find it.

/// A failed SigV4 check. [`AuthError::aws_code`] and [`AuthError::http_status`] give the
/// `__type` and status of the ECR error response, and `Display` gives its `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The request carries no `Authorization` header (or, for a presigned URL, no
    /// `X-Amz-*` query parameters).
    #[error(
        "Missing Authentication Token. Sign the request with AWS Signature Version 4, for \
         example by calling through the AWS CLI or an AWS SDK."
    )]
    MissingAuthenticationToken,

    /// The signature is malformed: a part is missing or cannot be parsed.
    #[error("{reason}")]
    IncompleteSignature {
        /// Description of the missing or malformed part, with the fix.
        reason: String,
    },

    /// The access key id is not configured on this server.
    #[error(
        "The security token included in the request is invalid. The access key id is not \
         configured on this registry. Check which access key your client uses."
    )]
    UnrecognizedClientException,

    /// The signature does not match the one computed from the request and the secret.
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method."
    )]
    InvalidSignatureException,

    /// The credential scope names another service, a wrong date or a wrong terminator.
    #[error("{reason}")]
    InvalidCredentialScope {
        /// Description of the wrong scope part and the expected value.
        reason: String,
    },

    /// The request was signed more than 15 minutes before the server's current time.
    #[error(
        "Signature expired: {signed_at} is now earlier than {earliest} ({server_time} - 15 \
         min.) Check that the clock of the client machine is correct."
    )]
    SignatureExpired {
        /// Signing time from the request, as `yyyymmddTHHMMSSZ`.
        signed_at: String,
        /// Oldest signing time the server accepts now.
        earliest: String,
        /// The server's current time.
        server_time: String,
    },

    /// The request was signed more than 15 minutes after the server's current time.
    #[error(
        "Signature not yet current: {signed_at} is still later than {latest} ({server_time} \
         + 15 min.) Check that the clock of the client machine is correct."
    )]
    SignatureNotYetCurrent {
        /// Signing time from the request, as `yyyymmddTHHMMSSZ`.
        signed_at: String,
        /// Latest signing time the server accepts now.
        latest: String,
        /// The server's current time.
        server_time: String,
    },

    /// A presigned URL was used after its `X-Amz-Expires` period ended.
    #[error(
        "Request has expired: the presigned URL expired at {expired_at} and it is now \
         {server_time}. Request a new URL."
    )]
    RequestExpired {
        /// End of the URL's validity, as `yyyymmddTHHMMSSZ`.
        expired_at: String,
        /// The server's current time.
        server_time: String,
    },
}

impl AuthError {
    /// Returns the AWS error code for the `__type` field and the `x-amzn-ErrorType` header.
    pub fn aws_code(&self) -> &'static str {
        match self {
            AuthError::MissingAuthenticationToken => "MissingAuthenticationToken",
            AuthError::IncompleteSignature { .. } => "IncompleteSignature",
            AuthError::UnrecognizedClientException => "UnrecognizedClientException",
            AuthError::InvalidSignatureException
            | AuthError::InvalidCredentialScope { .. }
            | AuthError::SignatureExpired { .. }
            | AuthError::SignatureNotYetCurrent { .. } => "InvalidSignatureException",
            AuthError::RequestExpired { .. } => "RequestExpired",
        }
    }

    /// Returns the HTTP status AWS sends with this error: 403 for a missing token, else 400.
    pub fn http_status(&self) -> u16 {
        match self {
            AuthError::MissingAuthenticationToken => 403,
            _ => 400,
        }
    }

    pub(crate) fn incomplete(reason: impl Into<String>) -> Self {
        AuthError::IncompleteSignature {
            reason: reason.into(),
        }
    }

    pub(crate) fn scope(reason: impl Into<String>) -> Self {
        AuthError::InvalidCredentialScope {
            reason: reason.into(),
        }
    }
}
