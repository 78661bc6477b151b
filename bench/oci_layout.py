"""Write an OCI image layout with random, uncompressed tar layers for push benchmarks.

    oci_layout.py OUT_DIR --layers 1 --layer-bytes 1073741824 [--tag latest]

Each layer is a tar containing one file of random bytes, so no registry or client can
shrink it by compression or deduplication. The layer media type is the uncompressed
`application/vnd.oci.image.layer.v1.tar`, so its digest is also its diff id.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
from pathlib import Path

CHUNK_BYTES = 1 << 20
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


class RandomReader(io.RawIOBase):
    """A file-like source of `size` random bytes, read in chunks by tarfile."""

    def __init__(self, size: int) -> None:
        self.remaining = size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.remaining:
            size = self.remaining
        self.remaining -= size
        return os.urandom(size)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def write_blob(blobs: Path, data: bytes) -> dict:
    """Store `data` under its digest and return its descriptor fields."""
    hex_digest = hashlib.sha256(data).hexdigest()
    (blobs / hex_digest).write_bytes(data)
    return {"digest": "sha256:" + hex_digest, "size": len(data)}


def write_layer(blobs: Path, index: int, size: int) -> dict:
    """Write a tar containing one file of `size` random bytes and return its descriptor."""
    staging = blobs / f".layer-{index}.tmp"
    with tarfile.open(staging, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"data/blob-{index:04d}")
        info.size = size
        info.mode = 0o644
        tar.addfile(info, RandomReader(size))
    hex_digest = sha256_file(staging)
    staging.rename(blobs / hex_digest)
    return {
        "mediaType": LAYER_TYPE,
        "digest": "sha256:" + hex_digest,
        "size": (blobs / hex_digest).stat().st_size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory to create; must not exist")
    parser.add_argument("--layers", type=int, required=True)
    parser.add_argument("--layer-bytes", type=int, required=True, help="random bytes per layer")
    parser.add_argument("--tag", default="latest")
    args = parser.parse_args()

    blobs = args.out / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layers = [write_layer(blobs, index, args.layer_bytes) for index in range(args.layers)]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
    }
    config_descriptor = {"mediaType": CONFIG_TYPE, **write_blob(blobs, json.dumps(config).encode())}
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config_descriptor,
        "layers": layers,
    }
    manifest_descriptor = write_blob(blobs, json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": MANIFEST_TYPE,
                **manifest_descriptor,
                "annotations": {"org.opencontainers.image.ref.name": args.tag},
            }
        ],
    }
    (args.out / "index.json").write_text(json.dumps(index))
    (args.out / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    print(
        json.dumps(
            {
                "manifest": manifest_descriptor["digest"],
                "config": config_descriptor["digest"],
                "layers": len(layers),
                "layer_bytes_total": sum(layer["size"] for layer in layers),
                "first_layer": layers[0]["digest"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
