"""A real operating-system image through berth: a Debian bookworm root filesystem.

The layer comes from `debootstrap --variant=minbase bookworm` against Debian's mirror,
pruned as slim container images are (28 MB compressed when measured). The build needs
root and took 90 to 155 s on a 2-core machine, so the tarball is cached under
.cache/berth-tests/ and later runs reuse it. CI machines start empty, so each CI run
builds it once. With the cache, the test takes about 10 s.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mypy_boto3_ecr import ECRClient

from ecr_support import Blob, unique_name
from oci_images import (
    FIXED_CREATED,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    REF_NAME_ANNOTATION,
    CachedLayer,
    OciLayout,
    debian_rootfs_layer,
    encode_manifest,
    extract_rootfs,
    read_member,
)
from oci_support import (
    RegistryLogin,
    Skopeo,
    batch_get_manifest,
    create_repository,
    describe_image,
)

# Building the layer on a machine without the cache takes most of this.
DEBIAN_TEST_TIMEOUT_SECONDS = 1500


def debian_config(layer: CachedLayer) -> Blob:
    config = {
        "created": FIXED_CREATED,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["bash"],
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [{"created": FIXED_CREATED, "created_by": "debootstrap --variant=minbase"}],
    }
    return Blob(json.dumps(config, sort_keys=True).encode())


def write_debian_layout(directory: Path, layer: CachedLayer, tag: str) -> tuple[bytes, Blob]:
    """Write a one-layer OCI layout around the cached tarball and return the manifest
    bytes and the config."""
    config = debian_config(layer)
    manifest = encode_manifest(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer.digest, "size": layer.size}],
        }
    )
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    shutil.copyfile(layer.path, blobs / layer.digest.removeprefix("sha256:"))
    (blobs / config.digest.removeprefix("sha256:")).write_bytes(config.data)
    manifest_blob = Blob(manifest)
    (blobs / manifest_blob.digest.removeprefix("sha256:")).write_bytes(manifest)
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    entry = {
        "mediaType": OCI_MANIFEST,
        "digest": manifest_blob.digest,
        "size": manifest_blob.size,
        "annotations": {REF_NAME_ANNOTATION: tag},
    }
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return manifest, config


@pytest.mark.timeout(DEBIAN_TEST_TIMEOUT_SECONDS)
def test_debian_image_round_trip(
    ecr_api: ECRClient, oci_login: RegistryLogin, tmp_path: Path
) -> None:
    layer = debian_rootfs_layer()
    if layer.build_seconds is not None:
        print(f"built the Debian layer in {layer.build_seconds:.0f} s: {layer.path}")
    repository = create_repository(ecr_api, unique_name("debian/bookworm"))
    manifest, config = write_debian_layout(tmp_path / "source", layer, "bookworm")
    manifest_digest = Blob(manifest).digest
    skopeo = Skopeo(oci_login, tmp_path / "skopeo")

    skopeo.push_layout(tmp_path / "source", "bookworm", repository, "bookworm")
    pulled = OciLayout(tmp_path / "pulled")
    skopeo.pull(repository, "bookworm", f"oci:{pulled.directory}:bookworm")

    entry = pulled.entry("bookworm")
    assert entry["digest"] == manifest_digest
    assert pulled.manifest("bookworm") == manifest
    document = json.loads(manifest)
    assert document["config"]["digest"] == config.digest
    assert pulled.blob(config.digest) == config.data
    assert [item["digest"] for item in document["layers"]] == [layer.digest]
    pulled_layer = pulled.blob_path(layer.digest)
    pulled.blob(layer.digest)  # checks that the file hashes to the layer digest
    assert pulled_layer.stat().st_size == layer.size

    detail = describe_image(ecr_api, repository, tag="bookworm")
    assert detail["imageDigest"] == manifest_digest
    assert detail["imageSizeInBytes"] == layer.size
    assert batch_get_manifest(ecr_api, repository, manifest_digest) == (manifest, OCI_MANIFEST)

    tree = tmp_path / "rootfs"
    extract_rootfs(pulled_layer, tree)
    debian_version = tree / "etc" / "debian_version"
    assert debian_version.is_file()
    assert debian_version.read_bytes() == read_member(layer.path, "./etc/debian_version")
    assert debian_version.read_text().startswith("12.")
    os_release = (tree / "usr" / "lib" / "os-release").read_text()
    assert "VERSION_CODENAME=bookworm" in os_release
    assert (tree / "usr" / "bin" / "dpkg").is_file()
