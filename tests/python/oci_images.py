"""Build OCI test images, write them as OCI image layouts and read layouts back.

The images are built here from bytes, so every digest a test compares is known before
anything touches the registry. `debian_rootfs_layer` builds the one real operating-system
image with debootstrap and caches its layer under `.cache/` in the repository.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth_server import repo_root
from ecr_support import Blob, sha256_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"

# The OCI empty descriptor's content, `{}`, used as the config of artifacts.
EMPTY_JSON = Blob(b"{}")

# Fixed timestamps keep the built tarballs and configs byte-for-byte reproducible.
FIXED_MTIME = 1_700_000_000
FIXED_CREATED = "2023-11-14T22:13:20Z"

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_LAYER_NAME = f"debian-{DEBIAN_SUITE}-minbase-slim.tar.gz"
# What the build leaves out, as slim container images do: package caches, apt lists,
# documentation and translations. The dpkg database and every binary stay.
DEBIAN_PRUNED_PATHS = (
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
)
DEBOOTSTRAP_TIMEOUT_SECONDS = 1200


@dataclass(frozen=True)
class Layer:
    """A gzip-compressed layer blob and the digest of its uncompressed tar (its diff_id)."""

    blob: Blob
    diff_id: str
    media_type: str = OCI_LAYER_GZIP


@dataclass(frozen=True)
class Image:
    """A single-platform image: its exact manifest bytes, its config and its layers."""

    manifest: bytes
    media_type: str
    config: Blob
    layers: tuple[Layer, ...]
    architecture: str = "amd64"

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return (self.config, *(layer.blob for layer in self.layers))

    @property
    def layer_digests(self) -> list[str]:
        return [layer.blob.digest for layer in self.layers]

    @property
    def diff_ids(self) -> list[str]:
        return [layer.diff_id for layer in self.layers]

    @property
    def layer_size_total(self) -> int:
        return sum(layer.blob.size for layer in self.layers)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.manifest)}


@dataclass(frozen=True)
class ImageIndex:
    """An OCI image index and the platform images it lists, in order."""

    manifest: bytes
    images: tuple[Image, ...]
    media_type: str = OCI_INDEX

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.manifest)}


def encode_manifest(document: Mapping[str, Any]) -> bytes:
    """Serialize a manifest with three-space indentation.

    No client would produce this layout by re-serializing, so a registry that returns
    these exact bytes has stored them rather than re-encoded the JSON.
    """
    return json.dumps(document, indent=3).encode()


def tar_layer(files: Mapping[str, bytes], media_type: str = OCI_LAYER_GZIP) -> Layer:
    """Pack `files` (path to content) into a reproducible gzip-compressed tar layer."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for directory in sorted(parent_directories(files)):
            entry = tarfile.TarInfo(directory)
            entry.type = tarfile.DIRTYPE
            entry.mode = 0o755
            entry.mtime = FIXED_MTIME
            archive.addfile(entry)
        for path in sorted(files):
            content = files[path]
            entry = tarfile.TarInfo(path)
            entry.size = len(content)
            entry.mode = 0o644
            entry.mtime = FIXED_MTIME
            archive.addfile(entry, io.BytesIO(content))
    uncompressed = raw.getvalue()
    compressed = gzip.compress(uncompressed, compresslevel=6, mtime=0)
    return Layer(Blob(compressed), sha256_digest(uncompressed), media_type)


def parent_directories(files: Mapping[str, bytes]) -> set[str]:
    directories: set[str] = set()
    for path in files:
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            directories.add("/".join(parts[:depth]))
    return directories


def image_config(
    label: str, layers: Sequence[Layer], architecture: str, config_extra: Mapping[str, Any]
) -> Blob:
    """Build an image config whose rootfs.diff_ids name the layers' uncompressed tars."""
    config: dict[str, Any] = {
        "created": FIXED_CREATED,
        "architecture": architecture,
        "os": "linux",
        "config": {"Labels": {"berth.test.label": label}, **config_extra},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [
            {"created": FIXED_CREATED, "created_by": f"berth test layer {index}"}
            for index in range(len(layers))
        ],
    }
    return Blob(json.dumps(config, sort_keys=True).encode())


def build_image(
    label: str,
    layers: Sequence[Layer],
    *,
    architecture: str = "amd64",
    media_type: str = OCI_MANIFEST,
    config_extra: Mapping[str, Any] | None = None,
) -> Image:
    """Build an OCI or Docker schema 2 image manifest around `layers`.

    `label` goes into the config, so two images with different labels have different
    config and manifest digests even when they share layers.
    """
    config = image_config(label, layers, architecture, config_extra or {})
    if media_type == OCI_MANIFEST:
        config_type = OCI_CONFIG
    elif media_type == DOCKER_MANIFEST_V2:
        config_type = DOCKER_CONFIG
    else:
        raise ValueError(f"unsupported image manifest media type {media_type!r}")
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": config.digest, "size": config.size},
        "layers": [
            {"mediaType": layer.media_type, "digest": layer.blob.digest, "size": layer.blob.size}
            for layer in layers
        ],
    }
    return Image(encode_manifest(document), media_type, config, tuple(layers), architecture)


def small_image(
    label: str,
    *,
    architecture: str = "amd64",
    random_bytes: int = 64 * 1024,
    media_type: str = OCI_MANIFEST,
) -> Image:
    """Build a two-layer image: a few text files, then `random_bytes` of random data.

    Random data does not compress, so the second layer's size is close to
    `random_bytes` and the image's layers are unique to this call.
    """
    text_layer = tar_layer(
        {
            "etc/berth-test/label": f"{label}\n".encode(),
            "etc/berth-test/architecture": f"{architecture}\n".encode(),
        },
        layer_media_type(media_type),
    )
    random_layer = tar_layer(
        {"opt/berth-test/random.bin": os.urandom(random_bytes)}, layer_media_type(media_type)
    )
    return build_image(
        label, (text_layer, random_layer), architecture=architecture, media_type=media_type
    )


def layer_media_type(manifest_media_type: str) -> str:
    return DOCKER_LAYER_GZIP if manifest_media_type == DOCKER_MANIFEST_V2 else OCI_LAYER_GZIP


def build_index(images: Sequence[Image]) -> ImageIndex:
    """Build an OCI image index listing `images` with their platforms."""
    manifests = []
    for image in images:
        platform: dict[str, str] = {"architecture": image.architecture, "os": "linux"}
        if image.architecture == "arm64":
            platform["variant"] = "v8"
        manifests.append({**image.descriptor(), "platform": platform})
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    return ImageIndex(encode_manifest(document), tuple(images))


def artifact_manifest(
    subject: Mapping[str, Any],
    *,
    artifact_type: str | None,
    config_media_type: str = OCI_EMPTY,
    config: Blob = EMPTY_JSON,
    layers: Sequence[Blob] = (),
    annotations: Mapping[str, str] | None = None,
) -> bytes:
    """Build an OCI 1.1 artifact manifest that refers to `subject`.

    Without `artifact_type`, registries take the artifact type from the config media type.
    """
    document: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    document["config"] = {
        "mediaType": config_media_type,
        "digest": config.digest,
        "size": config.size,
    }
    document["layers"] = [
        {"mediaType": "application/octet-stream", "digest": blob.digest, "size": blob.size}
        for blob in layers
    ]
    document["subject"] = dict(subject)
    if annotations:
        document["annotations"] = dict(annotations)
    return encode_manifest(document)


# OCI image layouts (image-spec "OCI Image Layout")


def write_oci_layout(directory: Path, tagged: Mapping[str, Image | ImageIndex]) -> None:
    """Write an OCI image layout with one index.json entry per tag."""
    blobs_dir = directory / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    entries = []
    for tag, item in tagged.items():
        for blob in layout_blobs(item):
            write_blob(blobs_dir, blob)
        descriptor = item.descriptor()
        descriptor["annotations"] = {REF_NAME_ANNOTATION: tag}
        entries.append(descriptor)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    (directory / "index.json").write_text(json.dumps(index))


def layout_blobs(item: Image | ImageIndex) -> Iterator[Blob]:
    if isinstance(item, ImageIndex):
        yield Blob(item.manifest)
        for image in item.images:
            yield from layout_blobs(image)
        return
    yield Blob(item.manifest)
    yield from item.blobs


def write_blob(blobs_dir: Path, blob: Blob) -> None:
    path = blobs_dir / blob.digest.removeprefix("sha256:")
    if not path.exists():
        path.write_bytes(blob.data)


@dataclass(frozen=True)
class OciLayout:
    """An OCI image layout directory that a client wrote, read with digest checks."""

    directory: Path

    def blob_path(self, digest: str) -> Path:
        algorithm, _, hex_digest = digest.partition(":")
        return self.directory / "blobs" / algorithm / hex_digest

    def blob(self, digest: str) -> bytes:
        """Return a blob's bytes after checking that they hash to their file name."""
        path = self.blob_path(digest)
        assert path.is_file(), f"the layout {self.directory} has no blob {digest}"
        data = path.read_bytes()
        assert sha256_digest(data) == digest, f"the layout blob {path} does not hash to {digest}"
        return data

    def entry(self, tag: str) -> dict[str, Any]:
        """Return the index.json descriptor that carries the reference name `tag`."""
        index = json.loads((self.directory / "index.json").read_text())
        entries = [
            entry
            for entry in index["manifests"]
            if entry.get("annotations", {}).get(REF_NAME_ANNOTATION) == tag
        ]
        assert len(entries) == 1, (
            f"index.json of {self.directory} has {len(entries)} '{tag}' entries: {index}"
        )
        entry: dict[str, Any] = entries[0]
        return entry

    def manifest(self, tag: str) -> bytes:
        return self.blob(self.entry(tag)["digest"])


def read_dir_transport(directory: Path) -> tuple[bytes, dict[str, bytes]]:
    """Read what `skopeo copy ... dir:<directory>` wrote: the manifest and blobs by digest.

    That transport stores the manifest bytes unchanged as manifest.json and each blob
    in a file named by its hex digest.
    """
    manifest = (directory / "manifest.json").read_bytes()
    blobs: dict[str, bytes] = {}
    for path in directory.iterdir():
        if len(path.name) == 64 and all(char in "0123456789abcdef" for char in path.name):
            data = path.read_bytes()
            digest = f"sha256:{path.name}"
            assert sha256_digest(data) == digest, f"{path} does not hash to its name"
            blobs[digest] = data
    return manifest, blobs


# The Debian image


@dataclass(frozen=True)
class CachedLayer:
    """A layer tarball on disk, too large to keep in memory: its path, digests and size."""

    path: Path
    digest: str
    diff_id: str
    size: int
    build_seconds: float | None


def cache_dir() -> Path:
    """Return the directory for artifacts that repeated runs reuse: $BERTH_TEST_CACHE_DIR,
    or the gitignored .cache/berth-tests in the repository."""
    configured = os.environ.get("BERTH_TEST_CACHE_DIR")
    directory = Path(configured) if configured else repo_root() / ".cache" / "berth-tests"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def debian_rootfs_layer() -> CachedLayer:
    """Return the Debian bookworm root filesystem layer, building it on first use.

    The build runs `debootstrap --variant=minbase` against Debian's mirror, prunes what
    slim images prune, and packs the tree as a gzip-compressed tar. It needs root, and
    it took 90 to 155 s on a 2-core machine with a busy second core. Later runs reuse the
    cached tarball, so delete the file to rebuild it.
    """
    tarball = cache_dir() / DEBIAN_LAYER_NAME
    build_seconds: float | None = None
    if not tarball.exists():
        started = time.monotonic()
        build_debian_tarball(tarball)
        build_seconds = time.monotonic() - started
    digest, diff_id = layer_digests(tarball)
    return CachedLayer(tarball, digest, diff_id, tarball.stat().st_size, build_seconds)


def build_debian_tarball(destination: Path) -> None:
    debootstrap = shutil.which("debootstrap")
    assert debootstrap is not None, (
        "debootstrap is not installed; scripts/test installs it from Debian's package "
        "debootstrap (apt-get install debootstrap)"
    )
    assert os.geteuid() == 0, "debootstrap must run as root to build the Debian test image"
    root = destination.with_name(destination.name + ".rootfs")
    shutil.rmtree(root, ignore_errors=True)
    try:
        result = subprocess.run(
            [debootstrap, "--variant=minbase", DEBIAN_SUITE, str(root), DEBIAN_MIRROR],
            capture_output=True,
            text=True,
            timeout=DEBOOTSTRAP_TIMEOUT_SECONDS,
            check=False,
        )
        assert result.returncode == 0, (
            f"debootstrap failed with status {result.returncode}\n"
            f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
        )
        for relative in DEBIAN_PRUNED_PATHS:
            empty_directory(root / relative)
        partial = destination.with_name(destination.name + ".partial")
        pack_tree(root, partial)
        partial.rename(destination)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def empty_directory(directory: Path) -> None:
    """Delete what a directory contains but keep the directory itself."""
    if not directory.is_dir():
        return
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def pack_tree(root: Path, destination: Path) -> None:
    """Write `root` as a gzip-compressed tar with numeric owners and sorted names."""
    with destination.open("wb") as output:
        with gzip.GzipFile(fileobj=output, mode="wb", compresslevel=6, mtime=0) as compressed:
            tar = subprocess.Popen(
                ["tar", "--numeric-owner", "--sort=name", "-C", str(root), "-cf", "-", "."],
                stdout=subprocess.PIPE,
            )
            assert tar.stdout is not None
            shutil.copyfileobj(tar.stdout, compressed, 1024 * 1024)
            status = tar.wait()
    assert status == 0, f"tar of {root} failed with status {status}"


def layer_digests(tarball: Path) -> tuple[str, str]:
    """Return the digest of a gzip file and the digest of its decompressed content."""
    compressed = hashlib.sha256()
    with tarball.open("rb") as source:
        for chunk in iter(lambda: source.read(1024 * 1024), b""):
            compressed.update(chunk)
    uncompressed = hashlib.sha256()
    with gzip.open(tarball, "rb") as source:
        for chunk in iter(lambda: source.read(1024 * 1024), b""):
            uncompressed.update(chunk)
    return f"sha256:{compressed.hexdigest()}", f"sha256:{uncompressed.hexdigest()}"


def extract_rootfs(tarball: Path, destination: Path) -> None:
    """Unpack a root filesystem layer, leaving out device nodes and FIFOs.

    Creating device nodes needs privileges a test machine may lack, and no check reads
    them. Absolute symbolic links are kept, as a root filesystem has many.
    """

    def keep(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        if member.ischr() or member.isblk() or member.isfifo():
            return None
        return tarfile.tar_filter(member, path)

    with tarfile.open(tarball, "r:gz") as archive:
        archive.extractall(destination, filter=keep)


def read_member(tarball: Path, name: str) -> bytes:
    """Return the content of one regular file in a tar.gz, by its name in the archive."""
    with tarfile.open(tarball, "r:gz") as archive:
        member = archive.getmember(name)
        extracted = archive.extractfile(member)
        assert extracted is not None, f"{name} in {tarball} is not a regular file"
        return extracted.read()
