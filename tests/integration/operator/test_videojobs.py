"""VideoJobs end to end: the operator, the control plane, Redis, MinIO, PostgreSQL and a real worker
process running with the configuration the operator gave the Club's video Deployment."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from kubernetes import client as k8s

from club_operator.redis_target import club_prefix
from club_runtime import contract
from tests.integration.operator.conftest import RunningOperator
from tests.integration.worker.harness import make_source
from tests.support import clubs, crds, videojobs
from tests.support.videojobs import ClubWorker


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    tiny = make_source(folder / "tiny.mp4", width=320, height=240, seconds=1)
    # An MP4 cut in half: it starts like a video (the upload checks pass), ffprobe cannot read it.
    corrupt = folder / "corrupt.mp4"
    corrupt.write_bytes(tiny.read_bytes()[: tiny.stat().st_size // 2])
    return {
        # Long enough to be seen Running at several progress points, even on an idle machine.
        "match": make_source(folder / "match.mp4", width=1280, height=720, seconds=45),
        "long": make_source(folder / "long.mp4", width=1280, height=720, seconds=30),
        "tiny": tiny,
        "corrupt": corrupt,
    }


class Club:
    """A Ready Club with its bucket, and workers started on demand."""

    def __init__(self, custom: k8s.CustomObjectsApi, api: k8s.ApiClient, s3: Any,
                 namespace: str, name: str, logs: Path) -> None:  # fmt: skip
        self.custom, self.api, self.core, self.s3 = custom, api, k8s.CoreV1Api(api), s3
        self.namespace, self.name, self.logs = namespace, name, logs
        self.workers: list[ClubWorker] = []

    @property
    def bucket(self) -> str:
        club = clubs.get_club(self.custom, self.namespace, self.name)
        return str((club or {})["status"]["bucket"])

    @property
    def uid(self) -> str:
        club = clubs.get_club(self.custom, self.namespace, self.name)
        return str((club or {})["metadata"]["uid"])

    def upload(self, source: Path, key: str) -> None:
        self.s3.upload_file(str(source), self.bucket, key)

    def keys(self, prefix: str) -> set[str]:
        found: set[str] = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found |= {o["Key"] for o in page.get("Contents", [])}
        return found

    def redis(self) -> redis.Redis:
        """The Redis the Club's workers use, logged in as the Club's own user from the Secret the
        operator made for them."""
        return redis.Redis.from_url(clubs.secret_data(self.core, self.namespace, f"{self.name}-redis")["url"])

    def key(self, *parts: str) -> str:
        """An RQ key of the Club's: under its prefix, the RQ_KEY_PREFIX of its pods."""
        return ":".join((club_prefix(self.namespace, self.name), *parts))

    def job_meta(self, uid: str) -> dict[str, Any]:
        raw = self.redis().hget(self.key("job", f"video-{uid}"), "meta")
        return dict(json.loads(raw)) if raw else {}

    def worker(self, *, burst: bool = False) -> ClubWorker:
        log = self.logs / f"worker-{len(self.workers)}.log"
        started = ClubWorker(self.api, self.namespace, self.name, log, burst=burst)
        self.workers.append(started)
        return started

    def submit(self, name: str, key: str, **spec: Any) -> dict[str, Any]:
        body = crds.manifest(
            "VideoJob", {"clubRef": {"name": self.name}, "source": {"key": key}, **spec}, name
        )
        return crds.create(self.custom, self.namespace, body)


@pytest.fixture
def club(
    custom: k8s.CustomObjectsApi,
    kube_api: k8s.ApiClient,
    s3: Any,
    namespace: str,
    club_operator: RunningOperator,
    tmp_path: Path,
) -> Iterator[Club]:
    manifest = crds.manifest("Club", {"displayName": "Video FC"}, "video-fc")
    clubs.create_club(custom, namespace, manifest)
    clubs.wait_condition(custom, namespace, "video-fc", "Ready", "True", timeout=120)
    made = Club(custom, kube_api, s3, namespace, "video-fc", tmp_path)
    yield made
    for worker in made.workers:
        worker.stop()


SMALL = {
    "renditions": ["360p", "240p"],
    "thumbnailIntervalSeconds": 2,
    "clips": [{"name": "goal", "start": 1, "end": 3}],
}


def test_a_videojob_goes_pending_queued_running_succeeded_and_its_outputs_are_in_the_bucket(
    club: Club,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    sources: dict[str, Path],
    club_operator: RunningOperator,
) -> None:
    club.upload(sources["match"], "uploads/match.mp4")
    crds.patch(custom, club.namespace, "Club", club.name, {"spec": {"suspend": True}})
    # Once the status says suspended, the operator has seen the suspension (its Club index is fed by
    # the same watch event before the handler runs); a job submitted earlier could rightly be queued.
    clubs.wait_condition(custom, club.namespace, club.name, "WorkloadsReady", "False", reason="Suspended")
    job = club.submit("match", "uploads/match.mp4", outputs=SMALL)
    pending = videojobs.wait_phase(custom, club.namespace, "match", "Pending")
    assert pending["reason"] == "ClubNotReady"
    assert "suspended" in pending["message"]

    crds.patch(custom, club.namespace, "Club", club.name, {"spec": {"suspend": False}})
    queued = videojobs.wait_phase(custom, club.namespace, "match", "Queued")
    assert queued["queuedTime"]

    club.worker()
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + 180
    while (now := videojobs.status(custom, club.namespace, "match")).get("phase") not in videojobs.TERMINAL:
        assert time.monotonic() < deadline, (now, club.workers[0].tail())
        if not seen or seen[-1] != (now.get("phase"), now.get("progress", 0)):
            seen.append((now.get("phase"), now.get("progress", 0)))
        time.sleep(0.2)
    assert now["phase"] == "Succeeded", (now, club.workers[0].tail())
    running = [p for phase, p in seen if phase == "Running"]
    assert len(running) >= 2, seen  # progress shows while it runs ...
    assert running == sorted(running), seen  # ... and only goes up
    assert (now["progress"], now["attempts"], now["usedGpu"]) == (100, 1, False)
    assert now["startTime"] >= now["queuedTime"]
    assert now["completionTime"] >= now["startTime"]

    uid = job["metadata"]["uid"]
    prefix = contract.video_prefix(club.uid, uid)
    outputs = now["outputs"]
    assert outputs["prefix"] == prefix
    assert [r["name"] for r in outputs["renditions"]] == ["360p", "240p"]
    assert [c["name"] for c in outputs["clips"]] == ["goal"]
    stored = club.keys(prefix)
    for key in [outputs["masterPlaylist"], *(r["playlist"] for r in outputs["renditions"]),
                *outputs["thumbnails"], outputs["clips"][0]["key"]]:  # fmt: skip
        assert key in stored, key
    assert len(outputs["thumbnails"]) >= 20  # one every 2 s of 45 s
    metrics = clubs.metrics_text(club_operator.metrics_port)
    assert 'club_operator_videojobs{phase="Succeeded"}' in metrics
    assert "club_operator_videojob_queue_seconds_count" in metrics
    assert 'club_operator_videojob_processing_seconds_count{phase="Succeeded"}' in metrics
    reasons = videojobs.events(core, club.namespace, "match")
    assert [r for r in reasons if r in ("Pending", "Queued", "Running", "Succeeded")] == [
        "Pending", "Queued", "Running", "Succeeded",
    ]  # fmt: skip


def test_a_videojob_for_a_missing_club_waits_and_then_fails_on_a_missing_source(
    custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str, club_operator: RunningOperator
) -> None:
    body = crds.manifest(
        "VideoJob", {"clubRef": {"name": "late-fc"}, "source": {"key": "uploads/x.mp4"}}, "early"
    )
    crds.create(custom, namespace, body)
    pending = videojobs.wait_phase(custom, namespace, "early", "Pending")
    assert pending["reason"] == "ClubNotFound"
    assert "late-fc" in pending["message"]

    clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": "Late"}, "late-fc"))
    failed = videojobs.wait_phase(custom, namespace, "early", "Failed", timeout=120)
    # Failed is final, and SourceNotFound needs the Club's bucket: the job waited for the Club, in
    # Pending and nothing else, rather than failing while it was missing.
    assert failed["reason"] == "SourceNotFound"
    assert "'uploads/x.mp4' does not exist" in failed["message"]
    assert failed["conditions"][0]["type"] == "Failed"
    reasons = videojobs.events(core, namespace, "early")
    phases = ("Pending", "Queued", "Running", "Succeeded", "Failed")
    assert [r for r in reasons if r in phases] == ["Pending", "Failed"]


def test_a_corrupt_source_fails_with_ffprobes_reason(
    club: Club, custom: k8s.CustomObjectsApi, sources: dict[str, Path]
) -> None:
    club.upload(sources["corrupt"], "uploads/corrupt.mp4")
    club.submit("corrupt", "uploads/corrupt.mp4")
    videojobs.wait_phase(custom, club.namespace, "corrupt", "Queued")
    worker = club.worker(burst=True)
    assert worker.wait(timeout=120) == 0, worker.tail()
    failed = videojobs.wait_phase(custom, club.namespace, "corrupt", "Failed", timeout=10)
    assert failed["reason"] == "InvalidSource"
    assert "ffprobe" in failed["message"]
    assert "moov atom not found" in failed["message"]
    assert failed["attempts"] == 1  # not retried: it would fail the same way


def test_a_gpu_only_job_waits_for_gpu_workers(
    club: Club, custom: k8s.CustomObjectsApi, sources: dict[str, Path]
) -> None:
    club.upload(sources["tiny"], "uploads/tiny.mp4")
    club.submit("needs-gpu", "uploads/tiny.mp4", gpu="required")
    pending = videojobs.wait_phase(custom, club.namespace, "needs-gpu", "Pending")
    assert pending["reason"] == "NoGpuWorkers"
    assert club.worker().queues == [f"{club.namespace}.{club.name}.video{s}" for s in (".high", "", ".low")]


def test_past_its_deadline_a_job_fails_and_its_ttl_deletes_it(
    club: Club, custom: k8s.CustomObjectsApi, sources: dict[str, Path]
) -> None:
    club.upload(sources["tiny"], "uploads/tiny.mp4")
    job = club.submit("slow", "uploads/tiny.mp4", deadlineSeconds=2, ttlSecondsAfterFinished=3)
    failed = videojobs.wait_phase(custom, club.namespace, "slow", "Failed", timeout=15)  # no worker runs
    assert failed["reason"] == "DeadlineExceeded"
    assert "deadlineSeconds" in failed["message"]
    assert club.redis().hget(club.key("job", f"video-{job['metadata']['uid']}"), "status") == b"canceled"
    clubs.wait_for(
        "the TTL to delete the VideoJob", lambda: videojobs.get(custom, club.namespace, "slow") is None, 20
    )
    assert not club.redis().exists(club.key("job", f"video-{job['metadata']['uid']}"))


def test_deleting_a_running_videojob_stops_it_and_removes_its_partial_outputs(
    club: Club, custom: k8s.CustomObjectsApi, sources: dict[str, Path]
) -> None:
    club.upload(sources["long"], "uploads/long.mp4")
    job = club.submit("cancel-me", "uploads/long.mp4", outputs={"renditions": ["720p", "480p", "360p"]})
    prefix = contract.video_prefix(club.uid, job["metadata"]["uid"])
    worker = club.worker()
    clubs.wait_for(
        "the job to be transcoding",
        lambda: videojobs.status(custom, club.namespace, "cancel-me").get("message") == "transcode",
        timeout=60,
        interval=0.2,
    )
    # What an earlier attempt of the job would have left (segments upload after the transcode).
    club.s3.put_object(Bucket=club.bucket, Key=f"{prefix}/hls/720p/seg_00000.ts", Body=b"partial")
    custom.delete_namespaced_custom_object(
        "footballclub.io", "v1alpha1", club.namespace, "videojobs", "cancel-me"
    )
    clubs.wait_for(
        "the VideoJob to be gone", lambda: videojobs.get(custom, club.namespace, "cancel-me") is None, 60
    )
    assert club.keys(prefix) == set()
    dsn = clubs.secret_data(club.core, club.namespace, f"{club.name}-database")["dsn"]

    def video_row() -> tuple[str, str] | None:
        with psycopg.connect(dsn) as conn:
            found = conn.execute(
                "SELECT status, error FROM videos WHERE id = %s", (job["metadata"]["uid"],)
            ).fetchone()
        return (str(found[0]), str(found[1] or "")) if found else None

    # The worker's stopped callback is the last thing it does for the job, after the work horse
    # (the only process that uploads) was killed: once it has run, nothing more can land.
    row = clubs.wait_for(
        "the worker to record the stop", lambda: (found := video_row()) and found[0] == "failed" and found
    )
    assert "stopped" in row[1]  # not left "processing" in the club's library
    assert club.keys(prefix) == set()  # nothing landed after the cleanup
    assert not club.redis().exists(club.key("job", f"video-{job['metadata']['uid']}"))
    assert worker.process.poll() is None, worker.tail()  # the worker lives on for other jobs


def test_high_priority_jobs_run_first(
    club: Club, custom: k8s.CustomObjectsApi, sources: dict[str, Path]
) -> None:
    club.upload(sources["tiny"], "uploads/tiny.mp4")
    tiny = {"renditions": ["240p"], "thumbnailIntervalSeconds": 0}
    uids = {}
    for name, priority in (("later", "low"), ("usual", "normal"), ("urgent", "high")):
        uids[name] = club.submit(name, "uploads/tiny.mp4", priority=priority, outputs=tiny)["metadata"]["uid"]
        videojobs.wait_phase(custom, club.namespace, name, "Queued")
    worker = club.worker(burst=True)
    assert worker.wait(timeout=120) == 0, worker.tail()
    started = {name: club.job_meta(uid)["attempts"][0]["started_at"] for name, uid in uids.items()}
    assert sorted(started, key=started.__getitem__) == ["urgent", "usual", "later"]


def test_the_status_converges_after_the_operator_is_killed_mid_job(
    club: Club, custom: k8s.CustomObjectsApi, sources: dict[str, Path], club_operator: RunningOperator
) -> None:
    club.upload(sources["long"], "uploads/long.mp4")
    job = club.submit("survivor", "uploads/long.mp4", outputs={"renditions": ["360p", "240p"]})
    uid = job["metadata"]["uid"]
    club.worker()
    videojobs.wait_phase(custom, club.namespace, "survivor", "Running", timeout=60)
    club_operator.kill()
    try:
        clubs.wait_for(
            "the job to finish while the operator is down",
            lambda: club.redis().hget(club.key("job", f"video-{uid}"), "status") == b"finished",
            timeout=180,
        )
        assert videojobs.status(custom, club.namespace, "survivor")["phase"] == "Running"  # stale
        # An update while the operator is down is picked up on restart like any other.
        crds.patch(custom, club.namespace, "VideoJob", "survivor", {"metadata": {"labels": {"seen": "yes"}}})
    finally:
        club_operator.ensure_running()
    done = videojobs.wait_phase(custom, club.namespace, "survivor", "Succeeded", timeout=60)
    assert (done["progress"], done["attempts"]) == (100, 1)
    assert [r["name"] for r in done["outputs"]["renditions"]] == ["360p", "240p"]
    conn = club.redis()
    assert conn.llen(club.key("queue", f"{club.namespace}.{club.name}.video")) == 0  # never enqueued twice
    assert len(club.job_meta(uid)["attempts"]) == 1


def test_fifty_videojobs_at_once_all_succeed_and_none_runs_twice(
    club: Club, custom: k8s.CustomObjectsApi, sources: dict[str, Path]
) -> None:
    club.upload(sources["tiny"], "uploads/tiny.mp4")
    tiny = {"renditions": ["240p"], "thumbnailIntervalSeconds": 0}
    names = [f"batch-{i:02d}" for i in range(50)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda n: club.submit(n, "uploads/tiny.mp4", outputs=tiny), names))
    club.worker()
    club.worker()

    def finished() -> list[str] | None:
        phases = [videojobs.status(custom, club.namespace, n).get("phase") for n in names]
        return None if any(p not in videojobs.TERMINAL for p in phases) else phases

    phases = clubs.wait_for("50 VideoJobs to finish", finished, timeout=600, interval=2)
    assert phases == ["Succeeded"] * 50
    attempts = [len(club.job_meta(m["metadata"]["uid"])["attempts"]) for m in made]
    assert attempts == [1] * 50
    statuses = [videojobs.status(custom, club.namespace, n) for n in names]
    assert [s["attempts"] for s in statuses] == [1] * 50
    assert not any("thumbnails" in s["outputs"] for s in statuses)  # thumbnailIntervalSeconds: 0
    conn = club.redis()
    registry = club.key("finished", f"{club.namespace}.{club.name}.video")
    assert conn.zcard(registry) == 50
