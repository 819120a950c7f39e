"""When a dependency is down the Club says so in its conditions and recovers by itself once the
dependency is back; a spec that the schema cannot catch fails permanently, with a clear Event, and
the operator keeps serving every other Club."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client as k8s

from club_devstack import datastores, tools
from club_devstack.procs import Process
from club_devstack.stack import StackInfo
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds


@dataclass
class OwnPostgres:
    """A PostgreSQL server of this test's own, which it may stop and start again on the same port."""

    data: Path
    info: datastores.PostgresInfo
    logs: Path
    process: Process | None = None

    def start(self) -> None:
        self.process = datastores.run_postgres(self.data, self.info, self.logs)

    def stop(self) -> None:
        if self.process:
            self.process.stop()
            self.process = None


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    # Not under pytest's tmp_path: PostgreSQL runs as its own user, which must reach the folder.
    root = Path(tempfile.mkdtemp(prefix="club-test-pg-"))
    root.chmod(0o755)
    try:
        data, password = datastores.init_postgres(root)
        info = datastores.PostgresInfo("127.0.0.1", tools.free_port(), "postgres", password)
        server = OwnPostgres(data, info, root / "logs")
        server.start()
        yield server
        server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _secret(core: k8s.CoreV1Api, namespace: str, name: str, data: dict[str, str]) -> None:
    core.create_namespaced_secret(
        namespace, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=name), string_data=data)
    )


def test_postgres_down_turns_database_ready_false_and_recovers_without_restart(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    own_postgres: OwnPostgres,
) -> None:
    _secret(core, namespace, "own-pg", {"dsn": own_postgres.info.dsn()})
    spec = {"displayName": "Fragile", "database": {"serverSecretRef": {"name": "own-pg"}}}
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, "fragile-fc"))
    clubs.wait_condition(custom, namespace, "fragile-fc", "Ready", "True")
    operator_pid = club_operator.process.pid

    own_postgres.stop()
    club = clubs.wait_condition(
        custom,
        namespace,
        "fragile-fc",
        "DatabaseReady",
        "False",
        reason="ServerUnavailable",
        timeout=club_operator.resync_sec * 10,
    )
    assert "PostgreSQL server is unreachable" in clubs.condition(club, "DatabaseReady")["message"]  # type: ignore[index]
    assert clubs.condition(club, "Ready")["status"] == "False"  # type: ignore[index]
    assert club["status"]["phase"] == "Degraded"
    warnings = clubs.wait_events(core, namespace, "fragile-fc", "DatabaseReadyFalse")
    assert warnings[0].type == "Warning"

    own_postgres.start()
    club = clubs.wait_condition(
        custom, namespace, "fragile-fc", "Ready", "True", timeout=club_operator.resync_sec * 15
    )
    assert clubs.condition(club, "DatabaseReady")["status"] == "True"  # type: ignore[index]
    assert club["status"]["phase"] == "Ready"
    assert club_operator.process.alive()
    assert club_operator.process.pid == operator_pid


def test_an_unreachable_s3_server_recovers_once_the_secret_is_fixed(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
) -> None:
    good = {
        "endpoint": stack.minio.endpoint,
        "accessKey": stack.minio.access_key,
        "secretKey": stack.minio.secret_key,
    }
    _secret(core, namespace, "own-s3", good | {"endpoint": f"http://127.0.0.1:{tools.free_port()}"})
    spec = {"displayName": "Offline", "storage": {"serverSecretRef": {"name": "own-s3"}}}
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, "offline-fc"))
    club = clubs.wait_condition(
        custom, namespace, "offline-fc", "StorageReady", "False", reason="ServerUnavailable"
    )
    assert clubs.condition(club, "DatabaseReady")["status"] == "True"  # type: ignore[index]
    assert club["status"]["phase"] == "Provisioning"

    core.patch_namespaced_secret("own-s3", namespace, {"stringData": good})
    clubs.wait_condition(
        custom, namespace, "offline-fc", "Ready", "True", timeout=club_operator.resync_sec * 15
    )


def test_a_spec_the_schema_cannot_catch_fails_permanently_and_harms_no_other_club(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str
) -> None:
    _secret(core, namespace, "garbled-pg", {"dsn": "this is not = a 'connection string"})
    spec = {"displayName": "Garbled", "database": {"serverSecretRef": {"name": "garbled-pg"}}}
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, "garbled-fc"))
    club = clubs.wait_for(
        "the Club to fail",
        lambda: (
            (c := clubs.get_club(custom, namespace, "garbled-fc"))
            and (c.get("status") or {}).get("phase") == "Failed"
            and c
        ),
    )
    ready = clubs.condition(club, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "not a valid PostgreSQL connection string" in ready["message"]
    invalid = clubs.wait_events(core, namespace, "garbled-fc", "InvalidSpec")
    assert invalid[0].type == "Warning"
    assert "this is not" not in invalid[0].message  # the Secret's content is never echoed

    clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": "Healthy"}, "healthy-fc"))
    clubs.wait_condition(custom, namespace, "healthy-fc", "Ready", "True")
    assert club_operator.process.alive()
