"""The HLS ladder: the renditions a source is transcoded to, and the plan for one source.

A plan never upscales: a rung taller than the source is dropped, and when every requested rung is
taller, the source is served at its own height. Widths keep the source's aspect ratio and are even
(H.264 in 4:2:0 needs even sizes)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from club_runtime.media.probe import MediaInfo

# Video bitrates (kbit/s) by height, after common streaming ladders for 30 fps H.264.
_BITRATE_BY_HEIGHT: dict[int, int] = {
    2160: 14000,
    1440: 9000,
    1080: 5000,
    720: 2800,
    480: 1400,
    360: 800,
    240: 400,
}
DEFAULT_RENDITIONS: tuple[str, ...] = ("720p", "480p", "360p")
AUDIO_BITRATE_K = 128
_NAME = re.compile(r"^(\d{3,4})p$")


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    video_bitrate_k: int
    audio_bitrate_k: int = AUDIO_BITRATE_K

    @property
    def maxrate_k(self) -> int:
        return self.video_bitrate_k * 107 // 100

    @property
    def bufsize_k(self) -> int:
        return self.video_bitrate_k * 3 // 2

    @property
    def bandwidth(self) -> int:
        """Peak bits per second, as the master playlist's BANDWIDTH attribute wants."""
        return (self.maxrate_k + self.audio_bitrate_k) * 1000


def parse_height(name: str) -> int:
    """'720p' -> 720; a ValueError names what is accepted."""
    match = _NAME.match(name.strip().lower())
    if not match:
        raise ValueError(f"rendition {name!r} is not a height such as '720p'")
    return int(match.group(1))


def bitrate_for_height(height: int) -> int:
    """The ladder's bitrate for the nearest rung at or above `height` (smallest rung if below)."""
    rungs = sorted(_BITRATE_BY_HEIGHT)
    at_or_above = [h for h in rungs if h >= height]
    base = at_or_above[0] if at_or_above else rungs[-1]
    return _BITRATE_BY_HEIGHT[base] * height // base if height < base else _BITRATE_BY_HEIGHT[base]


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def scaled_width(source: MediaInfo, height: int) -> int:
    return _even(source.width * height / source.height)


def plan_renditions(source: MediaInfo, requested: Sequence[str] = DEFAULT_RENDITIONS) -> list[Rendition]:
    """The renditions to produce for `source`, tallest first, never taller than the source."""
    heights = sorted({parse_height(name) for name in requested}, reverse=True)
    fitting = [h for h in heights if h <= source.height]
    if not fitting:
        fitting = [source.height - source.height % 2]
    return [
        Rendition(
            name=f"{h}p",
            width=scaled_width(source, h),
            height=h,
            video_bitrate_k=bitrate_for_height(h),
            audio_bitrate_k=AUDIO_BITRATE_K if source.has_audio else 0,
        )
        for h in fitting
    ]
