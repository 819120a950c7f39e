"""Which H.264 encoder runs: libx264 on CPU, or NVENC with CUDA decoding on an NVIDIA GPU.

`choose` is pure: it takes what `ffmpeg -encoders` / `ffmpeg -hwaccels` printed and whether a tiny
real test encode worked (an ffmpeg build lists h264_nvenc even on machines without a GPU, so the
listing alone proves nothing). `runner.detect_encoder` gathers those facts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from club_runtime.settings import GpuMode


@dataclass(frozen=True)
class Encoder:
    """How video is decoded and encoded. `hwaccel` is the ffmpeg -hwaccel method, if any."""

    codec: str
    hwaccel: str | None = None
    x264_preset: str = "veryfast"
    nvenc_preset: str = "p4"

    @property
    def is_gpu(self) -> bool:
        return self.codec == "h264_nvenc"


GPU_CODEC = "h264_nvenc"
GPU_HWACCEL = "cuda"


class GpuUnavailableError(RuntimeError):
    """ENABLE_GPU=true but this machine cannot encode on a GPU."""


_LISTING_LINE = re.compile(r"^\s*[A-Z.]{6}\s+(\S+)")


def parse_encoders(output: str) -> set[str]:
    """Encoder names from `ffmpeg -hide_banner -encoders`."""
    names: set[str] = set()
    for line in output.splitlines():
        match = _LISTING_LINE.match(line)
        if match and match.group(1) != "=":
            names.add(match.group(1))
    return names


def parse_hwaccels(output: str) -> set[str]:
    """Method names from `ffmpeg -hide_banner -hwaccels` (the lines after the heading)."""
    lines = [line.strip() for line in output.splitlines()]
    return {line for line in lines if line and not line.endswith(":")}


def gpu_listed(encoders: set[str], hwaccels: set[str]) -> bool:
    return GPU_CODEC in encoders and GPU_HWACCEL in hwaccels


def build_gpu_test_args(ffmpeg: str) -> list[str]:
    """A tiny real NVENC encode: it fails fast where no GPU is usable."""
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-f", "lavfi", "-i", "testsrc2=size=256x144:rate=25:duration=0.2",
        "-c:v", GPU_CODEC, "-f", "null", "-",
    ]  # fmt: skip


def choose(mode: GpuMode, *, gpu_works: bool, x264_preset: str = "veryfast") -> Encoder:
    """The encoder for `mode`, given whether the GPU test encode worked."""
    if mode is GpuMode.FALSE or (mode is GpuMode.AUTO and not gpu_works):
        return Encoder(codec="libx264", x264_preset=x264_preset)
    if not gpu_works:
        raise GpuUnavailableError("ENABLE_GPU=true but no usable NVENC encoder was found")
    return Encoder(codec=GPU_CODEC, hwaccel=GPU_HWACCEL, x264_preset=x264_preset)
