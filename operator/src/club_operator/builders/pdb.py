"""The API's PodDisruptionBudget: voluntary disruptions (node drains) take one API pod at a time.

It exists only while the API runs two or more pods (its fixed replicas, or the HPA's minimum): with
one pod a budget would either block every drain or protect nothing. `maxUnavailable: 1` rather than
`minAvailable` keeps the budget right as the HPA scales, and `AlwaysAllow` lets a drain evict a pod
that is not ready anyway (a crash-looping pod must not block node maintenance)."""

from __future__ import annotations

from typing import Any

from club_operator.builders.inputs import API, WorkloadInputs


def api_min_replicas(inputs: WorkloadInputs) -> int:
    """The fewest API pods the Club asks for while it runs."""
    api = inputs.spec.api
    return api.autoscaling.min_replicas if api.autoscaling.enabled else api.replicas


def build_api_pdb(inputs: WorkloadInputs) -> dict[str, Any] | None:
    if inputs.spec.suspend or api_min_replicas(inputs) < 2:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": inputs.metadata(inputs.names.api, API),
        "spec": {
            "selector": {"matchLabels": inputs.names.selector(API)},
            "maxUnavailable": 1,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
