//! Blob pushes: monolithic, chunked, resumed, mounted and rejected.

mod common;

use axum::body::Body;
use berth_store::TagMutability;
use berth_types::Digest;
use bytes::Bytes;
use common::{Reply, TestRegistry, REGISTRY_ID};
use http::{Method, StatusCode};

async fn registry_with(name: &str) -> TestRegistry {
    let registry = TestRegistry::new().await;
    registry
        .create_repository(name, TagMutability::Mutable)
        .await;
    registry
}

async fn blob_bytes(registry: &TestRegistry, name: &str, digest: &Digest) -> Reply {
    registry
        .call(Method::GET, &format!("/v2/{name}/blobs/{digest}"))
        .await
}

/// Sends a PATCH with a `Content-Range` and returns the reply.
async fn patch(registry: &TestRegistry, location: &str, range: &str, bytes: &[u8]) -> Reply {
    let request = registry
        .request(Method::PATCH, location)
        .header("content-type", "application/octet-stream")
        .header("content-range", range)
        .header("content-length", bytes.len())
        .body(Body::from(bytes.to_vec()))
        .unwrap();
    registry.send(request).await
}

async fn start_session(registry: &TestRegistry, name: &str) -> String {
    let reply = registry
        .call(Method::POST, &format!("/v2/{name}/blobs/uploads/"))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    reply.header("location").to_owned()
}

#[tokio::test]
async fn monolithic_post_creates_blob() {
    let registry = registry_with("team/app").await;
    let digest = Digest::of_bytes(b"hello layer");
    let uri = format!("/v2/team/app/blobs/uploads/?digest={digest}");
    let reply = registry
        .call_with(Method::POST, &uri, &b"hello layer"[..])
        .await;

    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(
        reply.header("location"),
        format!("/v2/team/app/blobs/{digest}")
    );
    assert_eq!(reply.header("docker-content-digest"), digest.as_str());
    assert_eq!(
        reply.header("docker-distribution-api-version"),
        "registry/2.0"
    );
    assert!(reply.body.is_empty());
    let pulled = blob_bytes(&registry, "team/app", &digest).await;
    assert_eq!(pulled.body, Bytes::from_static(b"hello layer"));
}

#[tokio::test]
async fn zero_length_blob_is_accepted() {
    let registry = registry_with("app").await;
    let digest = registry.push_blob("app", b"").await;
    let head = registry
        .call(Method::HEAD, &format!("/v2/app/blobs/{digest}"))
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), "0");
}

#[tokio::test]
async fn post_then_put_creates_blob() {
    let registry = registry_with("app").await;
    let reply = registry.call(Method::POST, "/v2/app/blobs/uploads/").await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let location = reply.header("location").to_owned();
    let id = reply.header("docker-upload-uuid").to_owned();
    assert_eq!(location, format!("/v2/app/blobs/uploads/{id}"));
    assert_eq!(reply.header("range"), "0-0");
    assert_eq!(reply.header("content-length"), "0");

    let digest = Digest::of_bytes(b"one put");
    let put = registry
        .call_with(
            Method::PUT,
            &format!("{location}?digest={digest}"),
            &b"one put"[..],
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    assert_eq!(put.header("location"), format!("/v2/app/blobs/{digest}"));
    assert_eq!(put.header("docker-content-digest"), digest.as_str());
    assert_eq!(
        blob_bytes(&registry, "app", &digest).await.body,
        &b"one put"[..]
    );
}

#[tokio::test]
async fn chunked_upload_tracks_the_range() {
    let registry = registry_with("app").await;
    let location = start_session(&registry, "app").await;

    let first = patch(&registry, &location, "0-2", b"abc").await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(first.header("range"), "0-2");
    assert_eq!(first.header("location"), location);
    let second = patch(&registry, &location, "3-5", b"def").await;
    assert_eq!(second.header("range"), "0-5");
    let status = registry.call(Method::GET, &location).await;
    assert_eq!(status.status, StatusCode::NO_CONTENT);
    assert_eq!(status.header("range"), "0-5");
    assert!(status.body.is_empty());

    let digest = Digest::of_bytes(b"abcdef");
    let put = registry
        .call(Method::PUT, &format!("{location}?digest={digest}"))
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    assert_eq!(
        blob_bytes(&registry, "app", &digest).await.body,
        &b"abcdef"[..]
    );
}

#[tokio::test]
async fn streamed_patch_without_range_appends() {
    let registry = registry_with("app").await;
    let location = start_session(&registry, "app").await;
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"str")),
        Ok(Bytes::from_static(b"eam")),
    ];
    let request = registry
        .request(Method::PATCH, &location)
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let reply = registry.send(request).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(reply.header("range"), "0-5");
}

#[tokio::test]
async fn resume_after_a_cut() {
    let registry = registry_with("app").await;
    let location = start_session(&registry, "app").await;
    assert_eq!(
        patch(&registry, &location, "0-3", b"0123").await.status,
        StatusCode::ACCEPTED
    );

    // The connection drops midway through the next chunk: the store cuts it back.
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"45")),
        Err(std::io::Error::other("connection reset")),
    ];
    let request = registry
        .request(Method::PATCH, &location)
        .header("content-range", "4-7")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let cut = registry.send(request).await;
    assert_eq!(cut.status, StatusCode::BAD_REQUEST);
    assert_eq!(cut.error_code(), "BLOB_UPLOAD_INVALID");
    assert_eq!(
        registry.call(Method::GET, &location).await.header("range"),
        "0-3"
    );

    // A chunk at the wrong offset is 416 with the range the upload holds.
    let wrong = patch(&registry, &location, "8-11", b"89ab").await;
    assert_eq!(wrong.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(wrong.error_code(), "BLOB_UPLOAD_INVALID");
    assert_eq!(wrong.header("range"), "0-3");
    assert_eq!(wrong.header("location"), location);

    let resumed = patch(&registry, &location, "4-7", b"4567").await;
    assert_eq!(resumed.status, StatusCode::ACCEPTED);
    assert_eq!(resumed.header("range"), "0-7");
    let digest = Digest::of_bytes(b"01234567");
    let put = registry
        .call(Method::PUT, &format!("{location}?digest={digest}"))
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
}

#[tokio::test]
async fn first_chunk_must_start_at_zero() {
    let registry = registry_with("app").await;
    let location = start_session(&registry, "app").await;
    let wrong = patch(&registry, &location, "1-3", b"abc").await;
    assert_eq!(wrong.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(wrong.header("range"), "0-0");
}

#[tokio::test]
async fn final_chunk_in_put_is_range_checked() {
    let registry = registry_with("app").await;
    let location = start_session(&registry, "app").await;
    assert_eq!(
        patch(&registry, &location, "0-2", b"abc").await.status,
        StatusCode::ACCEPTED
    );
    let digest = Digest::of_bytes(b"abcdef");
    let uri = format!("{location}?digest={digest}");

    let put = |range: &'static str| {
        registry
            .request(Method::PUT, &uri)
            .header("content-range", range)
            .header("content-length", "3")
            .body(Body::from(&b"def"[..]))
            .unwrap()
    };
    let out_of_order = registry.send(put("4-6")).await;
    assert_eq!(out_of_order.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(out_of_order.header("range"), "0-2");
    let in_order = registry.send(put("3-5")).await;
    assert_eq!(in_order.status, StatusCode::CREATED);
    assert_eq!(
        blob_bytes(&registry, "app", &digest).await.body,
        &b"abcdef"[..]
    );
}

#[tokio::test]
async fn range_and_length_must_agree() {
    let registry = registry_with("app").await;
    let location = start_session(&registry, "app").await;
    let reply = patch(&registry, &location, "0-9", b"abc").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "SIZE_INVALID");

    let malformed = patch(&registry, &location, "three-five", b"abc").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.error_code(), "BLOB_UPLOAD_INVALID");
    assert_eq!(
        registry.call(Method::GET, &location).await.header("range"),
        "0-0"
    );
}

#[tokio::test]
async fn range_without_length_checks_the_stream() {
    let registry = registry_with("app").await;
    let location = start_session(&registry, "app").await;
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from_static(b"abc"))];
    let request = registry
        .request(Method::PATCH, &location)
        .header("content-range", "0-4")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let short = registry.send(request).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert_eq!(short.error_code(), "BLOB_UPLOAD_INVALID");
    let message = short.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("Content-Range declares 5"), "{message}");
    assert_eq!(
        registry.call(Method::GET, &location).await.header("range"),
        "0-0"
    );
}

#[tokio::test]
async fn digest_mismatch_leaves_no_blob() {
    let registry = registry_with("app").await;
    let claimed = Digest::of_bytes(b"what the client meant");
    let uri = format!("/v2/app/blobs/uploads/?digest={claimed}");
    let reply = registry
        .call_with(Method::POST, &uri, &b"what it sent"[..])
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "DIGEST_INVALID");
    let body = reply.json();
    assert_eq!(body["errors"][0]["detail"]["expected"], claimed.as_str());
    let actual = Digest::of_bytes(b"what it sent");
    assert_eq!(body["errors"][0]["detail"]["actual"], actual.as_str());

    for digest in [&claimed, &actual] {
        let head = registry
            .call(Method::HEAD, &format!("/v2/app/blobs/{digest}"))
            .await;
        assert_eq!(head.status, StatusCode::NOT_FOUND, "{digest}");
    }

    // The same through a session: the PUT fails and the blob stays invisible.
    let location = start_session(&registry, "app").await;
    assert_eq!(
        patch(&registry, &location, "0-2", b"xyz").await.status,
        StatusCode::ACCEPTED
    );
    let put = registry
        .call(Method::PUT, &format!("{location}?digest={claimed}"))
        .await;
    assert_eq!(put.error_code(), "DIGEST_INVALID");
    let head = registry
        .call(Method::HEAD, &format!("/v2/app/blobs/{claimed}"))
        .await;
    assert_eq!(head.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn put_without_digest_is_rejected() {
    let registry = registry_with("app").await;
    let location = start_session(&registry, "app").await;
    let reply = registry.call(Method::PUT, &location).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "DIGEST_INVALID");
    let bad = registry
        .call(Method::PUT, &format!("{location}?digest=sha256:nothex"))
        .await;
    assert_eq!(bad.error_code(), "DIGEST_INVALID");
}

#[tokio::test]
async fn cross_repository_mount() {
    let registry = registry_with("source").await;
    registry
        .create_repository("target", TagMutability::Mutable)
        .await;
    let digest = registry.push_blob("source", b"shared layer").await;

    let uri = format!("/v2/target/blobs/uploads/?mount={digest}&from=source");
    let mounted = registry.call(Method::POST, &uri).await;
    assert_eq!(mounted.status, StatusCode::CREATED);
    assert_eq!(
        mounted.header("location"),
        format!("/v2/target/blobs/{digest}")
    );
    assert_eq!(mounted.header("docker-content-digest"), digest.as_str());
    assert_eq!(
        blob_bytes(&registry, "target", &digest).await.body,
        &b"shared layer"[..]
    );

    // A blob the source does not have falls back to a new session.
    let unknown = Digest::of_bytes(b"nowhere");
    let uri = format!("/v2/target/blobs/uploads/?mount={unknown}&from=source");
    let fallback = registry.call(Method::POST, &uri).await;
    assert_eq!(fallback.status, StatusCode::ACCEPTED);
    assert!(fallback
        .header("location")
        .starts_with("/v2/target/blobs/uploads/"));
    let uri = format!("/v2/target/blobs/uploads/?mount={digest}&from=missing-repo");
    assert_eq!(
        registry.call(Method::POST, &uri).await.status,
        StatusCode::ACCEPTED
    );
    let uri = format!("/v2/target/blobs/uploads/?mount={digest}");
    assert_eq!(
        registry.call(Method::POST, &uri).await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn mount_from_an_invalid_name_is_rejected() {
    let registry = registry_with("target").await;
    let digest = Digest::of_bytes(b"x");
    let uri = format!("/v2/target/blobs/uploads/?mount={digest}&from=Bad..Name");
    let reply = registry.call(Method::POST, &uri).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "NAME_INVALID");
    assert_eq!(reply.json()["errors"][0]["detail"]["name"], "Bad..Name");
}

#[tokio::test]
async fn cancelled_upload_is_gone() {
    let registry = registry_with("app").await;
    let location = start_session(&registry, "app").await;
    let cancel = registry.call(Method::DELETE, &location).await;
    assert_eq!(cancel.status, StatusCode::NO_CONTENT);
    let status = registry.call(Method::GET, &location).await;
    assert_eq!(status.status, StatusCode::NOT_FOUND);
    assert_eq!(status.error_code(), "BLOB_UPLOAD_UNKNOWN");
    let unknown = registry
        .call(Method::PATCH, "/v2/app/blobs/uploads/no-such-upload")
        .await;
    assert_eq!(unknown.error_code(), "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn upload_is_bound_to_its_repository() {
    let registry = registry_with("one").await;
    registry
        .create_repository("two", TagMutability::Mutable)
        .await;
    let location = start_session(&registry, "one").await;
    let elsewhere = location.replace("/v2/one/", "/v2/two/");
    let reply = registry.call(Method::GET, &elsewhere).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn push_to_unknown_repository_is_name_unknown() {
    let registry = TestRegistry::new().await;
    let reply = registry
        .call(Method::POST, "/v2/nobody/blobs/uploads/")
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "NAME_UNKNOWN");
    let message = reply.json()["errors"][0]["message"].clone();
    let expected = format!(
        "The repository with name 'nobody' does not exist in the registry with id '{REGISTRY_ID}'"
    );
    assert_eq!(message, expected.as_str());
}

#[tokio::test]
async fn create_on_push_creates_the_repository() {
    let registry = TestRegistry::with_create_on_push(true).await;
    let digest = registry.push_blob("new/repo", b"first layer").await;
    let repository = registry
        .registry
        .repository(&berth_types::RepositoryName::parse("new/repo").unwrap())
        .await
        .unwrap();
    assert_eq!(repository.tag_mutability, TagMutability::Mutable);
    assert_eq!(
        blob_bytes(&registry, "new/repo", &digest).await.status,
        StatusCode::OK
    );
}
