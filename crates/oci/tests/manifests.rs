//! Manifest pushes, pulls and deletes.

mod common;

use berth_store::TagMutability;
use berth_types::Digest;
use common::{TestRegistry, OCI_INDEX, OCI_MANIFEST};
use http::{Method, StatusCode};

async fn registry_with(name: &str, mutability: TagMutability) -> TestRegistry {
    let registry = TestRegistry::new().await;
    registry.create_repository(name, mutability).await;
    registry
}

async fn get_with_accept(registry: &TestRegistry, uri: &str, accept: &str) -> common::Reply {
    let request = registry
        .request(Method::GET, uri)
        .header("accept", accept)
        .body(axum::body::Body::empty())
        .unwrap();
    registry.send(request).await
}

#[tokio::test]
async fn push_and_pull_are_byte_exact() {
    let registry = registry_with("team/app", TagMutability::Mutable).await;
    // Unusual spacing and a trailing newline: the digest covers these exact bytes.
    let manifest = registry.image_manifest("team/app", b"layer", "").await + "\n";
    let digest = Digest::of_bytes(manifest.as_bytes());

    let put = registry
        .push_manifest("team/app", "v1", OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    assert_eq!(
        put.header("location"),
        format!("/v2/team/app/manifests/{digest}")
    );
    assert_eq!(put.header("docker-content-digest"), digest.as_str());
    assert!(put.headers.get("oci-subject").is_none());

    for reference in ["v1", digest.as_str()] {
        let uri = format!("/v2/team/app/manifests/{reference}");
        let pulled = registry.call(Method::GET, &uri).await;
        assert_eq!(pulled.status, StatusCode::OK, "{reference}");
        assert_eq!(pulled.body, manifest.as_bytes(), "{reference}");
        assert_eq!(pulled.header("content-type"), OCI_MANIFEST, "{reference}");
        assert_eq!(
            pulled.header("docker-content-digest"),
            digest.as_str(),
            "{reference}"
        );
        assert_eq!(
            pulled.header("content-length"),
            manifest.len().to_string(),
            "{reference}"
        );
    }
}

#[tokio::test]
async fn head_manifest_has_no_body() {
    let registry = registry_with("app", TagMutability::Mutable).await;
    let manifest = registry.image_manifest("app", b"layer", "").await;
    registry
        .push_manifest("app", "v1", OCI_MANIFEST, manifest.as_bytes())
        .await;

    let head = registry.call(Method::HEAD, "/v2/app/manifests/v1").await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), manifest.len().to_string());
    let digest = Digest::of_bytes(manifest.as_bytes());
    assert_eq!(head.header("docker-content-digest"), digest.as_str());

    let missing = registry.call(Method::HEAD, "/v2/app/manifests/v2").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.is_empty());
    // The HEAD error declares the length of the body that GET sends.
    let missing_get = registry.call(Method::GET, "/v2/app/manifests/v2").await;
    assert_eq!(
        missing.header("content-length"),
        missing_get.body.len().to_string()
    );
}

#[tokio::test]
async fn invalid_reference_read_404_push_400() {
    let registry = registry_with("app", TagMutability::Mutable).await;
    for reference in [".INVALID_MANIFEST_NAME", "sha256:xyz", "-dash"] {
        let uri = format!("/v2/app/manifests/{reference}");
        let get = registry.call(Method::GET, &uri).await;
        assert_eq!(get.status, StatusCode::NOT_FOUND, "{reference}");
        assert_eq!(get.error_code(), "MANIFEST_UNKNOWN", "{reference}");
        let message = get.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(reference), "{message}");
        let head = registry.call(Method::HEAD, &uri).await;
        assert_eq!(head.status, StatusCode::NOT_FOUND, "{reference}");
        let delete = registry.call(Method::DELETE, &uri).await;
        assert_eq!(delete.status, StatusCode::NOT_FOUND, "{reference}");
    }

    let manifest = registry.image_manifest("app", b"layer", "").await;
    let push = registry
        .push_manifest(
            "app",
            ".INVALID_MANIFEST_NAME",
            OCI_MANIFEST,
            manifest.as_bytes(),
        )
        .await;
    assert_eq!(push.status, StatusCode::BAD_REQUEST);
    assert_eq!(push.error_code(), "TAG_INVALID");
}

#[tokio::test]
async fn push_by_digest_checks_the_digest() {
    let registry = registry_with("app", TagMutability::Mutable).await;
    let manifest = registry.image_manifest("app", b"layer", "").await;
    let digest = Digest::of_bytes(manifest.as_bytes());

    let good = registry
        .push_manifest("app", digest.as_str(), OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(good.status, StatusCode::CREATED);
    assert_eq!(good.header("docker-content-digest"), digest.as_str());

    let other = Digest::of_bytes(b"other");
    let bad = registry
        .push_manifest("app", other.as_str(), OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "DIGEST_INVALID");
    let detail = &bad.json()["errors"][0]["detail"];
    assert_eq!(detail["expected"], other.as_str());
    assert_eq!(detail["actual"], digest.as_str());
}

#[tokio::test]
async fn missing_layer_is_manifest_blob_unknown() {
    let registry = registry_with("app", TagMutability::Mutable).await;
    let manifest = registry.image_manifest("app", b"layer", "").await;
    let layer = Digest::of_bytes(b"layer");
    let unlinked = registry
        .call(Method::DELETE, &format!("/v2/app/blobs/{layer}"))
        .await;
    assert_eq!(unlinked.status, StatusCode::ACCEPTED);

    let reply = registry
        .push_manifest("app", "v1", OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        reply.json()["errors"][0]["detail"]["digests"][0],
        layer.as_str()
    );
}

#[tokio::test]
async fn index_needs_its_children() {
    let registry = registry_with("app", TagMutability::Mutable).await;
    let child = registry.image_manifest("app", b"layer", "").await;
    let child_digest = Digest::of_bytes(child.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{child_digest}","size":{}}}]}}"#,
        child.len()
    );

    let rejected = registry
        .push_manifest("app", "multi", OCI_INDEX, index.as_bytes())
        .await;
    assert_eq!(rejected.status, StatusCode::BAD_REQUEST);
    assert_eq!(rejected.error_code(), "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        rejected.json()["errors"][0]["detail"]["digests"][0],
        child_digest.as_str()
    );

    let pushed = registry
        .push_manifest("app", child_digest.as_str(), OCI_MANIFEST, child.as_bytes())
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED);
    let accepted = registry
        .push_manifest("app", "multi", OCI_INDEX, index.as_bytes())
        .await;
    assert_eq!(accepted.status, StatusCode::CREATED);
    let pulled = registry.call(Method::GET, "/v2/app/manifests/multi").await;
    assert_eq!(pulled.header("content-type"), OCI_INDEX);
    assert_eq!(pulled.body, index.as_bytes());
}

#[tokio::test]
async fn accept_header_must_list_the_stored_type() {
    let registry = registry_with("app", TagMutability::Mutable).await;
    let manifest = registry.image_manifest("app", b"layer", "").await;
    registry
        .push_manifest("app", "v1", OCI_MANIFEST, manifest.as_bytes())
        .await;

    let docker = "application/vnd.docker.distribution.manifest.v2+json";
    let rejected = get_with_accept(&registry, "/v2/app/manifests/v1", docker).await;
    assert_eq!(rejected.status, StatusCode::NOT_FOUND);
    assert_eq!(rejected.error_code(), "MANIFEST_UNKNOWN");
    let message = rejected.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains(OCI_MANIFEST), "{message}");

    let listed = format!("{docker}, {OCI_MANIFEST}");
    let served = get_with_accept(&registry, "/v2/app/manifests/v1", &listed).await;
    assert_eq!(served.status, StatusCode::OK);
    let wildcard = get_with_accept(&registry, "/v2/app/manifests/v1", "*/*").await;
    assert_eq!(wildcard.status, StatusCode::OK);
}

#[tokio::test]
async fn invalid_manifests_are_rejected() {
    let registry = registry_with("app", TagMutability::Mutable).await;
    let not_json = registry
        .push_manifest("app", "v1", OCI_MANIFEST, b"{not json")
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_json.error_code(), "MANIFEST_INVALID");

    let no_type = registry
        .push_manifest("app", "v1", "", br#"{"schemaVersion":2}"#)
        .await;
    assert_eq!(no_type.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_type.error_code(), "MANIFEST_INVALID");

    let bad_tag = registry
        .push_manifest("app", "-bad", OCI_MANIFEST, b"{}")
        .await;
    assert_eq!(bad_tag.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_tag.error_code(), "TAG_INVALID");
}

#[tokio::test]
async fn oversized_manifest_is_413() {
    let registry = registry_with("app", TagMutability::Mutable).await;
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    let reply = registry
        .push_manifest("app", "v1", OCI_MANIFEST, &huge)
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "MANIFEST_INVALID");
}

#[tokio::test]
async fn immutable_tag_cannot_move() {
    let registry = registry_with("app", TagMutability::Immutable).await;
    let first = registry.image_manifest("app", b"one", "").await;
    let second = registry.image_manifest("app", b"two", "").await;
    let pushed = registry
        .push_manifest("app", "v1", OCI_MANIFEST, first.as_bytes())
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED);

    let expected = "The image tag 'v1' already exists in the 'app' repository and cannot be \
                    overwritten because the repository is immutable.";
    for manifest in [&second, &first] {
        let reply = registry
            .push_manifest("app", "v1", OCI_MANIFEST, manifest.as_bytes())
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.error_code(), "TAG_INVALID");
        assert_eq!(reply.json()["errors"][0]["message"], expected);
    }
}

#[tokio::test]
async fn mutable_tag_moves_and_repush_succeeds() {
    let registry = registry_with("app", TagMutability::Mutable).await;
    let first = registry.image_manifest("app", b"one", "").await;
    let second = registry.image_manifest("app", b"two", "").await;
    for manifest in [&first, &first, &second] {
        let reply = registry
            .push_manifest("app", "v1", OCI_MANIFEST, manifest.as_bytes())
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let pulled = registry.call(Method::GET, "/v2/app/manifests/v1").await;
    assert_eq!(pulled.body, second.as_bytes());
}

#[tokio::test]
async fn delete_by_tag_and_by_digest() {
    let registry = registry_with("app", TagMutability::Mutable).await;
    let manifest = registry.image_manifest("app", b"layer", "").await;
    let digest = Digest::of_bytes(manifest.as_bytes());
    registry
        .push_manifest("app", "v1", OCI_MANIFEST, manifest.as_bytes())
        .await;
    registry
        .push_manifest("app", "v2", OCI_MANIFEST, manifest.as_bytes())
        .await;

    let untagged = registry.call(Method::DELETE, "/v2/app/manifests/v1").await;
    assert_eq!(untagged.status, StatusCode::ACCEPTED);
    let gone = registry.call(Method::GET, "/v2/app/manifests/v1").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error_code(), "MANIFEST_UNKNOWN");
    assert_eq!(
        registry
            .call(Method::GET, "/v2/app/manifests/v2")
            .await
            .status,
        StatusCode::OK
    );

    let by_digest = format!("/v2/app/manifests/{digest}");
    assert_eq!(
        registry.call(Method::DELETE, &by_digest).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        registry.call(Method::GET, &by_digest).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        registry
            .call(Method::GET, "/v2/app/manifests/v2")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let again = registry.call(Method::DELETE, &by_digest).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.error_code(), "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn child_of_an_index_cannot_be_deleted() {
    let registry = registry_with("app", TagMutability::Mutable).await;
    let child = registry.image_manifest("app", b"layer", "").await;
    let child_digest = Digest::of_bytes(child.as_bytes());
    registry
        .push_manifest("app", child_digest.as_str(), OCI_MANIFEST, child.as_bytes())
        .await;
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{child_digest}","size":{}}}]}}"#,
        child.len()
    );
    registry
        .push_manifest("app", "multi", OCI_INDEX, index.as_bytes())
        .await;

    let reply = registry
        .call(Method::DELETE, &format!("/v2/app/manifests/{child_digest}"))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.error_code(), "DENIED");
}

#[tokio::test]
async fn unknown_manifest_and_repository() {
    let registry = registry_with("app", TagMutability::Mutable).await;
    let unknown = registry.call(Method::GET, "/v2/app/manifests/nope").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "MANIFEST_UNKNOWN");
    assert_eq!(
        unknown.json()["errors"][0]["message"],
        "Requested image not found"
    );

    let no_repo = registry.call(Method::GET, "/v2/nobody/manifests/v1").await;
    assert_eq!(no_repo.status, StatusCode::NOT_FOUND);
    assert_eq!(no_repo.error_code(), "NAME_UNKNOWN");
    assert_eq!(no_repo.json()["errors"][0]["detail"]["name"], "nobody");

    let config = Digest::of_bytes(b"{}");
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{config}","size":2}},"layers":[]}}"#
    );
    let push = registry
        .push_manifest("nobody", "v1", OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(push.status, StatusCode::NOT_FOUND);
    assert_eq!(push.error_code(), "NAME_UNKNOWN");
}

#[tokio::test]
async fn docker_schema1_is_unsupported() {
    let registry = registry_with("app", TagMutability::Mutable).await;
    let schema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    let body = format!(r#"{{"schemaVersion":1,"mediaType":"{schema1}"}}"#);
    let reply = registry
        .push_manifest("app", "old", schema1, body.as_bytes())
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "UNSUPPORTED");
}
