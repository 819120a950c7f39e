"""NetworkPolicies: what may connect to the club's pods.

- API pods accept connections on the API port only, from any source: clients reach the API through
  its Service or an ingress controller (which may run on the host network or outside the cluster),
  so restricting the source would break them. Prometheus scrapes /metrics on the same port.
- Worker pods accept connections on their metrics port only (Prometheus); nothing else calls them.

Egress is left open (the policies list only `Ingress` in policyTypes): the pods need DNS, PostgreSQL,
Redis and S3, which usually live outside the namespace, and their addresses are not known to the
operator (a DSN's host may be a name resolving to anything, S3 may be a cloud endpoint). A wrong
egress rule would cut the club off; an open one costs nothing the ingress rules protect."""

from __future__ import annotations

from typing import Any

from club_operator import naming
from club_operator.builders.inputs import API, WORKER_COMPONENTS, WORKERS, WorkloadInputs


def _policy(
    inputs: WorkloadInputs, name: str, component: str, selector: dict[str, Any], port: int
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": inputs.metadata(name, component),
        "spec": {
            "podSelector": selector,
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": port}]}],
        },
    }


def build_api_network_policy(inputs: WorkloadInputs) -> dict[str, Any]:
    selector = {"matchLabels": inputs.names.selector(API)}
    return _policy(inputs, inputs.names.api, API, selector, inputs.api_port)


def build_worker_network_policy(inputs: WorkloadInputs) -> dict[str, Any]:
    """One policy for both worker pools (selected by component)."""
    names = inputs.names
    selector = {
        "matchLabels": {naming.NAME_LABEL: naming.APP_NAME, naming.CLUB_LABEL: names.name},
        "matchExpressions": [
            {"key": naming.COMPONENT_LABEL, "operator": "In", "values": list(WORKER_COMPONENTS)}
        ],
    }
    return _policy(inputs, names.workers_network_policy, WORKERS, selector, inputs.worker_metrics_port)
