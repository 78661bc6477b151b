//! A registry on real stores in a temporary directory, driven in-process through the OCI
//! router with `tower::ServiceExt::oneshot`.

#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use berth_auth::{AccessKey, Credentials, TokenSigner};
use berth_service::{CreateRepository, Registry, Settings};
use berth_store::{Encryption, FsBlobStore, SqliteMetaStore, TagMutability};
use berth_types::{Digest, ManualClock, RepositoryName, Timestamp};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

pub const HOST: &str = "registry.test:5000";
pub const NOW: Timestamp = Timestamp(1_767_225_600_000);
pub const REGISTRY_ID: &str = "123456789012";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The registry, its router and a valid Basic login.
pub struct TestRegistry {
    pub dir: tempfile::TempDir,
    pub app: Router,
    pub registry: Arc<Registry>,
    pub clock: ManualClock,
    pub tokens: Arc<TokenSigner>,
    pub signing_key: AccessKey,
    pub authorization: String,
}

/// A response with its body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|value| value.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("body is not JSON ({error}): {:?}", self.body))
    }

    /// Returns the code of the single error in an error body, after checking the body
    /// against the spec's shape.
    pub fn error_code(&self) -> String {
        let body = self.json();
        let errors = body["errors"].as_array().expect("an errors array");
        assert_eq!(errors.len(), 1, "{body}");
        assert!(errors[0]["message"].is_string(), "{body}");
        errors[0]["code"].as_str().unwrap().to_owned()
    }
}

impl TestRegistry {
    pub async fn new() -> TestRegistry {
        TestRegistry::with_create_on_push(false).await
    }

    pub async fn with_create_on_push(create_on_push: bool) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let meta = SqliteMetaStore::open(dir.path().join("meta.db")).unwrap();
        let blobs = FsBlobStore::open(dir.path().join("blobs")).await.unwrap();

        let clock = ManualClock::new(NOW);
        let settings = Settings {
            registry_id: REGISTRY_ID.to_owned(),
            region: "us-east-1".to_owned(),
            registry_host: HOST.to_owned(),
        };
        let registry = Registry::new(
            Arc::new(meta),
            Arc::new(blobs),
            Arc::new(clock.clone()),
            settings,
        )
        .await
        .unwrap();
        let registry = Arc::new(registry);

        let tokens = Arc::new(TokenSigner::from_key([7; 32]));
        let signing_key = AccessKey {
            id: "BKIATESTKEY000000001".to_owned(),
            secret: "test-secret".to_owned(),
            principal_arn: format!("arn:aws:iam::{REGISTRY_ID}:user/berth-admin"),
        };
        let state = berth_oci::OciState {
            registry: registry.clone(),
            tokens: tokens.clone(),
            credentials: Arc::new(Credentials::new(vec![signing_key.clone()])),
            access_keys: Some(Arc::new(Credentials::new(vec![signing_key.clone()]))),
            create_on_push,
        };

        let issued = tokens.issue(&signing_key.id, &signing_key.principal_arn, NOW, 3_600_000);
        TestRegistry {
            dir,
            app: berth_oci::router(state),
            registry,
            clock,
            tokens,
            signing_key,
            authorization: format!("Basic {}", issued.authorization_token),
        }
    }

    pub async fn create_repository(&self, name: &str, mutability: TagMutability) {
        let request = CreateRepository {
            name: RepositoryName::parse(name).unwrap(),
            tag_mutability: mutability,
            scan_on_push: false,
            encryption: Encryption {
                encryption_type: "AES256".to_owned(),
                kms_key: None,
            },
            tags: Vec::new(),
        };
        self.registry.create_repository(request).await.unwrap();
    }

    /// Starts a request with the Host header and the Basic login.
    pub fn request(&self, method: Method, uri: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(uri)
            .header("host", HOST)
            .header("authorization", &self.authorization)
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn call(&self, method: Method, uri: &str) -> Reply {
        self.send(self.request(method, uri).body(Body::empty()).unwrap())
            .await
    }

    pub async fn call_with(&self, method: Method, uri: &str, body: impl Into<Bytes>) -> Reply {
        let body: Bytes = body.into();
        let request = self
            .request(method, uri)
            .header("content-length", body.len())
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// Pushes a blob with a single POST and checks that it was stored.
    pub async fn push_blob(&self, name: &str, bytes: &[u8]) -> Digest {
        let digest = Digest::of_bytes(bytes);
        let uri = format!("/v2/{name}/blobs/uploads/?digest={digest}");
        let reply = self.call_with(Method::POST, &uri, bytes.to_vec()).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        digest
    }

    /// Pushes a manifest with its media type as `Content-Type` and returns the reply.
    pub async fn push_manifest(
        &self,
        name: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Reply {
        let request = self
            .request(Method::PUT, &format!("/v2/{name}/manifests/{reference}"))
            .header("content-type", media_type)
            .body(Body::from(body.to_vec()))
            .unwrap();
        self.send(request).await
    }

    /// Pushes a config and a layer and returns an OCI image manifest that references
    /// them, with extra top-level JSON fields spliced in.
    pub async fn image_manifest(&self, name: &str, layer: &[u8], extra: &str) -> String {
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let config_digest = self.push_blob(name, config).await;
        let layer_digest = self.push_blob(name, layer).await;
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",{extra}"config":{{"mediaType":"{OCI_CONFIG}","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"{OCI_LAYER}","digest":"{layer_digest}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        )
    }
}
