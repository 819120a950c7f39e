"""The RQ job the operator enqueues for a VideoJob: its arguments are the ones the worker's
`process_video` takes, and the job's metadata reads back as attempts and progress (pure)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from club_operator import rq_job
from club_operator.videojob_models import VideoJobSpec
from club_runtime import contract
from club_runtime.worker.jobs import video
from club_runtime.worker.outputs import VideoRequest
from tests.support import crds

UID = "0b6f3a1e-5d7c-4b1a-9a64-0f5c2e7d1a10"
CLUB_ID = "c1ab0000-0000-4000-8000-000000000001"


def spec(**overrides: Any) -> VideoJobSpec:
    return VideoJobSpec.model_validate({**crds.load_sample("videojob.yaml")["spec"], **overrides})


def test_the_job_carries_the_outputs_in_ladder_order_the_source_and_the_ids() -> None:
    kwargs = rq_job.process_video_kwargs(spec(), CLUB_ID, UID, "match-2024-05-12")
    assert kwargs == {
        "club_id": CLUB_ID,
        "video_id": UID,
        "outputs": {
            "renditions": ["720p", "480p", "360p"],
            "thumbnail_interval_sec": 10,
            "clips": [{"start": 312.0, "end": 330.5}, {"start": 4021.0, "end": 4040.0}],
            "gpu": "auto",
        },
        "source": {"key": "uploads/2024-05-12-match.mp4", "title": "match-2024-05-12"},
    }
    assert contract.video_job_id(UID) == f"video-{UID}"


def test_the_worker_takes_the_arguments_the_operator_enqueues() -> None:
    kwargs = rq_job.process_video_kwargs(spec(gpu="required"), CLUB_ID, UID, "match")
    inspect.signature(video.process_video).bind(**kwargs)
    request = VideoRequest.model_validate(kwargs["outputs"])
    assert (request.renditions, request.gpu) == (["720p", "480p", "360p"], "required")


@pytest.mark.parametrize(
    ("meta", "attempts", "progress"),
    [
        ({}, 0, 0),
        ({"attempts": [{"worker": "w1"}, {"worker": "w2"}], "progress": 42}, 2, 42),
        ({"progress": 250}, 0, 100),
        ({"progress": "half"}, 0, 0),
    ],
)
def test_attempts_and_progress_read_from_the_workers_metadata(
    meta: dict[str, Any], attempts: int, progress: int
) -> None:
    job = rq_job.JobView(status="started", meta=meta)
    assert (job.attempts, job.progress) == (attempts, progress)
