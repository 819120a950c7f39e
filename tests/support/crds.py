"""The project's CustomResourceDefinitions and sample manifests, for tests.

`install_crds(kube_api)` server-side applies every file in crds/ and waits until the API server
serves them. It is idempotent (apply with one field manager, forced) and cheap to call from every
test that needs the CRDs: within one process it applies each file once per API server.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"
SAMPLES_DIR = ROOT / "config" / "samples"
GROUP = "footballclub.io"
VERSION = "v1alpha1"
FIELD_MANAGER = "club-platform-tests"

_lock = threading.Lock()
_installed: set[tuple[str, str]] = set()


def crd_files() -> list[Path]:
    return sorted(CRD_DIR.glob("*.yaml"))


def load_crds() -> dict[str, dict[str, Any]]:
    """Every CRD in crds/, by kind."""
    crds = [yaml.safe_load(path.read_text()) for path in crd_files()]
    return {crd["spec"]["names"]["kind"]: crd for crd in crds}


def openapi_schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of the served version of `kind`."""
    (version,) = load_crds()[kind]["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def sample_files() -> list[Path]:
    return sorted(SAMPLES_DIR.glob("*.yaml"))


def load_sample(name: str) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load((SAMPLES_DIR / name).read_text())
    return manifest


def install_crds(kube_api: k8s.ApiClient, *, timeout: float = 60, again: bool = False) -> list[str]:
    """Apply every CRD in crds/ to the cluster and wait until each is Established; returns names.

    A file already applied by this process to this server is skipped unless `again`."""
    ext = k8s.ApiextensionsV1Api(kube_api)
    server = kube_api.configuration.host
    names = []
    with _lock:
        for path in crd_files():
            text = path.read_text()
            body = yaml.safe_load(text)
            names.append(body["metadata"]["name"])
            key = (server, hashlib.sha256(text.encode()).hexdigest())
            if key in _installed and not again:
                continue
            ext.patch_custom_resource_definition(
                body["metadata"]["name"],
                body,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type="application/apply-patch+yaml",
            )
            _wait_established(ext, body["metadata"]["name"], timeout)
            _installed.add(key)
    return names


def _wait_established(ext: k8s.ApiextensionsV1Api, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        crd = ext.read_custom_resource_definition(name)
        conditions = {c.type: c for c in (crd.status.conditions if crd.status else None) or []}
        established = conditions.get("Established")
        if established is not None and established.status == "True":
            return
        if time.monotonic() > deadline:
            problems = [f"{c.type}={c.status}: {c.message}" for c in conditions.values()]
            raise TimeoutError(f"CRD {name} not Established after {timeout}s: {problems}")
        time.sleep(0.2)


# --- custom objects ------------------------------------------------------------------------

PLURALS = {
    "Club": "clubs",
    "VideoJob": "videojobs",
    "ClubBackup": "clubbackups",
    "ClubRestore": "clubrestores",
}
MERGE_PATCH = "application/merge-patch+json"


def manifest(kind: str, spec: dict[str, Any], name: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}, "spec": spec}


def create(
    custom: k8s.CustomObjectsApi, namespace: str, body: dict[str, Any], *, dry_run: bool = False
) -> dict[str, Any]:
    """Create a Club or VideoJob; with `dry_run`, the server validates and defaults it, and stores nothing."""
    created = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURALS[body["kind"]], body, dry_run="All" if dry_run else None
    )
    assert isinstance(created, dict)
    return created


def patch(
    custom: k8s.CustomObjectsApi,
    namespace: str,
    kind: str,
    name: str,
    body: dict[str, Any],
    *,
    status: bool = False,
) -> dict[str, Any]:
    """A JSON merge patch of the object (or of its status subresource); custom resources take no
    strategic merge patch, the client's default."""
    call = custom.patch_namespaced_custom_object_status if status else custom.patch_namespaced_custom_object
    patched = call(GROUP, VERSION, namespace, PLURALS[kind], name, body, _content_type=MERGE_PATCH)
    assert isinstance(patched, dict)
    return patched


def rejection(call: Callable[[], object]) -> str:
    """Run `call`, which the API server must refuse as invalid (422); return the server's message."""
    with pytest.raises(ApiException) as refused:
        call()
    assert refused.value.status == 422, refused.value.body
    message: str = json.loads(refused.value.body or "{}")["message"]
    return message
