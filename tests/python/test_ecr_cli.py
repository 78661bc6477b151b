"""End-to-end tests of berth's ECR API through the AWS CLI v1, run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
from mypy_boto3_ecr import ECRClient

from berth_server import REGION, REGISTRY_ID, BerthServer
from ecr_support import (
    DOCKER_MANIFEST_V2,
    Blob,
    config_blob,
    random_blob,
    schema2_manifest,
    sha256_digest,
    unique_name,
)

CLI_TIMEOUT_SECONDS = 120
# AWS CLI v1 exits with 255 on every error, an error response from the service included
# (v2 uses 254 for those).
CLI_ERROR_STATUS = 255


def cli_environment(server: BerthServer) -> dict[str, str]:
    """Return the environment with only the test's AWS settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env["AWS_ACCESS_KEY_ID"] = server.credentials.access_key_id
    env["AWS_SECRET_ACCESS_KEY"] = server.credentials.secret_access_key
    env["AWS_DEFAULT_REGION"] = REGION
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def run_cli(server: BerthServer, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `aws ecr <args>` from this virtualenv against `server`."""
    command = [sys.executable, "-m", "awscli", "ecr", *args]
    command += ["--endpoint-url", server.endpoint_url, "--output", "json"]
    return subprocess.run(
        command,
        env=cli_environment(server),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )


def run_cli_json(server: BerthServer, *args: str) -> dict[str, Any]:
    result = run_cli(server, *args)
    assert result.returncode == 0, f"aws ecr {' '.join(args)} failed:\n{result.stderr}"
    output: dict[str, Any] = json.loads(result.stdout)
    return output


def boto3_client(server: BerthServer) -> ECRClient:
    return boto3.client(
        "ecr",
        endpoint_url=server.endpoint_url,
        region_name=REGION,
        aws_access_key_id=server.credentials.access_key_id,
        aws_secret_access_key=server.credentials.secret_access_key,
    )


def upload_small_blob(ecr: ECRClient, repository: str, blob: Blob) -> None:
    """Upload `blob` as one part, which must be smaller than the server's partSize."""
    initiated = ecr.initiate_layer_upload(repositoryName=repository)
    assert blob.size <= initiated["partSize"]
    ecr.upload_layer_part(
        repositoryName=repository,
        uploadId=initiated["uploadId"],
        partFirstByte=0,
        partLastByte=blob.size - 1,
        layerPartBlob=blob.data,
    )
    completed = ecr.complete_layer_upload(
        repositoryName=repository, uploadId=initiated["uploadId"], layerDigests=[blob.digest]
    )
    assert completed["layerDigest"] == blob.digest


def write_manifest(server: BerthServer, repository: str, directory: Path) -> Path:
    """Upload a config and a layer with boto3, and write a manifest for them to a file."""
    layer = random_blob(4096)
    config = config_blob("cli", (layer,))
    ecr = boto3_client(server)
    for blob in (config, layer):
        upload_small_blob(ecr, repository, blob)
    path = directory / "manifest.json"
    # No trailing newline: the image digest covers the exact bytes of the file.
    path.write_bytes(schema2_manifest(config, (layer,)).encode())
    return path


def test_cli_push_and_pull(berth: BerthServer, tmp_path: Path) -> None:
    name = unique_name("cli")
    created = run_cli_json(berth, "create-repository", "--repository-name", name)
    arn = f"arn:aws:ecr:{REGION}:{REGISTRY_ID}:repository/{name}"
    assert created["repository"]["repositoryName"] == name
    assert created["repository"]["repositoryArn"] == arn

    described = run_cli_json(berth, "describe-repositories", "--repository-names", name)
    assert [repository["repositoryArn"] for repository in described["repositories"]] == [arn]

    manifest_path = write_manifest(berth, name, tmp_path)
    manifest = manifest_path.read_text()
    digest = sha256_digest(manifest_path.read_bytes())
    put = run_cli_json(
        berth,
        "put-image",
        "--repository-name",
        name,
        "--image-tag",
        "v1",
        "--image-manifest",
        f"file://{manifest_path}",
    )
    assert put["image"]["imageId"] == {"imageDigest": digest, "imageTag": "v1"}

    fetched = run_cli_json(
        berth, "batch-get-image", "--repository-name", name, "--image-ids", '[{"imageTag": "v1"}]'
    )
    assert fetched["failures"] == []
    assert len(fetched["images"]) == 1
    assert fetched["images"][0]["imageManifest"] == manifest
    assert fetched["images"][0]["imageManifestMediaType"] == DOCKER_MANIFEST_V2

    listed = run_cli_json(berth, "list-images", "--repository-name", name)
    assert listed["imageIds"] == [{"imageDigest": digest, "imageTag": "v1"}]


def test_cli_get_login_password(berth: BerthServer) -> None:
    result = run_cli(berth, "get-login-password")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0] != ""
    assert ":" not in lines[0]


def test_cli_missing_repository_fails(berth: BerthServer) -> None:
    name = unique_name("cli-missing")
    result = run_cli(berth, "describe-repositories", "--repository-names", name)
    assert result.returncode == CLI_ERROR_STATUS
    assert "RepositoryNotFoundException" in result.stderr
    assert name in result.stderr
