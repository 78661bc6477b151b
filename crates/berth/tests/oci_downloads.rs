//! Blob downloads through `/v2/` on the real server, where the bodies are sent from the
//! blob files with sendfile(2): exact bytes and ranges, many responses on one keep-alive
//! connection, a client that reads slowly, and a client that leaves mid-body.

mod common;

use std::time::Duration;

use common::*;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// Eight times the largest chunk one sendfile(2) call sends, plus an odd tail, so a
/// download spans several chunks and ends in a partial one.
const LARGE: usize = 8 * 1024 * 1024 + 12_345;

struct Registry {
    server: Server,
    repository: String,
    authorization: String,
    large: UploadedBlob,
    small: UploadedBlob,
}

async fn registry_with_blobs() -> Registry {
    let server = Server::start_with_log("info,berth_oci::blobs=debug");
    let client = server.client();
    let repository = format!("downloads/{}", unique_suffix());
    create_repository(&client, &repository).await;
    let large = upload_layer(&client, &repository, &random_bytes(LARGE)).await;
    let small = upload_layer(&client, &repository, &random_bytes(777)).await;
    let token = authorization_token(&client).await;
    Registry {
        server,
        repository,
        authorization: format!("Basic {token}"),
        large,
        small,
    }
}

impl Registry {
    /// Opens one HTTP/1.1 connection; every request sent through it reuses it.
    async fn connect(&self) -> SendRequest<Empty<Bytes>> {
        let address = self
            .server
            .endpoint()
            .trim_start_matches("http://")
            .to_owned();
        let stream = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect to berth");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(connection);
        sender
    }

    fn request(
        &self,
        method: &str,
        digest: &str,
        range: Option<&str>,
    ) -> http::Request<Empty<Bytes>> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(format!("/v2/{}/blobs/{digest}", self.repository))
            .header("host", self.server.endpoint().trim_start_matches("http://"))
            .header("authorization", &self.authorization);
        if let Some(range) = range {
            builder = builder.header("range", range);
        }
        builder.body(Empty::new()).expect("a valid request")
    }
}

/// Sends a request and returns the status, the headers and the whole body.
async fn fetch(
    sender: &mut SendRequest<Empty<Bytes>>,
    request: http::Request<Empty<Bytes>>,
) -> (u16, http::HeaderMap, Vec<u8>) {
    sender.ready().await.expect("the connection is still open");
    let response = sender.send_request(request).await.expect("a response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the whole body")
        .to_bytes();
    (status, headers, body.to_vec())
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .expect("an ASCII header")
}

#[tokio::test]
async fn keep_alive_serves_blobs_ranges_errors() {
    let registry = registry_with_blobs().await;
    let large = &registry.large;
    let small = &registry.small;
    let mut connection = registry.connect().await;

    let (status, headers, body) = fetch(
        &mut connection,
        registry.request("GET", &large.digest, None),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-length"), LARGE.to_string());
    assert_eq!(header(&headers, "docker-content-digest"), large.digest);
    assert!(body == large.bytes, "the large blob came back different");

    // A range across a chunk boundary, then one inside the last, partial chunk.
    let ranges = [(1_000_000, 2_100_000), (LARGE - 5_000, LARGE - 1)];
    for (first, last) in ranges {
        let range = format!("bytes={first}-{last}");
        let request = registry.request("GET", &large.digest, Some(&range));
        let (status, headers, body) = fetch(&mut connection, request).await;
        assert_eq!(status, 206, "{range}");
        assert_eq!(
            header(&headers, "content-range"),
            format!("bytes {first}-{last}/{LARGE}")
        );
        assert!(
            body == large.bytes[first..=last],
            "{range} came back different"
        );
    }

    let (status, headers, body) = fetch(
        &mut connection,
        registry.request("HEAD", &large.digest, None),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-length"), LARGE.to_string());
    assert!(body.is_empty());

    let (status, _, body) = fetch(
        &mut connection,
        registry.request("GET", &small.digest, Some("bytes=-10")),
    )
    .await;
    assert_eq!(status, 206);
    assert_eq!(body, small.bytes[small.bytes.len() - 10..]);

    let missing = sha256_digest(b"not in the registry");
    let (status, _, body) = fetch(&mut connection, registry.request("GET", &missing, None)).await;
    assert_eq!(status, 404);
    let error: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error body");
    assert_eq!(error["errors"][0]["code"], "BLOB_UNKNOWN");

    let (status, _, body) = fetch(
        &mut connection,
        registry.request("GET", &small.digest, None),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, small.bytes);
    let (status, _, body) = fetch(
        &mut connection,
        registry.request("GET", &large.digest, None),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body == large.bytes,
        "the large blob came back different the second time"
    );

    // Every download went out with sendfile(2), and none failed.
    let log = registry.server.log_text();
    let downloads = log.lines().filter(|line| line.contains("sending a blob"));
    assert_eq!(downloads.clone().count(), 6, "{log}");
    assert!(
        downloads
            .clone()
            .all(|line| line.contains("\"zero_copy\":true")),
        "{log}"
    );
    assert!(!log.contains("zero-copy chunk"), "{log}");
}

#[tokio::test]
async fn slow_reader_gets_every_byte() {
    let registry = registry_with_blobs().await;
    let mut connection = registry.connect().await;
    connection.ready().await.expect("the connection is open");
    let request = registry.request("GET", &registry.large.digest, None);
    let response = connection.send_request(request).await.expect("a response");
    assert_eq!(response.status(), 200);

    // Reading nothing for a while fills the socket buffers, so the server's sendfile(2)
    // calls find the socket full and must wait for it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut body = response.into_body();
    let mut received = Vec::with_capacity(LARGE);
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("a body frame");
        if let Some(data) = frame.data_ref() {
            received.extend_from_slice(data);
            if received.len() < 3 * 1024 * 1024 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    assert!(
        received == registry.large.bytes,
        "the slowly read blob came back different"
    );

    let (status, _, body) = fetch(
        &mut connection,
        registry.request("GET", &registry.small.digest, None),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, registry.small.bytes);
}

#[tokio::test]
async fn mid_body_disconnect_spares_others() {
    let registry = registry_with_blobs().await;
    let mut leaving = registry.connect().await;
    leaving.ready().await.expect("the connection is open");
    let request = registry.request("GET", &registry.large.digest, None);
    let response = leaving.send_request(request).await.expect("a response");
    let mut body = response.into_body();
    let first = body
        .frame()
        .await
        .expect("a first frame")
        .expect("body data");
    assert!(first.data_ref().is_some_and(|data| !data.is_empty()));
    drop(body);
    drop(leaving);

    let mut downloads = Vec::new();
    for _ in 0..4 {
        let mut connection = registry.connect().await;
        let request = registry.request("GET", &registry.large.digest, None);
        downloads.push(tokio::spawn(async move {
            fetch(&mut connection, request).await
        }));
    }
    for download in downloads {
        let (status, _, body) = download.await.expect("the download task");
        assert_eq!(status, 200);
        assert!(
            body == registry.large.bytes,
            "a parallel download came back different"
        );
    }
    let (status, _) = http_get(&format!("{}/healthz", registry.server.endpoint())).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn file_cut_mid_download_is_logged() {
    let registry = registry_with_blobs().await;
    let client = registry.server.client();
    // Larger than the loopback socket buffers can hold, so most of it is still on disk
    // while the client waits.
    let size = 48 * 1024 * 1024;
    let blob = upload_layer(&client, &registry.repository, &random_bytes(size)).await;
    let mut connection = registry.connect().await;
    connection.ready().await.expect("the connection is open");
    let request = registry.request("GET", &blob.digest, None);
    let response = connection.send_request(request).await.expect("a response");
    assert_eq!(response.status(), 200);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let hex = blob.digest.trim_start_matches("sha256:");
    let path = registry
        .server
        .data_dir()
        .join("blobs/blobs/sha256")
        .join(&hex[..2])
        .join(hex);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open the blob file")
        .set_len(1024 * 1024)
        .expect("cut the blob file");

    let mut body = response.into_body();
    let mut received = 0;
    let mut failed = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => received += frame.data_ref().map_or(0, |data| data.len()),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(
        failed,
        "the body ended cleanly after {received} of {size} bytes"
    );
    assert!(received < size, "{received} bytes");

    let log = registry.server.log_text();
    let warning = log
        .lines()
        .find(|line| line.contains("the blob file ended before the range being sent"))
        .unwrap_or_else(|| panic!("no warning in the log:\n{log}"));
    assert!(warning.contains(&blob.digest), "{warning}");
    assert!(warning.contains("request_id"), "{warning}");
}
