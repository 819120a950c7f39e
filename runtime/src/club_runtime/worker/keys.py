"""Object keys of a video's outputs in the club bucket. Deterministic, so that a re-run writes the
same keys (overwriting, never duplicating) and a finished output can be found again."""

from __future__ import annotations


def video_prefix(club: str, video_id: str) -> str:
    return f"clubs/{club}/videos/{video_id}"


def rendition_prefix(prefix: str, rendition: str) -> str:
    return f"{prefix}/hls/{rendition}"


def master_playlist(prefix: str) -> str:
    return f"{prefix}/hls/master.m3u8"


def thumbnail(prefix: str, filename: str) -> str:
    return f"{prefix}/thumbnails/{filename}"


def poster(prefix: str) -> str:
    return f"{prefix}/poster.jpg"


def clip(prefix: str, index: int) -> str:
    return f"{prefix}/clips/{index}.mp4"


CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".jpg": "image/jpeg",
    ".mp4": "video/mp4",
}


def content_type(key: str) -> str:
    suffix = key[key.rfind(".") :] if "." in key else ""
    return CONTENT_TYPES.get(suffix, "application/octet-stream")
