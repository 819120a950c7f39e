"""Clubs waiting for their Deployments to roll out.

A whole reconcile that found nothing left to do but wait for the Deployments registers the Club
here and ends (no retry loop, no write to the Club meanwhile). Every change the Deployment informer
sees to one of a waiting Club's Deployments queues a re-check, which reads the Deployments from the
informer's copy (no request) and, once all are available, writes WorkloadsReady and Ready. The
resync timer re-checks waiting Clubs too, so a missed event costs at most one resync interval.

Each Club's reconciles and re-checks hold the same lock (`lock`), so they never interleave."""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from club_operator import naming, publish
from club_operator.config import OperatorSettings
from club_operator.outcome import ClubObject, Outcome
from club_operator.reconcile import recheck_rollout

log = logging.getLogger(__name__)

_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def lock(uid: str) -> threading.Lock:
    """The Club's lock: its handlers, its resync and its rollout re-checks run one at a time."""
    return _locks[uid]


@dataclass(frozen=True)
class Waiting:
    """A whole reconcile that found nothing left to do but wait for the Deployments' rollout."""

    club: ClubObject
    outcome: Outcome
    status: dict[str, Any]  # the Club's status as that reconcile left it
    at: float  # when the whole reconcile ran (time.monotonic())


_waiting: dict[tuple[str, str], Waiting] = {}
_queued: set[tuple[str, str]] = set()
_queue: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
_state_lock = threading.Lock()


def wait(club: ClubObject, outcome: Outcome, status: dict[str, Any], whole_at: float) -> None:
    """Register the Club as waiting; `whole_at`: when the whole reconcile behind `outcome` ran.
    A re-check is queued at once: a Deployment that became available after the reconcile read it
    but before this registration would otherwise wait for the next resync."""
    key = (club.namespace, club.name)
    with _state_lock:
        _waiting[key] = Waiting(club, outcome, status, whole_at)
    _queue_recheck(key)


def take(club: ClubObject, max_age_sec: float) -> Waiting | None:
    """The Club's registration if it is for this generation and younger than `max_age_sec`
    (removed either way: the caller registers again if it still waits)."""
    with _state_lock:
        found = _waiting.pop((club.namespace, club.name), None)
    if found is None or found.club.uid != club.uid or found.club.generation != club.generation:
        return None
    return found if time.monotonic() - found.at < max_age_sec else None


def drop(club: ClubObject) -> None:
    with _state_lock:
        _waiting.pop((club.namespace, club.name), None)


def deployment_changed(deployment: dict[str, Any]) -> None:
    """The Deployment informer's callback (its thread: only queues)."""
    meta = deployment.get("metadata") or {}
    club = (meta.get("labels") or {}).get(naming.CLUB_LABEL)
    _queue_recheck((str(meta.get("namespace") or ""), str(club or "")))


def _queue_recheck(key: tuple[str, str]) -> None:
    with _state_lock:
        if key not in _waiting or key in _queued:
            return
        _queued.add(key)
    _queue.put(key)


_started = threading.Event()


def start(settings: OperatorSettings) -> None:
    """Start the re-check thread, once. Call from a Club handler: the thread keeps the handler's
    context, which kopf's Event posting needs (a startup handler's context lacks it)."""
    with _state_lock:
        if _started.is_set():
            return
        _started.set()
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(_loop, settings), name="club-rollouts", daemon=True).start()


def _loop(settings: OperatorSettings) -> None:
    while True:
        key = _queue.get()
        with _state_lock:
            _queued.discard(key)
        try:
            _recheck(key, settings)
        except Exception:
            log.exception("re-checking the rollout of Club %s/%s failed", *key)


def _recheck(key: tuple[str, str], settings: OperatorSettings) -> None:
    with _state_lock:
        found = _waiting.get(key)
    if found is None:
        return
    with lock(found.club.uid):
        with _state_lock:
            waiting = _waiting.get(key)
        if waiting is None or waiting.club.uid != found.club.uid:
            return  # a reconcile finished meanwhile
        outcome = recheck_rollout(waiting.club, settings, waiting.outcome)
        # Still rolling out: nothing to write yet. A Deployment gone: drift, for the next resync.
        if outcome is None or outcome.rolling_out:
            return
        with _state_lock:
            _waiting.pop(key, None)
        publish.publish(waiting.club, outcome, waiting.status)
