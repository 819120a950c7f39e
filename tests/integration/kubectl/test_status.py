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

# Refreshed by the operator's timer on a Ready Club: two reads a moment apart may differ in these.
MOVING = ("lastIsolationCheckTime",)


def _stable(status: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if k not in MOVING}


def test_status_json_is_the_clubs_status(
    plugin: Plugin, make_club: Callable[..., dict[str, Any]], custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    club = make_club()
    name = club["metadata"]["name"]
    result = plugin("status", name, "-n", namespace, "-o", "json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    now = clubs.get_club(custom, namespace, name)
    assert now is not None
    assert (shown["namespace"], shown["name"], shown["suspended"]) == (namespace, name, False)
    assert _stable(shown["status"]) == _stable(now["status"])
    assert shown["status"]["phase"] == "Ready"

    page = plugin("status", name, "-n", namespace)
    assert page.returncode == 0, page.stderr
    assert f"Club:        {namespace}/{name}  (Plugin FC)" in page.stdout
    assert "Phase:       Ready  Ready=True" in page.stdout
    assert f"Endpoint:    {now['status']['apiEndpoint']}" in page.stdout
    assert f"Bucket:      {now['status']['bucket']}" in page.stdout

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
