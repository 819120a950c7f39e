"""Verify, retention and a Club's backup status, through the session's operator on the stack's real
PostgreSQL and MinIO.

The backups are real ones, taken with the runtime's backup engine (the code `club-runtime backup`
runs) as the club's own database role, into the backup bucket at the place the club's backup Job
writes to: `clubs/<tenant id>/<backup id>/`. Each then gets its ClubBackup; the operator runs its
Job (on kwok's nodes here, where a Job's pod completes without running anything; the real-node
tests run the Job's container), marks it Succeeded, and verify restores the real objects into a
scratch database. So what verify, retention and the status see is what they see in a cluster."""

from __future__ import annotations

import dataclasses
import socket
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError
from kubernetes import client as k8s
from pydantic import SecretStr

from club_devstack.stack import StackInfo
from club_operator import backup_objects, backup_verify
from club_operator.database import Server
from club_operator.s3_server import S3Server
from club_runtime import contract
from club_runtime.backup import snapshot, store
from club_runtime.db import migrate
from club_runtime.settings import Settings
from tests.integration.operator.conftest import RunningOperator
from tests.integration.runtime.conftest import provision
from tests.support import clubs, crds

BACKUP_BUCKET = "club-backups"  # the operator's default backup_bucket
PLURAL = "clubbackups"
PLAYERS = 25


def _club(name: str, **backup: Any) -> dict[str, Any]:
    return crds.manifest("Club", {"displayName": name.title(), "backup": backup}, name)


class ClubBackups:
    """One Club with data, and its backups taken for real then recorded as ClubBackups."""

    def __init__(
        self, stack: StackInfo, custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str, name: str
    ) -> None:
        self.stack, self.custom, self.core, self.namespace, self.name = stack, custom, core, namespace, name
        status = clubs.ready_status(custom, namespace, name)
        self.tenant = str(status["tenantId"])
        self.dsn = clubs.secret_data(core, namespace, f"{name}-database")["dsn"]
        with psycopg.connect(self.dsn) as conn:  # rows of its own, written as the club's role
            for n in range(PLAYERS):
                conn.execute(
                    "INSERT INTO players (first_name, last_name, position, preferred_foot, birth_date) "
                    "VALUES (%s, 'Backup', 'MF', 'right', '2001-01-01')",
                    [f"Player {n}"],
                )
        self.s3 = stack.minio.client()
        try:
            self.s3.create_bucket(Bucket=BACKUP_BUCKET)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    def settings(self) -> Settings:
        return Settings(
            club_id=self.tenant,
            database_url=SecretStr(self.dsn),
            backup_s3_endpoint_url=self.stack.minio.endpoint,
            backup_s3_bucket=BACKUP_BUCKET,
            backup_s3_prefix="clubs/",
            backup_s3_access_key_id=SecretStr(self.stack.minio.access_key),
            backup_s3_secret_access_key=SecretStr(self.stack.minio.secret_key),
        )

    def folder(self, backup_id: str) -> str:
        return contract.backup_folder("clubs/", self.tenant, backup_id)

    def take(self, backup_id: str) -> None:
        request = snapshot.BackupRequest(club_id=uuid.UUID(self.tenant), dsn=self.dsn, backup_id=backup_id)
        snapshot.take(request, store.connect(self.settings()))

    def corrupt(self, backup_id: str) -> None:
        """Overwrite one table's object with other bytes of the same size (a bit flipped in storage)."""
        key = contract.backup_table("clubs/", self.tenant, backup_id, "clubs")
        data = bytearray(self.s3.get_object(Bucket=BACKUP_BUCKET, Key=key)["Body"].read())
        data[len(data) // 2] ^= 0xFF
        self.s3.put_object(Bucket=BACKUP_BUCKET, Key=key, Body=bytes(data))

    def record(self, backup_id: str) -> None:
        body = crds.manifest("ClubBackup", {"clubRef": {"name": self.name}}, backup_id)
        self.custom.create_namespaced_custom_object(crds.GROUP, crds.VERSION, self.namespace, PLURAL, body)

    def get(self, backup_id: str) -> dict[str, Any] | None:
        return clubs.get_object(self.custom, self.namespace, PLURAL, backup_id)

    def wait_verified(self, backup_id: str, timeout: float = 120) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            status = (self.get(backup_id) or {}).get("status") or {}
            return status if "verified" in status else None

        found: dict[str, Any] = clubs.wait_for(f"ClubBackup {backup_id} verified", check, timeout)
        return found

    def names(self) -> set[str]:
        listed = self.custom.list_namespaced_custom_object(crds.GROUP, crds.VERSION, self.namespace, PLURAL)
        return {o["metadata"]["name"] for o in listed["items"] if not o["metadata"].get("deletionTimestamp")}

    def versions(self, backup_id: str) -> int:
        answer = self.s3.list_object_versions(Bucket=BACKUP_BUCKET, Prefix=self.folder(backup_id))
        return len(answer.get("Versions", [])) + len(answer.get("DeleteMarkers", []))

    def status(self) -> dict[str, Any]:
        found: dict[str, Any] = (clubs.get_club(self.custom, self.namespace, self.name) or {}).get(
            "status"
        ) or {}
        return found


@pytest.fixture
def make_backups(
    club_operator: RunningOperator,
    stack: StackInfo,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
) -> Callable[..., ClubBackups]:
    def make(name: str, **backup: Any) -> ClubBackups:
        clubs.create_club(custom, namespace, _club(name, **backup))
        return ClubBackups(stack, custom, core, namespace, name)

    return make


def test_verify_passes_a_good_backup_and_fails_a_corrupt_one(
    make_backups: Callable[..., ClubBackups], club_operator: RunningOperator, core: k8s.CoreV1Api
) -> None:
    club = make_backups("verified-fc", retention={"count": 5}, verify=True)

    club.take("good-1")
    club.record("good-1")
    good = club.wait_verified("good-1")
    assert good["phase"] == "Succeeded"
    assert good["verified"] is True, good
    assert good["restoreSeconds"] > 0
    assert "row-level security holds" in good["verifyMessage"]
    assert f"restored {PLAYERS + 1} rows" in good["verifyMessage"]  # the players and the club's row
    assert good["verifiedTime"]
    clubs.wait_events(core, club.namespace, "good-1", "Verified")
    status = clubs.wait_condition(
        club.custom, club.namespace, club.name, "LastBackupSucceeded", "True", reason="Verified"
    )["status"]
    assert status["lastSuccessfulBackup"] == "good-1"
    assert status["lastVerifiedRestore"]["backup"] == "good-1"
    assert status["lastVerifiedRestore"]["seconds"] == pytest.approx(good["restoreSeconds"], abs=0.01)
    assert status["firstRecoverabilityPoint"] == good["completionTime"]
    assert status["lastBackupTime"] == good["completionTime"]

    club.take("corrupt-2")
    club.corrupt("corrupt-2")
    club.record("corrupt-2")
    corrupt = club.wait_verified("corrupt-2")
    assert corrupt["verified"] is False, corrupt
    assert "clubs" in corrupt["verifyMessage"], corrupt["verifyMessage"]
    (event,) = clubs.wait_events(core, club.namespace, "corrupt-2", "VerifyFailed")
    assert event.type == "Warning"

    failed = clubs.wait_condition(
        club.custom, club.namespace, club.name, "LastBackupSucceeded", "False", reason="VerifyFailed"
    )
    cond = clubs.condition(failed, "LastBackupSucceeded")
    assert cond is not None
    assert "corrupt-2" in cond["message"]
    assert "the newest successful backup is good-1" in cond["message"]
    # The corrupt backup never counts as successful; the Club still points at the good one.
    assert failed["status"]["lastSuccessfulBackup"] == "good-1"
    warnings = clubs.wait_events(core, club.namespace, club.name, "VerifyFailed")
    assert all(e.type == "Warning" for e in warnings)
    # The Club stays Ready: a failed backup stops nothing that runs.
    assert clubs.condition(failed, "Ready")["status"] == "True"  # type: ignore[index]

    text = clubs.metrics_text(club_operator.metrics_port)
    labels = {"namespace": club.namespace, "club": club.name}
    success = clubs.metric_value(text, "club_backup_last_success_timestamp_seconds", **labels)
    verified = clubs.metric_value(text, "club_backup_last_verified_timestamp_seconds", **labels)
    assert success is not None
    assert verified is not None
    assert verified >= success
    # Size and duration come from the Job's report, which a pod on kwok's nodes does not write:
    # the real-node tests see them.


def test_retention_keeps_exactly_the_count_and_deletes_the_rest_with_their_objects(
    make_backups: Callable[..., ClubBackups], custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api
) -> None:
    club = make_backups("retained-fc", retention={"count": 2}, verify=True)

    def backup(backup_id: str, *, corrupt: bool = False) -> None:
        club.take(backup_id)
        if corrupt:
            club.corrupt(backup_id)
        club.record(backup_id)
        club.wait_verified(backup_id)

    backup("r-1")
    backup("r-2")
    assert club.names() == {"r-1", "r-2"}
    # A backup verify fails does not count: the two good ones stay, and so does the failure (it is
    # newer than every good one: it says why the latest backup is not usable).
    backup("r-3", corrupt=True)
    assert club.names() == {"r-1", "r-2", "r-3"}
    # A newer good one: now the two newest good ones are r-2 and r-4; r-1 and the failure go.
    backup("r-4")
    clubs.wait_for("retention to leave r-2 and r-4", lambda: club.names() == {"r-2", "r-4"}, timeout=60)
    backup("r-5")
    clubs.wait_for("retention to leave r-4 and r-5", lambda: club.names() == {"r-4", "r-5"}, timeout=60)

    # A deleted ClubBackup's objects are gone, every version (the corrupt one had two of a table).
    for gone in ("r-1", "r-2", "r-3"):
        clubs.wait_for(
            f"the objects of {gone} to be deleted", lambda g=gone: club.versions(g) == 0, timeout=60
        )
    assert club.versions("r-4") > 0
    assert club.versions("r-5") > 0
    status = clubs.wait_for(
        "the status to follow retention",
        lambda: (
            (s := club.status()).get("firstRecoverabilityPoint")
            == (club.get("r-4") or {})["status"]["completionTime"]
            and s
        ),
        timeout=60,
    )
    assert status["lastSuccessfulBackup"] == "r-5"

    # Deleting the Club keeps its backups' objects: a ClubBackup deleted after its Club leaves them.
    clubs.delete_club(custom, club.namespace, club.name)
    # (ClubBackups a person applied are not owned by the Club: they outlive it.)
    custom.delete_namespaced_custom_object(crds.GROUP, crds.VERSION, club.namespace, PLURAL, "r-4")
    clubs.wait_for("r-4 to be gone", lambda: club.get("r-4") is None, timeout=60)
    assert club.versions("r-4") > 0


def test_a_server_that_cannot_be_reached_is_no_verdict(stack: StackInfo, database: str, bucket: str) -> None:
    """Verify run directly (the operator's executor runs the same): a database or S3 server that
    cannot be reached gives no verdict (nothing is recorded, it is retried); a missing object is one."""
    migrate.migrate(database)
    club_id, _, dsn = provision(stack, database, "verify-faults")
    s3 = S3Server(stack.minio.endpoint, stack.minio.access_key, stack.minio.secret_key)
    settings = Settings(
        club_id=club_id,
        database_url=SecretStr(dsn),
        backup_s3_endpoint_url=stack.minio.endpoint,
        backup_s3_bucket=bucket,
        backup_s3_prefix="clubs/",
        backup_s3_access_key_id=SecretStr(stack.minio.access_key),
        backup_s3_secret_access_key=SecretStr(stack.minio.secret_key),
    )
    snapshot.take(
        snapshot.BackupRequest(club_id=uuid.UUID(club_id), dsn=dsn, backup_id="b-1"), store.connect(settings)
    )
    closed = _closed_port()

    def target(server: Server, storage: S3Server) -> backup_verify.Target:
        return backup_verify.Target(
            namespace="ns",
            name="b-1",
            uid=str(uuid.uuid4()),
            club_id=uuid.UUID(club_id),
            backup_id="b-1",
            database=server,
            storage=storage,
            where=backup_objects.locate(None, bucket=bucket, club_id=club_id, backup_id="b-1"),
            reference={},
        )

    good = backup_verify.run(target(Server(database, 2), s3))
    assert good.verified is True, good.message
    assert good.restore_seconds is not None

    down_db = backup_verify.run(target(Server(f"postgresql://postgres@127.0.0.1:{closed}/postgres", 2), s3))
    assert down_db.verified is None, down_db.message
    down_s3 = dataclasses.replace(s3, endpoint=f"http://127.0.0.1:{closed}", timeout_s=1.0)
    assert backup_verify.run(target(Server(database, 2), down_s3)).verified is None

    stack.minio.client().delete_object(
        Bucket=bucket, Key=contract.backup_table("clubs/", club_id, "b-1", "players")
    )
    missing = backup_verify.run(target(Server(database, 2), s3))
    assert missing.verified is False
    assert "players" in missing.message, missing.message


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
