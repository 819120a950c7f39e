"""Database password rotation through the operator (db_rotation.py, db_logins.py) on the stack's
real PostgreSQL: a Club that logs in as its role moves, on footballclub.io/rotate, to a login role
of its own (`<role>__a`) without downtime: Issued (the login has the new password and the Secret
names it), Propagated only once every API and worker pod runs the template carrying it (kwok's
pods, the rollout observed as on a real node) and no session of the previous login is left (a
session held open on it keeps the rotation Issued), Revoked after the overlap (the role's own login
NOLOGIN: refused, its sessions ended). The operator is killed and restarted half-way: one new
password in all. Sessions of the new login run as the Club's role, so row-level security holds as
before (the canary row invisible, the runtime's probe passing, nothing without the role). A second
rotation moves to `<role>__b` and retires `__a`. In a dedicated database the same, and deleting the
Club drops its logins. No password appears in Events, status, the operator's log or its metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from kubernetes import client as k8s

from club_devstack.stack import StackInfo
from club_operator import database, db_logins, naming
from club_operator.models import ClubSpec
from club_runtime.db import tenancy
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds, rotation

NAME = "db-rotating-fc"
CREDENTIAL = "databasePassword"
SMALL = {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
SPEC = {
    "displayName": "Database Rotating FC",
    "api": {"replicas": 2, "resources": SMALL},
    "workers": {"default": {"resources": SMALL}, "video": {"resources": SMALL}},
    "secrets": {"rotation": {"overlap": "20s"}},
}


@pytest.fixture
def admin(stack: StackInfo) -> Iterator[psycopg.Connection[Any]]:
    """The server's superuser, for reading roles and sessions."""
    with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
        yield conn


def _record(custom: k8s.CustomObjectsApi, namespace: str, name: str = NAME) -> dict[str, Any]:
    return rotation.record(custom, namespace, name, CREDENTIAL)


def _secret(core: k8s.CoreV1Api, namespace: str, seen: set[str], name: str = NAME) -> dict[str, str]:
    """The Club's database Secret; every password ever read is added to `seen`."""
    data = clubs.secret_data(core, namespace, f"{name}-database")
    seen.add(data["password"])
    return data


def _logs_in(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def _can_login(admin: psycopg.Connection[Any], role: str) -> bool | None:
    row = admin.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [role]).fetchone()
    return None if row is None else bool(row[0])


def _sessions(admin: psycopg.Connection[Any], role: str) -> int:
    row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [role]).fetchone()
    return int(row[0]) if row else 0


def _names(namespace: str, spec: dict[str, Any], name: str = NAME) -> naming.ClubNames:
    return naming.build_names(namespace, name, ClubSpec.model_validate(spec), "clubs")


def _pods_run_the_current_templates(
    apps: k8s.AppsV1Api, core: k8s.CoreV1Api, names: naming.ClubNames
) -> bool:
    return all(
        rotation.rolled_out(apps, core, names.namespace, name)
        for name in (names.api, names.worker("default"), names.worker("video"))
    )


def _check_isolation(dsn: str, role: str, login: str, tenant_id: str) -> None:
    """As the new login: the session runs as the Club's role and sees its own club only; without the
    role it holds nothing; it cannot take another club's role."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT current_user, session_user, public.current_club_id()::text").fetchone()
        assert row == (role, login, tenant_id)
        found = conn.execute(
            "SELECT count(*) FROM public.seasons WHERE club_id = %s", [database.CANARY_CLUB_ID]
        ).fetchone()
        assert found == (0,)
        assert tenancy.probe_isolation_on(conn)
        conn.execute("SET ROLE NONE")
        assert conn.execute("SELECT public.current_club_id()").fetchone() == (None,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM public.seasons")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET ROLE pg_read_all_data")
        conn.rollback()
        conn.execute("RESET ROLE")
        assert conn.execute("SELECT current_user").fetchone() == (role,)


def test_a_club_on_its_role_moves_to_its_own_logins_without_downtime_and_the_old_login_is_refused(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    kube_api: k8s.ApiClient,
    namespace: str,
    admin: psycopg.Connection[Any],
) -> None:
    apps = k8s.AppsV1Api(kube_api)
    names = _names(namespace, SPEC)
    role = names.role
    login_a, login_b = db_logins.login_names(role)
    clubs.create_club(custom, namespace, crds.manifest("Club", SPEC, NAME))
    clubs.wait_condition(custom, namespace, NAME, "Ready", "True", timeout=180)
    first = clubs.wait_for(
        "the first password to be Propagated",
        lambda: (r := _record(custom, namespace)).get("phase") == "Propagated" and r,
        timeout=60,
    )
    seen: set[str] = set()
    old = _secret(core, namespace, seen)
    old_id = db_logins.credential_id(role, old["password"])
    assert old["username"] == role  # a Club before its first rotation logs in as its role
    assert first["kid"] == old_id
    assert "previousKid" not in first
    assert _logs_in(old["dsn"])
    tenant_id = (clubs.get_club(custom, namespace, NAME) or {})["status"]["tenantId"]

    # A client of the old login (a pod that has not restarted) keeps its session open.
    lingering = psycopg.connect(old["dsn"], autocommit=True)
    rotation.request(custom, namespace, NAME, "drill-db")
    issued = clubs.wait_for(
        "the new login to be Issued",
        lambda: (
            (r := _record(custom, namespace)).get("phase") == "Issued"
            and r.get("previousKid") == old_id
            and r
        ),
        timeout=60,
    )
    new = _secret(core, namespace, seen)
    new_id = issued["kid"]
    assert new["username"] == login_a
    assert new_id == db_logins.credential_id(login_a, new["password"]) != old_id
    assert (issued["reason"], issued["request"]) == ("requested", "drill-db")
    assert _logs_in(old["dsn"])
    assert _logs_in(new["dsn"])

    # The operator stops in the middle and a new one takes over from the status record.
    club_operator.kill()
    club_operator.start()

    # Every pod rolls onto the new Secret; the old login's session still holds the rotation back.
    clubs.wait_for(
        "the pods to run the new Secret", lambda: _pods_run_the_current_templates(apps, core, names), 120
    )
    clubs.wait_reconciles(
        club_operator.metrics_port, namespace, NAME, 2, timeout=club_operator.resync_sec * 15
    )
    assert _record(custom, namespace)["phase"] == "Issued"
    assert _sessions(admin, role) == 1
    lingering.close()

    propagated = clubs.wait_for(
        "the new login to be Propagated",
        lambda: (
            (r := _record(custom, namespace)).get("phase") == "Propagated" and r.get("kid") == new_id and r
        ),
        timeout=120,
    )
    assert _secret(core, namespace, seen)["password"] == new["password"]
    assert _logs_in(old["dsn"])  # the overlap: not revoked yet
    _check_isolation(new["dsn"], role, login_a, tenant_id)
    # A session of the old login opened during the overlap is ended when the login is retired.
    late = psycopg.connect(old["dsn"], autocommit=True)

    _wait_revoked(custom, admin, namespace, propagated, old, late)
    assert _logs_in(new["dsn"])
    clubs.wait_condition(custom, namespace, NAME, "TenantIsolationVerified", "True", timeout=60)
    clubs.wait_condition(custom, namespace, NAME, "DatabaseReady", "True", timeout=60)

    _settled_writes_nothing(club_operator, custom, core, namespace)
    assert seen == {old["password"], new["password"]}
    third = _second_rotation_alternates(custom, core, admin, namespace, new, new_id, seen)
    _check_isolation(third["dsn"], role, login_b, tenant_id)
    _check_reports(club_operator, custom, core, namespace, (old_id, new_id), (old, new, third))


def _wait_revoked(
    custom: k8s.CustomObjectsApi,
    admin: psycopg.Connection[Any],
    namespace: str,
    propagated: dict[str, Any],
    old: dict[str, str],
    late: psycopg.Connection[Any],
) -> None:
    """Revoked, not before the overlap (20s) from Propagated: the old login refused, NOLOGIN, and
    its session `late` ended."""
    revoked = clubs.wait_for(
        "the old login to be Revoked",
        lambda: (r := _record(custom, namespace)).get("phase") == "Revoked" and r,
        timeout=120,
    )
    assert (revoked["kid"], revoked["previousKid"]) == (propagated["kid"], propagated["previousKid"])
    revoked_at = rotation.status_time(revoked["revokedTime"])
    assert revoked_at >= rotation.status_time(propagated["propagatedTime"]) + timedelta(seconds=20)
    assert not _logs_in(old["dsn"])
    assert _can_login(admin, old["username"]) is False
    assert _sessions(admin, old["username"]) == 0
    with pytest.raises(psycopg.OperationalError):
        late.execute("SELECT 1")
    late.close()


def _settled_writes_nothing(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str
) -> None:
    """A settled rotation writes nothing more: not the Club, not the Secret."""
    port = club_operator.metrics_port
    clubs.wait_reconciles(port, namespace, NAME, 1, timeout=club_operator.resync_sec * 10)
    marks = _marks(custom, core, namespace)
    clubs.wait_reconciles(port, namespace, NAME, 3, timeout=club_operator.resync_sec * 15)
    assert _marks(custom, core, namespace) == marks


def _second_rotation_alternates(
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    admin: psycopg.Connection[Any],
    namespace: str,
    before: dict[str, str],
    before_id: str,
    seen: set[str],
) -> dict[str, str]:
    """The next rotation moves to the other login and retires the one `before` named."""
    rotation.request(custom, namespace, NAME, "drill-db-2")
    second = clubs.wait_for(
        "the second rotation to be Revoked",
        lambda: (
            (r := _record(custom, namespace)).get("phase") == "Revoked"
            and r.get("previousKid") == before_id
            and r
        ),
        timeout=180,
    )
    found = _secret(core, namespace, seen)
    assert found["username"] != before["username"]
    assert found["username"] in db_logins.login_names(before["username"].removesuffix("__a"))
    assert second["kid"] == db_logins.credential_id(found["username"], found["password"])
    assert not _logs_in(before["dsn"])
    assert _can_login(admin, before["username"]) is False
    return found


def _backup_pod(core: k8s.CoreV1Api, names: naming.ClubNames) -> str:
    """A pod labelled as the Club's backup Job's pods are, Running on a kwok node; its name."""
    name = f"{names.name}-backup-before"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": names.labels("backup")},
        "spec": {"containers": [{"name": "backup", "image": "club-runtime:test"}]},
    }
    core.create_namespaced_pod(names.namespace, pod)
    clubs.wait_for(
        "the backup pod to run",
        lambda: core.read_namespaced_pod(name, names.namespace).status.phase == "Running",
        timeout=60,
    )
    return name


def _marks(custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str) -> tuple[str, str]:
    club = clubs.get_club(custom, namespace, NAME) or {}
    secret = core.read_namespaced_secret(f"{NAME}-database", namespace)
    return club["metadata"]["resourceVersion"], secret.metadata.resource_version


def _check_reports(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    ids: tuple[str, str],
    secrets: tuple[dict[str, str], ...],
) -> None:
    """An Event per step; no password or DSN anywhere but the Secret; the metric."""
    old_id, new_id = ids
    seen = rotation.reports(custom, core, namespace, NAME, club_operator.log, club_operator.metrics_port)
    assert any(f"issued database login {new_id}" in m for m in seen.messages)
    assert any(f"database login {old_id} revoked" in m for m in seen.messages)
    seen.leak_none_of(v for s in secrets for v in (s["password"], s["dsn"]))
    assert seen.last_rotation(namespace, NAME, CREDENTIAL)


DEDICATED = "db-rotating-dedicated-fc"
DEDICATED_SPEC = {
    **SPEC,
    "displayName": "Database Rotating Dedicated FC",
    "database": {"isolation": "dedicated"},
    "secrets": {"rotation": {"overlap": "1s"}},
    "deletionPolicy": "Delete",
}


def test_a_dedicated_club_rotates_the_same_way_waits_for_backup_pods_and_its_deletion_drops_its_logins(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    kube_api: k8s.ApiClient,
    namespace: str,
    admin: psycopg.Connection[Any],
) -> None:
    names = _names(namespace, DEDICATED_SPEC, DEDICATED)
    role = names.role
    login_a, login_b = db_logins.login_names(role)
    clubs.create_club(custom, namespace, crds.manifest("Club", DEDICATED_SPEC, DEDICATED))
    clubs.wait_condition(custom, namespace, DEDICATED, "Ready", "True", timeout=180)
    clubs.wait_for(
        "the first password to be Propagated",
        lambda: _record(custom, namespace, DEDICATED).get("phase") == "Propagated",
        timeout=60,
    )
    seen: set[str] = set()
    old = _secret(core, namespace, seen, DEDICATED)
    assert old["dbname"] == names.database != "clubs"
    # A backup Job's pod that started before the rotation read the old DATABASE_URL: it holds
    # the rotation at Issued while it runs, even once the Deployments have rolled.
    backup = _backup_pod(core, names)
    rotation.request(custom, namespace, DEDICATED, "drill-dedicated")
    clubs.wait_for(
        "the new login to be Issued",
        lambda: _record(custom, namespace, DEDICATED).get("phase") == "Issued",
        timeout=60,
    )
    apps = k8s.AppsV1Api(kube_api)
    clubs.wait_for(
        "the pods to run the new Secret", lambda: _pods_run_the_current_templates(apps, core, names), 120
    )
    clubs.wait_reconciles(
        club_operator.metrics_port, namespace, DEDICATED, 2, timeout=club_operator.resync_sec * 15
    )
    assert _record(custom, namespace, DEDICATED)["phase"] == "Issued"
    core.delete_namespaced_pod(backup, namespace, grace_period_seconds=0)
    revoked = clubs.wait_for(
        "the old login to be Revoked",
        lambda: (r := _record(custom, namespace, DEDICATED)).get("phase") == "Revoked" and r,
        timeout=180,
    )
    new = _secret(core, namespace, seen, DEDICATED)
    assert new["username"] == login_a
    assert revoked["kid"] == db_logins.credential_id(login_a, new["password"])
    assert not _logs_in(old["dsn"])
    assert _logs_in(new["dsn"])
    tenant_id = (clubs.get_club(custom, namespace, DEDICATED) or {})["status"]["tenantId"]
    _check_isolation(new["dsn"], role, login_a, tenant_id)
    owner = admin.execute(
        "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", [login_a]
    ).fetchone()
    assert owner is not None
    assert DEDICATED in str(owner[0])

    clubs.delete_club(custom, namespace, DEDICATED)
    clubs.wait_gone(custom, namespace, DEDICATED, timeout=120)
    for gone in (role, login_a, login_b):
        assert _can_login(admin, gone) is None, gone
