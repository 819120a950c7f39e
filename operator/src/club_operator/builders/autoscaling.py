"""Who sets the replica counts: an HPA for the API, a KEDA ScaledObject (or, without KEDA, a CPU HPA)
for each worker pool. While one exists, the Deployment leaves `replicas` out so the two never fight;
a suspended Club has none and its Deployments ask for 0 replicas.

Workers with KEDA: two `redis` triggers on each of the pool's queues. KEDA's redis scaler sizes the
key by its type (LLEN for a list, ZCARD for a sorted set), so it reads both RQ's queue
`<prefix>:queue:<queue>` (a list of waiting job ids; target `targetQueueLength` per pod) and RQ's
StartedJobRegistry `<prefix>:wip:<queue>` (a sorted set with one entry per running job). An HPA
would take the largest of the triggers' answers, which undercounts a backlog spread over the video
pool's queues (one per priority) and forgets the busy workers beside the waiting jobs; so KEDA's
scalingModifiers combine them: the pool wants one pod per running job plus one per
`targetQueueLength` waiting jobs, over all its queues (a composite metric with target 1 per pod),
and never shrinks below its busy workers.
The Deployment still picks which pod to remove, and may pick a busy one: that pod gets SIGTERM and
finishes its job within the grace period (worker_deployment), so scale-in costs time, not work. A
long scale-down stabilization window and one pod a minute keep bursts from thrashing the pool.

Redis is reached as the Club's own Redis user, through a TriggerAuthentication reading the
`address`, `username` and `password` keys of the Club's Redis Secret (KEDA wants host:port, not the
runtime's REDIS_URL); the database index and the key prefix come from the inputs.

Without KEDA: an autoscaling/v2 HPA on CPU with the pool's min/max. An HPA cannot scale to zero (nor
from it: with no pod there is no CPU to measure), so a pool with minReplicas 0 keeps one worker."""

from __future__ import annotations

from typing import Any

from club_operator.builders.inputs import API, CONFIG, Pool, WorkloadInputs, worker_component

WORKER_CPU_TARGET = 75
SCALE_DOWN_WINDOW = 300


def _scale_down() -> dict[str, Any]:
    """Shrink by one pod a minute, on the highest recommendation of the last five minutes."""
    return {
        "stabilizationWindowSeconds": SCALE_DOWN_WINDOW,
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
    }


def api_autoscaled(inputs: WorkloadInputs) -> bool:
    return inputs.spec.api.autoscaling.enabled and not inputs.spec.suspend


def worker_autoscaled(inputs: WorkloadInputs) -> bool:
    """A pool always has a scaler (ScaledObject or HPA) unless the Club is suspended."""
    return not inputs.spec.suspend


def _hpa(
    inputs: WorkloadInputs, name: str, component: str, *, low: int, high: int, cpu: int
) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": inputs.metadata(name, component),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}},
                }
            ],
            "behavior": {"scaleDown": _scale_down()},
        },
    }


def build_api_hpa(inputs: WorkloadInputs) -> dict[str, Any] | None:
    if not api_autoscaled(inputs):
        return None
    scaling = inputs.spec.api.autoscaling
    return _hpa(
        inputs,
        inputs.names.api,
        API,
        low=scaling.min_replicas,
        high=scaling.max_replicas,
        cpu=scaling.target_cpu_utilization_percentage,
    )


def build_trigger_auth(inputs: WorkloadInputs) -> dict[str, Any] | None:
    """KEDA's credentials for the club's Redis; None without KEDA."""
    if not inputs.keda:
        return None
    refs = [
        {"parameter": p, "name": inputs.redis_secret, "key": p} for p in ("address", "username", "password")
    ]
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": inputs.metadata(inputs.names.redis_trigger_auth, CONFIG),
        "spec": {"secretTargetRef": refs},
    }


def _redis_trigger(inputs: WorkloadInputs, name: str, key: str, per_pod: int) -> dict[str, Any]:
    return {
        "type": "redis",
        "name": name,
        "metadata": {
            "listName": key,
            "listLength": str(per_pod),
            "activationListLength": "0",
            "databaseIndex": str(inputs.redis_database),
        },
        "authenticationRef": {"name": inputs.names.redis_trigger_auth},
    }


def pods_wanted(queues: int, per_pod: int) -> str:
    """KEDA's formula over the triggers `queued<i>` and `running<i>` (i < queues): one pod per
    running job, and one per `per_pod` waiting jobs, over every queue of the pool."""
    queued = " + ".join(f"queued{i}" for i in range(queues))
    running = " + ".join(f"running{i}" for i in range(queues))
    return f"({queued}) / {per_pod} + {running}"


def build_worker_scaler(inputs: WorkloadInputs, pool: Pool) -> dict[str, Any] | None:
    """The pool's ScaledObject (with KEDA) or CPU HPA (without); None while the Club is suspended."""
    if not worker_autoscaled(inputs):
        return None
    spec, queues = inputs.pool(pool), inputs.queues(pool)
    name, component = inputs.names.worker(pool), worker_component(pool)
    prefix = inputs.redis_prefix
    if not inputs.keda:
        low = max(1, spec.min_replicas)
        return _hpa(inputs, name, component, low=low, high=spec.max_replicas, cpu=WORKER_CPU_TARGET)
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": inputs.metadata(name, component),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicaCount": spec.min_replicas,
            "maxReplicaCount": spec.max_replicas,
            "pollingInterval": inputs.keda_polling_interval,
            "cooldownPeriod": inputs.keda_cooldown,
            "advanced": {
                "horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": _scale_down()}},
                "scalingModifiers": {
                    "formula": pods_wanted(len(queues), spec.target_queue_length),
                    "target": "1",
                    "metricType": "AverageValue",
                },
            },
            "triggers": [
                trigger
                for i, queue in enumerate(queues)
                for trigger in (
                    _redis_trigger(inputs, f"queued{i}", f"{prefix}:queue:{queue}", spec.target_queue_length),
                    _redis_trigger(inputs, f"running{i}", f"{prefix}:wip:{queue}", 1),
                )
            ],
        },
    }
