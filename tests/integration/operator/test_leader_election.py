"""Two `club-operator` processes with leader election on (club_operator.leader): exactly one holds the
Lease and reconciles, the other stands by (alive, club_operator_leader 0, nothing reconciled). The
active one SIGKILLed, the standby takes the Lease once it expires and reconciles: the seconds from
the kill to its first reconcile of a changed Club are printed (a figure, not asserted). A VideoJob
queued before the kill stays queued once. Then a graceful stop (SIGTERM) hands over at once: the
Lease is released, not left to expire. A holder frozen past its lease (SIGSTOP) is replaced, and
exits as soon as it runs again.

A stack of this module's own: the session's operator (conftest.py), which watches every namespace,
must not reconcile these Clubs too."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from club_devstack.operator import RunningOperator, start_operator
from club_devstack.stack import Stack, StackInfo
from club_operator.redis_target import club_prefix
from tests.conftest import unique_name
from tests.support import clubs, crds

LEASE = "club-operator"
NAME = "ha-fc"
SOURCE = "uploads/match.mp4"


@pytest.fixture(scope="module")
def ha_stack() -> Iterator[StackInfo]:
    with Stack.start(node=False) as started:
        yield started.info


@pytest.fixture(scope="module")
def ha_api(ha_stack: StackInfo) -> k8s.ApiClient:
    api = k8s_config.new_client_from_config(config_file=str(ha_stack.kube.kubeconfig))
    crds.install_crds(api)
    return api


@pytest.fixture
def ha_namespace(ha_api: k8s.ApiClient) -> Iterator[str]:
    core = k8s.CoreV1Api(ha_api)
    name = unique_name("ha")
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, propagation_policy="Background")


class Replicas:
    """Operator processes of one Lease (in the test's namespace), started and stopped by name."""

    def __init__(self, stack: StackInfo, namespace: str, logs: Path) -> None:
        self.stack, self.namespace, self.logs = stack, namespace, logs
        self.running: dict[str, RunningOperator] = {}

    def start(self, identity: str) -> RunningOperator:
        """Start one, once its liveness endpoint answers (a standby's does too)."""
        self.running[identity] = start_operator(
            self.stack,
            self.logs / f"{identity}.log",
            namespaces=[self.namespace],
            resync_interval_sec="3",
            retry_delay_sec="1",
            leader_election="true",
            leader_lease_namespace=self.namespace,
            leader_lease_name=LEASE,
            leader_identity=identity,
        )
        return self.running[identity]

    def log(self, identity: str) -> str:
        return (self.logs / f"{identity}.log").read_text(errors="replace")

    def leader_gauge(self, identity: str) -> float | None:
        port = self.running[identity].metrics_port
        return clubs.metric_value(clubs.metrics_text(port), "club_operator_leader")

    def stop_all(self) -> None:
        for running in self.running.values():
            running.process.stop()


@pytest.fixture
def replicas(ha_stack: StackInfo, ha_namespace: str, tmp_path: Path) -> Iterator[Replicas]:
    started = Replicas(ha_stack, ha_namespace, tmp_path)
    yield started
    started.stop_all()


def _lease(coordination: k8s.CoordinationV1Api, namespace: str) -> k8s.V1LeaseSpec | None:
    try:
        spec: k8s.V1LeaseSpec = coordination.read_namespaced_lease(LEASE, namespace).spec
    except k8s.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return spec


def _holder(coordination: k8s.CoordinationV1Api, namespace: str) -> str | None:
    spec = _lease(coordination, namespace)
    return None if spec is None else spec.holder_identity


def _reconciled(custom: k8s.CustomObjectsApi, namespace: str, generation: int) -> bool:
    club = clubs.get_club(custom, namespace, NAME)
    ready = clubs.condition(club, "Ready") or {}
    observed = ((club or {}).get("status") or {}).get("observedGeneration")
    return observed == generation and ready.get("status") == "True"


def _video_queue(core: k8s.CoreV1Api, namespace: str) -> tuple[redis.Redis, str]:
    """The Club's Redis (as its own user) and its video queue's key."""
    url = clubs.secret_data(core, namespace, f"{NAME}-redis")["url"]
    return redis.Redis.from_url(url), f"{club_prefix(namespace, NAME)}:queue:{namespace}.{NAME}.video"


def test_one_replica_reconciles_and_the_other_takes_over_when_it_is_killed(
    ha_stack: StackInfo, ha_api: k8s.ApiClient, ha_namespace: str, replicas: Replicas
) -> None:
    namespace = ha_namespace
    custom, core = k8s.CustomObjectsApi(ha_api), k8s.CoreV1Api(ha_api)
    coordination = k8s.CoordinationV1Api(ha_api)
    s3 = ha_stack.minio.client()

    replicas.start("first")
    clubs.wait_for("the first replica to hold the Lease", lambda: _holder(coordination, namespace) == "first")
    replicas.start("second")
    clubs.wait_for("the second replica to stand by", lambda: "standing by" in replicas.log("second"))
    assert replicas.leader_gauge("first") == 1
    assert replicas.leader_gauge("second") == 0

    clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": "HA FC"}, NAME))
    clubs.wait_condition(custom, namespace, NAME, "Ready", "True", timeout=120)
    # A VideoJob queued by the first replica (no worker takes it: it stays in the queue).
    bucket = (clubs.get_club(custom, namespace, NAME) or {})["status"]["bucket"]
    s3.put_object(Bucket=bucket, Key=SOURCE, Body=b"not decoded: nothing takes the job")
    crds.create(custom, namespace, crds.manifest("VideoJob", _videojob(), "match"))
    clubs.wait_for(
        "the VideoJob Queued",
        lambda: (
            (clubs.get_object(custom, namespace, "videojobs", "match") or {}).get("status", {}).get("phase")
            == "Queued"
        ),
    )
    conn, queue = _video_queue(core, namespace)
    assert conn.llen(queue) == 1
    first_port, second_port = (replicas.running[i].metrics_port for i in ("first", "second"))
    assert clubs.whole_reconciles(first_port, namespace, NAME) >= 1
    assert clubs.whole_reconciles(second_port, namespace, NAME) == 0  # the standby ran nothing
    assert replicas.leader_gauge("second") == 0

    transitions = (_lease(coordination, namespace) or k8s.V1LeaseSpec()).lease_transitions
    os.kill(replicas.running["first"].process.pid, signal.SIGKILL)
    killed = time.monotonic()
    changed = crds.patch(custom, namespace, "Club", NAME, {"spec": {"displayName": "HA FC, failed over"}})
    clubs.wait_for(
        "the second replica to reconcile the changed Club",
        lambda: _reconciled(custom, namespace, changed["metadata"]["generation"]),
        timeout=120,
        interval=0.1,
    )
    failover = time.monotonic() - killed
    print(f"failover: {failover:.1f}s from SIGKILL of the active replica to the other's reconcile")
    spec = _lease(coordination, namespace)
    assert spec is not None
    assert (spec.holder_identity, spec.lease_transitions) == ("second", (transitions or 0) + 1)
    assert replicas.leader_gauge("second") == 1
    assert clubs.whole_reconciles(second_port, namespace, NAME) >= 1
    clubs.wait_for(
        "the second replica's daemon to follow the Queued VideoJob",
        lambda: (
            clubs.metric_value(clubs.metrics_text(second_port), "club_operator_videojobs", phase="Queued")
            == 1
        ),
    )
    assert conn.llen(queue) == 1  # not enqueued again by the replica that took over

    # A graceful stop releases the Lease: the replica standing by takes it on its next try.
    replicas.start("third")
    clubs.wait_for("the third replica to stand by", lambda: "standing by" in replicas.log("third"))
    stopping = time.monotonic()
    replicas.running["second"].process.stop()
    clubs.wait_for("the third replica to hold the Lease", lambda: _holder(coordination, namespace) == "third")
    print(
        f"handover: {time.monotonic() - stopping:.1f}s from SIGTERM of the active replica to the Lease taken"
    )
    assert "released Lease" in replicas.log("second")
    again = crds.patch(custom, namespace, "Club", NAME, {"spec": {"displayName": "HA FC, handed over"}})
    clubs.wait_for(
        "the third replica to reconcile the changed Club",
        lambda: _reconciled(custom, namespace, again["metadata"]["generation"]),
        timeout=60,
    )
    assert conn.llen(queue) == 1


def _videojob() -> dict[str, Any]:
    return {"clubRef": {"name": NAME}, "source": {"key": SOURCE}}


def test_a_holder_that_could_not_renew_in_time_exits_as_soon_as_it_runs_again(
    ha_api: k8s.ApiClient, ha_namespace: str, replicas: Replicas
) -> None:
    """Frozen (SIGSTOP) past its lease, the holder is replaced; let run again (SIGCONT), it finds its
    renew deadline passed and exits at once instead of running on beside the new holder."""
    coordination = k8s.CoordinationV1Api(ha_api)
    frozen = replicas.start("first")
    clubs.wait_for(
        "the first replica to hold the Lease", lambda: _holder(coordination, ha_namespace) == "first"
    )
    replicas.start("second")
    clubs.wait_for("the second replica to stand by", lambda: "standing by" in replicas.log("second"))

    os.kill(frozen.process.pid, signal.SIGSTOP)
    try:
        clubs.wait_for(
            "the second replica to take the Lease",
            lambda: _holder(coordination, ha_namespace) == "second",
            timeout=60,
        )
    finally:
        os.kill(frozen.process.pid, signal.SIGCONT)
    clubs.wait_for("the first replica to exit", lambda: not frozen.process.alive(), timeout=30)
    assert "lost the operator's lease" in replicas.log("first")
    assert _holder(coordination, ha_namespace) == "second"
    assert replicas.leader_gauge("second") == 1
