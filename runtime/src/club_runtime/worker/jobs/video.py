"""The video job: `process_video(club_id, video_id)`, enqueued by the API (and the operator) on the
video queue as "club_runtime.worker.jobs.video.process_video" with job id f"video-{video_id}".

The API enqueues videos it has recorded. The operator enqueues a VideoJob's object instead: it
passes `source` ({"key": object key in the club bucket, "title": ...}) and the VideoJob's uid as
`video_id`, and the job records the video in the club's library first (once: re-runs find the row),
after checking the object as the API checks an upload (size limit, video container).

Every final failure leaves `error` (the reason) and `failure` (InvalidSource for a permanent
failure, ProcessingFailed when the retries ran out, WorkerLost) in the job's metadata, which the
operator mirrors into the VideoJob status; `encoder` says which encoder the job used.

What fails and how: a source that cannot be a video, an unknown video or a bad request fails
permanently (`videos.status = 'failed'` with the reason, no retry). Anything else is left to RQ's
retries with backoff (the worker gives every video job a retry policy and the per-job timeout);
only the last attempt marks the video failed. The steps themselves are in `video_pipeline`."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import redis
import rq
from pydantic import ValidationError
from rq.job import Job

from club_runtime import contract, storage
from club_runtime.media import runner
from club_runtime.media.encoders import Encoder, GpuUnavailableError
from club_runtime.settings import GpuMode, Settings, get_settings
from club_runtime.worker import logs, uploads, video_store
from club_runtime.worker.errors import PermanentJobError
from club_runtime.worker.lease import Lease
from club_runtime.worker.outputs import VideoRequest
from club_runtime.worker.progress import Progress
from club_runtime.worker.video_pipeline import VideoPipeline

log = logging.getLogger(__name__)

FUNCTION = contract.PROCESS_VIDEO
MB = 1024 * 1024
job_id = contract.video_job_id


def process_video(
    club_id: str,
    video_id: str,
    outputs: dict[str, Any] | None = None,
    source: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Process one uploaded video into HLS renditions, thumbnails, a poster and clips."""
    settings = get_settings()
    job = rq.get_current_job()
    club = settings.club_slug or club_id
    with logs.job_context(job_id=job.id if job else job_id(video_id), club=club, video_id=video_id):
        try:
            return _process(settings, job, club_id, video_id, outputs, source=source)
        except PermanentJobError as exc:
            log.error("video failed permanently", extra={"reason": str(exc)})
            if job is not None:
                job.retries_left = 0  # read by RQ right after this raises: no retry
            record_failure(job, "InvalidSource", str(exc))
            raise
        except Exception as exc:
            last = job is None or not job.should_retry
            log.warning("video attempt failed", extra={"reason": str(exc), "will_retry": not last})
            if last:
                reason = f"{type(exc).__name__}: {exc}"
                mark_failed(settings, video_id, reason)
                record_failure(job, "ProcessingFailed", reason)
            raise


def record_failure(job: Job | None, failure: str, reason: str) -> None:
    """Keep why the job failed in its metadata, where the operator reads it."""
    if job is None:
        return
    try:
        job.meta.update(failure=failure, error=reason[:2000])
        job.save_meta()  # type: ignore[no-untyped-call]  # rq leaves it unannotated
    except Exception:
        log.exception("could not record the failure in the job's metadata")


def _check_ids(settings: Settings, club_id: str, video_id: str) -> None:
    try:
        uuid.UUID(club_id)
        uuid.UUID(video_id)
    except ValueError as exc:
        raise PermanentJobError(f"club_id and video_id must be UUIDs: {exc}") from exc
    if settings.club_id and settings.club_id != club_id:
        raise PermanentJobError("this worker serves another club")


def _process(
    settings: Settings,
    job: Job | None,
    club_id: str,
    video_id: str,
    outputs: dict[str, Any] | None,
    *,
    source: dict[str, str] | None,
) -> dict[str, Any]:
    _check_ids(settings, club_id, video_id)
    try:
        request = VideoRequest.model_validate(outputs or {})
    except ValidationError as exc:
        raise PermanentJobError(f"bad outputs request: {exc}") from exc
    bucket = uploads.Bucket(
        uploads.client(settings), settings.s3_bucket, concurrency=settings.upload_concurrency
    )
    redis_conn = (
        job.connection if job is not None else redis.Redis.from_url(settings.redis_url.get_secret_value())
    )
    with (
        video_store.connect(settings.database_url.get_secret_value()) as conn,
        Lease(redis_conn, f"video:{video_id}", ttl_sec=settings.video_lease_ttl_sec) as lease,
    ):
        progress = Progress(job, conn, video_id)
        progress.begin_attempt()
        outcome = "failed"
        try:
            if source is not None:
                _register(conn, bucket, video_id, source, max_bytes=settings.upload_max_size_mb * MB)
            video = video_store.get(conn, video_id)
            if video is None or str(video.club_id) != club_id:
                raise PermanentJobError(f"video {video_id} does not exist in this club")
            try:
                result = VideoPipeline(
                    settings=settings,
                    conn=conn,
                    bucket=bucket,
                    progress=progress,
                    lease=lease,
                    encoder=lambda: _encoder(settings, request, job),
                    video=video,
                    request=request,
                    club_id=club_id,
                ).run()
            except PermanentJobError as exc:
                video_store.set_status(conn, video_id, "failed", progress=0, error=str(exc))
                raise
            outcome = "succeeded"
            log.info(
                "video ready", extra={k: result[k] for k in ("uploaded_objects", "bytes_written", "skipped")}
            )
            return result
        finally:
            progress.counters.update(bytes_read=bucket.bytes_read, bytes_written=bucket.bytes_written)
            progress.end_attempt(outcome)


def gpu_mode(worker: GpuMode, job: str) -> GpuMode:
    """The GPU mode for one job: the VideoJob's `gpu` (auto | required | never) within what the
    worker allows (ENABLE_GPU). A job that requires a GPU on a worker where it is off fails."""
    if job == "never":
        return GpuMode.FALSE
    if job == "required":
        if worker is GpuMode.FALSE:
            raise PermanentJobError("the job requires a GPU but this worker has ENABLE_GPU=false")
        return GpuMode.TRUE
    return worker


def _register(
    conn: video_store.Connection,
    bucket: uploads.Bucket,
    video_id: str,
    source: dict[str, str],
    *,
    max_bytes: int,
) -> None:
    """Record an object the operator asked to process as a video of the club (once), after the checks
    an API upload passes: no larger than UPLOAD_MAX_SIZE_MB, and a video container's first bytes."""
    key = source.get("key", "")
    if not key:
        raise PermanentJobError("the source has no object key")
    size = bucket.size(key)
    if size is None:
        raise PermanentJobError(f"the source object {key!r} does not exist in the club's bucket")
    if size > max_bytes:
        raise PermanentJobError(
            f"the source object {key!r} is {size / MB:.1f} MB, over the limit of {max_bytes // MB} MB "
            "(UPLOAD_MAX_SIZE_MB)"
        )
    if not storage.is_video_signature(bucket.read_head(key, storage.SNIFF_BYTES)):
        raise PermanentJobError(f"the source object {key!r} is not a video ({storage.VIDEO_CONTAINERS})")
    title = source.get("title") or key.rsplit("/", 1)[-1]
    video_store.register(conn, video_id, title=title, source_key=key, size_bytes=size)


def _encoder(settings: Settings, request: VideoRequest, job: Job | None) -> Encoder:
    mode = gpu_mode(settings.enable_gpu, request.gpu)
    try:
        encoder = runner.detect_encoder(settings.ffmpeg_path, mode, settings.video_x264_preset)
    except GpuUnavailableError as exc:
        raise PermanentJobError(f"the job requires a GPU: {exc}") from exc
    if job is not None:
        job.meta["encoder"] = encoder.codec  # saved with the next progress update
    return encoder


def on_stopped(job: Job, connection: redis.Redis) -> None:
    """RQ's stopped callback (the operator sets it on VideoJobs' jobs): a job stopped on request, its
    work horse killed, never reaches its own failure handling; record why on the video."""
    video_id = str((job.kwargs or {}).get("video_id", ""))
    reason = "processing was stopped: its VideoJob was deleted or ran past its deadline"
    mark_failed(get_settings(), video_id, reason)


def mark_failed(settings: Settings, video_id: str, reason: str) -> None:
    """Record a final failure on the video row (best effort: the job's own failure stays in RQ)."""
    try:
        with video_store.connect(settings.database_url.get_secret_value()) as conn:
            video_store.set_status(conn, video_id, "failed", progress=0, error=reason[:2000])
    except Exception:
        log.exception("could not record the failure in the database")
