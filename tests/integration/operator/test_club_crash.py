"""Crash safety: the operator is SIGKILLed while it provisions 20 Clubs; a fresh one takes over and
every Club becomes Ready exactly once over: one role, one tenant mapping, one club row, one bucket
and one set of Secrets per Club, credentials that work, and nothing but healthy reasons in status.

The test runs operator processes of its own (the killed one, then its successor), each watching
only the test's namespace. The session's `club_operator` watches every namespace except those
named `own-operator-*` (kopf's `!glob` scope), so it never reconciles these Clubs behind the test's
back, whichever tests ran before in the same session. The namespace is emptied while the successor
still runs, so that every Club's finalizer completes and nothing is left on the servers.

The Clubs ask for tiny pods (one API replica, a few millicores) so that 20 of them fit on the
stack's two fake CPU nodes next to other tests' pods."""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from kubernetes import client as k8s

from club_devstack.operator import RunningOperator, start_operator
from club_devstack.stack import StackInfo
from club_operator import naming
from club_operator.conditions import Reason
from tests.conftest import unique_name
from tests.integration.operator.conftest import OWN_OPERATOR_PREFIX
from tests.support import clubs, crds

CLUBS = 20
SMALL = {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
SPEC = {
    "api": {"replicas": 1, "resources": SMALL},
    "workers": {"default": {"resources": SMALL}, "video": {"resources": SMALL}},
}
# Every reason a True condition may carry; anything else left in status is an error not cleared.
HEALTHY = {Reason.ALL_READY, Reason.GENERATED, Reason.PROVISIONED, Reason.PROBE_PASSED, Reason.AVAILABLE}
CONDITIONS = {
    "Ready",
    "SecretsReady",
    "DatabaseReady",
    "TenantIsolationVerified",
    "StorageReady",
    "WorkloadsReady",
}


class OwnOperator:
    """The test's operator process for one namespace; restartable, and always one at most."""

    def __init__(self, stack: StackInfo, namespace: str, logs: Path) -> None:
        self.stack, self.namespace, self.logs = stack, namespace, logs
        self.current: RunningOperator | None = None
        self.starts = 0

    def start(self) -> RunningOperator:
        assert self.current is None or not self.current.process.alive()
        self.starts += 1
        self.current = start_operator(
            self.stack,
            self.logs / f"club-operator-{self.starts}.log",
            namespaces=[self.namespace],
            resync_interval_sec="30",
            retry_delay_sec="1",
            connect_timeout_sec="2",
        )
        return self.current

    def kill(self) -> None:
        """SIGKILL: no cleanup handler, no last patch, kopf's progress annotations left as they are."""
        assert self.current is not None
        os.kill(self.current.process.pid, signal.SIGKILL)
        self.current.process.stop()  # reaps it

    def stop(self) -> None:
        if self.current is not None:
            self.current.process.stop()


@pytest.fixture
def own_operator(
    stack: StackInfo, kube_api: k8s.ApiClient, tmp_path: Path
) -> Iterator[tuple[OwnOperator, str]]:
    """A namespace the session operator ignores, and the test's operator for it. On the way out the
    Clubs are deleted with an operator running (started again if the test left none), so that their
    finalizers drop the roles and buckets."""
    crds.install_crds(kube_api)
    core, custom = k8s.CoreV1Api(kube_api), k8s.CustomObjectsApi(kube_api)
    namespace = unique_name(OWN_OPERATOR_PREFIX.rstrip("-"))
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    seat = OwnOperator(stack, namespace, tmp_path)
    try:
        yield seat, namespace
    finally:
        try:
            if seat.current is None or not seat.current.process.alive():
                seat.start()
            custom.delete_collection_namespaced_custom_object(
                clubs.GROUP, clubs.VERSION, namespace, clubs.PLURAL
            )
            clubs.wait_for("the Clubs to be deleted", lambda: not _listed(custom, namespace), timeout=120)
        finally:
            seat.stop()
            core.delete_namespace(namespace, propagation_policy="Background")


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
    own_operator: tuple[OwnOperator, str],
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    stack: StackInfo,
    s3: Any,
) -> None:
    seat, namespace = own_operator
    seat.start()
    names = [f"club-{i:02d}" for i in range(CLUBS)]
    for name in names:
        clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": name, **SPEC}, name))

    # Kill while provisioning is in flight: some Clubs report conditions, not all are Ready.
    clubs.wait_for(
        "a few Clubs to report conditions", lambda: len(_with_status(_listed(custom, namespace))) >= 3
    )
    seat.kill()
    at_kill = _listed(custom, namespace)
    assert len(_with_status(at_kill, "Ready")) < CLUBS, "every Club was Ready before the kill"

    seat.start()
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
