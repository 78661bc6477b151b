//! Query strings, parsed into a typed struct per endpoint.

use axum::extract::Query;
use http::{StatusCode, Uri};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Code, OciError};

/// Parses the request's query string. Unknown parameters are ignored, as distribution
/// does, so presigned URLs keep their `X-Amz-*` parameters.
pub(crate) fn parse<T: DeserializeOwned>(uri: &Uri) -> Result<T, OciError> {
    match Query::<T>::try_from_uri(uri) {
        Ok(Query(query)) => Ok(query),
        Err(rejection) => {
            let message = format!("invalid query string: {}", rejection.body_text());
            Err(ApiError::new(StatusCode::BAD_REQUEST, Code::Unsupported, message).into())
        }
    }
}
