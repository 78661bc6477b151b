"""Clients of berth's OCI Distribution API for the tests: raw HTTP, skopeo and podman.

Every client logs in as OCI clients log in to ECR: user `AWS` and the password that
GetAuthorizationToken returns.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import subprocess
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from mypy_boto3_ecr import ECRClient
from mypy_boto3_ecr.type_defs import ImageDetailTypeDef

from berth_server import REGION, BerthServer
from ecr_support import Blob, decode_authorization_token, sha256_digest
from oci_images import Image

HTTP_TIMEOUT_SECONDS = 60
TOOL_TIMEOUT_SECONDS = 240
BODY_CHARS_IN_MESSAGES = 2000


# ECR API


def ecr_api_client(server: BerthServer) -> ECRClient:
    """Create a boto3 ECR client with only an endpoint, a region and the server's keys."""
    return boto3.client(
        "ecr",
        endpoint_url=server.endpoint_url,
        region_name=REGION,
        aws_access_key_id=server.credentials.access_key_id,
        aws_secret_access_key=server.credentials.secret_access_key,
    )


@dataclass(frozen=True)
class RegistryLogin:
    """Where an OCI client reaches berth and the credentials it logs in with."""

    host: str
    user: str
    password: str

    @property
    def basic_authorization(self) -> str:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return f"Basic {token}"

    @property
    def creds(self) -> str:
        """Return `user:password`, the form of skopeo's --src-creds and --dest-creds."""
        return f"{self.user}:{self.password}"


def registry_login(server: BerthServer, ecr: ECRClient) -> RegistryLogin:
    """Get an authorization token through the ECR API and decode it into a login."""
    data = ecr.get_authorization_token()["authorizationData"]
    assert len(data) == 1, f"GetAuthorizationToken returned {len(data)} entries"
    user, password = decode_authorization_token(data[0]["authorizationToken"])
    assert user == "AWS"
    return RegistryLogin(server.host_port, user, password)


def create_repository(ecr: ECRClient, name: str, *, immutable: bool = False) -> str:
    if immutable:
        ecr.create_repository(repositoryName=name, imageTagMutability="IMMUTABLE")
    else:
        ecr.create_repository(repositoryName=name, imageTagMutability="MUTABLE")
    return name


def describe_image(ecr: ECRClient, repository: str, *, tag: str) -> ImageDetailTypeDef:
    details = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    assert len(details["imageDetails"]) == 1, details
    return details["imageDetails"][0]


def batch_get_manifest(ecr: ECRClient, repository: str, digest: str) -> tuple[bytes, str]:
    """Return the manifest bytes and media type that BatchGetImage returns for a digest."""
    response = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    assert response["failures"] == [], response["failures"]
    assert len(response["images"]) == 1
    image = response["images"][0]
    return image["imageManifest"].encode(), image["imageManifestMediaType"]


def list_image_ids(ecr: ECRClient, repository: str) -> list[tuple[str, str]]:
    """Return the (digest, tag) pairs that ListImages returns on all its pages, sorted.

    An untagged image's pair has the tag "". Duplicates are kept, so a test can detect them.
    """
    pairs: list[tuple[str, str]] = []
    paginator = ecr.get_paginator("list_images")
    for page in paginator.paginate(repositoryName=repository):
        for image_id in page["imageIds"]:
            pairs.append((image_id["imageDigest"], image_id.get("imageTag", "")))
    return sorted(pairs)


def upload_blob_with_ecr(ecr: ECRClient, repository: str, blob: Blob) -> None:
    """Upload a blob with InitiateLayerUpload, UploadLayerPart and CompleteLayerUpload."""
    initiated = ecr.initiate_layer_upload(repositoryName=repository)
    upload_id = initiated["uploadId"]
    part_size = initiated["partSize"]
    for first_byte in range(0, blob.size, part_size):
        part = blob.data[first_byte : first_byte + part_size]
        received = ecr.upload_layer_part(
            repositoryName=repository,
            uploadId=upload_id,
            partFirstByte=first_byte,
            partLastByte=first_byte + len(part) - 1,
            layerPartBlob=part,
        )
        assert received["lastByteReceived"] == first_byte + len(part) - 1
    completed = ecr.complete_layer_upload(
        repositoryName=repository, uploadId=upload_id, layerDigests=[blob.digest]
    )
    assert completed["layerDigest"] == blob.digest


def put_image_with_ecr(ecr: ECRClient, repository: str, image: Image, tag: str) -> None:
    """Upload an image's blobs and PutImage its manifest through the ECR API."""
    for blob in image.blobs:
        upload_blob_with_ecr(ecr, repository, blob)
    response = ecr.put_image(
        repositoryName=repository,
        imageManifest=image.manifest.decode(),
        imageManifestMediaType=image.media_type,
        imageTag=tag,
    )
    assert response["image"]["imageId"]["imageDigest"] == image.digest


# Raw HTTP


@dataclass(frozen=True)
class HttpResponse:
    """A response, with the request that produced it for failure messages."""

    request: str
    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body)

    def describe(self) -> str:
        headers = "\n".join(f"  {name}: {value}" for name, value in sorted(self.headers.items()))
        body = self.body[:BODY_CHARS_IN_MESSAGES].decode(errors="replace")
        return f"{self.request}\n-> {self.status}\n{headers}\n  body: {body!r}"


@dataclass(frozen=True)
class RegistryHttp:
    """Sends requests to berth's /v2/ API over http.client, logged in or not."""

    server: BerthServer
    login: RegistryLogin | None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Send one request on a new connection and read the whole response."""
        all_headers: dict[str, str] = {}
        if self.login is not None:
            all_headers["Authorization"] = self.login.basic_authorization
        all_headers.update(headers or {})
        if body is not None:
            all_headers.setdefault("Content-Length", str(len(body)))
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.server.port, timeout=HTTP_TIMEOUT_SECONDS
        )
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            data = response.read()
            received = {name.lower(): value for name, value in response.getheaders()}
            return HttpResponse(f"{method} {path}", response.status, received, data)
        finally:
            connection.close()

    def upload_blob(self, repository: str, data: bytes) -> HttpResponse:
        """Upload a blob with POST then a monolithic PUT, and return the PUT's response."""
        started = self.request("POST", f"/v2/{repository}/blobs/uploads/")
        assert started.status == 202, started.describe()
        return self.request(
            "PUT",
            with_query(upload_location(started), digest=sha256_digest(data)),
            body=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    def push_blob(self, repository: str, blob: Blob) -> None:
        finished = self.upload_blob(repository, blob.data)
        assert finished.status == 201, finished.describe()
        assert finished.header("Docker-Content-Digest") == blob.digest, finished.describe()

    def put_manifest(
        self, repository: str, reference: str, manifest: bytes, media_type: str
    ) -> HttpResponse:
        return self.request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            body=manifest,
            headers={"Content-Type": media_type},
        )

    def push_image(self, repository: str, image: Image, reference: str) -> None:
        """Push an image's blobs and manifest and check the digest berth reports."""
        for blob in image.blobs:
            self.push_blob(repository, blob)
        pushed = self.put_manifest(repository, reference, image.manifest, image.media_type)
        assert pushed.status == 201, pushed.describe()
        assert pushed.header("Docker-Content-Digest") == image.digest, pushed.describe()


def upload_location(response: HttpResponse) -> str:
    """Return the upload session path from a Location header, relative or absolute."""
    location = response.header("Location")
    assert location, f"no Location header\n{response.describe()}"
    return path_and_query(location)


def with_query(path: str, **params: str) -> str:
    """Append query parameters to a path that may already have a query."""
    separator = "&" if "?" in path else "?"
    return path + separator + urllib.parse.urlencode(params)


def assert_error(
    response: HttpResponse, status: int, code: str | None, message: str | None = None
) -> dict[str, Any]:
    """Check a distribution-spec error response and return its first error entry.

    The body must be `{"errors":[{"code":..., "message":..., "detail":...}]}`, where
    `detail` is optional. `code` and `message`, when given, must match the first entry.
    """
    described = response.describe()
    assert response.status == status, described
    content_type = response.header("Content-Type") or ""
    assert content_type.split(";")[0].strip() == "application/json", described
    body = response.json()
    assert isinstance(body, dict), described
    assert set(body) == {"errors"}, described
    errors = body["errors"]
    assert isinstance(errors, list), described
    assert len(errors) >= 1, described
    for entry in errors:
        assert isinstance(entry, dict), described
        assert {"code", "message"} <= set(entry) <= {"code", "message", "detail"}, described
        assert isinstance(entry["code"], str), described
        assert isinstance(entry["message"], str), described
        assert entry["message"], described
    first: dict[str, Any] = errors[0]
    if code is not None:
        assert first["code"] == code, described
    if message is not None:
        assert first["message"] == message, described
    return first


def parse_link(link: str) -> str:
    """Return the path and query of a `Link: <url>; rel="next"` header."""
    target, _, parameters = link.partition(";")
    target = target.strip()
    assert target.startswith("<"), link
    assert target.endswith(">"), link
    assert parameters.replace(" ", "") == 'rel="next"', link
    return path_and_query(target[1:-1])


def path_and_query(url: str) -> str:
    """Return the path and query of a URL, dropping its scheme and host if it has them."""
    parsed = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(("", "", parsed.path, parsed.query, ""))


# Command-line clients


def require_tool(name: str, package: str) -> str:
    """Return the path of a command, or fail the test naming the Debian package.

    scripts/test installs these packages, so a missing command is a broken setup and
    the test fails rather than being skipped.
    """
    path = shutil.which(name)
    assert path is not None, (
        f"{name} is not installed; scripts/test installs it from Debian's package "
        f"{package} (apt-get install {package})"
    )
    return path


def run_tool(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = TOOL_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command and return its result, whatever its exit status."""
    return subprocess.run(
        list(command),
        env=dict(env) if env is not None else None,
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def describe_run(result: subprocess.CompletedProcess[bytes]) -> str:
    command = " ".join(str(part) for part in result.args)
    stdout = result.stdout.decode(errors="replace")[-BODY_CHARS_IN_MESSAGES:]
    stderr = result.stderr.decode(errors="replace")[-BODY_CHARS_IN_MESSAGES:]
    return f"{command}\nexit status {result.returncode}\nstdout:\n{stdout}\nstderr:\n{stderr}"


def run_ok(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = TOOL_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command and fail the test with its output unless it exits with 0."""
    result = run_tool(command, env=env, stdin=stdin, timeout=timeout)
    assert result.returncode == 0, describe_run(result)
    return result


def isolated_environment(work_dir: Path, insecure_hosts: Sequence[str] = ()) -> dict[str, str]:
    """Return an environment that keeps the machine's container configuration out.

    Credentials go to an auth file in `work_dir`, and a registries.conf there lists
    `insecure_hosts`, berth's plain-HTTP addresses, as insecure registries.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    auth_file = work_dir / "auth.json"
    if not auth_file.exists():
        auth_file.write_text("{}")
    registries = work_dir / "registries.conf"
    registries.write_text(
        "".join(
            f'[[registry]]\nlocation = "{host}"\ninsecure = true\n\n' for host in insecure_hosts
        )
    )
    env = dict(os.environ)
    env["REGISTRY_AUTH_FILE"] = str(auth_file)
    env["CONTAINERS_REGISTRIES_CONF"] = str(registries)
    env["XDG_CONFIG_HOME"] = str(work_dir / "xdg-config")
    env["XDG_RUNTIME_DIR"] = str(work_dir / "xdg-runtime")
    (work_dir / "xdg-runtime").mkdir(exist_ok=True)
    return env


@dataclass(frozen=True)
class Skopeo:
    """Runs skopeo against berth with plain HTTP and explicit credentials."""

    login: RegistryLogin
    work_dir: Path

    def command(self, *args: str) -> list[str]:
        # The test images are unsigned, so no signature policy applies to them.
        return [require_tool("skopeo", "skopeo"), "--insecure-policy", *args]

    def env(self) -> dict[str, str]:
        return isolated_environment(self.work_dir)

    def reference(self, repository: str, reference: str) -> str:
        separator = "@" if reference.startswith("sha256:") else ":"
        return f"docker://{self.login.host}/{repository}{separator}{reference}"

    def copy(
        self, source: str, destination: str, *extra: str
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `skopeo copy --preserve-digests` and return its result, whatever its status."""
        args = ["copy", "--preserve-digests", *extra]
        if source.startswith("docker://"):
            args += ["--src-tls-verify=false", "--src-creds", self.login.creds]
        if destination.startswith("docker://"):
            args += ["--dest-tls-verify=false", "--dest-creds", self.login.creds]
        return run_tool(self.command(*args, source, destination), env=self.env())

    def push_layout(
        self, layout: Path, tag: str, repository: str, destination_tag: str, *extra: str
    ) -> None:
        result = self.copy(
            f"oci:{layout}:{tag}", self.reference(repository, destination_tag), *extra
        )
        assert result.returncode == 0, describe_run(result)

    def pull(self, repository: str, reference: str, destination: str, *extra: str) -> None:
        result = self.copy(self.reference(repository, reference), destination, *extra)
        assert result.returncode == 0, describe_run(result)

    def inspect_raw(self, repository: str, reference: str) -> bytes:
        result = run_ok(
            self.command(
                "inspect",
                "--raw",
                "--tls-verify=false",
                "--creds",
                self.login.creds,
                self.reference(repository, reference),
            ),
            env=self.env(),
        )
        return result.stdout

    def inspect(self, repository: str, reference: str) -> dict[str, Any]:
        result = run_ok(
            self.command(
                "inspect",
                "--tls-verify=false",
                "--creds",
                self.login.creds,
                self.reference(repository, reference),
            ),
            env=self.env(),
        )
        inspected: dict[str, Any] = json.loads(result.stdout)
        return inspected


@dataclass(frozen=True)
class Podman:
    """Runs podman with its own vfs storage, so no daemon or mount is needed and nothing
    touches the machine's image store.

    `run_dir` holds podman's runtime state; podman rejects a --runroot path longer than
    50 characters, so it must be short.
    """

    work_dir: Path
    run_dir: Path
    insecure_hosts: tuple[str, ...]

    def global_options(self) -> list[str]:
        return [
            "--root",
            str(self.work_dir / "storage"),
            "--runroot",
            str(self.run_dir / "run"),
            "--tmpdir",
            str(self.run_dir / "tmp"),
            "--storage-driver",
            "vfs",
            "--events-backend",
            "none",
            "--cgroup-manager",
            "cgroupfs",
        ]

    def command(self, *args: str) -> list[str]:
        return [require_tool("podman", "podman"), *self.global_options(), *args]

    def env(self) -> dict[str, str]:
        return isolated_environment(self.work_dir / "config", self.insecure_hosts)

    def run(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return run_tool(self.command(*args), env=self.env(), stdin=stdin)

    def run_ok(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, describe_run(result)
        return result

    def pull_quiet(self, reference: str) -> str:
        """Pull an image and return its id, which `pull --quiet` prints as its last line."""
        output = self.run_ok("pull", "--quiet", reference).stdout.decode()
        lines = output.split()
        assert lines, f"podman pull --quiet {reference} printed no image id"
        return lines[-1]

    def inspect(self, reference: str) -> dict[str, Any]:
        output = self.run_ok("image", "inspect", reference).stdout
        inspected = json.loads(output)
        assert isinstance(inspected, list) and len(inspected) == 1, output
        entry: dict[str, Any] = inspected[0]
        return entry
