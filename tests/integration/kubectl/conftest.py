"""Fixtures for `kubectl club` against the local stack: the plugin run as kubectl runs it (found on
PATH by kubectl's plugin discovery, the project's `kubectl-club` entry point), the operator, and
Clubs it made Ready."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from club_devstack.stack import StackInfo
from tests.conftest import unique_name
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds

SMALL = {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
SPEC = {
    "displayName": "Plugin FC",
    "api": {"replicas": 1, "resources": SMALL},
    "workers": {"default": {"resources": SMALL}, "video": {"resources": SMALL}},
}
ENTRY_POINT = Path(sys.executable).parent / "kubectl-club"


class Plugin:
    """`kubectl club ...` through kubectl itself: kubectl finds `kubectl-club` on PATH."""

    def __init__(self, kubectl: str, kubeconfig: Path) -> None:
        assert ENTRY_POINT.exists(), f"{ENTRY_POINT} is missing: `make venv` installs the entry point"
        self.kubectl, self.kubeconfig = kubectl, kubeconfig
        self.env = {
            **os.environ,
            "PATH": os.pathsep.join([str(ENTRY_POINT.parent), str(Path(kubectl).parent), os.environ["PATH"]]),
            "KUBECONFIG": str(kubeconfig),
        }

    def __call__(
        self, *args: str, stdin: str | None = None, kubeconfig: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if kubeconfig is not None:
            env["KUBECONFIG"] = str(kubeconfig)
        return subprocess.run(
            [self.kubectl, "club", *args],
            env=env,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The plugin failed with one line on stderr and nothing on stdout; that line."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="session")
def plugin(stack: StackInfo) -> Plugin:
    return Plugin(str(stack.kubectl), stack.kube.kubeconfig)


@pytest.fixture
def custom(kube_api: k8s.ApiClient) -> k8s.CustomObjectsApi:
    crds.install_crds(kube_api)
    return k8s.CustomObjectsApi(kube_api)


@pytest.fixture
def core(kube_api: k8s.ApiClient) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(kube_api)


@pytest.fixture(scope="package")
def operator(
    stack: StackInfo, kube_api: k8s.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningOperator]:
    """`club-operator` for these tests only: stopped when they end, so that it never runs beside the
    operator tests' own (tests/integration/operator/conftest.py), which come after these."""
    crds.install_crds(kube_api)
    running = RunningOperator(stack, tmp_path_factory.mktemp("operator") / "club-operator.log")
    yield running
    running.stop()


@pytest.fixture
def make_club(
    operator: RunningOperator, custom: k8s.CustomObjectsApi, namespace: str
) -> Iterator[Callable[..., dict[str, Any]]]:
    """Create a Club in the test's namespace and wait until the operator made it Ready."""

    made: list[str] = []

    def make(name: str | None = None, **spec: Any) -> dict[str, Any]:
        name = name or unique_name("fc")
        clubs.create_club(custom, namespace, crds.manifest("Club", {**SPEC, **spec}, name))
        made.append(name)
        clubs.ready_status(custom, namespace, name, timeout=180)
        found = clubs.get_club(custom, namespace, name)
        assert found is not None
        return found

    yield make
    # While the operator runs: its finalizer removes the Club's role, bucket and users.
    for name in made:
        clubs.delete_club(custom, namespace, name)
