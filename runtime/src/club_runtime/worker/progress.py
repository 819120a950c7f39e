"""Progress of a video job: percent (0-100) and the current step, written to the RQ job's metadata
(which the operator mirrors into the VideoJob status) and to `videos.progress`. Writes happen only
when the whole percent or the step changes, so a long transcode writes at most about a hundred."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from rq.job import Job

from club_runtime.redis_client import UNAVAILABLE
from club_runtime.worker import video_store

log = logging.getLogger(__name__)


class Progress:
    def __init__(self, job: Job | None, conn: psycopg.Connection[Any], video_id: str) -> None:
        self._job = job
        self._conn = conn
        self._video_id = video_id
        self._last: tuple[int, str] | None = None
        self._step_started = time.monotonic()
        self.counters: dict[str, int] = {}
        self._unsaved = False  # the last save of the job's metadata met a Redis outage
        self.timings: dict[str, float] = {}
        # This attempt's ffmpeg ladder runs (worker/metrics.py observes them once the horse exits).
        self.transcodes: list[dict[str, Any]] = []

    def update(self, percent: float, step: str) -> None:
        current = (max(0, min(100, int(percent))), step)
        if current == self._last:
            return
        if self._last is not None and self._last[1] != step:
            self._close_step(self._last[1])
        self._last = current
        if self._job is not None:
            self._job.meta.update(
                progress=current[0],
                step=step,
                timings=self.timings,
                transcodes=self.transcodes,
                **self.counters,
            )
            try:
                _save_meta(self._job)
            except UNAVAILABLE as exc:
                # Progress is for people to read: a Redis outage does not stop the transcode, and
                # the next update writes the whole metadata again. Said once per outage.
                if not self._unsaved:
                    log.warning("progress not saved: Redis unreachable (%s)", type(exc).__name__)
                self._unsaved = True
            else:
                if self._unsaved:
                    log.info("progress saved again: Redis answers")
                self._unsaved = False
        video_store.set_progress(self._conn, self._video_id, current[0])

    def _close_step(self, step: str) -> None:
        """Add the time since the last step change to `step` (seconds per step: job timings)."""
        now = time.monotonic()
        self.timings[step] = round(self.timings.get(step, 0.0) + now - self._step_started, 3)
        self._step_started = now

    def span(self, start: float, end: float, step: str, total: float) -> _Span:
        """A callback mapping `done` out of `total` into [start, end] percent."""
        return _Span(self, start, end, step, total)

    def begin_attempt(self) -> None:
        """Record this execution in the job's metadata: who ran it, and from when."""
        if self._job is None:
            return
        # Called once the lease is held: earlier holders are done writing, so start from their meta.
        self._job.meta = self._job.get_meta(refresh=True)
        attempts: list[dict[str, Any]] = list(self._job.meta.get("attempts", []))
        attempts.append({"worker": self._job.worker_name, "pid": os.getpid(), "started_at": _now()})
        self._job.meta["attempts"] = attempts
        self._job.meta["transcodes"] = []  # an earlier attempt's runs were observed after it
        _save_meta(self._job)

    def end_attempt(self, outcome: str) -> None:
        if self._job is None or not self._job.meta.get("attempts"):
            return
        self._job.meta["attempts"][-1].update(finished_at=_now(), outcome=outcome)
        self._job.meta.update(self.counters, transcodes=self.transcodes)
        _save_meta(self._job)


class _Span:
    def __init__(self, progress: Progress, start: float, end: float, step: str, total: float) -> None:
        self._progress, self._start, self._end, self._step = progress, start, end, step
        self._total = max(total, 1e-9)

    def __call__(self, done: float) -> None:
        fraction = min(max(done / self._total, 0.0), 1.0)
        self._progress.update(self._start + (self._end - self._start) * fraction, self._step)


def _save_meta(job: Job) -> None:
    job.save_meta()  # type: ignore[no-untyped-call]  # rq leaves it unannotated


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
