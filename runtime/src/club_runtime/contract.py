"""The contract the operator, the API and the workers share: RQ job ids and the names of the job
functions a worker may run. Pure (no I/O, no third-party import) so the operator can import it
without the runtime's dependencies; one place, so the three never drift apart."""

from __future__ import annotations

VIDEO_JOB_PREFIX = "video-"

PROCESS_VIDEO = "club_runtime.worker.jobs.video.process_video"
"""Transcodes one video: an HLS ladder, poster, thumbnails and clips."""
VIDEO_STOPPED = "club_runtime.worker.jobs.video.on_stopped"
"""RQ's stopped callback for a video job: records the stop on the video."""


def video_job_id(video_id: object) -> str:
    """The RQ job id of a video's processing: one per video (a VideoJob's uid or an API upload's id),
    so enqueueing it twice finds the first."""
    return f"{VIDEO_JOB_PREFIX}{video_id}"
