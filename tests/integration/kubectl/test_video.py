"""`kubectl club video`: submit uploads a file into the Club's bucket with the Club's own S3
credentials and creates its VideoJob; watch follows it to Succeeded while one of the Club's video
worker pods (run here as a local process) encodes it; outputs lists what the job wrote."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.integration.kubectl.conftest import Plugin
from tests.integration.worker.harness import make_source
from tests.support import clubs, videojobs
from tests.support.videojobs import ClubWorker


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_source(tmp_path / "Cup final.mp4", width=320, height=240, seconds=1)


def test_submit_watch_and_outputs(
    plugin: Plugin,
    make_club: Callable[..., dict[str, Any]],
    custom: k8s.CustomObjectsApi,
    kube_api: k8s.ApiClient,
    s3: Any,
    namespace: str,
    source: Path,
    tmp_path: Path,
) -> None:
    club = make_club()
    name, bucket = club["metadata"]["name"], club["status"]["bucket"]
    submitted = plugin("video", "submit", name, str(source), "-n", namespace, "-o", "json")
    assert submitted.returncode == 0, submitted.stderr
    job = json.loads(submitted.stdout)
    key = job["spec"]["source"]["key"]
    assert key.startswith("uploads/")
    assert key.endswith("-Cup-final.mp4")
    assert job["spec"]["clubRef"] == {"name": name}
    stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert stored == source.read_bytes()

    job_name = job["metadata"]["name"]
    not_yet = plugin("video", "outputs", job_name, "-n", namespace)
    assert not_yet.returncode == 1
    assert "no outputs yet" in not_yet.stderr

    worker = ClubWorker(kube_api, namespace, name, tmp_path / "worker.log")
    try:
        watched = plugin("video", "watch", job_name, "-n", namespace, "--timeout", "300", timeout=360)
    finally:
        worker.stop()
    assert watched.returncode == 0, watched.stdout + watched.stderr + worker.tail()
    lines = watched.stdout.splitlines()
    assert lines[-2].startswith("Succeeded [##############################] 100%")
    status = videojobs.status(custom, namespace, job_name)
    assert lines[-1] == f"outputs: {status['outputs']['prefix']}"

    listed = plugin("video", "outputs", job_name, "-n", namespace)
    assert listed.returncode == 0, listed.stderr
    outputs = status["outputs"]
    assert f"s3://{bucket}/{outputs['masterPlaylist']}" in listed.stdout.splitlines()
    assert len(listed.stdout.splitlines()) == 1 + len(outputs.get("renditions") or []) + len(
        outputs.get("thumbnails") or []
    ) + len(outputs.get("clips") or [])
    as_json = plugin("video", "outputs", job_name, "-n", namespace, "-o", "json")
    assert json.loads(as_json.stdout) == outputs

    shown = json.loads(plugin("status", name, "-n", namespace, "-o", "json").stdout)
    assert shown["videoJobs"] == {"Succeeded": 1}
    assert clubs.get_club(custom, namespace, name) is not None
