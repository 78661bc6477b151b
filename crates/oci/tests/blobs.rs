//! Blob downloads: full, ranged, HEAD, deletion and storage failures.

mod common;

use berth_store::TagMutability;
use berth_types::Digest;
use common::{Reply, TestRegistry, OCI_MANIFEST};
use http::{Method, StatusCode};

const TEN: &[u8] = b"0123456789";

async fn registry_with_blob() -> (TestRegistry, Digest) {
    let registry = TestRegistry::new().await;
    registry
        .create_repository("app", TagMutability::Mutable)
        .await;
    let digest = registry.push_blob("app", TEN).await;
    (registry, digest)
}

/// Returns the path of a blob's file in the filesystem blob store.
fn blob_file(registry: &TestRegistry, digest: &Digest) -> std::path::PathBuf {
    let hex = digest.hex();
    let path = registry.dir.path().join("blobs/blobs/sha256");
    path.join(&hex[..2]).join(hex)
}

async fn get_range(registry: &TestRegistry, digest: &Digest, range: &str) -> Reply {
    let request = registry
        .request(Method::GET, &format!("/v2/app/blobs/{digest}"))
        .header("range", range)
        .body(axum::body::Body::empty())
        .unwrap();
    registry.send(request).await
}

#[tokio::test]
async fn get_streams_the_whole_blob() {
    let (registry, digest) = registry_with_blob().await;
    let reply = registry
        .call(Method::GET, &format!("/v2/app/blobs/{digest}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, TEN);
    assert_eq!(reply.header("content-length"), "10");
    assert_eq!(reply.header("content-type"), "application/octet-stream");
    assert_eq!(reply.header("docker-content-digest"), digest.as_str());
    assert_eq!(reply.header("accept-ranges"), "bytes");
    assert_eq!(
        reply.header("docker-distribution-api-version"),
        "registry/2.0"
    );
}

#[tokio::test]
async fn head_has_headers_and_no_body() {
    let (registry, digest) = registry_with_blob().await;
    let reply = registry
        .call(Method::HEAD, &format!("/v2/app/blobs/{digest}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.is_empty());
    assert_eq!(reply.header("content-length"), "10");
    assert_eq!(reply.header("docker-content-digest"), digest.as_str());

    let missing = Digest::of_bytes(b"missing");
    let reply = registry
        .call(Method::HEAD, &format!("/v2/app/blobs/{missing}"))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.body.is_empty());
}

#[tokio::test]
async fn ranges_are_served_as_partial_content() {
    let (registry, digest) = registry_with_blob().await;
    let cases = [
        ("bytes=0-0", "0", "bytes 0-0/10"),
        ("bytes=9-9", "9", "bytes 9-9/10"),
        ("bytes=-3", "789", "bytes 7-9/10"),
        ("bytes=7-", "789", "bytes 7-9/10"),
        ("bytes=2-4", "234", "bytes 2-4/10"),
        ("bytes=5-100", "56789", "bytes 5-9/10"),
        ("bytes=-50", "0123456789", "bytes 0-9/10"),
    ];
    for (range, body, content_range) in cases {
        let reply = get_range(&registry, &digest, range).await;
        assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(reply.body, body.as_bytes(), "{range}");
        assert_eq!(reply.header("content-range"), content_range, "{range}");
        assert_eq!(
            reply.header("content-length"),
            body.len().to_string(),
            "{range}"
        );
        assert_eq!(
            reply.header("docker-content-digest"),
            digest.as_str(),
            "{range}"
        );
    }
}

#[tokio::test]
async fn unsatisfiable_ranges_are_416() {
    let (registry, digest) = registry_with_blob().await;
    for range in ["bytes=10-20", "bytes=5-4", "bytes=10-", "bytes=-0"] {
        let reply = get_range(&registry, &digest, range).await;
        assert_eq!(reply.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(reply.header("content-range"), "bytes */10", "{range}");
        assert_eq!(reply.error_code(), "SIZE_INVALID", "{range}");
    }
}

#[tokio::test]
async fn unparsable_ranges_are_ignored() {
    let (registry, digest) = registry_with_blob().await;
    for range in ["bytes=0-1,3-4", "lines=1-2", "bytes=x-y"] {
        let reply = get_range(&registry, &digest, range).await;
        assert_eq!(reply.status, StatusCode::OK, "{range}");
        assert_eq!(reply.body, TEN, "{range}");
    }
}

#[tokio::test]
async fn delete_unlinks_the_blob() {
    let (registry, digest) = registry_with_blob().await;
    let uri = format!("/v2/app/blobs/{digest}");
    let deleted = registry.call(Method::DELETE, &uri).await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    let reply = registry.call(Method::GET, &uri).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "BLOB_UNKNOWN");
    assert_eq!(
        reply.json()["errors"][0]["detail"]["digest"],
        digest.as_str()
    );
    let again = registry.call(Method::DELETE, &uri).await;
    assert_eq!(again.error_code(), "BLOB_UNKNOWN");
}

#[tokio::test]
async fn delete_keeps_a_referenced_blob() {
    let registry = TestRegistry::new().await;
    registry
        .create_repository("app", TagMutability::Mutable)
        .await;
    let layer = b"layer bytes an image references";
    let manifest = registry.image_manifest("app", layer, "").await;
    let pushed = registry
        .push_manifest("app", "v1", OCI_MANIFEST, manifest.as_bytes())
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED);

    let uri = format!("/v2/app/blobs/{}", Digest::of_bytes(layer));
    let refused = registry.call(Method::DELETE, &uri).await;
    assert_eq!(refused.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(refused.error_code(), "UNSUPPORTED");
    assert_eq!(refused.header("allow"), "GET, HEAD");
    let message = refused.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("delete those images first"), "{message}");
    let still_there = registry.call(Method::GET, &uri).await;
    assert_eq!(still_there.status, StatusCode::OK);
    assert_eq!(still_there.body.as_ref(), layer);
}

#[tokio::test]
async fn blob_of_another_repository_is_unknown() {
    let (registry, digest) = registry_with_blob().await;
    registry
        .create_repository("other", TagMutability::Mutable)
        .await;
    let reply = registry
        .call(Method::GET, &format!("/v2/other/blobs/{digest}"))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "BLOB_UNKNOWN");
}

#[tokio::test]
async fn lost_blob_file_is_500_with_a_body() {
    let (registry, digest) = registry_with_blob().await;
    std::fs::remove_file(blob_file(&registry, &digest)).unwrap();

    let reply = registry
        .call(Method::GET, &format!("/v2/app/blobs/{digest}"))
        .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.error_code(), "UNKNOWN");
    let message = reply.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        message,
        "Internal error while opening a blob; the server log has the details"
    );
    assert_eq!(
        reply.header("docker-distribution-api-version"),
        "registry/2.0"
    );
}

#[tokio::test]
async fn damaged_blob_file_is_500() {
    let (registry, digest) = registry_with_blob().await;
    let path = blob_file(&registry, &digest);
    let uri = format!("/v2/app/blobs/{digest}");

    // Cut short, then grown past the committed size.
    for contents in [&TEN[..4], b"0123456789 and more".as_slice()] {
        std::fs::write(&path, contents).unwrap();
        let whole = registry.call(Method::GET, &uri).await;
        assert_eq!(
            whole.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{contents:?}"
        );
        assert_eq!(whole.error_code(), "UNKNOWN");
        let range = get_range(&registry, &digest, "bytes=6-9").await;
        assert_eq!(
            range.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{contents:?}"
        );
    }
}
