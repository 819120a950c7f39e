"""The backup alert end to end on a real Prometheus (tests/support/alerting.py), on the chart's rules
with their `for` cut short: a club's backups run as Jobs of `club-runtime backup` on the stack's real
node (as in test_club_backups.py), and fail the way they fail in a cluster: the club's PostgreSQL
server stops answering, the backup's container cannot read the club's rows and exits non-zero.

The newest backup failing raises ClubBackupFailed for that club (with its namespace, club and
severity; its summary names the club); the last success is still recent, so ClubBackupTooOld stays
silent. With the server back, the next backup succeeds and the alert resolves."""

from __future__ import annotations

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
from tests.support import alerting, clubs, crds

# A first run builds the images (minutes): more than pytest's default timeout.
pytestmark = pytest.mark.timeout(1800)

PLURAL = "clubbackups"
ALERT = "ClubBackupFailed"


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


@pytest.fixture
def club_postgres() -> Iterator[tuple[datastores.PostgresInfo, list[Process], Path]]:
    """The club's PostgreSQL server, of this test's own: it stops it and starts it again."""
    # Not under pytest's tmp_path: PostgreSQL runs as its own user, which must reach the folder.
    root = Path(tempfile.mkdtemp(prefix="club-test-backup-alert-"))
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


def _finished(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    crds.create(custom, namespace, crds.manifest("ClubBackup", {"clubRef": {"name": "alerted-fc"}}, name))

    def done() -> dict[str, Any] | None:
        status = (clubs.get_object(custom, namespace, PLURAL, name) or {}).get("status") or {}
        return status if status.get("phase") in ("Succeeded", "Failed") else None

    finished: dict[str, Any] = clubs.wait_for(f"ClubBackup {name} to finish", done, timeout=300)
    return finished


def test_a_failing_backup_fires_the_backup_alert_and_the_next_success_resolves_it(
    stack: StackInfo,
    backup_operator: RunningOperator,
    club_postgres: tuple[datastores.PostgresInfo, list[Process], Path],
    custom: k8s.CustomObjectsApi,
    kube_api: k8s.ApiClient,
    node_namespace: str,
    tmp_path: Path,
) -> None:
    namespace, name = node_namespace, "alerted-fc"
    server, running, data = club_postgres
    core = k8s.CoreV1Api(kube_api)
    core.create_namespaced_secret(
        namespace, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="own-pg"), string_data={"dsn": server.dsn()})
    )
    spec = {
        "displayName": "Alerted",
        "api": {"replicas": 1},
        "database": {"serverSecretRef": {"name": "own-pg"}},
        "backup": {"verify": False},
    }
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, name))
    clubs.ready_status(custom, namespace, name, timeout=300)
    assert _finished(custom, namespace, "before")["phase"] == "Succeeded"

    procs: list[Process] = []
    try:
        info = alerting.start(
            stack.kube.kubeconfig,
            backup_operator.metrics_port,
            tmp_path,
            procs,
            rules=alerting.hurried_rules(tmp_path / "rules"),
        )
        where = f'namespace="{namespace}", club="{name}"'
        clubs.wait_for(
            "the club's backup series scraped: scheduled, a success, the newest not failed",
            lambda: (
                alerting.value(info, f"club_backup_scheduled{{{where}}}") == 1
                and alerting.value(info, f"club_backup_last_success_timestamp_seconds{{{where}}}")
                and alerting.value(info, f"club_backup_newest_failed{{{where}}}") == 0
            ),
            timeout=60,
        )

        # The club's database stops answering: the backup's container cannot read the rows.
        running.pop().stop()
        failed = _finished(custom, namespace, "while-down")
        assert (failed["phase"], failed["reason"]) == ("Failed", "BackupFailed"), failed

        (fired,) = clubs.wait_for(
            f"{ALERT} firing for the club",
            lambda: [
                a
                for a in alerting.active(info, ALERT)
                if a["state"] == "firing" and a["labels"].get("namespace") == namespace
            ],
            timeout=120,
        )
        labels = fired["labels"]
        assert (labels["namespace"], labels["club"], labels["severity"]) == (namespace, name, "warning")
        assert f"{namespace}/{name}" in fired["annotations"]["summary"]
        assert fired["annotations"]["runbook_url"].endswith(f"/{ALERT}.md")
        # The last success is minutes old: the age alert has nothing to say.
        assert alerting.active(info, "ClubBackupTooOld") == []

        # The server back, the next backup succeeds, and the alert resolves.
        running.append(datastores.run_postgres(data, server, tmp_path / "logs"))
        assert _finished(custom, namespace, "after-outage")["phase"] == "Succeeded"
        clubs.wait_for(
            f"{ALERT} resolved once a backup succeeded",
            lambda: alerting.state(info, ALERT, where) is None,
            timeout=120,
        )
        assert alerting.value(info, f"club_backup_newest_failed{{{where}}}") == 0
    finally:
        for proc in reversed(procs):
            proc.stop()
