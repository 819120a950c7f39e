"""Deleting a Club honours its deletionPolicy, and a server that is gone never blocks the deletion."""

from __future__ import annotations

from typing import Any

import psycopg
from kubernetes import client as k8s

from club_devstack import tools
from club_devstack.stack import StackInfo
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds


def _role_exists(stack: StackInfo, role: str) -> bool:
    with psycopg.connect(stack.postgres.dsn()) as admin:
        return admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is not None


def _database_exists(stack: StackInfo, name: str) -> bool:
    with psycopg.connect(stack.postgres.dsn()) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def _bucket_exists(s3: Any, bucket: str) -> bool:
    return any(b["Name"] == bucket for b in s3.list_buckets()["Buckets"])


def _delete(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> None:
    custom.delete_namespaced_custom_object(clubs.GROUP, clubs.VERSION, namespace, clubs.PLURAL, name)


def test_retain_keeps_the_database_role_and_bucket(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
    s3: Any,
) -> None:
    clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": "Kept"}, "kept-fc"))
    status = clubs.wait_condition(custom, namespace, "kept-fc", "Ready", "True")["status"]
    _delete(custom, namespace, "kept-fc")
    clubs.wait_gone(custom, namespace, "kept-fc")
    assert _role_exists(stack, status["databaseRole"])
    assert _bucket_exists(s3, status["bucket"])
    clubs.wait_events(core, namespace, "kept-fc", "Retained")


def test_delete_drops_the_dedicated_database_role_and_bucket(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, namespace: str, stack: StackInfo, s3: Any
) -> None:
    spec = {"displayName": "Gone", "deletionPolicy": "Delete", "database": {"isolation": "dedicated"}}
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, "gone-fc"))
    status = clubs.wait_condition(custom, namespace, "gone-fc", "Ready", "True")["status"]
    assert _database_exists(stack, status["databaseName"])
    s3.put_object(Bucket=status["bucket"], Key="clubs/gone/video.mp4", Body=b"frames")
    _delete(custom, namespace, "gone-fc")
    clubs.wait_gone(custom, namespace, "gone-fc")
    assert not _database_exists(stack, status["databaseName"])
    assert not _role_exists(stack, status["databaseRole"])
    assert not _bucket_exists(s3, status["bucket"])


def test_delete_in_a_shared_database_removes_only_that_club(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, namespace: str, stack: StackInfo
) -> None:
    for name in ("leaving-fc", "staying-fc"):
        clubs.create_club(
            custom, namespace, crds.manifest("Club", {"displayName": name, "deletionPolicy": "Delete"}, name)
        )
    leaving = clubs.wait_condition(custom, namespace, "leaving-fc", "Ready", "True")["status"]
    staying = clubs.wait_condition(custom, namespace, "staying-fc", "Ready", "True")["status"]
    _delete(custom, namespace, "leaving-fc")
    clubs.wait_gone(custom, namespace, "leaving-fc")
    assert not _role_exists(stack, leaving["databaseRole"])
    with psycopg.connect(stack.postgres.dsn("clubs")) as admin:
        assert admin.execute(
            "SELECT count(*) FROM public.clubs WHERE club_id = %s", [leaving["tenantId"]]
        ).fetchone() == (0,)
        assert admin.execute(
            "SELECT count(*) FROM public.clubs WHERE club_id = %s", [staying["tenantId"]]
        ).fetchone() == (1,)
    assert _role_exists(stack, staying["databaseRole"])


def test_a_server_that_is_gone_never_blocks_deletion(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str
) -> None:
    closed = tools.free_port()
    core.create_namespaced_secret(
        namespace,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="vanished-pg"),
            string_data={"dsn": f"host=127.0.0.1 port={closed} user=postgres password=x dbname=postgres"},
        ),
    )
    spec = {
        "displayName": "Orphan",
        "deletionPolicy": "Delete",
        "database": {"serverSecretRef": {"name": "vanished-pg"}},
    }
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, "orphan-fc"))
    club = clubs.wait_condition(
        custom, namespace, "orphan-fc", "DatabaseReady", "False", reason="ServerUnavailable"
    )
    assert "unreachable" in clubs.condition(club, "DatabaseReady")["message"]  # type: ignore[index]
    _delete(custom, namespace, "orphan-fc")
    clubs.wait_gone(custom, namespace, "orphan-fc", timeout=club_operator.give_up_sec * 6)
    abandoned = clubs.wait_events(core, namespace, "orphan-fc", "CleanupAbandoned")
    assert abandoned[0].type == "Warning"
    assert "database" in abandoned[0].message
