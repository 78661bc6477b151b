"""Edge cases of berth's OCI Distribution API, sent as raw HTTP to the real server.

Every error response is checked for the distribution-spec body
`{"errors":[{"code":..., "message":...}]}`, and ECR's texts where ECR defines them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from mypy_boto3_ecr import ECRClient

from berth_server import REGISTRY_ID, BerthServer, ServerFactory
from ecr_support import Blob, sha256_digest, unique_name
from oci_images import (
    EMPTY_JSON,
    OCI_INDEX,
    OCI_MANIFEST,
    artifact_manifest,
    build_index,
    small_image,
)
from oci_support import (
    HttpResponse,
    RegistryHttp,
    RegistryLogin,
    assert_error,
    create_repository,
    ecr_api_client,
    list_image_ids,
    parse_link,
    registry_login,
    upload_location,
    with_query,
)

EXPIRED_TOKEN_MESSAGE = "Your authorization token has expired. Reauthenticate and try again."
ABSENT_DIGEST = "sha256:" + "0" * 64
RAW_SOCKET_TIMEOUT_SECONDS = 30


@pytest.fixture
def registry(berth: BerthServer, oci_login: RegistryLogin) -> RegistryHttp:
    return RegistryHttp(berth, oci_login)


@pytest.fixture
def repository(ecr_api: ECRClient) -> str:
    return create_repository(ecr_api, unique_name("http/repo"))


def repository_not_found(name: str) -> str:
    return (
        f"The repository with name '{name}' does not exist in the registry with id '{REGISTRY_ID}'"
    )


# Login


def test_base_endpoint_challenges_anonymous_client(berth: BerthServer) -> None:
    anonymous = RegistryHttp(berth, None)

    response = anonymous.request("GET", "/v2/")

    assert_error(response, 401, "UNAUTHORIZED")
    assert response.header("Www-Authenticate") == (
        f'Basic realm="http://{berth.host_port}/",service="ecr.amazonaws.com"'
    )
    assert response.header("Docker-Distribution-Api-Version") == "registry/2.0"


def test_base_endpoint_accepts_token(registry: RegistryHttp) -> None:
    response = registry.request("GET", "/v2/")

    assert response.status == 200, response.describe()
    assert response.header("Docker-Distribution-Api-Version") == "registry/2.0"


def tampered(password: str) -> str:
    """Change one character in the middle of a token, inside its signed bytes."""
    middle = len(password) // 2
    replacement = "B" if password[middle] == "A" else "A"
    return password[:middle] + replacement + password[middle + 1 :]


@pytest.mark.parametrize(
    "make_login",
    [
        pytest.param(
            lambda login: RegistryLogin(login.host, "AWS", tampered(login.password)),
            id="tampered-token",
        ),
        pytest.param(
            lambda login: RegistryLogin(login.host, "admin", login.password), id="wrong-user"
        ),
        pytest.param(
            lambda login: RegistryLogin(login.host, "AWS", "not-a-token"), id="malformed-token"
        ),
    ],
)
def test_invalid_login_is_unauthorized(
    berth: BerthServer,
    oci_login: RegistryLogin,
    make_login: Callable[[RegistryLogin], RegistryLogin],
) -> None:
    client = RegistryHttp(berth, make_login(oci_login))

    for path in ("/v2/", "/v2/any/tags/list"):
        response = client.request("GET", path)
        assert_error(response, 401, "UNAUTHORIZED")
        assert (response.header("Www-Authenticate") or "").startswith("Basic realm="), (
            response.describe()
        )


def resigned_token(server: BerthServer, password: str, expires_at_millis: int) -> str:
    """Return `password` with a new expiry, signed with the server's token key.

    berth documents its token layout in crates/auth/src/token.rs: a version byte, the
    expiry as big-endian i64 milliseconds, the claims, then an HMAC-SHA256 tag of all
    of that under the 32-byte key in `<data dir>/token-key`.
    """
    key = (server.data_dir / "token-key").read_bytes()
    assert len(key) == 32, "the token key file is not 32 bytes"
    raw = base64.urlsafe_b64decode(password + "=" * (-len(password) % 4))
    body = bytearray(raw[:-32])
    assert body[0] == 1, "the token has an unknown version byte"
    body[1:9] = struct.pack(">q", expires_at_millis)
    tag = hmac.new(key, bytes(body), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(bytes(body) + tag).rstrip(b"=").decode()


def test_expired_token_is_denied(berth: BerthServer, oci_login: RegistryLogin) -> None:
    now_millis = int(time.time() * 1000)
    # The same re-signing with a future expiry must work, or the 403 below proves nothing.
    valid = resigned_token(berth, oci_login.password, now_millis + 3_600_000)
    fresh = RegistryHttp(berth, RegistryLogin(oci_login.host, "AWS", valid))
    accepted = fresh.request("GET", "/v2/")
    assert accepted.status == 200, accepted.describe()

    expired = resigned_token(berth, oci_login.password, now_millis - 60_000)
    client = RegistryHttp(berth, RegistryLogin(oci_login.host, "AWS", expired))
    response = client.request("GET", "/v2/")

    assert_error(response, 403, "DENIED", EXPIRED_TOKEN_MESSAGE)


# Repositories and manifests that do not exist


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", "tags/list"),
        ("GET", "manifests/latest"),
        ("GET", f"blobs/{ABSENT_DIGEST}"),
        ("POST", "blobs/uploads/"),
        ("PUT", "manifests/latest"),
        ("GET", f"referrers/{ABSENT_DIGEST}"),
    ],
)
def test_unknown_repository_is_name_unknown(
    registry: RegistryHttp, method: str, suffix: str
) -> None:
    name = unique_name("http/never-created")
    body = small_image("unknown-repository").manifest if method == "PUT" else None
    headers = {"Content-Type": OCI_MANIFEST} if method == "PUT" else None

    response = registry.request(method, f"/v2/{name}/{suffix}", body=body, headers=headers)

    assert_error(response, 404, "NAME_UNKNOWN", repository_not_found(name))


@pytest.mark.parametrize("reference", ["absent-tag", ABSENT_DIGEST])
def test_missing_manifest_is_manifest_unknown(
    registry: RegistryHttp, repository: str, reference: str
) -> None:
    response = registry.request("GET", f"/v2/{repository}/manifests/{reference}")

    assert_error(response, 404, "MANIFEST_UNKNOWN", "Requested image not found")


def test_manifest_is_served_as_pushed(registry: RegistryHttp, repository: str) -> None:
    image = small_image("served-as-pushed")
    registry.push_image(repository, image, "v1")

    for reference in ("v1", image.digest):
        response = registry.request("GET", f"/v2/{repository}/manifests/{reference}")
        assert response.status == 200, response.describe()
        assert response.body == image.manifest
        assert response.header("Content-Type") == OCI_MANIFEST
        assert response.header("Docker-Content-Digest") == image.digest
        assert response.header("Content-Length") == str(len(image.manifest))


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("DELETE", "/v2/_catalog", None, 405, "UNSUPPORTED"),
        ("GET", "/v2/{repo}/nothing/here", None, 404, None),
        ("GET", "/v2/Upper-Case/tags/list", None, 400, "NAME_INVALID"),
        ("GET", "/v2/{repo}/manifests/-leading-dash", None, 404, "MANIFEST_UNKNOWN"),
        ("PUT", "/v2/{repo}/manifests/-leading-dash", b"{}", 400, "TAG_INVALID"),
        ("GET", "/v2/{repo}/blobs/sha256:not-hex", None, 400, "DIGEST_INVALID"),
        ("GET", "/v2/{repo}/blobs/uploads/no-such-upload", None, 404, "BLOB_UPLOAD_UNKNOWN"),
        ("PUT", "/v2/{repo}/manifests/v1", b"not json", 400, "MANIFEST_INVALID"),
        ("GET", "/v2/{repo}/tags/list?n=many", None, 400, None),
    ],
)
def test_request_errors_have_spec_bodies(
    registry: RegistryHttp,
    repository: str,
    method: str,
    path: str,
    body: bytes | None,
    status: int,
    code: str | None,
) -> None:
    headers = {"Content-Type": OCI_MANIFEST} if body is not None else None

    response = registry.request(method, path.format(repo=repository), body=body, headers=headers)

    assert_error(response, status, code)


def test_blob_of_other_repository_is_unknown(
    registry: RegistryHttp, ecr_api: ECRClient, repository: str
) -> None:
    blob = Blob(os.urandom(1024))
    registry.push_blob(repository, blob)
    other = create_repository(ecr_api, unique_name("http/other"))

    response = registry.request("GET", f"/v2/{other}/blobs/{blob.digest}")

    assert_error(response, 404, "BLOB_UNKNOWN")


# HEAD


def pipelined_head(
    server: BerthServer, path: str, authorization: str | None, login: RegistryLogin
) -> tuple[int, dict[str, str], bytes]:
    """Send HEAD `path` and then a logged-in GET /v2/ on one connection, and return the
    HEAD's status, its headers and every byte that follows its header block.

    A HEAD response has no body, so those bytes must be the GET's response. Any body
    bytes the server wrongly sent after the HEAD headers would come first.
    """
    head_auth = f"Authorization: {authorization}\r\n" if authorization else ""
    get_auth = f"Authorization: {login.basic_authorization}\r\n"
    host = f"Host: {server.host_port}\r\n"
    requests = (
        f"HEAD {path} HTTP/1.1\r\n{host}{head_auth}\r\n"
        f"GET /v2/ HTTP/1.1\r\n{host}{get_auth}Connection: close\r\n\r\n"
    )
    received = bytearray()
    with socket.create_connection(("127.0.0.1", server.port), RAW_SOCKET_TIMEOUT_SECONDS) as conn:
        conn.sendall(requests.encode())
        while chunk := conn.recv(65536):
            received += chunk
    header_block, separator, rest = bytes(received).partition(b"\r\n\r\n")
    assert separator, f"no complete response to HEAD {path}: {bytes(received)!r}"
    status_line, *header_lines = header_block.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ")[1])
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def test_head_responses_have_no_body(
    berth: BerthServer, registry: RegistryHttp, oci_login: RegistryLogin, repository: str
) -> None:
    image = small_image("head")
    registry.push_image(repository, image, "v1")
    layer = image.layers[1].blob
    auth = oci_login.basic_authorization
    cases: list[tuple[str, str | None, int, dict[str, str]]] = [
        (
            f"/v2/{repository}/blobs/{layer.digest}",
            auth,
            200,
            {"content-length": str(layer.size), "docker-content-digest": layer.digest},
        ),
        (
            f"/v2/{repository}/manifests/v1",
            auth,
            200,
            {
                "content-length": str(len(image.manifest)),
                "docker-content-digest": image.digest,
                "content-type": OCI_MANIFEST,
            },
        ),
        (f"/v2/{repository}/blobs/{ABSENT_DIGEST}", auth, 404, {}),
        (f"/v2/{repository}/manifests/absent", auth, 404, {}),
        (f"/v2/{unique_name('http/never-created')}/manifests/v1", auth, 404, {}),
        ("/v2/", None, 401, {}),
    ]

    for path, authorization, status, expected_headers in cases:
        got_status, headers, rest = pipelined_head(berth, path, authorization, oci_login)
        assert got_status == status, f"HEAD {path}: {got_status} {headers}"
        for name, value in expected_headers.items():
            assert headers.get(name) == value, f"HEAD {path}: {name} in {headers}"
        assert rest.startswith(b"HTTP/1.1 200"), f"HEAD {path} sent a body: {rest[:200]!r}"


# Blob downloads with Range


def test_blob_range_requests(registry: RegistryHttp, repository: str) -> None:
    data = os.urandom(1000)
    digest = sha256_digest(data)
    uploaded = registry.upload_blob(repository, data)
    assert uploaded.status == 201, uploaded.describe()
    path = f"/v2/{repository}/blobs/{digest}"

    whole = registry.request("GET", path)
    assert whole.status == 200, whole.describe()
    assert whole.body == data
    assert whole.header("Docker-Content-Digest") == digest
    assert whole.header("Content-Length") == "1000"

    partial_cases = [
        ("bytes=0-0", 0, 0),
        ("bytes=999-999", 999, 999),
        ("bytes=10-19", 10, 19),
        ("bytes=-100", 900, 999),
        ("bytes=-5000", 0, 999),
        ("bytes=990-", 990, 999),
        ("bytes=500-5000", 500, 999),
    ]
    for range_header, first, last in partial_cases:
        response = registry.request("GET", path, headers={"Range": range_header})
        assert response.status == 206, f"Range: {range_header}\n{response.describe()}"
        assert response.header("Content-Range") == f"bytes {first}-{last}/1000", range_header
        assert response.body == data[first : last + 1], range_header
        assert response.header("Content-Length") == str(last - first + 1), range_header

    for range_header in ("bytes=1000-1010", "bytes=1000-", "bytes=-0"):
        response = registry.request("GET", path, headers={"Range": range_header})
        assert response.status == 416, f"Range: {range_header}\n{response.describe()}"
        assert response.header("Content-Range") == "bytes */1000", range_header
        # The spec names no error code for an unsatisfiable download range.
        assert_error(response, 416, code=None)


# Chunked uploads


def start_upload(registry: RegistryHttp, repository: str) -> str:
    started = registry.request("POST", f"/v2/{repository}/blobs/uploads/")
    assert started.status == 202, started.describe()
    assert started.header("Docker-Upload-UUID"), started.describe()
    return upload_location(started)


def patch_chunk(registry: RegistryHttp, location: str, first: int, chunk: bytes) -> HttpResponse:
    return registry.request(
        "PATCH",
        location,
        body=chunk,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{first}-{first + len(chunk) - 1}",
        },
    )


def test_chunk_out_of_order_is_rejected(registry: RegistryHttp, repository: str) -> None:
    data = os.urandom(400)
    location = start_upload(registry, repository)

    first = patch_chunk(registry, location, 0, data[:100])
    assert first.status == 202, first.describe()
    assert first.header("Range") == "0-99"
    location = upload_location(first)

    for start, end in ((200, 300), (50, 150)):
        skipped = patch_chunk(registry, location, start, data[start:end])
        assert_error(skipped, 416, "BLOB_UPLOAD_INVALID")
        assert skipped.header("Range") == "0-99", skipped.describe()

    status = registry.request("GET", location)
    assert status.status == 204, status.describe()
    assert status.header("Range") == "0-99"
    assert status.body == b""

    second = patch_chunk(registry, location, 100, data[100:300])
    assert second.status == 202, second.describe()
    assert second.header("Range") == "0-299"
    finished = registry.request(
        "PUT",
        with_query(upload_location(second), digest=sha256_digest(data)),
        body=data[300:],
        headers={"Content-Type": "application/octet-stream", "Content-Range": "300-399"},
    )
    assert finished.status == 201, finished.describe()
    assert finished.header("Docker-Content-Digest") == sha256_digest(data)
    assert finished.header("Location") == f"/v2/{repository}/blobs/{sha256_digest(data)}"
    assert registry.request("GET", f"/v2/{repository}/blobs/{sha256_digest(data)}").body == data


def test_cancelled_upload_is_gone(registry: RegistryHttp, repository: str) -> None:
    data = os.urandom(256)
    location = start_upload(registry, repository)
    patched = patch_chunk(registry, location, 0, data)
    assert patched.status == 202, patched.describe()
    location = upload_location(patched)

    without_digest = registry.request("PUT", location)
    assert_error(without_digest, 400, "DIGEST_INVALID")
    cancelled = registry.request("DELETE", location)
    assert cancelled.status == 204, cancelled.describe()

    assert_error(registry.request("GET", location), 404, "BLOB_UPLOAD_UNKNOWN")
    finished = registry.request("PUT", with_query(location, digest=sha256_digest(data)))
    assert_error(finished, 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(
        registry.request("GET", f"/v2/{repository}/blobs/{sha256_digest(data)}"),
        404,
        "BLOB_UNKNOWN",
    )


def send_cut_patch(
    server: BerthServer,
    login: RegistryLogin,
    location: str,
    first: int,
    length: int,
    sent: bytes,
) -> bytes:
    """Send a PATCH that announces `length` bytes but carries only `sent`, then close the
    sending side as a dropped connection would, and return what the server replied.

    Reading until the server closes means it has finished with the request before the
    test requests the upload's status.
    """
    head = (
        f"PATCH {location} HTTP/1.1\r\n"
        f"Host: {server.host_port}\r\n"
        f"Authorization: {login.basic_authorization}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Range: {first}-{first + length - 1}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    received = bytearray()
    with socket.create_connection(("127.0.0.1", server.port), RAW_SOCKET_TIMEOUT_SECONDS) as conn:
        conn.sendall(head.encode() + sent)
        conn.shutdown(socket.SHUT_WR)
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return bytes(received)


def test_upload_resumes_after_cut(
    berth: BerthServer, registry: RegistryHttp, oci_login: RegistryLogin, repository: str
) -> None:
    data = os.urandom(300 * 1024)
    chunk_size = 100 * 1024
    location = start_upload(registry, repository)
    first = patch_chunk(registry, location, 0, data[:chunk_size])
    assert first.status == 202, first.describe()
    location = upload_location(first)

    sent = data[chunk_size : chunk_size + 30_000]
    reply = send_cut_patch(berth, oci_login, location, chunk_size, chunk_size, sent)
    # The server may reply to the incomplete request with an error or just close.
    if reply:
        assert reply.startswith(b"HTTP/1.1 4"), reply[:500]

    status = registry.request("GET", location)
    assert status.status == 204, status.describe()
    held_range = status.header("Range") or ""
    assert held_range.startswith("0-"), status.describe()
    held_bytes = int(held_range.removeprefix("0-")) + 1
    # The server may keep the bytes that arrived before the cut or drop the whole chunk,
    # but it must not report bytes it never received.
    assert chunk_size <= held_bytes <= chunk_size + len(sent), status.describe()

    resumed = patch_chunk(
        registry, upload_location(status), held_bytes, data[held_bytes : 2 * chunk_size]
    )
    assert resumed.status == 202, resumed.describe()
    assert resumed.header("Range") == f"0-{2 * chunk_size - 1}"
    finished = registry.request(
        "PUT",
        with_query(upload_location(resumed), digest=sha256_digest(data)),
        body=data[2 * chunk_size :],
        headers={"Content-Type": "application/octet-stream"},
    )
    assert finished.status == 201, finished.describe()
    downloaded = registry.request("GET", f"/v2/{repository}/blobs/{sha256_digest(data)}")
    assert downloaded.body == data


def test_blob_with_wrong_digest_is_not_stored(registry: RegistryHttp, repository: str) -> None:
    data = os.urandom(4096)
    claimed = sha256_digest(data + b"other")
    actual = sha256_digest(data)

    started = registry.request("POST", f"/v2/{repository}/blobs/uploads/")
    assert started.status == 202, started.describe()
    monolithic = registry.request(
        "PUT",
        with_query(upload_location(started), digest=claimed),
        body=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_error(monolithic, 400, "DIGEST_INVALID")

    location = start_upload(registry, repository)
    patched = patch_chunk(registry, location, 0, data)
    assert patched.status == 202, patched.describe()
    chunked = registry.request("PUT", with_query(upload_location(patched), digest=claimed))
    assert_error(chunked, 400, "DIGEST_INVALID")

    single_post = registry.request(
        "POST",
        with_query(f"/v2/{repository}/blobs/uploads/", digest=claimed),
        body=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_error(single_post, 400, "DIGEST_INVALID")

    for digest in (claimed, actual):
        missing = registry.request("GET", f"/v2/{repository}/blobs/{digest}")
        assert_error(missing, 404, "BLOB_UNKNOWN")


def test_manifest_with_mismatched_digest_is_rejected(
    registry: RegistryHttp, ecr_api: ECRClient, repository: str
) -> None:
    image = small_image("mismatched-manifest")
    for blob in image.blobs:
        registry.push_blob(repository, blob)
    other_digest = sha256_digest(image.manifest + b"\n")

    response = registry.put_manifest(repository, other_digest, image.manifest, OCI_MANIFEST)

    assert_error(response, 400, "DIGEST_INVALID")
    for reference in (other_digest, image.digest):
        missing = registry.request("GET", f"/v2/{repository}/manifests/{reference}")
        assert_error(missing, 404, "MANIFEST_UNKNOWN")
    assert list_image_ids(ecr_api, repository) == []


def test_manifest_with_missing_references_is_rejected(
    registry: RegistryHttp, repository: str
) -> None:
    present = small_image("index-child-present")
    absent = small_image("index-child-absent", architecture="arm64")
    registry.push_image(repository, present, present.digest)
    index = build_index([present, absent])

    response = registry.put_manifest(repository, "multi", index.manifest, OCI_INDEX)

    entry = assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert absent.digest in entry["message"] + str(entry.get("detail", "")), response.describe()
    assert_error(
        registry.request("GET", f"/v2/{repository}/manifests/multi"), 404, "MANIFEST_UNKNOWN"
    )

    # An image manifest whose layer was never uploaded is rejected the same way.
    registry.push_blob(repository, absent.config)
    registry.push_blob(repository, absent.layers[0].blob)
    missing_layer = absent.layers[1].blob.digest
    response = registry.put_manifest(repository, "no-layer", absent.manifest, OCI_MANIFEST)
    entry = assert_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert missing_layer in entry["message"] + str(entry.get("detail", "")), response.describe()


def test_concurrent_uploads_of_same_blob(
    berth: BerthServer, registry: RegistryHttp, repository: str
) -> None:
    data = os.urandom(2 * 1024 * 1024)
    digest = sha256_digest(data)
    both_started = threading.Barrier(2, timeout=RAW_SOCKET_TIMEOUT_SECONDS)
    both_sent = threading.Barrier(2, timeout=RAW_SOCKET_TIMEOUT_SECONDS)

    def upload() -> HttpResponse:
        try:
            location = start_upload(registry, repository)
            both_started.wait()
            patched = registry.request(
                "PATCH", location, body=data, headers={"Content-Type": "application/octet-stream"}
            )
            assert patched.status == 202, patched.describe()
            both_sent.wait()
            return registry.request("PUT", with_query(upload_location(patched), digest=digest))
        except BaseException:
            # Release the other thread, which would otherwise wait at a barrier.
            both_started.abort()
            both_sent.abort()
            raise

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [future.result() for future in [pool.submit(upload), pool.submit(upload)]]

    for finished in results:
        assert finished.status == 201, finished.describe()
        assert finished.header("Docker-Content-Digest") == digest
    downloaded = registry.request("GET", f"/v2/{repository}/blobs/{digest}")
    assert downloaded.status == 200, downloaded.describe()
    assert downloaded.body == data
    assert files_with_content(berth.data_dir, data) == 1


def files_with_content(directory: Path, data: bytes) -> int:
    """Count the files under `directory` whose bytes are exactly `data`."""
    count = 0
    for path in directory.rglob("*"):
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            count += 1
    return count


def test_blob_mount_from_other_repository(
    registry: RegistryHttp, ecr_api: ECRClient, repository: str
) -> None:
    blob = Blob(os.urandom(2048))
    registry.push_blob(repository, blob)
    target = create_repository(ecr_api, unique_name("http/mount-target"))

    mounted = registry.request(
        "POST",
        with_query(f"/v2/{target}/blobs/uploads/", mount=blob.digest, **{"from": repository}),
    )
    assert mounted.status == 201, mounted.describe()
    assert mounted.header("Location") == f"/v2/{target}/blobs/{blob.digest}"
    assert mounted.header("Docker-Content-Digest") == blob.digest
    assert registry.request("GET", f"/v2/{target}/blobs/{blob.digest}").body == blob.data

    # A blob the source does not have cannot be mounted, so the spec falls back to an upload.
    fallback = registry.request(
        "POST",
        with_query(f"/v2/{target}/blobs/uploads/", mount=ABSENT_DIGEST, **{"from": repository}),
    )
    assert fallback.status == 202, fallback.describe()
    assert fallback.header("Location"), fallback.describe()


# Tag immutability over the OCI API


def test_immutable_tag_rejects_new_manifest(registry: RegistryHttp, ecr_api: ECRClient) -> None:
    repository = create_repository(ecr_api, unique_name("http/immutable"), immutable=True)
    first = small_image("immutable-first")
    second = small_image("immutable-second")
    registry.push_image(repository, first, "v1")
    for blob in second.blobs:
        registry.push_blob(repository, blob)

    overwrite = registry.put_manifest(repository, "v1", second.manifest, OCI_MANIFEST)

    expected = (
        f"The image tag 'v1' already exists in the '{repository}' repository and cannot be "
        "overwritten because the repository is immutable."
    )
    assert_error(overwrite, 400, "TAG_INVALID", expected)
    served = registry.request("GET", f"/v2/{repository}/manifests/v1")
    assert served.body == first.manifest
    # ECR also rejects pushing the same manifest to the same tag again here.
    again = registry.put_manifest(repository, "v1", first.manifest, OCI_MANIFEST)
    entry = assert_error(again, 400, "TAG_INVALID")
    assert "'v1'" in entry["message"], again.describe()


def test_mutable_tag_accepts_same_manifest_again(registry: RegistryHttp, repository: str) -> None:
    image = small_image("repush")
    registry.push_image(repository, image, "v1")

    again = registry.put_manifest(repository, "v1", image.manifest, OCI_MANIFEST)

    assert again.status == 201, again.describe()
    assert again.header("Docker-Content-Digest") == image.digest


def test_delete_manifest_removes_image_from_ecr(
    registry: RegistryHttp, ecr_api: ECRClient, repository: str
) -> None:
    image = small_image("delete")
    registry.push_image(repository, image, "v1")
    assert list_image_ids(ecr_api, repository) == [(image.digest, "v1")]

    deleted = registry.request("DELETE", f"/v2/{repository}/manifests/{image.digest}")

    assert deleted.status == 202, deleted.describe()
    assert list_image_ids(ecr_api, repository) == []
    missing = registry.request("GET", f"/v2/{repository}/manifests/v1")
    assert_error(missing, 404, "MANIFEST_UNKNOWN")


# Listings


def follow_pages(registry: RegistryHttp, path: str, key: str) -> list[list[str]]:
    """GET `path` and every page its Link headers name, and return each page's entries."""
    pages: list[list[str]] = []
    next_path: str | None = path
    while next_path is not None:
        response = registry.request("GET", next_path)
        assert response.status == 200, response.describe()
        entries = response.json()[key]
        pages.append(entries)
        link = response.header("Link")
        if link is None:
            next_path = None
            continue
        next_path = parse_link(link)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(next_path).query)
        assert query.get("last") == [entries[-1]], response.describe()
        assert len(pages) <= 20, f"the Link headers of {path} do not end"
    return pages


def test_tag_list_pages(registry: RegistryHttp, repository: str) -> None:
    path = f"/v2/{repository}/tags/list"

    empty = registry.request("GET", path)
    assert empty.status == 200, empty.describe()
    assert empty.json() == {"name": repository, "tags": []}
    image = small_image("tags")
    registry.push_image(repository, image, "latest")
    tags = ["latest", "Z9", "a", "v1.0", "v1.10", "v1.2", "v2"]
    for tag in tags[1:]:
        pushed = registry.put_manifest(repository, tag, image.manifest, OCI_MANIFEST)
        assert pushed.status == 201, pushed.describe()
    ordered = sorted(tags)

    whole = registry.request("GET", path)
    assert whole.status == 200, whole.describe()
    assert whole.json() == {"name": repository, "tags": ordered}
    assert whole.header("Link") is None

    first_page = registry.request("GET", f"{path}?n=3")
    assert first_page.header("Link") is not None, first_page.describe()
    next_path = parse_link(first_page.header("Link") or "")
    assert urllib.parse.urlsplit(next_path).path == path
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(next_path).query) == {
        "n": ["3"],
        "last": [ordered[2]],
    }
    pages = follow_pages(registry, f"{path}?n=3", "tags")
    assert pages == [ordered[0:3], ordered[3:6], ordered[6:7]]

    after = registry.request("GET", with_query(path, last=ordered[3]))
    assert after.json()["tags"] == ordered[4:]
    too_many = registry.request("GET", f"{path}?n=10000")
    assert_error(
        too_many,
        400,
        "UNSUPPORTED",
        "Invalid parameter at 'maxResults' failed to satisfy constraint: "
        "'Member must have value less than or equal to 1000'",
    )


def test_catalog_pages(start_berth: ServerFactory) -> None:
    server = start_berth()
    ecr = ecr_api_client(server)
    names = ["alpha", "beta/one", "beta/two", "delta-x", "gamma"]
    for name in names:
        create_repository(ecr, name)
    registry = RegistryHttp(server, registry_login(server, ecr))

    whole = registry.request("GET", "/v2/_catalog")
    assert whole.status == 200, whole.describe()
    assert whole.json() == {"repositories": names}
    assert whole.header("Link") is None

    pages = follow_pages(registry, "/v2/_catalog?n=2", "repositories")
    assert pages == [names[0:2], names[2:4], names[4:5]]
    after = registry.request("GET", with_query("/v2/_catalog", n="2", last="beta/two"))
    assert after.json() == {"repositories": ["delta-x", "gamma"]}


# Referrers


def push_artifact(registry: RegistryHttp, repository: str, manifest: bytes) -> HttpResponse:
    digest = sha256_digest(manifest)
    pushed = registry.put_manifest(repository, digest, manifest, OCI_MANIFEST)
    assert pushed.status == 201, pushed.describe()
    assert pushed.header("Docker-Content-Digest") == digest
    return pushed


def referrers(
    registry: RegistryHttp, repository: str, subject: str, query: str = ""
) -> tuple[HttpResponse, list[dict[str, Any]]]:
    """GET the referrers index of `subject` and return the response and its descriptors
    sorted by digest."""
    response = registry.request("GET", f"/v2/{repository}/referrers/{subject}{query}")
    assert response.status == 200, response.describe()
    assert response.header("Content-Type") == OCI_INDEX
    index: dict[str, Any] = response.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    return response, sorted(index["manifests"], key=lambda entry: entry["digest"])


def test_referrers_list_and_filter(registry: RegistryHttp, repository: str) -> None:
    subject = small_image("referrers-subject")
    registry.push_image(repository, subject, "v1")
    registry.push_blob(repository, EMPTY_JSON)
    sbom_config = Blob(b'{"format":"spdx"}')
    sbom_layer = Blob(os.urandom(512))
    registry.push_blob(repository, sbom_config)
    registry.push_blob(repository, sbom_layer)
    signature_type = "application/vnd.example.signature.v1"
    sbom_type = "application/vnd.example.sbom.config.v1+json"
    signature = artifact_manifest(
        subject.descriptor(),
        artifact_type=signature_type,
        annotations={"org.example.kind": "signature"},
    )
    sbom = artifact_manifest(
        subject.descriptor(),
        artifact_type=None,
        config_media_type=sbom_type,
        config=sbom_config,
        layers=[sbom_layer],
    )

    for manifest in (signature, sbom):
        pushed = push_artifact(registry, repository, manifest)
        assert pushed.header("OCI-Subject") == subject.digest, pushed.describe()

    expected = sorted(
        [
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256_digest(signature),
                "size": len(signature),
                "artifactType": signature_type,
                "annotations": {"org.example.kind": "signature"},
            },
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256_digest(sbom),
                "size": len(sbom),
                "artifactType": sbom_type,
            },
        ],
        key=lambda entry: str(entry["digest"]),
    )
    response, listed = referrers(registry, repository, subject.digest)
    assert listed == expected
    assert response.header("OCI-Filters-Applied") is None

    response, filtered = referrers(
        registry, repository, subject.digest, f"?artifactType={urllib.parse.quote(signature_type)}"
    )
    assert filtered == [entry for entry in expected if entry["artifactType"] == signature_type]
    assert response.header("OCI-Filters-Applied") == "artifactType"
    response, none = referrers(registry, repository, subject.digest, "?artifactType=text/plain")
    assert none == []
    assert response.header("OCI-Filters-Applied") == "artifactType"

    _, unrelated = referrers(registry, repository, ABSENT_DIGEST)
    assert unrelated == []


def test_referrer_before_its_subject(registry: RegistryHttp, repository: str) -> None:
    subject = small_image("late-subject")
    registry.push_blob(repository, EMPTY_JSON)
    note = artifact_manifest(subject.descriptor(), artifact_type="application/vnd.example.note")

    pushed = push_artifact(registry, repository, note)

    assert pushed.header("OCI-Subject") == subject.digest, pushed.describe()
    expected = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": sha256_digest(note),
            "size": len(note),
            "artifactType": "application/vnd.example.note",
        }
    ]
    assert referrers(registry, repository, subject.digest)[1] == expected
    registry.push_image(repository, subject, "v1")
    assert referrers(registry, repository, subject.digest)[1] == expected
    served = registry.request("GET", f"/v2/{repository}/manifests/{sha256_digest(note)}")
    assert served.body == note
