"""ffmpeg argument builders for the CPU and GPU paths, the progress parser and encoder choice."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from club_runtime.media import commands, encoders, ladder, probe, runner
from club_runtime.media.probe import MediaInfo
from club_runtime.settings import GpuMode

SOURCE = MediaInfo(
    duration_sec=20.0,
    width=1920,
    height=1080,
    frame_rate=Fraction(25),
    video_codec="h264",
    has_audio=True,
    size_bytes=1,
)
CPU = encoders.Encoder(codec="libx264", x264_preset="ultrafast")
GPU = encoders.Encoder(codec="h264_nvenc", hwaccel="cuda")


def spec(encoder: encoders.Encoder, **overrides: object) -> commands.LadderSpec:
    fields: dict[str, object] = {
        "source": Path("/in/src.mp4"),
        "out_dir": Path("/out"),
        "renditions": ladder.plan_renditions(SOURCE),
        "encoder": encoder,
        "has_audio": True,
        "segment_sec": 6,
        "thumbnail_interval_sec": 10,
    }
    fields.update(overrides)
    return commands.LadderSpec(**fields)  # type: ignore[arg-type]


def value_after(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_cpu_ladder_has_one_input_and_one_hls_output_per_rendition() -> None:
    args = commands.build_ladder_args("ffmpeg", spec(CPU))
    assert value_after(args, "-i") == ["/in/src.mp4"]
    assert "-hwaccel" not in args
    assert value_after(args, "-c:v") == ["libx264"] * 3
    assert value_after(args, "-preset") == ["ultrafast"] * 3
    assert value_after(args, "-hls_time") == ["6"] * 3
    assert value_after(args, "-hls_segment_filename") == [
        "/out/720p/seg_%05d.ts",
        "/out/480p/seg_%05d.ts",
        "/out/360p/seg_%05d.ts",
    ]
    assert value_after(args, "-force_key_frames") == ["expr:gte(t,n_forced*6)"] * 3
    assert value_after(args, "-b:v") == ["2800k", "1400k", "800k"]
    assert value_after(args, "-map").count("0:a:0") == 3
    assert args[-1] == "/out/thumbnails/thumb_%05d.jpg"
    graph = value_after(args, "-filter_complex")[0]
    assert graph.startswith("[0:v]split=4[v0][v1][v2][v3];")
    assert "scale=1280:720" in graph
    assert "fps=1/10" in graph


def test_gpu_ladder_decodes_with_cuda_and_encodes_with_nvenc() -> None:
    args = commands.build_ladder_args("ffmpeg", spec(GPU))
    assert value_after(args, "-hwaccel") == ["cuda"]
    assert args.index("-hwaccel") < args.index("-i")
    assert value_after(args, "-c:v") == ["h264_nvenc"] * 3
    assert value_after(args, "-forced-idr") == ["1"] * 3
    assert "-sc_threshold" not in args


def test_threads_are_passed_to_decoder_filters_and_encoders() -> None:
    args = commands.build_ladder_args("ffmpeg", spec(CPU, threads=3))
    assert value_after(args, "-threads") == ["3"] * 4
    assert value_after(args, "-filter_complex_threads") == ["3"]
    assert "-threads" not in commands.build_ladder_args("ffmpeg", spec(CPU, threads=0))


def test_no_audio_maps_no_audio() -> None:
    args = commands.build_ladder_args("ffmpeg", spec(CPU, has_audio=False))
    assert "0:a:0" not in args
    assert "-c:a" not in args


def test_only_the_missing_rendition_and_no_thumbnails() -> None:
    plan = ladder.plan_renditions(SOURCE)
    args = commands.build_ladder_args("ffmpeg", spec(CPU, renditions=plan[1:2], thumbnail_interval_sec=None))
    assert value_after(args, "-filter_complex") == [
        "[0:v]null[v0];[v0]scale=854:480:flags=bicubic,setsar=1[r0]"
    ]
    assert args[-1] == "/out/480p/index.m3u8"


def test_nothing_to_do_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        commands.build_ladder_args("ffmpeg", spec(CPU, renditions=[], thumbnail_interval_sec=None))


def test_clip_seeks_before_input_and_keeps_length() -> None:
    r = ladder.plan_renditions(SOURCE)[0]
    clip = commands.Clip(2.5, 7.0)
    args = commands.build_clip_args(
        "ffmpeg", Path("/in/s.mp4"), Path("/out/c.mp4"), clip, rendition=r, encoder=CPU, has_audio=True
    )
    assert args.index("-ss") < args.index("-i")
    assert value_after(args, "-ss") == ["2.500"]
    assert value_after(args, "-t") == ["4.500"]
    assert value_after(args, "-vf") == ["scale=1280:720,setsar=1"]
    assert args[-1] == "/out/c.mp4"


@pytest.mark.parametrize(("start", "end"), [(5, 5), (6, 2), (-1, 3)])
def test_bad_clips_are_rejected(start: float, end: float) -> None:
    with pytest.raises(ValueError, match="clip"):
        commands.Clip(start, end)


def test_poster_is_capped_at_720_lines() -> None:
    args = commands.build_poster_args("ffmpeg", Path("/s.mp4"), Path("/p.jpg"), duration_sec=20, height=1080)
    assert value_after(args, "-ss") == ["2.0"]
    assert value_after(args, "-vf") == ["scale=-2:720"]
    assert value_after(args, "-frames:v") == ["1"]


@pytest.mark.parametrize(
    ("line", "seconds"),
    [("out_time_us=1500000", 1.5), ("out_time_ms=2000000", 2.0), ("out_time_us=-9", 0.0)],
)
def test_progress_lines(line: str, seconds: float) -> None:
    assert runner.parse_progress_line(line) == seconds


@pytest.mark.parametrize("line", ["frame=10", "out_time=00:00:01.5", "out_time_us=N/A", "progress=end"])
def test_other_progress_lines_are_ignored(line: str) -> None:
    assert runner.parse_progress_line(line) is None


ENCODERS_LISTING = """Encoders:
 V..... = Video
 ------
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)
 V....D h264_nvenc           NVIDIA NVENC H.264 encoder (codec h264)
 A..... aac                  AAC (Advanced Audio Coding)
"""


def test_listings_are_parsed() -> None:
    assert encoders.parse_encoders(ENCODERS_LISTING) == {"libx264", "h264_nvenc", "aac"}
    hwaccels = encoders.parse_hwaccels("Hardware acceleration methods:\nvdpau\ncuda\n\n")
    assert hwaccels == {"vdpau", "cuda"}
    assert encoders.gpu_listed({"h264_nvenc"}, {"cuda"})
    assert not encoders.gpu_listed({"libx264"}, {"cuda"})


@pytest.mark.parametrize(
    ("mode", "works", "codec"),
    [
        (GpuMode.AUTO, True, "h264_nvenc"),
        (GpuMode.AUTO, False, "libx264"),
        (GpuMode.TRUE, True, "h264_nvenc"),
        (GpuMode.FALSE, True, "libx264"),
    ],
)
def test_encoder_choice(mode: GpuMode, works: bool, codec: str) -> None:
    chosen = encoders.choose(mode, gpu_works=works, x264_preset="fast")
    assert chosen.codec == codec
    assert (chosen.hwaccel == "cuda") == (codec == "h264_nvenc")


def test_gpu_required_but_missing_is_an_error() -> None:
    with pytest.raises(encoders.GpuUnavailableError, match="ENABLE_GPU=true"):
        encoders.choose(GpuMode.TRUE, gpu_works=False)


def input_options(args: list[str]) -> dict[str, str]:
    """The whitelists given before the (only) `-i`."""
    before = args[: args.index("-i")]
    return {flag: value_after(before, flag)[0] for flag in ("-protocol_whitelist", "-format_whitelist")}


SAFE_INPUT = {"-protocol_whitelist": "file", "-format_whitelist": "mov,matroska,avi,mpegts,mpeg"}


@pytest.mark.parametrize("encoder", [CPU, GPU])
def test_every_source_is_read_as_a_local_video_file_only(encoder: encoders.Encoder) -> None:
    r = ladder.plan_renditions(SOURCE)[0]
    source, out = Path("/in/s"), Path("/out/x")
    for args in (
        commands.build_ladder_args("ffmpeg", spec(encoder)),
        commands.build_clip_args(
            "ffmpeg", source, out, commands.Clip(0, 1), rendition=r, encoder=encoder, has_audio=True
        ),
        commands.build_poster_args("ffmpeg", source, out, duration_sec=20, height=1080),
        [*probe.build_probe_args("ffprobe", "/in/s")[:-1], "-i", "/in/s"],  # ffprobe: the path comes last
    ):
        assert args.count("-i") == 1
        assert input_options(args) == SAFE_INPUT
    # No demuxer that opens other files or URLs is allowed.
    for other in ("hls", "concat", "applehttp", "image2", "lavfi", "tee", "dash"):
        assert other not in probe.CONTAINERS
