"""The RQ job behind a VideoJob, as the operator writes it and reads it back: the arguments of
`process_video` it enqueues, and the job's state as read from Redis (JobView: RQ's status, the
worker's metadata, the result). The job's id and function names are the contract the operator
shares with the API and the workers (`club_runtime.contract`). Pure: no Redis client here
(video_queue.py talks to Redis)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from club_operator.videojob_models import VideoJobSpec


def process_video_kwargs(spec: VideoJobSpec, club_id: str, video_id: str, title: str) -> dict[str, Any]:
    """The arguments of `contract.PROCESS_VIDEO` for a VideoJob (JSON: the jobs are JSON-serialized).
    `club_id` is the Club's tenant id; `video_id` the VideoJob's uid."""
    outputs = spec.outputs
    return {
        "club_id": club_id,
        "video_id": video_id,
        "outputs": {
            "renditions": [str(r) for r in outputs.ladder],
            "thumbnail_interval_sec": outputs.thumbnail_interval_seconds,
            "clips": [{"start": c.start, "end": c.end} for c in outputs.clips],
            "gpu": str(spec.gpu),
        },
        "source": {"key": spec.source.key, "title": title},
    }


@dataclass(frozen=True)
class JobView:
    """The RQ job as read from Redis."""

    status: str
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    exc_message: str = ""

    @property
    def attempts(self) -> int:
        return len(self.meta.get("attempts") or [])

    @property
    def progress(self) -> int:
        try:
            return max(0, min(100, int(self.meta.get("progress", 0))))
        except (TypeError, ValueError):
            return 0
