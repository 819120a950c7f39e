"""Watched copies of the objects the operator manages, so that a reconcile reads them from memory
instead of sending the API server a GET for each (some twenty per Club per resync).

One Informer per kind (and per namespace when the operator watches a list of namespaces): it LISTs
the objects that carry the operator's label, then WATCHes from that list's resourceVersion, and
keeps the latest version of each. A watch that ends is resumed from the last version seen; one the
server refuses as too old (410) or that fails is replaced by a new LIST. Until the first LIST is
in, and whenever the informer has lost its watch, `get` answers "unknown" and the caller GETs.

Objects the operator writes are put in at once (`remember`), so the next read sees its own write
even before the watch delivers it; an older version arriving later never replaces a newer one.
A `listener`, where one is given, is called with each version the watch (or a new LIST) brings in,
after the copy holds it: the Deployments' copy tells the operator when a rollout completes
(handlers.deployment_changed), so the Deployments are watched once, here, and not also by kopf.

Why these and not kopf's indexes. A kopf index holds only what its watch delivered: it cannot take
the operator's own writes, so a reconcile that follows its own apply within the watch's lag would
read the old object and apply again. And kopf runs every event of every watched object through its
per-object processing on the event loop that also serves the Clubs' watch. Measured with
bench/bench_operator_scale.py (200 Clubs, 2 cores, two runs back to back with the version before):
a kopf index and `on.event` handler on the Deployments beside these copies (some 1,800 events while
provisioning) cost 8 to 10 s of operator CPU until all are Ready (57.3 against 48.9 s, 72.8 against
63.2 s: +15 to 17%) and 7 to 14 MiB of peak RSS. These copies watch nine kinds; kopf indexes for all
nine would put every one of their events through that per-object processing.

Each object is slimmed before the copy holds it (`slim`, like client-go's transform functions): the
copies hold every managed object of every Club, and most of a stored object is bookkeeping the
operator never reads: managedFields (often half the object), kubectl's last-applied annotation, and
the status of kinds whose status it never looks at (autoscalers, PDBs and Services, rewritten by
their controllers)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

# Asked of the server per watch request; the read timeout a little longer catches a silent stall.
WATCH_TIMEOUT_SEC = 240
READ_TIMEOUT_SEC = WATCH_TIMEOUT_SEC + 30
RETRY_SEC = (0.5, 1.0, 2.0, 5.0, 10.0)

# (path, query, read timeout) -> the server's response: a readable, streamable body.
Request = Callable[[str, list[tuple[str, str]], float | None], Any]
# Called with each object version the watch brings in (never with our own writes, nor deletions).
Listener = Callable[[dict[str, Any]], None]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Kinds whose status the operator reads (rollouts, Jobs' completion, CRDs' Established): the
# copies of every other kind drop it (kube_cache).
STATUS_READ = frozenset({"Deployment", "Job", "CustomResourceDefinition"})


def slim(obj: dict[str, Any], *, status: bool) -> dict[str, Any]:
    """The object with only what the operator reads: without managedFields and kubectl's last-applied
    annotation, and without its status unless `status`. A new dict; `obj` is left as it was."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if annotations and LAST_APPLIED in annotations:
        kept = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        if kept:
            meta["annotations"] = kept
        else:
            del meta["annotations"]
    return {k: v for k, v in obj.items() if k != "metadata" and (status or k != "status")} | {
        "metadata": meta
    }


class WatchExpired(Exception):
    """The server no longer has the history the watch asked for (410 Gone): LIST again."""


def resource_version(obj: dict[str, Any]) -> int | None:
    """resourceVersion as a number where it is one (etcd's revision, on every real API server)."""
    value = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    return int(value) if value.isdigit() else None


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def newer(candidate: dict[str, Any], current: dict[str, Any] | None) -> bool:
    """Whether `candidate` may replace `current`: not when it is known to be older."""
    if current is None:
        return True
    a, b = resource_version(candidate), resource_version(current)
    return a is None or b is None or a >= b


class Informer:
    """A watched copy of one kind's labelled objects under `path` (a namespace's or the cluster's)."""

    def __init__(
        self,
        name: str,
        path: str,
        selector: str,
        request: Request,
        listener: Listener | None = None,
        *,
        status: bool = True,
    ) -> None:
        """`status`: whether the copy keeps the objects' status (see `slim`)."""
        self.name, self.path, self.selector = name, path, selector
        self._status = status
        self._request = request
        self._listener = listener
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._stop = threading.Event()

    # --- reads and our own writes --------------------------------------------------------------

    def get(self, namespace: str, name: str) -> tuple[bool, dict[str, Any] | None]:
        """(known, object): known is False while the copy cannot be trusted; then object is None."""
        if not self._synced.is_set():
            return False, None
        with self._lock:
            return True, self._objects.get((namespace, name))

    def remember(self, obj: dict[str, Any]) -> None:
        """An object as the server returned it after our write."""
        obj = self._slim(obj)
        key = _key(obj)
        with self._lock:
            if newer(obj, self._objects.get(key)):
                self._objects[key] = obj

    def _slim(self, obj: dict[str, Any]) -> dict[str, Any]:
        return slim(obj, status=self._status)

    def forget(self, namespace: str, name: str) -> None:
        """An object we just deleted."""
        with self._lock:
            self._objects.pop((namespace, name), None)

    # --- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"informer-{self.name}", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def _run(self) -> None:
        failures = 0
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._list()
                    failures = 0
                version = self._watch(version)
            except WatchExpired:
                version = None
            except Exception as exc:
                self._synced.clear()
                version = None
                delay = RETRY_SEC[min(failures, len(RETRY_SEC) - 1)]
                failures += 1
                # Once per streak: a kind whose CRD was removed fails until it comes back.
                (log.warning if failures == 1 else log.debug)(
                    "informer %s: %s; listing again in %.1fs", self.name, _describe(exc), delay
                )
                self._stop.wait(delay)

    def _selected(self, query: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [("labelSelector", self.selector), *query] if self.selector else query

    def _list(self) -> str:
        resp = self._request(self.path, self._selected([]), READ_TIMEOUT_SEC)
        try:
            listed = json.loads(resp.read())
        finally:
            resp.release_conn()
        objects = {_key(item): item for item in (self._slim(i) for i in listed.get("items") or [])}
        with self._lock:
            self._objects = objects
        self._synced.set()
        for item in objects.values():  # what changed while the watch was down
            self._tell(item)
        return str(listed["metadata"]["resourceVersion"])

    def _watch(self, version: str) -> str:
        """Apply the watch's events from `version` on; returns the last version seen when the server
        ends the watch."""
        query = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", version),
            ("timeoutSeconds", str(WATCH_TIMEOUT_SEC)),
        ]
        resp = self._request(self.path, self._selected(query), READ_TIMEOUT_SEC)
        ended = False
        try:
            for event in _events(resp):
                version = self._apply(event) or version
                if self._stop.is_set():
                    return version
            ended = True
        finally:
            if not ended:
                resp.close()  # a stream left midway cannot carry another request
            resp.release_conn()
        return version

    def _apply(self, event: dict[str, Any]) -> str | None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise WatchExpired(obj.get("message", "too old resource version"))
            raise RuntimeError(f"watch error {obj.get('code')}: {obj.get('message')}")
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            return str(version) if version else None
        obj = self._slim(obj)
        key = _key(obj)
        with self._lock:
            current = self._objects.get(key)
            changed = newer(obj, current)
            if changed and kind == "DELETED":
                self._objects.pop(key, None)
            elif changed:
                self._objects[key] = obj
        if changed and kind != "DELETED":
            self._tell(obj)
        return str(version) if version else None

    def _tell(self, obj: dict[str, Any]) -> None:
        if self._listener is None:
            return
        try:
            self._listener(obj)
        except Exception:
            log.exception("informer %s: the listener failed on %s/%s", self.name, *_key(obj))


def _events(resp: Any) -> Iterator[dict[str, Any]]:
    """The watch's events: one JSON document per line."""
    buffer = b""
    for chunk in resp.stream(64 * 1024, decode_content=True):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)
    if buffer.strip():
        yield json.loads(buffer)


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__} {status}" if status else f"{type(exc).__name__}: {exc}"
