//! `GET /v2/<name>/referrers/<digest>`: the manifests whose `subject` is a digest, as an
//! image index (distribution-spec 1.1).

use axum::response::Response;
use berth_store::Referrer;
use berth_types::{Digest, RepositoryName};
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{StatusCode, Uri};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::OciError;
use crate::headers::{json_response, OCI_FILTERS_APPLIED};
use crate::{query, OciState};

const OCI_INDEX: &str = berth_service::manifest::OCI_INDEX;

#[derive(Deserialize)]
struct ReferrersQuery {
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: Digest,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<Value>,
}

/// Lists the referrers of `subject`, filtered by `?artifactType=` when given. An unknown
/// subject has no referrers, which is an empty index rather than a 404.
pub(crate) async fn list(
    state: &OciState,
    name: &RepositoryName,
    subject: &Digest,
    uri: &Uri,
) -> Result<Response, OciError> {
    let params: ReferrersQuery = query::parse(uri)?;
    let filter = params.artifact_type.filter(|kind| !kind.is_empty());
    let referrers = state.registry.referrers(name, subject).await?;

    let manifests = referrers
        .into_iter()
        .filter(|referrer| filter.is_none() || referrer.artifact_type == filter)
        .map(descriptor)
        .collect();
    let index = Index {
        schema_version: 2,
        media_type: OCI_INDEX,
        manifests,
    };
    let bytes = serde_json::to_vec(&index).expect("an index serializes");
    let mut response = json_response(StatusCode::OK, bytes);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(OCI_INDEX));
    if filter.is_some() {
        headers.insert(
            OCI_FILTERS_APPLIED,
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(response)
}

fn descriptor(referrer: Referrer) -> Descriptor {
    Descriptor {
        media_type: referrer.media_type,
        digest: referrer.digest,
        size: referrer.size,
        artifact_type: referrer.artifact_type,
        // The service stores the manifest's annotations object as JSON text.
        annotations: referrer
            .annotations
            .and_then(|text| serde_json::from_str(&text).ok()),
    }
}
