"""Autoscaling on the real node: KEDA scales a Club's video workers, real pods that transcode, from
zero on a backlog and back to zero; the API's CPU HPA reads the API pod's usage from metrics-server.

The module runs a stack of its own with KEDA and metrics-server (Stack.start(keda=True,
metrics_server=True)). This folder's shared stack runs neither: with KEDA's CRDs installed the
operator gives every Club's worker pools ScaledObjects, which the other tests' Clubs do not expect,
and they pay no start time for what they do not use. Each test runs an operator of its own that
puts the Club's pods on the real node and has KEDA poll every 2 s and cool down for 10 s
(test_keda_scaling.py shows the same scaling with kwok's pods, which run nothing).

Scale-in with a busy worker: the HPA KEDA makes shrinks a pool by one pod a minute after five
minutes of lower demand (autoscaling.py), longer than a short video keeps a worker busy. The test
lowers the pool's maxReplicas instead, which the HPA applies at once; the rest of the path is
the same: the ReplicaSet removes a pod, and the kubelet sends its worker SIGTERM mid-job."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from club_devstack import images, node, sample_video
from club_devstack.operator import RunningOperator, real_node_settings, start_operator
from club_devstack.stack import Stack, StackInfo
from club_operator.redis_target import club_prefix
from club_runtime import contract
from tests.conftest import unique_name
from tests.support import clubs, crds, videojobs

# A first run builds the images (minutes): more than pytest's default timeout.
pytestmark = pytest.mark.timeout(1800)

NAME = "surge-fc"
POLLING_SEC = 2
COOLDOWN_SEC = 10
VIDEO = "app.kubernetes.io/component=worker-video"
SOURCE_KEY = "uploads/surge-match.mp4"
# Long enough that two jobs transcoding side by side outlast the scale-in (seconds from the Club's
# change to the kubelet's SIGTERM); short enough for a small shared machine.
VIDEO_SECONDS = 60
JOBS = 3
# Small requests: the real node has the machine's 2 cores, and a video worker asks for 1 by default.
SMALL = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "2Gi"}}


@pytest.fixture(scope="module")
def scaling_stack() -> Iterator[StackInfo]:
    missing = node.missing_prerequisites()
    if missing:
        pytest.fail(f"this machine cannot run the real node: {', '.join(missing)}")
    with Stack.start(node=True, keda=True, metrics_server=True) as started:
        yield started.info


@pytest.fixture(scope="module")
def scaling_api(scaling_stack: StackInfo) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=str(scaling_stack.kube.kubeconfig))


@pytest.fixture(scope="module")
def scaling_images(scaling_stack: StackInfo) -> images.Images:
    """The runtime image in this stack's registry (its storage is shared: built once)."""
    return images.ensure_images(scaling_stack)


@pytest.fixture
def scaling_namespace(scaling_api: k8s.ApiClient) -> Iterator[str]:
    core = k8s.CoreV1Api(scaling_api)
    name = unique_name("node")
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def scaling_operator(
    scaling_stack: StackInfo, scaling_images: images.Images, scaling_namespace: str, tmp_path: Path
) -> Iterator[RunningOperator]:
    running = start_operator(
        scaling_stack,
        tmp_path / "club-operator.log",
        namespaces=[scaling_namespace],
        resync_interval_sec="5",
        retry_delay_sec="1",
        keda_polling_interval_sec=str(POLLING_SEC),
        keda_cooldown_sec=str(COOLDOWN_SEC),
        **real_node_settings(scaling_stack, scaling_images.runtime),
    )
    yield running
    running.process.stop()


def _live_pods(core: k8s.CoreV1Api, namespace: str, selector: str) -> list[k8s.V1Pod]:
    listed = core.list_namespaced_pod(namespace, label_selector=selector)
    return [p for p in listed.items if p.metadata.deletion_timestamp is None]


def _ready(pod: k8s.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


@dataclass(frozen=True)
class VideoPool:
    """The Club's video worker Deployment, its pods and its ScaledObject."""

    api: k8s.ApiClient
    namespace: str
    name: str = f"{NAME}-worker-video"

    def replicas(self) -> tuple[int, int]:
        """What the Deployment asks for and how many of its pods are ready."""
        deployment = k8s.AppsV1Api(self.api).read_namespaced_deployment(self.name, self.namespace)
        return deployment.spec.replicas or 0, deployment.status.ready_replicas or 0

    def pods(self) -> k8s.V1PodList:
        return k8s.CoreV1Api(self.api).list_namespaced_pod(self.namespace, label_selector=VIDEO)

    def at_zero(self) -> bool:
        """No replica asked for and no pod left, not even a stopping one."""
        return self.replicas() == (0, 0) and not self.pods().items

    def ready_pods(self, count: int) -> list[k8s.V1Pod]:
        """The pool's pods once it runs `count` of them, all ready; else []."""
        pods = [p for p in self.pods().items if p.metadata.deletion_timestamp is None]
        ok = self.replicas() == (count, count) and len(pods) == count and all(_ready(p) for p in pods)
        return pods if ok else []

    def removed(self) -> tuple[k8s.V1Pod, str] | None:
        """A pod being removed, and the list's resourceVersion (to watch it from there)."""
        listed = self.pods()
        going = [p for p in listed.items if p.metadata.deletion_timestamp is not None]
        return (going[0], listed.metadata.resource_version) if going else None

    def scaled_object_ready(self) -> bool:
        found = k8s.CustomObjectsApi(self.api).get_namespaced_custom_object(
            "keda.sh", "v1alpha1", self.namespace, "scaledobjects", self.name
        )
        conditions = found.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _create_jobs(custom: k8s.CustomObjectsApi, namespace: str, names: list[str]) -> list[str]:
    """Create a VideoJob per name; return the keys of their RQ jobs' hashes."""
    keys = []
    for job in names:
        body = {
            "clubRef": {"name": NAME},
            "source": {"key": SOURCE_KEY},
            "outputs": {"renditions": ["720p", "360p"]},
        }
        created = crds.create(custom, namespace, crds.manifest("VideoJob", body, job))
        keys.append(f"{club_prefix(namespace, NAME)}:job:{contract.video_job_id(created['metadata']['uid'])}")
    return keys


def _exit_code(core: k8s.CoreV1Api, namespace: str, pod: str, since: str) -> int | None:
    """The exit code of the pod's container, watched from `since` until the pod is gone."""
    exit_code = None
    for event in k8s_watch.Watch().stream(
        core.list_namespaced_pod,
        namespace,
        field_selector=f"metadata.name={pod}",
        resource_version=since,
        timeout_seconds=600,
    ):
        for found in event["object"].status.container_statuses or []:
            if found.state.terminated is not None:
                exit_code = found.state.terminated.exit_code
        if event["type"] == "DELETED":
            break
    return exit_code


def test_keda_scales_real_video_workers_from_zero_and_a_busy_one_removed_finishes_its_job(
    scaling_operator: RunningOperator,
    scaling_stack: StackInfo,
    scaling_api: k8s.ApiClient,
    scaling_namespace: str,
    tmp_path: Path,
) -> None:
    assert scaling_stack.node is not None
    namespace = scaling_namespace
    custom, core = k8s.CustomObjectsApi(scaling_api), k8s.CoreV1Api(scaling_api)
    pool = VideoPool(scaling_api, namespace)
    video = {"minReplicas": 0, "maxReplicas": 2, "targetQueueLength": 1, "resources": SMALL}
    spec = {
        "displayName": "Surge",
        "api": {"replicas": 1},
        "workers": {"default": {"minReplicas": 0}, "video": video},
    }
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, NAME))
    status = clubs.ready_status(custom, namespace, NAME, timeout=300)
    clubs.wait_for("KEDA to accept the video pool's ScaledObject", pool.scaled_object_ready, timeout=120)
    clubs.wait_for("the idle video pool at zero, with no pod", pool.at_zero, timeout=120)

    source = tmp_path / "surge-match.mp4"
    sample_video.generate(source, VIDEO_SECONDS, preset="ultrafast")
    scaling_stack.minio.client().upload_file(str(source), status["bucket"], SOURCE_KEY)
    names = [f"match-{i}" for i in range(JOBS)]
    job_keys = _create_jobs(custom, namespace, names)
    # The jobs' state as RQ keeps it, read as the Club's own Redis user: what a worker writes the
    # moment it starts or ends a job (the VideoJobs' status follows a poll later).
    queue = redis.Redis.from_url(clubs.secret_data(core, namespace, f"{NAME}-redis")["url"])

    def started() -> int:
        return sum(queue.hget(key, "status") == b"started" for key in job_keys)

    # A backlog of three jobs for a pool of at most two workers, one per waiting or running job:
    # KEDA takes the pool from zero to one, the HPA it made from one to two.
    pods = clubs.wait_for("two ready video workers", lambda: pool.ready_pods(2), timeout=300)
    assert {p.spec.node_name for p in pods} == {scaling_stack.node.name}
    hpa = k8s.AutoscalingV2Api(scaling_api).read_namespaced_horizontal_pod_autoscaler(
        f"keda-hpa-{pool.name}", namespace
    )
    assert (hpa.spec.scale_target_ref.name, hpa.spec.max_replicas) == (pool.name, 2)
    assert [m.type for m in hpa.status.current_metrics or []] == ["External"]

    # Both workers transcoding: lowering the pool's ceiling removes one of them mid-job.
    clubs.wait_for("both video workers transcoding", lambda: started() == 2, timeout=300)
    video["maxReplicas"] = 1
    custom.patch_namespaced_custom_object(
        crds.GROUP, crds.VERSION, namespace, "clubs", NAME, {"spec": {"workers": {"video": video}}}
    )
    pod, since = clubs.wait_for("the HPA removing a video worker", pool.removed, timeout=120)
    # Still two jobs under way, one on each worker: the pod being removed is in the middle of one.
    assert started() == 2, [queue.hget(key, "status") for key in job_keys]
    assert pool.replicas()[0] == 1
    exit_code = _exit_code(core, namespace, pod.metadata.name, since)
    assert exit_code == 0, f"the removed video worker did not exit cleanly on SIGTERM: {exit_code}"

    # Every job finished by the worker that took it: none was retried after a worker was killed.
    for job in names:
        done = videojobs.wait_phase(custom, namespace, job, "Succeeded", timeout=600)
        assert done["attempts"] == 1, (job, done)
    listed = scaling_stack.minio.client().list_objects_v2(Bucket=status["bucket"]).get("Contents", [])
    keys = {o["Key"] for o in listed}
    assert sum(k.endswith("master.m3u8") for k in keys) == JOBS, sorted(keys)[:20]

    clubs.wait_for("the video pool back to zero once its queues are empty", pool.at_zero, timeout=300)


def test_the_api_hpa_reads_the_api_pods_cpu_from_metrics_server(
    scaling_operator: RunningOperator,
    scaling_stack: StackInfo,
    scaling_api: k8s.ApiClient,
    scaling_namespace: str,
) -> None:
    assert scaling_stack.node is not None
    namespace = scaling_namespace
    custom, core = k8s.CustomObjectsApi(scaling_api), k8s.CoreV1Api(scaling_api)
    scaling = k8s.AutoscalingV2Api(scaling_api)
    autoscaling = {"enabled": True, "minReplicas": 1, "maxReplicas": 2, "targetCPUUtilizationPercentage": 80}
    spec = {
        "displayName": "Gauge",
        "api": {"autoscaling": autoscaling},
        "workers": {"default": {"minReplicas": 0}},
    }
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, NAME))
    clubs.ready_status(custom, namespace, NAME, timeout=300)
    (pod,) = _live_pods(core, namespace, "app.kubernetes.io/component=api")
    assert pod.spec.node_name == scaling_stack.node.name

    def pod_usage() -> dict[str, Any] | None:
        try:
            found = custom.get_namespaced_custom_object(
                "metrics.k8s.io", "v1beta1", namespace, "pods", pod.metadata.name
            )
        except ApiException as exc:
            if exc.status == 404:  # not scraped yet (every 15 s)
                return None
            raise
        return dict(found)

    usage = clubs.wait_for("the API pod's usage in metrics.k8s.io", pod_usage, timeout=180)
    assert [c["name"] for c in usage["containers"]] == ["api"]

    def cpu_metric() -> k8s.V2MetricStatus | None:
        hpa = scaling.read_namespaced_horizontal_pod_autoscaler(f"{NAME}-api", namespace)
        for metric in hpa.status.current_metrics or []:
            if metric.type == "Resource" and metric.resource.name == "cpu":
                return metric
        return None

    metric = clubs.wait_for("the API's HPA reading the pod's CPU", cpu_metric, timeout=180)
    assert metric.resource.current.average_utilization is not None
    hpa = scaling.read_namespaced_horizontal_pod_autoscaler(f"{NAME}-api", namespace)
    active = {c.type: c.status for c in hpa.status.conditions or []}
    assert active.get("ScalingActive") == "True", hpa.status.conditions
