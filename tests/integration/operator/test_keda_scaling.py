"""KEDA for real: a Club's video workers scaled on its Redis queue by KEDA's operator, its metrics
adapter and the HPA controller, from zero to the pool's maximum and back to zero
(test_club_workloads.py checks the ScaledObjects as objects, on a stack without KEDA).

This module starts a stack of its own with KEDA (Stack.start(keda=True)) and its own operator
process, which sets KEDA to poll every 2 s and to cool down for 10 s. Pods are kwok's: nothing takes
the jobs, so the queue holds them until the test cancels them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from club_devstack.operator import RunningOperator, start_operator
from club_devstack.stack import Stack, StackInfo
from club_operator import video_queue
from club_operator.redis_target import club_prefix, queue_name
from tests.conftest import unique_name
from tests.support import clubs, crds

POLLING_SEC = 2
COOLDOWN_SEC = 10


@pytest.fixture(scope="module")
def keda_stack() -> Iterator[StackInfo]:
    with Stack.start(keda=True, node=False) as started:  # kwok's pods are enough here
        yield started.info


@pytest.fixture(scope="module")
def keda_operator(
    keda_stack: StackInfo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningOperator]:
    running = start_operator(
        keda_stack,
        tmp_path_factory.mktemp("keda-operator") / "club-operator.log",
        resync_interval_sec="3",
        retry_delay_sec="1",
        keda_polling_interval_sec=str(POLLING_SEC),
        keda_cooldown_sec=str(COOLDOWN_SEC),
    )
    yield running
    running.process.stop()


@pytest.fixture(scope="module")
def keda_api(keda_stack: StackInfo, keda_operator: RunningOperator) -> k8s.ApiClient:
    """The stack's API, with the club operator running against it."""
    return k8s_config.new_client_from_config(config_file=str(keda_stack.kube.kubeconfig))


@pytest.fixture
def keda_namespace(keda_api: k8s.ApiClient) -> Iterator[str]:
    core = k8s.CoreV1Api(keda_api)
    name = unique_name("t")
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, propagation_policy="Background")


def test_keda_scales_the_video_workers_from_zero_on_the_queue_and_back(
    keda_api: k8s.ApiClient, keda_operator: RunningOperator, keda_namespace: str
) -> None:
    namespace, name = keda_namespace, "busy-fc"
    custom, core = k8s.CustomObjectsApi(keda_api), k8s.CoreV1Api(keda_api)
    apps, scaling = k8s.AppsV1Api(keda_api), k8s.AutoscalingV2Api(keda_api)
    video = {"minReplicas": 0, "maxReplicas": 3, "targetQueueLength": 2}
    clubs.create_club(
        custom, namespace, crds.manifest("Club", {"displayName": "Busy", "workers": {"video": video}}, name)
    )
    clubs.wait_condition(custom, namespace, name, "Ready", "True", timeout=180)
    workers = f"{name}-worker-video"

    def replicas() -> tuple[int, int]:
        """What the Deployment asks for and how many of its pods are ready."""
        deployment = apps.read_namespaced_deployment(workers, namespace)
        return deployment.spec.replicas or 0, deployment.status.ready_replicas or 0

    def scaled_object_ready() -> bool:
        found = custom.get_namespaced_custom_object(
            "keda.sh", "v1alpha1", namespace, "scaledobjects", workers
        )
        conditions = found.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    # Ready: KEDA took the triggers and reached Redis with the TriggerAuthentication's credentials.
    clubs.wait_for("KEDA to accept the video pool's ScaledObject", scaled_object_ready, timeout=120)
    clubs.wait_for("KEDA to take the idle video pool to zero", lambda: replicas() == (0, 0), timeout=120)

    # Six jobs on the normal-priority queue, enqueued as the Club's API does: as the Club's own
    # Redis user, under its key prefix. The pool wants 6 / targetQueueLength = 3 workers. KEDA
    # itself only takes the pool from 0 to 1; 1 to 3 is the HPA controller, reading the queue's
    # length through the metrics adapter behind the aggregated external metrics API.
    club = video_queue.ClubQueues(
        clubs.secret_data(core, namespace, f"{name}-redis")["url"], club_prefix(namespace, name)
    )
    jobs = [f"video-{i}" for i in range(6)]
    for job in jobs:
        assert video_queue.enqueue(
            club, queue_name(namespace, name, "video"), job, {"source": {"title": job}}, at_front=False
        )
    clubs.wait_for("three ready video workers for six queued jobs", lambda: replicas() == (3, 3), timeout=180)
    hpa = scaling.read_namespaced_horizontal_pod_autoscaler(f"keda-hpa-{workers}", namespace)
    assert hpa.spec.scale_target_ref.name == workers
    assert hpa.status.desired_replicas == 3
    (metric,) = hpa.status.current_metrics
    assert metric.type == "External"
    # The operator's resyncs leave the count to KEDA: its Deployment has no `replicas` to restore.
    clubs.wait_reconciles(keda_operator.metrics_port, namespace, name, 2)
    assert replicas() == (3, 3)

    for job in jobs:
        assert video_queue.stop(club, job) == "queued"
    clubs.wait_for(
        "the video pool back to zero once its queue is empty", lambda: replicas() == (0, 0), timeout=180
    )
