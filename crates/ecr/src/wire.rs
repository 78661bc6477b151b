//! Helpers for the AWS JSON 1.1 wire format: parsing input, checking the model's
//! constraints, and writing output.

use axum::response::{IntoResponse, Response};
use berth_service::{parse_repository_name, PageRequest, Settings};
use berth_types::{RepositoryName, Timestamp};
use http::HeaderValue;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde::Serialize;

use crate::error::EcrError;

pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Parses a request body into an operation's input shape. An empty body is `{}`.
pub fn parse_input<T: DeserializeOwned>(body: &[u8]) -> Result<T, EcrError> {
    parse_input_borrowed(body)
}

/// Parses a request body into an input shape that may borrow strings from the body.
pub fn parse_input_borrowed<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, EcrError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|error| {
        let message = error.to_string();
        // A member that this operation's shape lacks is most often one that a newer ECR
        // model added, so say that rather than calling the JSON malformed.
        if message.starts_with("unknown field") {
            EcrError::invalid_parameter(format!(
                "The request has a member that berth does not support for this operation: {message}"
            ))
        } else {
            EcrError::serialization(format!(
                "The request body is not a valid input for this operation: {message}"
            ))
        }
    })
}

/// Writes an operation's output shape.
pub fn output<T: Serialize>(value: &T) -> Response {
    let body = serde_json::to_vec(value).expect("output shapes serialize");
    let mut response = body.into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    response
}

/// Unwraps a required member, or names it in ECR's wording.
pub fn required<T>(field: &str, value: Option<T>) -> Result<T, EcrError> {
    value.ok_or_else(|| {
        EcrError::invalid_parameter(format!(
            "Invalid parameter at '{field}' failed to satisfy constraint: 'Member must not be null'"
        ))
    })
}

/// Parses the required `repositoryName` member.
pub fn repository_name(value: Option<String>) -> Result<RepositoryName, EcrError> {
    let text = required("repositoryName", value)?;
    Ok(parse_repository_name("repositoryName", &text)?)
}

/// Checks the optional `registryId` member: it must be 12 digits and name this registry.
pub fn check_registry_id(value: Option<&str>, settings: &Settings) -> Result<(), EcrError> {
    let Some(id) = value else { return Ok(()) };
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EcrError::invalid_parameter(format!(
            "Invalid parameter at 'registryId' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{{12}}'' (got '{id}')"
        )));
    }
    if id != settings.registry_id {
        return Err(EcrError::invalid_parameter(format!(
            "The registry id '{id}' is not this registry; this registry's id is '{}'. Leave registryId out or set it to that value",
            settings.registry_id
        )));
    }
    Ok(())
}

/// Checks a list member's length against the model's bounds.
pub fn check_length(field: &str, length: usize, min: usize, max: usize) -> Result<(), EcrError> {
    if length < min {
        return Err(EcrError::invalid_parameter(format!(
            "Invalid parameter at '{field}' failed to satisfy constraint: 'Member must have length greater than or equal to {min}'"
        )));
    }
    if length > max {
        return Err(EcrError::invalid_parameter(format!(
            "Invalid parameter at '{field}' failed to satisfy constraint: 'Member must have length less than or equal to {max}'"
        )));
    }
    Ok(())
}

/// Rejects paging members on a call that names its items, as ECR documents.
pub fn no_paging_with(field: &str, page: &PageRequest) -> Result<(), EcrError> {
    if page.max_results.is_some() || page.next_token.is_some() {
        return Err(EcrError::invalid_parameter(format!(
            "maxResults and nextToken cannot be used together with {field}; page through the listing without {field}"
        )));
    }
    Ok(())
}

/// Seconds since the epoch with millisecond precision, as AWS JSON writes timestamps.
pub fn epoch(timestamp: Timestamp) -> f64 {
    timestamp.as_epoch_seconds()
}
