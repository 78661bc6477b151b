//! Shared setup of the end-to-end tests: a guard around the real `berth` process, an
//! `aws-sdk-ecr` client for it, and helpers that upload layers and put images through
//! the ECR API.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ecr::config::retry::RetryConfig;
use aws_sdk_ecr::config::{Credentials, Region};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::primitives::Blob;
use aws_sdk_ecr::Client;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

pub const REGISTRY_ID: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY_ID: &str = "AKIDBERTHTESTKEY0001";
pub const SECRET_ACCESS_KEY: &str = "berth-test-secret-4f1d0c9a7e";

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// How long the server may take to start before a test fails.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful stop may take before the process is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `berth serve` on an ephemeral port of 127.0.0.1. Dropping it kills the
/// process. A data directory that `start` created is deleted with it.
pub struct Server {
    child: Option<Child>,
    pub address: SocketAddr,
    data_dir: Option<TempDir>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts a server on a fresh data directory.
    pub fn start() -> Server {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir()
            .expect("create a temporary data directory");
        let mut server = Server::start_in(dir.path());
        server.data_dir = Some(dir);
        server
    }

    /// Starts a server on a fresh data directory that logs what `filter` (the syntax of
    /// `BERTH_LOG`) lets through.
    pub fn start_with_log(filter: &str) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir()
            .expect("create a temporary data directory");
        let mut server = Server::start_with_args(dir.path(), &[], filter);
        server.data_dir = Some(dir);
        server
    }

    /// Starts a server on a fresh data directory with settings from a TOML file.
    pub fn start_with_config(config: &str) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir()
            .expect("create a temporary data directory");
        let config_path = dir.path().join("berth.toml");
        std::fs::write(&config_path, config).expect("write the configuration file");
        let mut server = Server::start_with_args(
            dir.path(),
            &["--config".as_ref(), config_path.as_os_str()],
            "info",
        );
        server.data_dir = Some(dir);
        server
    }

    /// Starts a server on an existing data directory, which the caller keeps.
    pub fn start_in(data_dir: &Path) -> Server {
        Server::start_with_args(data_dir, &[], "info")
    }

    fn start_with_args(data_dir: &Path, extra: &[&std::ffi::OsStr], log_filter: &str) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
        // Configuration from the environment of the test run must not leak in.
        for (key, _) in std::env::vars() {
            if key.starts_with("BERTH_") {
                command.env_remove(key);
            }
        }
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--registry-id", REGISTRY_ID])
            .args(["--region", REGION])
            .args(["--access-key-id", ACCESS_KEY_ID])
            .args(["--secret-access-key", SECRET_ACCESS_KEY])
            .args(["--log-format", "json"])
            .args(extra)
            .env("BERTH_LOG", log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn the berth binary");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_sender, address_receiver) = mpsc::channel();
        let thread_log = log.clone();
        // The thread drains stderr for the life of the process, so the server never
        // blocks on a full pipe, and keeps the lines for failure messages.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(address) = listening_address(&line) {
                    let _ = address_sender.send(address);
                }
                thread_log.lock().expect("log lock").push(line);
            }
        });

        let mut server = Server {
            child: Some(child),
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        server.address = loop {
            match address_receiver.recv_timeout(Duration::from_millis(100)) {
                Ok(address) => break address,
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    server.assert_running("while starting");
                }
                Err(_) => panic!(
                    "berth did not log 'berth listening' within {START_TIMEOUT:?}; log:\n{}",
                    server.log_text()
                ),
            }
        };
        server.wait_healthy(deadline);
        server
    }

    fn assert_running(&mut self, when: &str) {
        let child = self.child.as_mut().expect("server process");
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "berth exited {when} with {status}; log:\n{}",
                self.log_text()
            );
        }
    }

    /// Polls `GET /healthz` until it returns 200 or the deadline passes.
    fn wait_healthy(&mut self, deadline: Instant) {
        loop {
            if health_status(self.address) == Some(200) {
                return;
            }
            self.assert_running("before /healthz returned 200");
            assert!(
                Instant::now() < deadline,
                "GET /healthz did not return 200 before the deadline; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Returns the data directory that `start` created, and panics for a server
    /// started with `start_in`.
    pub fn data_dir(&self) -> &Path {
        self.data_dir
            .as_ref()
            .expect("the server owns its data directory")
            .path()
    }

    /// Returns the server's stderr so far.
    pub fn log_text(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    /// Builds a client that signs with the configured access key.
    pub fn client(&self) -> Client {
        self.client_with(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    }

    /// Builds a client that signs with the given access key.
    pub fn client_with(&self, access_key_id: &str, secret: &str) -> Client {
        let http = aws_smithy_http_client::Builder::new().build_http();
        let config = aws_sdk_ecr::Config::builder()
            .endpoint_url(self.endpoint())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(access_key_id, secret, None, None, "test"))
            .http_client(http)
            // An error must reach the test as the server sent it, not after retries.
            .retry_config(RetryConfig::disabled())
            .build();
        Client::from_conf(config)
    }

    /// Sends SIGTERM, waits for a clean exit and returns the data directory, so a new
    /// server can start on it.
    pub fn stop(mut self) -> TempDir {
        let mut child = self.child.take().expect("server process");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed with {status}");
        let deadline = Instant::now() + STOP_TIMEOUT;
        let exit = loop {
            if let Some(exit) = child.try_wait().expect("wait for berth") {
                break exit;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "berth did not stop within {STOP_TIMEOUT:?} of SIGTERM; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            exit.success(),
            "berth exited with {exit} after SIGTERM; log:\n{}",
            self.log_text()
        );
        self.data_dir
            .take()
            .expect("the server owns its data directory")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads the bound address from the JSON log line `berth listening`.
fn listening_address(line: &str) -> Option<SocketAddr> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields")?;
    if fields.get("message")?.as_str()? != "berth listening" {
        return None;
    }
    fields.get("address")?.as_str()?.parse().ok()
}

/// Sends one `GET /healthz` and returns the status code, or `None` when the server
/// cannot be reached yet.
fn health_status(address: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status_line = response.lines().next()?;
    status_line.split(' ').nth(1)?.parse().ok()
}

/// Sends a plain HTTP GET, without AWS signing, and returns the status and body.
pub async fn http_get(url: &str) -> (u16, Vec<u8>) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let uri: hyper::Uri = url.parse().expect("a valid URL");
    let response = client.get(uri).await.expect("GET the URL");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("read the response body")
        .to_bytes();
    (status, body.to_vec())
}

/// Returns the `authorizationToken` of GetAuthorizationToken: the base64 of
/// `AWS:<password>`, which OCI clients send as a Basic credential.
pub async fn authorization_token(client: &Client) -> String {
    let output = client
        .get_authorization_token()
        .send()
        .await
        .expect("get an authorization token");
    output.authorization_data()[0]
        .authorization_token()
        .expect("an authorizationToken")
        .to_owned()
}

/// Returns the AWS error code (`__type`) of a failed call.
pub fn error_code<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    error: &SdkError<E, R>,
) -> String {
    error
        .code()
        .unwrap_or_else(|| panic!("the error has no code: {error:?}"))
        .to_owned()
}

/// Returns the HTTP status of a failed call.
pub fn error_status<E>(error: &SdkError<E>) -> u16 {
    error
        .raw_response()
        .expect("the error carries the HTTP response")
        .status()
        .as_u16()
}

/// Returns the message of a failed call.
pub fn error_message<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> String {
    error.message().unwrap_or_default().to_owned()
}

pub fn random_bytes(length: usize) -> Vec<u8> {
    let mut bytes = vec![0; length];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// `sha256:<hex>` of the bytes, as registries name content.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Returns 8 random lowercase hex digits, for names that no other test uses.
pub fn unique_suffix() -> String {
    hex::encode(random_bytes(4))
}

pub async fn create_repository(client: &Client, name: &str) {
    client
        .create_repository()
        .repository_name(name)
        .send()
        .await
        .unwrap_or_else(|error| panic!("create repository {name}: {error:?}"));
}

/// A blob in a repository, as a descriptor names it.
#[derive(Clone, Debug)]
pub struct UploadedBlob {
    pub digest: String,
    pub size: u64,
    pub bytes: Vec<u8>,
}

/// Uploads bytes with InitiateLayerUpload, UploadLayerPart in parts of the `partSize`
/// that InitiateLayerUpload returns, and CompleteLayerUpload, checking each response.
pub async fn upload_layer(client: &Client, repository: &str, bytes: &[u8]) -> UploadedBlob {
    let digest = sha256_digest(bytes);
    let upload = client
        .initiate_layer_upload()
        .repository_name(repository)
        .send()
        .await
        .unwrap_or_else(|error| panic!("initiate upload in {repository}: {error:?}"));
    let upload_id = upload.upload_id().expect("uploadId").to_owned();
    let part_size = upload.part_size().expect("partSize") as usize;
    let mut first = 0;
    for part in bytes.chunks(part_size) {
        let last = first + part.len() - 1;
        let uploaded = client
            .upload_layer_part()
            .repository_name(repository)
            .upload_id(&upload_id)
            .part_first_byte(first as i64)
            .part_last_byte(last as i64)
            .layer_part_blob(Blob::new(part))
            .send()
            .await
            .unwrap_or_else(|error| panic!("upload part at {first}: {error:?}"));
        assert_eq!(uploaded.last_byte_received(), Some(last as i64));
        first = last + 1;
    }
    let completed = client
        .complete_layer_upload()
        .repository_name(repository)
        .upload_id(&upload_id)
        .layer_digests(&digest)
        .send()
        .await
        .unwrap_or_else(|error| panic!("complete upload of {digest}: {error:?}"));
    assert_eq!(completed.layer_digest(), Some(digest.as_str()));
    UploadedBlob {
        digest,
        size: bytes.len() as u64,
        bytes: bytes.to_vec(),
    }
}

/// The manifest formats ECR accepts for a single image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Docker,
    Oci,
}

impl Format {
    pub fn manifest_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_MANIFEST,
            Format::Oci => OCI_MANIFEST,
        }
    }

    pub fn index_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_MANIFEST_LIST,
            Format::Oci => OCI_INDEX,
        }
    }

    pub fn config_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_CONFIG,
            Format::Oci => OCI_CONFIG,
        }
    }

    pub fn layer_type(self) -> &'static str {
        match self {
            Format::Docker => DOCKER_LAYER,
            Format::Oci => OCI_LAYER,
        }
    }
}

/// Writes an image manifest as clients do: pretty-printed, so its bytes differ from a
/// re-serialization by the server.
pub fn image_manifest(
    format: Format,
    config_type: &str,
    config: &UploadedBlob,
    layers: &[UploadedBlob],
) -> String {
    let layers: Vec<_> = layers
        .iter()
        .map(|layer| {
            json!({"mediaType": format.layer_type(), "digest": layer.digest, "size": layer.size})
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": format.manifest_type(),
        "config": {"mediaType": config_type, "digest": config.digest, "size": config.size},
        "layers": layers,
    });
    serde_json::to_string_pretty(&manifest).expect("manifest serializes")
}

/// Writes a manifest list or image index over child manifests of the given format.
pub fn index_manifest(format: Format, children: &[&Image]) -> String {
    let manifests: Vec<_> = children
        .iter()
        .enumerate()
        .map(|(i, child)| {
            let architecture = ["amd64", "arm64", "s390x"][i % 3];
            json!({
                "mediaType": format.manifest_type(),
                "digest": child.digest,
                "size": child.manifest.len(),
                "platform": {"architecture": architecture, "os": "linux"},
            })
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": format.index_type(),
        "manifests": manifests,
    });
    serde_json::to_string_pretty(&index).expect("index serializes")
}

/// An image put through the ECR API.
#[derive(Clone, Debug)]
pub struct Image {
    pub manifest: String,
    pub digest: String,
    pub media_type: String,
    pub config: UploadedBlob,
    pub layers: Vec<UploadedBlob>,
}

impl Image {
    pub fn layer_total(&self) -> i64 {
        self.layers.iter().map(|layer| layer.size as i64).sum()
    }
}

/// Uploads a config and layers of the given sizes (random bytes) and puts the image
/// manifest, under `tag` when given.
pub async fn push_image(
    client: &Client,
    repository: &str,
    format: Format,
    tag: Option<&str>,
    layer_sizes: &[usize],
) -> Image {
    let config_json = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"nonce": unique_suffix()}},
        "rootfs": {"type": "layers", "diff_ids": []},
    });
    let config = upload_layer(client, repository, config_json.to_string().as_bytes()).await;
    let mut layers = Vec::new();
    for size in layer_sizes {
        layers.push(upload_layer(client, repository, &random_bytes(*size)).await);
    }
    let manifest = image_manifest(format, format.config_type(), &config, &layers);
    let digest = put_manifest(client, repository, &manifest, tag).await;
    Image {
        manifest,
        digest,
        media_type: format.manifest_type().to_owned(),
        config,
        layers,
    }
}

/// Puts a manifest, checks the image that PutImage returns and returns the digest.
pub async fn put_manifest(
    client: &Client,
    repository: &str,
    manifest: &str,
    tag: Option<&str>,
) -> String {
    let output = client
        .put_image()
        .repository_name(repository)
        .image_manifest(manifest)
        .set_image_tag(tag.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|error| panic!("put image {tag:?} in {repository}: {error:?}"));
    let image = output.image().expect("image in the PutImage output");
    let digest = sha256_digest(manifest.as_bytes());
    let id = image.image_id().expect("imageId");
    assert_eq!(id.image_digest(), Some(digest.as_str()));
    assert_eq!(id.image_tag(), tag);
    assert_eq!(image.image_manifest(), Some(manifest));
    digest
}

/// Returns a copy of an image manifest with an annotation added, so it is a
/// distinct image over the same blobs.
pub fn variant_manifest(image: &Image, note: &str) -> String {
    let mut manifest: serde_json::Value =
        serde_json::from_str(&image.manifest).expect("the manifest is JSON");
    manifest["annotations"] = json!({ "org.example.variant": note });
    serde_json::to_string_pretty(&manifest).expect("manifest serializes")
}

/// Sends a POST with an empty body and returns the status and body.
pub async fn http_post(url: &str) -> (u16, Vec<u8>) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let request = hyper::Request::post(url)
        .body(Empty::new())
        .expect("a valid request");
    let response = client.request(request).await.expect("POST the URL");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("read the response body")
        .to_bytes();
    (status, body.to_vec())
}

/// Sends a POST to an admin route, presigned with the test's access key, and returns the
/// status and the parsed JSON body.
pub async fn post_admin(server: &Server, path: &str) -> (u16, serde_json::Value) {
    let host = server.address.to_string();
    let target = berth_auth::PresignTarget {
        method: "POST",
        host: &host,
        path,
        query: "",
        region: REGION,
        service: "ecr",
        expires_secs: 60,
    };
    let key = berth_auth::AccessKey {
        id: ACCESS_KEY_ID.to_owned(),
        secret: SECRET_ACCESS_KEY.to_owned(),
        principal_arn: String::new(),
    };
    let now = berth_types::Clock::now(&berth_types::SystemClock);
    let query = berth_auth::presign_query(&target, &key, now).expect("presign the admin URL");
    let (status, body) = http_post(&format!("{}{path}?{query}", server.endpoint())).await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}
