//! Parsing of the signature parts a client sends: the `Authorization` header and the
//! credential scope `<key id>/<yyyymmdd>/<region>/<service>/aws4_request`.

use super::canonical::{ALGORITHM, SCOPE_TERMINATOR};
use super::date::SigningTime;
use super::error::AuthError;

/// The three parameters of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
/// Signature=…`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AuthorizationHeader<'a> {
    pub(crate) credential: &'a str,
    pub(crate) signed_headers: &'a str,
    pub(crate) signature: &'a str,
}

impl<'a> AuthorizationHeader<'a> {
    /// Parses the header value. Parameters may come in any order and unknown ones are
    /// ignored, as AWS does.
    pub(crate) fn parse(value: &'a str) -> Result<Self, AuthError> {
        let value = value.trim();
        let (algorithm, parameters) = value.split_once(' ').unwrap_or((value, ""));
        if algorithm != ALGORITHM {
            return Err(AuthError::incomplete(format!(
                "The Authorization header is not an AWS Signature Version 4 header: it must \
                 start with '{ALGORITHM} '. Sign the request with the AWS CLI or an AWS SDK."
            )));
        }
        let find = |name: &str| find_parameter(parameters, name);
        let (credential, signed_headers, signature) =
            (find("Credential"), find("SignedHeaders"), find("Signature"));
        match (credential, signed_headers, signature) {
            (Some(credential), Some(signed_headers), Some(signature)) => Ok(AuthorizationHeader {
                credential,
                signed_headers,
                signature,
            }),
            _ => Err(missing_parameters(&[
                ("Credential", credential.is_none()),
                ("SignedHeaders", signed_headers.is_none()),
                ("Signature", signature.is_none()),
            ])),
        }
    }
}

/// Returns the non-empty value of `name=value` in a comma-separated parameter list.
fn find_parameter<'a>(parameters: &'a str, name: &str) -> Option<&'a str> {
    parameters
        .split(',')
        .filter_map(|parameter| parameter.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

fn missing_parameters(parameters: &[(&str, bool)]) -> AuthError {
    let mut reason = String::new();
    for (name, _) in parameters.iter().filter(|(_, missing)| *missing) {
        reason.push_str(&format!(
            "Authorization header requires '{name}' parameter. "
        ));
    }
    reason.push_str("Sign the request with AWS Signature Version 4 (AWS4-HMAC-SHA256).");
    AuthError::incomplete(reason)
}

/// The credential scope from `Credential=` or `X-Amz-Credential`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CredentialScope<'a> {
    pub(crate) key_id: &'a str,
    /// `yyyymmdd`.
    pub(crate) date: &'a str,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
}

impl<'a> CredentialScope<'a> {
    /// Parses `<key id>/<yyyymmdd>/<region>/<service>/aws4_request` and checks it against
    /// the expected service and the signing time.
    pub(crate) fn parse(
        credential: &'a str,
        service: &str,
        signed: &SigningTime,
    ) -> Result<Self, AuthError> {
        let parts: Vec<&str> = credential.split('/').collect();
        let [key_id, date, region, scope_service, terminator] = parts[..] else {
            return Err(malformed_credential(credential));
        };
        if parts.iter().any(|part| part.is_empty()) {
            return Err(malformed_credential(credential));
        }
        check_terminator(terminator)?;
        check_service(scope_service, service)?;
        check_date(date, signed)?;
        Ok(CredentialScope {
            key_id,
            date,
            region,
            service: scope_service,
        })
    }

    /// Returns `date/region/service/aws4_request`, the third line of the string to sign.
    pub(crate) fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{SCOPE_TERMINATOR}",
            self.date, self.region, self.service
        )
    }
}

fn malformed_credential(credential: &str) -> AuthError {
    AuthError::incomplete(format!(
        "Credential '{credential}' is malformed: it must have the form \
         <access key id>/<yyyymmdd>/<region>/<service>/{SCOPE_TERMINATOR}."
    ))
}

fn check_terminator(terminator: &str) -> Result<(), AuthError> {
    if terminator == SCOPE_TERMINATOR {
        return Ok(());
    }
    Err(AuthError::scope(format!(
        "Credential should be scoped with a valid terminator: '{SCOPE_TERMINATOR}', not \
         '{terminator}'."
    )))
}

fn check_service(scope_service: &str, service: &str) -> Result<(), AuthError> {
    if scope_service == service {
        return Ok(());
    }
    Err(AuthError::scope(format!(
        "Credential should be scoped to correct service: '{service}', not '{scope_service}'. \
         Sign the request for service '{service}'."
    )))
}

fn check_date(date: &str, signed: &SigningTime) -> Result<(), AuthError> {
    let signed_date = signed.amz_date.get(..8).unwrap_or_default();
    if date == signed_date {
        return Ok(());
    }
    Err(AuthError::scope(format!(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
         HTTP: '{date}' != '{signed_date}', from '{}'. Sign with the same date in both.",
        signed.amz_date
    )))
}

#[cfg(test)]
mod tests {
    use super::{AuthorizationHeader, CredentialScope, SigningTime};
    use crate::sigv4::date::signing_time_from_query;

    const HEADER: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/\
                          aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa0";

    fn suite_time() -> SigningTime {
        signing_time_from_query("20150830T123600Z").unwrap()
    }

    #[test]
    fn authorization_header_parts_are_found() {
        let header = AuthorizationHeader::parse(HEADER).unwrap();
        assert_eq!(
            header.credential,
            "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
        );
        assert_eq!(header.signed_headers, "host;x-amz-date");
        assert_eq!(header.signature, "5fa0");
    }

    #[test]
    fn authorization_header_names_missing_parts() {
        let err = AuthorizationHeader::parse("AWS4-HMAC-SHA256 Credential=a/b/c/d/e").unwrap_err();
        assert_eq!(err.aws_code(), "IncompleteSignature");
        assert_eq!(
            err.to_string(),
            "Authorization header requires 'SignedHeaders' parameter. Authorization header \
             requires 'Signature' parameter. Sign the request with AWS Signature Version 4 \
             (AWS4-HMAC-SHA256)."
        );
    }

    #[test]
    fn authorization_header_rejects_other_schemes_without_echoing() {
        let err = AuthorizationHeader::parse("Basic QVdTOnNlY3JldA==").unwrap_err();
        assert_eq!(err.aws_code(), "IncompleteSignature");
        assert!(!err.to_string().contains("QVdTOnNlY3JldA"), "{err}");
    }

    #[test]
    fn credential_scope_is_parsed() {
        let credential = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
        let scope = CredentialScope::parse(credential, "service", &suite_time()).unwrap();
        assert_eq!(scope.key_id, "AKIDEXAMPLE");
        assert_eq!(scope.region, "us-east-1");
        assert_eq!(scope.scope(), "20150830/us-east-1/service/aws4_request");
    }

    #[test]
    fn credential_scope_rejects_wrong_service() {
        let credential = "AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request";
        let err = CredentialScope::parse(credential, "ecr", &suite_time()).unwrap_err();
        assert_eq!(err.aws_code(), "InvalidSignatureException");
        assert_eq!(
            err.to_string(),
            "Credential should be scoped to correct service: 'ecr', not 's3'. Sign the request \
             for service 'ecr'."
        );
    }

    #[test]
    fn credential_scope_rejects_other_date_and_terminator() {
        let other_date = "AKIDEXAMPLE/20150831/us-east-1/ecr/aws4_request";
        let err = CredentialScope::parse(other_date, "ecr", &suite_time()).unwrap_err();
        assert!(
            err.to_string().contains("'20150831' != '20150830'"),
            "{err}"
        );
        let other_terminator = "AKIDEXAMPLE/20150830/us-east-1/ecr/aws5_request";
        let err = CredentialScope::parse(other_terminator, "ecr", &suite_time()).unwrap_err();
        assert!(err.to_string().contains("not 'aws5_request'"), "{err}");
    }

    #[test]
    fn credential_scope_rejects_wrong_shape() {
        for credential in [
            "AKID/20150830/us-east-1/ecr",
            "AKID//us-east-1/ecr/aws4_request",
        ] {
            let err = CredentialScope::parse(credential, "ecr", &suite_time()).unwrap_err();
            assert_eq!(err.aws_code(), "IncompleteSignature", "{credential}");
        }
    }
}
