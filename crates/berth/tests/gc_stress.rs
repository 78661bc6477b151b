//! Garbage collection under load, through the real server: OCI clients push images that
//! share layers, delete some of them and pull the others, while the collector runs in a
//! loop through the admin route. Afterwards every surviving image pulls with correct
//! digests and the blob store holds exactly the referenced blobs.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::json;

use common::{create_repository, sha256_digest, Server};

const PUSHERS: usize = 4;
const ROUNDS: usize = 12;
const SHARED_LAYERS: usize = 5;

type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

struct Oci {
    http: HttpClient,
    base: String,
    authorization: String,
}

impl Oci {
    async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, Vec<u8>) {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", &self.authorization);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .expect("a valid request");
        let response = self
            .http
            .request(request)
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("read the body")
            .to_bytes();
        (status, body.to_vec())
    }

    async fn upload(&self, repository: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let path = format!("/v2/{repository}/blobs/uploads/?digest={digest}");
        let (status, body) = self
            .send(
                "POST",
                &path,
                Some("application/octet-stream"),
                bytes.to_vec(),
            )
            .await;
        assert_eq!(
            status,
            201,
            "monolithic upload failed: {}",
            String::from_utf8_lossy(&body)
        );
        digest
    }

    /// Pushes an image, starting over when the collector took a blob between the upload
    /// and the manifest, as a client would after `MANIFEST_BLOB_UNKNOWN`.
    async fn push(
        &self,
        repository: &str,
        tag: &str,
        layers: &[Vec<u8>],
        pause: Duration,
    ) -> String {
        let config = json!({"architecture": "amd64", "os": "linux", "tag": tag})
            .to_string()
            .into_bytes();
        for attempt in 0..50 {
            let config_digest = self.upload(repository, &config).await;
            let mut descriptors = Vec::new();
            for layer in layers {
                let digest = self.upload(repository, layer).await;
                descriptors.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": layer.len()}));
            }
            if attempt == 0 {
                tokio::time::sleep(pause).await;
            }
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
                "layers": descriptors,
            }))
            .unwrap();
            let path = format!("/v2/{repository}/manifests/{tag}");
            let (status, body) = self
                .send(
                    "PUT",
                    &path,
                    Some("application/vnd.oci.image.manifest.v1+json"),
                    manifest.clone(),
                )
                .await;
            match status {
                201 => return sha256_digest(&manifest),
                400 | 404 if String::from_utf8_lossy(&body).contains("MANIFEST_BLOB_UNKNOWN") => {
                    continue
                }
                _ => panic!(
                    "manifest push of {tag} failed with {status}: {}",
                    String::from_utf8_lossy(&body)
                ),
            }
        }
        panic!("the push of {tag} kept losing its blobs to garbage collection");
    }

    /// Pulls an image by digest and checks the digest of the manifest and every blob.
    async fn pull(&self, repository: &str, digest: &str) -> Vec<String> {
        let (status, manifest) = self
            .send(
                "GET",
                &format!("/v2/{repository}/manifests/{digest}"),
                None,
                vec![],
            )
            .await;
        assert_eq!(
            status,
            200,
            "pull of {digest}: {}",
            String::from_utf8_lossy(&manifest)
        );
        assert_eq!(sha256_digest(&manifest), digest);
        let parsed: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        let mut blobs = vec![parsed["config"]["digest"].as_str().unwrap().to_owned()];
        blobs.extend(
            parsed["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_owned()),
        );
        for blob in &blobs {
            let (status, bytes) = self
                .send(
                    "GET",
                    &format!("/v2/{repository}/blobs/{blob}"),
                    None,
                    vec![],
                )
                .await;
            assert_eq!(status, 200, "blob {blob} of {digest} is gone");
            assert_eq!(
                &sha256_digest(&bytes),
                blob,
                "blob {blob} of {digest} is corrupt"
            );
        }
        blobs
    }
}

async fn run_gc(server: &Server) -> serde_json::Value {
    let (status, body) = common::post_admin(server, "/admin/gc/run").await;
    assert_eq!(status, 200, "gc failed: {body}");
    body
}

fn blob_files(root: &std::path::Path) -> HashSet<String> {
    let mut found = HashSet::new();
    for prefix in std::fs::read_dir(root).unwrap() {
        for file in std::fs::read_dir(prefix.unwrap().path()).unwrap() {
            found.insert(format!(
                "sha256:{}",
                file.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_loop_beside_pushes_and_pulls() {
    let server = Server::start_with_config("gc_grace_secs = 1\ngc_interval_secs = 3600\n");
    let client = server.client();
    let repositories = ["stress/one", "stress/two"];
    for repository in repositories {
        create_repository(&client, repository).await;
    }
    let token = client.get_authorization_token().send().await.unwrap();
    let token = token.authorization_data()[0]
        .authorization_token()
        .unwrap()
        .to_owned();
    let oci = Arc::new(Oci {
        http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
        base: server.endpoint(),
        authorization: format!("Basic {token}"),
    });
    let shared: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..SHARED_LAYERS)
            .map(|i| common::random_bytes(20_000 + i))
            .collect(),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let server = Arc::new(server);
    let collector = {
        let (server, stop) = (server.clone(), stop.clone());
        tokio::spawn(async move {
            let mut rounds = 0;
            while !stop.load(Ordering::SeqCst) {
                run_gc(&server).await;
                rounds += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            rounds
        })
    };

    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..PUSHERS {
        let (oci, shared) = (oci.clone(), shared.clone());
        let repository = repositories[worker % 2];
        workers.push(tokio::spawn(async move {
            let mut kept = Vec::new();
            for round in 0..ROUNDS {
                let own = common::random_bytes(10_000);
                let layers = vec![
                    shared[round % SHARED_LAYERS].clone(),
                    shared[(round + worker) % SHARED_LAYERS].clone(),
                    own,
                ];
                // Some clients wait past the grace period before the manifest.
                let pause = Duration::from_millis(if round % 5 == 4 { 1_300 } else { 0 });
                let tag = format!("w{worker}-r{round}");
                let digest = oci.push(repository, &tag, &layers, pause).await;
                if round % 2 == 0 {
                    let (status, _) = oci
                        .send(
                            "DELETE",
                            &format!("/v2/{repository}/manifests/{digest}"),
                            None,
                            vec![],
                        )
                        .await;
                    assert_eq!(status, 202, "delete of {tag}");
                } else {
                    kept.push((repository, digest));
                }
                for (kept_repository, kept_digest) in &kept {
                    oci.pull(kept_repository, kept_digest).await;
                }
            }
            kept
        }));
    }
    let mut survivors = Vec::new();
    for worker in workers {
        survivors.extend(worker.await.unwrap());
    }
    stop.store(true, Ordering::SeqCst);
    let rounds = collector.await.unwrap();
    assert!(
        rounds >= 10,
        "the collector ran {rounds} times in {:?}",
        started.elapsed()
    );

    // Let every deleted image's blobs age past the grace period, then collect once more.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let last = run_gc(&server).await;
    assert_eq!(last["blobsKept"], 0);
    let mut referenced = HashSet::new();
    for (repository, digest) in &survivors {
        referenced.extend(oci.pull(repository, digest).await);
    }
    let on_disk = blob_files(&server.data_dir().join("blobs/blobs/sha256"));
    assert_eq!(
        on_disk, referenced,
        "the blob store holds exactly the blobs that surviving images reference"
    );
    assert_eq!(survivors.len(), PUSHERS * ROUNDS / 2);
}
