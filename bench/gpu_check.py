"""Check the GPU path on a machine with an NVIDIA GPU (no stack needed): detection, then the NVENC
ladder on a generated 1080p source, verified with ffprobe, timed against libx264 on the same source.

    .venv/bin/python bench/gpu_check.py [--seconds 10] [--ffmpeg ffmpeg]

Exits non-zero when ENABLE_GPU=true would fail here or the NVENC outputs are wrong."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from club_runtime import contract
from club_runtime.media import commands, encoders, ladder, runner
from club_runtime.settings import GpuMode


def ladder_run(ffmpeg: str, source: Path, out: Path, encoder: encoders.Encoder) -> tuple[float, list[str]]:
    info = runner.probe_media(ffmpeg.replace("ffmpeg", "ffprobe"), str(source))
    plan = ladder.plan_renditions(info)
    for r in plan:
        (out / r.name).mkdir(parents=True)
    spec = commands.LadderSpec(
        source=source, out_dir=out, renditions=plan, encoder=encoder, has_audio=info.has_audio, segment_sec=6
    )
    started = time.perf_counter()
    runner.run_ffmpeg(commands.build_ladder_args(ffmpeg, spec))
    elapsed = time.perf_counter() - started
    problems = []
    for r in plan:
        playlist = out / r.name / contract.PLAYLIST_NAME
        probe = json.loads(
            subprocess.run(
                [ffmpeg.replace("ffmpeg", "ffprobe"), "-v", "error", "-print_format", "json",
                 "-show_format", "-show_streams", str(playlist)],
                capture_output=True, text=True, check=True,
            ).stdout
        )  # fmt: skip
        v = next(s for s in probe["streams"] if s["codec_type"] == "video")
        duration = float(probe["format"]["duration"])
        if (v["width"], v["height"]) != (r.width, r.height) or abs(
            duration - info.duration_sec
        ) > info.frame_sec:
            problems.append(f"{r.name}: {v['width']}x{v['height']} {duration:.3f}s")
    return elapsed, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--ffmpeg", default="ffmpeg")
    args = parser.parse_args()
    works = runner.gpu_works(args.ffmpeg)
    print(f"NVENC listed and test encode works: {works}")
    print(f"ENABLE_GPU=auto chooses: {encoders.choose(GpuMode.AUTO, gpu_works=works).codec}")
    if not works:
        print("no usable GPU here: ENABLE_GPU=true would fail the worker at its first video job")
        return 1
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        source = Path(tmp) / "src.mp4"
        subprocess.run(
            [args.ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=25:duration={args.seconds}",
             "-f", "lavfi", "-i", f"sine=duration={args.seconds}",
             "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(source)],
            check=True,
        )  # fmt: skip
        failed = False
        for label, encoder in [
            ("nvenc", encoders.choose(GpuMode.TRUE, gpu_works=True)),
            ("x264 veryfast", encoders.choose(GpuMode.FALSE, gpu_works=works)),
        ]:
            elapsed, problems = ladder_run(args.ffmpeg, source, Path(tmp) / label.replace(" ", "-"), encoder)
            speed = args.seconds / elapsed
            print(f"{label:14s} ladder of {args.seconds}s 1080p: {elapsed:6.2f} s  ({speed:5.1f}x real time)")
            for problem in problems:
                print(f"  wrong output: {problem}")
            failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
