"""Fixtures for the operator's integration tests."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from club_devstack import operator as started_operator
from club_devstack.operator import start_operator
from club_devstack.procs import Process
from club_devstack.stack import StackInfo
from tests.support import crds


@pytest.fixture
def custom(kube_api: k8s.ApiClient) -> k8s.CustomObjectsApi:
    """The custom objects API, with the project's CRDs installed."""
    crds.install_crds(kube_api)
    return k8s.CustomObjectsApi(kube_api)


# Short intervals so that drift repair, recovery and deletion give-up happen within a test.
RESYNC_SEC = 3.0
GIVE_UP_SEC = 8.0


class RunningOperator:
    """`club-operator` as a real process for every namespace, shared by the session. A test may
    SIGKILL it and start it again (the crash test): later tests get the new process through the
    same object, and the log file is appended to."""

    def __init__(self, stack: StackInfo, log: Path) -> None:
        self.stack, self.log = stack, log
        self.resync_sec, self.give_up_sec = RESYNC_SEC, GIVE_UP_SEC
        self._current: started_operator.RunningOperator | None = None
        self.start()

    @property
    def process(self) -> Process:
        assert self._current is not None
        return self._current.process

    @property
    def metrics_port(self) -> int:
        assert self._current is not None
        return self._current.metrics_port

    @property
    def liveness_url(self) -> str:
        assert self._current is not None
        return self._current.liveness_url

    def start(self) -> None:
        assert self._current is None or not self._current.process.alive()
        self._current = start_operator(
            self.stack,
            self.log,
            resync_interval_sec=str(RESYNC_SEC),
            retry_delay_sec="1",
            deletion_give_up_after_sec=str(GIVE_UP_SEC),
            connect_timeout_sec="2",
            # A rotated-out JWT key waits this long for its tokens to expire (test_jwt_rotation.py).
            jwt_token_lifetime_sec="5",
        )

    def kill(self) -> None:
        """SIGKILL: no cleanup handler, no last patch, kopf's progress annotations left as they are."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.stop()  # reaps it

    def ensure_running(self) -> None:
        if not self.process.alive():
            self.start()

    def stop(self) -> None:
        if self._current is not None:
            self._current.process.stop()


@pytest.fixture(scope="session")
def club_operator(
    stack: StackInfo, kube_api: k8s.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningOperator]:
    """`club-operator` as a real process against the stack, for the whole session."""
    crds.install_crds(kube_api)
    running = RunningOperator(stack, tmp_path_factory.mktemp("operator") / "club-operator.log")
    yield running
    running.stop()


@pytest.fixture
def core(kube_api: k8s.ApiClient) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(kube_api)
