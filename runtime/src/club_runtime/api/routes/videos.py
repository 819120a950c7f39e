"""Videos: their records, (re)queueing their processing on the `video` queue, and deletion.

Uploads live in `video_uploads`, HLS playback in `playback`. A video's row is committed before its job
is queued, so the worker always finds it; the job id is `video-<id>`, so a queued job is not doubled.

Deleting a video removes exactly its objects (the key layout is `contract`'s): its folder(s), which
hold its outputs and, for an API upload, its source; and its source object wherever it lies (a
VideoJob's, e.g. `uploads/match.mp4`), unless another video of the club was made from the same
object. Nothing else: other uploads and other videos' objects stay. The row is locked while its
objects go, and a worker finding its video gone stops before writing more (`video_store`)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from redis.exceptions import RedisError
from rq import Queue

from club_runtime import contract, storage
from club_runtime.api import errors, metrics
from club_runtime.api.deps import AnyUser, ConnDep, PageDep, Services, ServicesDep, VideoWriters
from club_runtime.api.models import Output, PageOut
from club_runtime.db import repo
from club_runtime.db.pool import Conn
from club_runtime.worker.jobs import SERIALIZER

router = APIRouter(prefix="/api/v1/videos", tags=["videos"], responses=errors.COMMON_RESPONSES)

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": errors.ErrorOut, "description": "Storage or queue unavailable"},
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


def source_key(club_id: str, video_id: uuid.UUID) -> str:
    return contract.source(contract.video_prefix(club_id, video_id))


def unavailable(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"storage unavailable: {exc}")


async def record_and_enqueue(services: Services, conn: Conn, values: dict[str, Any]) -> VideoPublic:
    row = await repo.insert(conn, "videos", values)
    await conn.commit()
    await enqueue(services, row["id"])
    return VideoPublic.model_validate(row)


async def enqueue(services: Services, video_id: uuid.UUID) -> None:
    settings = services.settings
    queue = Queue(settings.queue_video, connection=services.redis, serializer=SERIALIZER)
    try:
        await asyncio.to_thread(
            queue.enqueue,
            contract.PROCESS_VIDEO,
            kwargs={"club_id": settings.club_id, "video_id": str(video_id)},
            job_id=contract.video_job_id(video_id),
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
    "/{video_id}/process",
    response_model=VideoPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses=UNAVAILABLE,
)
async def process_video(
    video_id: uuid.UUID, services: ServicesDep, _: VideoWriters, conn: ConnDep
) -> VideoPublic:
    """Queue (again) the processing of a video; the job id is fixed, so a queued job is not doubled."""
    row = await repo.fetch_one(conn, "videos", {"id": video_id})
    if row is None:
        raise errors.not_found("video")
    await enqueue(services, video_id)
    return VideoPublic.model_validate(row)


@router.delete(
    "/{video_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**UNAVAILABLE, 409: {"model": errors.ErrorOut, "description": "Being processed"}},
)
async def delete_video(video_id: uuid.UUID, services: ServicesDep, _: VideoWriters, conn: ConnDep) -> None:
    """Delete the video with its source and every output (playlists, segments, thumbnails, poster,
    clips); 409 while a worker is processing it (it would write more)."""
    cur = await conn.execute(_LOCK_VIDEO, [video_id])
    row = await cur.fetchone()
    if row is None:
        raise errors.not_found("video")
    if row["status"] == VideoStatus.PROCESSING:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "the video is being processed; delete it once it is ready or failed"
        )
    source: str = row["source_key"]
    cur = await conn.execute(_SHARED_SOURCE, [source, video_id])
    shared = await cur.fetchone() is not None
    settings = services.settings
    folders = contract.video_folders(
        video_id,
        club_id=settings.club_id,
        club_slug=settings.club_slug,
        recorded=_strings(row["outputs"]),
    )
    try:
        for folder in folders:
            await asyncio.to_thread(storage.delete_prefix, services.bucket, folder)
        if not shared and not any(source.startswith(folder) for folder in folders):
            await asyncio.to_thread(storage.delete, services.bucket, source)
    except storage.StorageError as exc:
        raise unavailable(exc) from exc  # the row stays (rolled back): deleting again finishes the job
    await repo.delete(conn, "videos", {"id": video_id})


_LOCK_VIDEO = "SELECT status, source_key, outputs FROM public.videos WHERE id = %s FOR UPDATE"
_SHARED_SOURCE = "SELECT 1 FROM public.videos WHERE source_key = %s AND id <> %s LIMIT 1"


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value: the keys a video's outputs record, whatever their shape."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
