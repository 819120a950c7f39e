"""Workload inputs built from the sample Clubs, and every object the builders make from them."""

from __future__ import annotations

import dataclasses
from typing import Any

from club_operator import credentials, naming
from club_operator.builders import (
    api_deployment,
    api_service,
    autoscaling,
    config_map,
    network_policy,
    pdb,
    worker_deployment,
)
from club_operator.builders.inputs import POOLS, Destination, WorkloadInputs
from club_operator.models import ClubSpec
from club_operator.redis_target import club_prefix
from tests.support import crds

UID = "0b5e8c7e-0000-4000-8000-000000000042"
NAMESPACE = "team-a"
# PostgreSQL by IP address, Redis by name, S3 by IP address on the HTTPS port.
SERVERS = (
    Destination("10.20.0.5", 5432),
    Destination("redis.platform.svc", 6379),
    Destination("192.0.2.10", 443),
)


def inputs(
    sample: str = "club-full.yaml", *, spec: dict[str, Any] | None = None, **overrides: Any
) -> WorkloadInputs:
    """The inputs for a sample Club; `spec` entries replace top-level spec fields."""
    manifest = crds.load_sample(sample)
    parsed = ClubSpec.model_validate({**manifest["spec"], **(spec or {})})
    name = manifest["metadata"]["name"]
    made = WorkloadInputs(
        names=naming.build_names(NAMESPACE, name, parsed, "clubs"),
        spec=parsed,
        owner=credentials.Owner(f"{naming.GROUP}/{naming.VERSION}", "Club", name, UID),
        image="club-runtime:0.1.0",
        config_hash="c0ffee",
        keda=True,
        redis_secret=f"{name}-redis",
        queue_default=f"club-{UID}-default",
        queue_video=f"club-{UID}-video",
        redis_prefix=club_prefix(NAMESPACE, name),
        servers=SERVERS,
    )
    return dataclasses.replace(made, **overrides)


def all_objects(made: WorkloadInputs) -> list[dict[str, Any]]:
    """Every object the builders make for the Club, those that should not exist left out."""
    objects = [
        config_map.build_config_map(made),
        api_deployment.build_api_deployment(made),
        api_service.build_api_service(made),
        autoscaling.build_api_hpa(made),
        autoscaling.build_trigger_auth(made),
        pdb.build_api_pdb(made),
        network_policy.build_api_network_policy(made),
        network_policy.build_worker_network_policy(made),
    ]
    for pool in POOLS:
        objects += [
            worker_deployment.build_worker_deployment(made, pool),
            autoscaling.build_worker_scaler(made, pool),
        ]
    return [o for o in objects if o is not None]


def kinds(made: WorkloadInputs) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in all_objects(made)}


def deployments(made: WorkloadInputs) -> dict[str, dict[str, Any]]:
    """The Deployments by component: api, worker-default, worker-video."""
    return {
        o["metadata"]["labels"]["app.kubernetes.io/component"]: o
        for o in all_objects(made)
        if o["kind"] == "Deployment"
    }


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (main,) = deployment["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = main
    return result
