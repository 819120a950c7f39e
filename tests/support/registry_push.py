"""Push a one-layer image (club_devstack.oci) to a registry over the distribution HTTP API: enough
for a test to put an image where a node pulls it, with no image tool."""

from __future__ import annotations

import hashlib
import urllib.parse
import urllib.request

from club_devstack import oci


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _send(method: str, url: str, data: bytes | None = None, content_type: str | None = None) -> str:
    """Send a request to the registry; return its Location header (empty if none)."""
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - http(s) URL
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - the stack's registry
        if resp.status not in {201, 202}:
            raise RuntimeError(f"{method} {url} answered {resp.status}")
        return str(resp.headers.get("Location", ""))


def push(registry_url: str, repository: str, tag: str, image: oci.Image) -> None:
    """Upload the image's blobs (each in one request), then its manifest under `tag`."""
    for blob in (image.layer, image.config):
        location = _send("POST", f"{registry_url}/v2/{repository}/blobs/uploads/")
        upload = urllib.parse.urljoin(f"{registry_url}/", location)
        separator = "&" if "?" in upload else "?"
        digest = urllib.parse.quote(_digest(blob))
        _send("PUT", f"{upload}{separator}digest={digest}", blob, "application/octet-stream")
    _send("PUT", f"{registry_url}/v2/{repository}/manifests/{tag}", image.manifest, oci.MANIFEST)
