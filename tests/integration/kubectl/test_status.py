"""`kubectl club status` against Clubs the operator made Ready: the page, the table, and -o json
matching the Club's status as the API server has it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s

from club_devstack.stack import StackInfo
from tests.integration.kubectl.conftest import Plugin
from tests.support import clubs, crds


def _status(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    found = clubs.get_club(custom, namespace, name)
    assert found is not None
    return dict(found["status"])


def test_status_json_is_the_clubs_status(
    plugin: Plugin, make_club: Callable[..., dict[str, Any]], custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    club = make_club()
    name = club["metadata"]["name"]

    def unchanged_around_the_plugin() -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The plugin's document and the Club's status, when the status read before the plugin ran
        is the one read after it (the operator still writes status for a while after Ready)."""
        before = _status(custom, namespace, name)
        result = plugin("status", name, "-n", namespace, "-o", "json")
        assert result.returncode == 0, result.stderr
        after = _status(custom, namespace, name)
        return (json.loads(result.stdout), after) if before == after else None

    shown, now = clubs.wait_for("a status that holds still across one run", unchanged_around_the_plugin)
    assert (shown["namespace"], shown["name"], shown["suspended"]) == (namespace, name, False)
    assert shown["status"] == now
    assert shown["status"]["phase"] == "Ready"

    page = plugin("status", name, "-n", namespace)
    assert page.returncode == 0, page.stderr
    assert f"Club:        {namespace}/{name}  (Plugin FC)" in page.stdout
    assert "Phase:       Ready  Ready=True" in page.stdout
    assert f"Endpoint:    {now['apiEndpoint']}" in page.stdout
    assert f"Bucket:      {now['bucket']}" in page.stdout

    table = plugin("status", "-A", "-o", "wide")
    assert table.returncode == 0, table.stderr
    (row,) = [line for line in table.stdout.splitlines() if line.split()[:2] == [namespace, name]]
    assert row.split()[2:5] == ["Ready", "True", "no"]


def test_kubectl_completes_the_plugins_verbs_and_club_names(
    plugin: Plugin, stack: StackInfo, custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    """kubectl (1.26+) asks `kubectl_complete-club` (on PATH beside `kubectl-club`) what may follow."""
    clubs.create_club(
        custom, namespace, crds.manifest("Club", {"displayName": "Completed FC"}, "completed-fc")
    )

    def complete(*words: str) -> list[str]:
        done = subprocess.run(
            [str(stack.kubectl), "__complete", "club", *words],
            env=plugin.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout.splitlines()

    assert complete("back")[:2] == ["backup", "backups"]
    assert "completed-fc" in complete("status", "-n", namespace, "")
    assert complete("logs", "x", "--component", "")[:3] == ["api", "worker-default", "worker-video"]
