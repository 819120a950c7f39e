"""HLS playlists: the master playlist text, and the files a media playlist references.

The master playlist is written by us rather than by ffmpeg so that it names exactly the renditions
that were uploaded whole, and so that it can be written last. File names come from the key layout
(`contract`)."""

from __future__ import annotations

from collections.abc import Sequence

from club_runtime.contract import PLAYLIST_NAME
from club_runtime.media.ladder import Rendition


def rendition_playlist_path(rendition: Rendition) -> str:
    """Where a rendition's playlist lives, relative to the master playlist."""
    return f"{rendition.name}/{PLAYLIST_NAME}"


def build_master_playlist(renditions: Sequence[Rendition], *, has_audio: bool) -> str:
    codecs = "avc1.640028,mp4a.40.2" if has_audio else "avc1.640028"
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for r in sorted(renditions, key=lambda r: r.height, reverse=True):
        average = (r.video_bitrate_k + r.audio_bitrate_k) * 1000
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={r.bandwidth},AVERAGE-BANDWIDTH={average},"
            f'RESOLUTION={r.width}x{r.height},CODECS="{codecs}"'
        )
        lines.append(rendition_playlist_path(r))
    return "\n".join(lines) + "\n"


def referenced_files(playlist_text: str) -> list[str]:
    """The URIs a playlist references (segments or variant playlists), in order."""
    return [line.strip() for line in playlist_text.splitlines() if line.strip() and not line.startswith("#")]


def total_duration(playlist_text: str) -> float:
    """The sum of a media playlist's #EXTINF durations."""
    total = 0.0
    for line in playlist_text.splitlines():
        if line.startswith("#EXTINF:"):
            total += float(line[len("#EXTINF:") :].split(",", 1)[0])
    return total
