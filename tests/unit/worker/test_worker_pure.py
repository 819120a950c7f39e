"""Pure parts of the worker: the outputs record, JSON logs, heartbeat arithmetic."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from club_runtime.settings import GpuMode
from club_runtime.worker import logs, metrics
from club_runtime.worker.club_worker import ClubWorker
from club_runtime.worker.errors import PermanentJobError
from club_runtime.worker.jobs import video
from club_runtime.worker.outputs import ClipRequest, VideoOutputs, VideoRequest


def test_request_validation() -> None:
    assert VideoRequest.model_validate({}).clips == []
    with pytest.raises(ValidationError, match="end must be after"):
        VideoRequest.model_validate({"clips": [{"start": 5, "end": 5}]})
    with pytest.raises(ValidationError):
        VideoRequest.model_validate({"thumbnail_interval_sec": -1})
    assert VideoRequest.model_validate({"thumbnail_interval_sec": 0}).thumbnail_interval_sec == 0  # none
    with pytest.raises(ValidationError):
        VideoRequest.model_validate({"unknown": 1})


def test_outputs_round_trip_and_clip_matching() -> None:
    done = VideoOutputs.model_validate({"clips": {"0": {"key": "k", "start": 1.0, "end": 2.0}}})
    assert done.has_clip(0, ClipRequest(start=1, end=2))
    assert not done.has_clip(0, ClipRequest(start=1, end=3))  # asked for another clip: redo it
    assert not done.has_clip(1, ClipRequest(start=1, end=2))
    assert VideoOutputs.model_validate(done.model_dump(mode="json")) == done


def test_json_logs_carry_the_job_context() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "rendition %s uploaded", ("720p",), None)
    record.segments = 4
    with logs.job_context(job_id="video-1", club="fc-north"):
        entry = json.loads(logs.JsonFormatter().format(record))
    assert entry["message"] == "rendition 720p uploaded"
    assert (entry["job_id"], entry["club"], entry["segments"]) == ("video-1", "fc-north", 4)
    outside = json.loads(logs.JsonFormatter().format(record))
    assert "job_id" not in outside


class _Job:
    def __init__(self, timeout: int | None) -> None:
        self.timeout = timeout


def test_heartbeat_deadline_is_interval_plus_grace() -> None:
    worker = ClubWorker.__new__(ClubWorker)
    worker.job_monitoring_interval = 30
    worker.heartbeat_grace_sec = 5
    assert worker.get_heartbeat_ttl(_Job(3600)) == 35  # type: ignore[arg-type]
    assert worker.get_heartbeat_ttl(_Job(3600), working_time=3590) == 15  # type: ignore[arg-type]
    assert worker.get_heartbeat_ttl(_Job(None)) == 35  # type: ignore[arg-type]


def test_idle_wait_is_capped_by_the_maintenance_interval() -> None:
    worker = ClubWorker.__new__(ClubWorker)
    worker.worker_ttl = 420
    worker.maintenance_interval = 60
    assert worker.dequeue_timeout == 60
    worker.maintenance_interval = 600
    assert worker.dequeue_timeout == 405


def test_unknown_outcomes_count_as_failed() -> None:
    before = metrics.JOBS.labels(queue="q", outcome="failed")._value.get()
    metrics.observe_job("q", "exploded", 1.0, 10, 20)
    assert metrics.JOBS.labels(queue="q", outcome="failed")._value.get() == before + 1


@pytest.mark.parametrize(
    ("worker", "job", "mode"),
    [
        (GpuMode.AUTO, "auto", GpuMode.AUTO),
        (GpuMode.TRUE, "never", GpuMode.FALSE),
        (GpuMode.AUTO, "required", GpuMode.TRUE),
        (GpuMode.FALSE, "auto", GpuMode.FALSE),
    ],
)
def test_gpu_mode_of_a_job_within_the_workers_setting(worker: GpuMode, job: str, mode: GpuMode) -> None:
    assert video.gpu_mode(worker, job) is mode


def test_a_job_requiring_a_gpu_on_a_cpu_only_worker_fails_permanently() -> None:
    with pytest.raises(PermanentJobError, match="ENABLE_GPU=false"):
        video.gpu_mode(GpuMode.FALSE, "required")
