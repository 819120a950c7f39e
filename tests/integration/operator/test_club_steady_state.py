"""Once a Club is provisioned, the resync timer keeps checking it but writes nothing while nothing
drifted, and repairs what did drift; the isolation probe is reported as a metric."""

from __future__ import annotations

import datetime
import json
import urllib.request
from typing import Any

import psycopg
from kubernetes import client as k8s
from psycopg import sql

from club_devstack.stack import StackInfo
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds


def _ready_club(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": name}, name))
    return clubs.wait_condition(custom, namespace, name, "Ready", "True")


def _unchanged_reconciles(port: int) -> float:
    return (
        clubs.metric_value(clubs.metrics_text(port), "club_operator_reconciles_total", outcome="unchanged")
        or 0
    )


def _write_marks(
    core: k8s.CoreV1Api, custom: k8s.CustomObjectsApi, stack: StackInfo, namespace: str, name: str, role: str
) -> dict[str, Any]:
    """Everything that a write would change: resourceVersions, and the xmin of the role's rows (an
    ALTER ROLE or a re-provisioning rewrites them; grants are not tracked here, since other Clubs
    in the same database legitimately grant to their own roles)."""
    club = clubs.get_club(custom, namespace, name) or {}
    marks: dict[str, Any] = {"club": club["metadata"]["resourceVersion"]}
    marks["events"] = sorted((e.reason, e.message, e.count) for e in clubs.events(core, namespace, name))
    for suffix in ("database", "storage", "jwt", "owner"):
        marks[suffix] = core.read_namespaced_secret(f"{name}-{suffix}", namespace).metadata.resource_version
    with psycopg.connect(stack.postgres.dsn()) as admin:
        marks["role"] = admin.execute(
            "SELECT xmin::text FROM pg_authid WHERE rolname = %s", [role]
        ).fetchone()
    with psycopg.connect(stack.postgres.dsn("clubs")) as admin:
        marks["mapping"] = admin.execute(
            "SELECT xmin::text FROM public.tenant_roles WHERE role_name = %s", [role]
        ).fetchone()
    return marks


def test_a_steady_state_resync_writes_nothing(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
) -> None:
    club = _ready_club(custom, namespace, "quiet-rovers")
    role = club["status"]["databaseRole"]
    port = club_operator.metrics_port
    # Let the creation's own follow-up (kopf's bookkeeping) settle: one whole resync after Ready.
    clubs.wait_reconciles(port, namespace, "quiet-rovers", 1, timeout=club_operator.resync_sec * 10)
    before = _write_marks(core, custom, stack, namespace, "quiet-rovers", role)
    unchanged = _unchanged_reconciles(port)
    clubs.wait_reconciles(port, namespace, "quiet-rovers", 3, timeout=club_operator.resync_sec * 15)
    assert _write_marks(core, custom, stack, namespace, "quiet-rovers", role) == before
    assert _unchanged_reconciles(port) >= unchanged + 3  # and the operator counted them unchanged


def test_drift_is_repaired_by_the_resync(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
    s3: Any,
) -> None:
    club = _ready_club(custom, namespace, "drifting-fc")
    role, bucket = club["status"]["databaseRole"], club["status"]["bucket"]
    dsn = clubs.secret_data(core, namespace, "drifting-fc-database")["dsn"]
    provisioning = {e.metadata.uid for e in clubs.events(core, namespace, "drifting-fc")}
    with psycopg.connect(stack.postgres.dsn(), autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER ROLE {} PASSWORD 'changed-by-hand'").format(sql.Identifier(role)))
    s3.delete_bucket_lifecycle(Bucket=bucket)

    def repaired() -> bool:
        try:
            with psycopg.connect(dsn, connect_timeout=2):
                pass
            s3.get_bucket_lifecycle_configuration(Bucket=bucket)
        except Exception:  # not repaired yet
            return False
        return True

    clubs.wait_for(
        "the role's password and the bucket lifecycle to be restored",
        repaired,
        timeout=club_operator.resync_sec * 10,
    )

    # One Event per reconcile says what it wrote: the repair's, after the provisioning's.
    def repair_messages() -> list[str]:
        events = clubs.events(core, namespace, "drifting-fc")
        return [e.message for e in events if e.metadata.uid not in provisioning and e.reason == "Provisioned"]

    clubs.wait_for(
        "the repair's Events",
        lambda: (
            any("provisioned role" in m for m in repair_messages())
            and any("lifecycle" in m for m in repair_messages())
        ),
    )
    messages = repair_messages()
    assert any(m.startswith(f"provisioned role {role}") for m in messages)
    assert any("lifecycle" in m for m in messages)


def test_the_isolation_probe_is_reported_as_a_metric(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    club = _ready_club(custom, namespace, "probed-united")
    text = clubs.metrics_text(club_operator.metrics_port)
    labels = {"namespace": namespace, "club": "probed-united"}
    assert clubs.metric_value(text, "club_operator_tenant_isolation_verified", **labels) == 1.0
    assert clubs.metric_value(text, "club_operator_club_ready", **labels) == 1.0
    assert (clubs.metric_value(text, "club_operator_isolation_probes_total", result="passed") or 0) >= 1
    probed = clubs.probe_time(club_operator.metrics_port, namespace, "probed-united")
    assert probed is not None
    created = datetime.datetime.fromisoformat(club["metadata"]["creationTimestamp"])
    assert probed >= created.timestamp()  # a probe of this Club, not a series left from another
    # Each resync probes again.
    clubs.wait_reconciles(club_operator.metrics_port, namespace, "probed-united", 1)
    again = clubs.probe_time(club_operator.metrics_port, namespace, "probed-united")
    assert again is not None
    assert again > probed


def test_the_operator_reports_its_own_health_and_reconcile_metrics(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    _ready_club(custom, namespace, "observed-fc")
    with urllib.request.urlopen(club_operator.liveness_url, timeout=5) as resp:  # noqa: S310 - http to loopback
        assert resp.status == 200
        assert json.loads(resp.read())["watch"] == "ok"

    def gauges() -> str | None:
        text = clubs.metrics_text(club_operator.metrics_port)
        ready = clubs.metric_value(text, "club_operator_clubs", condition="Ready", status="True")
        return text if ready and ready >= 1 else None

    text = clubs.wait_for("clubs by condition", gauges, timeout=30)
    assert clubs.metric_value(text, "club_operator_pending_reconciles") is not None
    count = clubs.metric_value(text, "club_operator_reconcile_duration_seconds_count")
    assert count is not None
    assert count >= 1
