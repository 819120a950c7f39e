"""A worker told to stop (SIGTERM to its main process, as the kubelet does when a pod is scaled in
or drained) takes no new job, finishes the one it is transcoding, and exits by itself: scale-in
costs time, never work. The pod's termination grace period (the operator's worker builder) is sized
for this: the video timeout plus margin."""

from __future__ import annotations

import signal

from rq.job import JobStatus

from tests.integration.worker.harness import WorkerBed, start_worker
from tests.integration.worker.test_worker_sigkill import (
    FAST,
    check_outputs,
    enqueue,
    mid_transcode,
    stop,
    wait_for,
)


def test_sigterm_mid_transcode_finishes_the_job_and_takes_no_other(bed: WorkerBed) -> None:
    first_id = bed.club.add_video(bed.s3, bed.sources.hd_20s)
    second_id = bed.club.add_video(bed.s3, bed.sources.small_360p, title="second")
    env = bed.env(**FAST)
    log = bed.tmp_path / "worker.log"
    first = enqueue(bed.redis_url, bed.club, first_id)
    worker = start_worker(env, "--no-scheduler", log=log)
    try:
        wait_for("the transcode to be under way", lambda: mid_transcode(first))
        second = enqueue(bed.redis_url, bed.club, second_id)
        worker.send_signal(signal.SIGTERM)
        returncode = worker.wait(timeout=300)
    finally:
        stop(worker)
    assert returncode == 0, log.read_text()[-3000:]
    assert first.get_status(refresh=True) == JobStatus.FINISHED
    (attempt,) = first.get_meta(refresh=True)["attempts"]
    assert attempt["outcome"] == "succeeded"
    check_outputs(bed.s3, bed.club, first_id, bed.tmp_path / "out")
    # The job queued after the stop request was left for another worker.
    assert second.get_status(refresh=True) == JobStatus.QUEUED
    assert bed.club.video(second_id)["status"] == "uploaded"
