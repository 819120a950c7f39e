"""Fixtures for the operator's integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client as k8s

from club_devstack.operator import start_operator
from club_devstack.procs import Process
from club_devstack.stack import StackInfo
from tests.support import crds


@pytest.fixture
def custom(kube_api: k8s.ApiClient) -> k8s.CustomObjectsApi:
    """The custom objects API, with the project's CRDs installed."""
    crds.install_crds(kube_api)
    return k8s.CustomObjectsApi(kube_api)


@dataclass(frozen=True)
class RunningOperator:
    process: Process
    metrics_port: int
    liveness_url: str
    log: Path
    resync_sec: float
    give_up_sec: float


# Short intervals so that drift repair, recovery and deletion give-up happen within a test.
RESYNC_SEC = 3.0
GIVE_UP_SEC = 8.0

# Namespaces whose Clubs a test hands to an operator process of its own (one it kills and restarts,
# say): the session operator leaves them alone, so that only the test's operator reconciles them.
OWN_OPERATOR_PREFIX = "own-operator-"


@pytest.fixture(scope="session")
def club_operator(
    stack: StackInfo, kube_api: k8s.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningOperator]:
    """`club-operator` as a real process against the stack, for the whole session: every namespace
    but those of tests that run their own operator."""
    crds.install_crds(kube_api)
    log = tmp_path_factory.mktemp("operator") / "club-operator.log"
    started = start_operator(
        stack,
        log,
        namespaces=[f"!{OWN_OPERATOR_PREFIX}*"],
        resync_interval_sec=str(RESYNC_SEC),
        retry_delay_sec="1",
        deletion_give_up_after_sec=str(GIVE_UP_SEC),
        connect_timeout_sec="2",
    )
    yield RunningOperator(
        started.process, started.metrics_port, started.liveness_url, log, RESYNC_SEC, GIVE_UP_SEC
    )
    started.process.stop()


@pytest.fixture
def core(kube_api: k8s.ApiClient) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(kube_api)
