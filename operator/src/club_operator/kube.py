"""The one module that talks to the Kubernetes API: Secrets (get, create, patch only what differs)
and Events. Builders and models never import the client."""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from typing import Any, cast

import kopf
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException


class KubeError(RuntimeError):
    """A Kubernetes API call failed; the message says what was being done."""


@functools.cache
def api_client() -> client.ApiClient:
    """In a pod: the service account; elsewhere: $KUBECONFIG or ~/.kube/config."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        return client.ApiClient()
    except config.ConfigException:
        return cast(client.ApiClient, config.new_client_from_config())  # type: ignore[no-untyped-call]


def _core() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def _decode(data: Mapping[str, bytes | str] | None) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (data or {}).items()}


def _encode(data: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}


def read_secret(namespace: str, name: str) -> dict[str, str] | None:
    """The Secret's data, decoded; None when it does not exist."""
    try:
        secret = _core().read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise KubeError(f"reading Secret {namespace}/{name} failed: {exc.status} {exc.reason}") from exc
    return _decode(secret.data)


def ensure_secret(manifest: dict[str, Any], *, keep: frozenset[str]) -> tuple[dict[str, str], bool]:
    """Create the Secret if missing; else patch the keys whose value differs, except those in `keep`
    (generated values: once written they are never replaced here). Returns the data now stored and
    whether anything was written."""
    namespace = manifest["metadata"]["namespace"]
    name = manifest["metadata"]["name"]
    desired: dict[str, str] = manifest["stringData"]
    current = read_secret(namespace, name)
    if current is None:
        body = {k: v for k, v in manifest.items() if k != "stringData"} | {"data": _encode(desired)}
        try:
            _core().create_namespaced_secret(namespace, cast(Any, body))
        except ApiException as exc:
            if exc.status == 409:  # created concurrently: use what is there
                return ensure_secret(manifest, keep=keep)
            raise KubeError(f"creating Secret {namespace}/{name} failed: {exc.status} {exc.reason}") from exc
        return dict(desired), True
    changes = {k: v for k, v in desired.items() if current.get(k) != v and not (k in keep and k in current)}
    if not changes:
        return current, False
    try:
        _core().patch_namespaced_secret(name, namespace, {"data": _encode(changes)})
    except ApiException as exc:
        raise KubeError(f"patching Secret {namespace}/{name} failed: {exc.status} {exc.reason}") from exc
    return current | changes, True


def read_secret_key(namespace: str, name: str, key: str) -> str | None:
    data = read_secret(namespace, name)
    return None if data is None else data.get(key)


def event(body: kopf.Body, *, warning: bool, reason: str, message: str) -> None:
    """Record an Event on the object (kopf posts it asynchronously). Never put a secret in `message`."""
    kopf.event(body, type="Warning" if warning else "Normal", reason=reason, message=message)
