"""`kubectl club`'s mutating commands against Clubs the operator made Ready: each writes one
annotation, spec.suspend or one small object, and the operator takes it up (a backup Job run and
recorded, a restore judged, a clone bootstrapping, a rotation request handled, the Club suspended
and resumed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s

from tests.conftest import unique_name
from tests.integration.kubectl.conftest import Plugin
from tests.support import clubs


def _object(custom: k8s.CustomObjectsApi, namespace: str, plural: str, name: str) -> dict[str, Any]:
    found = clubs.get_object(custom, namespace, plural, name)
    assert found is not None, f"{plural}/{name} does not exist"
    return found


def test_backup_backups_restore_and_clone(
    plugin: Plugin, make_club: Callable[..., dict[str, Any]], custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    name = make_club()["metadata"]["name"]
    made = plugin("backup", name, "-n", namespace, "--wait", "--timeout", "120")
    assert made.returncode == 0, made.stdout + made.stderr
    backup = made.stdout.split()[0].removeprefix("clubbackup.footballclub.io/")
    assert made.stdout.splitlines()[-1].startswith(f"clubbackup.footballclub.io/{backup} Succeeded")
    record = _object(custom, namespace, "clubbackups", backup)
    assert record["spec"] == {"clubRef": {"name": name}, "trigger": "Manual"}
    assert record["status"]["phase"] == "Succeeded"

    listed = plugin("backups", name, "-n", namespace, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    (row,) = [r for r in json.loads(listed.stdout)["items"] if r["name"] == backup]
    assert (row["phase"], row["trigger"]) == ("Succeeded", "Manual")

    # The Job of a simulated node wrote no backup, so verify fails it and the operator refuses to
    # restore from it: --wait ends with the ClubRestore Failed, its reason, and exit status 1.
    restored = plugin("restore", name, "-n", namespace, "--backup", backup, "--wait", "--timeout", "120")
    assert restored.returncode == 1, restored.stdout + restored.stderr
    restore = restored.stdout.split()[0].removeprefix("clubrestore.footballclub.io/")
    found = _object(custom, namespace, "clubrestores", restore)
    assert found["spec"] == {"clubRef": {"name": name}, "backupRef": {"name": backup}}
    assert found["status"]["phase"] == "Failed"
    assert f"Failed ({found['status']['reason']}: " in restored.stdout.splitlines()[-1]

    copy = unique_name("copy")
    cloned = plugin("clone", name, copy, "-n", namespace, "--backup", backup)
    assert cloned.returncode == 0, cloned.stderr
    try:
        spec = _object(custom, namespace, "clubs", copy)["spec"]
        assert spec["bootstrap"] == {"fromBackup": {"clubName": name, "backupName": backup}}
        assert spec["displayName"] == "Plugin FC (clone)"
    finally:
        clubs.delete_club(custom, namespace, copy)

    other = plugin("restore", name, "-n", namespace, "--backup", "no-such-backup")
    assert other.returncode == 1
    assert other.stderr == f'error: ClubBackup "no-such-backup" not found in namespace "{namespace}"\n'


def test_rotate_suspend_and_resume(
    plugin: Plugin, make_club: Callable[..., dict[str, Any]], custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    name = make_club()["metadata"]["name"]
    rotated = plugin("rotate", name, "-n", namespace, "--reason", "drill")
    assert rotated.returncode == 0, rotated.stderr
    value = _object(custom, namespace, "clubs", name)["metadata"]["annotations"]["footballclub.io/rotate"]
    assert value.startswith("drill (")
    clubs.wait_for(
        "the operator to take up the rotate request",
        lambda: (
            (_object(custom, namespace, "clubs", name).get("status") or {}).get("lastRotateRequest") == value
        ),
        timeout=120,
    )

    suspended = plugin("suspend", name, "-n", namespace)
    assert suspended.returncode == 0, suspended.stderr
    assert suspended.stdout == f"club.footballclub.io/{name} suspended\n"
    clubs.wait_condition(custom, namespace, name, "WorkloadsReady", "False", reason="Suspended", timeout=120)
    shown = json.loads(plugin("status", name, "-n", namespace, "-o", "json").stdout)
    assert shown["suspended"] is True

    again = plugin("suspend", name, "-n", namespace)
    assert again.stdout == f"club.footballclub.io/{name} already suspended\n"

    resumed = plugin("resume", name, "-n", namespace)
    assert resumed.returncode == 0, resumed.stderr
    clubs.wait_condition(custom, namespace, name, "Ready", "True", timeout=120)
    assert _object(custom, namespace, "clubs", name)["spec"]["suspend"] is False
