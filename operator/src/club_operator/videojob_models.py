"""Typed view of the `VideoJob` spec (see models.py for how specs are parsed). No I/O."""

from __future__ import annotations

import enum
from datetime import timedelta

from pydantic import Field

from club_operator.models import ClubRef, SpecModel

# --- VideoJob --------------------------------------------------------------------------------


class Rendition(enum.StrEnum):
    P1080 = "1080p"
    P720 = "720p"
    P480 = "480p"
    P360 = "360p"
    P240 = "240p"

    @property
    def height(self) -> int:
        return int(self.value.removesuffix("p"))


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class GpuMode(enum.StrEnum):
    AUTO = "auto"
    REQUIRED = "required"
    NEVER = "never"


class VideoJobPhase(enum.StrEnum):
    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def finished(self) -> bool:
        return self in (VideoJobPhase.SUCCEEDED, VideoJobPhase.FAILED)


class VideoSource(SpecModel):
    key: str


class Clip(SpecModel):
    name: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


class VideoOutputs(SpecModel):
    renditions: tuple[Rendition, ...] = (Rendition.P720, Rendition.P480, Rendition.P360)
    thumbnail_interval_seconds: int = 10
    clips: tuple[Clip, ...] = ()

    @property
    def ladder(self) -> tuple[Rendition, ...]:
        """The renditions, highest first, as an HLS master playlist lists them."""
        return tuple(sorted(self.renditions, key=lambda r: r.height, reverse=True))

    @property
    def thumbnails(self) -> bool:
        return self.thumbnail_interval_seconds > 0


class VideoJobSpec(SpecModel):
    """The spec of a VideoJob, as `kubectl explain videojob.spec` describes it."""

    club_ref: ClubRef
    source: VideoSource
    outputs: VideoOutputs = Field(default_factory=VideoOutputs)
    priority: Priority = Priority.NORMAL
    gpu: GpuMode = GpuMode.AUTO
    deadline_seconds: int = 3600
    ttl_seconds_after_finished: int | None = None

    @property
    def deadline(self) -> timedelta:
        return timedelta(seconds=self.deadline_seconds)
