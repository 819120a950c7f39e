"""Where a reconcile's Outcome becomes the Club's status, its Events and its gauges.

The status is written here with a merge patch of the fields that changed, not through kopf's patch:
the rollout watcher (rollouts.py) updates it between handler runs, under the Club's lock, and must
not be overwritten by a handler's patch applied later. kopf may also hand a handler a Club older
than the status already written (its watch lags under load): the last status written is kept per
Club, and the newer of the two by resourceVersion is what a reconcile compares with, so a stale body
neither rewrites the status nor posts its Events again."""

from __future__ import annotations

import datetime
import threading
from typing import Any

from club_operator import kube, metrics, naming
from club_operator import status as club_status
from club_operator.conditions import Reason
from club_operator.informers import resource_version
from club_operator.models import ClubPhase
from club_operator.outcome import ClubObject, Outcome

_lock = threading.Lock()
_written: dict[str, tuple[int, dict[str, Any]]] = {}  # Club uid -> (resourceVersion, status)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _version(obj: dict[str, Any]) -> int:
    return resource_version(obj) or 0


def current_status(body: dict[str, Any]) -> dict[str, Any]:
    """The Club's status: the body's, or the one this process wrote last if that one is newer."""
    uid = body["metadata"]["uid"]
    with _lock:
        written = _written.get(uid)
    if written is not None and written[0] > _version(body):
        return dict(written[1])
    return dict(body.get("status") or {})


def remember(written: dict[str, Any]) -> None:
    """The Club as the server returned it after a status write of ours."""
    with _lock:
        _written[written["metadata"]["uid"]] = (_version(written), dict(written.get("status") or {}))


def forget(uid: str) -> None:
    with _lock:
        _written.pop(uid, None)


def reference(club: ClubObject) -> dict[str, Any]:
    """The Club as an Event's involved object."""
    return {
        "apiVersion": club.api_version,
        "kind": "Club",
        "metadata": {"namespace": club.namespace, "name": club.name, "uid": club.uid},
    }


def publish(club: ClubObject, outcome: Outcome, current: dict[str, Any]) -> dict[str, Any]:
    """Write what changed in the status, post an Event per part written and per condition that
    changed, set the Ready gauge. Returns the status as it now is."""
    desired = club_status.build_status(current, outcome, club.generation, now())
    changes = club_status.changed_fields(current, desired)
    # The gauge first: whoever sees the status should find the metric agreeing with it.
    ready = desired["phase"] == ClubPhase.READY
    metrics.CLUB_READY.labels(club.namespace, club.name).set(1 if ready else 0)
    if changes:
        written = kube.patch_status(naming.CLUB_PLURAL, club.namespace, club.name, changes)
        if written is not None:
            remember(written)
    body = reference(club)
    for kind, _ in outcome.changes:
        metrics.WRITES.labels(kind).inc()
    for message in _grouped(outcome.changes):
        kube.event(body, warning=False, reason=str(Reason.PROVISIONED), message=message)
    for moved in club_status.transitions(current, desired):
        # The reason is the condition's own (a Reason); the message says which condition moved.
        said = f"{moved.type} {moved.status}"
        kube.event(
            body,
            warning=moved.warning,
            reason=moved.reason,
            message=f"{said}: {moved.message}" if moved.message else said,
        )
    if outcome.permanent:
        kube.event(body, warning=True, reason=str(Reason.INVALID_SPEC), message=outcome.permanent)
    return desired


# One Event per part of a reconcile rather than per object written: a new Club is some 25 writes,
# and each Event is one more write to the API server.
_EVENT_GROUPS = {"schema": "database", "canary": "database", "role": "database"}


def _grouped(changes: list[tuple[str, str]]) -> list[str]:
    groups: dict[str, list[str]] = {}
    for kind, message in changes:
        groups.setdefault(_EVENT_GROUPS.get(kind, kind), []).append(message)
    return ["; ".join(messages) for messages in groups.values()]
