"""Pure builders of ffmpeg argument lists: the HLS ladder (with thumbnails, one decode for all),
the poster and the clips. No I/O here: `runner` executes what these return.

Segments are cut on forced keyframes every `segment_sec` seconds, so every rendition's segments
line up and each starts with an IDR frame (HLS `INDEPENDENT-SEGMENTS`). Every source is opened with
`probe.input_args` (local file, video containers only); outputs are local files the worker uploads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from club_runtime.contract import PLAYLIST_NAME, SEGMENT_PATTERN
from club_runtime.media import probe
from club_runtime.media.encoders import Encoder
from club_runtime.media.ladder import Rendition

THUMBNAIL_HEIGHT = 180
THUMBNAIL_PATTERN = "thumb_%05d.jpg"
POSTER_MAX_HEIGHT = 720


@dataclass(frozen=True)
class LadderSpec:
    """One ffmpeg run: the listed renditions (each into `out_dir/<name>/`) and, if
    `thumbnail_interval_sec` is set, thumbnails into `out_dir/thumbnails/`."""

    source: Path
    out_dir: Path
    renditions: Sequence[Rendition]
    encoder: Encoder
    has_audio: bool
    segment_sec: int = 6
    thumbnail_interval_sec: int | None = None
    threads: int = 0
    extra_input_args: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class Clip:
    start_sec: float
    end_sec: float

    def __post_init__(self) -> None:
        if not 0 <= self.start_sec < self.end_sec:
            raise ValueError(f"a clip needs 0 <= start < end, got {self.start_sec}..{self.end_sec}")


def _base(ffmpeg: str) -> list[str]:
    return [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-nostats"]


def _threads(threads: int) -> list[str]:
    return ["-threads", str(threads)] if threads > 0 else []


def _input(spec_source: Path, encoder: Encoder, threads: int) -> list[str]:
    hw = ["-hwaccel", encoder.hwaccel] if encoder.hwaccel else []
    return [*hw, *_threads(threads), *probe.input_args(), "-i", str(spec_source)]


def video_codec_args(encoder: Encoder, r: Rendition, segment_sec: int | None) -> list[str]:
    """Encoder options for one rendition: constrained VBR at the ladder's bitrate."""
    rate = ["-b:v", f"{r.video_bitrate_k}k", "-maxrate", f"{r.maxrate_k}k", "-bufsize", f"{r.bufsize_k}k"]
    keys = ["-force_key_frames", f"expr:gte(t,n_forced*{segment_sec})"] if segment_sec else []
    if encoder.is_gpu:
        return ["-c:v", encoder.codec, "-preset", encoder.nvenc_preset, "-rc", "vbr", *rate, *keys,
                "-forced-idr", "1", "-profile:v", "high", "-pix_fmt", "yuv420p"]  # fmt: skip
    return ["-c:v", "libx264", "-preset", encoder.x264_preset, *rate, *keys, "-sc_threshold", "0",
            "-profile:v", "high", "-pix_fmt", "yuv420p"]  # fmt: skip


def audio_codec_args(r: Rendition) -> list[str]:
    return ["-c:a", "aac", "-b:a", f"{r.audio_bitrate_k}k", "-ac", "2"]


def build_filter_graph(spec: LadderSpec) -> str:
    """Split the decoded video once per output and scale each branch."""
    outputs = len(spec.renditions) + (1 if spec.thumbnail_interval_sec else 0)
    labels = "".join(f"[v{i}]" for i in range(outputs))
    chains = [f"[0:v]split={outputs}{labels}" if outputs > 1 else "[0:v]null[v0]"]
    for i, r in enumerate(spec.renditions):
        chains.append(f"[v{i}]scale={r.width}:{r.height}:flags=bicubic,setsar=1[r{i}]")
    if spec.thumbnail_interval_sec:
        i = len(spec.renditions)
        chains.append(f"[v{i}]fps=1/{spec.thumbnail_interval_sec},scale=-2:{THUMBNAIL_HEIGHT}[thumbs]")
    return ";".join(chains)


def build_ladder_args(ffmpeg: str, spec: LadderSpec) -> list[str]:
    """One ffmpeg run producing every rendition's HLS playlist and segments, and the thumbnails."""
    if not spec.renditions and not spec.thumbnail_interval_sec:
        raise ValueError("a ladder run needs at least one rendition or thumbnails")
    args = [*_base(ffmpeg), "-progress", "pipe:1", *spec.extra_input_args]
    args += _input(spec.source, spec.encoder, spec.threads)
    args += ["-filter_complex", build_filter_graph(spec)]
    if spec.threads > 0:
        args += ["-filter_complex_threads", str(spec.threads)]
    for i, r in enumerate(spec.renditions):
        folder = spec.out_dir / r.name
        args += ["-map", f"[r{i}]"]
        if spec.has_audio:
            args += ["-map", "0:a:0", *audio_codec_args(r)]
        args += video_codec_args(spec.encoder, r, spec.segment_sec) + _threads(spec.threads)
        args += ["-f", "hls", "-hls_time", str(spec.segment_sec), "-hls_playlist_type", "vod",
                 "-hls_flags", "independent_segments", "-hls_list_size", "0",
                 "-hls_segment_filename", str(folder / SEGMENT_PATTERN),
                 str(folder / PLAYLIST_NAME)]  # fmt: skip
    if spec.thumbnail_interval_sec:
        args += ["-map", "[thumbs]", "-q:v", "4", "-f", "image2",
                 str(spec.out_dir / "thumbnails" / THUMBNAIL_PATTERN)]  # fmt: skip
    return args


def poster_time(duration_sec: float) -> float:
    """A frame a tenth of the way in: past black lead-ins, early enough to exist in short clips."""
    return round(duration_sec / 10, 3)


def build_poster_args(ffmpeg: str, source: Path, out: Path, *, duration_sec: float, height: int) -> list[str]:
    h = min(height - height % 2, POSTER_MAX_HEIGHT)
    return [*_base(ffmpeg), "-ss", str(poster_time(duration_sec)), *probe.input_args(), "-i", str(source),
            "-frames:v", "1", "-vf", f"scale=-2:{h}", "-q:v", "3", str(out)]  # fmt: skip


def build_clip_args(
    ffmpeg: str, source: Path, out: Path, clip: Clip, *, rendition: Rendition, encoder: Encoder,
    has_audio: bool, threads: int = 0,
) -> list[str]:  # fmt: skip
    """An MP4 of [start, end) at `rendition`'s size; seeking before -i is frame-accurate when re-encoding."""
    args = [*_base(ffmpeg), "-progress", "pipe:1", "-ss", f"{clip.start_sec:.3f}"]
    args += _input(source, encoder, threads)
    args += ["-t", f"{clip.end_sec - clip.start_sec:.3f}", "-map", "0:v:0"]
    args += ["-vf", f"scale={rendition.width}:{rendition.height},setsar=1"]
    args += video_codec_args(encoder, rendition, None) + _threads(threads)
    if has_audio:
        args += ["-map", "0:a:0", *audio_codec_args(rendition)]
    return [*args, "-movflags", "+faststart", str(out)]
