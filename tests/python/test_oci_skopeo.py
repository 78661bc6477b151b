"""skopeo against berth's OCI API, checked through the ECR API, and the reverse.

skopeo copies with --preserve-digests, so any change to a manifest or blob on the way
through berth fails the copy or shows up as a different digest here.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from mypy_boto3_ecr import ECRClient

from berth_server import REGISTRY_ID, BerthServer, ServerFactory
from ecr_support import unique_name
from oci_images import (
    DOCKER_MANIFEST_V2,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    Image,
    OciLayout,
    build_index,
    read_dir_transport,
    small_image,
    write_oci_layout,
)
from oci_support import (
    RegistryHttp,
    RegistryLogin,
    Skopeo,
    batch_get_manifest,
    create_repository,
    describe_image,
    describe_run,
    ecr_api_client,
    list_image_ids,
    put_image_with_ecr,
    registry_login,
)


@pytest.fixture
def skopeo(oci_login: RegistryLogin, tmp_path: Path) -> Skopeo:
    return Skopeo(oci_login, tmp_path / "skopeo")


def assert_layout_holds_image(layout: OciLayout, tag: str, image: Image) -> None:
    """Check that a pulled layout has the image's manifest and every blob, byte for byte."""
    entry = layout.entry(tag)
    assert entry["digest"] == image.digest
    assert entry["mediaType"] == image.media_type
    assert entry["size"] == len(image.manifest)
    manifest = layout.manifest(tag)
    assert manifest == image.manifest
    assert_manifest_blobs(layout, manifest, image)


def assert_manifest_blobs(layout: OciLayout, manifest: bytes, image: Image) -> None:
    document = json.loads(manifest)
    assert document["config"]["digest"] == image.config.digest
    assert [layer["digest"] for layer in document["layers"]] == image.layer_digests
    assert layout.blob(image.config.digest) == image.config.data
    for layer in image.layers:
        assert layout.blob(layer.blob.digest) == layer.blob.data


def test_skopeo_push_and_pull_keep_every_digest(
    ecr_api: ECRClient, skopeo: Skopeo, tmp_path: Path
) -> None:
    repository = create_repository(ecr_api, unique_name("skopeo/round-trip"))
    image = small_image("skopeo-round-trip", random_bytes=512 * 1024)
    source = tmp_path / "source"
    write_oci_layout(source, {"v1": image})

    skopeo.push_layout(source, "v1", repository, "v1")
    pulled = tmp_path / "pulled"
    skopeo.pull(repository, "v1", f"oci:{pulled}:v1")

    assert_layout_holds_image(OciLayout(pulled), "v1", image)
    assert skopeo.inspect_raw(repository, "v1") == image.manifest
    assert skopeo.inspect_raw(repository, image.digest) == image.manifest
    inspected = skopeo.inspect(repository, "v1")
    assert inspected["Digest"] == image.digest
    assert inspected["Layers"] == image.layer_digests


def test_skopeo_push_is_the_image_ecr_describes(
    ecr_api: ECRClient, skopeo: Skopeo, tmp_path: Path
) -> None:
    repository = create_repository(ecr_api, unique_name("skopeo/ecr-view"))
    image = small_image("skopeo-ecr-view", random_bytes=128 * 1024)
    write_oci_layout(tmp_path / "source", {"v1": image})
    skopeo.push_layout(tmp_path / "source", "v1", repository, "v1")

    detail = describe_image(ecr_api, repository, tag="v1")
    assert detail["imageDigest"] == image.digest
    assert detail["imageTags"] == ["v1"]
    assert detail["imageSizeInBytes"] == image.layer_size_total
    assert detail["imageManifestMediaType"] == OCI_MANIFEST
    assert detail["artifactMediaType"] == OCI_CONFIG
    assert detail["registryId"] == REGISTRY_ID
    assert detail["repositoryName"] == repository

    manifest, media_type = batch_get_manifest(ecr_api, repository, image.digest)
    assert manifest == image.manifest
    assert media_type == OCI_MANIFEST
    assert list_image_ids(ecr_api, repository) == [(image.digest, "v1")]


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST_V2])
def test_ecr_put_image_pulls_with_skopeo(
    ecr_api: ECRClient, skopeo: Skopeo, tmp_path: Path, media_type: str
) -> None:
    repository = create_repository(ecr_api, unique_name("ecr-to-skopeo"))
    image = small_image("ecr-put-image", random_bytes=96 * 1024, media_type=media_type)
    put_image_with_ecr(ecr_api, repository, image, "v1")

    # The dir: transport stores the manifest bytes as they arrive, in either format.
    copied = tmp_path / "dir"
    skopeo.pull(repository, "v1", f"dir:{copied}")
    manifest, blobs = read_dir_transport(copied)
    assert manifest == image.manifest
    assert blobs == {blob.digest: blob.data for blob in image.blobs}
    assert skopeo.inspect_raw(repository, "v1") == image.manifest

    if media_type == OCI_MANIFEST:
        pulled = tmp_path / "layout"
        skopeo.pull(repository, image.digest, f"oci:{pulled}:pulled")
        assert_layout_holds_image(OciLayout(pulled), "pulled", image)


def test_skopeo_copies_multi_arch_index(ecr_api: ECRClient, skopeo: Skopeo, tmp_path: Path) -> None:
    repository = create_repository(ecr_api, unique_name("skopeo/multi-arch"))
    amd64 = small_image("multi-arch", architecture="amd64", random_bytes=48 * 1024)
    arm64 = small_image("multi-arch", architecture="arm64", random_bytes=80 * 1024)
    index = build_index([amd64, arm64])
    write_oci_layout(tmp_path / "source", {"v1": index})

    skopeo.push_layout(tmp_path / "source", "v1", repository, "v1", "--all")
    assert skopeo.inspect_raw(repository, "v1") == index.manifest
    pulled = tmp_path / "pulled"
    skopeo.pull(repository, "v1", f"oci:{pulled}:v1", "--all")

    layout = OciLayout(pulled)
    entry = layout.entry("v1")
    assert entry["digest"] == index.digest
    assert entry["mediaType"] == OCI_INDEX
    assert layout.manifest("v1") == index.manifest
    for image in index.images:
        assert layout.blob(image.digest) == image.manifest
        assert_manifest_blobs(layout, image.manifest, image)

    detail = describe_image(ecr_api, repository, tag="v1")
    assert detail["imageDigest"] == index.digest
    assert detail["imageManifestMediaType"] == OCI_INDEX
    # ECR reports the largest platform image as the size of a manifest list.
    assert detail["imageSizeInBytes"] == max(image.layer_size_total for image in index.images)
    expected_ids = [(index.digest, "v1")] + [(image.digest, "") for image in index.images]
    assert list_image_ids(ecr_api, repository) == sorted(expected_ids)
    for image in index.images:
        manifest, media_type = batch_get_manifest(ecr_api, repository, image.digest)
        assert manifest == image.manifest
        assert media_type == OCI_MANIFEST


def test_skopeo_push_to_missing_repository_fails(
    ecr_api: ECRClient, skopeo: Skopeo, tmp_path: Path
) -> None:
    repository = unique_name("skopeo/never-created")
    write_oci_layout(tmp_path / "source", {"v1": small_image("missing-repository")})

    result = skopeo.copy(f"oci:{tmp_path / 'source'}:v1", skopeo.reference(repository, "v1"))

    assert result.returncode != 0, describe_run(result)
    stderr = result.stderr.decode(errors="replace")
    expected = (
        f"The repository with name '{repository}' does not exist in the registry "
        f"with id '{REGISTRY_ID}'"
    )
    assert expected in stderr, describe_run(result)
    with pytest.raises(ClientError) as raised:
        ecr_api.describe_repositories(repositoryNames=[repository])
    assert raised.value.response.get("Error", {}).get("Code") == "RepositoryNotFoundException"


def test_create_on_push_creates_repository(start_berth: ServerFactory, tmp_path: Path) -> None:
    server: BerthServer = start_berth("--create-on-push")
    ecr = ecr_api_client(server)
    skopeo = Skopeo(registry_login(server, ecr), tmp_path / "skopeo")
    repository = unique_name("created/on-push")
    image = small_image("create-on-push")
    write_oci_layout(tmp_path / "source", {"v1": image})

    skopeo.push_layout(tmp_path / "source", "v1", repository, "v1")

    described = ecr.describe_repositories(repositoryNames=[repository])["repositories"]
    assert [entry["repositoryName"] for entry in described] == [repository]
    assert described[0]["imageTagMutability"] == "MUTABLE"
    assert describe_image(ecr, repository, tag="v1")["imageDigest"] == image.digest


def test_image_is_the_same_through_both_apis(
    ecr_api: ECRClient,
    oci_login: RegistryLogin,
    berth: BerthServer,
    skopeo: Skopeo,
    tmp_path: Path,
) -> None:
    repository = create_repository(ecr_api, unique_name("both-apis"))
    image = small_image("both-apis")
    write_oci_layout(tmp_path / "source", {"v1": image})
    skopeo.push_layout(tmp_path / "source", "v1", repository, "v1")

    # A retag through PutImage is visible to OCI clients, and an OCI tag push to ECR.
    ecr_api.put_image(
        repositoryName=repository,
        imageManifest=image.manifest.decode(),
        imageManifestMediaType=OCI_MANIFEST,
        imageTag="from-ecr",
    )
    assert skopeo.inspect_raw(repository, "from-ecr") == image.manifest
    registry = RegistryHttp(berth, oci_login)
    pushed = registry.put_manifest(repository, "from-oci", image.manifest, OCI_MANIFEST)
    assert pushed.status == 201, pushed.describe()

    detail = describe_image(ecr_api, repository, tag="from-oci")
    assert detail["imageDigest"] == image.digest
    assert sorted(detail["imageTags"]) == ["from-ecr", "from-oci", "v1"]
    tags = registry.request("GET", f"/v2/{repository}/tags/list")
    assert tags.status == 200, tags.describe()
    assert tags.json() == {"name": repository, "tags": ["from-ecr", "from-oci", "v1"]}

    # The layers skopeo pushed are the layers that ECR's layer operations report.
    checked = ecr_api.batch_check_layer_availability(
        repositoryName=repository, layerDigests=image.layer_digests
    )
    assert checked["failures"] == []
    assert {
        (layer["layerDigest"], layer["layerAvailability"], layer["layerSize"])
        for layer in checked["layers"]
    } == {(layer.blob.digest, "AVAILABLE", layer.blob.size) for layer in image.layers}
    for layer in image.layers:
        url = ecr_api.get_download_url_for_layer(
            repositoryName=repository, layerDigest=layer.blob.digest
        )["downloadUrl"]
        assert url.startswith(f"{berth.endpoint_url}/v2/"), url
        with urllib.request.urlopen(url, timeout=60) as response:
            assert response.read() == layer.blob.data


def test_immutable_tag_rejects_skopeo_overwrite(
    ecr_api: ECRClient, skopeo: Skopeo, tmp_path: Path
) -> None:
    repository = create_repository(ecr_api, unique_name("skopeo/immutable"))
    first = small_image("immutable-first")
    second = small_image("immutable-second")
    write_oci_layout(tmp_path / "source", {"first": first, "second": second})
    skopeo.push_layout(tmp_path / "source", "first", repository, "release")
    ecr_api.put_image_tag_mutability(repositoryName=repository, imageTagMutability="IMMUTABLE")

    result = skopeo.copy(
        f"oci:{tmp_path / 'source'}:second", skopeo.reference(repository, "release")
    )

    assert result.returncode != 0, describe_run(result)
    stderr = result.stderr.decode(errors="replace")
    assert "'release'" in stderr, describe_run(result)
    assert "immutable" in stderr, describe_run(result)
    assert describe_image(ecr_api, repository, tag="release")["imageDigest"] == first.digest
    assert skopeo.inspect_raw(repository, "release") == first.manifest

    # The same rule holds on the ECR side, and a new tag still takes the second image.
    with pytest.raises(ClientError) as raised:
        ecr_api.put_image(
            repositoryName=repository,
            imageManifest=second.manifest.decode(),
            imageManifestMediaType=OCI_MANIFEST,
            imageTag="release",
        )
    assert raised.value.response.get("Error", {}).get("Code") == "ImageTagAlreadyExistsException"
    skopeo.push_layout(tmp_path / "source", "second", repository, "next")
    assert describe_image(ecr_api, repository, tag="next")["imageDigest"] == second.digest
