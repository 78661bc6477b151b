//! The `n` and `last` parameters of the tag and catalog listings, and their `Link` header.

use http::StatusCode;
use serde::Deserialize;

use crate::error::{ApiError, Code, OciError};
use crate::query;

/// The largest page, ECR's `maxResults` limit. It is also the page size when `n` is
/// absent.
const MAX_PAGE: usize = 1000;

#[derive(Deserialize)]
struct PageQuery {
    n: Option<String>,
    last: Option<String>,
}

/// A page request: at most `limit` entries after `last`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) limit: usize,
    pub(crate) last: Option<String>,
}

impl Page {
    /// Reads `n` and `last` from the query string.
    pub(crate) fn from_uri(uri: &http::Uri) -> Result<Page, OciError> {
        let params: PageQuery = query::parse(uri)?;
        let limit = match params.n.as_deref().map(str::trim) {
            None | Some("") => MAX_PAGE,
            Some(text) => page_size(text)?,
        };
        let last = params.last.filter(|last| !last.is_empty());
        Ok(Page { limit, last })
    }

    /// Returns how many rows to fetch: one more than the page, to learn whether more
    /// remain. A page of zero fetches nothing and has no next page, as the spec requires.
    pub(crate) fn fetch_limit(&self) -> usize {
        match self.limit {
            0 => 0,
            limit => limit + 1,
        }
    }

    /// Cuts rows fetched with [`Page::fetch_limit`] to the page. Returns the `Link`
    /// header of the next page, at `path`, when rows remain after it.
    pub(crate) fn cut<T>(
        &self,
        rows: &mut Vec<T>,
        path: &str,
        key: impl Fn(&T) -> &str,
    ) -> Option<String> {
        if rows.len() <= self.limit {
            return None;
        }
        rows.truncate(self.limit);
        let last = key(rows.last()?);
        Some(format!(
            "<{path}?n={}&last={last}>; rel=\"next\"",
            self.limit
        ))
    }
}

fn page_size(text: &str) -> Result<usize, OciError> {
    let invalid = |message: String| -> OciError {
        ApiError::new(StatusCode::BAD_REQUEST, Code::Unsupported, message).into()
    };
    let n: u64 = text.parse().map_err(|_| {
        invalid(format!(
            "invalid n '{text}': expected an integer from 0 to {MAX_PAGE}"
        ))
    })?;
    if n > MAX_PAGE as u64 {
        // ECR's own text, which clients such as crane show verbatim.
        return Err(invalid(format!(
            "Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value less than or equal to {MAX_PAGE}'"
        )));
    }
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(query: &str) -> Result<Page, Code> {
        let uri: http::Uri = format!("/v2/_catalog{query}").parse().unwrap();
        Page::from_uri(&uri).map_err(|error| error.into_api_error(None).code())
    }

    #[test]
    fn page_parameters() {
        let full = Page {
            limit: 1000,
            last: None,
        };
        assert_eq!(page(""), Ok(full));
        assert_eq!(
            page("?n=0"),
            Ok(Page {
                limit: 0,
                last: None
            })
        );
        assert_eq!(
            page("?n=5&last=b"),
            Ok(Page {
                limit: 5,
                last: Some("b".into())
            })
        );
        assert_eq!(page("?n=1001"), Err(Code::Unsupported));
        assert_eq!(page("?n=-1"), Err(Code::Unsupported));
        assert_eq!(page("?n=x"), Err(Code::Unsupported));
    }

    #[test]
    fn cut_links_the_next_page() {
        let page = Page {
            limit: 2,
            last: None,
        };
        let mut rows = vec!["a", "b", "c"];
        let link = page.cut(&mut rows, "/v2/x/tags/list", |row| row);
        assert_eq!(rows, ["a", "b"]);
        assert_eq!(
            link.as_deref(),
            Some("</v2/x/tags/list?n=2&last=b>; rel=\"next\"")
        );
        let mut short = vec!["a", "b"];
        assert_eq!(page.cut(&mut short, "/v2/x/tags/list", |row| row), None);
    }
}
