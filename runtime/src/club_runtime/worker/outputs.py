"""What a video job is asked for (`VideoRequest`) and what it has produced so far (`VideoOutputs`,
stored in `videos.outputs`). An output is recorded only once it is uploaded whole, so a re-run
skips exactly what is recorded. `prefix` is the folder the outputs go to (see `contract`), recorded
before the first upload, so deleting the video finds every output, even unrecorded ones."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from club_runtime import contract
from club_runtime.media.ladder import Rendition
from club_runtime.media.probe import MediaInfo


class ClipRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: float = Field(ge=0)
    end: float

    @model_validator(mode="after")
    def _ordered(self) -> ClipRequest:
        if self.end <= self.start:
            raise ValueError("a clip's end must be after its start")
        return self


class VideoRequest(BaseModel):
    """Optional outputs a job may ask for; unset fields take the worker's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    renditions: list[str] | None = None
    thumbnail_interval_sec: int | None = Field(default=None, ge=0)
    """Seconds between thumbnails; 0 for none."""
    clips: list[ClipRequest] = Field(default_factory=list)
    gpu: Literal["auto", "required", "never"] = "auto"


class RenditionOutput(BaseModel):
    playlist: str
    width: int
    height: int
    video_bitrate_k: int
    audio_bitrate_k: int
    segments: int

    def as_rendition(self, name: str) -> Rendition:
        return Rendition(name, self.width, self.height, self.video_bitrate_k, self.audio_bitrate_k)


class ClipOutput(BaseModel):
    key: str
    start: float
    end: float


class SourceInfo(BaseModel):
    """What ffprobe said about the source, kept so a re-run can plan without downloading it."""

    width: int
    height: int
    duration_sec: float
    frame_rate: str
    has_audio: bool

    @classmethod
    def of(cls, info: MediaInfo) -> SourceInfo:
        return cls(
            width=info.width,
            height=info.height,
            duration_sec=info.duration_sec,
            frame_rate=str(info.frame_rate),
            has_audio=info.has_audio,
        )

    def as_media(self) -> MediaInfo:
        return MediaInfo(
            duration_sec=self.duration_sec,
            width=self.width,
            height=self.height,
            frame_rate=Fraction(self.frame_rate),
            video_codec="",
            has_audio=self.has_audio,
            size_bytes=0,
        )


class VideoOutputs(BaseModel):
    prefix: str | None = None
    source: SourceInfo | None = None
    renditions: dict[str, RenditionOutput] = Field(default_factory=dict)
    master: str | None = None
    thumbnails: list[str] | None = None
    poster: str | None = None
    clips: dict[str, ClipOutput] = Field(default_factory=dict)

    def keys(self) -> list[str]:
        """Every object key recorded (not the segments: they lie beside their rendition's playlist)."""
        found = [r.playlist for r in self.renditions.values()] + [c.key for c in self.clips.values()]
        found += [k for k in (self.master, self.poster) if k is not None] + list(self.thumbnails or [])
        return found

    def folder(self, video_id: str) -> str | None:
        """The folder of the outputs recorded so far; None when nothing is recorded."""
        if self.prefix:
            return self.prefix
        return next((p for p in (contract.prefix_of(k, video_id) for k in self.keys()) if p), None)

    def has_clip(self, index: int, clip: ClipRequest) -> bool:
        done = self.clips.get(str(index))
        return done is not None and (done.start, done.end) == (clip.start, clip.end)
