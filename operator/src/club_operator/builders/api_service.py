"""The `<club>-api` Service: a ClusterIP on port 80 in front of the API pods, and the endpoint that
goes into the Club's status."""

from __future__ import annotations

from typing import Any

from club_operator import naming
from club_operator.builders.inputs import API, WorkloadInputs

SERVICE_PORT = 80


def api_endpoint(names: naming.ClubNames) -> str:
    """The in-cluster URL of the club's API."""
    return f"http://{names.api_service}.{names.namespace}.svc:{SERVICE_PORT}"


def build_api_service(inputs: WorkloadInputs) -> dict[str, Any]:
    names = inputs.names
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": inputs.metadata(names.api_service, API),
        "spec": {
            "type": "ClusterIP",
            "selector": names.selector(API),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": inputs.api_port, "protocol": "TCP"}
            ],
        },
    }
