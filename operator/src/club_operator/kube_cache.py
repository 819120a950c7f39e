"""The watched copies the operator reads its managed objects from (informers.py), one per kind and
watched namespace, started on first use: a resync that finds nothing to change sends the API server
nothing at all (some twenty GETs per Club per resync otherwise).

Off until `watch_scope` is called (the operator process does so at start): then `held` answers from
the copy, and kube.py's reads fall back to a GET only where the copy cannot answer. The operator's
own writes are put in at once (`remember`, `forget`), so the next read sees them. `listen` has a
kind's copies started at once and report each version they bring in (the Deployments', for rollouts).
`holds` compares a manifest with what a copy holds, answering for the pod templates the copies drop
once the operator has compared them (informers.py)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from club_operator import informers, kube_client, naming, objects
from club_operator.informers import STATUS_READ, Informer, Listener

_SELECTOR = f"app.kubernetes.io/managed-by={naming.MANAGED_BY}"
_informers: dict[tuple[str, str, str | None], Informer] = {}
_informers_lock = threading.Lock()
# "scope": None: the copies are off (reads GET). (): one copy per kind for the whole cluster.
# Names: one per kind and namespace.
_watched: dict[str, tuple[str, ...] | None] = {"scope": None}
_listeners: dict[tuple[str, str], Listener] = {}


def watch_scope(namespaces: Sequence[str]) -> None:
    """Turn the copies on for the operator's namespaces (kopf's patterns). Patterns with globs or
    exclusions are watched cluster-wide: Clubs outside them are never reconciled, so their objects
    are never read."""
    plain = all(p and not any(c in p for c in "*?[!") for p in namespaces)
    _watched["scope"] = tuple(namespaces) if namespaces and plain else ()


def _informer(api_version: str, kind: str, namespace: str | None) -> Informer | None:
    """The informer for the kind in `namespace` (None: a cluster-scoped kind, every object of it),
    started on first use; None where there is none (copies off, a namespace outside the scope,
    a kind the server does not serve)."""
    watched = _watched["scope"]
    if watched is None or (namespace is not None and watched and namespace not in watched):
        return None
    scope = namespace if namespace is not None and watched else None
    key = (api_version, kind, scope)
    with _informers_lock:
        found = _informers.get(key)
        if found is None:
            try:
                path = kube_client.resource(api_version, kind).path(namespace=scope)
            except kube_client.KubeError:
                return None
            found = _informers[key] = Informer(
                f"{kind}/{scope or '*'}",
                path,
                "" if namespace is None else _SELECTOR,
                kube_client.watch_request(kube_client.watch_client()),
                _listeners.get((api_version, kind)),
                status=kind in STATUS_READ,
                bulk=informers.BULK.get(kind) if namespace is not None else None,
            )
            found.start()
        return found


def listen(api_version: str, kind: str, listener: Listener) -> None:
    """Start the kind's copies now (one per watched namespace, or one for the cluster) and call
    `listener` with each version of its labelled objects they bring in. Call before the first read."""
    _listeners[(api_version, kind)] = listener
    watched = _watched["scope"]
    for namespace in (watched or ("",)) if watched is not None else ():
        _informer(api_version, kind, namespace)


def held(api_version: str, kind: str, namespace: str | None, name: str) -> tuple[bool, dict[str, Any] | None]:
    """(known, object) from the kind's copy; (False, None) where there is none or it is not synced.
    Do not modify the object."""
    informer = _informer(api_version, kind, namespace)
    if informer is None:
        return False, None
    return informer.get(namespace or "", name)


def remember(api_version: str, kind: str, written: Any, *, applied: dict[str, Any] | None = None) -> None:
    """Our write as the server answered it (a dict, or one of the client's models); `applied`: the
    manifest that write applied, vouched for where the answer holds it (informers.py)."""
    obj: dict[str, Any] = (
        written if isinstance(written, dict) else kube_client.api_client().sanitize_for_serialization(written)  # type: ignore[no-untyped-call]
    )
    informer = _informer(api_version, kind, obj["metadata"]["namespace"])
    if informer is None:
        return
    found = None
    if applied is not None and informer.bulk is not None and objects.holds(applied, obj):
        found = informers.spec_digest(applied.get("spec"))
    informer.remember(obj, holds=found)


def holds(manifest: dict[str, Any], live: dict[str, Any]) -> bool:
    """Whether `live` (from `held`, or from the API server) carries every field of `manifest`
    (objects.holds). A copy that dropped the object's bulk answers for it from what the operator
    found before (informers.py); a whole object that holds is vouched for, and slimmed."""
    meta = live.get("metadata") or {}
    informer = _informer(manifest["apiVersion"], manifest["kind"], meta.get("namespace"))
    bulk = informer.bulk if informer is not None else None
    if informer is None or bulk is None:
        return objects.holds(manifest, live)
    namespace, name, at = str(meta.get("namespace")), str(meta.get("name")), informers.generation(live)
    digest = informers.spec_digest(manifest.get("spec"))
    if bulk not in (live.get("spec") or {}):
        rest = {k: v for k, v in manifest.items() if k != "spec"}
        return objects.holds(rest, live) and informer.vouched(namespace, name, at, digest)
    if not objects.holds(manifest, live):
        return False
    informer.vouch(namespace, name, at, digest)
    return True


def forget(api_version: str, kind: str, namespace: str, name: str) -> None:
    """An object we just deleted."""
    informer = _informer(api_version, kind, namespace)
    if informer is not None:
        informer.forget(namespace, name)
