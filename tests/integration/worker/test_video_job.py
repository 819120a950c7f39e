"""The video job end to end through a real `club-runtime worker`, Redis, MinIO, PostgreSQL and ffmpeg."""

from __future__ import annotations

import math
import signal
import socket
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue, Retry
from rq.job import Job, JobStatus

from club_runtime import contract
from club_runtime.media import hls
from club_runtime.worker.jobs import SERIALIZER, video
from tests.integration.worker.harness import FPS, Club, WorkerBed, run_burst_worker, start_worker
from tests.integration.worker.media_checks import download_tree, ffprobe, listing, video_stream

FRAME = 1 / FPS


def enqueue(redis_url: str, club: Club, video_id: str, **options: Any) -> Job:
    queue = Queue("video", connection=redis.Redis.from_url(redis_url), serializer=SERIALIZER)
    outputs = options.pop("outputs", None)
    kwargs: dict[str, Any] = {"club_id": club.club_id, "video_id": video_id}
    if outputs is not None:
        kwargs["outputs"] = outputs
    return queue.enqueue(video.FUNCTION, kwargs=kwargs, job_id=video.job_id(video_id), **options)


def expected_keys(root: Path, prefix: str) -> set[str]:
    """Every object a user may fetch, derived from what the playlists reference plus the extras."""
    keys = {f"{prefix}/hls/master.m3u8"}
    for variant in hls.referenced_files((root / "hls/master.m3u8").read_text()):
        keys.add(f"{prefix}/hls/{variant}")
        folder = variant.rsplit("/", 1)[0]
        keys |= {
            f"{prefix}/hls/{folder}/{seg}"
            for seg in hls.referenced_files((root / "hls" / variant).read_text())
        }
    return keys


def test_1080p_source_gives_ladder_thumbnails_clip_and_a_rerun_uploads_nothing(bed: WorkerBed) -> None:
    video_id = bed.club.add_video(bed.s3, bed.sources.hd_20s)
    env = bed.env()
    job = enqueue(bed.redis_url, bed.club, video_id, outputs={"clips": [{"start": 2, "end": 6.5}]})
    run_burst_worker(env, bed.tmp_path / "worker.log")

    assert job.get_status(refresh=True) == JobStatus.FINISHED, (bed.tmp_path / "worker.log").read_text()[
        -3000:
    ]
    row = bed.club.video(video_id)
    assert (row["status"], row["progress"], row["error"]) == ("ready", 100, None)
    meta = job.get_meta(refresh=True)
    assert (meta["progress"], meta["step"]) == (100, "done")
    assert meta["bytes_read"] == bed.sources.hd_20s.stat().st_size

    prefix = contract.video_prefix(bed.club.club_id, video_id)
    root = download_tree(bed.s3, bed.club.bucket, prefix, bed.tmp_path / "out")
    variants = hls.referenced_files((root / "hls/master.m3u8").read_text())
    assert variants == ["720p/index.m3u8", "480p/index.m3u8", "360p/index.m3u8"]
    for variant, size in zip(variants, [(1280, 720), (854, 480), (640, 360)], strict=True):
        info = ffprobe(root / "hls" / variant)
        stream = video_stream(info)
        assert (stream["width"], stream["height"]) == size
        assert stream["codec_name"] == "h264"
        assert {s["codec_type"] for s in info["streams"]} == {"video", "audio"}
        assert float(info["format"]["duration"]) == pytest.approx(20.0, abs=FRAME)
        playlist = (root / "hls" / variant).read_text()
        assert hls.total_duration(playlist) == pytest.approx(20.0, abs=FRAME)
        assert all(
            float(line[8:].split(",")[0]) <= 6 + FRAME for line in playlist.splitlines() if "#EXTINF" in line
        )

    thumbs = sorted((root / "thumbnails").iterdir())
    assert len(thumbs) == math.ceil(20 / 5)
    assert all(video_stream(ffprobe(t))["height"] == 180 for t in thumbs)
    assert video_stream(ffprobe(root / "poster.jpg"))["height"] == 720
    clip = ffprobe(root / "clips/0.mp4")
    assert (video_stream(clip)["width"], video_stream(clip)["height"]) == (1280, 720)
    assert float(clip["format"]["duration"]) == pytest.approx(4.5, abs=FRAME)

    # Nothing more and nothing less than what the playlists and outputs name: no stray segments.
    outputs = row["outputs"]
    extras = {*outputs["thumbnails"], outputs["poster"], outputs["clips"]["0"]["key"]}
    before = listing(bed.s3, bed.club.bucket, prefix)
    assert set(before) == expected_keys(root, prefix) | extras

    # Re-enqueueing the finished job (same id, as the API does) uploads nothing again.
    again = enqueue(bed.redis_url, bed.club, video_id, outputs={"clips": [{"start": 2, "end": 6.5}]})
    run_burst_worker(env, bed.tmp_path / "worker.log")
    assert again.get_status(refresh=True) == JobStatus.FINISHED
    result = again.return_value(refresh=True)
    assert result is not None
    assert (result["uploaded_objects"], result["bytes_written"], result["skipped"]) == (0, 0, ["all"])
    assert listing(bed.s3, bed.club.bucket, prefix) == before
    assert bed.club.video(video_id)["status"] == "ready"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("not_video", "Invalid data found when processing input"),
        ("truncated", "moov atom not found"),
        ("empty", "the source file is empty (0 bytes)"),
    ],
)
def test_unusable_source_fails_permanently_with_the_reason(bed: WorkerBed, source: str, reason: str) -> None:
    video_id = bed.club.add_video(bed.s3, getattr(bed.sources, source))
    # A retry policy that would re-run a transient failure at once: a permanent one must not use it.
    job = enqueue(bed.redis_url, bed.club, video_id, retry=Retry(max=3))
    run_burst_worker(bed.env(), bed.tmp_path / "worker.log")

    assert job.get_status(refresh=True) == JobStatus.FAILED
    assert len(job.get_meta(refresh=True)["attempts"]) == 1
    row = bed.club.video(video_id)
    assert row["status"] == "failed"
    assert reason in row["error"]
    assert listing(bed.s3, bed.club.bucket, contract.video_prefix(bed.club.club_id, video_id)) == {}


def test_oversized_rendition_request_for_a_360p_source_never_upscales(bed: WorkerBed) -> None:
    video_id = bed.club.add_video(bed.s3, bed.sources.small_360p)
    job = enqueue(bed.redis_url, bed.club, video_id, outputs={"renditions": ["1080p", "720p", "360p"]})
    run_burst_worker(bed.env(), bed.tmp_path / "worker.log")

    assert job.get_status(refresh=True) == JobStatus.FINISHED
    prefix = contract.video_prefix(bed.club.club_id, video_id)
    root = download_tree(bed.s3, bed.club.bucket, prefix, bed.tmp_path / "out")
    assert hls.referenced_files((root / "hls/master.m3u8").read_text()) == ["360p/index.m3u8"]
    assert sorted(p.name for p in (root / "hls").iterdir()) == ["360p", "master.m3u8"]
    info = ffprobe(root / "hls/360p/index.m3u8")
    assert (video_stream(info)["width"], video_stream(info)["height"]) == (640, 360)
    assert float(info["format"]["duration"]) == pytest.approx(3.0, abs=FRAME)
    assert "RESOLUTION=640x360" in (root / "hls/master.m3u8").read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def scrape(port: int) -> dict[str, float]:
    """The worker's club_worker_* and club_video_* samples; empty until its metrics server listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except urllib.error.URLError:
        return {}
    samples = {}
    for line in text.splitlines():
        if line.startswith(("club_worker_", "club_video_")):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


SUCCEEDED = 'club_worker_jobs_total{outcome="succeeded",queue="video"}'


def test_worker_metrics_count_jobs_bytes_and_queue_depth(bed: WorkerBed) -> None:
    video_id = bed.club.add_video(bed.s3, bed.sources.small_360p)
    port = free_port()
    job = enqueue(bed.redis_url, bed.club, video_id)
    worker = start_worker(bed.env(WORKER_METRICS_PORT=str(port)), log=bed.tmp_path / "worker.log")
    try:
        # The worker observes a job right after its work horse exits: wait for that.
        deadline = time.monotonic() + 120
        while (samples := scrape(port)).get(SUCCEEDED, 0) < 1:
            assert time.monotonic() < deadline, (bed.tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    written = sum(
        size for _, _, size in listing(bed.s3, bed.club.bucket, f"clubs/{bed.club.club_id}/videos").values()
    )
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert samples[SUCCEEDED] == 1
    assert samples['club_worker_job_duration_seconds_count{queue="video"}'] == 1
    assert samples['club_worker_bytes_read_total{queue="video"}'] == bed.sources.small_360p.stat().st_size
    assert samples['club_worker_bytes_written_total{queue="video"}'] == written
    assert samples['club_worker_jobs_in_progress{queue="video"}'] == 0
    assert samples['club_worker_queue_depth{queue="video"}'] == 0
    # One ladder run (a 360p source: the 360p rung alone) with the CPU encoder, per source minute.
    speed = 'club_video_processing_seconds_per_source_minute{encoder="libx264",rendition="360p"}'
    assert samples[speed.replace("{", "_count{")] == 1
    assert samples[speed.replace("{", "_sum{")] > 0


def enqueue_object(redis_url: str, club: Club, video_id: str, key: str) -> Job:
    """What the operator enqueues for a VideoJob: an object key, no row yet."""
    queue = Queue("video", connection=redis.Redis.from_url(redis_url), serializer=SERIALIZER)
    kwargs = {
        "club_id": club.club_id,
        "video_id": video_id,
        "outputs": {"renditions": ["360p"], "thumbnail_interval_sec": 5},
        "source": {"key": key, "title": "Friendly vs Northgate"},
    }
    return queue.enqueue(video.FUNCTION, kwargs=kwargs, job_id=video.job_id(video_id))


def test_an_object_in_the_bucket_is_recorded_in_the_library_and_processed(bed: WorkerBed) -> None:
    video_id, key = str(uuid.uuid4()), "uploads/friendly.mp4"
    bed.s3.upload_file(str(bed.sources.small_360p), bed.club.bucket, key)
    job = enqueue_object(bed.redis_url, bed.club, video_id, key)
    run_burst_worker(bed.env(), bed.tmp_path / "worker.log")

    assert job.get_status(refresh=True) == JobStatus.FINISHED
    row = bed.club.video(video_id)
    assert (row["title"], row["source_key"], row["status"]) == ("Friendly vs Northgate", key, "ready")
    assert (row["size_bytes"], row["content_type"]) == (bed.sources.small_360p.stat().st_size, "video/mp4")
    assert job.get_meta(refresh=True)["encoder"] == "libx264"
    prefix = contract.video_prefix(bed.club.club_id, video_id)
    assert f"{prefix}/hls/master.m3u8" in listing(bed.s3, bed.club.bucket, prefix)


def test_a_corrupt_object_fails_at_once_with_ffprobes_reason_in_the_job(bed: WorkerBed) -> None:
    video_id, key = str(uuid.uuid4()), "uploads/corrupt.mp4"
    bed.s3.upload_file(str(bed.sources.truncated), bed.club.bucket, key)  # starts like an MP4
    job = enqueue_object(bed.redis_url, bed.club, video_id, key)
    run_burst_worker(bed.env(), bed.tmp_path / "worker.log")

    assert job.get_status(refresh=True) == JobStatus.FAILED
    meta = job.get_meta(refresh=True)
    assert meta["failure"] == "InvalidSource"
    assert "ffprobe" in meta["error"], meta["error"]
    assert "moov atom not found" in meta["error"], meta["error"]
    assert len(meta["attempts"]) == 1  # a permanent failure is not retried
    assert bed.club.video(video_id)["status"] == "failed"


def test_a_missing_object_fails_without_recording_a_video(bed: WorkerBed) -> None:
    video_id = str(uuid.uuid4())
    job = enqueue_object(bed.redis_url, bed.club, video_id, "uploads/never-uploaded.mp4")
    run_burst_worker(bed.env(), bed.tmp_path / "worker.log")

    assert job.get_status(refresh=True) == JobStatus.FAILED
    meta = job.get_meta(refresh=True)
    assert meta["failure"] == "InvalidSource"
    assert "uploads/never-uploaded.mp4" in meta["error"]
    assert "does not exist" in meta["error"]
