"""The docker CLI pushes to and pulls from berth through podman's Docker-compatible API.

No Docker engine runs on the test machines, so a fixture starts
`podman system service` on a Unix socket in a temporary directory and the docker CLI
talks to it through DOCKER_HOST. The pushes and pulls to berth are then done by podman,
driven by docker's requests.

Where the docker CLI comes from: the machine image has a docker client at
/usr/local/bin/docker (28.2.2). On a fresh Debian 12 machine, Debian's package docker.io
(20.10.24) brings the CLI together with dockerd, because bookworm has no separate
docker-cli package. scripts/test installs docker.io when `docker` is missing, so a missing command
fails these tests instead of skipping them.

The tests address berth as `localhost:<port>`, not `127.0.0.1:<port>`. With podman 4.3.1,
`docker login` to 127.0.0.1:<port> tried HTTPS and failed, although registries.conf marked
that address insecure, while a login to localhost:<port> used plain HTTP. registries.conf
marks the localhost address insecure for the pushes and pulls.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mypy_boto3_ecr import ECRClient

from berth_server import BerthServer
from ecr_support import sha256_digest, unique_name
from oci_images import small_image, write_oci_layout
from oci_support import (
    Podman,
    RegistryHttp,
    RegistryLogin,
    create_repository,
    describe_image,
    describe_run,
    require_tool,
    run_tool,
)

SERVICE_READY_TIMEOUT_SECONDS = 30.0
SERVICE_STOP_TIMEOUT_SECONDS = 10.0
PUSHED_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: \d+")


@dataclass(frozen=True)
class DockerCli:
    """The docker CLI with its own config directory, talking to a podman service."""

    socket_path: Path
    config_dir: Path
    podman: Podman

    def env(self) -> dict[str, str]:
        env = self.podman.env()
        env["DOCKER_HOST"] = f"unix://{self.socket_path}"
        env["DOCKER_CONFIG"] = str(self.config_dir)
        return env

    def run(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return run_tool([require_tool("docker", "docker.io"), *args], env=self.env(), stdin=stdin)

    def run_ok(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, describe_run(result)
        return result

    def inspect_format(self, reference: str, template: str) -> str:
        output = self.run_ok("image", "inspect", "--format", template, reference).stdout
        return output.decode().strip()


def service_answers(socket_path: Path) -> bool:
    """Return true when GET /_ping on the socket returns 200."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(2)
            connection.connect(str(socket_path))
            connection.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
            return connection.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@pytest.fixture
def docker_cli(berth: BerthServer, tmp_path: Path, short_tmp_path: Path) -> Iterator[DockerCli]:
    """Start `podman system service` on a socket of this test and return a docker CLI."""
    require_tool("docker", "docker.io")
    localhost = f"localhost:{berth.port}"
    podman = Podman(tmp_path / "podman", short_tmp_path, (localhost, berth.host_port))
    socket_path = short_tmp_path / "podman.sock"
    log_path = tmp_path / "podman-service.log"
    command = podman.command("system", "service", "--time=0", f"unix://{socket_path}")
    with log_path.open("wb") as log:
        service = subprocess.Popen(
            command, env=podman.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    try:
        # Polling is only for readiness: no test asserts anything about timing.
        deadline = time.monotonic() + SERVICE_READY_TIMEOUT_SECONDS
        while not service_answers(socket_path):
            status = service.poll()
            assert status is None, (
                f"podman system service exited with {status}:\n{log_path.read_text()}"
            )
            assert time.monotonic() < deadline, (
                f"podman system service did not answer on {socket_path} within "
                f"{SERVICE_READY_TIMEOUT_SECONDS:.0f} s:\n{log_path.read_text()}"
            )
            time.sleep(0.1)
        yield DockerCli(socket_path, tmp_path / "docker-config", podman)
    finally:
        service.terminate()
        try:
            service.wait(timeout=SERVICE_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()


def test_docker_login_tag_push_and_pull(
    berth: BerthServer,
    ecr_api: ECRClient,
    oci_login: RegistryLogin,
    docker_cli: DockerCli,
    tmp_path: Path,
) -> None:
    repository = create_repository(ecr_api, unique_name("docker/app"))
    image = small_image("docker-cli", random_bytes=192 * 1024)
    write_oci_layout(tmp_path / "layout", {"v1": image})
    image_id = docker_cli.podman.pull_quiet(f"oci:{tmp_path / 'layout'}:v1")
    registry = f"localhost:{berth.port}"
    remote = f"{registry}/{repository}:v1"

    login = docker_cli.run(
        "login",
        "--username",
        oci_login.user,
        "--password-stdin",
        registry,
        stdin=oci_login.password.encode(),
    )
    assert login.returncode == 0, describe_run(login)
    assert b"Login Succeeded" in login.stdout, describe_run(login)
    docker_cli.run_ok("tag", image_id, remote)
    pushed = docker_cli.run_ok("push", remote)
    match = PUSHED_DIGEST.search(pushed.stdout.decode())
    assert match is not None, describe_run(pushed)
    pushed_digest = match.group(1)

    served = RegistryHttp(berth, oci_login).request("GET", f"/v2/{repository}/manifests/v1")
    assert served.status == 200, served.describe()
    # The `size` in podman 4.3's push report is not the manifest length (705 for a
    # 558-byte manifest in one run), so only the digest is compared.
    assert sha256_digest(served.body) == pushed_digest
    detail = describe_image(ecr_api, repository, tag="v1")
    assert detail["imageDigest"] == pushed_digest
    pushed_layers = json.loads(served.body)["layers"]
    assert detail["imageSizeInBytes"] == sum(layer["size"] for layer in pushed_layers)

    docker_cli.run_ok("rmi", "--force", image_id)
    docker_cli.run_ok("pull", remote)
    repo_digests = docker_cli.inspect_format(remote, "{{json .RepoDigests}}")
    assert f'"{registry}/{repository}@{pushed_digest}"' in repo_digests
    layers = docker_cli.inspect_format(remote, "{{json .RootFS.Layers}}")
    assert layers == "[" + ",".join(f'"{diff_id}"' for diff_id in image.diff_ids) + "]"
    assert docker_cli.inspect_format(remote, "{{.Id}}") == image.config.digest


def test_docker_login_rejects_wrong_password(berth: BerthServer, docker_cli: DockerCli) -> None:
    login = docker_cli.run(
        "login",
        "--username",
        "AWS",
        "--password-stdin",
        f"localhost:{berth.port}",
        stdin=b"not-a-token",
    )

    assert login.returncode != 0, describe_run(login)
    assert b"Login Succeeded" not in login.stdout, describe_run(login)
