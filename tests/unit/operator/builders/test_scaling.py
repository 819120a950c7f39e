"""Who owns the replica counts: fixed replicas, the HPA, or KEDA; suspend scales everything to zero."""

from __future__ import annotations

import ast
import math
from typing import Any

import pytest

from club_operator.builders import autoscaling, pdb
from club_operator.builders.inputs import POOLS

from .support import all_objects, deployments, inputs, kinds

SCALERS = {"HorizontalPodAutoscaler", "ScaledObject", "PodDisruptionBudget"}


@pytest.mark.parametrize("keda", [True, False])
@pytest.mark.parametrize("sample", ["club-full.yaml", "club-minimal.yaml", "club-gpu.yaml"])
def test_suspend_scales_to_zero_and_removes_every_scaler(sample: str, keda: bool) -> None:
    made = inputs(sample, spec={"suspend": True}, keda=keda)
    assert not {kind for kind, _ in kinds(made)} & SCALERS
    for deployment in deployments(made).values():
        assert deployment["spec"]["replicas"] == 0


def test_resuming_restores_the_replicas_and_scalers() -> None:
    made = inputs("club-minimal.yaml", spec={"suspend": False}, keda=True)
    assert deployments(made)["api"]["spec"]["replicas"] == 2
    assert {"ScaledObject", "PodDisruptionBudget"} <= {kind for kind, _ in kinds(made)}


def test_api_autoscaling_removes_replicas_so_the_hpa_owns_them() -> None:
    made = inputs("club-full.yaml")
    assert "replicas" not in deployments(made)["api"]["spec"]
    hpa = autoscaling.build_api_hpa(made)
    assert hpa is not None
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "meadowbank-rovers-api",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}


def test_autoscaling_off_keeps_fixed_replicas_and_no_hpa() -> None:
    made = inputs("club-full.yaml", spec={"api": {"replicas": 3}})
    assert deployments(made)["api"]["spec"]["replicas"] == 3
    assert autoscaling.build_api_hpa(made) is None


@pytest.mark.parametrize("keda", [True, False])
def test_worker_deployments_leave_replicas_to_their_scaler(keda: bool) -> None:
    made = inputs(keda=keda)
    for pool in POOLS:
        assert "replicas" not in deployments(made)[f"worker-{pool}"]["spec"]
        assert autoscaling.build_worker_scaler(made, pool) is not None


def _triggers(scaler: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["metadata"]["listName"]: t for t in scaler["spec"]["triggers"]}


def test_keda_scales_workers_on_queued_and_running_jobs() -> None:
    made = inputs("club-full.yaml", redis_database=7)
    scaler = autoscaling.build_worker_scaler(made, "video")
    assert scaler is not None
    assert (scaler["apiVersion"], scaler["kind"]) == ("keda.sh/v1alpha1", "ScaledObject")
    spec = scaler["spec"]
    assert spec["scaleTargetRef"]["name"] == "meadowbank-rovers-worker-video"
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 4)
    triggers = _triggers(scaler)
    video = made.queue_video
    queues = (f"{video}.gpu", f"{video}.high", video, f"{video}.low")  # a GPU pool: GPU-only jobs too
    assert list(triggers) == [f"{made.redis_prefix}:{kind}:{q}" for q in queues for kind in ("queue", "wip")]
    for queue in queues:
        queued, running = (f"{made.redis_prefix}:{kind}:{queue}" for kind in ("queue", "wip"))
        assert triggers[queued]["metadata"]["listLength"] == "2"  # targetQueueLength
        assert triggers[running]["metadata"]["listLength"] == "1"  # one running job per worker
    for trigger in triggers.values():
        assert trigger["type"] == "redis"
        assert trigger["metadata"]["databaseIndex"] == "7"
        assert trigger["authenticationRef"] == {"name": "meadowbank-rovers-redis"}
        assert all(isinstance(v, str) for v in trigger["metadata"].values())
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300
    modifiers = spec["advanced"]["scalingModifiers"]
    assert (modifiers["target"], modifiers["metricType"]) == ("1", "AverageValue")
    # Every name in the formula is a trigger's (KEDA refuses the ScaledObject otherwise).
    names = {t["name"] for t in spec["triggers"]}
    assert set(ast_names(modifiers["formula"])) == names
    default = autoscaling.build_worker_scaler(made, "default")
    assert default is not None
    queued, running = (f"{made.redis_prefix}:{kind}:{made.queue_default}" for kind in ("queue", "wip"))
    assert set(_triggers(default)) == {queued, running}
    assert _triggers(default)[queued]["metadata"]["listLength"] == "20"


def test_keda_polls_and_cools_down_as_the_operator_is_set() -> None:
    scaler = autoscaling.build_worker_scaler(inputs(), "video")
    assert scaler is not None
    assert (scaler["spec"]["pollingInterval"], scaler["spec"]["cooldownPeriod"]) == (15, 300)
    quick = autoscaling.build_worker_scaler(inputs(keda_polling_interval=2, keda_cooldown=10), "video")
    assert quick is not None
    assert (quick["spec"]["pollingInterval"], quick["spec"]["cooldownPeriod"]) == (2, 10)


def ast_names(formula: str) -> list[str]:
    return [n.id for n in ast.walk(ast.parse(formula, mode="eval")) if isinstance(n, ast.Name)]


def _evaluate(formula: str, values: dict[str, float]) -> float:
    """The formula's arithmetic (sums and divisions, as KEDA's expr evaluates them)."""

    def walk(node: ast.expr) -> float:
        if isinstance(node, ast.Name):
            return values[node.id]
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return walk(node.left) + walk(node.right)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return walk(node.left) / walk(node.right)
        raise AssertionError(f"unexpected {ast.dump(node)}")

    return walk(ast.parse(formula, mode="eval").body)


def _pods(scaler: dict[str, Any], redis: dict[str, int]) -> int:
    """What the HPA asks for: the composite metric over a target of 1 per pod (AverageValue)."""
    by_list = {t["metadata"]["listName"]: t["name"] for t in scaler["spec"]["triggers"]}
    values = {name: float(redis.get(key, 0)) for key, name in by_list.items()}
    return math.ceil(_evaluate(scaler["spec"]["advanced"]["scalingModifiers"]["formula"], values))


def test_a_backlog_spread_over_the_priority_queues_counts_whole_with_the_busy_workers() -> None:
    made = inputs("club-full.yaml")
    scaler = autoscaling.build_worker_scaler(made, "video")
    assert scaler is not None
    video = made.queue_video  # targetQueueLength 2
    # Three jobs waiting on each priority and one running: 9 / 2 + 1 = 5.5 -> 6 pods (the largest
    # single trigger would have said 2).
    key = f"{made.redis_prefix}:{{}}:{video}{{}}".format
    redis = {key("queue", ".high"): 3, key("queue", ""): 3, key("queue", ".low"): 3}
    assert _pods(scaler, redis | {key("wip", ""): 1}) == 6
    # Busy workers are kept even with nothing waiting; nothing at all lets the pool go to zero.
    assert _pods(scaler, {key("wip", ".high"): 2, key("wip", ".gpu"): 1}) == 3
    assert _pods(scaler, {}) == 0


def test_keda_reads_redis_as_the_clubs_own_user_from_its_secret() -> None:
    auth = autoscaling.build_trigger_auth(inputs())
    assert auth is not None
    assert auth["spec"] == {
        "secretTargetRef": [
            {"parameter": "address", "name": "meadowbank-rovers-redis", "key": "address"},
            {"parameter": "username", "name": "meadowbank-rovers-redis", "key": "username"},
            {"parameter": "password", "name": "meadowbank-rovers-redis", "key": "password"},
        ]
    }
    assert autoscaling.build_trigger_auth(inputs(keda=False)) is None


def test_without_keda_workers_get_a_cpu_hpa_that_keeps_one_pod() -> None:
    made = inputs("club-full.yaml", keda=False)
    video = autoscaling.build_worker_scaler(made, "video")
    default = autoscaling.build_worker_scaler(made, "default")
    assert video is not None
    assert default is not None
    assert video["kind"] == default["kind"] == "HorizontalPodAutoscaler"
    assert (video["spec"]["minReplicas"], video["spec"]["maxReplicas"]) == (
        1,
        4,
    )  # minReplicas 0: an HPA keeps 1
    assert (default["spec"]["minReplicas"], default["spec"]["maxReplicas"]) == (1, 3)
    assert not any(o["apiVersion"].startswith("keda.sh") for o in all_objects(made))


def test_the_pdb_exists_only_while_two_or_more_api_pods_run() -> None:
    budget = pdb.build_api_pdb(inputs("club-minimal.yaml"))
    assert budget is not None
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    assert pdb.build_api_pdb(inputs("club-minimal.yaml", spec={"api": {"replicas": 1}})) is None
    one = {"replicas": 3, "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 4}}
    assert pdb.build_api_pdb(inputs("club-minimal.yaml", spec={"api": one})) is None
    assert pdb.build_api_pdb(inputs("club-minimal.yaml", spec={"suspend": True})) is None
