"""HLS playback of a ready video. The API serves the playlists (master and per rendition) itself, so
that it can check the caller's token; inside them every segment URI is replaced by a presigned URL of
the club's bucket that expires after PRESIGN_TTL_SEC. Variant playlists stay relative, so a player
fetches them through this same route."""

from __future__ import annotations

import asyncio
import posixpath
import uuid

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
    try:
        text = await asyncio.to_thread(storage.read_text, services.bucket, key)
        lines = [await _rewrite(services, posixpath.dirname(key), line) for line in text.splitlines()]
    except storage.ObjectMissing as exc:
        raise errors.not_found("playlist") from exc
    except storage.StorageError as exc:
        raise videos.unavailable(exc) from exc
    return Response("\n".join(lines) + "\n", media_type=PLAYLIST_TYPE)


async def _rewrite(services: Services, folder: str, line: str) -> str:
    if not line or line.startswith("#") or "://" in line:
        return line
    if line.endswith(".m3u8"):
        return line  # relative: resolves to this same route
    key = posixpath.normpath(posixpath.join(folder, line))
    return await asyncio.to_thread(storage.presign_get, services.bucket, key)
