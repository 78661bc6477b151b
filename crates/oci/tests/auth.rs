//! Authentication, the version check, path validation and common headers.

mod common;

use axum::body::Body;
use base64::Engine;
use berth_auth::{presign_query, PresignTarget};
use berth_store::TagMutability;
use common::{TestRegistry, HOST, NOW};
use http::{Method, Request, StatusCode};
use serde_json::json;

const CHALLENGE: &str = "Basic realm=\"http://registry.test:5000/\",service=\"ecr.amazonaws.com\"";

fn anonymous(method: Method, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("host", HOST)
        .body(Body::empty())
        .unwrap()
}

fn with_authorization(uri: &str, authorization: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .header("host", HOST)
        .header("authorization", authorization)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn missing_credentials_get_the_basic_challenge() {
    let registry = TestRegistry::new().await;
    for uri in ["/v2/", "/v2/app/tags/list", "/v2/_catalog"] {
        let reply = registry.send(anonymous(Method::GET, uri)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(reply.header("www-authenticate"), CHALLENGE, "{uri}");
        assert_eq!(
            reply.header("docker-distribution-api-version"),
            "registry/2.0",
            "{uri}"
        );
        assert_eq!(reply.header("content-type"), "application/json", "{uri}");
        assert_eq!(reply.error_code(), "UNAUTHORIZED", "{uri}");
    }
}

#[tokio::test]
async fn version_check_with_a_token() {
    let registry = TestRegistry::new().await;
    let reply = registry.call(Method::GET, "/v2/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, &b"{}"[..]);
    assert_eq!(
        reply.header("docker-distribution-api-version"),
        "registry/2.0"
    );
    assert_eq!(reply.header("content-type"), "application/json");
}

#[tokio::test]
async fn both_basic_forms_are_accepted() {
    let registry = TestRegistry::new().await;
    let key = &registry.signing_key;
    let issued = registry
        .tokens
        .issue(&key.id, &key.principal_arn, NOW, 60_000);
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("AWS:{}", issued.password));
    for authorization in [
        format!("Basic {encoded}"),
        format!("Basic {}", issued.authorization_token),
    ] {
        let reply = registry
            .send(with_authorization("/v2/", &authorization))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{authorization}");
    }
}

#[tokio::test]
async fn expired_token_is_denied() {
    let registry = TestRegistry::new().await;
    registry.clock.advance_millis(3_600_000);
    let reply = registry.call(Method::GET, "/v2/").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let expected = json!({"errors": [{
        "code": "DENIED",
        "message": "Your authorization token has expired. Reauthenticate and try again.",
    }]});
    assert_eq!(reply.json(), expected);
    assert_eq!(
        reply.header("docker-distribution-api-version"),
        "registry/2.0"
    );
}

#[tokio::test]
async fn token_of_removed_key_is_unauthorized() {
    let registry = TestRegistry::new().await;
    let issued = registry.tokens.issue(
        "BKIAREMOVEDKEY000001",
        "arn:aws:iam::123456789012:user/gone",
        NOW,
        60_000,
    );
    let authorization = format!("Basic {}", issued.authorization_token);
    let reply = registry
        .send(with_authorization("/v2/", &authorization))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_code(), "UNAUTHORIZED");
    let message = reply.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("BKIAREMOVEDKEY000001"), "{message}");
    assert!(message.contains("no longer configured"), "{message}");
}

#[tokio::test]
async fn tampered_and_malformed_tokens_are_unauthorized() {
    let registry = TestRegistry::new().await;
    let issued = registry
        .tokens
        .issue("BKIA1", "arn:aws:iam::123456789012:user/a", NOW, 60_000);
    let mut password = issued.password.into_bytes();
    let last = password.len() - 5;
    password[last] = if password[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(password).unwrap();
    let engine = base64::engine::general_purpose::STANDARD;
    let cases = [
        format!("Basic {}", engine.encode(format!("AWS:{tampered}"))),
        format!("Basic {}", engine.encode("AWS:not-a-token")),
        format!("Basic {}", engine.encode(format!("someone:{tampered}"))),
        "Bearer abc".to_owned(),
        "Basic %%%".to_owned(),
    ];
    for authorization in cases {
        let reply = registry
            .send(with_authorization("/v2/", &authorization))
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{authorization}");
        assert_eq!(reply.error_code(), "UNAUTHORIZED", "{authorization}");
        assert_eq!(
            reply.header("www-authenticate"),
            CHALLENGE,
            "{authorization}"
        );
    }
}

/// A presigned GET URL for a blob, as ECR's GetDownloadUrlForLayer returns it.
fn presigned_uri(registry: &TestRegistry, path: &str) -> String {
    let target = PresignTarget {
        method: "GET",
        host: HOST,
        path,
        query: "",
        region: "us-east-1",
        service: "ecr",
        expires_secs: 600,
    };
    let query = presign_query(&target, &registry.signing_key, NOW).unwrap();
    format!("{path}?{query}")
}

#[tokio::test]
async fn presigned_url_downloads_a_blob() {
    let registry = TestRegistry::new().await;
    registry
        .create_repository("app", TagMutability::Mutable)
        .await;
    let digest = registry.push_blob("app", b"layer bytes").await;
    let path = format!("/v2/app/blobs/{digest}");

    let uri = presigned_uri(&registry, &path);
    let reply = registry.send(anonymous(Method::GET, &uri)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, &b"layer bytes"[..]);

    let tampered = uri.replace("X-Amz-Signature=", "X-Amz-Signature=0");
    let denied = registry.send(anonymous(Method::GET, &tampered)).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.error_code(), "DENIED");

    registry.clock.advance_millis(601_000);
    let expired = registry.send(anonymous(Method::GET, &uri)).await;
    assert_eq!(expired.status, StatusCode::FORBIDDEN);
    assert_eq!(expired.error_code(), "DENIED");
}

#[tokio::test]
async fn presigned_url_only_opens_blobs() {
    let registry = TestRegistry::new().await;
    registry
        .create_repository("app", TagMutability::Mutable)
        .await;
    let uri = presigned_uri(&registry, "/v2/app/tags/list");
    let reply = registry.send(anonymous(Method::GET, &uri)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_code(), "UNAUTHORIZED");
}

#[tokio::test]
async fn invalid_names_are_name_invalid() {
    let registry = TestRegistry::new().await;
    let cases = [
        ("/v2/Upper/tags/list", "Upper"),
        ("/v2/a/../b/tags/list", "a/../b"),
        ("/v2/a//b/manifests/v1", "a//b"),
        ("/v2/x/tags/list", "x"),
        ("/v2/a%2Fb/tags/list", "a%2Fb"),
    ];
    for (uri, name) in cases {
        let reply = registry.call(Method::GET, uri).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(reply.error_code(), "NAME_INVALID", "{uri}");
        let body = reply.json();
        assert_eq!(body["errors"][0]["detail"]["name"], name, "{uri}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(&format!("'{name}'")), "{message}");
    }
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let registry = TestRegistry::new().await;
    let unknown = registry.call(Method::GET, "/v2/app/nothing/here").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "UNSUPPORTED");
    assert_eq!(
        unknown.header("docker-distribution-api-version"),
        "registry/2.0"
    );

    let rejected = registry.call(Method::POST, "/v2/app/manifests/v1").await;
    assert_eq!(rejected.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(rejected.header("allow"), "GET, HEAD, PUT, DELETE");
    assert_eq!(rejected.error_code(), "UNSUPPORTED");
}
