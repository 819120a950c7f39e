"""The VideoJob status the operator writes, from the Club and the RQ job (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from club_operator import videojob_status as vj
from club_operator.club_view import ClubView
from club_operator.models import ClubSpec
from club_operator.rq_job import JobView
from club_operator.videojob_models import VideoJobPhase, VideoJobSpec
from club_runtime import contract
from tests.support import crds

NOW = datetime(2026, 5, 12, 15, 0, tzinfo=UTC)
UID = "0b6f3a1e-5d7c-4b1a-9a64-0f5c2e7d1a10"
PREFIX = contract.video_prefix("0c1d2e3f-club-uid", UID)
LEGACY = contract.legacy_video_prefix("riverside-fc", UID)


def spec(**overrides: Any) -> VideoJobSpec:
    return VideoJobSpec.model_validate({**crds.load_sample("videojob.yaml")["spec"], **overrides})


def club(*, ready: bool = True, gpu: bool = False) -> ClubView:
    return ClubView(
        uid="c1ab0000-0000-4000-8000-000000000001",
        name="riverside-fc",
        bucket="club-demo-riverside-fc",
        video_queue="demo.riverside-fc.video",
        gpu_workers=gpu,
        ready=ready,
        spec=ClubSpec.model_validate({"displayName": "Riverside"}),
        not_ready_message="DatabaseReady is False",
    )


def job(status: str, **meta: Any) -> JobView:
    return JobView(
        status=status,
        enqueued_at=datetime(2026, 5, 12, 14, 0, tzinfo=UTC),
        started_at=datetime(2026, 5, 12, 14, 1, tzinfo=UTC) if status != "queued" else None,
        ended_at=datetime(2026, 5, 12, 14, 9, 30, tzinfo=UTC) if status in ("finished", "failed") else None,
        meta=meta,
    )


ATTEMPT = {"worker": "w1", "pid": 7, "started_at": "2026-05-12T14:01:00.250+00:00"}


def test_a_job_waits_for_its_club_and_for_gpu_workers_when_it_needs_them() -> None:
    assert vj.waiting_for_club(spec(), None) == (
        vj.Reason.CLUB_NOT_FOUND,
        "Club riverside-fc does not exist in this namespace",
    )
    reason, message = vj.waiting_for_club(spec(), club(ready=False)) or ("", "")
    assert reason == vj.Reason.CLUB_NOT_READY
    assert "DatabaseReady is False" in message
    assert vj.waiting_for_club(spec(gpu="required"), club())[0] == vj.Reason.NO_GPU_WORKERS  # type: ignore[index]
    assert vj.waiting_for_club(spec(gpu="required"), club(gpu=True)) is None
    assert vj.waiting_for_club(spec(), club()) is None


def test_queued_running_and_retrying_mirror_the_job() -> None:
    queued = vj.from_job(spec(), job("queued"), PREFIX, NOW)
    assert (queued["phase"], queued["progress"], queued["attempts"]) == ("Queued", 0, 0)
    assert queued["queuedTime"] == "2026-05-12T14:00:00Z"
    assert "startTime" not in queued

    running = vj.from_job(
        spec(), job("started", progress=42, step="transcode", attempts=[ATTEMPT]), PREFIX, NOW
    )
    assert (running["phase"], running["progress"], running["message"]) == ("Running", 42, "transcode")
    assert running["startTime"] == "2026-05-12T14:01:00Z"

    retry = vj.from_job(spec(), job("scheduled", progress=60, attempts=[ATTEMPT]), PREFIX, NOW)
    assert (retry["phase"], retry["reason"], retry["attempts"]) == ("Queued", "Retrying", 1)


def test_a_finished_job_lists_its_outputs_by_name() -> None:
    result = {
        "outputs": {
            "master": f"{PREFIX}/hls/master.m3u8",
            "renditions": {n: {"playlist": f"{PREFIX}/hls/{n}/index.m3u8"} for n in ("360p", "720p")},
            "thumbnails": [f"{PREFIX}/thumbnails/0001.jpg"],
            "clips": {"1": {"key": f"{PREFIX}/clips/1.mp4", "start": 4021, "end": 4040}},
            "prefix": PREFIX,
        }
    }
    finished = JobView(
        status="finished",
        enqueued_at=NOW,
        ended_at=datetime(2026, 5, 12, 14, 9, 30, tzinfo=UTC),
        meta={"attempts": [ATTEMPT], "progress": 100, "encoder": "h264_nvenc"},
        result=result,
    )
    status = vj.from_job(spec(), finished, LEGACY, NOW)
    assert (status["phase"], status["progress"], status["usedGpu"]) == ("Succeeded", 100, True)
    assert status["completionTime"] == "2026-05-12T14:09:30Z"
    assert status["outputs"] == {
        "prefix": PREFIX,
        "masterPlaylist": f"{PREFIX}/hls/master.m3u8",
        # 480p was asked for but the worker did not make it (a source smaller than the rung)
        "renditions": [
            {"name": "720p", "playlist": f"{PREFIX}/hls/720p/index.m3u8"},
            {"name": "360p", "playlist": f"{PREFIX}/hls/360p/index.m3u8"},
        ],
        "thumbnails": [f"{PREFIX}/thumbnails/0001.jpg"],
        "clips": [{"name": "penalty-save", "key": f"{PREFIX}/clips/1.mp4"}],
    }
    assert status["conditions"][0]["type"] == "Complete"


def test_a_result_without_a_recorded_folder_names_the_legacy_one() -> None:
    """Workers before the key layout recorded no prefix: they wrote under the Club's name."""
    finished = JobView(status="finished", result={"outputs": {"master": f"{LEGACY}/hls/master.m3u8"}})
    status = vj.from_job(spec(), finished, LEGACY, NOW)
    assert status["outputs"] == {"prefix": LEGACY, "masterPlaylist": f"{LEGACY}/hls/master.m3u8"}


@pytest.mark.parametrize(
    ("view", "reason", "words"),
    [
        (
            job("failed", failure="InvalidSource", error="ffprobe: Invalid data found"),
            "InvalidSource",
            "ffprobe",
        ),
        (job("failed", failure="WorkerLost", error="the worker died"), "WorkerLost", "died"),
        (job("failed"), "ProcessingFailed", "the job was failed"),
        (job("stopped"), "Cancelled", "stopped"),
        # Only the failures a worker records are taken from its metadata.
        (job("failed", failure="Succeeded", error="odd"), "ProcessingFailed", "odd"),
    ],
)
def test_a_failed_job_says_why(view: JobView, reason: str, words: str) -> None:
    status = vj.from_job(spec(), view, PREFIX, NOW)
    assert (status["phase"], status["reason"]) == ("Failed", reason)
    assert words in status["message"]
    assert status["conditions"][0]["type"] == "Failed"
    assert vj.finished(status)


def test_only_what_changed_is_written_and_stale_fields_are_cleared() -> None:
    pending = vj.pending(vj.Reason.CLUB_NOT_FOUND, "Club x does not exist")
    running = vj.from_job(spec(), job("started", progress=5, attempts=[ATTEMPT]), PREFIX, NOW)
    assert vj.changes(running, running) == {}
    patch = vj.changes(pending, running)
    assert patch["phase"] == "Running"
    assert patch["reason"] is None  # the Pending reason no longer applies
    assert vj.changes({**running, "outputs": {"prefix": PREFIX}}, running) == {"outputs": None}


def test_a_source_is_queued_only_if_it_exists_within_the_upload_limit() -> None:
    assert vj.source_problem("uploads/m.mp4", "b", 2048 * 1024 * 1024, 2048) is None
    missing = vj.source_problem("uploads/m.mp4", "b", None, 2048)
    assert missing == (vj.Reason.SOURCE_NOT_FOUND, "object 'uploads/m.mp4' does not exist in bucket b")
    large = vj.source_problem("uploads/m.mp4", "b", 2048 * 1024 * 1024 + 1, 2048)
    assert large is not None
    assert large[0] == vj.Reason.INVALID_SOURCE
    assert "over the limit of 2048 MB (UPLOAD_MAX_SIZE_MB)" in large[1]


def test_each_phase_has_the_reason_of_its_event() -> None:
    assert [vj.event_reason(phase) for phase in VideoJobPhase] == [str(phase) for phase in VideoJobPhase]
