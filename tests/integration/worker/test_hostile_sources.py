"""Sources that name other files or URLs (an HLS playlist, an ffconcat list) fail as InvalidSource
through the real job, ffprobe and ffmpeg, without reading what they name; a plain MP4 beside them is
processed. Through a VideoJob they are refused before ffprobe runs, as an upload through the API is."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus

from club_runtime.media import commands, runner
from club_runtime.media.errors import FfmpegError
from club_runtime.worker.jobs import SERIALIZER, video
from tests.integration.worker.harness import Club, WorkerBed, run_burst_worker

TARGETS = ("file:///etc/passwd", "http://127.0.0.1:1/x")


def playlist(target: str) -> bytes:
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{target}\n#EXT-X-ENDLIST\n".encode()


def concat_list(target: str) -> bytes:
    return f"ffconcat version 1.0\nfile '{target}'\nduration 10\n".encode()


HOSTILE = {
    f"{kind}-{n}": make(target)
    for kind, make in (("m3u8", playlist), ("concat", concat_list))
    for n, target in enumerate(TARGETS)
}


def enqueue(redis_url: str, club: Club, video_id: str, source: dict[str, str] | None = None) -> Job:
    queue = Queue("video", connection=redis.Redis.from_url(redis_url), serializer=SERIALIZER)
    kwargs: dict[str, Any] = {"club_id": club.club_id, "video_id": video_id}
    if source is not None:
        kwargs["source"] = source
    return queue.enqueue(video.FUNCTION, kwargs=kwargs, job_id=video.job_id(video_id))


def add_row(bed: WorkerBed, key: str, body: bytes) -> str:
    """A video row whose source is `body`, as if it had passed the API's checks."""
    path = bed.tmp_path / key.replace("/", "_")
    path.write_bytes(body)
    return bed.club.add_video(bed.s3, path)


def test_playlists_and_concat_lists_fail_as_invalid_source_and_an_mp4_still_works(bed: WorkerBed) -> None:
    jobs = {
        name: enqueue(bed.redis_url, bed.club, add_row(bed, name, body)) for name, body in HOSTILE.items()
    }
    normal = bed.club.add_video(bed.s3, bed.sources.small_360p)
    normal_job = enqueue(bed.redis_url, bed.club, normal)
    run_burst_worker(bed.env(), bed.tmp_path / "worker.log")

    for name, job in jobs.items():
        assert job.get_status(refresh=True) == JobStatus.FAILED, name
        meta = job.get_meta(refresh=True)
        assert meta["failure"] == "InvalidSource", (name, meta)
        assert "not a single video file" in meta["error"], (name, meta["error"])
        assert "root:" not in meta["error"]  # nothing of /etc/passwd was read into the reason
        assert len(meta["attempts"]) == 1
        video_id = job.kwargs["video_id"]
        assert bed.club.video(video_id)["status"] == "failed"
    assert normal_job.get_status(refresh=True) == JobStatus.FINISHED
    assert bed.club.video(normal)["status"] == "ready"


def test_a_videojob_source_is_checked_like_an_upload(bed: WorkerBed) -> None:
    jobs = {}
    for name, body in HOSTILE.items():
        key = f"uploads/{name}.mp4"
        bed.s3.put_object(Bucket=bed.club.bucket, Key=key, Body=body)
        jobs[name] = enqueue(bed.redis_url, bed.club, str(uuid.uuid4()), {"key": key, "title": name})
    run_burst_worker(bed.env(), bed.tmp_path / "worker.log")

    for name, job in jobs.items():
        assert job.get_status(refresh=True) == JobStatus.FAILED, name
        meta = job.get_meta(refresh=True)
        assert meta["failure"] == "InvalidSource", (name, meta)
        assert "is not a video (MP4, MOV, MKV, WebM, AVI or MPEG-TS)" in meta["error"], meta["error"]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_ffmpeg_itself_refuses_to_open_them(tmp_path: Path, name: str) -> None:
    """The whitelists hold in ffmpeg too, not only in the probe that runs first."""
    source = tmp_path / "source"
    source.write_bytes(HOSTILE[name])
    args = commands.build_poster_args("ffmpeg", source, tmp_path / "p.jpg", duration_sec=10, height=360)
    with pytest.raises(FfmpegError, match="not on whitelist"):
        runner.run_ffmpeg(args, timeout_sec=60)
    assert not (tmp_path / "p.jpg").exists()


def test_a_videojob_source_over_the_upload_limit_fails_naming_the_limit(bed: WorkerBed) -> None:
    key = "uploads/long.mp4"
    bed.s3.upload_file(str(bed.sources.hd_20s), bed.club.bucket, key)
    assert bed.sources.hd_20s.stat().st_size > 1024 * 1024  # over a 1 MB limit
    job = enqueue(bed.redis_url, bed.club, str(uuid.uuid4()), {"key": key, "title": "long"})
    run_burst_worker(bed.env(UPLOAD_MAX_SIZE_MB="1"), bed.tmp_path / "worker.log")

    assert job.get_status(refresh=True) == JobStatus.FAILED
    meta = job.get_meta(refresh=True)
    assert meta["failure"] == "InvalidSource"
    assert "over the limit of 1 MB (UPLOAD_MAX_SIZE_MB)" in meta["error"], meta["error"]
