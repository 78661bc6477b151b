"""Blobs, manifests and aiobotocore helpers shared by the ECR end-to-end tests."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiobotocore.session import get_session
from types_aiobotocore_ecr import ECRClient

from berth_server import REGION, BerthServer, Credentials

DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


@dataclass(frozen=True)
class Blob:
    data: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class PushedImage:
    repository: str
    digest: str
    manifest: str
    config: Blob
    layers: tuple[Blob, ...]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def random_blob(size: int) -> Blob:
    return Blob(os.urandom(size))


def config_blob(label: str, layers: tuple[Blob, ...]) -> Blob:
    """Build an image config. A different `label` gives a different config digest."""
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"test": label}},
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
    }
    return Blob(json.dumps(config).encode())


def schema2_manifest(config: Blob, layers: tuple[Blob, ...]) -> str:
    """Build a Docker schema 2 manifest.

    The three-space indentation is unusual on purpose, because the server must hash
    and return these exact bytes rather than a re-serialized form.
    """
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_V2,
        "config": {"mediaType": DOCKER_CONFIG, "size": config.size, "digest": config.digest},
        "layers": [
            {"mediaType": DOCKER_LAYER, "size": layer.size, "digest": layer.digest}
            for layer in layers
        ],
    }
    return json.dumps(manifest, indent=3)


def client_credentials(server: BerthServer, credentials: Credentials | None) -> Credentials:
    return credentials if credentials is not None else server.credentials


@asynccontextmanager
async def ecr_client(
    server: BerthServer, credentials: Credentials | None = None
) -> AsyncIterator[ECRClient]:
    """Create an aiobotocore ECR client with only an endpoint, a region and keys."""
    keys = client_credentials(server, credentials)
    session = get_session()
    async with session.create_client(
        "ecr",
        endpoint_url=server.endpoint_url,
        region_name=REGION,
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
    ) as client:
        yield client


def run_with_ecr(server: BerthServer, scenario: Callable[[ECRClient], Awaitable[None]]) -> None:
    """Run `scenario` on a new event loop with a client for `server`."""

    async def main() -> None:
        async with ecr_client(server) as ecr:
            await scenario(ecr)

    asyncio.run(main())


async def create_repository(ecr: ECRClient, prefix: str) -> str:
    name = unique_name(prefix)
    await ecr.create_repository(repositoryName=name)
    return name


async def upload_part(
    ecr: ECRClient, repository: str, upload_id: str, first_byte: int, data: bytes
) -> int:
    """Upload one part and return the server's lastByteReceived."""
    response = await ecr.upload_layer_part(
        repositoryName=repository,
        uploadId=upload_id,
        partFirstByte=first_byte,
        partLastByte=first_byte + len(data) - 1,
        layerPartBlob=data,
    )
    return response["lastByteReceived"]


async def upload_blob(ecr: ECRClient, repository: str, blob: Blob) -> str:
    """Upload `blob` in parts of the server's partSize and return the layer digest."""
    initiated = await ecr.initiate_layer_upload(repositoryName=repository)
    upload_id = initiated["uploadId"]
    part_size = initiated["partSize"]
    for first_byte in range(0, blob.size, part_size):
        part = blob.data[first_byte : first_byte + part_size]
        await upload_part(ecr, repository, upload_id, first_byte, part)
    completed = await ecr.complete_layer_upload(
        repositoryName=repository, uploadId=upload_id, layerDigests=[blob.digest]
    )
    return completed["layerDigest"]


async def missing_blobs(ecr: ECRClient, repository: str, blobs: tuple[Blob, ...]) -> list[Blob]:
    """Return the blobs that BatchCheckLayerAvailability does not report AVAILABLE."""
    response = await ecr.batch_check_layer_availability(
        repositoryName=repository, layerDigests=[blob.digest for blob in blobs]
    )
    available = {
        layer.get("layerDigest")
        for layer in response["layers"]
        if layer.get("layerAvailability") == "AVAILABLE"
    }
    return [blob for blob in blobs if blob.digest not in available]


async def push_image(
    ecr: ECRClient,
    repository: str,
    tag: str | None,
    layers: tuple[Blob, ...],
    label: str = "",
) -> PushedImage:
    """Upload the missing blobs and a fresh config, then PutImage a schema 2 manifest.

    Like docker, it skips blobs the repository already has, because
    CompleteLayerUpload raises LayerAlreadyExistsException for them.
    """
    config = config_blob(label or uuid.uuid4().hex, layers)
    for blob in await missing_blobs(ecr, repository, (config, *layers)):
        await upload_blob(ecr, repository, blob)
    manifest = schema2_manifest(config, layers)
    if tag is None:
        response = await ecr.put_image(repositoryName=repository, imageManifest=manifest)
    else:
        response = await ecr.put_image(
            repositoryName=repository, imageManifest=manifest, imageTag=tag
        )
    digest = response["image"]["imageId"]["imageDigest"]
    return PushedImage(repository, digest, manifest, config, layers)


def decode_authorization_token(token: str) -> tuple[str, str]:
    """Split a base64 `user:password` token at its first colon."""
    user, _, password = base64.b64decode(token).decode().partition(":")
    return user, password
