"""When a dependency is down the Club says so in its conditions and recovers by itself once the
dependency is back; a spec that the schema cannot catch fails permanently, with a clear Event, and
the operator keeps serving every other Club."""

from __future__ import annotations

import base64
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    warnings = clubs.wait_for(
        "a ServerUnavailable Event for DatabaseReady",
        lambda: [
            e
            for e in clubs.events(core, namespace, "fragile-fc")
            if e.reason == "ServerUnavailable" and e.message.startswith("DatabaseReady False: ")
        ],
    )
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


def _failed(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    """The Club once its phase is Failed: InvalidSpec, never retried in a loop."""
    club: dict[str, Any] = clubs.wait_for(
        f"{name} to fail",
        lambda: (
            (c := clubs.get_club(custom, namespace, name))
            and (c.get("status") or {}).get("phase") == "Failed"
            and c
        ),
    )
    return club


def _invalid_spec(core: k8s.CoreV1Api, club: dict[str, Any], *words: str) -> str:
    """Ready is False for InvalidSpec with a message holding `words`, and a Warning Event says so."""
    ready = clubs.condition(club, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    for word in words:
        assert word in ready["message"]
    meta = club["metadata"]
    (event, *_) = clubs.wait_events(core, meta["namespace"], meta["name"], "InvalidSpec")
    assert event.type == "Warning"
    message: str = ready["message"]
    return message


@pytest.mark.parametrize("port", ["99999", "abc"])
def test_a_dsn_whose_port_is_not_a_port_is_an_invalid_spec_naming_the_secret(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
    port: str,
) -> None:
    pg = stack.postgres
    dsn = f"postgresql://{pg.user}:{pg.password}@{pg.host}:{port}/postgres"
    _secret(core, namespace, "badport-pg", {"dsn": dsn})
    spec = {"displayName": "Bad Port", "database": {"serverSecretRef": {"name": "badport-pg"}}}
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, "badport-fc"))
    club = _failed(custom, namespace, "badport-fc")
    where = f"Secret {namespace}/badport-pg key 'dsn'"
    message = _invalid_spec(core, club, where, "port must be one number between 1 and 65535")
    assert pg.password not in message
    database = clubs.condition(club, "DatabaseReady")
    assert database is not None
    assert (database["status"], database["reason"]) == ("False", "InvalidSpec")
    assert club_operator.process.alive()


def test_a_secret_value_that_is_not_text_is_an_invalid_spec_naming_the_secret_and_key(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
) -> None:
    text = {"endpoint": stack.minio.endpoint, "accessKey": stack.minio.access_key}
    data = {k: base64.b64encode(v.encode()).decode() for k, v in text.items()}
    data["secretKey"] = base64.b64encode(b"\xff\xfe\x00binary").decode()  # not UTF-8
    core.create_namespaced_secret(
        namespace, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="binary-s3"), data=data)
    )
    spec = {"displayName": "Binary", "storage": {"serverSecretRef": {"name": "binary-s3"}}}
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, "binary-fc"))
    club = _failed(custom, namespace, "binary-fc")
    _invalid_spec(core, club, f"Secret {namespace}/binary-s3 key 'secretKey' is not UTF-8 text")
    assert club_operator.process.alive()

    # Fixed by a person: the Club recovers on its own (the resync timer reconciles it again).
    core.patch_namespaced_secret(
        "binary-s3", namespace, {"stringData": {"secretKey": stack.minio.secret_key}}
    )
    clubs.wait_condition(
        custom, namespace, "binary-fc", "Ready", "True", timeout=club_operator.resync_sec * 20
    )


def test_a_hand_edited_jwt_key_set_is_an_invalid_spec_and_is_never_regenerated(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str
) -> None:
    clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": "Edited"}, "edited-fc"))
    clubs.wait_condition(custom, namespace, "edited-fc", "Ready", "True")
    good = clubs.secret_data(core, namespace, "edited-fc-jwt")["keys"]
    broken = good[: len(good) // 2]  # cut in the middle, as a bad hand edit would
    core.patch_namespaced_secret("edited-fc-jwt", namespace, {"stringData": {"keys": broken}})

    club = clubs.wait_condition(
        custom,
        namespace,
        "edited-fc",
        "SecretsReady",
        "False",
        reason="InvalidSpec",
        timeout=club_operator.resync_sec * 20,
    )
    secrets_ready = clubs.condition(club, "SecretsReady")
    assert secrets_ready is not None
    assert (
        f"Secret {namespace}/edited-fc-jwt key 'keys' is not a usable JWT key set: not JSON"
        in (secrets_ready["message"])
    )
    assert "delete the Secret" in secrets_ready["message"]  # and how to fix it
    club = _failed(custom, namespace, "edited-fc")
    message = _invalid_spec(core, club, "edited-fc-jwt")
    assert broken not in message  # the key material is never echoed
    # Never regenerated behind the user's back: the broken value stays until a person fixes it.
    assert clubs.secret_data(core, namespace, "edited-fc-jwt")["keys"] == broken

    core.patch_namespaced_secret("edited-fc-jwt", namespace, {"stringData": {"keys": good}})
    clubs.wait_condition(
        custom, namespace, "edited-fc", "Ready", "True", timeout=club_operator.resync_sec * 20
    )
    assert club_operator.process.alive()


def test_a_spec_whose_objects_the_api_server_refuses_still_gets_a_status(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str
) -> None:
    # The schema lets any node selector key through; a Deployment's own validation does not.
    gpu = {"enabled": True, "nodeSelector": {"not a label key!": "x"}}
    spec = {"displayName": "Refused", "workers": {"video": {"gpu": gpu}}}
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, "refused-fc"))
    club = _failed(custom, namespace, "refused-fc")
    _invalid_spec(core, club, "the API server refused Deployment refused-fc-worker-video", "nodeSelector")
    workloads = clubs.condition(club, "WorkloadsReady")
    assert workloads is not None
    assert (workloads["status"], workloads["reason"]) == ("False", "InvalidSpec")
    assert club_operator.process.alive()
