"""A one-layer OCI image made from a few files, for images that are a single static binary (the
pause image, test programs): as an archive `ctr images import` loads, or as the blobs a registry
takes (`tests/support/registry_push.py`), without an image builder.

The archive is deterministic: the same files and name give the same bytes, hence the same digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from typing import Any

_LAYER = "application/vnd.oci.image.layer.v1.tar"
_CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class File:
    path: str
    data: bytes
    mode: int = 0o755


def _tar(entries: list[tuple[str, bytes, int]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Image:
    """An image's blobs: one layer, its config and the manifest naming both."""

    layer: bytes
    config: bytes
    manifest: bytes


def build_image(files: list[File], *, entrypoint: list[str], user: str = "65532:65532") -> Image:
    layer = _tar([(f.path.lstrip("/"), f.data, f.mode) for f in files])
    config = _json(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": entrypoint, "User": user},
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
        }
    )
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": _CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": _LAYER, "digest": _digest(layer), "size": len(layer)}],
        }
    )
    return Image(layer, config, manifest)


def build_archive(name: str, files: list[File], *, entrypoint: list[str], user: str = "65532:65532") -> bytes:
    """An OCI image layout, as a tar, holding one image named `name` (registry/repository:tag)."""
    image = build_image(files, entrypoint=entrypoint, user=user)
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
    index = _json(
        {
            "schemaVersion": 2,
            "mediaType": _INDEX,
            "manifests": [
                {
                    "mediaType": MANIFEST,
                    "digest": _digest(image.manifest),
                    "size": len(image.manifest),
                    # containerd names the image by the first; other tools read the tag.
                    "annotations": {
                        "io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        }
    )
    blobs = [
        (f"blobs/sha256/{_digest(b).split(':')[1]}", b, 0o644)
        for b in (image.layer, image.config, image.manifest)
    ]
    return _tar(
        [("oci-layout", _json({"imageLayoutVersion": "1.0.0"}), 0o644), ("index.json", index, 0o644), *blobs]
    )
