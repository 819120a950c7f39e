"""VideoJobs end to end: the operator, the control plane, Redis, MinIO, PostgreSQL and a real worker
process running with the configuration the operator gave the Club's video Deployment."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.integration.operator.conftest import RunningOperator
from tests.integration.worker.harness import make_source
from tests.support import clubs, crds, videojobs
from tests.support.videojobs import ClubWorker


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    corrupt = folder / "corrupt.mp4"
    corrupt.write_bytes(b"not a video, just the kit list\n" * 300)
    return {
        "match": make_source(folder / "match.mp4", width=640, height=360, seconds=6),
        "long": make_source(folder / "long.mp4", width=1280, height=720, seconds=30),
        "tiny": make_source(folder / "tiny.mp4", width=320, height=240, seconds=1),
        "corrupt": corrupt,
    }


@pytest.fixture
def apps(kube_api: k8s.ApiClient) -> k8s.AppsV1Api:
    return k8s.AppsV1Api(kube_api)


class Club:
    """A Ready Club with its bucket, and workers started on demand."""

    def __init__(self, custom: k8s.CustomObjectsApi, apps: k8s.AppsV1Api, core: k8s.CoreV1Api, s3: Any,
                 namespace: str, name: str, logs: Path) -> None:  # fmt: skip
        self.custom, self.apps, self.core, self.s3 = custom, apps, core, s3
        self.namespace, self.name, self.logs = namespace, name, logs
        self.workers: list[ClubWorker] = []

    @property
    def bucket(self) -> str:
        club = clubs.get_club(self.custom, self.namespace, self.name)
        return str((club or {})["status"]["bucket"])

    def upload(self, source: Path, key: str) -> None:
        self.s3.upload_file(str(source), self.bucket, key)

    def keys(self, prefix: str) -> set[str]:
        found: set[str] = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found |= {o["Key"] for o in page.get("Contents", [])}
        return found

    def worker(self, *, burst: bool = False) -> ClubWorker:
        log = self.logs / f"worker-{len(self.workers)}.log"
        started = ClubWorker(self.apps, self.core, self.namespace, self.name, log, burst=burst)
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
    apps: k8s.AppsV1Api,
    core: k8s.CoreV1Api,
    s3: Any,
    namespace: str,
    club_operator: RunningOperator,
    tmp_path: Path,
) -> Iterator[Club]:
    manifest = crds.manifest("Club", {"displayName": "Video FC"}, "video-fc")
    clubs.create_club(custom, namespace, manifest)
    clubs.wait_condition(custom, namespace, "video-fc", "Ready", "True", timeout=120)
    made = Club(custom, apps, core, s3, namespace, "video-fc", tmp_path)
    yield made
    for worker in made.workers:
        worker.stop()


SMALL = {
    "renditions": ["360p", "240p"],
    "thumbnailIntervalSeconds": 2,
    "clips": [{"name": "goal", "start": 1, "end": 3}],
}


def test_a_videojob_goes_pending_queued_running_succeeded_and_its_outputs_are_in_the_bucket(
    club: Club, custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, sources: dict[str, Path]
) -> None:
    club.upload(sources["match"], "uploads/match.mp4")
    crds.patch(custom, club.namespace, "Club", club.name, {"spec": {"suspend": True}})
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
    prefix = f"clubs/{club.name}/videos/{uid}"
    outputs = now["outputs"]
    assert outputs["prefix"] == prefix
    assert [r["name"] for r in outputs["renditions"]] == ["360p", "240p"]
    assert [c["name"] for c in outputs["clips"]] == ["goal"]
    stored = club.keys(prefix)
    for key in [outputs["masterPlaylist"], *(r["playlist"] for r in outputs["renditions"]),
                *outputs["thumbnails"], outputs["clips"][0]["key"]]:  # fmt: skip
        assert key in stored, key
    assert len(outputs["thumbnails"]) >= 3  # one every 2 s of 6 s
    reasons = videojobs.events(core, club.namespace, "match")
    assert [r for r in reasons if r in ("Pending", "Queued", "Running", "Succeeded")] == [
        "Pending", "Queued", "Running", "Succeeded",
    ]  # fmt: skip
