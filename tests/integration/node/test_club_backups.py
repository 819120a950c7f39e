"""ClubBackups on the stack's real node: each backup is a Job of `club-runtime backup` from the
runtime image in the stack's registry, reading the club's rows from PostgreSQL as the club's own role
and writing them to the backup bucket in MinIO with the club's backup writer.

- A ClubBackup created through the API (as `kubectl create` does) runs its Job on the real node and
  ends Succeeded with the rows, size and manifest its container reported; the manifest is in the
  backup bucket and says the same. `kubectl get clubbackups` shows the CRD's columns.
- The Club's `footballclub.io/backup-now` annotation makes exactly one ClubBackup, however often
  the Club is reconciled afterwards.
- The Club's CronJob runs on its schedule ("* * * * *" here): its first Job gets a ClubBackup with
  trigger Scheduled, which succeeds too.
- With the club's PostgreSQL stopped, a backup fails with the reason its container reported; with
  the server back, the next backup succeeds.

Each test has its own operator (on this folder's own stack, see conftest.py), as the other real-node
tests do."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from club_devstack import datastores, tools
from club_devstack.operator import RunningOperator, real_node_settings, start_operator
from club_devstack.procs import Process
from club_devstack.stack import StackInfo
from tests.support import clubs, crds

# A first run builds the images (minutes): more than pytest's default timeout.
pytestmark = pytest.mark.timeout(1800)

PLURAL = "clubbackups"
BACKUP_NOW = "footballclub.io/backup-now"
COLUMNS = ["Name", "Club", "Phase", "Verified", "Rows", "Size", "Age"]


@pytest.fixture
def backup_operator(
    stack: StackInfo, runtime_image: str, node_namespace: str, tmp_path: Path
) -> Iterator[RunningOperator]:
    running = start_operator(
        stack,
        tmp_path / "club-operator.log",
        namespaces=[node_namespace],
        resync_interval_sec="5",
        retry_delay_sec="1",
        connect_timeout_sec="2",
        **real_node_settings(stack, runtime_image),
    )
    yield running
    running.process.stop()


def _backup(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any] | None:
    return clubs.get_object(custom, namespace, PLURAL, name)


def _backups(custom: k8s.CustomObjectsApi, namespace: str) -> list[dict[str, Any]]:
    listed = custom.list_namespaced_custom_object(crds.GROUP, crds.VERSION, namespace, PLURAL)
    return list(listed["items"])


def _create_backup(custom: k8s.CustomObjectsApi, namespace: str, name: str, club: str) -> None:
    crds.create(custom, namespace, crds.manifest("ClubBackup", {"clubRef": {"name": club}}, name))


def _finished(
    custom: k8s.CustomObjectsApi, namespace: str, name: str, timeout: float = 300
) -> dict[str, Any]:
    """The ClubBackup's status once it is Succeeded or Failed."""

    def done() -> dict[str, Any] | None:
        status = (_backup(custom, namespace, name) or {}).get("status") or {}
        return status if status.get("phase") in ("Succeeded", "Failed") else None

    try:
        finished: dict[str, Any] = clubs.wait_for(f"ClubBackup {name} to finish", done, timeout)
    except AssertionError as exc:
        seen = (_backup(custom, namespace, name) or {}).get("status")
        raise AssertionError(f"{exc}; its status: {seen!r}") from None
    return finished


def _succeeded(
    custom: k8s.CustomObjectsApi, namespace: str, name: str, timeout: float = 300
) -> dict[str, Any]:
    status = _finished(custom, namespace, name, timeout)
    assert status["phase"] == "Succeeded", status
    return status


def _manifest(stack: StackInfo, location: str) -> dict[str, Any]:
    """The manifest a backup's status points at, read with the S3 server's admin credentials."""
    assert location.startswith("s3://"), location
    bucket, key = location.removeprefix("s3://").split("/", 1)
    found = stack.minio.client().get_object(Bucket=bucket, Key=key)
    manifest: dict[str, Any] = json.loads(found["Body"].read())
    return manifest


def _table(kube_api: k8s.ApiClient, namespace: str) -> dict[str, Any]:
    """What `kubectl get clubbackups` asks for: the API server's Table of them."""
    request = kube_api.param_serialize(
        "GET",
        f"/apis/{crds.GROUP}/{crds.VERSION}/namespaces/{namespace}/{PLURAL}",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        auth_settings=["BearerToken"],
    )
    response = kube_api.call_api(*request)
    response.read()
    table: dict[str, Any] = json.loads(response.data)
    return table


def _job_pods(core: k8s.CoreV1Api, namespace: str, job: str) -> list[k8s.V1Pod]:
    return list(core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items)


def test_manual_annotated_and_scheduled_backups_run_on_the_real_node(
    backup_operator: RunningOperator,
    stack: StackInfo,
    custom: k8s.CustomObjectsApi,
    kube_api: k8s.ApiClient,
    node_namespace: str,
) -> None:
    assert stack.node is not None
    namespace, name = node_namespace, "keeper-fc"
    core, batch = k8s.CoreV1Api(kube_api), k8s.BatchV1Api(kube_api)
    spec = {
        "displayName": "Keeper",
        "api": {"replicas": 1},
        "backup": {"schedule": "* * * * *", "verify": False},
    }
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, name))
    status = clubs.ready_status(custom, namespace, name, timeout=300)
    tenant = status["tenantId"]

    cron = batch.read_namespaced_cron_job(f"{name}-backup", namespace)
    assert (cron.spec.schedule, cron.spec.time_zone) == ("* * * * *", "Etc/UTC")
    assert cron.spec.concurrency_policy == "Forbid"

    # A ClubBackup applied by a person: its Job runs on the real node and reports what it wrote.
    _create_backup(custom, namespace, "by-hand", name)
    done = _succeeded(custom, namespace, "by-hand")
    assert done["jobName"] == "by-hand"
    assert done["backupId"] == "by-hand"
    assert done["rows"] > 0  # at least the owner account the API made at its start
    assert done["compressedBytes"] > 0
    manifest = _manifest(stack, done["manifest"])
    assert done["manifest"].endswith(f"/clubs/{tenant}/by-hand/manifest.json")
    assert (manifest["backup_id"], manifest["club_id"]) == ("by-hand", tenant)
    assert sum(t["rows"] for t in manifest["tables"]) == done["rows"]
    assert sum(t["compressed_bytes"] for t in manifest["tables"]) == done["compressedBytes"]
    assert manifest["schema_revision"] == done["schemaRevision"]
    (pod,) = _job_pods(core, namespace, "by-hand")
    assert pod.spec.node_name == stack.node.name
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0

    # The annotation: one ClubBackup for its value, however often the Club is reconciled.
    custom.patch_namespaced_custom_object(
        crds.GROUP,
        crds.VERSION,
        namespace,
        "clubs",
        name,
        {"metadata": {"annotations": {BACKUP_NOW: "pre-match"}}},
    )
    _succeeded(custom, namespace, f"{name}-pre-match")
    clubs.wait_for(
        "the backup-now value recorded",
        lambda: (
            (clubs.get_club(custom, namespace, name) or {}).get("status", {}).get("lastBackupRequest")
            == "pre-match"
        ),
    )
    clubs.wait_reconciles(backup_operator.metrics_port, namespace, name, 2, timeout=120)
    asked = [b for b in _backups(custom, namespace) if b["spec"]["trigger"] == "Annotation"]
    assert [b["metadata"]["name"] for b in asked] == [f"{name}-pre-match"]

    # The schedule: the CronJob's first Job gets a ClubBackup named after it.
    def scheduled() -> list[dict[str, Any]]:
        return [b for b in _backups(custom, namespace) if b["spec"]["trigger"] == "Scheduled"]

    first = clubs.wait_for("a scheduled ClubBackup", scheduled, timeout=180)[0]
    job_name = first["metadata"]["name"]
    job = batch.read_namespaced_job(job_name, namespace)
    assert [o.kind for o in job.metadata.owner_references] == ["CronJob"]
    assert _succeeded(custom, namespace, job_name)["backupId"] == job_name

    # `kubectl get clubbackups`: the CRD's columns, filled in from the status.
    table = _table(kube_api, namespace)
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == COLUMNS
    row = next(r for r in table["rows"] if r["object"]["metadata"]["name"] == "by-hand")
    assert row["cells"][:6] == ["by-hand", name, "Succeeded", None, done["rows"], done["compressedBytes"]]


@pytest.fixture
def own_postgres() -> Iterator[tuple[datastores.PostgresInfo, list[Process], Path]]:
    """A PostgreSQL server of this test's own, which it stops and starts again."""
    # Not under pytest's tmp_path: PostgreSQL runs as its own user, which must reach the folder.
    root = Path(tempfile.mkdtemp(prefix="club-test-backups-"))
    root.chmod(0o755)
    data, password = datastores.init_postgres(root)
    info = datastores.PostgresInfo(datastores.server_address(), tools.free_port(), "postgres", password)
    running = [datastores.run_postgres(data, info, root / "logs")]
    try:
        yield info, running, data
    finally:
        for proc in running:
            proc.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_a_backup_with_postgres_down_fails_with_its_reason_and_the_next_one_runs(
    backup_operator: RunningOperator,
    own_postgres: tuple[datastores.PostgresInfo, list[Process], Path],
    custom: k8s.CustomObjectsApi,
    kube_api: k8s.ApiClient,
    node_namespace: str,
    tmp_path: Path,
) -> None:
    namespace, name = node_namespace, "outage-fc"
    server, running, data = own_postgres
    core = k8s.CoreV1Api(kube_api)
    core.create_namespaced_secret(
        namespace, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="own-pg"), string_data={"dsn": server.dsn()})
    )
    spec = {
        "displayName": "Outage",
        "api": {"replicas": 1},
        "database": {"serverSecretRef": {"name": "own-pg"}},
        "backup": {"verify": False},
    }
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, name))
    clubs.ready_status(custom, namespace, name, timeout=300)

    running.pop().stop()
    _create_backup(custom, namespace, "while-down", name)
    failed = _finished(custom, namespace, "while-down")
    assert failed["phase"] == "Failed", failed
    assert failed["reason"] == "BackupFailed"
    assert failed["message"].startswith("reading the club's rows failed"), failed["message"]
    assert "manifest" not in failed
    events = clubs.wait_for(
        "a BackupFailed Event",
        lambda: [e for e in clubs.events(core, namespace, "while-down") if e.reason == "BackupFailed"],
    )
    assert [e.type for e in events] == ["Warning"]

    running.append(datastores.run_postgres(data, server, tmp_path / "logs"))
    _create_backup(custom, namespace, "after-outage", name)
    assert _succeeded(custom, namespace, "after-outage")["rows"] > 0
