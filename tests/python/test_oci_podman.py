"""podman (Debian's package, no daemon) logs in to berth, pushes and pulls.

Each test gives podman its own vfs storage in a temporary directory, so nothing needs
overlay mounts or the machine's image store.
"""

from __future__ import annotations

import json
from pathlib import Path

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
)


def test_podman_login_push_and_pull(
    berth: BerthServer,
    ecr_api: ECRClient,
    oci_login: RegistryLogin,
    tmp_path: Path,
    short_tmp_path: Path,
) -> None:
    repository = create_repository(ecr_api, unique_name("podman/app"))
    image = small_image("podman", random_bytes=256 * 1024)
    write_oci_layout(tmp_path / "layout", {"v1": image})
    podman = Podman(tmp_path / "podman", short_tmp_path, (oci_login.host,))
    remote = f"{oci_login.host}/{repository}:v1"

    image_id = podman.pull_quiet(f"oci:{tmp_path / 'layout'}:v1")
    podman.run_ok("tag", image_id, remote)
    login = podman.run(
        "login",
        "--tls-verify=false",
        "--username",
        oci_login.user,
        "--password-stdin",
        oci_login.host,
        stdin=oci_login.password.encode(),
    )
    assert login.returncode == 0, describe_run(login)
    assert b"Login Succeeded" in login.stdout, describe_run(login)

    digest_file = tmp_path / "pushed-digest"
    podman.run_ok("push", "--tls-verify=false", "--digestfile", str(digest_file), remote)
    pushed_digest = digest_file.read_text().strip()

    # podman recompresses layers on push, so the manifest digest is podman's own. The
    # registry must report that digest and serve the bytes that hash to it.
    served = RegistryHttp(berth, oci_login).request("GET", f"/v2/{repository}/manifests/v1")
    assert served.status == 200, served.describe()
    assert sha256_digest(served.body) == pushed_digest
    assert served.header("Docker-Content-Digest") == pushed_digest
    detail = describe_image(ecr_api, repository, tag="v1")
    assert detail["imageDigest"] == pushed_digest
    pushed_layers = json.loads(served.body)["layers"]
    assert detail["imageSizeInBytes"] == sum(layer["size"] for layer in pushed_layers)

    podman.run_ok("rmi", "--all", "--force")
    podman.run_ok("pull", "--tls-verify=false", remote)
    pulled = podman.inspect(remote)
    assert pulled["Digest"] == pushed_digest
    assert f"{oci_login.host}/{repository}@{pushed_digest}" in pulled["RepoDigests"]
    assert pulled["RootFS"]["Layers"] == image.diff_ids
    assert "sha256:" + pulled["Id"] == image.config.digest

    by_digest = f"{oci_login.host}/{repository}@{pushed_digest}"
    podman.run_ok("rmi", "--all", "--force")
    podman.run_ok("pull", "--tls-verify=false", by_digest)
    assert podman.inspect(by_digest)["RootFS"]["Layers"] == image.diff_ids


def test_podman_login_rejects_wrong_password(
    oci_login: RegistryLogin, tmp_path: Path, short_tmp_path: Path
) -> None:
    podman = Podman(tmp_path / "podman", short_tmp_path, (oci_login.host,))

    login = podman.run(
        "login",
        "--tls-verify=false",
        "--username",
        oci_login.user,
        "--password-stdin",
        oci_login.host,
        stdin=b"not-a-token",
    )

    assert login.returncode != 0, describe_run(login)
    # podman reports a 401 from the registry in these words.
    assert b"invalid username/password" in login.stderr, describe_run(login)
