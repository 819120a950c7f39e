"""The VideoJobs' side of the clubs' Redis queues: enqueue once, read a job's state, stop it.

Jobs are JSON (as the runtime's worker reads them), never pickles: this process has rights in the
cluster and must not unpickle what a club's worker wrote."""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import redis
from rq import Callback, Queue
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from club_operator.videojob_status import JobView
from club_runtime import contract

KEEP_SEC = 7 * 24 * 3600
"""How long Redis keeps a finished job (result, metadata): longer than any operator outage, so the
status can always be recovered, and the job id stays taken."""


class QueueError(RuntimeError):
    """Redis could not be reached or refused the command."""


@functools.cache
def connection(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)


def _fetch(conn: redis.Redis, job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
    except NoSuchJobError:
        return None


def read(url: str, job_id: str) -> JobView | None:
    """The job's state, or None when there is no such job."""
    try:
        job = _fetch(connection(url), job_id)
        if job is None:
            return None
        result: Any = None
        exc_message = ""
        status = _status(job)
        if status == "finished":
            result = job.return_value(refresh=False)
        elif status == "failed":
            latest = job.latest_result()
            exc_message = _last_line(latest.exc_string if latest else None)
        return JobView(
            status=status,
            enqueued_at=job.enqueued_at,
            started_at=job.started_at,
            ended_at=job.ended_at,
            meta=dict(job.meta or {}),
            result=result if isinstance(result, dict) else None,
            exc_message=exc_message,
        )
    except redis.RedisError as exc:
        raise QueueError(f"reading job {job_id} from Redis failed: {exc}") from exc


def enqueue(url: str, queue: str, job_id: str, kwargs: dict[str, Any], *, at_front: bool) -> bool:
    """Put the job on `queue` unless a job with this id exists; True when this call enqueued it."""
    conn = connection(url)
    try:
        if Job.exists(job_id, connection=conn):
            return False
        Queue(queue, connection=conn, serializer=JSONSerializer).enqueue(
            contract.PROCESS_VIDEO,
            kwargs=kwargs,
            job_id=job_id,
            at_front=at_front,
            result_ttl=KEEP_SEC,
            failure_ttl=KEEP_SEC,
            description=f"VideoJob {kwargs['source']['title']}",
            on_stopped=Callback(contract.VIDEO_STOPPED),
        )
    except redis.RedisError as exc:
        raise QueueError(f"enqueueing job {job_id} on {queue} failed: {exc}") from exc
    return True


def stop(url: str, job_id: str) -> str | None:
    """Take the job off its queue, or tell its worker to stop it; returns its status before."""
    conn = connection(url)
    try:
        job = _fetch(conn, job_id)
        if job is None:
            return None
        status = _status(job)
        if status == "started":
            with contextlib.suppress(InvalidJobOperation):  # it finished in the meantime
                send_stop_job_command(conn, job_id, serializer=JSONSerializer)
        elif status in ("queued", "deferred", "scheduled"):
            job.cancel()
    except redis.RedisError as exc:
        raise QueueError(f"stopping job {job_id} failed: {exc}") from exc
    return status


def forget(url: str, job_id: str) -> None:
    """Delete the job's data from Redis (after its VideoJob is gone)."""
    conn = connection(url)
    try:
        job = _fetch(conn, job_id)
        if job is not None:
            job.delete(remove_from_queue=True)
    except redis.RedisError as exc:
        raise QueueError(f"deleting job {job_id} failed: {exc}") from exc


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _status(job: Job) -> str:
    """The job's status as RQ spells it (queued, started, finished, ...)."""
    status = job.get_status(refresh=False)
    return str(getattr(status, "value", status))
