"""Videos: upload (presigned multipart, or streamed through the API), processing on the `video` queue,
and HLS playback with short-lived presigned URLs.

An upload larger than UPLOAD_MAX_SIZE_MB is refused with 413, and one whose first bytes are not a
video container with 415; either way the object is removed and no row is written. The row is committed
before the job is queued, so the worker always finds it."""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import PlainTextResponse
from pydantic import Field, StringConstraints
from redis.exceptions import RedisError
from rq import Queue

from club_runtime import storage
from club_runtime.api import errors, metrics
from club_runtime.api.deps import AnyUser, ConnDep, PageDep, Services, ServicesDep, VideoWriters
from club_runtime.api.models import Input, Name, Output, PageOut
from club_runtime.db import repo
from club_runtime.db.pool import Conn

router = APIRouter(prefix="/api/v1/videos", tags=["videos"], responses=errors.COMMON_RESPONSES)

JOB_FUNCTION = "club_runtime.worker.jobs.video.process_video"
VideoType = Annotated[str, StringConstraints(pattern=r"^video/[A-Za-z0-9.+-]{1,60}$")]
_ERROR = {"model": errors.ErrorOut}
_UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {**_ERROR, "description": "Larger than UPLOAD_MAX_SIZE_MB"},
    415: {**_ERROR, "description": "Not a video"},
    503: {**_ERROR, "description": "Storage or queue unavailable"},
}


class VideoStatus(StrEnum):
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class VideoPublic(Output):
    id: uuid.UUID
    title: str
    status: VideoStatus
    progress: int
    content_type: str
    size_bytes: int
    outputs: dict[str, Any]
    error: str | None
    created_at: datetime
    updated_at: datetime


class UploadStart(Input):
    title: Name
    content_type: VideoType
    size_bytes: int = Field(gt=0, le=5 * 1024**4)


class UploadTicket(Output):
    video_id: uuid.UUID
    upload_id: str
    part_size: int
    part_urls: list[str]


class UploadedPart(Input):
    part_number: int = Field(ge=1, le=10_000)
    etag: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class UploadComplete(Input):
    upload_id: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    title: Name
    content_type: VideoType
    parts: list[UploadedPart] = Field(min_length=1, max_length=10_000)


def source_key(club_id: str, video_id: uuid.UUID) -> str:
    return f"clubs/{club_id}/videos/{video_id}/source"


def _too_large(services: Services) -> HTTPException:
    limit = services.settings.upload_max_size_mb
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"the upload exceeds the limit of {limit} MB")


def _not_video() -> HTTPException:
    return HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        "the file is not a video (MP4, MOV, MKV, WebM, AVI or MPEG-TS)",
    )


def _unavailable(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"storage unavailable: {exc}")


async def _verify(services: Services, key: str) -> int:
    """Size and signature of an uploaded object; removes it and raises when it is refused."""
    bucket = services.bucket
    size = await asyncio.to_thread(storage.size_of, bucket, key)
    problem = None
    if size > services.settings.upload_max_size_mb * 1024 * 1024:
        problem = _too_large(services)
    elif not storage.is_video_signature(
        await asyncio.to_thread(storage.read_range, bucket, key, storage.SNIFF_BYTES)
    ):
        problem = _not_video()
    if problem is not None:
        await asyncio.to_thread(storage.delete, bucket, key)
        raise problem
    return size


async def _record_and_enqueue(services: Services, conn: Conn, values: dict[str, Any]) -> VideoPublic:
    row = await repo.insert(conn, "videos", values)
    await conn.commit()
    await _enqueue(services, row["id"])
    return VideoPublic.model_validate(row)


async def _enqueue(services: Services, video_id: uuid.UUID) -> None:
    settings = services.settings
    queue = Queue(settings.queue_video, connection=services.redis)
    try:
        await asyncio.to_thread(
            queue.enqueue,
            JOB_FUNCTION,
            kwargs={"club_id": settings.club_id, "video_id": str(video_id)},
            job_id=f"video-{video_id}",
            job_timeout=settings.video_process_timeout_sec,
        )
    except RedisError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the video is stored but could not be queued; retry /process"
        ) from exc
    metrics.VIDEOS_ENQUEUED.inc()


@router.get("", response_model=PageOut[VideoPublic])
async def list_videos(
    _: AnyUser,
    conn: ConnDep,
    page: PageDep,
    status_: Annotated[VideoStatus | None, Query(alias="status")] = None,
) -> PageOut[VideoPublic]:
    rows = await repo.fetch_page(
        conn,
        "videos",
        where={"status": status_},
        order_by=("created_at", "id"),
        limit=page.limit,
        offset=page.offset,
    )
    return PageOut[VideoPublic].of([VideoPublic.model_validate(r) for r in rows], page)


@router.get("/{video_id}", response_model=VideoPublic)
async def get_video(video_id: uuid.UUID, _: AnyUser, conn: ConnDep) -> VideoPublic:
    row = await repo.fetch_one(conn, "videos", {"id": video_id})
    if row is None:
        raise errors.not_found("video")
    return VideoPublic.model_validate(row)


@router.post(
    "/uploads", response_model=UploadTicket, status_code=status.HTTP_201_CREATED, responses=_UPLOAD_ERRORS
)
async def start_upload(body: UploadStart, services: ServicesDep, _: VideoWriters) -> UploadTicket:
    """Presigned multipart upload: PUT each part to its URL, then POST the ETags to .../complete."""
    if body.size_bytes > services.settings.upload_max_size_mb * 1024 * 1024:
        raise _too_large(services)
    video_id = uuid.uuid4()
    key = source_key(services.settings.club_id, video_id)
    parts = max(1, -(-body.size_bytes // storage.PART_SIZE))
    if parts > 10_000:
        raise _too_large(services)
    try:
        upload_id = await asyncio.to_thread(storage.start_multipart, services.bucket, key, body.content_type)
        urls = await asyncio.to_thread(storage.presign_parts, services.bucket, key, upload_id, parts)
    except storage.StorageError as exc:
        raise _unavailable(exc) from exc
    return UploadTicket(video_id=video_id, upload_id=upload_id, part_size=storage.PART_SIZE, part_urls=urls)


@router.post(
    "/uploads/{video_id}/complete",
    response_model=VideoPublic,
    status_code=status.HTTP_201_CREATED,
    responses=_UPLOAD_ERRORS,
)
async def complete_upload(
    video_id: uuid.UUID, body: UploadComplete, services: ServicesDep, _: VideoWriters, conn: ConnDep
) -> VideoPublic:
    key = source_key(services.settings.club_id, video_id)
    etags = sorted((p.part_number, p.etag) for p in body.parts)
    try:
        await asyncio.to_thread(storage.complete_multipart, services.bucket, key, body.upload_id, etags)
        size = await _verify(services, key)
    except storage.StorageError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "no such upload, or its parts do not match"
        ) from exc
    values = {
        "id": video_id,
        "title": body.title,
        "source_key": key,
        "content_type": body.content_type,
        "size_bytes": size,
    }
    return await _record_and_enqueue(services, conn, values)


@router.post(
    "",
    response_model=VideoPublic,
    status_code=status.HTTP_201_CREATED,
    responses=_UPLOAD_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"video/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_video(
    request: Request,
    services: ServicesDep,
    _: VideoWriters,
    conn: ConnDep,
    title: Annotated[str, Query(min_length=1, max_length=200)],
) -> VideoPublic:
    """Streamed upload: the request body is the video file itself (Content-Type video/...)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("video/"):
        raise _not_video()
    limit = services.settings.upload_max_size_mb * 1024 * 1024
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(services)
    video_id = uuid.uuid4()
    key = source_key(services.settings.club_id, video_id)
    bucket = services.bucket
    try:
        upload_id = await asyncio.to_thread(storage.start_multipart, bucket, key, content_type)
    except storage.StorageError as exc:
        raise _unavailable(exc) from exc
    size, buffer = 0, bytearray()
    etags: list[tuple[int, str]] = []
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(services)
            buffer += chunk
            if (
                len(etags) == 0
                and len(buffer) >= storage.SNIFF_BYTES
                and not storage.is_video_signature(bytes(buffer[: storage.SNIFF_BYTES]))
            ):
                raise _not_video()
            if len(buffer) >= storage.PART_SIZE:
                etags.append(
                    (
                        len(etags) + 1,
                        await asyncio.to_thread(
                            storage.upload_part, bucket, key, upload_id, len(etags) + 1, bytes(buffer)
                        ),
                    )
                )
                buffer.clear()
        if not etags and not storage.is_video_signature(bytes(buffer[: storage.SNIFF_BYTES])):
            raise _not_video()
        etags.append(
            (
                len(etags) + 1,
                await asyncio.to_thread(
                    storage.upload_part, bucket, key, upload_id, len(etags) + 1, bytes(buffer)
                ),
            )
        )
        await asyncio.to_thread(storage.complete_multipart, bucket, key, upload_id, etags)
    except (HTTPException, storage.StorageError) as exc:
        await asyncio.to_thread(_abort_quietly, bucket, key, upload_id)
        if isinstance(exc, storage.StorageError):
            raise _unavailable(exc) from exc
        raise
    values = {
        "id": video_id,
        "title": title,
        "source_key": key,
        "content_type": content_type,
        "size_bytes": size,
    }
    return await _record_and_enqueue(services, conn, values)


def _abort_quietly(bucket: storage.Bucket, key: str, upload_id: str) -> None:
    # An unfinished multipart upload left behind is removed by the bucket's lifecycle rule.
    with contextlib.suppress(storage.StorageError):
        storage.abort_multipart(bucket, key, upload_id)


@router.post(
    "/{video_id}/process",
    response_model=VideoPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_UPLOAD_ERRORS,
)
async def process_video(
    video_id: uuid.UUID, services: ServicesDep, _: VideoWriters, conn: ConnDep
) -> VideoPublic:
    """Queue (again) the processing of a video; the job id is fixed, so a queued job is not doubled."""
    row = await repo.fetch_one(conn, "videos", {"id": video_id})
    if row is None:
        raise errors.not_found("video")
    await _enqueue(services, video_id)
    return VideoPublic.model_validate(row)


@router.delete("/{video_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_UPLOAD_ERRORS)
async def delete_video(video_id: uuid.UUID, services: ServicesDep, _: VideoWriters, conn: ConnDep) -> None:
    row = await repo.fetch_one(conn, "videos", {"id": video_id})
    if row is None:
        raise errors.not_found("video")
    try:
        await asyncio.to_thread(
            storage.delete_prefix, services.bucket, posixpath.dirname(row["source_key"]) + "/"
        )
    except storage.StorageError as exc:
        raise _unavailable(exc) from exc
    await repo.delete(conn, "videos", {"id": video_id})


@router.get(
    "/{video_id}/hls/{path:path}",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"application/vnd.apple.mpegurl": {"schema": {"type": "string"}}}},
        **_UPLOAD_ERRORS,
    },
)
async def playlist(
    video_id: uuid.UUID, path: str, services: ServicesDep, _: AnyUser, conn: ConnDep
) -> PlainTextResponse:
    """An HLS playlist of a ready video. Nested playlists point back here; segments and keys point to
    presigned URLs that expire after PRESIGN_TTL_SEC."""
    row = await repo.fetch_one(conn, "videos", {"id": video_id})
    master = row["outputs"].get("master") if row is not None else None
    if row is None or not isinstance(master, str):
        raise errors.not_found("playlist")
    root = posixpath.dirname(master)
    key = posixpath.normpath(posixpath.join(root, path))
    if not key.startswith(root + "/") or not key.endswith(".m3u8"):
        raise errors.not_found("playlist")
    try:
        text = await asyncio.to_thread(storage.read_text, services.bucket, key)
        lines = [await _rewrite(services, posixpath.dirname(key), line) for line in text.splitlines()]
    except storage.ObjectMissing as exc:
        raise errors.not_found("playlist") from exc
    except storage.StorageError as exc:
        raise _unavailable(exc) from exc
    return PlainTextResponse("\n".join(lines) + "\n", media_type="application/vnd.apple.mpegurl")


async def _rewrite(services: Services, folder: str, line: str) -> str:
    if not line or line.startswith("#") or "://" in line:
        return line
    if line.endswith(".m3u8"):
        return line  # relative: resolves to this same route
    key = posixpath.normpath(posixpath.join(folder, line))
    return await asyncio.to_thread(storage.presign_get, services.bucket, key)
