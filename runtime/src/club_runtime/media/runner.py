"""The one module that starts processes: ffprobe, ffmpeg, and the GPU detection probes.

ffmpeg writes `-progress pipe:1` key=value blocks to stdout; `run_ffmpeg` turns `out_time_us` into
seconds done and hands them to a callback. stderr is kept (only its tail) for error messages. On any
exit path, including the job's own timeout exception, a still-running ffmpeg is killed, so no
orphan keeps writing files."""

from __future__ import annotations

import collections
import functools
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO

from club_runtime.media import encoders, probe
from club_runtime.media.errors import FfmpegError, FfmpegTimeoutError, InvalidMediaError
from club_runtime.settings import GpuMode

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]
_STDERR_LINES = 20


def _drain(stream: IO[str], tail: collections.deque[str]) -> None:
    for line in stream:
        tail.append(line.rstrip())


def parse_progress_line(line: str) -> float | None:
    """Seconds of output written, from one `-progress` line (`out_time_us=...`), else None."""
    key, _, value = line.strip().partition("=")
    if key in ("out_time_us", "out_time_ms") and value.lstrip("-").isdigit():
        # ffmpeg prints microseconds under both names (out_time_ms is a historical misnomer).
        return max(int(value), 0) / 1_000_000
    return None


def run_ffmpeg(
    args: Sequence[str], *, timeout_sec: float | None = None, on_progress: ProgressCallback | None = None
) -> None:
    """Run ffmpeg to completion; raise FfmpegError (or FfmpegTimeoutError) when it fails."""
    tail: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
    deadline = None if timeout_sec is None else time.monotonic() + timeout_sec
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    if proc.stdout is None or proc.stderr is None:  # pragma: no cover - both are PIPE above
        raise FfmpegError("ffmpeg pipes missing", returncode=None, stderr_tail="")
    stderr_reader = threading.Thread(target=_drain, args=(proc.stderr, tail), daemon=True)
    stderr_reader.start()
    timer = None
    if timeout_sec is not None:
        timer = threading.Timer(timeout_sec, proc.kill)
        timer.daemon = True
        timer.start()
    try:
        for line in proc.stdout:
            done = parse_progress_line(line)
            if done is not None and on_progress is not None:
                on_progress(done)
        returncode = proc.wait()
    finally:
        if timer is not None:
            timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr_reader.join(timeout=5)
    if returncode != 0:
        stderr_tail = "\n".join(tail)
        if deadline is not None and time.monotonic() >= deadline:
            raise FfmpegTimeoutError(
                f"ffmpeg ran past {timeout_sec:.0f}s", returncode=returncode, stderr_tail=stderr_tail
            )
        raise FfmpegError("ffmpeg failed", returncode=returncode, stderr_tail=stderr_tail)


def probe_media(ffprobe: str, path: str, *, timeout_sec: float = 120) -> probe.MediaInfo:
    """ffprobe `path`; a file ffprobe cannot read is an InvalidMediaError (not worth retrying)."""
    try:
        done = subprocess.run(
            probe.build_probe_args(ffprobe, path),
            capture_output=True,
            text=True,
            timeout=timeout_sec,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise FfmpegTimeoutError("ffprobe timed out", returncode=None, stderr_tail="") from exc
    if done.returncode != 0:
        reason = probe.error_reason(done.stderr, path)
        if probe.refused_format(done.stderr):
            raise InvalidMediaError(f"{probe.REFUSED}: ffprobe: {reason}")
        raise InvalidMediaError(f"ffprobe cannot read the source: {reason}")
    return probe.parse_probe(done.stdout)


def _output(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def gpu_works(ffmpeg: str) -> bool:
    """Whether ffmpeg lists NVENC and CUDA *and* a tiny NVENC encode succeeds here."""
    listed = encoders.gpu_listed(
        encoders.parse_encoders(_output([ffmpeg, "-hide_banner", "-encoders"])),
        encoders.parse_hwaccels(_output([ffmpeg, "-hide_banner", "-hwaccels"])),
    )
    if not listed:
        return False
    try:
        done = subprocess.run(
            encoders.build_gpu_test_args(ffmpeg), capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    if done.returncode != 0:
        log.info("GPU test encode failed; using the CPU", extra={"stderr": done.stderr.strip()[-300:]})
    return done.returncode == 0


@functools.cache
def detect_encoder(ffmpeg: str, mode: GpuMode, x264_preset: str) -> encoders.Encoder:
    """The encoder for this process (detected once: the hardware does not change under us)."""
    works = mode is not GpuMode.FALSE and gpu_works(ffmpeg)
    chosen = encoders.choose(mode, gpu_works=works, x264_preset=x264_preset)
    log.info(
        "video encoder chosen", extra={"codec": chosen.codec, "hwaccel": chosen.hwaccel, "gpu_mode": mode}
    )
    return chosen
