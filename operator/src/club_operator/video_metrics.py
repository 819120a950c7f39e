"""Metrics of VideoJobs: how many are in each phase, how long they wait and how long they take.

The phase gauge is computed at scrape time from what each VideoJob's daemon last saw, so a deleted
job drops out of it and an operator restart rebuilds it from the jobs' statuses."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from club_operator.videojob_models import VideoJobPhase
from club_operator.videojob_status import parse_time

_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)

QUEUE_SECONDS = Histogram(
    "club_operator_videojob_queue_seconds",
    "Time from a VideoJob being queued to a worker starting it",
    buckets=_BUCKETS,
)
PROCESSING_SECONDS = Histogram(
    "club_operator_videojob_processing_seconds",
    "Time from a worker starting a VideoJob to it finishing, by outcome",
    ["phase"],
    buckets=_BUCKETS,
)
TRANSITIONS = Counter(
    "club_operator_videojob_transitions_total", "VideoJob phase changes, by the phase entered", ["phase"]
)


class _Phases(Collector):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phase: dict[str, str] = {}

    def set(self, uid: str, phase: str) -> None:
        with self._lock:
            self._phase[uid] = phase

    def forget(self, uid: str) -> None:
        with self._lock:
            self._phase.pop(uid, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            phases = list(self._phase.values())
        family = GaugeMetricFamily("club_operator_videojobs", "VideoJobs by phase", labels=["phase"])
        for phase in VideoJobPhase:
            family.add_metric([str(phase)], phases.count(str(phase)))
        yield family


PHASES = _Phases()
REGISTRY.register(PHASES)


def _seconds(start: object, end: object) -> float | None:
    began, ended = parse_time(start), parse_time(end)
    if began is None or ended is None:
        return None
    return (ended - began).total_seconds()


def observe_transition(uid: str, before: dict[str, object], after: dict[str, object]) -> None:
    """Count a phase change and time it: queue time when a worker took the job, processing
    time when it finished."""
    phase = str(after.get("phase") or "")
    PHASES.set(uid, phase)
    if phase == before.get("phase"):
        return
    TRANSITIONS.labels(phase=phase).inc()
    if phase == VideoJobPhase.RUNNING:
        waited = _seconds(after.get("queuedTime"), after.get("startTime"))
        if waited is not None:
            QUEUE_SECONDS.observe(max(waited, 0.0))
    if phase in (VideoJobPhase.SUCCEEDED, VideoJobPhase.FAILED):
        took = _seconds(after.get("startTime"), after.get("completionTime"))
        if took is not None:
            PROCESSING_SECONDS.labels(phase=phase).observe(max(took, 0.0))
