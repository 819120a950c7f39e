"""What a VideoJob's status should say, from what the operator knows: the Club (club_view, from its
watch) and the job on the club's queue (rq_job.JobView, from Redis); the phases, and the reasons of
its status and Events. Pure: no kopf, no Kubernetes, Redis or S3 client.

The operator enqueues a VideoJob exactly once, as the RQ job `contract.video_job_id(<uid>)` (the
VideoJob's uid is also the id of the video it adds to the club's library, so the worker's outputs land
in that video's folder, `club_runtime.contract.video_prefix(<Club uid>, <uid>)`). From then on the
status mirrors the job:

    RQ job status                      phase
    queued, deferred, scheduled        Queued   (scheduled: waiting out a retry's backoff)
    started                            Running
    finished                           Succeeded
    failed, stopped, canceled          Failed   (reason from the job's metadata)
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from club_operator.club_view import ClubView
from club_operator.rq_job import JobView
from club_operator.videojob_models import VideoJobPhase, VideoJobSpec


class Reason(enum.StrEnum):
    """The reasons of a VideoJob's status, conditions and Events."""

    # Entering a phase (the Event of a phase change; `event_reason`)
    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    # Pending: waiting for the Club
    CLUB_NOT_FOUND = "ClubNotFound"
    CLUB_NOT_READY = "ClubNotReady"
    NO_GPU_WORKERS = "NoGpuWorkers"
    # Queued again after a failed attempt; as an Event, the operator retries after an error of its own
    # (Redis, S3 or the API server unreachable)
    RETRYING = "Retrying"
    # Failed. The worker records InvalidSource, ProcessingFailed and WorkerLost in the job's metadata.
    SOURCE_NOT_FOUND = "SourceNotFound"
    INVALID_SOURCE = "InvalidSource"
    PROCESSING_FAILED = "ProcessingFailed"
    WORKER_LOST = "WorkerLost"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    CANCELLED = "Cancelled"


_WORKER_FAILURES = frozenset({Reason.INVALID_SOURCE, Reason.PROCESSING_FAILED, Reason.WORKER_LOST})
"""The reasons a worker records in a failed job's metadata (`failure`)."""


def event_reason(phase: VideoJobPhase) -> Reason:
    """The reason of the Event posted when a VideoJob enters `phase`: the phase's own name."""
    return Reason(str(phase))


def waiting_for_club(spec: VideoJobSpec, club: ClubView | None) -> tuple[Reason, str] | None:
    """Why the job cannot be queued yet, or None when it can."""
    name = spec.club_ref.name
    if club is None:
        return Reason.CLUB_NOT_FOUND, f"Club {name} does not exist in this namespace"
    if not club.ready:
        return Reason.CLUB_NOT_READY, f"Club {name} is not Ready: {club.not_ready_message or 'no status yet'}"
    if spec.gpu == "required" and not club.gpu_workers:
        return Reason.NO_GPU_WORKERS, f"gpu is required but Club {name} has no GPU video workers"
    return None


def source_problem(key: str, bucket: str, size: int | None, limit_mb: int) -> tuple[Reason, str] | None:
    """Why the source object (`size` bytes, None when missing) cannot be queued: missing, or larger than
    an upload through the API may be (UPLOAD_MAX_SIZE_MB); None when it can."""
    if size is None:
        return Reason.SOURCE_NOT_FOUND, f"object {key!r} does not exist in bucket {bucket}"
    if size > limit_mb * 1024 * 1024:
        return Reason.INVALID_SOURCE, (
            f"object {key!r} is {size / 1024 / 1024:.1f} MB, over the limit of {limit_mb} MB "
            "(UPLOAD_MAX_SIZE_MB) that uploads through the API have too"
        )
    return None


def parse_time(value: object) -> datetime | None:
    """A time as status and the worker's metadata write it (RFC 3339); None when absent or bad."""
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:  # RQ's times are UTC, naive or not
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def pending(reason: Reason, message: str) -> dict[str, Any]:
    return {"phase": str(VideoJobPhase.PENDING), "progress": 0, "reason": str(reason), "message": message}


def failed(reason: Reason, message: str, now: datetime) -> dict[str, Any]:
    return {
        "phase": str(VideoJobPhase.FAILED),
        "reason": str(reason),
        "message": message,
        "completionTime": _time(now),
        "conditions": [_condition("Failed", reason, message, now)],
    }


def _condition(type_: str, reason: Reason, message: str, now: datetime) -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True",
        "reason": str(reason),
        "message": message,
        "lastTransitionTime": _time(now),
    }


def outputs(spec: VideoJobSpec, prefix: str, result: dict[str, Any] | None) -> dict[str, Any]:
    """status.outputs from the worker's result (its outputs record, see club_runtime.worker.outputs).
    The folder is the one the worker recorded; `prefix` stands in for results of workers that did not
    record it (they wrote under the Club's name: `contract.legacy_video_prefix`)."""
    done: dict[str, Any] = (result or {}).get("outputs") or {}
    out: dict[str, Any] = {"prefix": str(done.get("prefix") or prefix)}
    if done.get("master"):
        out["masterPlaylist"] = done["master"]
    renditions = done.get("renditions") or {}
    if renditions:
        out["renditions"] = [
            {"name": name, "playlist": renditions[name]["playlist"]}
            for name in (str(r) for r in spec.outputs.ladder)
            if name in renditions
        ]
    if done.get("thumbnails"):
        out["thumbnails"] = list(done["thumbnails"])
    clips = done.get("clips") or {}
    if clips:
        out["clips"] = [
            {"name": clip.name, "key": clips[str(i)]["key"]}
            for i, clip in enumerate(spec.outputs.clips)
            if str(i) in clips
        ]
    return out


def from_job(spec: VideoJobSpec, job: JobView, prefix: str, now: datetime) -> dict[str, Any]:
    """The status that mirrors the job's state (`now` stands in for a finish time RQ did not keep)."""
    status: dict[str, Any] = {
        "attempts": job.attempts,
        "queuedTime": _time(job.enqueued_at),
    }
    if job.attempts:
        status["startTime"] = _time(parse_time(job.meta["attempts"][0].get("started_at")) or job.started_at)
    encoder = job.meta.get("encoder")
    if encoder:
        status["usedGpu"] = encoder == "h264_nvenc"
    if job.status in ("queued", "deferred", "scheduled"):
        retrying = job.attempts > 0
        status.update(
            phase=str(VideoJobPhase.QUEUED),
            progress=0 if not retrying else job.progress,
            reason=str(Reason.RETRYING) if retrying else None,
            message=(
                f"attempt {job.attempts} did not finish; waiting to retry"
                if retrying
                else "waiting for a video worker"
            ),
        )
    elif job.status == "started":
        step = job.meta.get("step") or "starting"
        status.update(phase=str(VideoJobPhase.RUNNING), progress=job.progress, message=step)
    elif job.status == "finished":
        message = "outputs are in the club's bucket"
        status.update(
            phase=str(VideoJobPhase.SUCCEEDED),
            progress=100,
            message=message,
            completionTime=_time(job.ended_at or now),
            outputs=outputs(spec, prefix, job.result),
            conditions=[_condition("Complete", Reason.SUCCEEDED, message, job.ended_at or now)],
        )
    else:  # failed, stopped, canceled
        reason = _failure_reason(job)
        message = str(job.meta.get("error") or job.exc_message or f"the job was {job.status}")
        status.update(
            phase=str(VideoJobPhase.FAILED),
            progress=job.progress,
            reason=str(reason),
            message=message[:4000],
            completionTime=_time(job.ended_at or now),
            conditions=[_condition("Failed", reason, message[:4000], job.ended_at or now)],
        )
    return {k: v for k, v in status.items() if v is not None}


def _failure_reason(job: JobView) -> Reason:
    if job.status in ("stopped", "canceled"):
        return Reason.CANCELLED
    failure = str(job.meta.get("failure"))
    return Reason(failure) if failure in _WORKER_FAILURES else Reason.PROCESSING_FAILED


def changes(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """The status fields to write (a merge patch); {} when nothing changed. Fields the desired
    status no longer has are cleared (reason/message of an earlier phase)."""
    patch = {k: v for k, v in desired.items() if current.get(k) != v}
    for key in ("reason", "message", "outputs", "conditions"):
        if key in current and key not in desired:
            patch[key] = None
    return patch


def finished(status: dict[str, Any]) -> bool:
    return status.get("phase") in (VideoJobPhase.SUCCEEDED, VideoJobPhase.FAILED)
