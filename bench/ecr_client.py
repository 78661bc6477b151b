"""ECR API calls for bench/run: create a repository, read the registry password, seed
images, and write a signed wrk script for one read call.

Every call goes through the ECR JSON 1.1 API with SigV4, against berth or moto's server.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from wrk_script import send_once, write_script

REGION = "us-east-1"
TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
LAYER_BYTES = 4096


def client(args: argparse.Namespace):
    return boto3.client(
        "ecr",
        endpoint_url=args.endpoint,
        region_name=REGION,
        aws_access_key_id=args.access_key_id,
        aws_secret_access_key=args.secret_access_key,
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"},
            max_pool_connections=max(10, getattr(args, "threads", 1)),
        ),
    )


def create_repository(args: argparse.Namespace) -> int:
    client(args).create_repository(repositoryName=args.name)
    return 0


def print_password(args: argparse.Namespace) -> int:
    """Print the password half of the `AWS:<password>` token from GetAuthorizationToken."""
    data = client(args).get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    if user != "AWS":
        print(f"unexpected token user {user!r}, expected 'AWS'", file=sys.stderr)
        return 1
    print(password)
    return 0


def upload_blob(ecr, repository: str, blob: bytes) -> str:
    """Upload one blob with InitiateLayerUpload, UploadLayerPart and CompleteLayerUpload."""
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    upload_id = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
    ecr.upload_layer_part(
        repositoryName=repository,
        uploadId=upload_id,
        partFirstByte=0,
        partLastByte=len(blob) - 1,
        layerPartBlob=blob,
    )
    ecr.complete_layer_upload(
        repositoryName=repository, uploadId=upload_id, layerDigests=[digest]
    )
    return digest


def seed(args: argparse.Namespace) -> int:
    """Put `count` images into one repository: one shared layer and config, and a
    manifest per image made unique by an annotation, each with its own tag.

    Stops early at the deadline and reports how many images were stored.
    """
    ecr = client(args)
    layer = os.urandom(LAYER_BYTES)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
        }
    ).encode()
    layer_digest = upload_blob(ecr, args.repository, layer)
    config_digest = upload_blob(ecr, args.repository, config)

    started = time.monotonic()
    deadline = started + args.deadline_seconds
    lock = threading.Lock()
    stored = 0
    errors: list[str] = []

    def put(index: int) -> None:
        nonlocal stored
        if time.monotonic() > deadline or errors:
            return
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": LAYER_TYPE, "digest": layer_digest, "size": len(layer)}],
            "annotations": {"org.example.bench.index": str(index)},
        }
        try:
            ecr.put_image(
                repositoryName=args.repository,
                imageManifest=json.dumps(manifest),
                imageManifestMediaType=MANIFEST_TYPE,
                imageTag=tag_name(index),
            )
        except Exception as error:  # recorded and reported below; seeding stops
            with lock:
                errors.append(f"image {index}: {error}")
            return
        with lock:
            stored += 1

    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        list(pool.map(put, range(args.count)))
    seconds = time.monotonic() - started
    print(
        json.dumps(
            {
                "repository": args.repository,
                "requested": args.count,
                "stored": stored,
                "seconds": round(seconds, 2),
                "puts_per_second": round(stored / seconds, 1) if seconds else None,
                "deadline_hit": stored < args.count and not errors,
                "errors": errors[:5],
            }
        )
    )
    return 1 if errors else 0


def tag_name(index: int) -> str:
    return f"t{index:07d}"


def request_script(args: argparse.Namespace) -> int:
    """Sign one ECR call with SigV4, check it once, and write the wrk script for it.

    The signature carries X-Amz-Date, so it is valid only within the server's
    clock-skew window (15 minutes on AWS). Run wrk right after this.
    """
    body = args.body.encode()
    headers = {
        "X-Amz-Target": TARGET_PREFIX + args.action,
        "Content-Type": "application/x-amz-json-1.1",
    }
    request = AWSRequest(method="POST", url=args.endpoint + "/", data=body, headers=headers)
    credentials = Credentials(args.access_key_id, args.secret_access_key)
    SigV4Auth(credentials, "ecr", REGION).add_auth(request)
    signed = {name: value for name, value in request.headers.items()}
    signed["Host"] = args.endpoint.split("://", 1)[1]

    started = time.monotonic()
    checked = send_once("POST", args.endpoint + "/", signed, body)
    check_seconds = time.monotonic() - started
    if checked.status != 200:
        print(
            f"check request failed: {args.action} returned {checked.status}: {checked.body[:300]!r}",
            file=sys.stderr,
        )
        return 1
    document = json.loads(checked.body)
    # The list of results each read call returns; BatchGetImage also returns "failures".
    items = next(
        (len(document[key]) for key in ("imageDetails", "imageIds", "images") if key in document),
        None,
    )
    write_script(Path(args.out), "POST", signed, body)
    print(
        json.dumps(
            {
                "status": checked.status,
                "response_bytes": len(checked.body),
                "items": items,
                "next_token": "nextToken" in document,
                "check_seconds": round(check_seconds, 3),
            }
        )
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--secret-access-key", required=True)
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create-repo", help="create a repository")
    create.add_argument("--name", required=True)
    create.set_defaults(run=create_repository)

    password = commands.add_parser("password", help="print the registry password")
    password.set_defaults(run=print_password)

    seeding = commands.add_parser("seed", help="put COUNT images into a repository")
    seeding.add_argument("--repository", required=True)
    seeding.add_argument("--count", type=int, required=True)
    seeding.add_argument("--threads", type=int, default=8)
    seeding.add_argument("--deadline-seconds", type=float, default=600.0)
    seeding.set_defaults(run=seed)

    script = commands.add_parser("request-script", help="write a signed wrk script")
    script.add_argument("--action", required=True, help="ECR action, e.g. DescribeImages")
    script.add_argument("--body", required=True, help="JSON request body")
    script.add_argument("--out", required=True, help="path of the Lua script to write")
    script.set_defaults(run=request_script)

    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
