"""The one place that decides a Club's status and writes it: `report` turns what a reconcile found
(an Outcome) into the status, the Events and the Ready gauge. Every path goes through it: create,
update, resume and the resync timer (handlers.reconcile_club), a Deployment's change that completes
a rollout (handlers.deployment_changed), and deletion's phase (`deleting`).

The status is written with a merge patch of the fields that changed, not through kopf's patch: a
rollout completes between the Club's own handler runs, and kopf's patch, applied after a handler,
would overwrite it with what that handler's body held. kopf may also hand a handler a Club older
than the status already written (its watch lags under load), and kopf offers nothing that knows
about our own writes: the last status written is kept per Club, and the newer of the two by
resourceVersion is what a report compares with, so a stale body neither rewrites the status nor
posts its Events again. The same record holds the rollout a Club waits for (rollouts.py).

Each Club's reports run under the Club's lock (`lock`): kopf runs a Club's timer beside its change
handlers, and a completed rollout is reported beside both."""

from __future__ import annotations

import dataclasses
import datetime
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from club_operator import kube, metrics, naming
from club_operator import status as club_status
from club_operator.club import ClubObject
from club_operator.conditions import Reason, Type
from club_operator.informers import resource_version
from club_operator.models import ClubPhase
from club_operator.outcome import Outcome


@dataclass(frozen=True)
class Waiting:
    """A whole reconcile that found nothing left to do but wait for its Deployments' rollout."""

    club: ClubObject
    outcome: Outcome  # without its changes: those were reported already
    at: float  # when the whole reconcile ran (time.monotonic())


@dataclass(frozen=True)
class _Known:
    version: int  # the Club's resourceVersion that holds `status`
    status: dict[str, Any]
    waiting: Waiting | None


_lock = threading.Lock()
_known: dict[str, _Known] = {}  # Club uid -> what this process last wrote or saw
_uids: dict[tuple[str, str], str] = {}  # (namespace, name) -> uid
_club_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def lock(uid: str) -> threading.Lock:
    """The Club's lock: its reconciles, its rollout's completion and its deletion run one at a time."""
    with _lock:
        return _club_locks[uid]


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def current_status(uid: str, body: Mapping[str, Any] | None) -> tuple[int, dict[str, Any]]:
    """(resourceVersion, status): the body's, or the one known here if that is newer."""
    with _lock:
        known = _known.get(uid)
    version = 0 if body is None else resource_version(dict(body)) or 0
    if known is not None and known.version > version:
        return known.version, dict(known.status)
    return version, dict((body or {}).get("status") or {})


def waiting(namespace: str, name: str) -> Waiting | None:
    """The rollout the Club waits for, if any."""
    with _lock:
        uid = _uids.get((namespace, name))
        known = None if uid is None else _known.get(uid)
    return None if known is None else known.waiting


def report(
    club: ClubObject, outcome: Outcome, body: Mapping[str, Any] | None, *, whole_at: float
) -> dict[str, Any]:
    """Write what changed in the status, post its Events (`events`), set the Ready gauge; remember
    the rollout the Club now waits for, if it does. `body`: the Club as the handler got it (None:
    known here only); `whole_at`: when the whole reconcile behind `outcome` ran. Returns the
    status as it now is."""
    version, current = current_status(club.uid, body)
    desired = club_status.build_status(current, outcome, club.generation, now())
    changes = club_status.changed_fields(current, desired)
    # The gauge first: whoever sees the status should find the metric agreeing with it.
    ready = desired["phase"] == ClubPhase.READY
    metrics.CLUB_READY.labels(club.namespace, club.name).set(1 if ready else 0)
    if changes:
        written = kube.patch_status(naming.CLUB_PLURAL, club.namespace, club.name, changes)
        version = version if written is None else resource_version(written) or version
    pending = None
    if outcome.waits_only_for_rollout:
        pending = Waiting(club, dataclasses.replace(outcome, changes=[], secrets={}), whole_at)
    remember(club, version, desired, pending)
    _post_events(club, outcome, current, desired)
    return desired


def deleting(club: ClubObject, body: Mapping[str, Any]) -> None:
    """Deletion's phase, written once; the Club waits for no rollout any more."""
    version, current = current_status(club.uid, body)
    if current.get("phase") != ClubPhase.DELETING:
        written = kube.patch_status(
            naming.CLUB_PLURAL, club.namespace, club.name, {"phase": str(ClubPhase.DELETING)}
        )
        version = version if written is None else resource_version(written) or version
    remember(club, version, current | {"phase": str(ClubPhase.DELETING)}, None)


def remember(club: ClubObject, version: int, status: dict[str, Any], pending: Waiting | None) -> None:
    """The Club's status as of `version` (written by us or found already in place), and the rollout
    it waits for."""
    with _lock:
        _known[club.uid] = _Known(version, status, pending)
        _uids[(club.namespace, club.name)] = club.uid


def forget(club: ClubObject) -> None:
    """The Club is gone."""
    with _lock:
        _known.pop(club.uid, None)
        _club_locks.pop(club.uid, None)
        if _uids.get((club.namespace, club.name)) == club.uid:
            del _uids[(club.namespace, club.name)]


def _post_events(
    club: ClubObject, outcome: Outcome, current: dict[str, Any], desired: dict[str, Any]
) -> None:
    body = club.reference
    for kind, _ in outcome.changes:
        metrics.WRITES.labels(kind).inc()
    for event in events(outcome.changes, club_status.transitions(current, desired), outcome.permanent):
        kube.event(body, warning=event.warning, reason=event.reason, message=event.message)


@dataclass(frozen=True)
class Event:
    warning: bool
    reason: str
    message: str


def events(
    changes: list[tuple[str, str]], moved: list[club_status.Transition], permanent: str | None
) -> list[Event]:
    """The Events of one report: one for what it wrote (its parts in one message), one for the
    conditions that moved without a problem (Ready's first, whose reason it takes), and one per
    condition that moved to a problem (a Warning with the condition's own reason). Each Event is a
    write to the API server: a new Club was some 15 of them, one per part and per condition."""
    found: list[Event] = []
    # A credential's rotation or revocation is an Event of its own: an audit record ops look for,
    # rare, and never cut off by kopf's 1 KiB limit on a message behind the rest of a reconcile.
    audited = [(kind, message) for kind, message in changes if kind in _AUDITED]
    written = [(kind, message) for kind, message in changes if kind not in _AUDITED]
    if written:
        found.append(Event(False, str(Reason.PROVISIONED), "; ".join(_grouped(written))))
    found.extend(Event(False, str(Reason.PROVISIONED), message) for message in _grouped(audited))
    normal = sorted((m for m in moved if not m.warning), key=lambda m: m.type != Type.READY)
    if normal:
        found.append(Event(False, normal[0].reason, "; ".join(_said(m) for m in normal)))
    found.extend(Event(True, m.reason, _said(m)) for m in moved if m.warning)
    if permanent:
        found.append(Event(True, str(Reason.INVALID_SPEC), permanent))
    return found


def _said(moved: club_status.Transition) -> str:
    """The condition and its new status, then its message: `Ready True: ...`."""
    said = f"{moved.type} {moved.status}"
    return f"{said}: {moved.message}" if moved.message else said


# The parts of a reconcile's Event: the objects of one kind together, the database's steps together.
_EVENT_GROUPS = {"schema": "database", "canary": "database", "role": "database"}
_AUDITED = frozenset({"rotation", "revocation"})


def _grouped(changes: list[tuple[str, str]]) -> list[str]:
    groups: dict[str, list[str]] = {}
    for kind, message in changes:
        groups.setdefault(_EVENT_GROUPS.get(kind, kind), []).append(message)
    return ["; ".join(messages) for messages in groups.values()]
