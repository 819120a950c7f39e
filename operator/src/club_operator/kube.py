"""The one module that sends the Kubernetes API its requests: Secrets (get, create, patch only what
differs), the managed objects (read, server-side apply, delete), Clubs' status and Events. Builders
and models never import the client.

Reads of the managed objects come from the watched copies (kube_cache.py) where the operator process
turned them on, and from a GET otherwise; every write is put in the copy at once."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import NotFoundError

from club_operator import kube_cache, kube_client, naming, objects

FIELD_MANAGER = "club-operator"
KubeError = kube_client.KubeError  # what every call here raises


class Refused(KubeError):
    """The API server refused an object the operator built from the spec (422): the spec asks for
    something the schema let through but the object's own validation does not (a node selector key
    that is not a label key, say). Retrying cannot help; the message is the server's, which names
    the field."""


class InvalidSecret(ValueError):
    """A Secret holds a value the operator cannot use (bytes that are not UTF-8 text). The message
    names the Secret and the key, never the value: a person must fix it, retrying will not."""


def _core() -> client.CoreV1Api:
    return client.CoreV1Api(kube_client.api_client())


def _decode(data: Mapping[str, bytes | str] | None, namespace: str, name: str) -> dict[str, str]:
    return {key: _text(value, namespace, name, key) for key, value in (data or {}).items()}


def _text(value: bytes | str, namespace: str, name: str, key: str) -> str:
    try:
        return base64.b64decode(value).decode()
    except UnicodeDecodeError as exc:
        raise InvalidSecret(
            f"Secret {namespace}/{name} key {key!r} is not UTF-8 text: store the value as text"
        ) from exc


def _encode(data: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}


def _read_secret_data(namespace: str, name: str, *, own: bool = False) -> Mapping[str, bytes | str] | None:
    """The Secret's data, still base64-encoded; None when it does not exist. A Secret the watched copy
    does not hold (a server's Secret carries no label of ours) is read from the API server, but for
    `own`: a Secret the operator makes and labels, which the copy, once synced, holds if it exists."""
    known, held = kube_cache.held("v1", "Secret", namespace, name)
    if held is not None:
        return cast(Mapping[str, bytes | str], held.get("data") or {})
    if known and own:
        return None
    try:
        secret = _core().read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise KubeError(f"reading Secret {namespace}/{name} failed: {exc.status} {exc.reason}") from exc
    return cast(Mapping[str, bytes | str], secret.data or {})


def read_secret(namespace: str, name: str, *, own: bool = False) -> dict[str, str] | None:
    """The Secret's data, decoded; None when it does not exist. InvalidSecret when a value is not
    UTF-8 text. `own`: one of the Secrets the operator makes (see _read_secret_data): a new Club's
    are not looked for on the API server one by one."""
    data = _read_secret_data(namespace, name, own=own)
    return None if data is None else _decode(data, namespace, name)


def ensure_secret(manifest: dict[str, Any], *, keep: frozenset[str]) -> tuple[dict[str, str], bool]:
    """`write_secret` against the Secret as it is now."""
    meta = manifest["metadata"]
    return write_secret(manifest, read_secret(meta["namespace"], meta["name"]), keep=keep)


def write_secret(
    manifest: dict[str, Any], current: dict[str, str] | None, *, keep: frozenset[str]
) -> tuple[dict[str, str], bool]:
    """Create the Secret if missing; else patch the keys whose value differs, except those in `keep`
    (generated values: once written they are never replaced here). Returns the data now stored and
    whether anything was written."""
    namespace = manifest["metadata"]["namespace"]
    name = manifest["metadata"]["name"]
    desired: dict[str, str] = manifest["stringData"]
    if current is None:
        body = {k: v for k, v in manifest.items() if k != "stringData"} | {"data": _encode(desired)}
        try:
            kube_cache.remember("v1", "Secret", _core().create_namespaced_secret(namespace, cast(Any, body)))
        except ApiException as exc:
            if exc.status == 409:  # created concurrently: use what is there
                return ensure_secret(manifest, keep=keep)
            raise KubeError(f"creating Secret {namespace}/{name} failed: {exc.status} {exc.reason}") from exc
        return dict(desired), True
    changes = {k: v for k, v in desired.items() if current.get(k) != v and not (k in keep and k in current)}
    if not changes:
        return current, False
    try:
        kube_cache.remember(
            "v1", "Secret", _core().patch_namespaced_secret(name, namespace, {"data": _encode(changes)})
        )
    except ApiException as exc:
        raise KubeError(f"patching Secret {namespace}/{name} failed: {exc.status} {exc.reason}") from exc
    return current | changes, True


def read_secret_key(namespace: str, name: str, key: str) -> str | None:
    """One value of the Secret, decoded (the other keys are not looked at); None when the Secret or
    the key does not exist. InvalidSecret when the value is not UTF-8 text."""
    data = _read_secret_data(namespace, name)
    value = None if data is None else data.get(key)
    return None if value is None else _text(value, namespace, name, key)


def read_object(api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    """The object as it is now (from the watched copy where there is one: do not modify it), or None."""
    known, held = kube_cache.held(api_version, kind, namespace, name)
    if known:
        return held
    try:
        live = kube_client.resource(api_version, kind).get(name=name, namespace=namespace)
    except NotFoundError:
        return None
    except ApiException as exc:
        raise KubeError(f"reading {kind} {namespace}/{name} failed: {exc.status} {exc.reason}") from exc
    result: dict[str, Any] = live.to_dict()
    return result


def apply_object(manifest: dict[str, Any]) -> bool:
    """Create or update the object so that every field of `manifest` holds; when they already do,
    send nothing. Returns whether anything was written (server-side apply, owned by the operator)."""
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    live = read_object(api_version, kind, namespace, name)
    if live is not None and objects.holds(manifest, live):
        return False
    try:
        applied = kube_client.dynamic_client().server_side_apply(  # type: ignore[no-untyped-call]
            kube_client.resource(api_version, kind),
            body=manifest,
            name=name,
            namespace=namespace,
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
    except ApiException as exc:
        if exc.status == 422:
            raise Refused(f"the API server refused {kind} {name}: {_server_message(exc)}") from exc
        raise KubeError(f"applying {kind} {namespace}/{name} failed: {exc.status} {exc.reason}") from exc
    kube_cache.remember(api_version, kind, applied.to_dict())
    return True


def _server_message(exc: ApiException) -> str:
    """The message of the API server's Status (it names the field and what is wrong)."""
    try:
        return str(json.loads(exc.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return str(exc.reason)


def delete_object(api_version: str, kind: str, namespace: str, name: str) -> bool:
    """Delete the object if it exists; returns whether a delete was sent."""
    try:
        kube_client.resource(api_version, kind).delete(name=name, namespace=namespace)
    except NotFoundError:
        return False
    except ApiException as exc:
        raise KubeError(f"deleting {kind} {namespace}/{name} failed: {exc.status} {exc.reason}") from exc
    kube_cache.forget(api_version, kind, namespace, name)
    return True


def list_clubs(namespaces: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every Club in `namespaces` (all: the whole cluster), straight from the API server (not from the
    watch)."""
    api = client.CustomObjectsApi(kube_client.api_client())
    items: list[dict[str, Any]] = []
    try:
        if not namespaces:
            listed = api.list_cluster_custom_object(naming.GROUP, naming.VERSION, naming.CLUB_PLURAL)
            items.extend(cast(dict[str, Any], listed).get("items", []))
        for namespace in namespaces:
            listed = api.list_namespaced_custom_object(
                naming.GROUP, naming.VERSION, namespace, naming.CLUB_PLURAL
            )
            items.extend(cast(dict[str, Any], listed).get("items", []))
    except ApiException as exc:
        raise KubeError(f"listing Clubs failed: {exc.status} {exc.reason}") from exc
    return items


def crd_installed(name: str) -> bool:
    """Whether a CustomResourceDefinition (e.g. scaledobjects.keda.sh) exists and is established."""
    known, crd = kube_cache.held("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, name)
    if known:
        return crd is not None and _established((crd.get("status") or {}).get("conditions"))
    try:
        read = client.ApiextensionsV1Api(kube_client.api_client()).read_custom_resource_definition(name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise KubeError(f"reading CRD {name} failed: {exc.status} {exc.reason}") from exc
    conditions = read.status.conditions if read.status else None
    return _established([{"type": c.type, "status": c.status} for c in conditions or []])


def _established(conditions: list[dict[str, Any]] | None) -> bool:
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions or [])


def event(body: Mapping[str, Any], *, warning: bool, reason: str, message: str) -> None:
    """Record an Event on the object (kopf posts it asynchronously; call from a kopf handler, whose
    context the posting needs). `body` needs apiVersion, kind and metadata's name, namespace and uid.
    Never put a secret in `message`."""
    kopf.event(cast(kopf.Body, body), type="Warning" if warning else "Normal", reason=reason, message=message)


def patch_status(plural: str, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any] | None:
    """Merge `status` into one of our custom objects' status (None values remove fields). Returns
    the object as written, or None when it no longer exists."""
    try:
        written = client.CustomObjectsApi(kube_client.api_client()).patch_namespaced_custom_object_status(
            naming.GROUP,
            naming.VERSION,
            namespace,
            plural,
            name,
            {"status": status},
            _content_type="application/merge-patch+json",  # custom resources take no strategic merge
        )
    except ApiException as exc:
        if exc.status == 404:
            return None  # deleted meanwhile: nothing to report on
        raise KubeError(f"patching the status of {plural} {namespace}/{name} failed: {exc.status}") from exc
    return cast(dict[str, Any], written)


def delete_custom(plural: str, namespace: str, name: str) -> None:
    """Delete one of our custom objects (background propagation); gone already is fine."""
    try:
        client.CustomObjectsApi(kube_client.api_client()).delete_namespaced_custom_object(
            naming.GROUP, naming.VERSION, namespace, plural, name
        )
    except ApiException as exc:
        if exc.status != 404:
            raise KubeError(f"deleting {plural} {namespace}/{name} failed: {exc.status}") from exc


def list_objects(api_version: str, kind: str, namespace: str, label_selector: str) -> list[dict[str, Any]]:
    """The objects of one kind in the namespace that match the label selector, from the API server."""
    try:
        listed = kube_client.resource(api_version, kind).get(
            namespace=namespace, label_selector=label_selector
        )
    except ApiException as exc:
        raise KubeError(f"listing {kind}s in {namespace} failed: {exc.status} {exc.reason}") from exc
    items: list[dict[str, Any]] = listed.to_dict().get("items") or []
    return items


def create_custom(plural: str, namespace: str, body: dict[str, Any]) -> bool:
    """Create one of our custom objects; returns False when one of that name exists already."""
    try:
        client.CustomObjectsApi(kube_client.api_client()).create_namespaced_custom_object(
            naming.GROUP, naming.VERSION, namespace, plural, body
        )
    except ApiException as exc:
        if exc.status == 409:
            return False
        if exc.status == 422:
            raise Refused(
                f"the API server refused {plural} {body['metadata']['name']}: {_server_message(exc)}"
            ) from exc
        raise KubeError(
            f"creating {plural} {namespace}/{body['metadata']['name']} failed: {exc.status}"
        ) from exc
    return True


def read_custom(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    """One of our custom objects as the API server has it now, or None."""
    try:
        found = client.CustomObjectsApi(kube_client.api_client()).get_namespaced_custom_object(
            naming.GROUP, naming.VERSION, namespace, plural, name
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise KubeError(f"reading {plural} {namespace}/{name} failed: {exc.status} {exc.reason}") from exc
    return cast(dict[str, Any], found)


def annotate(
    api_version: str, kind: str, namespace: str, name: str, annotations: Mapping[str, str | None]
) -> None:
    """Merge `annotations` into the object's metadata, a None value removing one (gone already is fine)."""
    try:
        kube_client.resource(api_version, kind).patch(
            name=name,
            namespace=namespace,
            body={"metadata": {"annotations": dict(annotations)}},
            content_type="application/merge-patch+json",
        )
    except NotFoundError:
        return
    except ApiException as exc:
        raise KubeError(f"annotating {kind} {namespace}/{name} failed: {exc.status} {exc.reason}") from exc
