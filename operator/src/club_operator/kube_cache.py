"""The watched copies the operator reads its managed objects from (informers.py), one per kind and
watched namespace, started on first use: a resync that finds nothing to change sends the API server
nothing at all (some twenty GETs per Club per resync otherwise).

Off until `watch_scope` is called (the operator process does so at start): then `held` answers from
the copy, and kube.py's reads fall back to a GET only where the copy cannot answer. The operator's
own writes are put in at once (`remember`, `forget`), so the next read sees them. `listen` has a
kind's copies started at once and report each version they bring in (the Deployments', for rollouts)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from club_operator import kube_client, naming
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


def remember(api_version: str, kind: str, written: Any) -> None:
    """Our write as the server answered it (a dict, or one of the client's models)."""
    obj: dict[str, Any] = (
        written if isinstance(written, dict) else kube_client.api_client().sanitize_for_serialization(written)  # type: ignore[no-untyped-call]
    )
    informer = _informer(api_version, kind, obj["metadata"]["namespace"])
    if informer is not None:
        informer.remember(obj)


def forget(api_version: str, kind: str, namespace: str, name: str) -> None:
    """An object we just deleted."""
    informer = _informer(api_version, kind, namespace)
    if informer is not None:
        informer.forget(namespace, name)
