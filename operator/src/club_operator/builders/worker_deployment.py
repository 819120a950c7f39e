"""A worker pool's Deployment: `club-runtime worker` on the pool's queues (`default`, or the video
queues by priority, with the GPU-only queue first on GPU workers).

Replicas: left out while a ScaledObject or HPA owns the count (see autoscaling), 0 while the Club
is suspended, else the pool's minReplicas.

GPU: with `gpu.enabled` the container's limits include the GPU resource (e.g. nvidia.com/gpu: 1) and
the pod carries the pool's nodeSelector and tolerations, so it lands only on GPU nodes; ENABLE_GPU is
`auto` (encode with NVENC when it works, else on the CPU, never a crash loop). Pools without a GPU get
none of the GPU's tolerations, so the GPU nodes' taint keeps them off those nodes, and ENABLE_GPU=false.
Every pool also carries the platform's placement (OperatorSettings.pod_node_selector and
pod_tolerations), like the API; a GPU pool's own nodeSelector, where it has one, takes the place of
the platform's (GPU nodes are a pool of their own), and its tolerations add to the platform's.
A GPU pool rolls out by removing a pod before adding one (maxSurge 0): a surge pod would wait for a
GPU that the old pod still holds.

Stopping: the runtime is PID 1 and is RQ's forking worker. On SIGTERM it stops taking jobs, lets
the work horse finish the current job (RQ's warm shutdown) and exits; an idle worker exits at once.
A job never outlives its timeout: the horse fails it at the timeout (RQ retries it if it has retries
left) and RQ's parent kills a hung horse 60 s later. So the grace period is the job timeout plus a
margin, and the current job always either finishes or is failed and requeued by RQ before the
kubelet's SIGKILL. Video jobs take VIDEO_PROCESS_TIMEOUT_SEC; other jobs RQ's default of 180 s.
If a pod is killed anyway (node loss), RQ's abandoned-job cleanup retries the job (club_worker).
The pod shares one process namespace, whose PID 1 is the pause container's process: the kernel
drops a signal that PID 1 has no handler for, and the runtime installs its handlers only once its
imports are done, so as PID 1 it would ignore a SIGTERM that comes sooner, and a pod removed while
starting (KEDA taking a pool created at one replica straight to zero) would sit Terminating for its
whole grace period, an hour for a video worker. Not PID 1, it dies of such a SIGTERM at once. (The
API keeps PID 1: uvicorn raises the signal again once it has shut down gracefully, which would turn
its clean exit into 143, and its grace period is 30 s.)

Liveness: a TCP check on the metrics port. Not an HTTP GET of /metrics: a scrape reads the queue
depth from Redis, and a Redis outage must not restart every worker in the middle of its jobs."""

from __future__ import annotations

from typing import Any

from club_operator.builders import autoscaling, pod
from club_operator.builders.inputs import Pool, WorkloadInputs, worker_component

RQ_DEFAULT_JOB_TIMEOUT = 180
SHUTDOWN_MARGIN = 90  # RQ's 60 s before it kills a hung horse, plus time to record the outcome
METRICS_PORT_NAME = "metrics"


def worker_replicas(inputs: WorkloadInputs, pool: Pool) -> int | None:
    """The Deployment's `replicas`: None when a ScaledObject or HPA sets it."""
    if inputs.spec.suspend:
        return 0
    return None if autoscaling.worker_autoscaled(inputs) else inputs.pool(pool).min_replicas


def grace_period(inputs: WorkloadInputs, pool: Pool) -> int:
    timeout = inputs.video_timeout_sec if pool == "video" else RQ_DEFAULT_JOB_TIMEOUT
    return timeout + SHUTDOWN_MARGIN


def build_worker_deployment(inputs: WorkloadInputs, pool: Pool) -> dict[str, Any]:
    names, spec, component = inputs.names, inputs.pool(pool), worker_component(pool)
    gpu = spec.gpu
    port = inputs.worker_metrics_port
    queues = ",".join(inputs.queues(pool))
    command = ["club-runtime", "worker", "--queues", queues, "--metrics-port", str(port)]
    main = pod.container(
        inputs,
        "worker",
        command,
        api=False,
        env=[{"name": "ENABLE_GPU", "value": "auto" if gpu.enabled else "false"}],
        ports=[{"name": METRICS_PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        resources=spec.container_resources,
        livenessProbe={
            "tcpSocket": {"port": METRICS_PORT_NAME},
            "periodSeconds": 20,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
    )
    surge, unavailable = (0, 1) if gpu.enabled else (1, 0)
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": names.selector(component)},
        "revisionHistoryLimit": 3,
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
        },
        "template": pod.pod_template(
            inputs,
            component,
            main,
            scratch_size=spec.scratch_size,
            config_hash=inputs.worker_config_hash,
            node_selector=gpu.node_selector if gpu.enabled else None,
            tolerations=gpu.tolerations if gpu.enabled else (),
            terminationGracePeriodSeconds=grace_period(inputs, pool),
            shareProcessNamespace=True,
        ),
    }
    replicas = worker_replicas(inputs, pool)
    if replicas is not None:
        deployment_spec = {"replicas": replicas, **deployment_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": inputs.metadata(names.worker(pool), component),
        "spec": deployment_spec,
    }
