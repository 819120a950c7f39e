"""A generated match video for the demo and the tests: a 720p test pattern with a tone, H.264 and
AAC in MP4, like a phone's match recording, made by the host's ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path


def generate(path: Path, seconds: int, *, preset: str = "veryfast") -> None:
    """Write `seconds` of video to `path` (x264 `preset`: ultrafast makes long ones quickly)."""
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
         str(path)],
        check=True,
    )  # fmt: skip
