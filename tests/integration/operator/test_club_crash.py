"""Crash safety: the operator is SIGKILLed while it provisions 20 Clubs; a fresh one takes over and
every Club becomes Ready exactly once over: one role, one tenant mapping, one club row, one bucket
and one set of Secrets per Club, credentials that work, and nothing but healthy reasons in status.

The test kills the session's operator (the only one running) and starts its successor, which later
tests use too. The namespace is emptied while the successor runs, so that every Club's finalizer
completes and nothing is left on the servers.

The Clubs ask for tiny pods (one API replica, a few millicores) so that 20 of them fit on the
stack's two fake CPU nodes next to other tests' pods."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import psycopg
import pytest
from kubernetes import client as k8s

from club_devstack.stack import StackInfo
from club_operator import naming
from club_operator.conditions import Reason
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds

CLUBS = 20
SMALL = {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
SPEC = {
    "api": {"replicas": 1, "resources": SMALL},
    "workers": {"default": {"resources": SMALL}, "video": {"resources": SMALL}},
}
# Every reason a True condition may carry; anything else left in status is an error not cleared.
HEALTHY = {
    Reason.ALL_READY,
    Reason.GENERATED,
    Reason.PROVISIONED,
    Reason.PROBE_PASSED,
    Reason.AVAILABLE,
    # SecretsRotated: the first JWT key's record, Issued until the API has rolled out, then Propagated.
    Reason.ROTATION_ISSUED,
    Reason.ROTATION_PROPAGATED,
}
CONDITIONS = {
    "Ready",
    "SecretsReady",
    "DatabaseReady",
    "TenantIsolationVerified",
    "StorageReady",
    "WorkloadsReady",
    "SecretsRotated",
}


@pytest.fixture
def crash_namespace(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, namespace: str
) -> Iterator[str]:
    """The test's namespace; on the way out its Clubs are deleted with an operator running (started
    again if the test left none), so that their finalizers drop the roles and buckets."""
    yield namespace
    club_operator.ensure_running()
    custom.delete_collection_namespaced_custom_object(clubs.GROUP, clubs.VERSION, namespace, clubs.PLURAL)
    clubs.wait_for("the Clubs to be deleted", lambda: not _listed(custom, namespace), timeout=120)


def _listed(custom: k8s.CustomObjectsApi, namespace: str) -> list[dict[str, Any]]:
    listed = custom.list_namespaced_custom_object(clubs.GROUP, clubs.VERSION, namespace, clubs.PLURAL)
    items: list[dict[str, Any]] = listed["items"]
    return items


def _with_status(items: list[dict[str, Any]], type_: str | None = None) -> list[dict[str, Any]]:
    """Clubs with any condition (or, with `type_`, with that condition True)."""
    if type_ is None:
        return [c for c in items if (c.get("status") or {}).get("conditions")]
    return [c for c in items if (clubs.condition(c, type_) or {}).get("status") == "True"]


@pytest.mark.slow
def test_a_sigkilled_operator_leaves_nothing_a_restarted_one_cannot_finish(
    club_operator: RunningOperator,
    crash_namespace: str,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    stack: StackInfo,
    s3: Any,
) -> None:
    namespace = crash_namespace
    names = [f"club-{i:02d}" for i in range(CLUBS)]
    for name in names:
        clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": name, **SPEC}, name))

    # Kill while provisioning is in flight: some Clubs report conditions, not all are Ready.
    clubs.wait_for(
        "a few Clubs to report conditions", lambda: len(_with_status(_listed(custom, namespace))) >= 3
    )
    club_operator.kill()
    at_kill = _listed(custom, namespace)
    assert len(_with_status(at_kill, "Ready")) < CLUBS, "every Club was Ready before the kill"

    club_operator.start()
    clubs.wait_for(
        "every Club to be Ready after the restart",
        lambda: len(_with_status(_listed(custom, namespace), "Ready")) == CLUBS,
        timeout=150,
        interval=1,
    )
    listed = {c["metadata"]["name"]: c for c in _listed(custom, namespace)}
    assert sorted(listed) == names
    _assert_healthy_status(listed)
    _assert_one_tenant_each(stack, namespace, listed)
    _assert_one_bucket_each(s3, namespace, listed)
    _assert_one_set_of_secrets_each(core, namespace, listed)
    _assert_credentials_work(core, namespace, listed)


def _assert_healthy_status(listed: dict[str, dict[str, Any]]) -> None:
    for name, club in listed.items():
        status, generation = club["status"], club["metadata"]["generation"]
        assert status["phase"] == "Ready", name
        assert status["observedGeneration"] == generation, name
        assert status["tenantId"] == club["metadata"]["uid"], name
        assert {c["type"] for c in status["conditions"]} == CONDITIONS, name
        for cond in status["conditions"]:
            assert cond["status"] == "True", (name, cond)
            assert cond["reason"] in HEALTHY, (name, cond)
            assert cond["observedGeneration"] == generation, (name, cond)


def _assert_one_tenant_each(stack: StackInfo, namespace: str, listed: dict[str, dict[str, Any]]) -> None:
    """Exactly the Clubs' roles exist for this namespace, each mapped once to its own club row."""
    roles = {club["status"]["databaseRole"]: club["metadata"]["uid"] for club in listed.values()}
    assert len(roles) == len(listed)
    prefix = naming.pg_identifier("club", namespace) + "_"
    with psycopg.connect(stack.postgres.dsn()) as admin:
        found = admin.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)", [prefix])
        assert sorted(r for (r,) in found.fetchall()) == sorted(roles)
    with psycopg.connect(stack.postgres.dsn("clubs")) as admin:
        mapped = admin.execute(
            "SELECT role_name, club_id::text FROM public.tenant_roles WHERE starts_with(role_name, %s)",
            [prefix],
        ).fetchall()
        rows = admin.execute(
            "SELECT club_id::text FROM public.clubs WHERE starts_with(slug, %s)", [f"{namespace}/"]
        ).fetchall()
    assert sorted(mapped) == sorted(roles.items())
    assert sorted(r for (r,) in rows) == sorted(roles.values())


def _assert_one_bucket_each(s3: Any, namespace: str, listed: dict[str, dict[str, Any]]) -> None:
    prefix = naming.s3_name("club", namespace) + "-"
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(prefix)]
    assert sorted(buckets) == sorted(club["status"]["bucket"] for club in listed.values())


def _assert_one_set_of_secrets_each(
    core: k8s.CoreV1Api, namespace: str, listed: dict[str, dict[str, Any]]
) -> None:
    """Every Secret belongs to one Club, and every Club has the same set, with no extra copy."""
    owned: Counter[str] = Counter()
    suffixes: dict[str, set[str]] = {}
    for secret in core.list_namespaced_secret(namespace).items:
        (owner,) = secret.metadata.owner_references
        assert owner.uid == listed[owner.name]["metadata"]["uid"], secret.metadata.name
        owned[owner.name] += 1
        suffixes.setdefault(owner.name, set()).add(secret.metadata.name.removeprefix(f"{owner.name}-"))
    assert set(owned) == set(listed)
    first = next(iter(suffixes.values()))
    assert {"database", "storage", "jwt", "owner"} <= first
    assert all(s == first for s in suffixes.values()), suffixes
    assert all(n == len(first) for n in owned.values()), owned


def _assert_credentials_work(core: k8s.CoreV1Api, namespace: str, listed: dict[str, dict[str, Any]]) -> None:
    """A crash between storing a password and applying it must not leave credentials that fail."""
    for name, club in listed.items():
        db = clubs.secret_data(core, namespace, f"{name}-database")
        with psycopg.connect(db["dsn"], connect_timeout=5) as conn:
            row = conn.execute("SELECT public.current_club_id()::text").fetchone()
        assert row == (club["metadata"]["uid"],), name
        storage = clubs.secret_data(core, namespace, f"{name}-storage")
        own = boto3.client(
            "s3",
            endpoint_url=storage["endpoint"],
            aws_access_key_id=storage["accessKeyId"],
            aws_secret_access_key=storage["secretAccessKey"],
            region_name=storage["region"],
        )
        own.list_objects_v2(Bucket=club["status"]["bucket"], MaxKeys=1)
