"""The CRDs on the real API server: every sample is accepted and stored with the models' defaults,
fields fixed at creation stay fixed, and `kubectl explain`, `kubectl get` and `kubectl wait` work."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client as k8s

from club_devstack.stack import StackInfo
from club_operator import models, videojob_models
from tests.conftest import unique_name
from tests.support import crds

SPEC_MODELS: dict[str, type[models.ClubSpec] | type[videojob_models.VideoJobSpec]] = {
    "Club": models.ClubSpec,
    "VideoJob": videojob_models.VideoJobSpec,
}
MINIMAL_CLUB = {"displayName": "Riverside FC"}
MINIMAL_JOB = {"clubRef": {"name": "riverside-fc"}, "source": {"key": "uploads/match.mp4"}}


def _kubectl(stack: StackInfo, *args: str) -> str:
    out = subprocess.run(
        [str(stack.kubectl), "--kubeconfig", str(stack.kube.kubeconfig), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout


def _prune_empty(value: Any) -> Any:
    if isinstance(value, dict):
        pruned = {k: _prune_empty(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ({}, [])}
    return [_prune_empty(v) for v in value] if isinstance(value, list) else value


def test_install_is_idempotent_and_the_crds_are_established(kube_api: k8s.ApiClient) -> None:
    first = crds.install_crds(kube_api)
    assert crds.install_crds(kube_api, again=True) == first
    assert first == [
        "clubbackups.footballclub.io",
        "clubrestores.footballclub.io",
        "clubs.footballclub.io",
        "videojobs.footballclub.io",
    ]
    served = k8s.ApiextensionsV1Api(kube_api).read_custom_resource_definition("clubs.footballclub.io")
    assert served.spec.names.short_names == ["club"]


@pytest.mark.parametrize("path", crds.sample_files(), ids=lambda p: p.name)
def test_every_sample_is_accepted_and_stored_with_the_models_defaults(
    custom: k8s.CustomObjectsApi, namespace: str, path: Any
) -> None:
    manifest = crds.load_sample(path.name)
    dry = crds.create(custom, namespace, manifest, dry_run=True)
    assert dry["metadata"]["name"] == manifest["metadata"]["name"]
    stored = crds.create(custom, namespace, manifest)["spec"]
    # The API server filled in its defaults; the model, parsing the sample alone, agrees with it.
    parsed = SPEC_MODELS[manifest["kind"]].model_validate(manifest["spec"])
    assert _prune_empty(parsed.to_dict()) == _prune_empty(stored)
    assert SPEC_MODELS[manifest["kind"]].model_validate(stored) == parsed


def test_fields_fixed_at_creation_cannot_change(custom: k8s.CustomObjectsApi, namespace: str) -> None:
    spec = {**MINIMAL_CLUB, "storage": {"bucket": "fixed-bucket"}}
    name = crds.create(custom, namespace, crds.manifest("Club", spec, unique_name("club")))["metadata"][
        "name"
    ]

    def change(spec: dict[str, Any]) -> str:
        return crds.rejection(lambda: crds.patch(custom, namespace, "Club", name, {"spec": spec}))

    message = change({"database": {"isolation": "dedicated"}})
    assert "spec.database.isolation:" in message
    assert "isolation cannot change after creation" in message
    assert "spec.storage.bucket:" in change({"storage": {"bucket": "another-bucket"}})
    assert "bucket cannot be added, changed or removed" in change({"storage": {"bucket": None}})
    assert "spec.database.sharedDatabaseName:" in change({"database": {"sharedDatabaseName": "pool"}})

    # Everything else may change.
    changed = crds.patch(
        custom, namespace, "Club", name, {"spec": {"displayName": "Renamed", "suspend": True}}
    )
    assert changed["spec"]["database"]["isolation"] == "shared"
    assert changed["metadata"]["generation"] == 2

    job = crds.create(custom, namespace, crds.manifest("VideoJob", MINIMAL_JOB, unique_name("vj")))
    message = crds.rejection(
        lambda: crds.patch(
            custom, namespace, "VideoJob", job["metadata"]["name"], {"spec": {"priority": "high"}}
        )
    )
    assert "spec: Invalid value" in message
    assert "spec cannot change after creation" in message


def _ready_status(generation: int) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Provisioned",
        "message": "",
        "lastTransitionTime": now,
        "observedGeneration": generation,
    }
    return {
        "status": {
            "phase": "Ready",
            "observedGeneration": generation,
            "conditions": [ready],
            "lastBackupTime": now,
        }
    }


def _table(text: str, columns: list[str]) -> dict[str, dict[str, str]]:
    """`kubectl get` output as {name: {column: cell}}; cells may be empty, so slice by header offsets."""
    header, *rows = text.splitlines()
    starts: list[int] = []
    for column in columns:
        starts.append(header.index(column, starts[-1] if starts else 0))
    assert header.split() == " ".join(columns).split(), header
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    table = {}
    for row in rows:
        cells = [row[a:b].strip() for a, b in bounds]
        table[cells[0]] = dict(zip(columns, cells, strict=True))
    return table


def test_status_subresource_printer_columns_and_kubectl_wait(
    stack: StackInfo, custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    name = crds.create(custom, namespace, crds.load_sample("club-dedicated.yaml"))["metadata"]["name"]
    crds.create(custom, namespace, crds.load_sample("club-minimal.yaml"))

    # Status is written through the subresource only, and its schema is enforced there too.
    ignored = crds.patch(custom, namespace, "Club", name, {"status": {"phase": "Ready"}})
    assert "status" not in ignored
    message = crds.rejection(
        lambda: crds.patch(custom, namespace, "Club", name, {"status": {"phase": "Happy"}}, status=True)
    )
    assert "status.phase:" in message
    crds.patch(custom, namespace, "Club", name, _ready_status(1), status=True)

    waited = _kubectl(
        stack, "wait", "-n", namespace, "--for=condition=Ready", f"club/{name}", "--timeout=30s"
    )
    assert "condition met" in waited

    columns = ["NAME", "PHASE", "READY", "ISOLATION", "LAST BACKUP", "AGE"]
    clubs = _table(_kubectl(stack, "get", "clubs", "-n", namespace), columns)
    assert clubs[name]["PHASE"] == "Ready"
    assert clubs[name]["READY"] == "True"
    assert clubs[name]["ISOLATION"] == "dedicated"
    assert clubs[name]["LAST BACKUP"] not in ("", "<none>")
    assert clubs["riverside-fc"]["ISOLATION"] == "shared"
    assert "Northgate United" in _kubectl(stack, "get", "club", name, "-n", namespace, "-o", "wide")

    crds.create(custom, namespace, crds.load_sample("videojob.yaml"))
    jobs = _table(_kubectl(stack, "get", "vj", "-n", namespace), ["NAME", "CLUB", "PHASE", "PROGRESS", "AGE"])
    assert jobs["riverside-fc-match-2024-05-12"]["CLUB"] == "riverside-fc"


def _explain(stack: StackInfo, field: str) -> str:
    """`kubectl explain`, retried while the API server publishes the new CRDs' OpenAPI."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return " ".join(_kubectl(stack, "explain", field).split())
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_kubectl_explain_describes_the_fields(stack: StackInfo, custom: k8s.CustomObjectsApi) -> None:
    database = _explain(stack, "club.spec.database")
    assert "The club's PostgreSQL tenant." in database
    assert "shared puts the club in a pooled database with other clubs" in database
    assert "serverSecretRef" in database
    assert "A Secret in the club's namespace whose key holds an admin DSN" in database
    assert "at least 1 when enabled" in _explain(stack, "club.spec.workers.video.gpu.count")
    assert "HLS ladder renditions to encode" in _explain(stack, "videojob.spec.outputs")


def test_kubectl_explain_says_how_to_take_back_what_retain_kept(
    stack: StackInfo, custom: k8s.CustomObjectsApi
) -> None:
    adopt = _explain(stack, "club.spec.adopt")
    assert "deleted with deletionPolicy Retain" in adopt
    assert "never another Club's" in adopt
    assert "Take back the kept bucket with the objects in it." in _explain(stack, "club.spec.adopt.bucket")
    assert "CONNECTION LIMIT" in _explain(stack, "club.spec.database.limits.connectionLimit")
