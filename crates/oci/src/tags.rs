//! `GET /v2/<name>/tags/list`: a repository's tags in lexical order, paged by `n` and
//! `last`.

use axum::response::Response;
use berth_types::RepositoryName;
use http::header::LINK;
use http::{StatusCode, Uri};
use serde::Serialize;

use crate::error::OciError;
use crate::headers::json_response;
use crate::paging::Page;
use crate::OciState;

#[derive(Serialize)]
struct TagList<'a> {
    name: &'a str,
    tags: Vec<&'a str>,
}

/// Lists one page of tags, with a `Link` to the next page when more remain.
pub(crate) async fn list(
    state: &OciState,
    name: &RepositoryName,
    uri: &Uri,
) -> Result<Response, OciError> {
    let page = Page::from_uri(uri)?;
    let last = page.last.as_deref();
    let mut tags = state
        .registry
        .list_tags(name, last, page.fetch_limit())
        .await?;
    let path = format!("/v2/{name}/tags/list");
    let link = page.cut(&mut tags, &path, |tag| tag.as_str());

    let body = TagList {
        name: name.as_str(),
        tags: tags.iter().map(|tag| tag.as_str()).collect(),
    };
    let bytes = serde_json::to_vec(&body).expect("a tag list serializes");
    Ok(with_link(json_response(StatusCode::OK, bytes), link))
}

/// Adds the `Link` header of the next page, if any.
pub(crate) fn with_link(mut response: Response, link: Option<String>) -> Response {
    let value = link.and_then(|link| http::HeaderValue::from_str(&link).ok());
    if let Some(value) = value {
        response.headers_mut().insert(LINK, value);
    }
    response
}
