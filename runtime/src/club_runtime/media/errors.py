"""Errors raised by the media layer. `InvalidMediaError` means the input itself is unusable
(retrying cannot help); `FfmpegError` means a run failed and carries the tail of its stderr."""

from __future__ import annotations


class MediaError(Exception):
    """Base class of every error the media layer raises."""


class InvalidMediaError(MediaError):
    """The source is not a usable video: empty, truncated, not a video, or zero-length."""


class FfmpegError(MediaError):
    """ffmpeg or ffprobe exited with an error."""

    def __init__(self, message: str, *, returncode: int | None, stderr_tail: str) -> None:
        super().__init__(f"{message} (exit {returncode}): {stderr_tail}".strip())
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class FfmpegTimeoutError(FfmpegError):
    """ffmpeg ran past the time it was given and was killed."""
