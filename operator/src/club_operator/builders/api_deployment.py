"""The API Deployment: `club-runtime api` behind the `<club>-api` Service.

Replicas: `spec.api.replicas`, 0 while the Club is suspended, and left out while the HPA owns the
count (autoscaling on), so that applying this object never undoes the autoscaler's choice.
Probes: liveness on /healthz (the process answers), readiness on /readyz (its database, Redis and S3
answer), and a startup probe so a slow start is not taken for a hung process. A rollout adds a pod
before it removes one. A pod being removed keeps serving for `DRAIN_SECONDS` first (a preStop sleep,
run by the kubelet itself: no binary in the image): the endpoint controller and every node's
kube-proxy take a moment to stop sending it new connections, and a pod that stopped listening at
once would refuse those. Then on SIGTERM uvicorn stops accepting and finishes the requests in flight."""

from __future__ import annotations

from typing import Any

from club_operator.builders import autoscaling, pod
from club_operator.builders.inputs import API, WorkloadInputs

PORT_NAME = "http"
DRAIN_SECONDS = 5


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def api_replicas(inputs: WorkloadInputs) -> int | None:
    """The Deployment's `replicas`: None when the HPA sets it."""
    if inputs.spec.suspend:
        return 0
    return None if autoscaling.api_autoscaled(inputs) else inputs.spec.api.replicas


def build_api_deployment(inputs: WorkloadInputs) -> dict[str, Any]:
    names = inputs.names
    main = pod.container(
        inputs,
        API,
        ["club-runtime", "api", "--host", "0.0.0.0", "--port", str(inputs.api_port)],  # noqa: S104
        api=True,
        ports=[{"name": PORT_NAME, "containerPort": inputs.api_port, "protocol": "TCP"}],
        resources=inputs.spec.api.resources.to_k8s(),
        startupProbe=_probe("/healthz", 2, 30),
        livenessProbe=_probe("/healthz", 10, 3),
        readinessProbe=_probe("/readyz", 5, 3),
        lifecycle={"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}},
    )
    spec: dict[str, Any] = {
        "selector": {"matchLabels": names.selector(API)},
        "revisionHistoryLimit": 3,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": pod.pod_template(inputs, API, main, terminationGracePeriodSeconds=30),
    }
    replicas = api_replicas(inputs)
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": inputs.metadata(names.api, API),
        "spec": spec,
    }
