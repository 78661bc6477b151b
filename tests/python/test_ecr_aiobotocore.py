"""End-to-end tests of berth's ECR API through aiobotocore, typed with types-aiobotocore-ecr."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials
from botocore.exceptions import ClientError
from types_aiobotocore_ecr import ECRClient
from types_aiobotocore_ecr.type_defs import (
    ImageIdentifierTypeDef,
    ImageTypeDef,
    RepositoryTypeDef,
    TagTypeDef,
)

from berth_server import REGION, REGISTRY_ID, BerthServer, Credentials, ServerFactory
from ecr_support import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST_V2,
    PushedImage,
    config_blob,
    create_repository,
    decode_authorization_token,
    ecr_client,
    push_image,
    random_blob,
    run_with_ecr,
    schema2_manifest,
    sha256_digest,
    unique_name,
    upload_blob,
    upload_part,
)

MIB = 1024 * 1024
MAX_LAYER_PART_BYTES = 20 * MIB
ECR_TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921"
ABSENT_DIGEST = "sha256:" + "0" * 64


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def http_status(error: ClientError) -> int:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)


def assert_recent(moment: datetime, tolerance: timedelta = timedelta(minutes=5)) -> None:
    now = datetime.now(timezone.utc)
    assert abs(now - moment) < tolerance, f"{moment} is not within {tolerance} of {now}"


def tags_as_dict(tags: list[TagTypeDef]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags}


async def describe_repository(ecr: ECRClient, name: str) -> RepositoryTypeDef:
    response = await ecr.describe_repositories(repositoryNames=[name])
    repositories = response["repositories"]
    assert len(repositories) == 1
    return repositories[0]


async def get_image(
    ecr: ECRClient, repository: str, image_id: ImageIdentifierTypeDef
) -> ImageTypeDef:
    response = await ecr.batch_get_image(repositoryName=repository, imageIds=[image_id])
    assert response["failures"] == []
    assert len(response["images"]) == 1
    return response["images"][0]


# Repositories


def test_create_repository_fields(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = unique_name("create/fields")
        response = await ecr.create_repository(repositoryName=name)
        repository = response["repository"]

        assert repository["repositoryName"] == name
        assert repository["registryId"] == REGISTRY_ID
        assert (
            repository["repositoryArn"] == f"arn:aws:ecr:{REGION}:{REGISTRY_ID}:repository/{name}"
        )
        assert repository["repositoryUri"].endswith(f"/{name}")
        assert_recent(repository["createdAt"])
        assert repository["imageTagMutability"] == "MUTABLE"
        assert repository["imageScanningConfiguration"] == {"scanOnPush": False}
        assert repository["encryptionConfiguration"] == {"encryptionType": "AES256"}

        described = await describe_repository(ecr, name)
        assert described["repositoryArn"] == repository["repositoryArn"]
        assert described["repositoryUri"] == repository["repositoryUri"]
        assert described["createdAt"] == repository["createdAt"]

    run_with_ecr(berth, scenario)


def test_create_repository_twice(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "twice")
        with pytest.raises(ecr.exceptions.RepositoryAlreadyExistsException) as raised:
            await ecr.create_repository(repositoryName=name)
        assert http_status(raised.value) == 400
        assert name in raised.value.response.get("Error", {}).get("Message", "")

    run_with_ecr(berth, scenario)


# botocore itself enforces only the minimum length of 2, so each of these names
# reaches the server, which must check the pattern and the maximum length of 256.
@pytest.mark.parametrize(
    "name",
    ["Upper-case", "double//slash", "-leading-dash", "trailing-dash-", "x" * 257],
)
def test_create_repository_invalid_name(berth: BerthServer, name: str) -> None:
    async def scenario(ecr: ECRClient) -> None:
        with pytest.raises(ecr.exceptions.InvalidParameterException) as raised:
            await ecr.create_repository(repositoryName=name)
        assert "repositoryName" in raised.value.response.get("Error", {}).get("Message", "")

    run_with_ecr(berth, scenario)


def test_describe_repositories_pagination(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        prefix = unique_name("page")
        created = [f"{prefix}/repo-{index}" for index in range(7)]
        for name in created:
            await ecr.create_repository(repositoryName=name)

        seen: list[str] = []
        page_count = 0
        paginator = ecr.get_paginator("describe_repositories")
        async for page in paginator.paginate(PaginationConfig={"PageSize": 2}):
            page_count += 1
            assert len(page["repositories"]) <= 2
            seen.extend(repository["repositoryName"] for repository in page["repositories"])

        assert page_count >= 4
        duplicates = [name for name, count in Counter(seen).items() if count > 1]
        assert duplicates == []
        assert sorted(name for name in seen if name.startswith(prefix)) == sorted(created)

    run_with_ecr(berth, scenario)


def test_describe_missing_repository(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = unique_name("missing")
        with pytest.raises(ecr.exceptions.RepositoryNotFoundException) as raised:
            await ecr.describe_repositories(repositoryNames=[name])
        message = raised.value.response.get("Error", {}).get("Message", "")
        assert name in message
        assert REGISTRY_ID in message

    run_with_ecr(berth, scenario)


def test_delete_repository_needs_force(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "delete")
        await push_image(ecr, name, "v1", (random_blob(2048),))

        with pytest.raises(ecr.exceptions.RepositoryNotEmptyException):
            await ecr.delete_repository(repositoryName=name)
        assert (await describe_repository(ecr, name))["repositoryName"] == name

        deleted = await ecr.delete_repository(repositoryName=name, force=True)
        assert deleted["repository"]["repositoryName"] == name
        assert deleted["repository"]["registryId"] == REGISTRY_ID
        with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
            await ecr.describe_repositories(repositoryNames=[name])

    run_with_ecr(berth, scenario)


def test_delete_empty_repository(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "delete-empty")
        deleted = await ecr.delete_repository(repositoryName=name)
        assert deleted["repository"]["repositoryName"] == name
        with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
            await ecr.delete_repository(repositoryName=name)

    run_with_ecr(berth, scenario)


def test_repository_tags_round_trip(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = unique_name("tags")
        created = await ecr.create_repository(
            repositoryName=name, tags=[{"Key": "team", "Value": "core"}]
        )
        arn = created["repository"]["repositoryArn"]
        listed = await ecr.list_tags_for_resource(resourceArn=arn)
        assert tags_as_dict(listed["tags"]) == {"team": "core"}

        await ecr.tag_resource(
            resourceArn=arn,
            tags=[{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "platform"}],
        )
        listed = await ecr.list_tags_for_resource(resourceArn=arn)
        assert tags_as_dict(listed["tags"]) == {"team": "platform", "env": "dev"}

        await ecr.untag_resource(resourceArn=arn, tagKeys=["team"])
        listed = await ecr.list_tags_for_resource(resourceArn=arn)
        assert tags_as_dict(listed["tags"]) == {"env": "dev"}

    run_with_ecr(berth, scenario)


def test_tag_missing_repository(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        arn = f"arn:aws:ecr:{REGION}:{REGISTRY_ID}:repository/{unique_name('absent')}"
        with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
            await ecr.tag_resource(resourceArn=arn, tags=[{"Key": "k", "Value": "v"}])

    run_with_ecr(berth, scenario)


def test_immutable_tag_cannot_move(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "immutable")
        response = await ecr.put_image_tag_mutability(
            repositoryName=name, imageTagMutability="IMMUTABLE"
        )
        assert response["repositoryName"] == name
        assert response["registryId"] == REGISTRY_ID
        assert response["imageTagMutability"] == "IMMUTABLE"
        assert (await describe_repository(ecr, name))["imageTagMutability"] == "IMMUTABLE"

        layer = random_blob(1024)
        first = await push_image(ecr, name, "release", (layer,), label="first")
        with pytest.raises(ecr.exceptions.ImageTagAlreadyExistsException):
            await push_image(ecr, name, "release", (layer,), label="second")

        image = await get_image(ecr, name, {"imageTag": "release"})
        assert image["imageId"]["imageDigest"] == first.digest

    run_with_ecr(berth, scenario)


def test_scanning_configuration_stored(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "scanning")
        response = await ecr.put_image_scanning_configuration(
            repositoryName=name, imageScanningConfiguration={"scanOnPush": True}
        )
        assert response["repositoryName"] == name
        assert response["registryId"] == REGISTRY_ID
        assert response["imageScanningConfiguration"] == {"scanOnPush": True}

        described = await describe_repository(ecr, name)
        assert described["imageScanningConfiguration"] == {"scanOnPush": True}

    run_with_ecr(berth, scenario)


def test_authorization_token_shape(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        response = await ecr.get_authorization_token()
        assert len(response["authorizationData"]) == 1
        data = response["authorizationData"][0]

        user, password = decode_authorization_token(data["authorizationToken"])
        assert user == "AWS"
        assert password != ""
        assert ":" not in password
        assert_recent(data["expiresAt"] - timedelta(hours=12))
        assert data["proxyEndpoint"].startswith("http")
        assert data["proxyEndpoint"].rstrip("/").endswith(berth.host_port)

    run_with_ecr(berth, scenario)


# Layer uploads


def test_layer_upload_in_parts(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "layers")
        initiated = await ecr.initiate_layer_upload(repositoryName=name)
        upload_id = initiated["uploadId"]
        part_size = initiated["partSize"]
        assert str(uuid.UUID(upload_id)) == upload_id.lower()
        assert 5 * MIB <= part_size <= MAX_LAYER_PART_BYTES

        # Two full parts and a short final part.
        layer = random_blob(2 * part_size + 4097)
        for first_byte in range(0, layer.size, part_size):
            part = layer.data[first_byte : first_byte + part_size]
            last_byte = await upload_part(ecr, name, upload_id, first_byte, part)
            assert last_byte == first_byte + len(part) - 1

        completed = await ecr.complete_layer_upload(
            repositoryName=name, uploadId=upload_id, layerDigests=[layer.digest]
        )
        assert completed["layerDigest"] == layer.digest
        assert completed["uploadId"] == upload_id
        assert completed["repositoryName"] == name
        assert completed["registryId"] == REGISTRY_ID

        checked = await ecr.batch_check_layer_availability(
            repositoryName=name, layerDigests=[layer.digest, ABSENT_DIGEST]
        )
        assert len(checked["layers"]) == 1
        assert checked["layers"][0]["layerDigest"] == layer.digest
        assert checked["layers"][0]["layerAvailability"] == "AVAILABLE"
        assert checked["layers"][0]["layerSize"] == layer.size
        assert len(checked["failures"]) == 1
        assert checked["failures"][0]["layerDigest"] == ABSENT_DIGEST
        assert checked["failures"][0]["failureCode"] == "MissingLayerDigest"

    run_with_ecr(berth, scenario)


def test_upload_part_response(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "part-echo")
        upload_id = (await ecr.initiate_layer_upload(repositoryName=name))["uploadId"]
        response = await ecr.upload_layer_part(
            repositoryName=name,
            uploadId=upload_id,
            partFirstByte=0,
            partLastByte=9,
            layerPartBlob=b"0123456789",
        )
        assert response["lastByteReceived"] == 9
        assert response["uploadId"] == upload_id
        assert response["repositoryName"] == name
        assert response["registryId"] == REGISTRY_ID

    run_with_ecr(berth, scenario)


def test_upload_part_with_gap(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "gap")
        upload_id = (await ecr.initiate_layer_upload(repositoryName=name))["uploadId"]
        await upload_part(ecr, name, upload_id, 0, random_blob(1024).data)

        with pytest.raises(ecr.exceptions.InvalidLayerPartException) as raised:
            await upload_part(ecr, name, upload_id, 2048, random_blob(1024).data)
        details = dict(raised.value.response)
        assert details.get("lastValidByteReceived") == 1023
        assert details.get("uploadId") == upload_id
        assert details.get("repositoryName") == name
        assert details.get("registryId") == REGISTRY_ID

    run_with_ecr(berth, scenario)


def test_upload_part_length_mismatch(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "length")
        upload_id = (await ecr.initiate_layer_upload(repositoryName=name))["uploadId"]
        with pytest.raises(ecr.exceptions.InvalidLayerPartException):
            await ecr.upload_layer_part(
                repositoryName=name,
                uploadId=upload_id,
                partFirstByte=0,
                partLastByte=99,
                layerPartBlob=b"ten bytes!",
            )

    run_with_ecr(berth, scenario)


def test_complete_upload_wrong_digest(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "wrong-digest")
        upload_id = (await ecr.initiate_layer_upload(repositoryName=name))["uploadId"]
        await upload_part(ecr, name, upload_id, 0, random_blob(4096).data)
        other = random_blob(4096)

        with pytest.raises(ecr.exceptions.InvalidLayerException):
            await ecr.complete_layer_upload(
                repositoryName=name, uploadId=upload_id, layerDigests=[other.digest]
            )
        checked = await ecr.batch_check_layer_availability(
            repositoryName=name, layerDigests=[other.digest]
        )
        assert checked["layers"] == []
        assert checked["failures"][0]["failureCode"] == "MissingLayerDigest"

    run_with_ecr(berth, scenario)


def test_complete_upload_without_parts(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "empty")
        upload_id = (await ecr.initiate_layer_upload(repositoryName=name))["uploadId"]
        with pytest.raises(ecr.exceptions.EmptyUploadException):
            await ecr.complete_layer_upload(
                repositoryName=name, uploadId=upload_id, layerDigests=[sha256_digest(b"")]
            )

    run_with_ecr(berth, scenario)


def test_upload_part_unknown_upload(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "no-upload")
        with pytest.raises(ecr.exceptions.UploadNotFoundException):
            await upload_part(ecr, name, str(uuid.uuid4()), 0, b"data")

    run_with_ecr(berth, scenario)


def test_complete_upload_existing_layer(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "twice-layer")
        layer = random_blob(3000)
        await upload_blob(ecr, name, layer)
        with pytest.raises(ecr.exceptions.LayerAlreadyExistsException):
            await upload_blob(ecr, name, layer)

    run_with_ecr(berth, scenario)


def test_download_url_serves_layer(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "download")
        layer = random_blob(300_000)
        await push_image(ecr, name, "v1", (layer,))

        response = await ecr.get_download_url_for_layer(
            repositoryName=name, layerDigest=layer.digest
        )
        assert response["layerDigest"] == layer.digest
        with urllib.request.urlopen(response["downloadUrl"], timeout=30) as download:
            assert download.read() == layer.data

    run_with_ecr(berth, scenario)


def test_download_url_unusable_layers(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "no-download")
        unreferenced = random_blob(1000)
        await upload_blob(ecr, name, unreferenced)

        with pytest.raises(ecr.exceptions.LayerInaccessibleException):
            await ecr.get_download_url_for_layer(
                repositoryName=name, layerDigest=unreferenced.digest
            )
        with pytest.raises(ecr.exceptions.LayersNotFoundException):
            await ecr.get_download_url_for_layer(repositoryName=name, layerDigest=ABSENT_DIGEST)

    run_with_ecr(berth, scenario)


# Images


def test_put_image_digest_of_manifest(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "put")
        pushed = await push_image(ecr, name, "v1", (random_blob(5000), random_blob(7000)))
        assert pushed.digest == sha256_digest(pushed.manifest.encode())

        image_ids: list[ImageIdentifierTypeDef] = [
            {"imageTag": "v1"},
            {"imageDigest": pushed.digest},
        ]
        for image_id in image_ids:
            image = await get_image(ecr, name, image_id)
            assert image["imageManifest"] == pushed.manifest
            assert image["imageManifestMediaType"] == DOCKER_MANIFEST_V2
            assert image["imageId"]["imageDigest"] == pushed.digest
            assert image["repositoryName"] == name
            assert image["registryId"] == REGISTRY_ID

    run_with_ecr(berth, scenario)


def test_put_image_response(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "put-echo")
        layer = random_blob(1500)
        config = config_blob("echo", (layer,))
        for blob in (config, layer):
            await upload_blob(ecr, name, blob)
        manifest = schema2_manifest(config, (layer,))

        response = await ecr.put_image(repositoryName=name, imageManifest=manifest, imageTag="t")
        image = response["image"]
        assert image["imageManifest"] == manifest
        assert image["imageManifestMediaType"] == DOCKER_MANIFEST_V2
        assert image["imageId"] == {
            "imageDigest": sha256_digest(manifest.encode()),
            "imageTag": "t",
        }
        assert image["repositoryName"] == name
        assert image["registryId"] == REGISTRY_ID

    run_with_ecr(berth, scenario)


def test_put_image_twice(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "again")
        pushed = await push_image(ecr, name, "v1", (random_blob(1000),))
        with pytest.raises(ecr.exceptions.ImageAlreadyExistsException):
            await ecr.put_image(repositoryName=name, imageManifest=pushed.manifest, imageTag="v1")

        # The same manifest under a new tag only adds the tag.
        retagged = await ecr.put_image(
            repositoryName=name, imageManifest=pushed.manifest, imageTag="v2"
        )
        assert retagged["image"]["imageId"]["imageDigest"] == pushed.digest
        details = await ecr.describe_images(
            repositoryName=name, imageIds=[{"imageDigest": pushed.digest}]
        )
        assert sorted(details["imageDetails"][0]["imageTags"]) == ["v1", "v2"]

    run_with_ecr(berth, scenario)


def test_put_image_missing_layer(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "missing-layer")
        present = random_blob(1000)
        absent = random_blob(1000)
        config = config_blob("missing", (present, absent))
        for blob in (config, present):
            await upload_blob(ecr, name, blob)
        manifest = schema2_manifest(config, (present, absent))

        with pytest.raises(ecr.exceptions.LayersNotFoundException):
            await ecr.put_image(repositoryName=name, imageManifest=manifest, imageTag="v1")
        listed = await ecr.list_images(repositoryName=name)
        assert listed["imageIds"] == []

    run_with_ecr(berth, scenario)


def test_put_image_digest_mismatch(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "mismatch")
        layer = random_blob(1000)
        config = config_blob("mismatch", (layer,))
        for blob in (config, layer):
            await upload_blob(ecr, name, blob)
        manifest = schema2_manifest(config, (layer,))

        with pytest.raises(ecr.exceptions.ImageDigestDoesNotMatchException):
            await ecr.put_image(
                repositoryName=name,
                imageManifest=manifest,
                imageTag="v1",
                imageDigest=sha256_digest(manifest.encode() + b"\n"),
            )

    run_with_ecr(berth, scenario)


def test_put_image_invalid_json(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "bad-json")
        with pytest.raises(ecr.exceptions.InvalidParameterException):
            await ecr.put_image(
                repositoryName=name,
                imageManifest='{"schemaVersion": 2, "mediaType": ',
                imageManifestMediaType=DOCKER_MANIFEST_V2,
                imageTag="v1",
            )

    run_with_ecr(berth, scenario)


def test_describe_images_details(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "describe")
        layers = (random_blob(12_345), random_blob(6_789))
        pushed = await push_image(ecr, name, "v1", layers)
        await ecr.put_image(repositoryName=name, imageManifest=pushed.manifest, imageTag="latest")

        response = await ecr.describe_images(repositoryName=name)
        assert len(response["imageDetails"]) == 1
        detail = response["imageDetails"][0]
        assert detail["imageDigest"] == pushed.digest
        assert detail["registryId"] == REGISTRY_ID
        assert detail["repositoryName"] == name
        assert sorted(detail["imageTags"]) == ["latest", "v1"]
        # ECR reports the compressed size of the layers, without the config.
        assert detail["imageSizeInBytes"] == sum(layer.size for layer in layers)
        assert detail["imageManifestMediaType"] == DOCKER_MANIFEST_V2
        assert detail["artifactMediaType"] == DOCKER_CONFIG
        assert isinstance(detail["imagePushedAt"], datetime)
        assert_recent(detail["imagePushedAt"])

    run_with_ecr(berth, scenario)


def test_describe_missing_image(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "describe-missing")
        with pytest.raises(ecr.exceptions.ImageNotFoundException):
            await ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": "absent"}])

    run_with_ecr(berth, scenario)


async def push_listing_fixture(
    ecr: ECRClient, name: str
) -> tuple[PushedImage, PushedImage, PushedImage]:
    """Push A tagged t1 and t2, then B and C both tagged "moving", which leaves B untagged."""
    layer = random_blob(2000)
    first = await push_image(ecr, name, "t1", (layer,), label="a")
    await ecr.put_image(repositoryName=name, imageManifest=first.manifest, imageTag="t2")
    untagged = await push_image(ecr, name, "moving", (layer,), label="b")
    moved = await push_image(ecr, name, "moving", (layer,), label="c")
    return first, untagged, moved


def test_list_images_pagination(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "list")
        first, untagged, moved = await push_listing_fixture(ecr, name)

        entries: list[tuple[str, str | None]] = []
        paginator = ecr.get_paginator("list_images")
        async for page in paginator.paginate(repositoryName=name, PaginationConfig={"PageSize": 1}):
            assert len(page["imageIds"]) <= 1
            entries.extend(
                (entry["imageDigest"], entry.get("imageTag")) for entry in page["imageIds"]
            )

        expected = [
            (first.digest, "t1"),
            (first.digest, "t2"),
            (untagged.digest, None),
            (moved.digest, "moving"),
        ]
        assert Counter(entries) == Counter(expected)

    run_with_ecr(berth, scenario)


def test_list_images_tag_status_filter(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "list-filter")
        _, untagged, _ = await push_listing_fixture(ecr, name)

        response = await ecr.list_images(repositoryName=name, filter={"tagStatus": "UNTAGGED"})
        assert response["imageIds"] == [{"imageDigest": untagged.digest}]
        response = await ecr.list_images(repositoryName=name, filter={"tagStatus": "TAGGED"})
        assert len(response["imageIds"]) == 3
        assert all("imageTag" in entry for entry in response["imageIds"])

    run_with_ecr(berth, scenario)


def test_batch_get_missing_tag(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "get-missing")
        response = await ecr.batch_get_image(repositoryName=name, imageIds=[{"imageTag": "absent"}])
        assert response["images"] == []
        assert len(response["failures"]) == 1
        assert response["failures"][0]["imageId"] == {"imageTag": "absent"}
        assert response["failures"][0]["failureCode"] == "ImageNotFound"

    run_with_ecr(berth, scenario)


def test_delete_image_by_tag(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "delete-tag")
        pushed = await push_image(ecr, name, "keep", (random_blob(1000),))
        await ecr.put_image(repositoryName=name, imageManifest=pushed.manifest, imageTag="drop")

        response = await ecr.batch_delete_image(
            repositoryName=name, imageIds=[{"imageTag": "drop"}]
        )
        assert response["failures"] == []
        assert response["imageIds"] == [{"imageDigest": pushed.digest, "imageTag": "drop"}]

        listed = await ecr.list_images(repositoryName=name)
        assert listed["imageIds"] == [{"imageDigest": pushed.digest, "imageTag": "keep"}]

    run_with_ecr(berth, scenario)


def test_delete_image_by_digest(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "delete-digest")
        pushed = await push_image(ecr, name, "one", (random_blob(1000),))
        await ecr.put_image(repositoryName=name, imageManifest=pushed.manifest, imageTag="two")

        response = await ecr.batch_delete_image(
            repositoryName=name, imageIds=[{"imageDigest": pushed.digest}]
        )
        assert response["failures"] == []
        assert len(response["imageIds"]) >= 1
        for deleted in response["imageIds"]:
            assert deleted["imageDigest"] == pushed.digest
            assert deleted.get("imageTag", "one") in {"one", "two"}

        assert (await ecr.list_images(repositoryName=name))["imageIds"] == []
        with pytest.raises(ecr.exceptions.ImageNotFoundException):
            await ecr.describe_images(
                repositoryName=name, imageIds=[{"imageDigest": pushed.digest}]
            )

    run_with_ecr(berth, scenario)


def test_delete_image_failure_codes(berth: BerthServer) -> None:
    async def scenario(ecr: ECRClient) -> None:
        name = await create_repository(ecr, "delete-fail")
        first = await push_image(ecr, name, "first", (random_blob(1000),))
        await push_image(ecr, name, "second", (random_blob(1000),))

        cases: list[tuple[ImageIdentifierTypeDef, str]] = [
            ({"imageTag": "absent"}, "ImageNotFound"),
            ({"imageDigest": ABSENT_DIGEST}, "ImageNotFound"),
            ({"imageDigest": "sha256:not-hex"}, "InvalidImageDigest"),
            ({"imageDigest": first.digest, "imageTag": "second"}, "ImageTagDoesNotMatchDigest"),
            ({}, "MissingDigestAndTag"),
        ]
        for image_id, code in cases:
            response = await ecr.batch_delete_image(repositoryName=name, imageIds=[image_id])
            assert response["imageIds"] == [], image_id
            assert len(response["failures"]) == 1, image_id
            assert response["failures"][0]["imageId"] == image_id
            assert response["failures"][0]["failureCode"] == code, image_id

        listed = await ecr.list_images(repositoryName=name)
        assert sorted(entry.get("imageTag", "") for entry in listed["imageIds"]) == [
            "first",
            "second",
        ]

    run_with_ecr(berth, scenario)


# Persistence


def test_restart_keeps_images(start_berth: ServerFactory) -> None:
    server = start_berth()
    name = unique_name("persist")
    layer = random_blob(50_000)

    async def before(ecr: ECRClient) -> None:
        await ecr.create_repository(repositoryName=name, tags=[{"Key": "keep", "Value": "yes"}])
        await push_image(ecr, name, "v1", (layer,), label="persist")

    run_with_ecr(server, before)
    snapshot: dict[str, object] = {}

    async def record(ecr: ECRClient) -> None:
        snapshot["repository"] = await describe_repository(ecr, name)
        snapshot["image"] = await get_image(ecr, name, {"imageTag": "v1"})

    run_with_ecr(server, record)
    server.restart()

    async def after(ecr: ECRClient) -> None:
        assert await describe_repository(ecr, name) == snapshot["repository"]
        assert await get_image(ecr, name, {"imageTag": "v1"}) == snapshot["image"]
        arn = (await describe_repository(ecr, name))["repositoryArn"]
        listed = await ecr.list_tags_for_resource(resourceArn=arn)
        assert tags_as_dict(listed["tags"]) == {"keep": "yes"}
        url = await ecr.get_download_url_for_layer(repositoryName=name, layerDigest=layer.digest)
        with urllib.request.urlopen(url["downloadUrl"], timeout=30) as download:
            assert download.read() == layer.data

    run_with_ecr(server, after)


# Protocol and authentication


def signed_request(
    server: BerthServer, target: str, body: bytes, extra_headers: dict[str, str] | None = None
) -> urllib.request.Request:
    """Build a POST / signed with SigV4 for service `ecr`, as botocore signs it."""
    keys = server.credentials
    url = f"{server.endpoint_url}/"
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
    headers.update(extra_headers or {})
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    credentials = BotocoreCredentials(keys.access_key_id, keys.secret_access_key)
    SigV4Auth(credentials, "ecr", REGION).add_auth(request)
    return urllib.request.Request(
        url, data=body, headers=dict(request.headers.items()), method="POST"
    )


def test_unknown_operation_rejected(berth: BerthServer) -> None:
    operation = "FrobnicateWidgets"
    request = signed_request(berth, f"{ECR_TARGET_PREFIX}.{operation}", b"{}")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)

    assert raised.value.code == 400
    body = json.loads(raised.value.read())
    assert body["__type"].rsplit("#", 1)[-1] == "UnknownOperationException"
    assert operation in body["message"]


def test_raw_signed_request_succeeds(berth: BerthServer) -> None:
    request = signed_request(berth, f"{ECR_TARGET_PREFIX}.GetAuthorizationToken", b"{}")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/x-amz-json-1.1")
        body = json.loads(response.read())
    assert len(body["authorizationData"]) == 1


def rejected_body(request: urllib.request.Request) -> tuple[int, dict[str, str]]:
    """Send a request that must fail and return its status and JSON error body."""
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)
    return raised.value.code, json.loads(raised.value.read())


def test_unsigned_payload_rejected(berth: BerthServer) -> None:
    body = b'{"repositoryName": "unsigned-payload"}'
    request = signed_request(
        berth,
        f"{ECR_TARGET_PREFIX}.CreateRepository",
        body,
        {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
    )
    status, error = rejected_body(request)

    assert status == 400
    assert error["__type"] == "IncompleteSignature"
    assert "UNSIGNED-PAYLOAD" in error["message"]


def test_newer_model_member_rejected(berth: BerthServer) -> None:
    body = json.dumps({"repositoryName": "any-repo", "filter": {"imageStatus": "ACTIVE"}})
    request = signed_request(berth, f"{ECR_TARGET_PREFIX}.ListImages", body.encode())
    status, error = rejected_body(request)

    assert status == 400
    assert error["__type"] == "InvalidParameterException"
    assert "imageStatus" in error["message"]


def test_newer_model_operation_unsupported(berth: BerthServer) -> None:
    request = signed_request(berth, f"{ECR_TARGET_PREFIX}.GetAccountSetting", b'{"name": "x"}')
    status, error = rejected_body(request)

    assert status == 400
    assert error["__type"] == "UnsupportedOperationException"
    assert "GetAccountSetting" in error["message"]


def run_with_credentials(server: BerthServer, credentials: Credentials, expected_code: str) -> None:
    async def main() -> None:
        async with ecr_client(server, credentials) as ecr:
            with pytest.raises(ClientError) as raised:
                await ecr.describe_repositories()
            assert error_code(raised.value) == expected_code
            assert http_status(raised.value) == 400

    asyncio.run(main())


def test_wrong_secret_rejected(berth: BerthServer) -> None:
    credentials = Credentials(berth.credentials.access_key_id, "not-the-secret")
    run_with_credentials(berth, credentials, "InvalidSignatureException")


def test_unknown_access_key_rejected(berth: BerthServer) -> None:
    credentials = Credentials("AKIAUNKNOWNKEY000000", berth.credentials.secret_access_key)
    run_with_credentials(berth, credentials, "UnrecognizedClientException")
