"""`ClubWorker`: RQ's forking worker, with the policies the video pipeline relies on.

- Abandoned jobs. RQ keeps each running job in the StartedJobRegistry with a deadline that the
  worker pushes forward every `job_monitoring_interval` (its heartbeat). When a worker dies
  (SIGKILL, node loss) the deadline passes; the next registry cleanup (every worker runs one every
  `maintenance_interval`, and on start) fails the job with AbandonedJobError and, if it has retries
  left, re-enqueues it with its backoff. RQ allows 60 s past a missed heartbeat; `heartbeat_grace_sec`
  makes that configurable. An idle worker waits on the queue at most `maintenance_interval`, so the
  cleanup really runs that often.
- Retries and timeout. Video jobs get `video_timeout_sec` and, when the enqueuer set no retry policy,
  retries with `retry_intervals` (persisted on the job, since the abandoned-job cleanup reads them
  from Redis in another worker).
- Registered functions only. A job naming any function or callback the runtime does not register
  (`registry`) is failed at once, before the worker forks, as a permanent error naming it.
- Metrics, observed around each job in this long-lived process (see `metrics`).
- Redis outages. RQ's loop retries only its dequeue on a connection error: one anywhere else (the
  heartbeat while a job runs, maintenance, recording a finished job) makes RQ log "unhandled
  exception, quitting" and the worker exit, killing the job's work horse with the container. Here
  those steps log and go on: a missed heartbeat leaves the horse working, maintenance runs again
  next time, and a job whose end could not be recorded stays in the StartedJobRegistry, where the
  abandoned-job cleanup retries it once Redis is back (the operator requeues a VideoJob whose job
  Redis lost). The loop then waits for a job, retrying with backoff (RQ retries only the dequeue
  itself; the worker's state it records first is retried here too)."""

from __future__ import annotations

import logging
import time
from types import TracebackType
from typing import Any

from redis.client import Pipeline
from rq import Queue, Worker
from rq.exceptions import AbandonedJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.utils import now

from club_runtime.redis_client import UNAVAILABLE, wait_until_reachable
from club_runtime.settings import get_settings
from club_runtime.worker import metrics, registry
from club_runtime.worker.jobs import video

log = logging.getLogger(__name__)

_OUTCOME_BY_STATUS = {
    JobStatus.FINISHED: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.SCHEDULED: "retried",
    JobStatus.QUEUED: "retried",
    JobStatus.STOPPED: "stopped",
}


class ClubWorker(Worker):
    job_class = registry.RegisteredJob
    heartbeat_grace_sec: int = 60
    video_timeout_sec: int = 3600
    retry_intervals: tuple[int, ...] = (10, 60, 300)
    redis_retry_sec: float = 1.0  # the first wait for an unreachable Redis outside the dequeue

    @property
    def dequeue_timeout(self) -> int:
        # RQ blocks on an empty queue for worker_ttl - 15 s (405 s) and runs maintenance only
        # between waits: cap the wait so an idle worker finds abandoned jobs on time.
        return max(1, min(int(self.worker_ttl) - 15, int(self.maintenance_interval)))

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        interval = float(self.job_monitoring_interval)
        if job.timeout and job.timeout > 0:
            interval = min(job.timeout - working_time, interval)
        return int(max(interval, 1)) + self.heartbeat_grace_sec

    def apply_policy(self, job: Job) -> None:
        """Give video jobs the worker's timeout and, if they have none, a retry policy."""
        if job.func_name != video.FUNCTION:
            return
        job.timeout = self.video_timeout_sec
        if job.retries_left is None and self.retry_intervals:
            job.retries_left = len(self.retry_intervals)
            job.retry_intervals = list(self.retry_intervals)
        job.save(include_meta=False)

    def execute_job(self, job: Job, queue: Queue) -> None:
        try:
            problem = registry.refusal(job)
            if problem is not None:
                self.refuse(job, queue, problem)
                return
            self.apply_policy(job)
            self._execute_observed(job, queue)
        except UNAVAILABLE as exc:
            # The horse has exited, if it was started (maintain_heartbeats keeps the monitor waiting).
            log.error(
                "Redis unreachable while running or recording job %s (%s): it stays started, and RQ's "
                "abandoned-job cleanup retries it once Redis is back",
                job.id,
                type(exc).__name__,
            )

    def _execute_observed(self, job: Job, queue: Queue) -> None:
        gauge = metrics.IN_PROGRESS.labels(queue=queue.name)
        gauge.inc()
        started = time.monotonic()
        try:
            super().execute_job(job, queue)
        finally:
            gauge.dec()
            self._observe(job, queue.name, time.monotonic() - started)

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """RQ's wait for a job retries a connection error only around the dequeue itself; the
        worker's state it records first (and anything else in there) is retried here too. A SIGTERM
        meanwhile stops the worker as usual (RQ's handler raises in the sleep)."""
        delay = self.redis_retry_sec
        while True:
            try:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except UNAVAILABLE as exc:
                log.warning(
                    "waiting for a job: Redis unreachable (%s); retrying in %.0f s", type(exc).__name__, delay
                )
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def maintain_heartbeats(self, job: Job, execution: Execution) -> None:
        """RQ's heartbeat while a horse works; missed while Redis is unreachable, the horse goes on."""
        try:
            super().maintain_heartbeats(job, execution)
        except UNAVAILABLE as exc:
            log.warning("missed a heartbeat for job %s: Redis unreachable (%s)", job.id, type(exc).__name__)

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        try:
            super().heartbeat(timeout, pipeline)
        except UNAVAILABLE as exc:
            log.warning("missed the worker's heartbeat: Redis unreachable (%s)", type(exc).__name__)

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()  # type: ignore[no-untyped-call]  # rq leaves it unannotated
        except UNAVAILABLE as exc:
            log.warning("maintenance put off: Redis unreachable (%s)", type(exc).__name__)

    def check_for_suspension(self, burst: bool) -> None:
        try:
            super().check_for_suspension(burst)
        except UNAVAILABLE as exc:
            log.warning("could not check for suspension: Redis unreachable (%s)", type(exc).__name__)

    def register_birth(self) -> None:
        """Registered at start: a Redis outage then is waited out, not a crash."""
        while True:
            try:
                super().register_birth()  # type: ignore[no-untyped-call]  # rq leaves it unannotated
                return
            except UNAVAILABLE:
                wait_until_reachable(self.connection)

    def teardown(self) -> None:
        try:
            super().teardown()  # type: ignore[no-untyped-call]  # rq leaves it unannotated
        except UNAVAILABLE as exc:
            # The worker's key expires on its own (worker_ttl): nothing is left behind for long.
            log.warning("could not record the worker's exit: Redis unreachable (%s)", type(exc).__name__)

    def refuse(self, job: Job, queue: Queue, problem: str) -> None:
        """Fail a job the worker must not run: no retry, no callback, never forked."""
        log.error("refused job %s: %s", job.id, problem)
        job.retries_left = 0
        job.ended_at = now()
        # Where a single-queue dequeue (LMOVE) left it; the work horse would have removed it.
        queue.intermediate_queue.remove(job.id)
        self.handle_job_failure(
            job, queue, exc_string=f"{registry.UnregisteredFunctionError.__name__}: {problem}"
        )
        metrics.observe_job(queue.name, "failed", 0.0, 0, 0)

    def _observe(self, job: Job, queue: str, seconds: float) -> None:
        try:
            status = job.get_status(refresh=True)
            meta: dict[str, Any] = job.get_meta(refresh=True)
        except Exception:  # the job may be gone (result_ttl=0): count what we know
            status, meta = None, {}
        metrics.observe_job(
            queue,
            _OUTCOME_BY_STATUS.get(status, "failed") if status else "succeeded",
            seconds,
            int(meta.get("bytes_read", 0)),
            int(meta.get("bytes_written", 0)),
        )
        metrics.observe_transcodes(meta)


def record_abandoned(
    job: Job, exc_type: type[BaseException], exc_value: BaseException, traceback: TracebackType | None
) -> bool:
    """Worker exception handler: a video job abandoned on its last attempt never reaches its own
    failure handling (its process is gone), so mark the video failed here. RQ calls this during
    registry cleanup, before it decides between retry and failure."""
    if exc_type is AbandonedJobError and job.func_name == video.FUNCTION and not job.should_retry:
        video_id = str((job.kwargs or {}).get("video_id", ""))
        reason = "the worker processing this video died and no retries are left"
        video.mark_failed(get_settings(), video_id, reason)
        video.record_failure(job, "WorkerLost", reason)
    return True  # let RQ's own handling go on
