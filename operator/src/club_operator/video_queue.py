"""The VideoJobs' side of the clubs' Redis queues: enqueue once, read a job's state, stop it.

Each Club's jobs live under its own key prefix (redis_target.club_prefix), the RQ_KEY_PREFIX its
workers run with. RQ reads that prefix once, at import, and this process serves every Club: so
the job and queue classes here are RQ's with the Club's prefix as class attributes (RQ builds job
and queue keys from those), and the few keys RQ builds from the module-wide prefix (results, the
workers' Pub/Sub channel, the registries) are named here, the way RQ names them. The operator
reads a job's hash and its latest result through a read-only login that sees nothing else
(redis_acl.reader_url), and writes nothing of the Club's but the job it enqueues, the stop it asks
for and the removal of a job whose VideoJob is gone.

Jobs are JSON (as the runtime's worker reads them), never pickles: this process has rights in the
cluster and must not unpickle what a club's worker wrote."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import redis
from rq import Callback, Queue
from rq.job import Job, JobStatus
from rq.results import Result
from rq.serializers import JSONSerializer

from club_operator import redis_acl
from club_operator.config import OperatorSettings
from club_operator.redis_target import club_prefix
from club_operator.rq_job import JobView
from club_runtime import contract

KEEP_SEC = 7 * 24 * 3600
"""How long Redis keeps a finished job (result, metadata): longer than any operator outage, so the
status can always be recovered, and the job id stays taken."""

_REGISTRIES = ("wip", "finished", "failed", "deferred", "scheduled", "canceled")
"""RQ's per-queue registries (rq/registry.py: `<prefix>:<kind>:<queue>`)."""


class QueueError(RuntimeError):
    """Redis could not be reached or refused the command."""


@dataclass(frozen=True)
class ClubQueues:
    """Where a Club's jobs are: the operator's Redis (`url`) and the Club's key prefix."""

    url: str
    prefix: str

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))


def of_club(settings: OperatorSettings, namespace: str, name: str) -> ClubQueues:
    return ClubQueues(settings.redis_url.get_secret_value(), club_prefix(namespace, name))


@functools.cache
def connection(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)


@functools.cache
def _job_class(prefix: str) -> type[Job]:
    return type("ClubJob", (Job,), {"redis_job_namespace_prefix": f"{prefix}:job:"})


@functools.cache
def _queue_class(prefix: str) -> type[Queue]:
    attrs = {
        "job_class": _job_class(prefix),
        "redis_queue_namespace_prefix": f"{prefix}:queue:",
        "redis_queues_keys": f"{prefix}:queues",
    }
    return type("ClubQueue", (Queue,), attrs)


def _fetch(conn: redis.Redis, club: ClubQueues, job_id: str) -> Job | None:
    """The job as its hash says, or None; no other key is read."""
    job = _job_class(club.prefix)(job_id, connection=conn, serializer=JSONSerializer)
    raw = conn.hgetall(job.key)
    if not raw:
        return None
    job.restore(raw)
    return job


def _reader(club: ClubQueues) -> redis.Redis:
    """The operator's read-only login (redis_acl.reader_url): job hashes and results, nothing else."""
    try:
        return connection(redis_acl.reader_url(club.url))
    except redis_acl.RedisUnavailable as exc:
        raise QueueError(str(exc)) from exc


def _latest_result(conn: redis.Redis, club: ClubQueues, job: Job) -> Result | None:
    found = conn.xrevrange(club.key("results", job.id), "+", "-", count=1)
    if not found:
        return None
    result_id, payload = found[0]
    rid = result_id.decode() if isinstance(result_id, bytes) else str(result_id)
    return Result.restore(job.id, rid, dict(payload or {}), connection=conn, serializer=JSONSerializer)


def read(club: ClubQueues, job_id: str) -> JobView | None:
    """The job's state, or None when there is no such job."""
    conn = _reader(club)
    try:
        job = _fetch(conn, club, job_id)
        if job is None:
            return None
        result: Any = None
        exc_message = ""
        status = _status(job)
        if status in ("finished", "failed"):
            latest = _latest_result(conn, club, job)
            if status == "finished" and latest is not None and latest.type == Result.Type.SUCCESSFUL:
                result = latest.return_value
            elif status == "failed":
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
    except redis.AuthenticationError as exc:
        redis_acl.reader_url.cache_clear()  # the user was removed or changed: made again next time
        raise QueueError(f"reading job {job_id} from Redis failed: {exc}") from exc
    except redis.RedisError as exc:
        raise QueueError(f"reading job {job_id} from Redis failed: {exc}") from exc


def enqueue(club: ClubQueues, queue: str, job_id: str, kwargs: dict[str, Any], *, at_front: bool) -> bool:
    """Put the job on `queue` unless a job with this id exists; True when this call enqueued it."""
    conn = connection(club.url)
    try:
        if _job_class(club.prefix).exists(job_id, connection=conn):
            return False
        _queue_class(club.prefix)(queue, connection=conn, serializer=JSONSerializer).enqueue(
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


def stop(club: ClubQueues, job_id: str) -> str | None:
    """Take the job off its queue, or tell its worker to stop it; returns its status before."""
    conn = connection(club.url)
    try:
        job = _fetch(conn, club, job_id)
        if job is None:
            return None
        status = _status(job)
        if status == "started" and job.worker_name:
            # rq.command.send_command, on the Club's channel (`<prefix>:pubsub:<worker>`).
            payload = json.dumps({"command": "stop-job", "job_id": job_id})
            conn.publish(club.key("pubsub", job.worker_name), payload)
        elif status in ("queued", "deferred", "scheduled"):
            with conn.pipeline() as pipe:
                pipe.lrem(club.key("queue", job.origin), 0, job_id)
                for kind in ("deferred", "scheduled"):
                    pipe.zrem(club.key(kind, job.origin), job_id)
                job.set_status(JobStatus.CANCELED, pipeline=pipe)
                pipe.execute()
    except redis.RedisError as exc:
        raise QueueError(f"stopping job {job_id} failed: {exc}") from exc
    return status


def forget(club: ClubQueues, job_id: str) -> None:
    """Delete the job's data from Redis (after its VideoJob is gone)."""
    conn = connection(club.url)
    try:
        job = _fetch(conn, club, job_id)
        if job is None:
            return
        with conn.pipeline() as pipe:
            if job.origin:
                pipe.lrem(club.key("queue", job.origin), 0, job_id)
                for kind in _REGISTRIES:
                    pipe.zrem(club.key(kind, job.origin), job_id)
            pipe.unlink(
                job.key, job.dependents_key, club.key("results", job_id), club.key("executions", job_id)
            )
            pipe.execute()
    except redis.RedisError as exc:
        raise QueueError(f"deleting job {job_id} failed: {exc}") from exc


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _status(job: Job) -> str:
    """The job's status as RQ spells it (queued, started, finished, ...)."""
    status = job.get_status(refresh=False)
    return str(getattr(status, "value", status))
