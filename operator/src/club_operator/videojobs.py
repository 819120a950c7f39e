"""What the operator does for a VideoJob, without the decorators (main.py has those).

One kopf daemon per VideoJob (`follow`) drives it from creation to its end:
- Pending while its Club is missing, not Ready or has no GPU workers for a `gpu: required` job; the
  Club is read from the operator's Club index (kept by the Club watch), so waiting costs no API call.
- Failed (SourceNotFound) when the source object does not exist, (InvalidSource) when it is larger
  than an upload through the API may be (UPLOAD_MAX_SIZE_MB); the worker checks it is a video.
- Queued once the source object exists: the job `video-<uid>` goes on the club's queue for its
  priority; a job with that id already in Redis is never enqueued again (re-apply, restart, resync).
- Then the status mirrors the job, read from Redis once a second: a change reaches the status within
  a second or two, and the API server sees a write only when something changed.
- `deadlineSeconds` after being queued, an unfinished job is stopped and Failed (DeadlineExceeded).
- Finished: `ttlSecondsAfterFinished` later the VideoJob is deleted; the daemon then ends.

Deleting an unfinished VideoJob (`delete`) stops its job and removes its partial outputs (the video's
folders, `contract.video_folders`; never the source).
Every phase change is an Event and counted in video_metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from club_operator import bucket_objects, kube, rq_job, s3_server, video_metrics, video_queue
from club_operator import club_servers as servers
from club_operator import videojob_status as vj
from club_operator.builders.config_map import UPLOAD_MAX_SIZE_MB
from club_operator.club_view import ClubView
from club_operator.config import OperatorSettings
from club_operator.redis_target import video_queue_for
from club_operator.videojob_models import VideoJobPhase, VideoJobSpec
from club_runtime import contract

log = logging.getLogger(__name__)

PLURAL = "videojobs"
POLL_SEC = 1.0
STOP_WAIT_SEC = 30.0
"""How long deletion waits for a worker to stop a running job before removing its outputs."""


@dataclass(frozen=True)
class JobRef:
    namespace: str
    name: str
    uid: str
    created: datetime

    @classmethod
    def of(cls, body: kopf.Body) -> JobRef:
        meta = body["metadata"]
        created = vj.parse_time(meta.get("creationTimestamp")) or _now()
        return cls(meta["namespace"], meta["name"], meta["uid"], created)

    @property
    def job_id(self) -> str:
        return contract.video_job_id(self.uid)


def _now() -> datetime:
    return datetime.now(UTC)


def club_of(index: kopf.Index[tuple[str, str], ClubView], namespace: str, name: str) -> ClubView | None:
    return next(iter(index.get((namespace, name), [])), None)


def desired_status(
    ref: JobRef, spec: VideoJobSpec, club: ClubView | None, settings: OperatorSettings
) -> dict[str, Any]:
    """One step: queue the job if it can be, and say what its status should be now."""
    queues = video_queue.of_club(settings, ref.namespace, spec.club_ref.name)
    now = _now()
    job = video_queue.read(queues, ref.job_id)
    if job is None:
        waiting = vj.waiting_for_club(spec, club)
        if waiting is not None or club is None:  # (the second only tells mypy: no club is a wait)
            return vj.pending(*(waiting or (vj.Reason.CLUB_NOT_FOUND, "")))
        server = servers.storage_server(club.spec, ref.namespace, settings)
        size = bucket_objects.object_size(server, club.bucket, spec.source.key)
        problem = vj.source_problem(spec.source.key, club.bucket, size, UPLOAD_MAX_SIZE_MB)
        if problem is not None:
            return vj.failed(*problem, now)
        queue, front = video_queue_for(
            club.video_queue, priority=str(spec.priority), gpu_required=spec.gpu == "required"
        )
        kwargs = rq_job.process_video_kwargs(spec, club.uid, ref.uid, ref.name)
        if video_queue.enqueue(queues, queue, ref.job_id, kwargs, at_front=front):
            log.info("queued %s/%s on %s", ref.namespace, ref.name, queue)
        job = video_queue.read(queues, ref.job_id)
        if job is None:
            raise video_queue.QueueError(f"job {ref.job_id} vanished right after it was queued")
    desired = vj.from_job(spec, job, contract.legacy_video_prefix(spec.club_ref.name, ref.uid), now)
    if not vj.finished(desired) and _past_deadline(job.enqueued_at or ref.created, spec, now):
        video_queue.stop(queues, ref.job_id)
        message = f"not finished within deadlineSeconds ({spec.deadline_seconds} s after being queued)"
        return {**desired, **vj.failed(vj.Reason.DEADLINE_EXCEEDED, message, now)}
    return desired


def _past_deadline(queued: datetime, spec: VideoJobSpec, now: datetime) -> bool:
    if queued.tzinfo is None:
        queued = queued.replace(tzinfo=UTC)
    return (now - queued).total_seconds() > spec.deadline_seconds


def _report(body: kopf.Body, ref: JobRef, current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """Write what changed, and return the status now; an Event and the metrics for a phase change."""
    patch = vj.changes(current, desired)
    if not patch:
        return current
    kube.patch_status(PLURAL, ref.namespace, ref.name, patch)
    video_metrics.observe_transition(ref.uid, current, desired)
    phase = VideoJobPhase(desired["phase"])
    if phase != current.get("phase"):
        message = str(desired.get("message") or "")
        warning = phase == VideoJobPhase.FAILED
        kube.event(body, warning=warning, reason=str(vj.event_reason(phase)), message=message[:1000])
        log.info("%s/%s is %s: %s", ref.namespace, ref.name, phase, message)
    return {k: v for k, v in {**current, **patch}.items() if v is not None}


async def follow(
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    clubs: kopf.Index[tuple[str, str], ClubView],
    settings: OperatorSettings,
) -> None:
    """The VideoJob's daemon: from creation until it is finished (and, with a TTL, deleted)."""
    ref = JobRef.of(body)
    spec = VideoJobSpec.model_validate(body.get("spec") or {})
    current: dict[str, Any] = dict(body.get("status") or {})
    video_metrics.PHASES.set(ref.uid, str(current.get("phase") or VideoJobPhase.PENDING))
    last_error = ""
    while not stopped and not vj.finished(current):
        club = club_of(clubs, ref.namespace, spec.club_ref.name)
        try:
            desired = await asyncio.to_thread(desired_status, ref, spec, club, settings)
            current = await asyncio.to_thread(_report, body, ref, current, desired)
            last_error = ""
        except (
            video_queue.QueueError,
            s3_server.StorageUnavailable,
            servers.ServerNotConfigured,
            kube.KubeError,
        ) as exc:
            if str(exc) != last_error:  # once per distinct problem, not once a second
                log.warning("%s/%s: %s; retrying", ref.namespace, ref.name, exc)
                kube.event(body, warning=True, reason=str(vj.Reason.RETRYING), message=str(exc)[:1000])
                last_error = str(exc)
        await stopped.wait(POLL_SEC)
    if not stopped and spec.ttl_seconds_after_finished is not None:
        await _expire(ref, current, spec.ttl_seconds_after_finished, stopped)


async def _expire(ref: JobRef, status: dict[str, Any], ttl: int, stopped: kopf.DaemonStopped) -> None:
    finished_at = vj.parse_time(status.get("completionTime")) or _now()
    remaining = ttl - (_now() - finished_at).total_seconds()
    if remaining > 0:
        await stopped.wait(remaining)
    if not stopped:
        log.info(
            "%s/%s finished %d s ago (ttlSecondsAfterFinished): deleting it", ref.namespace, ref.name, ttl
        )
        await asyncio.to_thread(kube.delete_custom, PLURAL, ref.namespace, ref.name)


def delete(body: kopf.Body, clubs: kopf.Index[tuple[str, str], ClubView], settings: OperatorSettings) -> None:
    """Stop an unfinished job and remove what it wrote; a Succeeded job keeps its outputs."""
    ref = JobRef.of(body)
    spec = VideoJobSpec.model_validate(body.get("spec") or {})
    queues = video_queue.of_club(settings, ref.namespace, spec.club_ref.name)
    video_metrics.PHASES.forget(ref.uid)
    before = video_queue.stop(queues, ref.job_id)
    succeeded = (body.get("status") or {}).get("phase") == VideoJobPhase.SUCCEEDED
    if before == "started":
        _wait_stopped(queues, ref.job_id)
    job = video_queue.read(queues, ref.job_id)
    succeeded = succeeded or (job is not None and job.status == "finished")
    club = club_of(clubs, ref.namespace, spec.club_ref.name)
    if not succeeded and club is not None:
        server = servers.storage_server(club.spec, ref.namespace, settings)
        folders = contract.video_folders(ref.uid, club_id=club.uid, club_slug=club.name)
        removed = sum(bucket_objects.delete_folder(server, club.bucket, folder) for folder in folders)
        if removed:
            log.info("removed %d partial outputs of %s/%s", removed, ref.namespace, ref.name)
    video_queue.forget(queues, ref.job_id)


def _wait_stopped(queues: video_queue.ClubQueues, job_id: str) -> None:
    """Wait for the worker to act on the stop command, so no upload lands after the cleanup."""
    deadline = time.monotonic() + STOP_WAIT_SEC
    while time.monotonic() < deadline:
        job = video_queue.read(queues, job_id)
        if job is None or job.status != "started":
            return
        time.sleep(0.5)
    raise kopf.TemporaryError(f"the worker has not stopped job {job_id} yet", delay=5)
