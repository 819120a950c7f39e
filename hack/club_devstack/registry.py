"""The stack's container registry: the CNCF distribution registry (built by hack/tools.sh from its Go
module), serving plain HTTP on a free port, where `make images` pushes the runtime and operator
images and the real node's containerd pulls them from, the way a cluster's nodes do. Images are
named by `127.0.0.1:PORT` (`RegistryInfo.host`); the node, whose 127.0.0.1 is its own, reaches the
same port at the host's address (start_registry).

Every stack's registry serves the same storage, a folder in the tool cache outside the checkout
(`storage_dir`), so an image pushed once is there for every later stack: nothing is pushed again
unless its inputs changed (images.py tags each image with a digest of them). Blobs are stored under
their content digest and written by rename, so two stacks pushing at once do not corrupt each other;
nothing here deletes or garbage-collects while a registry runs.
"""

from __future__ import annotations

import functools
import json
import secrets
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from club_devstack import tools
from club_devstack.procs import Process

LOOPBACK = "127.0.0.1"

# What a registry answers a manifest request with, in the order a client prefers them: podman pushes
# OCI manifests, docker v2 ones; an index where an image is multi-platform.
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


@dataclass(frozen=True)
class RegistryInfo:
    """`host` is what an image reference starts with: `{host}/club-runtime:0.1.0`."""

    host: str

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def manifest_url(self, repository: str, reference: str) -> str:
        return f"{self.url}/v2/{repository}/manifests/{reference}"


@functools.cache
def cache_dir() -> Path:
    """The tool cache hack/tools.sh fills (CLUB_CACHE_DIR, else ~/.cache/club-platform)."""
    done = subprocess.run(
        ["bash", str(tools.TOOLS_SH), "cache-dir"], check=True, capture_output=True, text=True
    )
    return Path(done.stdout.strip())


def storage_dir() -> Path:
    """Where every stack's registry keeps its blobs and manifests."""
    return cache_dir() / "images" / "registry"


def config(host: str, storage: Path) -> dict[str, Any]:
    """The registry's configuration file (JSON is YAML too)."""
    return {
        "version": "0.1",
        "log": {"level": "warn", "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            # Several registries share the storage: none purges uploads another may be writing.
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        # Signs upload state between requests; each registry process has its own.
        "http": {"addr": host, "secret": secrets.token_hex(16)},
    }


def _open_manifest(info: RegistryInfo, repository: str, reference: str, method: str) -> Any:
    url = info.manifest_url(repository, reference)
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    request = urllib.request.Request(url, method=method, headers=headers)  # noqa: S310 - http, built here
    try:
        return urllib.request.urlopen(request, timeout=10)  # noqa: S310
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and method == "HEAD":
            return None
        raise RuntimeError(f"registry {info.host}: {method} {repository}:{reference}: {exc.code}") from exc


def manifest_exists(info: RegistryInfo, repository: str, reference: str) -> bool:
    """Whether the registry serves `repository:reference` (HTTP API v2, HEAD of the manifest)."""
    resp = _open_manifest(info, repository, reference, "HEAD")
    if resp is None:
        return False
    with resp:
        return bool(resp.status == 200)


def manifest(info: RegistryInfo, repository: str, reference: str) -> dict[str, Any]:
    """The manifest the registry serves for `repository:reference` (HTTP API v2)."""
    with _open_manifest(info, repository, reference, "GET") as resp:
        document: dict[str, Any] = json.load(resp)
    return document


def start_registry(root: Path, logs: Path) -> tuple[Process, RegistryInfo]:
    """Start a registry on a free port of 127.0.0.1 and wait until it answers the v2 API."""
    info = RegistryInfo(f"{LOOPBACK}:{tools.free_port()}")
    storage = storage_dir()
    storage.mkdir(parents=True, exist_ok=True)
    config_file = root / "registry.json"
    # Every address where the host has one: the real node pulls from the host's (its 127.0.0.1 is
    # its own, see node.use_registry); images keep the name the host pushes to, `info.host`.
    listen = f"0.0.0.0:{info.host.rsplit(':', 1)[1]}" if tools.host_address() else info.host
    config_file.write_text(json.dumps(config(listen, storage), indent=2))
    proc = Process(
        "registry",
        [str(tools.go_binary("registry")), "serve", str(config_file)],
        logs / "registry.log",
        # Its OpenTelemetry exporters would try to reach a collector that is not there.
        env={"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"},
    )

    def answers() -> bool:
        with urllib.request.urlopen(f"{info.url}/v2/", timeout=2) as resp:  # noqa: S310
            return bool(resp.status == 200)

    proc.wait_ready(answers, timeout=30)
    return proc, info
