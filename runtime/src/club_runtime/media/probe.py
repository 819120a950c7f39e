"""What ffprobe says about a source, parsed into `MediaInfo`. Pure: the process runs in `runner`.

A source is usable when it has a video stream with a positive size and a positive duration; anything
else raises `InvalidMediaError` with a reason a person understands.

A source is read only as a local file in one of the containers an upload may be (`input_args`: ffmpeg's
protocol and demuxer whitelists). A playlist or a list of files (HLS, concat, ...) names other files
or URLs, which ffmpeg would open (`file:///etc/passwd`, `http://...`): such a source is refused before
anything is read, so a hostile upload cannot make the worker read local files or reach the network."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from club_runtime.contract import VIDEO_CONTAINERS
from club_runtime.media.errors import InvalidMediaError


@dataclass(frozen=True)
class MediaInfo:
    duration_sec: float
    width: int
    height: int
    frame_rate: Fraction
    video_codec: str
    has_audio: bool
    size_bytes: int

    @property
    def frame_sec(self) -> float:
        """The duration of one frame: the tolerance when comparing durations."""
        return float(1 / self.frame_rate)


CONTAINERS = ("mov", "matroska", "avi", "mpegts", "mpeg")
"""The demuxers (as ffmpeg names them) a source may be read with: MP4/MOV, Matroska/WebM, AVI, MPEG
transport and program streams, the containers an upload's signature check accepts. Each reads one
self-contained file; demuxers that open other files or URLs are not among them."""
REFUSED = f"the source is not a single video file ({VIDEO_CONTAINERS})"


def input_args() -> list[str]:
    """Options before every `-i` of a source: read it only as a local file, only as a container of
    `CONTAINERS`."""
    return ["-protocol_whitelist", "file", "-format_whitelist", ",".join(CONTAINERS)]


def build_probe_args(ffprobe: str, path: str) -> list[str]:
    return [ffprobe, "-v", "error", *input_args(), "-print_format", "json", "-show_format", "-show_streams",
            path]  # fmt: skip


def refused_format(stderr: str) -> bool:
    """Whether ffprobe refused the input because of the whitelists (`input_args`)."""
    return "not on whitelist" in stderr


def _rate(value: Any) -> Fraction | None:
    try:
        rate = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


_DEMUXER_PREFIX = re.compile(r"^\[[^\]]+ @ 0x[0-9a-f]+\]\s*")


def error_reason(stderr: str, path: str) -> str:
    """ffprobe's complaint without addresses or the local path, e.g. 'moov atom not found;
    Invalid data found when processing input'."""
    reasons: list[str] = []
    for raw in stderr.splitlines():
        line = _DEMUXER_PREFIX.sub("", raw.strip()).removeprefix(f"{path}: ").strip()
        if line and line not in reasons:
            reasons.append(line)
    return "; ".join(reasons) or "unreadable file"


def parse_probe(output: str) -> MediaInfo:
    """Parse `ffprobe -print_format json -show_format -show_streams` output."""
    try:
        data = json.loads(output or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidMediaError("ffprobe output is not JSON: the file is not a readable media file") from exc
    streams: list[dict[str, Any]] = data.get("streams") or []
    fmt: dict[str, Any] = data.get("format") or {}
    container = str(fmt.get("format_name") or "")
    if container and not set(container.split(",")) & set(CONTAINERS):  # the whitelist's second line
        raise InvalidMediaError(f"{REFUSED}: ffprobe reads it as {container!r}")
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
        ),
        None,
    )
    if video is None:
        raise InvalidMediaError("the file has no video stream")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise InvalidMediaError("the video stream has no picture size")
    rate = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
    if rate is None:
        raise InvalidMediaError("the video stream has no frame rate")
    duration = _float(fmt.get("duration")) or _float(video.get("duration"))
    if duration is None:
        raise InvalidMediaError("the video has no duration: it is empty or truncated")
    return MediaInfo(
        duration_sec=duration,
        width=width,
        height=height,
        frame_rate=rate,
        video_codec=str(video.get("codec_name") or ""),
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        size_bytes=int(fmt.get("size") or 0),
    )
