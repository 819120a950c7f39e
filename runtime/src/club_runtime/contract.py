"""The contract the operator, the API and the workers share: RQ job ids, the names of the job
functions a worker may run, and the layout of a club's objects. Pure (no I/O, no third-party import)
so the operator can import it without the runtime's dependencies; one place, so the three never
drift apart.

Object keys. Everything made for one video lives under its own folder,
`clubs/<club id>/videos/<video id>/`, and nothing else does:

    source                      the file uploaded through the API
    hls/master.m3u8             the master playlist
    hls/<rendition>/index.m3u8  a rendition's playlist, beside its segments (seg_00000.ts, ...)
    thumbnails/<file>, poster.jpg, clips/<n>.mp4

so deleting a video removes that folder and its source, and touches no other video. A VideoJob's
source stays where the platform team put it (any key, e.g. `uploads/match.mp4`); its outputs use the
same folder (the VideoJob's uid is the video id). The club id is the Club's uid: unique across
namespaces, so clubs sharing a bucket never share a folder. Videos processed before this layout have
their outputs under `clubs/<Club name>/videos/<video id>/` (`legacy_video_prefix`); their recorded
keys stay valid and deletion covers that folder too. Keys are deterministic, so a re-run overwrites
instead of duplicating."""

from __future__ import annotations

from collections.abc import Iterable

VIDEO_JOB_PREFIX = "video-"

PROCESS_VIDEO = "club_runtime.worker.jobs.video.process_video"
"""Transcodes one video: an HLS ladder, poster, thumbnails and clips."""
VIDEO_STOPPED = "club_runtime.worker.jobs.video.on_stopped"
"""RQ's stopped callback for a video job: records the stop on the video."""

VIDEO_CONTAINERS = "MP4, MOV, MKV, WebM, AVI or MPEG-TS"
"""The containers a source may be (an upload's signature check, ffprobe's demuxers accept), as
messages name them."""


def video_job_id(video_id: object) -> str:
    """The RQ job id of a video's processing: one per video (a VideoJob's uid or an API upload's id),
    so enqueueing it twice finds the first."""
    return f"{VIDEO_JOB_PREFIX}{video_id}"


# -- object keys ------------------------------------------------------------------------------------

PLAYLIST_NAME = "index.m3u8"
MASTER_NAME = "master.m3u8"
SEGMENT_PATTERN = "seg_%05d.ts"


def video_prefix(club_id: object, video_id: object) -> str:
    """The folder of everything made for one video (no trailing slash)."""
    return f"clubs/{club_id}/videos/{video_id}"


def legacy_video_prefix(club_slug: str, video_id: object) -> str:
    """Where outputs went before the layout keyed folders by club id (by the Club's name)."""
    return f"clubs/{club_slug}/videos/{video_id}"


def source(prefix: str) -> str:
    """The source of a video uploaded through the API."""
    return f"{prefix}/source"


def rendition_prefix(prefix: str, rendition: str) -> str:
    return f"{prefix}/hls/{rendition}"


def rendition_playlist(prefix: str, rendition: str) -> str:
    return f"{rendition_prefix(prefix, rendition)}/{PLAYLIST_NAME}"


def master_playlist(prefix: str) -> str:
    return f"{prefix}/hls/{MASTER_NAME}"


def thumbnail(prefix: str, filename: str) -> str:
    return f"{prefix}/thumbnails/{filename}"


def poster(prefix: str) -> str:
    return f"{prefix}/poster.jpg"


def clip(prefix: str, index: int) -> str:
    return f"{prefix}/clips/{index}.mp4"


def prefix_of(key: str, video_id: object) -> str | None:
    """The video folder a recorded key of this video lies in (either layout); None if it lies in none."""
    marker = f"/videos/{video_id}/"
    at = key.find(marker)
    if not key.startswith("clubs/") or at < len("clubs/") + 1 or "/" in key[len("clubs/") : at]:
        return None
    return key[: at + len(marker) - 1]


def video_folders(
    video_id: object, *, club_id: object, club_slug: str = "", recorded: Iterable[str] = ()
) -> list[str]:
    """Every folder (with its trailing slash, ready for a prefix listing) that may hold objects made
    for this video: its folder in this layout, the legacy one, and the folders of its recorded keys.
    Each holds this video's objects only: the video id is unique."""
    folders = {video_prefix(club_id, video_id)}
    if club_slug:
        folders.add(legacy_video_prefix(club_slug, video_id))
    folders.update(p for p in (prefix_of(key, video_id) for key in recorded) if p is not None)
    return sorted(f"{folder}/" for folder in folders)


CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".jpg": "image/jpeg",
    ".mp4": "video/mp4",
}


def content_type(key: str) -> str:
    """The Content-Type an output is stored with."""
    name = key.rsplit("/", 1)[-1]
    suffix = name[name.rfind(".") :] if "." in name else ""
    return CONTENT_TYPES.get(suffix, "application/octet-stream")


# -- backups ----------------------------------------------------------------------------------------
# A backup of one club is a folder `<prefix><club id>/<backup id>/` in the backup bucket: one object
# per tenant table (its rows as PostgreSQL COPY text, gzip-compressed) and `manifest.json`, written
# last: a folder without a manifest is an unfinished backup, never one to restore.

BACKUP_MANIFEST_NAME = "manifest.json"


def backup_folder(prefix: str, club_id: object, backup_id: str) -> str:
    """The folder of one backup (with its trailing slash); `prefix` is empty or ends with `/`."""
    return f"{prefix}{club_id}/{backup_id}/"


def backup_manifest(prefix: str, club_id: object, backup_id: str) -> str:
    return backup_folder(prefix, club_id, backup_id) + BACKUP_MANIFEST_NAME


def backup_table(prefix: str, club_id: object, backup_id: str, table: str) -> str:
    """The object holding one table's rows."""
    return f"{backup_folder(prefix, club_id, backup_id)}tables/{table}.copy.gz"
