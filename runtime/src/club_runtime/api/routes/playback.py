"""HLS playback of a ready video. The API serves the playlists (master and per rendition) itself, so
that it can check the caller's token; inside them every segment URI is replaced by a presigned URL of
the club's bucket. A player fetches a VOD playlist once and its segments as it plays, so a segment URL
lives as long as the video plays (its probed duration) plus PRESIGN_TTL_SEC. Variant playlists stay
relative, so a player fetches them through this same route."""

from __future__ import annotations

import asyncio
import math
import posixpath
import uuid
from typing import Any

from fastapi import APIRouter, Response

from club_runtime import storage
from club_runtime.api import errors
from club_runtime.api.deps import AnyUser, ConnDep, Services, ServicesDep
from club_runtime.api.routes import videos
from club_runtime.db import repo

router = APIRouter(prefix="/api/v1/videos", tags=["videos"], responses=errors.COMMON_RESPONSES)

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"


# The default (JSON) response class keeps the errors documented as JSON; the playlist itself is the
# only 200 answer, with its own media type.
@router.get(
    "/{video_id}/hls/{path:path}",
    response_class=Response,
    responses={
        200: {"content": {PLAYLIST_TYPE: {"schema": {"type": "string"}}}, "description": "The playlist"},
        **videos.UNAVAILABLE,
    },
)
async def playlist(
    video_id: uuid.UUID, path: str, services: ServicesDep, _: AnyUser, conn: ConnDep
) -> Response:
    """An HLS playlist of a ready video (`master.m3u8`, then `<rendition>/index.m3u8`)."""
    row = await repo.fetch_one(conn, "videos", {"id": video_id})
    master = row["outputs"].get("master") if row is not None else None
    if row is None or not isinstance(master, str):
        raise errors.not_found("playlist")
    root = posixpath.dirname(master)
    key = posixpath.normpath(posixpath.join(root, path))
    if not key.startswith(root + "/") or not key.endswith(".m3u8"):
        raise errors.not_found("playlist")
    ttl = segment_ttl(services.settings.presign_ttl_sec, row["outputs"])
    try:
        text = await asyncio.to_thread(storage.read_text, services.bucket, key)
        lines = [await _rewrite(services, posixpath.dirname(key), line, ttl) for line in text.splitlines()]
    except storage.ObjectMissing as exc:
        raise errors.not_found("playlist") from exc
    except storage.StorageError as exc:
        raise videos.unavailable(exc) from exc
    return Response("\n".join(lines) + "\n", media_type=PLAYLIST_TYPE)


def segment_ttl(presign_ttl: int, outputs: dict[str, Any]) -> int:
    """Seconds a segment URL lives: the video's duration (ffprobe's, kept in its outputs) plus
    PRESIGN_TTL_SEC, so playback started at once reaches the end."""
    duration = (outputs.get("source") or {}).get("duration_sec") or 0
    try:
        return presign_ttl + math.ceil(max(float(duration), 0.0))
    except (TypeError, ValueError, OverflowError):  # not a number, or infinite
        return presign_ttl


async def _rewrite(services: Services, folder: str, line: str, ttl: int) -> str:
    if not line or line.startswith("#") or "://" in line:
        return line
    if line.endswith(".m3u8"):
        return line  # relative: resolves to this same route
    key = posixpath.normpath(posixpath.join(folder, line))
    return await asyncio.to_thread(storage.presign_get, services.bucket, key, ttl)
