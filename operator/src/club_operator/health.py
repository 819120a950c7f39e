"""The operator's own health: a background loop LISTs the Clubs every few seconds, feeds the
watchdog (stalled watch streams fail the liveness probe) and publishes the gauges that need every
Club at once (clubs by condition, pending reconciles).

A thread of its own rather than kopf's machinery: kopf's timers and daemons run per object, and the
LIST is the API server's own view, the one thing the watch is checked against: it cannot come from
the watch (an index) it is meant to catch stalling."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import kopf

from club_operator import kube, metrics
from club_operator.config import OperatorSettings
from club_operator.watchdog import Watchdog, condition_counts, listed_namespaces, pending, serves

log = logging.getLogger(__name__)

_state: dict[str, Any] = {"dog": None, "stalled": [], "error": None, "stop": threading.Event(), "scope": ()}


def scope(namespaces: Sequence[str]) -> None:
    """The namespace patterns the operator was started with: Clubs elsewhere are not its business."""
    _state["scope"] = tuple(namespaces)


def start(settings: OperatorSettings) -> None:
    dog = Watchdog(grace_sec=settings.watch_stall_grace_sec)
    _state["dog"] = dog
    _state["stop"].clear()
    threading.Thread(
        target=_loop, args=(dog, settings.health_interval_sec), name="club-health", daemon=True
    ).start()


def stop() -> None:
    _state["stop"].set()


def heard(event: kopf.RawEvent) -> None:
    dog: Watchdog | None = _state["dog"]
    obj = event.get("object") or {}
    meta = obj.get("metadata") or {}
    if dog is not None and meta.get("name"):
        dog.saw(
            meta.get("namespace", ""),
            meta["name"],
            meta.get("resourceVersion"),
            deleted=event.get("type") == "DELETED",
        )


def check() -> str:
    if _state["stalled"]:
        raise kopf.PermanentError(
            f"the Club watch is behind the API server on {', '.join(_state['stalled'])}"
        )
    if _state["error"]:
        raise kopf.PermanentError(f"listing Clubs failed: {_state['error']}")
    return "ok"


def _loop(dog: Watchdog, interval: float) -> None:
    stop_flag: threading.Event = _state["stop"]
    while not stop_flag.wait(interval):
        try:
            listed = kube.list_clubs(listed_namespaces(_state["scope"]))
        except kube.KubeError as exc:
            _state["error"] = str(exc)
            continue
        _state["error"] = None
        listed = [c for c in listed if serves(c["metadata"]["namespace"], _state["scope"])]
        _state["stalled"] = dog.stalled(listed, time.monotonic())
        metrics.CLUBS_BY_CONDITION.clear()
        for (type_, status), count in condition_counts(listed).items():
            metrics.CLUBS_BY_CONDITION.labels(type_, status).set(count)
        metrics.PENDING_RECONCILES.set(pending(listed))
        metrics.WATCH_STALLED.set(len(_state["stalled"]))
        if _state["stalled"]:
            log.error("the Club watch stalled: %s", ", ".join(_state["stalled"]))
