"""club_video_processing_seconds_per_source_minute: what the worker observes from the ladder runs
a video job recorded in its metadata (worker/metrics.py)."""

from __future__ import annotations

from typing import Any

import pytest

from club_runtime.worker import metrics


def test_seconds_per_source_minute() -> None:
    assert metrics.seconds_per_source_minute(90, 180) == 30
    assert metrics.seconds_per_source_minute(12, 30) == 24
    assert metrics.seconds_per_source_minute(0, 60) == 0


@pytest.mark.parametrize(("seconds", "source"), [(10, 0), (10, -1), (-1, 60)])
def test_no_measure_without_a_source_duration_or_with_a_negative_time(seconds: float, source: float) -> None:
    assert metrics.seconds_per_source_minute(seconds, source) is None


def test_each_rendition_of_a_run_is_observed_with_the_whole_runs_time() -> None:
    meta = {
        "transcodes": [
            {"renditions": ["720p", "480p"], "encoder": "libx264", "seconds": 90.0, "source_seconds": 180.0},
            {"renditions": ["1080p"], "encoder": "h264_nvenc", "seconds": 6, "source_seconds": 60},
        ]
    }
    assert metrics.transcode_samples(meta) == [
        ("720p", "libx264", 30.0),
        ("480p", "libx264", 30.0),
        ("1080p", "h264_nvenc", 6.0),
    ]


def _run(**fields: Any) -> dict[str, Any]:
    return {"renditions": ["720p"], "encoder": "libx264", "seconds": 1, "source_seconds": 60} | fields


def test_labels_stay_bounded() -> None:
    meta = {"transcodes": [_run(renditions=["543p"], encoder="libx265")]}
    assert metrics.transcode_samples(meta) == [("other", "other", 1.0)]


@pytest.mark.parametrize(
    "meta",
    [
        {},
        {"transcodes": None},
        {"transcodes": "720p"},
        {"transcodes": [None, 3]},
        {"transcodes": [_run(renditions="720p")]},
        {"transcodes": [_run(seconds="1")]},
        {"transcodes": [_run(seconds=True)]},
        {"transcodes": [_run(source_seconds=0)]},
        {"transcodes": [_run(source_seconds=None)]},
    ],
)
def test_what_is_not_a_run_record_is_skipped(meta: dict[str, Any]) -> None:
    assert metrics.transcode_samples(meta) == []


def test_observing_a_jobs_runs_adds_to_the_histogram() -> None:
    labels = {"rendition": "240p", "encoder": "libx264"}

    def count() -> float:
        for family in metrics.VIDEO_SECONDS_PER_SOURCE_MINUTE.collect():
            for sample in family.samples:
                if sample.name.endswith("_count") and sample.labels == labels:
                    return sample.value
        return 0.0

    before = count()
    metrics.observe_transcodes(
        {"transcodes": [{"renditions": ["240p"], "encoder": "libx264", "seconds": 3, "source_seconds": 60}]}
    )
    assert count() == before + 1
