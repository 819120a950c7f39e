"""Video uploads into the club's bucket: presigned multipart (the client PUTs the parts to MinIO/S3
itself, then completes through the API), or streamed through the API as the request body. Part URLs
live PRESIGN_TTL_SEC; an upload that takes longer asks `.../parts` for fresh ones, as often as needed.

An upload larger than UPLOAD_MAX_SIZE_MB is refused with 413, and one whose first bytes are not a
video container with 415; either way the object (or unfinished upload) is removed and no row is
written. An accepted upload is recorded and queued for processing (see `videos`)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import Field, StringConstraints

from club_runtime import storage
from club_runtime.api import errors
from club_runtime.api.deps import ConnDep, Services, ServicesDep, VideoWriters
from club_runtime.api.models import Input, Name, Output
from club_runtime.api.routes import videos
from club_runtime.api.routes.videos import VideoPublic

router = APIRouter(prefix="/api/v1/videos", tags=["videos"], responses=errors.COMMON_RESPONSES)

VideoType = Annotated[str, StringConstraints(pattern=r"^video/[A-Za-z0-9.+-]{1,60}$")]
_ERROR = {"model": errors.ErrorOut}
UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {**_ERROR, "description": "Larger than UPLOAD_MAX_SIZE_MB"},
    415: {**_ERROR, "description": "Not a video"},
    **videos.UNAVAILABLE,
}


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


class PartsRequest(Input):
    upload_id: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    part_numbers: list[Annotated[int, Field(ge=1, le=10_000)]] = Field(min_length=1, max_length=10_000)


class PartUrls(Output):
    part_urls: list[str]
    """One URL per requested part number, in the order asked."""


class UploadComplete(Input):
    upload_id: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    title: Name
    content_type: VideoType
    parts: list[UploadedPart] = Field(min_length=1, max_length=10_000)


def too_large(services: Services) -> HTTPException:
    limit = services.settings.upload_max_size_mb
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"the upload exceeds the limit of {limit} MB")


def not_video() -> HTTPException:
    return HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        f"the file is not a video ({storage.VIDEO_CONTAINERS})",
    )


async def _verify(services: Services, key: str) -> int:
    """Size and signature of an uploaded object; removes it and raises when it is refused."""
    bucket = services.bucket
    size = await asyncio.to_thread(storage.size_of, bucket, key)
    problem = None
    if size > services.settings.upload_max_size_mb * 1024 * 1024:
        problem = too_large(services)
    elif not storage.is_video_signature(
        await asyncio.to_thread(storage.read_range, bucket, key, storage.SNIFF_BYTES)
    ):
        problem = not_video()
    if problem is not None:
        await asyncio.to_thread(storage.delete, bucket, key)
        raise problem
    return size


@router.post(
    "/uploads", response_model=UploadTicket, status_code=status.HTTP_201_CREATED, responses=UPLOAD_ERRORS
)
async def start_upload(body: UploadStart, services: ServicesDep, _: VideoWriters) -> UploadTicket:
    """Presigned multipart upload: PUT each part to its URL, then POST the ETags to .../complete."""
    if body.size_bytes > services.settings.upload_max_size_mb * 1024 * 1024:
        raise too_large(services)
    video_id = uuid.uuid4()
    key = videos.source_key(services.settings.club_id, video_id)
    parts = max(1, -(-body.size_bytes // storage.PART_SIZE))
    if parts > 10_000:
        raise too_large(services)
    try:
        upload_id = await asyncio.to_thread(storage.start_multipart, services.bucket, key, body.content_type)
        urls = await asyncio.to_thread(
            storage.presign_parts, services.bucket, key, upload_id, range(1, parts + 1)
        )
    except storage.StorageError as exc:
        raise videos.unavailable(exc) from exc
    return UploadTicket(video_id=video_id, upload_id=upload_id, part_size=storage.PART_SIZE, part_urls=urls)


@router.post(
    "/uploads/{video_id}/parts",
    response_model=PartUrls,
    responses={404: {**_ERROR, "description": "No such upload in progress"}, **videos.UNAVAILABLE},
)
async def sign_parts(
    video_id: uuid.UUID, body: PartsRequest, services: ServicesDep, _: VideoWriters
) -> PartUrls:
    """Fresh URLs for parts of an upload in progress: the ones a slow upload had expire (each lives
    PRESIGN_TTL_SEC), or parts to send again."""
    key = videos.source_key(services.settings.club_id, video_id)
    try:
        if not await asyncio.to_thread(storage.upload_in_progress, services.bucket, key, body.upload_id):
            raise errors.not_found("upload")
        urls = await asyncio.to_thread(
            storage.presign_parts, services.bucket, key, body.upload_id, body.part_numbers
        )
    except storage.StorageError as exc:
        raise videos.unavailable(exc) from exc
    return PartUrls(part_urls=urls)


@router.post(
    "/uploads/{video_id}/complete",
    response_model=VideoPublic,
    status_code=status.HTTP_201_CREATED,
    responses=UPLOAD_ERRORS,
)
async def complete_upload(
    video_id: uuid.UUID, body: UploadComplete, services: ServicesDep, _: VideoWriters, conn: ConnDep
) -> VideoPublic:
    key = videos.source_key(services.settings.club_id, video_id)
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
    return await videos.record_and_enqueue(services, conn, values)


@router.post(
    "",
    response_model=VideoPublic,
    status_code=status.HTTP_201_CREATED,
    responses=UPLOAD_ERRORS,
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
        raise not_video()
    limit = services.settings.upload_max_size_mb * 1024 * 1024
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(services)
    video_id = uuid.uuid4()
    key = videos.source_key(services.settings.club_id, video_id)
    bucket = services.bucket
    try:
        upload_id = await asyncio.to_thread(storage.start_multipart, bucket, key, content_type)
    except storage.StorageError as exc:
        raise videos.unavailable(exc) from exc
    try:
        size = await _stream_parts(request, services, key, upload_id)
    except (HTTPException, storage.StorageError) as exc:
        await asyncio.to_thread(_abort_quietly, bucket, key, upload_id)
        if isinstance(exc, storage.StorageError):
            raise videos.unavailable(exc) from exc
        raise
    values = {
        "id": video_id,
        "title": title,
        "source_key": key,
        "content_type": content_type,
        "size_bytes": size,
    }
    return await videos.record_and_enqueue(services, conn, values)


async def _stream_parts(request: Request, services: Services, key: str, upload_id: str) -> int:
    """Copy the request body into the multipart upload part by part, refusing it as soon as it is too
    large or its first bytes are not a video; returns its size once the upload is completed."""
    bucket = services.bucket
    limit = services.settings.upload_max_size_mb * 1024 * 1024
    size, buffer = 0, bytearray()
    etags: list[tuple[int, str]] = []

    async def flush() -> None:
        number = len(etags) + 1
        etag = await asyncio.to_thread(storage.upload_part, bucket, key, upload_id, number, bytes(buffer))
        etags.append((number, etag))
        buffer.clear()

    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(services)
        buffer += chunk
        sniffed = not etags and len(buffer) >= storage.SNIFF_BYTES
        if sniffed and not storage.is_video_signature(bytes(buffer[: storage.SNIFF_BYTES])):
            raise not_video()
        if len(buffer) >= storage.PART_SIZE:
            await flush()
    if not etags and not storage.is_video_signature(bytes(buffer[: storage.SNIFF_BYTES])):
        raise not_video()
    await flush()
    await asyncio.to_thread(storage.complete_multipart, bucket, key, upload_id, etags)
    return size


def _abort_quietly(bucket: storage.Bucket, key: str, upload_id: str) -> None:
    # An unfinished multipart upload left behind is removed by the bucket's lifecycle rule.
    with contextlib.suppress(storage.StorageError):
        storage.abort_multipart(bucket, key, upload_id)
