//! Keep-alive connections after a response that leaves the request body unread, over a
//! raw socket: a small body is read ahead so the connection stays usable, and a large one
//! gets `Connection: close` so the client knows to reconnect.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// A response read off a raw socket.
struct RawResponse {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

fn connect(server: &Server) -> TcpStream {
    let address = server.endpoint().trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(address).expect("connect to berth");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    stream
}

/// Sends the head of a request, then its body a little later, as a client that writes
/// them separately does, so the server responds before the body has arrived.
fn send(stream: &mut TcpStream, head: &str, body: &[u8]) {
    stream.write_all(head.as_bytes()).expect("send the head");
    std::thread::sleep(Duration::from_millis(20));
    if !body.is_empty() {
        // The server may already have closed the connection, which the response shows.
        let _ = stream.write_all(body);
    }
}

/// Reads one response with a Content-Length body.
fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    while !received.ends_with(b"\r\n\r\n") {
        let read = stream.read(&mut byte).expect("read the response head");
        assert_eq!(read, 1, "the connection closed before a response head");
        received.push(byte[0]);
    }
    let head = String::from_utf8(received).expect("an ASCII response head");
    let status = head
        .split(' ')
        .nth(1)
        .expect("a status")
        .parse()
        .expect("a number");
    let mut response = RawResponse {
        status,
        head,
        body: Vec::new(),
    };
    let length: usize = response
        .header("content-length")
        .map_or(0, |value| value.parse().expect("a numeric Content-Length"));
    response.body = vec![0; length];
    stream
        .read_exact(&mut response.body)
        .expect("read the response body");
    response
}

fn host(server: &Server) -> String {
    server.endpoint().trim_start_matches("http://").to_owned()
}

/// Formats a request head: the request line (method and target), `Host`, then `headers`.
fn head(server: &Server, request_line: &str, headers: &[String]) -> String {
    let mut head = format!("{request_line} HTTP/1.1\r\nHost: {}\r\n", host(server));
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head
}

/// Sends `GET /healthz` on the connection and checks the response.
fn assert_healthy(stream: &mut TcpStream, server: &Server) {
    send(stream, &head(server, "GET /healthz", &[]), b"");
    let health = read_response(stream);
    assert_eq!(health.status, 200, "{}", health.head);
    assert_eq!(health.body, b"ok");
}

#[tokio::test]
async fn small_unread_body_keeps_connection() {
    let server = Server::start();
    let body = vec![b'x'; 129];
    let mut stream = connect(&server);
    let put = head(
        &server,
        "PUT /v2/app/manifests/v1",
        &[
            format!("Content-Type: {MANIFEST_TYPE}"),
            format!("Content-Length: {}", body.len()),
        ],
    );
    send(&mut stream, &put, &body);
    let refused = read_response(&mut stream);
    assert_eq!(refused.status, 401, "{}", refused.head);
    assert_eq!(refused.header("connection"), None, "{}", refused.head);

    assert_healthy(&mut stream, &server);
}

#[tokio::test]
async fn large_unread_body_sends_connection_close() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "app").await;
    let token = authorization_token(&client).await;
    let body = random_bytes(1024 * 1024);

    // Without credentials, and with credentials to an upload that does not exist: both
    // responses are sent before the body is read.
    let cases = [
        ("/v2/app/blobs/uploads/no-such-upload", None, 401),
        (
            "/v2/app/blobs/uploads/no-such-upload",
            Some(token.as_str()),
            404,
        ),
    ];
    for (path, token, status) in cases {
        let mut stream = connect(&server);
        let mut headers = vec![
            "Content-Type: application/octet-stream".to_owned(),
            format!("Content-Length: {}", body.len()),
        ];
        headers.extend(token.map(|token| format!("Authorization: Basic {token}")));
        send(
            &mut stream,
            &head(&server, &format!("PATCH {path}"), &headers),
            &body,
        );
        let response = read_response(&mut stream);
        assert_eq!(response.status, status, "{}", response.head);
        assert_eq!(
            response.header("connection").as_deref(),
            Some("close"),
            "{}",
            response.head
        );
    }

    // A body the handler reads in full leaves the connection open.
    let digest = sha256_digest(&body);
    let mut stream = connect(&server);
    let post = head(
        &server,
        &format!("POST /v2/app/blobs/uploads/?digest={digest}"),
        &[
            format!("Authorization: Basic {token}"),
            "Content-Type: application/octet-stream".to_owned(),
            format!("Content-Length: {}", body.len()),
        ],
    );
    send(&mut stream, &post, &body);
    let created = read_response(&mut stream);
    assert_eq!(created.status, 201, "{}", created.head);
    assert_eq!(created.header("connection"), None, "{}", created.head);
    assert_healthy(&mut stream, &server);
}

#[tokio::test]
async fn half_closed_client_gets_response() {
    let server = Server::start();
    // Whether the server reads the end of input before or after it responds depends on
    // timing, so the request is repeated to cover both orders.
    for attempt in 0..50 {
        let mut stream = connect(&server);
        stream
            .write_all(head(&server, "GET /healthz", &[]).as_bytes())
            .expect("send the request");
        stream
            .shutdown(std::net::Shutdown::Write)
            .expect("shut down the sending side");
        let mut received = String::new();
        stream
            .read_to_string(&mut received)
            .expect("read until the server closes");
        assert!(
            received.starts_with("HTTP/1.1 200"),
            "attempt {attempt}: {received:?}"
        );
        assert!(received.ends_with("ok"), "attempt {attempt}: {received:?}");
    }
}

#[tokio::test]
async fn shutdown_bounds_stalled_connections() {
    let server = Server::start_with_config("shutdown_timeout_secs = 1\n");
    // An idle keep-alive connection after one request.
    let mut idle = connect(&server);
    assert_healthy(&mut idle, &server);
    // A client that stalls halfway through a request head.
    let mut stalled = connect(&server);
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: stalled\r\n")
        .expect("send half a head");

    // `stop` sends SIGTERM and checks for a clean exit.
    let started = std::time::Instant::now();
    server.stop();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopping took {:?} with a drain period of 1 s",
        started.elapsed()
    );
}

#[tokio::test]
async fn unsigned_large_calls_take_no_slot() {
    let server = Server::start();
    let client = server.client();
    create_repository(&client, "app").await;
    // More unsigned callers than there are slots for large bodies, each declaring a body
    // it never sends. Each is rejected before its body is read.
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(&server);
        let call = head(
            &server,
            "POST /",
            &[
                "X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.UploadLayerPart".to_owned(),
                "Content-Type: application/x-amz-json-1.1".to_owned(),
                "Content-Length: 5000000".to_owned(),
            ],
        );
        send(&mut stream, &call, b"");
        let refused = read_response(&mut stream);
        assert_eq!(refused.status, 403, "{}", refused.head);
        assert_eq!(refused.header("connection").as_deref(), Some("close"));
        let body = String::from_utf8_lossy(&refused.body).into_owned();
        assert!(body.contains("MissingAuthenticationToken"), "{body}");
        idle.push(stream);
    }

    // A signed upload of a large part goes through while those connections are open.
    let started = std::time::Instant::now();
    let layer = upload_layer(&client, "app", &random_bytes(6 * 1024 * 1024)).await;
    assert!(layer.size > 0);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the signed upload took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn stalled_bodies_time_out() {
    let server = Server::start_with_config("body_idle_timeout_secs = 1\n");
    let client = server.client();
    create_repository(&client, "app").await;
    let authorization = format!(
        "Authorization: Basic {}",
        authorization_token(&client).await
    );

    // A chunk that declares 1 MiB and sends 5 bytes.
    let mut stream = connect(&server);
    let start = head(
        &server,
        "POST /v2/app/blobs/uploads/",
        &[authorization.clone(), "Content-Length: 0".to_owned()],
    );
    send(&mut stream, &start, b"");
    let started = read_response(&mut stream);
    assert_eq!(started.status, 202, "{}", started.head);
    let location = started.header("location").expect("a Location header");
    let patch = head(
        &server,
        &format!("PATCH {location}"),
        &[
            authorization.clone(),
            "Content-Type: application/octet-stream".to_owned(),
            "Content-Length: 1048576".to_owned(),
        ],
    );
    send(&mut stream, &patch, b"12345");
    let timed_out = read_response(&mut stream);
    assert_eq!(timed_out.status, 400, "{}", timed_out.head);
    assert_eq!(timed_out.header("connection").as_deref(), Some("close"));
    let body = String::from_utf8_lossy(&timed_out.body).into_owned();
    assert!(body.contains("BLOB_UPLOAD_INVALID"), "{body}");
    assert!(
        body.contains("no byte of the request body arrived for 1 s"),
        "{body}"
    );

    // The upload contains none of the stalled chunk.
    let mut stream = connect(&server);
    let status = head(
        &server,
        &format!("GET {location}"),
        std::slice::from_ref(&authorization),
    );
    send(&mut stream, &status, b"");
    let upload = read_response(&mut stream);
    assert_eq!(upload.status, 204, "{}", upload.head);
    assert_eq!(upload.header("range").as_deref(), Some("0-0"));

    // A small body that never arrives: the read ahead fails, and the front reports the
    // failure in its own error format.
    let mut stream = connect(&server);
    let put = head(
        &server,
        "PUT /v2/app/manifests/v1",
        &[
            authorization,
            format!("Content-Type: {MANIFEST_TYPE}"),
            "Content-Length: 1000".to_owned(),
        ],
    );
    send(&mut stream, &put, b"{");
    let refused = read_response(&mut stream);
    assert_eq!(refused.status, 400, "{}", refused.head);
    assert_eq!(refused.header("connection").as_deref(), Some("close"));
    let body = String::from_utf8_lossy(&refused.body).into_owned();
    assert!(body.contains("MANIFEST_INVALID"), "{body}");
}
