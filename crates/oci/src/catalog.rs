//! `GET /v2/_catalog`: repository names in lexical order, paged by `n` and `last`.

use axum::response::Response;
use http::{StatusCode, Uri};
use serde::Serialize;

use crate::error::OciError;
use crate::headers::json_response;
use crate::paging::Page;
use crate::tags::with_link;
use crate::OciState;

#[derive(Serialize)]
struct Catalog<'a> {
    repositories: Vec<&'a str>,
}

/// Lists one page of repository names, with a `Link` to the next page when more remain.
pub(crate) async fn list(state: &OciState, uri: &Uri) -> Result<Response, OciError> {
    let page = Page::from_uri(uri)?;
    let last = page.last.as_deref();
    let mut names = state.registry.catalog(last, page.fetch_limit()).await?;
    let link = page.cut(&mut names, "/v2/_catalog", |name| name.as_str());

    let body = Catalog {
        repositories: names.iter().map(|name| name.as_str()).collect(),
    };
    let bytes = serde_json::to_vec(&body).expect("a catalog serializes");
    Ok(with_link(json_response(StatusCode::OK, bytes), link))
}
