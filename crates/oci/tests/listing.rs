//! Tag listing, the catalog and the referrers API.

mod common;

use berth_store::TagMutability;
use berth_types::Digest;
use common::{TestRegistry, OCI_INDEX, OCI_MANIFEST};
use http::{Method, StatusCode};
use serde_json::json;

const MAX_RESULTS_TEXT: &str = "Invalid parameter at 'maxResults' failed to satisfy constraint: \
                                'Member must have value less than or equal to 1000'";

async fn registry_with_tags(tags: &[&str]) -> TestRegistry {
    let registry = TestRegistry::new().await;
    registry
        .create_repository("team/app", TagMutability::Mutable)
        .await;
    let manifest = registry.image_manifest("team/app", b"layer", "").await;
    for tag in tags {
        let reply = registry
            .push_manifest("team/app", tag, OCI_MANIFEST, manifest.as_bytes())
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    registry
}

#[tokio::test]
async fn tags_page_with_link() {
    let registry = registry_with_tags(&["c", "a", "e", "b", "d"]).await;
    let first = registry
        .call(Method::GET, "/v2/team/app/tags/list?n=2")
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(
        first.json(),
        json!({"name": "team/app", "tags": ["a", "b"]})
    );
    let link = first.header("link");
    assert_eq!(link, "</v2/team/app/tags/list?n=2&last=b>; rel=\"next\"");

    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let second = registry.call(Method::GET, next).await;
    assert_eq!(second.json()["tags"], json!(["c", "d"]));
    assert_eq!(
        second.header("link"),
        "</v2/team/app/tags/list?n=2&last=d>; rel=\"next\""
    );
    let third = registry
        .call(Method::GET, "/v2/team/app/tags/list?n=2&last=d")
        .await;
    assert_eq!(third.json()["tags"], json!(["e"]));
    assert!(third.headers.get("link").is_none());
}

#[tokio::test]
async fn tags_without_n_and_with_zero() {
    let registry = registry_with_tags(&["v2", "v1", "latest"]).await;
    let all = registry.call(Method::GET, "/v2/team/app/tags/list").await;
    assert_eq!(all.json()["tags"], json!(["latest", "v1", "v2"]));
    assert!(all.headers.get("link").is_none());
    assert_eq!(all.header("content-type"), "application/json");

    let none = registry
        .call(Method::GET, "/v2/team/app/tags/list?n=0")
        .await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json(), json!({"name": "team/app", "tags": []}));
    assert!(none.headers.get("link").is_none());
}

#[tokio::test]
async fn page_size_over_1000_is_unsupported() {
    let registry = registry_with_tags(&["v1"]).await;
    for uri in ["/v2/team/app/tags/list?n=1001", "/v2/_catalog?n=10000"] {
        let reply = registry.call(Method::GET, uri).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(reply.error_code(), "UNSUPPORTED", "{uri}");
        assert_eq!(
            reply.json()["errors"][0]["message"],
            MAX_RESULTS_TEXT,
            "{uri}"
        );
    }
}

#[tokio::test]
async fn tags_of_unknown_repository() {
    let registry = TestRegistry::new().await;
    let reply = registry.call(Method::GET, "/v2/nobody/tags/list").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "NAME_UNKNOWN");
}

#[tokio::test]
async fn catalog_pages_with_link() {
    let registry = TestRegistry::new().await;
    for name in ["b/two", "a/one", "cc"] {
        registry
            .create_repository(name, TagMutability::Mutable)
            .await;
    }
    let first = registry.call(Method::GET, "/v2/_catalog?n=2").await;
    assert_eq!(first.json(), json!({"repositories": ["a/one", "b/two"]}));
    assert_eq!(
        first.header("link"),
        "</v2/_catalog?n=2&last=b/two>; rel=\"next\""
    );
    let second = registry
        .call(Method::GET, "/v2/_catalog?n=2&last=b/two")
        .await;
    assert_eq!(second.json(), json!({"repositories": ["cc"]}));
    assert!(second.headers.get("link").is_none());
    let all = registry.call(Method::GET, "/v2/_catalog").await;
    assert_eq!(all.json()["repositories"], json!(["a/one", "b/two", "cc"]));
}

/// Pushes an artifact whose subject is `subject` and returns its manifest and digest.
async fn push_referrer(
    registry: &TestRegistry,
    subject: &str,
    artifact_type: &str,
    note: &str,
) -> (String, Digest) {
    let empty = registry.push_blob("app", b"{}").await;
    let blob = registry.push_blob("app", note.as_bytes()).await;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{artifact_type}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"text/plain","digest":"{blob}","size":{}}}],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":10}},"annotations":{{"note":"{note}"}}}}"#,
        note.len()
    );
    let digest = Digest::of_bytes(manifest.as_bytes());
    let reply = registry
        .push_manifest("app", digest.as_str(), OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.header("oci-subject"), subject);
    (manifest, digest)
}

#[tokio::test]
async fn referrers_list_and_filter() {
    let registry = TestRegistry::new().await;
    registry
        .create_repository("app", TagMutability::Mutable)
        .await;
    let image = registry.image_manifest("app", b"layer", "").await;
    let subject = Digest::of_bytes(image.as_bytes());
    registry
        .push_manifest("app", "v1", OCI_MANIFEST, image.as_bytes())
        .await;

    let sbom_type = "application/vnd.example.sbom.v1";
    let signature_type = "application/vnd.example.signature.v1";
    let (sbom, sbom_digest) = push_referrer(&registry, subject.as_str(), sbom_type, "sbom").await;
    let (signature, signature_digest) =
        push_referrer(&registry, subject.as_str(), signature_type, "signed").await;

    let uri = format!("/v2/app/referrers/{subject}");
    let all = registry.call(Method::GET, &uri).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.header("content-type"), OCI_INDEX);
    assert!(all.headers.get("oci-filters-applied").is_none());
    let sbom_descriptor = json!({
        "mediaType": OCI_MANIFEST, "digest": sbom_digest.as_str(), "size": sbom.len(),
        "artifactType": sbom_type, "annotations": {"note": "sbom"},
    });
    let signature_descriptor = json!({
        "mediaType": OCI_MANIFEST, "digest": signature_digest.as_str(), "size": signature.len(),
        "artifactType": signature_type, "annotations": {"note": "signed"},
    });
    let expected = json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [sbom_descriptor.clone(), signature_descriptor],
    });
    assert_eq!(all.json(), expected);

    let filtered = registry
        .call(Method::GET, &format!("{uri}?artifactType={sbom_type}"))
        .await;
    assert_eq!(filtered.header("oci-filters-applied"), "artifactType");
    assert_eq!(filtered.json()["manifests"], json!([sbom_descriptor]));
}

#[tokio::test]
async fn referrers_of_unknown_subject_are_empty() {
    let registry = TestRegistry::new().await;
    registry
        .create_repository("app", TagMutability::Mutable)
        .await;
    let unknown = Digest::of_bytes(b"no such manifest");
    let reply = registry
        .call(Method::GET, &format!("/v2/app/referrers/{unknown}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let expected = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []});
    assert_eq!(reply.json(), expected);

    let bad = registry
        .call(Method::GET, "/v2/app/referrers/sha256:short")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "DIGEST_INVALID");
    let no_repo = registry
        .call(Method::GET, &format!("/v2/nobody/referrers/{unknown}"))
        .await;
    assert_eq!(no_repo.error_code(), "NAME_UNKNOWN");
}
