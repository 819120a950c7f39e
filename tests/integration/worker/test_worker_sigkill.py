"""A worker killed with SIGKILL mid-transcode: RQ's abandoned-job handling re-runs the job on a new
worker, which completes it with no duplicate or partial object, and never while another execution
of the same video runs."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus

from club_runtime import contract
from club_runtime.media import hls
from club_runtime.worker.jobs import SERIALIZER, video
from tests.integration.worker.harness import FPS, Club, WorkerBed, start_worker
from tests.integration.worker.media_checks import download_tree, ffprobe, listing, video_stream

# Fast failure detection for the test: heartbeat every second, abandoned 2 s after a missed one,
# registries cleaned every second; retries after 1 s; a dead holder's lease frees after 10 s.
FAST = {
    "WORKER_JOB_MONITORING_INTERVAL_SEC": "1",
    "WORKER_HEARTBEAT_GRACE_SEC": "2",
    "WORKER_MAINTENANCE_INTERVAL_SEC": "1",
    "VIDEO_RETRY_INTERVALS_SEC": "[1, 1, 1, 1, 1, 1, 1, 1]",
    "VIDEO_LEASE_TTL_SEC": "10",
    "VIDEO_RENDITIONS": '["480p", "360p"]',
}


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def session_pids(sid: int) -> list[int]:
    """Every live process of a session: the worker, its work horse (own process group) and ffmpeg."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            # fields[0] is the state: a killed process whose parent is gone may linger as a zombie.
            if int(fields[3]) == sid and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def mid_transcode(job: Job) -> bool:
    meta = job.get_meta(refresh=True)
    return meta.get("step") == "transcode" and meta.get("progress", 0) >= 20


def check_outputs(s3: Any, club: Club, video_id: str, root: Path) -> None:
    prefix = contract.video_prefix(club.club_id, video_id)
    download_tree(s3, club.bucket, prefix, root)
    row = club.video(video_id)
    assert row["status"] == "ready"
    expected = {row["outputs"]["master"], row["outputs"]["poster"], *row["outputs"]["thumbnails"]}
    variants = hls.referenced_files((root / "hls/master.m3u8").read_text())
    assert variants == ["480p/index.m3u8", "360p/index.m3u8"]
    for variant in variants:
        expected.add(f"{prefix}/hls/{variant}")
        folder = variant.rsplit("/", 1)[0]
        segments = hls.referenced_files((root / "hls" / variant).read_text())
        expected |= {f"{prefix}/hls/{folder}/{s}" for s in segments}
        info = ffprobe(root / "hls" / variant)
        assert float(info["format"]["duration"]) == pytest.approx(20.0, abs=1 / FPS)
        assert video_stream(info)["height"] == int(folder[:-1])
    # Exactly the objects the playlists and outputs name: nothing stray, and each one whole
    # (ffprobe above read every segment).
    assert set(listing(s3, club.bucket, prefix)) == expected


def attempts_never_overlap(attempts: list[dict[str, Any]]) -> None:
    for earlier, later in itertools.pairwise(attempts):
        if "finished_at" in earlier:
            assert later["started_at"] >= earlier["finished_at"], attempts


def enqueue(redis_url: str, club: Club, video_id: str) -> Job:
    queue = Queue("video", connection=redis.Redis.from_url(redis_url), serializer=SERIALIZER)
    return queue.enqueue(
        video.FUNCTION, kwargs={"club_id": club.club_id, "video_id": video_id}, job_id=video.job_id(video_id)
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for pid in session_pids(proc.pid):
                os.kill(pid, signal.SIGKILL)


def test_sigkill_of_the_whole_worker_mid_transcode_then_a_new_worker_completes(bed: WorkerBed) -> None:
    video_id = bed.club.add_video(bed.s3, bed.sources.hd_20s)
    env = bed.env(**FAST)
    log = bed.tmp_path / "workers.log"
    job = enqueue(bed.redis_url, bed.club, video_id)
    # The first worker runs no scheduler: a killed scheduler's lock lingers 60 s (RQ's fixed TTL),
    # which would only delay the retry here. The second worker runs one, as deployments do.
    first = start_worker(env, "--no-scheduler", log=log)
    try:
        wait_for("the transcode to be under way", lambda: mid_transcode(job))
        # Like a pod's death: every process of the worker at once (worker, work horse, ffmpeg).
        for pid in session_pids(first.pid):
            os.kill(pid, signal.SIGKILL)
        first.wait(timeout=10)
        wait_for("every killed process to be gone", lambda: session_pids(first.pid) == [], timeout=10)
        assert bed.club.video(video_id)["status"] == "processing"
        hls_folder = contract.video_prefix(bed.club.club_id, video_id) + "/hls"
        assert listing(bed.s3, bed.club.bucket, hls_folder) == {}
    finally:
        stop(first)

    second = start_worker(env, log=log)
    try:
        wait_for("the job to finish", lambda: job.get_status(refresh=True) == JobStatus.FINISHED)
    finally:
        stop(second)
    attempts = job.get_meta(refresh=True)["attempts"]
    assert len(attempts) >= 2
    assert "finished_at" not in attempts[0]  # killed
    assert attempts[-1]["outcome"] == "succeeded"
    assert attempts[-1]["worker"] != attempts[0]["worker"]
    attempts_never_overlap(attempts)
    check_outputs(bed.s3, bed.club, video_id, bed.tmp_path / "out")


def test_worker_killed_but_its_horse_lives_on_never_runs_the_job_twice_at_once(bed: WorkerBed) -> None:
    """Only the worker's main process dies: its work horse keeps transcoding and heartbeats stop,
    so RQ re-runs the job elsewhere. The video's lease makes that run wait for the first to finish."""
    video_id = bed.club.add_video(bed.s3, bed.sources.hd_20s)
    # The horse is paused below until the re-run is under way, holding its lease meanwhile: a TTL
    # that outlasts the pause, and that the re-run's waits for the lease (one TTL per attempt,
    # eight attempts) give the horse ample time to finish in.
    env = bed.env(**{**FAST, "VIDEO_LEASE_TTL_SEC": "60"})
    log = bed.tmp_path / "workers.log"
    job = enqueue(bed.redis_url, bed.club, video_id)
    first = start_worker(env, "--no-scheduler", log=log)
    second = None
    try:
        wait_for("the transcode to be under way", lambda: mid_transcode(job))
        job.refresh()
        retries = job.retries_left
        assert retries, "the worker gives video jobs retries"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        orphans = session_pids(first.pid)
        assert orphans, "the work horse should outlive its worker"
        # Paused, the horse cannot finish before the new worker finds the job abandoned (a loaded
        # machine could otherwise let it, and then there is rightly nothing to re-run).
        for pid in orphans:
            os.kill(pid, signal.SIGSTOP)
        second = start_worker(env, log=log)

        def abandoned_and_retried() -> bool:
            job.refresh()
            return (job.retries_left or 0) < retries

        wait_for("the new worker to retry the abandoned job", abandoned_and_retried)
        for pid in session_pids(first.pid):
            os.kill(pid, signal.SIGCONT)
        wait_for("the orphaned horse to finish", lambda: session_pids(first.pid) == [])

        def retried_and_done() -> bool:
            attempts = job.get_meta(refresh=True).get("attempts", [])
            return len(attempts) >= 2 and attempts[-1].get("outcome") == "succeeded"

        wait_for("the re-run to finish", retried_and_done)
    finally:
        if second is not None:
            stop(second)
        for pid in session_pids(first.pid):
            os.kill(pid, signal.SIGKILL)
    attempts = job.get_meta(refresh=True)["attempts"]
    assert attempts[0]["outcome"] == "succeeded"  # the orphaned horse finished its own run
    attempts_never_overlap(attempts)
    result = job.return_value(refresh=True)
    assert result is not None
    assert result["uploaded_objects"] == 0  # the re-run found every output uploaded whole
    check_outputs(bed.s3, bed.club, video_id, bed.tmp_path / "out")


def test_a_job_abandoned_on_its_last_attempt_marks_the_video_failed(bed: WorkerBed) -> None:
    video_id = bed.club.add_video(bed.s3, bed.sources.hd_20s)
    env = bed.env(**{**FAST, "VIDEO_RETRY_INTERVALS_SEC": "[]"})  # no retries at all
    log = bed.tmp_path / "workers.log"
    job = enqueue(bed.redis_url, bed.club, video_id)
    first = start_worker(env, "--no-scheduler", log=log)
    try:
        wait_for("the transcode to be under way", lambda: mid_transcode(job))
        for pid in session_pids(first.pid):
            os.kill(pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop(first)
    second = start_worker(env, log=log)
    try:
        wait_for("the job to be failed", lambda: job.get_status(refresh=True) == JobStatus.FAILED)
        wait_for("the video to be failed", lambda: bed.club.video(video_id)["status"] == "failed", timeout=10)
    finally:
        stop(second)
    assert "worker processing this video died" in bed.club.video(video_id)["error"]
    assert len(job.get_meta(refresh=True)["attempts"]) == 1
